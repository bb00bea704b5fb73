//! The bodies of the fuzz targets, in one plain Rust file with no libfuzzer types.
//!
//! Each `fuzz/fuzz_targets/<name>.rs` includes this file and calls `harness::<name>`;
//! `tests/it/fuzz_corpus.rs` includes it too and replays the committed corpora
//! (`fuzz/corpus/<name>/`, `fuzz/regressions/<name>/`) through the same functions, so plain
//! `cargo test` on stable keeps every seed and every past crash passing. A target panics only
//! when a property breaks, never on input the code merely refuses.
//!
//! The oracles do not trust the code they test. Claims are re-read with serde_json. Request
//! bodies are decoded the way the gateway decodes them: prost, plus a small model of
//! protobuf-java's reader ([`java_fields`]), after inflating every gzip member. The grants of
//! `policies/dev.yaml` are written out by hand in [`dev_policy_needs`].

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use jsonwebtoken::Algorithm;
use prost::Message as _;
use serde_json::{Value, json};
use zeebe_authz::authorizer::Authorizer;
use zeebe_authz::body::RequestBody;
use zeebe_authz::body::{self, FieldPath, FieldSelection, MAX_DECOMPRESSED_BYTES};
use zeebe_authz::catalog::{GATEWAY_PATH_PREFIX, Rpc};
use zeebe_authz::config::{self, RealmConfig, RealmMode, TokenSettings};
use zeebe_authz::decision::{IdentityHeaders, IdentitySet, MetadataSet};
use zeebe_authz::diag::{Diagnostics, Severity};
use zeebe_authz::issuer::{SigningKey, access_token_claims};
use zeebe_authz::jwks::{JwksCache, JwksSettings, JwksSource, KeyLookup, KeySet, http_client};
use zeebe_authz::lint::{FileKind, lint_source};
use zeebe_authz::metrics::Metrics;
use zeebe_authz::policy::condition::{ConditionKind, FieldSource, field_source};
use zeebe_authz::policy::{self, Policy};
use zeebe_authz::proto;
use zeebe_authz::realm::Realms;
use zeebe_authz::token::Principal;
use zeebe_authz::token::bearer::{DEFAULT_MAX_TOKEN_BYTES, bearer_token, check_jwt_shape};
use zeebe_authz::token::claims::ClaimPath;
use zeebe_authz::token::verify::{
    TokenRules, check_token_type, parse_header, principal_from_claims, unverified_claims,
    unverified_issuer, verify,
};

/// A target: the name of its `fuzz_targets/` file and corpus folders, and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("token", token),
    ("body", body),
    ("policy", policy),
    ("config", config),
    ("jwks", jwks),
    ("check", check),
];

/// `policies/camunda-8.8.yaml` (the Camunda dialect's example), compiled once.
fn camunda_policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        policy::embedded(
            "policies/camunda-8.8.yaml",
            include_str!("../policies/camunda-8.8.yaml"),
        )
        .unwrap_or_else(|e| panic!("the Camunda example policy does not compile: {e}"))
    })
}

/// The Camunda dialect reads owners from untrusted claims: under the example policy
/// (`identity: {username_claim: preferred_username, client_id_claim: client_id, groups_claim:
/// groups}`, mapping rules on `groups` and `realm_access.roles`), the grants of any claims
/// equal those of the same claims reduced, apart from the dialect's code, to what the README
/// says owners are read from: a non-empty `client_id` string (then no user), else a non-empty
/// `preferred_username`, and with neither nothing at all; the strings of `groups` (a list, or
/// one string); the same of `realm_access.roles`, which only a mapping rule reads.
fn check_camunda_owners(claims: &Value) {
    let p = camunda_policy();
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let strings = |v: Option<&Value>| -> Vec<Value> {
        match v {
            Some(Value::Array(items)) => items.iter().filter(|i| i.is_string()).cloned().collect(),
            Some(s @ Value::String(_)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let mut reduced = serde_json::Map::new();
    let principal = match (
        text(claims.get("client_id")),
        text(claims.get("preferred_username")),
    ) {
        (Some(client), _) => Some(("client_id", client)),
        (None, Some(user)) => Some(("preferred_username", user)),
        (None, None) => None,
    };
    if let Some((claim, id)) = principal {
        reduced.insert(claim.into(), json!(id));
        reduced.insert("groups".into(), Value::Array(strings(claims.get("groups"))));
        let roles = strings(claims.get("realm_access").and_then(|r| r.get("roles")));
        reduced.insert("realm_access".into(), json!({ "roles": roles }));
    }
    assert_eq!(
        p.grants_for_token(claims, []),
        p.grants_for_token(&Value::Object(reduced), []),
        "owners read from other claims than documented: {claims}"
    );
}

/// The dev policy (`policies/dev.yaml`, as `serve --dev` embeds it), compiled once.
fn dev_policy() -> &'static Arc<Policy> {
    static POLICY: OnceLock<Arc<Policy>> = OnceLock::new();
    POLICY.get_or_init(|| {
        let file: Arc<Path> = Arc::from(Path::new("policies/dev.yaml"));
        let mut diags = Diagnostics::default();
        let policy = policy::compile(&file, zeebe_authz::policy::DEV_POLICY, &mut diags)
            .unwrap_or_else(|| panic!("the dev policy does not compile: {:?}", diags.items()));
        Arc::new(policy)
    })
}

/// The repository root: this file's crate is either the main crate or `fuzz/`.
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent() {
        Some(parent) if manifest.join("harness.rs").is_file() => parent.to_path_buf(),
        _ => manifest.to_path_buf(),
    }
}

// ---------------------------------------------------------------------------------------------
// token: bearer extraction, header parsing, and claims checks after a real signature.

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
struct RuleSpec {
    audiences: &'static [&'static str],
    permissions: &'static [&'static str],
    tenants: &'static [&'static str],
    prefix: Option<&'static str>,
}

/// A Camunda Identity realm (the dev realm's shape) and a Keycloak-roles realm whose tenants
/// are group paths.
const RULE_SPECS: [RuleSpec; 2] = [
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

struct TokenWorld {
    pair: EcdsaKeyPair,
    keys: KeySet,
    rules: Vec<TokenRules>,
}

fn token_world() -> &'static TokenWorld {
    static WORLD: OnceLock<TokenWorld> = OnceLock::new();
    WORLD.get_or_init(|| {
        let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).expect("P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("own PKCS #8 loads");
        // Through the project's own key type, so the JWK is the one the issuer publishes.
        let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
        let key = SigningKey::from_pkcs8_pem(Algorithm::ES256, FUZZ_KID, &pem_text)
            .expect("ES256 PKCS #8 loads as a signing key");
        let doc = zeebe_authz::issuer::jwks(&[&key]).to_string();
        let keys = KeySet::from_jwks(doc.as_bytes(), tokio::time::Instant::now())
            .expect("the issuer's JWKS loads");
        let rules = RULE_SPECS
            .iter()
            .map(|spec| TokenRules {
                issuer: ISSUER.into(),
                audiences: spec.audiences.iter().map(|a| (*a).into()).collect(),
                leeway: LEEWAY,
                token_type: zeebe_authz::token::verify::TokenType::Required,
                permissions_claim: ClaimPath::new(spec.permissions.iter().copied()),
                tenants_claim: Some(ClaimPath::new(spec.tenants.iter().copied())),
                tenants_prefix: spec.prefix.map(Into::into),
            })
            .collect();
        TokenWorld { pair, keys, rules }
    })
}

