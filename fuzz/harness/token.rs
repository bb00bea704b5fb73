//! The `token` target: bearer extraction, header parsing, and claims checks after a real
//! signature.

use super::*;

/// The clock of the claims checks: fixed (2025-06-15), so a corpus file means the same on every
/// run and the seeds never expire.
pub const NOW: u64 = 1_750_000_000;
/// The clock leeway of the rules.
pub const LEEWAY: u64 = 30;
/// The issuer of both rule sets.
pub const ISSUER: &str = "https://keycloak.example.com/realms/camunda";
/// The `kid` of the key the harness signs fuzzed payloads with.
pub const FUZZ_KID: &str = "fuzz-es256";

/// A realm's rules, written out so the oracle can read claims without [`ClaimPath`].
pub(crate) struct RuleSpec {
    audiences: &'static [&'static str],
    permissions: &'static [&'static str],
    tenants: &'static [&'static str],
    prefix: Option<&'static str>,
}

/// A Camunda Identity realm (the dev realm's shape) and a Keycloak-roles realm whose tenants
/// are group paths.
pub(crate) const RULE_SPECS: [RuleSpec; 2] = [
    RuleSpec {
        audiences: &["zeebe-api"],
        permissions: &["permissions", "zeebe-api"],
        tenants: &["tenants"],
        prefix: None,
    },
    RuleSpec {
        audiences: &["zeebe-api", "camunda"],
        permissions: &["resource_access", "zeebe-api", "roles"],
        tenants: &["groups"],
        prefix: Some("/tenants/"),
    },
];

pub(crate) struct TokenWorld {
    pair: EcdsaKeyPair,
    keys: KeySet,
    rules: Vec<TokenRules>,
}

pub(crate) fn token_world() -> &'static TokenWorld {
    static WORLD: OnceLock<TokenWorld> = OnceLock::new();
    WORLD.get_or_init(|| {
        let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).expect("P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("own PKCS #8 loads");
        // Through the project's own key type, so the JWK is the one the issuer publishes.
        let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
        let key = SigningKey::from_pkcs8_pem(Algorithm::ES256, FUZZ_KID, &pem_text)
            .expect("ES256 PKCS #8 loads as a signing key");
        let doc = zeebe_authz_core::signing::jwks(&[&key]).to_string();
        let keys = KeySet::from_jwks(doc.as_bytes(), tokio::time::Instant::now().into_std())
            .expect("the issuer's JWKS loads");
        let rules = RULE_SPECS
            .iter()
            .map(|spec| TokenRules {
                issuer: ISSUER.into(),
                audiences: spec.audiences.iter().map(|a| (*a).into()).collect(),
                leeway: LEEWAY,
                token_type: zeebe_authz_core::token::verify::TokenType::Required,
                permissions_claim: ClaimPath::new(spec.permissions.iter().copied()),
                tenants_claim: Some(ClaimPath::new(spec.tenants.iter().copied())),
                tenants_prefix: spec.prefix.map(Into::into),
            })
            .collect();
        TokenWorld { pair, keys, rules }
    })
}

/// Signs `payload` (any bytes) as the payload segment of an ES256 JWT with the harness's key.
pub(crate) fn sign_payload(world: &TokenWorld, payload: &[u8]) -> String {
    let header = format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{FUZZ_KID}"}}"#);
    let mut token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = world
        .pair
        .sign(&SystemRandom::new(), token.as_bytes())
        .expect("ECDSA signing");
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
    token
}