/// Signs `payload` (any bytes) as the payload segment of an ES256 JWT with the harness's key.
fn sign_payload(world: &TokenWorld, payload: &[u8]) -> String {
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
fn check_principal(payload: &[u8], spec: &RuleSpec, principal: &Principal, policy: &Policy) {
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
fn read_claim<'a>(claims: &'a Value, path: &[&str]) -> Vec<&'a str> {
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

// ---------------------------------------------------------------------------------------------
// body: unframe and read_fields against the gateway's reading.

/// Where each condition kind sits in each rpc's request, written out from
/// `proto/gateway.proto` (not read from the catalog; the replay test compares the two):
/// (rpc, kind, enclosing field, field number, repeated).
#[rustfmt::skip]
pub const FIELDS: &[(&str, ConditionKind, Option<u32>, u32, bool)] = &[
    ("ActivateJobs",                    ConditionKind::JobType,       None,    1, false),
    ("ActivateJobs",                    ConditionKind::Tenant,        None,    7, true),
    ("StreamActivatedJobs",             ConditionKind::JobType,       None,    1, false),
    ("StreamActivatedJobs",             ConditionKind::Tenant,        None,    6, true),
    ("CreateProcessInstance",           ConditionKind::BpmnProcessId, None,    2, false),
    ("CreateProcessInstance",           ConditionKind::Tenant,        None,    6, false),
    ("CreateProcessInstanceWithResult", ConditionKind::BpmnProcessId, Some(1), 2, false),
    ("CreateProcessInstanceWithResult", ConditionKind::Tenant,        Some(1), 6, false),
    ("EvaluateDecision",                ConditionKind::DecisionId,    None,    2, false),
    ("EvaluateDecision",                ConditionKind::Tenant,        None,    4, false),
    ("DeployResource",                  ConditionKind::Tenant,        None,    2, false),
    ("PublishMessage",                  ConditionKind::MessageName,   None,    1, false),
    ("PublishMessage",                  ConditionKind::Tenant,        None,    6, false),
    ("BroadcastSignal",                 ConditionKind::SignalName,    None,    1, false),
    ("BroadcastSignal",                 ConditionKind::Tenant,        None,    3, false),
    ("EvaluateConditional",             ConditionKind::Tenant,        None,    1, false),
];

/// Where [`FIELDS`] and the catalog's [`field_source`] disagree (empty when they agree).
pub fn fields_disagreeing_with_the_catalog() -> Vec<String> {
    let mut found = Vec::new();
    for rpc in Rpc::all() {
        for kind in ConditionKind::ALL {
            let written = FIELDS
                .iter()
                .find(|f| f.0 == rpc.name() && f.1 == kind)
                .map(|&(_, _, outer, number, repeated)| {
                    FieldSource::Body(FieldPath {
                        outer,
                        number,
                        repeated,
                    })
                });
            let written = match (rpc.name(), kind) {
                ("DeployProcess", ConditionKind::Tenant) => Some(FieldSource::DefaultTenant),
                _ => written,
            };
            let catalog = field_source(rpc, kind);
            if catalog != written {
                found.push(format!(
                    "{rpc} {kind:?}: catalog {catalog:?}, proto {written:?}"
                ));
            }
        }
    }
    found
}

/// One rpc's field plan as the policy compiler builds it when every condition kind is used
/// (the kinds in [`ConditionKind::ALL`] order), and a plan of each field alone.
struct RpcPlans {
    rpc: Rpc,
    all: FieldSelection,
    fields: Vec<(ConditionKind, FieldPath, usize, FieldSelection)>,
}

fn rpc_plans() -> &'static [RpcPlans] {
    static PLANS: OnceLock<Vec<RpcPlans>> = OnceLock::new();
    PLANS.get_or_init(|| {
        Rpc::all()
            .map(|rpc| {
                let mut all = FieldSelection::default();
                let mut fields = Vec::new();
                for kind in ConditionKind::ALL {
                    if let Some(FieldSource::Body(path)) = field_source(rpc, kind) {
                        let slot = all.add(path);
                        let mut alone = FieldSelection::default();
                        alone.add(path);
                        fields.push((kind, path, slot, alone));
                    }
                }
                RpcPlans { rpc, all, fields }
            })
            .collect()
    })
}

/// The input as a gRPC body (plain and gzip) and as a bare protobuf message, read with every
/// rpc's field plan.
pub fn body(data: &[u8]) {
    let mut scratch = Vec::new();
    for encoding in [None, Some("gzip")] {
        let Ok(message) = body::unframe(data, encoding, &mut scratch) else {
            continue;
        };
        let announced = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        assert_eq!(
            announced,
            data.len() - 5,
            "unframe accepted a frame of the wrong length"
        );
        match data[0] {
            0 => assert_eq!(message, &data[5..], "a plain frame's message"),
            _ => match inflate_all(&data[5..]) {
                Ok(whole) => assert!(
                    whole == message,
                    "unframe inflated {} bytes, the gateway (every gzip member) {}",
                    message.len(),
                    whole.len()
                ),
                Err(e) => panic!(
                    "unframe inflated {} bytes of a gzip body the gateway cannot read whole ({e})",
                    message.len()
                ),
            },
        }
        check_message(message);
    }
    if data.len() >= 5 && data[0] == 0 {
        let announced = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        if announced == data.len() - 5 {
            let read = body::unframe(data, None, &mut scratch);
            assert_eq!(
                read,
                Ok(&data[5..]),
                "a well-formed plain frame was refused"
            );
        }
    }
    check_message(data);
}

/// Reads `message` with every rpc's plans; where the authorizer reads it, the gateway must read
/// the same values.
fn check_message(message: &[u8]) {
    for plans in rpc_plans() {
        let name = plans.rpc.name();
        let Ok(read) = body::read_fields(message, &plans.all) else {
            continue;
        };
        for (kind, path, slot, alone) in &plans.fields {
            let single = body::read_fields(message, alone).unwrap_or_else(|e| {
                panic!("{name}: reading {kind:?} alone fails ({e}), reading all fields does not")
            });
            assert_eq!(
                single.get(0),
                read.get(*slot),
                "{name} {kind:?} alone vs all"
            );
            if !path.repeated {
                assert!(
                    read.get(*slot).len() <= 1,
                    "{name} {kind:?}: singular, many values"
                );
            }
        }
        let prost = prost_fields(name, message);
        let java = java_fields(name, message);
        for (gateway, seen) in [("prost", &prost), ("protobuf-java model", &java)] {
            let Some(seen) = seen else { continue };
            for (kind, value) in seen {
                let Some((_, _, slot, _)) = plans.fields.iter().find(|f| f.0 == *kind) else {
                    panic!("{name}: the catalog has no {kind:?} field, the proto has");
                };
                let authorizer = read.get(*slot);
                let same = match value {
                    Seen::One(v) => authorizer.first().copied().unwrap_or("") == v.as_str(),
                    Seen::Many(v) => authorizer == v.as_slice(),
                };
                assert!(
                    same,
                    "{name} {kind:?}: the authorizer reads {authorizer:?}, the gateway ({gateway}) {value:?}"
                );
            }
        }
        if let (Some(p), Some(j)) = (&prost, &java) {
            assert_eq!(p, j, "{name}: prost and the protobuf-java model disagree");
        }
    }
}

/// A request field as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// A singular string (empty when absent).
    One(String),
    /// A repeated string.
    Many(Vec<String>),
}

/// The condition fields of `rpc`'s request decoded by prost, or `None` when prost refuses it.
fn prost_fields(rpc: &str, m: &[u8]) -> Option<Vec<(ConditionKind, Seen)>> {
    use ConditionKind::*;
    use Seen::{Many, One};
    Some(match rpc {
        "ActivateJobs" => {
            let r = proto::ActivateJobsRequest::decode(m).ok()?;
            vec![(JobType, One(r.r#type)), (Tenant, Many(r.tenant_ids))]
        }
        "StreamActivatedJobs" => {
            let r = proto::StreamActivatedJobsRequest::decode(m).ok()?;
            vec![(JobType, One(r.r#type)), (Tenant, Many(r.tenant_ids))]
        }
        "CreateProcessInstance" => {
            let r = proto::CreateProcessInstanceRequest::decode(m).ok()?;
            vec![
                (BpmnProcessId, One(r.bpmn_process_id)),
                (Tenant, One(r.tenant_id)),
            ]
        }
        "CreateProcessInstanceWithResult" => {
            let r = proto::CreateProcessInstanceWithResultRequest::decode(m).ok()?;
            let inner = r.request.unwrap_or_default();
            vec![
                (BpmnProcessId, One(inner.bpmn_process_id)),
                (Tenant, One(inner.tenant_id)),
            ]
        }
        "EvaluateDecision" => {
            let r = proto::EvaluateDecisionRequest::decode(m).ok()?;
            vec![(DecisionId, One(r.decision_id)), (Tenant, One(r.tenant_id))]
        }
        "DeployResource" => {
            let r = proto::DeployResourceRequest::decode(m).ok()?;
            vec![(Tenant, One(r.tenant_id))]
        }
        "PublishMessage" => {
            let r = proto::PublishMessageRequest::decode(m).ok()?;
            vec![(MessageName, One(r.name)), (Tenant, One(r.tenant_id))]
        }
        "BroadcastSignal" => {
            let r = proto::BroadcastSignalRequest::decode(m).ok()?;
            vec![(SignalName, One(r.signal_name)), (Tenant, One(r.tenant_id))]
        }
        "EvaluateConditional" => {
            let r = proto::EvaluateConditionalRequest::decode(m).ok()?;
            vec![(Tenant, One(r.tenant_id))]
        }
        _ => Vec::new(),
    })
}

/// The condition fields of `rpc`'s request as protobuf-java's `CodedInputStream` reads them
/// (the Zeebe gateway is Java), or `None` when it would refuse the message. What matters for
/// a field's value is modelled: a tag is `readRawVarint32`, i.e. the **low 32 bits** of a
/// varint of up to 10 bytes; a length is the same, negative or past the end refused; the last
/// occurrence of a singular field wins; occurrences of the nested `request` merge; a wanted
/// string must be UTF-8. Groups are not modelled (`None`: `read_fields` refuses them anyway).
fn java_fields(rpc: &str, message: &[u8]) -> Option<Vec<(ConditionKind, Seen)>> {
    let wanted: Vec<_> = FIELDS.iter().filter(|f| f.0 == rpc).collect();
    let nested = wanted.iter().find_map(|f| f.2);
    let targets: Vec<(Option<u32>, u32)> = wanted.iter().map(|f| (f.2, f.3)).collect();
    let mut found = Vec::new();
    java_walk(message, None, nested, &targets, &mut found)?;
    Some(
        wanted
            .iter()
            .map(|&&(_, kind, outer, number, repeated)| {
                let mut values = found
                    .iter()
                    .filter(|(o, n, _)| *o == outer && *n == number)
                    .map(|(_, _, v)| v.clone());
                let seen = if repeated {
                    Seen::Many(values.collect())
                } else {
                    Seen::One(values.next_back().unwrap_or_default())
                };
                (kind, seen)
            })
            .collect(),
    )
}

fn java_walk(
    mut buf: &[u8],
    outer: Option<u32>,
    nested: Option<u32>,
    targets: &[(Option<u32>, u32)],
    found: &mut Vec<(Option<u32>, u32, String)>,
) -> Option<()> {
    while !buf.is_empty() {
        let tag = java_varint(&mut buf)? as u32;
        let number = tag >> 3;
        if number == 0 {
            return None;
        }
        match tag & 7 {
            0 => {
                java_varint(&mut buf)?;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            2 => {
                let len = usize::try_from(java_varint(&mut buf)? as u32 as i32).ok()?;
                let value = buf.get(..len)?;
                buf = &buf[len..];
                if targets.contains(&(outer, number)) {
                    found.push((outer, number, String::from_utf8(value.to_vec()).ok()?));
                }
                if outer.is_none() && nested == Some(number) {
                    java_walk(value, Some(number), None, targets, found)?;
                }
            }
            _ => return None,
        }
    }
    Some(())
}

/// `readRawVarint64`: at most 10 bytes, bits beyond 64 dropped.
fn java_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some(value);
        }
    }
    None
}

/// Inflates every concatenated gzip member, as `GZIPInputStream` does, with the authorizer's
/// size bound.
fn inflate_all(compressed: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err("larger than the bound".into());
    }
    Ok(out)
}

/// One gzip member of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

/// `payload` in one gRPC frame with the given compressed flag.
pub fn frame_flagged(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = body::frame(payload);
    f[0] = flag;
    f
}

// ---------------------------------------------------------------------------------------------
// policy and config: the compile functions `serve` and `lint` share.

/// `compile` returned a value exactly when it reported no error, and `lint` (which runs the
/// same compile plus warnings) reports an error exactly when `compile` refused.
fn assert_compile_and_lint_agree(
    compiled: bool,
    diags: &Diagnostics,
    file: &Arc<Path>,
    text: &str,
    kind: FileKind,
) {
    assert_eq!(
        compiled,
        !diags.has_errors(),
        "compile's result and its diagnostics disagree: {:?}",
        diags.items()
    );
    let linted = lint_source(file, text, Some(kind));
    let lint_errors = linted
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error);
    assert_eq!(
        lint_errors, !compiled,
        "lint and serve disagree: {:?}",
        linted.diagnostics
    );
}

/// The input as policy YAML: compile and lint never panic and agree on whether it is valid.
pub fn policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let file: Arc<Path> = Arc::from(Path::new("fuzzed-policy.yaml"));
    let mut diags = Diagnostics::default();
    let compiled = policy::compile(&file, &text, &mut diags);
    assert_compile_and_lint_agree(compiled.is_some(), &diags, &file, &text, FileKind::Policy);
    if let Some(p) = compiled {
        exercise_policy(&p);
    }
}

/// Evaluates a compiled policy for the union of its permissions on every rpc.
fn exercise_policy(p: &Policy) {
    for g in p.grants() {
        assert!(g.rpcs.is_superset(g.conditional_rpcs), "{}", g.permission);
    }
    let grants = p.grants_for(p.grants().iter().map(|g| &*g.permission));
    assert!(p.granted_somewhere().is_superset(grants.rpcs));
    for rpc in Rpc::all() {
        let _ = p.authorize(&grants, &[], rpc, &RequestBody::default());
        let _ = p.granting_permissions(rpc);
    }
    let _ = p.needs_body();
}

/// Whether config text names the machine's device, process or kernel files. The compile refuses
/// devices and reads at most 4 MiB of a regular file (`diag::read_file`), but fuzzing which
/// `/proc` files exist on this machine finds nothing about our code and is slow.
fn names_special_files(text: &str) -> bool {
    ["/dev/", "/proc/", "/sys/"]
        .iter()
        .any(|p| text.contains(p))
}

/// The input as a config (its policy paths resolve against `examples/`): compile and lint never
/// panic and agree; a compiled config's hosts are in normal form and each reaches its realm.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if names_special_files(&text) {
        return;
    }
    let file: Arc<Path> = Arc::from(repo_root().join("examples/fuzzed-config.yaml"));
    let mut diags = Diagnostics::default();
    let compiled = config::compile(&file, &text, &mut diags);
    assert_compile_and_lint_agree(compiled.is_some(), &diags, &file, &text, FileKind::Config);
    let _ = lint_source(&file, &text, None);
    let Some(config) = compiled else { return };
    let metrics = shared_metrics();
    let realms = Realms::new(
        config
            .realms
            .iter()
            .map(|r| (r.clone(), key_cache(r, &metrics)))
            .collect(),
        LEEWAY,
        None,
    );
    for (index, realm) in config.realms.iter().enumerate() {
        exercise_policy(&realm.policy);
        for host in realm.hosts.iter().filter(|h| &***h != "*") {
            let (name, _) = host.rsplit_once(':').unwrap_or((host, ""));
            assert!(
                !host.bytes().any(|b| b.is_ascii_uppercase()) && !name.ends_with('.'),
                "host '{host}' is not in normal form"
            );
            for spelling in [host.to_string(), host.to_ascii_uppercase()] {
                let found = realms.for_host(&spelling).map(|r| r.index);
                assert_eq!(found, Some(index), "host '{spelling}' of realm {index}");
            }
        }
    }
}