/// The input as an `authorization` header value and as the JSON of a token's segments; then
/// signed as a JWT payload, so the claims checks after the signature see it.
pub fn token(data: &[u8]) {
    let world = token_world();
    let policy = dev_policy();
    let text = String::from_utf8_lossy(data);

    if let Ok(t) = bearer_token(Some(&text), DEFAULT_MAX_TOKEN_BYTES) {
        assert!(!t.is_empty() && t.len() <= DEFAULT_MAX_TOKEN_BYTES);
        let is_jws = t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && t.bytes().filter(|&b| b == b'.').count() == 2;
        assert_eq!(check_jwt_shape(t).is_ok(), is_jws, "check_jwt_shape({t:?})");
        if let Ok(header) = parse_header(t)
            && let KeyLookup::Found(key) = world.keys.find(header.kid.as_deref(), header.alg)
        {
            // The key never left this process: no input can carry a valid signature.
            for rules in &world.rules {
                let verified = verify(t, &header, key, rules, policy, NOW);
                assert!(verified.is_err(), "a token not signed here verified: {t:?}");
            }
        }
        let _ = unverified_issuer(t);
    }

    let segment = URL_SAFE_NO_PAD.encode(data);
    let unsigned = format!("{segment}.{segment}.");
    let _ = parse_header(&unsigned);
    // Only for objects: serde's derive also reads a struct from a JSON array (`["x"]` has
    // iss "x"), which reaches nothing past the signature.
    let claims: Option<Value> = serde_json::from_slice(data).ok();
    if let Some(claims) = claims.as_ref().filter(|c| c.is_object()) {
        check_camunda_owners(claims);
    }
    if let (Some(iss), Some(claims)) = (
        unverified_issuer(&unsigned),
        claims.filter(Value::is_object),
    ) {
        let written = claims.get("iss").and_then(Value::as_str);
        assert_eq!(
            written,
            Some(iss.as_str()),
            "unverified_issuer invented an iss"
        );
    }

    let signed = sign_payload(world, data);
    let header = parse_header(&signed).expect("the harness's own header parses");
    let KeyLookup::Found(key) = world.keys.find(header.kid.as_deref(), header.alg) else {
        panic!("the harness's key is not found by its kid");
    };
    // The claims parse is serde_json's own `Value` parse, except that it refuses serde_json's
    // private keys (`$serde_json::private::RawValue`, …), which may be spelled with escapes.
    let reference = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .filter(serde_json::Value::is_object);
    match (unverified_claims(&signed).ok(), reference) {
        (Some(ours), Some(reference)) => assert_eq!(ours, reference, "claims parse differs"),
        (None, Some(_)) => {
            let text = String::from_utf8_lossy(data);
            assert!(
                text.contains("private") || text.contains("\\u"),
                "claims refused that serde_json reads, without a private key: {text:?}"
            );
        }
        (Some(_), None) => panic!(
            "claims read that serde_json refuses: {:?}",
            String::from_utf8_lossy(data)
        ),
        (None, None) => {}
    }
    for (rules, spec) in world.rules.iter().zip(&RULE_SPECS) {
        if let Ok(principal) = verify(&signed, &header, key, rules, policy, NOW) {
            check_principal(data, spec, &principal, policy);
        }
        // `verify` keeps only the payload members someone reads: the same answer as the whole
        // payload, under the dev policy and the Camunda dialect's.
        for p in [policy, camunda_policy()] {
            let whole = unverified_claims(&signed).and_then(|claims| {
                check_token_type(header.typ.as_deref(), &claims, rules.token_type)?;
                principal_from_claims(&claims, rules, p, NOW)
            });
            assert_eq!(
                verify(&signed, &header, key, rules, p, NOW),
                whole,
                "verify and the whole payload disagree on {:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
}

/// What a verified payload must satisfy, read again with serde_json: `exp` now or later (with
/// the leeway), `nbf`/`iat` not in the future, the exact `iss`, an accepted `aud`, and the
/// principal built from exactly these claims. Numeric dates count in whole seconds (RFC 7519
/// allows fractions; they are truncated).
pub(crate) fn check_principal(
    payload: &[u8],
    spec: &RuleSpec,
    principal: &Principal,
    policy: &Policy,
) {
    let claims: Value = serde_json::from_slice(payload)
        .unwrap_or_else(|e| panic!("verify accepted a payload that is not JSON ({e})"));
    assert!(claims.is_object(), "verify accepted a non-object payload");
    let seconds = |name: &str| -> Option<f64> {
        let v = claims.get(name)?;
        let f = v
            .as_f64()
            .unwrap_or_else(|| panic!("verify accepted a non-numeric {name}: {v}"));
        assert!(f >= 0.0, "verify accepted a negative {name}: {v}");
        Some(f.trunc())
    };
    let (now, leeway) = (NOW as f64, LEEWAY as f64);
    let exp = seconds("exp").expect("verify accepted a token without exp");
    assert!(
        exp + leeway >= now,
        "verify accepted an expired token (exp {exp})"
    );
    for name in ["nbf", "iat"] {
        if let Some(t) = seconds(name) {
            assert!(
                t <= now + leeway,
                "verify accepted {name} {t} in the future"
            );
        }
    }
    assert_eq!(
        claims.get("iss"),
        Some(&json!(ISSUER)),
        "verify accepted a foreign iss"
    );
    let accepted = |a: &Value| a.as_str().is_some_and(|a| spec.audiences.contains(&a));
    let audience_ok = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(accepted),
        Some(a) => accepted(a),
        None => false,
    };
    assert!(audience_ok, "verify accepted aud {:?}", claims.get("aud"));

    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or("");
    assert_eq!(&*principal.subject, text("sub"));
    // The first non-empty of `azp`, RFC 9068's `client_id` and Keycloak's `clientId`, as
    // `principal_from_claims` reads them.
    let client_id = ["azp", "client_id", "clientId"]
        .into_iter()
        .map(text)
        .find(|id| !id.is_empty())
        .unwrap_or_default();
    assert_eq!(&*principal.client_id, client_id);
    let exp_secs = claims["exp"]
        .as_u64()
        .unwrap_or_else(|| claims["exp"].as_f64().unwrap_or_default() as u64);
    assert_eq!(principal.expires_at, exp_secs);
    let tenants: Vec<&str> = read_claim(&claims, spec.tenants)
        .into_iter()
        .filter_map(|t| match spec.prefix {
            Some(p) => t.strip_prefix(p),
            None => Some(t),
        })
        .collect();
    let held: Vec<&str> = principal.tenants.iter().map(|t| &**t).collect();
    assert_eq!(held, tenants, "tenants");
    let permissions = read_claim(&claims, spec.permissions);
    assert_eq!(principal.grants, policy.grants_for(permissions), "grants");
}

/// A claim's strings as the README describes them, written apart from `ClaimPath::read` (which it
/// checks): a list of strings (others skipped), or one
/// string split on whitespace.
pub(crate) fn read_claim<'a>(claims: &'a Value, path: &[&str]) -> Vec<&'a str> {
    let mut v = claims;
    for key in path {
        match v.get(*key) {
            Some(next) => v = next,
            None => return Vec::new(),
        }
    }
    match v {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        Value::String(s) => s.split_whitespace().collect(),
        _ => Vec::new(),
    }
}