fn shared_metrics() -> Arc<Metrics> {
    static METRICS: OnceLock<Arc<Metrics>> = OnceLock::new();
    METRICS.get_or_init(|| Arc::new(Metrics::new())).clone()
}

/// A key cache for `realm` that never fetches anything: its JWKS URL has a scheme reqwest
/// refuses, so a refetch fails at once, without I/O.
fn key_cache(realm: &RealmConfig, metrics: &Arc<Metrics>) -> Arc<JwksCache> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    let client = CLIENT.get_or_init(|| http_client(None).expect("the JWKS HTTP client"));
    let settings = JwksSettings {
        refetch_cooldown: Duration::ZERO,
        fetch_timeout: Duration::from_secs(1),
        keys_max_age: Duration::from_secs(30 * 24 * 3600),
        ..JwksSettings::default()
    };
    let source = JwksSource {
        issuer: realm.issuer.clone(),
        jwks_uri: Some("file:///nonexistent/certs".into()),
    };
    Arc::new(JwksCache::new(
        realm.name.clone(),
        source,
        settings,
        None,
        client.clone(),
        metrics.clone(),
    ))
}

// ---------------------------------------------------------------------------------------------
// jwks

const ALGORITHMS: [Algorithm; 10] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::HS256,
];

/// The input as a JWKS document: never panics; a loaded set has keys, at most one per JWK.
pub fn jwks(data: &[u8]) {
    let Ok(set) = KeySet::from_jwks(data, tokio::time::Instant::now()) else {
        return;
    };
    assert!(!set.is_empty(), "a loaded key set is empty");
    let doc: Value = serde_json::from_slice(data).expect("from_jwks accepted invalid JSON");
    let listed = doc["keys"]
        .as_array()
        .expect("from_jwks accepted no keys array");
    assert!(
        set.len() + set.skipped <= listed.len(),
        "{} keys and {} skipped from {} JWKs",
        set.len(),
        set.skipped,
        listed.len()
    );
    let kids = listed
        .iter()
        .map(|k| k.get("kid").and_then(Value::as_str))
        .chain([None, Some("")]);
    for kid in kids {
        for alg in ALGORITHMS {
            if let KeyLookup::Found(key) = set.find(kid, alg) {
                let _ = key.verify_signature(alg, data, data);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// check: the whole Check pipeline against the grants of policies/dev.yaml.

/// The host of the dev realm and of the other realm.
const DEV_HOST: &str = "zeebe.example.com";
const OTHER_HOST: &str = "other.example.com";
const OTHER_ISSUER: &str = "https://keycloak.example.com/realms/other";
/// How long one Check may wait for keys.
const CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// The pre-minted tokens, by the index a [`Call`] names them with; then "no header" and
/// "garbage" (the call's text).
pub const TOKEN_NAMES: &[&str] = &[
    "WRITE",     // write:*: every rpc
    "READ",      // read:*: Topology
    "TENANT",    // tenant:write, holding tenant-a
    "WORKER",    // worker:payment: the job rpcs, job types payment*
    "NAMED",     // rpc-named permissions CreateProcessInstance and Topology
    "OTHER",     // write:* of the other realm
    "EXPIRED",   // write:*, exp an hour ago
    "FORGED",    // write:*, the dev kid, signed by another RSA key
    "WRONG_ALG", // write:*, the dev kid, signed ES256
    "UNSIGNED",  // write:*, alg none
    "WRONG_AUD", // write:*, aud other-api
    "NOT_YET",   // write:*, nbf in an hour
    "WRONG_ISS", // write:*, signed by the dev key, iss of the other realm
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RealmId {
    Dev,
    Other,
}

/// What a valid token's permissions grant under `policies/dev.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Everything,
    Read,
    Named,
    Tenant,
    Worker,
}

struct MintedToken {
    jwt: String,
    /// The realm that accepts it and what it grants there; `None`: no realm accepts it.
    valid: Option<(RealmId, Grant)>,
    subject: String,
}

struct CheckWorld {
    runtime: tokio::runtime::Runtime,
    realms: Vec<(RealmConfig, Arc<JwksCache>)>,
    metrics: Arc<Metrics>,
    tokens: Vec<MintedToken>,
}

fn check_world() -> &'static CheckWorld {
    static WORLD: OnceLock<CheckWorld> = OnceLock::new();
    WORLD.get_or_init(|| {
        use zeebe_authz::dev::{
            AUDIENCE as DEV_AUDIENCE, KEY_ID as DEV_KEY_ID, TENANTS_CLAIM as DEV_TENANTS_CLAIM,
        };
        let dev_issuer = ISSUER.replace("camunda", "dev");
        let realm = |name: &str, issuer: &str, host: &str| RealmConfig {
            name: name.into(),
            issuer: issuer.into(),
            audiences: Box::new([DEV_AUDIENCE.into()]),
            jwks_uri: None,
            hosts: Box::new([host.into()]),
            policy: dev_policy().clone(),
            permissions_claim: ClaimPath::new(["permissions", DEV_AUDIENCE]),
            tenants_claim: Some(ClaimPath::new([DEV_TENANTS_CLAIM])),
            tenants_prefix: None,
            mode: RealmMode::Enforce,
            token_type: zeebe_authz::token::verify::TokenType::Required,
            engine_authorizations: false,
        };
        let metrics = shared_metrics();
        let configs = [
            realm("dev", &dev_issuer, DEV_HOST),
            realm("other", OTHER_ISSUER, OTHER_HOST),
        ];
        // As `serve --dev`: RS256 for the dev realm; ES256 for the other one.
        let dev_key = SigningKey::generate(DEV_KEY_ID).expect("RSA key");
        let other_key = SigningKey::generate_for(Algorithm::ES256, "other-1").expect("EC key");
        let forger = SigningKey::generate(DEV_KEY_ID).expect("RSA key");
        let wrong_alg = SigningKey::generate_for(Algorithm::ES256, DEV_KEY_ID).expect("EC key");
        let realms: Vec<_> = configs
            .into_iter()
            .zip([&dev_key, &other_key])
            .map(|(config, key)| {
                let cache = key_cache(&config, &metrics);
                let doc = zeebe_authz::issuer::jwks(&[key]).to_string();
                let keys = KeySet::from_jwks(doc.as_bytes(), tokio::time::Instant::now())
                    .expect("the issuer's JWKS loads");
                cache.install(keys);
                (config, cache)
            })
            .collect();

        let claims = |issuer: &str, client: &str, permissions: &[&str], tenants: &[&str]| {
            let mut c = access_token_claims(issuer, DEV_AUDIENCE, client, permissions, 12 * 3600);
            c[DEV_TENANTS_CLAIM] = json!(tenants);
            c
        };
        let write = || claims(&dev_issuer, "dev-writer", &["write:*"], &[]);
        let edited = |edit: &dyn Fn(&mut Value)| {
            let mut c = write();
            edit(&mut c);
            c
        };
        let now = zeebe_authz::token::unix_now();
        let sign = |key: &SigningKey, c: &Value| key.sign(c).expect("signing");
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": DEV_KEY_ID}).to_string()),
            URL_SAFE_NO_PAD.encode(write().to_string())
        );
        let valid = |realm, grant| Some((realm, grant));
        let minted = [
            (
                sign(&dev_key, &write()),
                valid(RealmId::Dev, Grant::Everything),
            ),
            (
                sign(
                    &dev_key,
                    &claims(&dev_issuer, "dev-reader", &["read:*"], &[]),
                ),
                valid(RealmId::Dev, Grant::Read),
            ),
            (
                sign(
                    &dev_key,
                    &claims(&dev_issuer, "dev-tenant", &["tenant:write"], &["tenant-a"]),
                ),
                valid(RealmId::Dev, Grant::Tenant),
            ),
            (
                sign(
                    &dev_key,
                    &claims(&dev_issuer, "dev-worker", &["worker:payment"], &[]),
                ),
                valid(RealmId::Dev, Grant::Worker),
            ),
            (
                sign(
                    &dev_key,
                    &claims(
                        &dev_issuer,
                        "dev-named",
                        &["CreateProcessInstance", "Topology"],
                        &[],
                    ),
                ),
                valid(RealmId::Dev, Grant::Named),
            ),
            (
                sign(
                    &other_key,
                    &claims(OTHER_ISSUER, "other-writer", &["write:*"], &[]),
                ),
                valid(RealmId::Other, Grant::Everything),
            ),
            (
                sign(
                    &dev_key,
                    &edited(&|c| {
                        c["exp"] = json!(now - 3600);
                        c["iat"] = json!(now - 7200);
                    }),
                ),
                None,
            ),
            (sign(&forger, &write()), None),
            (sign(&wrong_alg, &write()), None),
            (unsigned, None),
            (
                sign(&dev_key, &edited(&|c| c["aud"] = json!("other-api"))),
                None,
            ),
            (
                sign(&dev_key, &edited(&|c| c["nbf"] = json!(now + 3600))),
                None,
            ),
            (
                sign(&dev_key, &edited(&|c| c["iss"] = json!(OTHER_ISSUER))),
                None,
            ),
        ];
        assert_eq!(minted.len(), TOKEN_NAMES.len());
        let tokens = minted
            .into_iter()
            .map(|(jwt, valid)| {
                let payload = jwt.split('.').nth(1).unwrap_or_default();
                let claims: Value = URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .expect("minted claims");
                let subject = claims["sub"].as_str().unwrap_or_default().to_string();
                MintedToken {
                    jwt,
                    valid,
                    subject,
                }
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        CheckWorld {
            runtime,
            realms,
            metrics,
            tokens,
        }
    })
}

/// The one call of `Authorizer::check`, so a signature change is a one-line change.
async fn run_check(authorizer: &Authorizer, request: &CheckRequest) -> CheckResponse {
    let deadline = tokio::time::Instant::now() + CHECK_DEADLINE;
    zeebe_authz::envoy::check(authorizer, request, Some(deadline)).await
}

/// Host spellings a [`Call`] picks from; one more index takes the call's text.
pub const HOSTS: &[&str] = &[
    DEV_HOST,
    "ZEEBE.Example.COM",
    "zeebe.example.com.",
    "zeebe.example.com:26500",
    "Zeebe.Example.Com.:443",
    OTHER_HOST,
    "other.example.com:26500",
    "unknown.example.com",
    "",
    "zeebe.example.com:",
    "zeebe.example.com..",
    "zeebe.example.com:x",
    "[::1]:26500",
    "zeebe.example.com.other.example.com",
];

/// Paths a [`Call`] picks from (`{}` is the rpc name): the exact path, then mutations; the
/// next index takes the call's text, the ones after it up to [`PATH_CHOICES`] the exact path.
pub const PATHS: &[&str] = &[
    "/gateway_protocol.Gateway/{}",
    "/gateway_protocol.Gateway/{}?x=1",
    "/gateway_protocol.Gateway/{};x",
    "/gateway_protocol.Gateway/%{}",
    "/gateway_protocol.Gateway/{}/",
    "/grpc.health.v1.Health/Check",
    "/gateway_protocol.gateway/{}",
    "//gateway_protocol.Gateway/{}",
    "/gateway_protocol.Gateway/{} ",
    "/gateway_protocol.Gateway%2F{}",
    "/gateway_protocol.Gateway/{}\0",
    "gateway_protocol.Gateway/{}",
    "/gateway_protocol.Gateway/lower:{}",
];
/// How many path choices there are (about half of them the exact path).
pub const PATH_CHOICES: u8 = 24;

/// Tenant ids and job types a message's fields pick from; one more index takes the call's text.
pub const TENANTS: &[&str] = &[
    "tenant-a",
    "tenant-b",
    "",
    "<default>",
    "TENANT-A",
    "tenant-a ",
    "tenant-a\0",
];
/// See [`TENANTS`].
pub const JOB_TYPES: &[&str] = &[
    "payment",
    "payment-refund",
    "shipping",
    "",
    "Payment",
    "xpayment",
    "paymen",
];

/// Body shapes a [`Call`] picks from.
pub const BODIES: &[&str] = &[
    "empty",
    "plain frame",
    "gzip frame",
    "gzip frame of two members (first, second)",
    "plain frame of two messages merged (first, second)",
    "the call's text",
    "gzip frame, the call's text after the member",
    "plain message with the compressed flag",
    "gzip member with the plain flag",
    "plain frame missing its last byte",
    "two frames (first, second)",
];

/// `grpc-encoding` choices after index 0; 0 and indexes past the end send `gzip` for
/// compressed bodies only.
pub const ENCODINGS: &[Option<&str>] = &[
    None,
    Some("gzip"),
    Some("GZIP"),
    Some(" gzip "),
    Some("identity"),
    Some("deflate"),
];

/// `x-envoy-auth-partial-body` choices after index 0; 0 and indexes past the end send none.
pub const PARTIALS: &[&str] = &["true", "TRUE", "false", "1"];

/// `authorization` header shapes (`{}` is the token, a second `{}` the call's text); indexes
/// past the end are `Bearer {}`.
pub const FORMS: &[&str] = &[
    "Bearer {}",
    "bearer {}",
    "BEARER   {}  ",
    "Basic {}",
    "{}",
    "Bearer {}x",
    "Bearer x{}",
    "Bearer {} {}",
    "Bearer\t{}",
];

/// The fields of one request message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageChoice {
    /// How many tenants (0, 1 or 2; singular tenant fields take the first).
    pub tenants: u8,
    /// Indexes into [`TENANTS`].
    pub tenant: [u8; 2],
    /// Index into [`JOB_TYPES`].
    pub job_type: u8,
}

/// One Check, as a `check` input encodes it: one byte per choice (taken modulo the number of
/// choices), then a text of up to 65535 bytes (two bytes little-endian length, lossy UTF-8)
/// that the "text" choices use. An input is up to four calls; a missing byte reads as 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// Index into [`TOKEN_NAMES`], then no header, then the text.
    pub token: u8,
    /// Index into [`FORMS`].
    pub form: u8,
    /// Index into [`HOSTS`], then the text.
    pub host: u8,
    /// The rpc, by catalog index.
    pub rpc: u8,
    /// Index into [`PATHS`], then the text, then exact paths up to [`PATH_CHOICES`].
    pub path: u8,
    /// Index into [`BODIES`].
    pub body: u8,
    /// The rpc whose request the body holds: 0 is the path's, `n` the catalog's `n - 1`.
    pub body_rpc: u8,
    /// 0: automatic, else index + 1 into [`ENCODINGS`].
    pub encoding: u8,
    /// 0: none, else index + 1 into [`PARTIALS`].
    pub partial: u8,
    /// Even: headers in `headers`; odd: in `header_map` as raw values.
    pub raw_headers: u8,
    /// The (first) request message.
    pub first: MessageChoice,
    /// The second message (two-member and merged bodies).
    pub second: MessageChoice,
    /// The call's text.
    pub text: Vec<u8>,
}

/// Reads bytes; past the end, zeros.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn message(&mut self) -> MessageChoice {
        MessageChoice {
            tenants: self.byte(),
            tenant: [self.byte(), self.byte()],
            job_type: self.byte(),
        }
    }
}

impl Call {
    /// Decodes the calls of a `check` input.
    pub fn decode_all(data: &[u8]) -> Vec<Call> {
        let mut c = Choices(data);
        let mut calls = Vec::new();
        while !c.0.is_empty() && calls.len() < 4 {
            let mut call = Call {
                token: c.byte(),
                form: c.byte(),
                host: c.byte(),
                rpc: c.byte(),
                path: c.byte(),
                body: c.byte(),
                body_rpc: c.byte(),
                encoding: c.byte(),
                partial: c.byte(),
                raw_headers: c.byte(),
                first: c.message(),
                second: c.message(),
                text: Vec::new(),
            };
            let len = usize::from(u16::from_le_bytes([c.byte(), c.byte()])).min(c.0.len());
            call.text = c.0[..len].to_vec();
            c.0 = &c.0[len..];
            calls.push(call);
        }
        calls
    }

    /// Encodes calls as a `check` input (the inverse of [`Call::decode_all`]).
    pub fn encode_all(calls: &[Call]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in calls {
            out.extend([
                c.token,
                c.form,
                c.host,
                c.rpc,
                c.path,
                c.body,
                c.body_rpc,
                c.encoding,
                c.partial,
                c.raw_headers,
            ]);
            for m in [&c.first, &c.second] {
                out.extend([m.tenants, m.tenant[0], m.tenant[1], m.job_type]);
            }
            let len = u16::try_from(c.text.len()).expect("a call's text fits 65535 bytes");
            out.extend(len.to_le_bytes());
            out.extend(&c.text);
        }
        out
    }
}

fn pick<'a>(table: &[&'a str], index: u8, text: &'a str) -> &'a str {
    table.get(usize::from(index)).copied().unwrap_or(text)
}

/// A Check request built from a [`Call`], with what the oracle needs to judge it.
#[derive(Debug)]
struct Built {
    request: CheckRequest,
    host: String,
    path: String,
    authorization: Option<String>,
    /// The minted token the header was made from (an index into the world's tokens).
    token: Option<usize>,
    partial: Option<String>,
}

fn build(world: &CheckWorld, call: &Call) -> Built {
    let text = String::from_utf8_lossy(&call.text).into_owned();
    let tokens = world.tokens.len();
    let choice = usize::from(call.token) % (tokens + 2);
    let authorization = match choice {
        i if i < tokens => {
            let jwt = &world.tokens[i].jwt;
            let form = FORMS.get(usize::from(call.form)).unwrap_or(&"Bearer {}");
            Some(form.replacen("{}", jwt, 1).replacen("{}", &text, 1))
        }
        i if i == tokens => None,
        _ => Some(text.clone()),
    };
    let token = (choice < tokens).then_some(choice);
    let host = pick(HOSTS, call.host % (HOSTS.len() as u8 + 1), &text).to_string();
    let count = Rpc::all().count();
    let rpc = Rpc::all()
        .nth(usize::from(call.rpc) % count)
        .expect("an rpc");
    let path = match usize::from(call.path % PATH_CHOICES) {
        i if i < PATHS.len() => PATHS[i].replace("{}", rpc.name()),
        i if i == PATHS.len() => text.clone(),
        _ => PATHS[0].replace("{}", rpc.name()),
    };
    let body_rpc = match call.body_rpc {
        0 => rpc,
        n => Rpc::all().nth(usize::from(n - 1) % count).expect("an rpc"),
    };
    let message = |m: &MessageChoice| {
        let field =
            |table: &'static [&'static str], i: u8| pick(table, i % (table.len() as u8 + 1), &text);
        let tenants: Vec<String> = (0..m.tenants % 3)
            .map(|i| field(TENANTS, m.tenant[usize::from(i)]).to_string())
            .collect();
        request_message(body_rpc.name(), &tenants, field(JOB_TYPES, m.job_type))
    };
    let (first, second) = (message(&call.first), message(&call.second));
    let raw_body = match call.body as usize % BODIES.len() {
        0 => Vec::new(),
        1 => body::frame(&first),
        2 => frame_flagged(1, &gzip(&first)),
        3 => frame_flagged(1, &[gzip(&first), gzip(&second)].concat()),
        4 => body::frame(&[first, second].concat()),
        5 => call.text.clone(),
        6 => frame_flagged(1, &[&gzip(&first)[..], &call.text].concat()),
        7 => frame_flagged(1, &first),
        8 => frame_flagged(0, &gzip(&first)),
        9 => {
            let mut f = body::frame(&first);
            f.pop();
            f
        }
        _ => [body::frame(&first), body::frame(&second)].concat(),
    };
    let compressed = raw_body.first() == Some(&1);
    let after_zero = |i: u8| usize::from(i).checked_sub(1);
    let encoding = match after_zero(call.encoding).and_then(|i| ENCODINGS.get(i)) {
        Some(e) => e.map(str::to_string),
        None => compressed.then(|| "gzip".to_string()),
    };
    let partial = after_zero(call.partial)
        .and_then(|i| PARTIALS.get(i))
        .map(|p| p.to_string());

    let mut headers = vec![("content-type", "application/grpc".to_string())];
    for (name, value) in [
        ("authorization", &authorization),
        ("grpc-encoding", &encoding),
        ("x-envoy-auth-partial-body", &partial),
    ] {
        if let Some(v) = value {
            headers.push((name, v.clone()));
        }
    }
    let mut http = HttpRequest {
        method: "POST".into(),
        host: host.clone(),
        path: path.clone(),
        raw_body,
        protocol: "HTTP/2".into(),
        ..Default::default()
    };
    if call.raw_headers.is_multiple_of(2) {
        http.headers = headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    } else {
        let headers = headers
            .into_iter()
            .map(|(k, v)| HeaderValue {
                key: k.into(),
                value: String::new(),
                raw_value: v.into_bytes(),
            })
            .collect();
        http.header_map = Some(HeaderMap { headers });
    }
    let request = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(http),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    Built {
        request,
        host,
        path,
        authorization,
        token,
        partial,
    }
}

/// A request of `rpc` carrying the given tenants and job type where the message has them.
fn request_message(rpc: &str, tenants: &[String], job_type: &str) -> Vec<u8> {
    let tenant = tenants.first().cloned().unwrap_or_default();
    match rpc {
        "ActivateJobs" => proto::ActivateJobsRequest {
            r#type: job_type.into(),
            worker: "fuzz".into(),
            max_jobs_to_activate: 1,
            tenant_ids: tenants.to_vec(),
            ..Default::default()
        }
        .encode_to_vec(),
        "StreamActivatedJobs" => proto::StreamActivatedJobsRequest {
            r#type: job_type.into(),
            tenant_ids: tenants.to_vec(),
            ..Default::default()
        }
        .encode_to_vec(),
        "CreateProcessInstance" => proto::CreateProcessInstanceRequest {
            bpmn_process_id: "order".into(),
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        "CreateProcessInstanceWithResult" => proto::CreateProcessInstanceWithResultRequest {
            request: Some(proto::CreateProcessInstanceRequest {
                bpmn_process_id: "order".into(),
                tenant_id: tenant,
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec(),
        "DeployResource" => proto::DeployResourceRequest {
            resources: vec![proto::Resource {
                name: "a.bpmn".into(),
                content: b"<xml/>".to_vec(),
            }],
            tenant_id: tenant,
        }
        .encode_to_vec(),
        "PublishMessage" => proto::PublishMessageRequest {
            name: "m".into(),
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        "BroadcastSignal" => proto::BroadcastSignalRequest {
            signal_name: "s".into(),
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        "EvaluateDecision" => proto::EvaluateDecisionRequest {
            decision_id: "d".into(),
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        "EvaluateConditional" => proto::EvaluateConditionalRequest {
            tenant_id: tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        _ => Vec::new(),
    }
}

/// The input as up to four Checks through one fresh authorizer (fresh token cache: an input
/// decides the same on every run; the second use of a token in an input is a cache hit).
pub fn check(data: &[u8]) {
    let world = check_world();
    let built: Vec<Built> = Call::decode_all(data)
        .iter()
        .map(|c| build(world, c))
        .collect();
    let token_settings = TokenSettings {
        // Small (~64 ordinary principals), so eviction is fuzzed too.
        cache_max_bytes: 16 << 10,
        ..TokenSettings::default()
    };
    let authorizer = Authorizer::new(
        Realms::new(world.realms.clone(), LEEWAY, None),
        &token_settings,
        // Everything an answer can carry, so that every identity header and metadata entry is
        // checked (the defaults send less).
        IdentityHeaders {
            send: IdentitySet::All,
            ..IdentityHeaders::default()
        },
        MetadataSet::All,
        world.metrics.clone(),
    );
    let responses = world.runtime.block_on(async {
        let mut responses = Vec::new();
        for b in &built {
            responses.push(run_check(&authorizer, &b.request).await);
        }
        responses
    });
    for (b, response) in built.iter().zip(&responses) {
        if let Err(why) = judge(world, b, response) {
            panic!(
                "{why}\nhost {:?} path {:?} authorization {:?}\n{response:?}",
                b.host, b.path, b.authorization
            );
        }
    }
}

/// Never allow what `policies/dev.yaml` does not grant: an allow needs an exact gateway rpc
/// path, a host of a realm, an intact valid token of that realm, a grant of the rpc, and, for
/// a conditional grant, a body that meets the condition as the gateway decodes it.
fn judge(world: &CheckWorld, b: &Built, response: &CheckResponse) -> Result<(), String> {
    let code = response.status.as_ref().map(|s| s.code);
    let ok_response = matches!(response.http_response, Some(HttpResponse::OkResponse(_)));
    if (code == Some(0)) != ok_response {
        return Err(format!(
            "status {code:?} with an http_response that disagrees"
        ));
    }
    if !ok_response {
        return Ok(());
    }
    let rpc = b
        .path
        .strip_prefix(GATEWAY_PATH_PREFIX)
        .and_then(Rpc::from_name)
        .ok_or("allowed a path that is not exactly a gateway rpc")?;
    let realm = realm_of_host(&b.host).ok_or("allowed a host no realm protects")?;
    let token = b.token.map(|i| &world.tokens[i]);
    let intact = |t: &MintedToken| {
        let words: Vec<&str> = b
            .authorization
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        words.last() == Some(&t.jwt.as_str()) && words.len() <= 2
    };
    let (token, grant) = match token {
        Some(t) if intact(t) => match t.valid {
            Some((r, grant)) if r == realm => (t, grant),
            Some(_) => return Err("allowed a token of another realm".into()),
            None => return Err("allowed an invalid token".into()),
        },
        _ => return Err("allowed a request without an intact minted token".into()),
    };
    let names = IdentityHeaders::default();
    let realm_name = match realm {
        RealmId::Dev => "dev",
        RealmId::Other => "other",
    };
    for (header, want) in [
        (&names.realm, realm_name),
        (&names.subject, token.subject.as_str()),
    ] {
        let found = ok_headers(response)
            .find(|(k, _)| *k == &**header)
            .map(|(_, v)| v);
        if found != Some(want) {
            return Err(format!(
                "identity header {header} is {found:?}, want {want:?}"
            ));
        }
    }
    match dev_policy_needs(grant, rpc.name()) {
        Need::Never => Err(format!("{grant:?} does not grant {rpc}")),
        Need::Always => Ok(()),
        need => check_condition(b, rpc.name(), need),
    }
}

fn ok_headers(response: &CheckResponse) -> impl Iterator<Item = (&str, &str)> {
    let ok = match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => Some(ok),
        _ => None,
    };
    ok.into_iter()
        .flat_map(|ok| &ok.headers)
        .filter_map(|h| h.header.as_ref())
        .map(|h| (h.key.as_str(), h.value.as_str()))
}

/// The realm of an authority: DNS names compare case-insensitively, a port (digits after the
/// last `:`, possibly none) and one trailing root dot do not change the host.
fn realm_of_host(host: &str) -> Option<RealmId> {
    let lower = host.to_ascii_lowercase();
    let name = match lower.rsplit_once(':') {
        Some((name, port))
            if !name.is_empty()
                && !name.contains(':')
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => &lower,
    };
    match name.strip_suffix('.').unwrap_or(name) {
        DEV_HOST => Some(RealmId::Dev),
        OTHER_HOST => Some(RealmId::Other),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Never,
    Always,
    /// Every tenant of the request is one the token holds (the TENANT token: `tenant-a`).
    TenantHeld,
    /// The job type starts with `payment`.
    JobTypePayment,
}

/// The grants of `policies/dev.yaml`, written out by hand.
fn dev_policy_needs(grant: Grant, rpc: &str) -> Need {
    let carries_tenant = FIELDS
        .iter()
        .any(|f| f.0 == rpc && f.1 == ConditionKind::Tenant);
    match grant {
        Grant::Everything => Need::Always,
        Grant::Read if rpc == "Topology" => Need::Always,
        Grant::Named if matches!(rpc, "CreateProcessInstance" | "Topology") => Need::Always,
        // DeployProcess always deploys to <default>, which the TENANT token does not hold.
        Grant::Tenant if rpc == "DeployProcess" => Need::Never,
        Grant::Tenant if carries_tenant => Need::TenantHeld,
        Grant::Tenant => Need::Always,
        Grant::Worker => match rpc {
            "ActivateJobs" | "StreamActivatedJobs" => Need::JobTypePayment,
            "CompleteJob" | "FailJob" | "ThrowError" | "UpdateJobRetries" | "UpdateJobTimeout" => {
                Need::Always
            }
            _ => Need::Never,
        },
        _ => Need::Never,
    }
}

/// A conditional allow: the body Envoy forwarded must be whole, and what the gateway decodes
/// from it (prost, and the protobuf-java model) must meet the condition. A body the gateway
/// cannot decode runs nothing, so it proves nothing either way.
fn check_condition(b: &Built, rpc: &str, need: Need) -> Result<(), String> {
    if b.partial
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("true"))
    {
        return Err(format!("{rpc}: allowed on a condition with a partial body"));
    }
    let raw = b
        .request
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
        .map_or(&[][..], |h| &h.raw_body);
    let Some(message) = gateway_message(raw) else {
        return Ok(());
    };
    for (gateway, seen) in [
        ("prost", prost_fields(rpc, &message)),
        ("protobuf-java model", java_fields(rpc, &message)),
    ] {
        let Some(seen) = seen else { continue };
        let value = |kind| seen.iter().find(|(k, _)| *k == kind).map(|(_, v)| v);
        let ok = match (
            need,
            value(ConditionKind::Tenant),
            value(ConditionKind::JobType),
        ) {
            (Need::TenantHeld, Some(Seen::One(t)), _) => held(std::slice::from_ref(t)),
            (Need::TenantHeld, Some(Seen::Many(ts)), _) => held(ts),
            (Need::JobTypePayment, _, Some(Seen::One(ty))) => ty.starts_with("payment"),
            _ => false,
        };
        if !ok {
            return Err(format!("{rpc}: the gateway ({gateway}) runs {seen:?}"));
        }
    }
    Ok(())
}

/// Whether the TENANT token holds every tenant (an empty id or list is the default tenant).
fn held(tenants: &[String]) -> bool {
    !tenants.is_empty() && tenants.iter().all(|t| t == "tenant-a")
}

/// The message the gateway reads from a body: exactly one frame (a unary call refuses a
/// second), inflated whole when its flag says gzip.
fn gateway_message(raw: &[u8]) -> Option<Vec<u8>> {
    let header = raw.get(..5)?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let rest = &raw[5..];
    if rest.len() != len {
        return None;
    }
    match header[0] {
        0 => Some(rest.to_vec()),
        1 => inflate_all(rest).ok(),
        _ => None,
    }
}
