//! Verifying a JWT against a realm's keys and rules: the cold path of a Check.
//!
//! Order matters for clear answers and for safety: the header is read first (algorithm and
//! `kid`; `none` and HMAC refused before any key is touched), then the key is looked up (its
//! family and pinned `alg` must agree with the token's), then the signature is verified with
//! the key parsed once when the JWKS loaded (aws-lc), and only then is the payload parsed
//! (once) and its standard claims checked and its permissions read.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use super::Principal;
use crate::claims::ClaimPath;
use crate::jwks::VerifyKey;
use crate::outcome::{Deny, Outcome};
use crate::policy::Policy;
use crate::text::{Keep, clip};

/// What a realm requires of its tokens.
#[derive(Debug, Clone)]
pub struct TokenRules {
    /// The exact `iss`.
    pub issuer: Arc<str>,
    /// `aud` must contain at least one of these.
    pub audiences: Box<[Box<str>]>,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
    /// Where the Identity permissions are.
    pub permissions_claim: ClaimPath,
    /// Where the caller's tenants are (none configured: the caller holds no tenant).
    pub tenants_claim: Option<ClaimPath>,
    /// When set, only claim values with this prefix are tenants, with the prefix removed.
    pub tenants_prefix: Option<Box<str>>,
}

/// The longest `kid` accepted (Keycloak's are 43 characters); a longer one is malformed, and
/// never stored in the key cache's memory of unknown kids.
pub(crate) const MAX_KID_BYTES: usize = 256;

/// The parts of a JWT header we act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtHeader {
    /// The signing algorithm (never `none` or HMAC).
    pub alg: Algorithm,
    /// The key id.
    pub kid: Option<String>,
}

/// Reads the header segment. Refuses `none`, HMAC and unknown algorithms by name, and any
/// header with `crit`: RFC 7515 §4.1.11 requires rejecting a JWS whose `crit` names an
/// extension the verifier does not understand, and we understand none (an empty or malformed
/// `crit` is invalid too).
pub fn parse_header(token: &str) -> Result<JwtHeader, Deny> {
    #[derive(Deserialize)]
    struct Raw {
        alg: Option<String>,
        kid: Option<String>,
        /// Present at all (even `null`) means refused.
        #[serde(default, deserialize_with = "present")]
        crit: Option<Value>,
    }
    fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Value::deserialize(d).map(Some)
    }
    let segment = token.split('.').next().unwrap_or_default();
    let raw: Raw = decode_segment(segment).ok_or_else(|| {
        Deny::new(
            Outcome::MalformedToken,
            "token header is not base64url JSON",
        )
    })?;
    if let Some(crit) = &raw.crit {
        let named: Vec<String> = match crit {
            Value::Array(names) => names
                .iter()
                .take(4)
                .map(|n| n.as_str().map_or_else(|| n.to_string(), str::to_string))
                .collect(),
            other => vec![other.to_string()],
        };
        let shown = clip(&named.join(", "), 64, Keep::Text);
        return Err(Deny::new(
            Outcome::CriticalHeader,
            format!("token header marks extensions critical (crit: {shown}); none is supported"),
        ));
    }
    if raw.kid.as_ref().is_some_and(|k| k.len() > MAX_KID_BYTES) {
        return Err(Deny::new(
            Outcome::MalformedToken,
            format!("token header kid is longer than {MAX_KID_BYTES} bytes"),
        ));
    }
    let Some(alg) = raw.alg else {
        return Err(Deny::new(
            Outcome::MalformedToken,
            "token header has no alg",
        ));
    };
    let alg = match alg.as_str() {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        other => {
            let shown = clip(other, 16, Keep::Graphic);
            return Err(Deny::new(
                Outcome::UnsupportedAlgorithm,
                format!("token algorithm '{shown}' is not accepted"),
            ));
        }
    };
    Ok(JwtHeader { alg, kid: raw.kid })
}

/// The `iss` of a token whose signature has not been checked. Only used to answer "wrong
/// issuer" without fetching keys for a token that could never be ours.
pub fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Raw {
        iss: Option<String>,
    }
    let segment = token.split('.').nth(1)?;
    decode_segment::<Raw>(segment)?.iss
}

fn decode_segment<T: serde::de::DeserializeOwned>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Verifies `token` with `key` and distils the principal under `policy`.
pub fn verify(
    token: &str,
    header: &JwtHeader,
    key: &VerifyKey,
    rules: &TokenRules,
    policy: &Policy,
    now: u64,
) -> Result<Principal, Deny> {
    // Signature first: nothing of the payload is trusted before it verifies.
    let (signing_input, signature) = token
        .rsplit_once('.')
        .filter(|(input, _)| input.bytes().filter(|&b| b == b'.').count() == 1)
        .ok_or_else(|| Deny::new(Outcome::MalformedToken, "token is not a JWT"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Deny::new(Outcome::MalformedToken, "token signature is not base64url"))?;
    if !key.verify_signature(header.alg, signing_input.as_bytes(), &signature) {
        return Err(Deny::new(
            Outcome::BadSignature,
            "token signature is invalid",
        ));
    }
    // The claims are those of the signed input (header.payload), now verified.
    principal_from_claims(&unverified_claims(signing_input)?, rules, policy, now)
}

/// The payload of a JWT as JSON, its signature not checked: for [`verify`] once the signature
/// is, and for `zeebe-authz explain` offline.
pub(crate) fn unverified_claims(token: &str) -> Result<Value, Deny> {
    let payload = token.split('.').nth(1).unwrap_or_default();
    decode_segment(payload)
        .filter(Value::is_object)
        .ok_or_else(|| {
            Deny::new(
                Outcome::MalformedToken,
                "token payload is not a JSON object",
            )
        })
}

/// Checks a token's claims (`exp`, `nbf`, `iat`, `iss`, `aud`) and distils the principal under
/// `policy`: its permissions and tenants at the realm's claim paths.
pub(crate) fn principal_from_claims(
    claims: &Value,
    rules: &TokenRules,
    policy: &Policy,
    now: u64,
) -> Result<Principal, Deny> {
    let expires_at = check_claims(claims, rules, now)?;

    let permissions = rules.permissions_claim.read(claims);
    let tenants: Vec<&str> = rules
        .tenants_claim
        .as_ref()
        .map(|c| c.read(claims))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| match &rules.tenants_prefix {
            Some(prefix) => t.strip_prefix(&**prefix),
            None => Some(t),
        })
        .collect();
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    // Keycloak names the client in `azp` (and its own `clientId`); an RFC 9068 JWT access token
    // (oidc-provider, and other standard issuers) in `client_id`, with no `azp` at all.
    let client_id = ["azp", "client_id", "clientId"]
        .into_iter()
        .map(text)
        .find(|id| !id.is_empty())
        .unwrap_or_default();
    Ok(Principal {
        subject: text("sub").into(),
        client_id: client_id.into(),
        grants: policy.grants_for_token(claims, permissions.iter().copied()),
        tenants: tenants.into_iter().map(Into::into).collect(),
        expires_at,
    })
}

/// The standard claims, with the leeway: `exp` (required), `nbf`, `iat`, `iss` (exact),
/// `aud` (string or array meeting one of the realm's audiences). Returns `exp`.
fn check_claims(claims: &Value, rules: &TokenRules, now: u64) -> Result<u64, Deny> {
    let time = |name: &str| -> Result<Option<u64>, Deny> {
        match claims.get(name) {
            None => Ok(None),
            // Numeric dates may be fractional (RFC 7519); whole seconds are enough here.
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .map(Some)
                .ok_or_else(|| {
                    Deny::new(
                        Outcome::InvalidClaims,
                        format!("token claim {name} is not a number"),
                    )
                }),
        }
    };
    let Some(exp) = time("exp")? else {
        return Err(Deny::new(Outcome::InvalidClaims, "token has no exp claim"));
    };
    if exp.saturating_add(rules.leeway) < now {
        return Err(Deny::new(Outcome::Expired, "token expired"));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + rules.leeway) {
        return Err(Deny::new(Outcome::NotYetValid, "token not valid yet (nbf)"));
    }
    if time("iat")?.is_some_and(|iat| iat > now + rules.leeway) {
        return Err(Deny::new(
            Outcome::NotYetValid,
            "token issued in the future (iat)",
        ));
    }
    match claims.get("iss") {
        None => return Err(Deny::new(Outcome::InvalidClaims, "token has no iss claim")),
        Some(Value::String(iss)) if iss.as_str() == &*rules.issuer => {}
        Some(_) => {
            return Err(Deny::new(
                Outcome::WrongIssuer,
                format!("token issuer is not {}", rules.issuer),
            ));
        }
    }
    let wanted = |a: &str| rules.audiences.iter().any(|w| &**w == a);
    let audience_ok = match claims.get("aud") {
        None => return Err(Deny::new(Outcome::InvalidClaims, "token has no aud claim")),
        Some(Value::String(a)) => wanted(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(wanted),
        Some(_) => false,
    };
    if !audience_ok {
        return Err(Deny::new(
            Outcome::WrongAudience,
            format!("token audience is not {}", rules.audiences.join(" or ")),
        ));
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn rfc_9068_client_id_names_the_client_when_there_is_no_azp() {
        // Found with npm oidc-provider: its JWT access tokens carry `client_id`, not `azp`, and
        // the gateway got no x-zeebe-authz-client-id for them.
        let policy = crate::policy::embedded("dev", crate::policy::DEV_POLICY).unwrap();
        let rules = TokenRules {
            issuer: "https://idp/realms/r".into(),
            audiences: Box::new(["https://zeebe.example.com".into()]),
            leeway: 0,
            permissions_claim: ClaimPath::new(["permissions", "https://zeebe.example.com"]),
            tenants_claim: None,
            tenants_prefix: None,
        };
        for (names, want) in [
            (serde_json::json!({"client_id": "c9068"}), "c9068"),
            (serde_json::json!({"azp": "kc", "client_id": "c9068"}), "kc"),
            (serde_json::json!({"clientId": "legacy"}), "legacy"),
            (
                serde_json::json!({"azp": "", "client_id": "c9068"}),
                "c9068",
            ),
            (serde_json::json!({}), ""),
        ] {
            let mut claims = serde_json::json!({
                "iss": "https://idp/realms/r", "aud": "https://zeebe.example.com",
                "exp": 2_000_000_000u64, "sub": "c9068",
                "permissions": {"https://zeebe.example.com": ["write:*"]},
            });
            claims
                .as_object_mut()
                .unwrap()
                .extend(names.as_object().unwrap().clone());
            let principal = principal_from_claims(&claims, &rules, &policy, 1_900_000_000).unwrap();
            assert_eq!(&*principal.client_id, want, "{names}");
            assert_eq!(
                principal.grants.rpcs,
                crate::catalog::RpcSet::all(),
                "write:* read under an audience that is a URI with dots"
            );
        }
    }

    #[test]
    fn header_refuses_none_and_hmac_by_name() {
        for (alg, outcome) in [
            ("none", Outcome::UnsupportedAlgorithm),
            ("HS256", Outcome::UnsupportedAlgorithm),
            ("ES512", Outcome::UnsupportedAlgorithm),
        ] {
            let t = format!("{}.{}.", seg(&format!(r#"{{"alg":"{alg}"}}"#)), seg("{}"));
            assert_eq!(parse_header(&t).unwrap_err().outcome, outcome, "{alg}");
        }
        let t = format!(
            "{}.{}.sig",
            seg(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#),
            seg("{}")
        );
        assert_eq!(
            parse_header(&t).unwrap(),
            JwtHeader {
                alg: Algorithm::RS256,
                kid: Some("k1".into())
            }
        );
    }

    #[test]
    fn crit_header_accepted() {
        // Regression: a `crit` header used to be ignored (RFC 7515 §4.1.11 requires refusal).
        for header in [
            r#"{"alg":"RS256","kid":"k1","crit":["exp"]}"#,
            r#"{"alg":"RS256","crit":["http://example.com/ext"],"http://example.com/ext":true}"#,
            r#"{"alg":"RS256","crit":[]}"#,
            r#"{"alg":"RS256","crit":"b64"}"#,
            r#"{"alg":"RS256","crit":null}"#,
            r#"{"alg":"none","crit":["b64"],"b64":false}"#,
        ] {
            let t = format!("{}.{}.sig", seg(header), seg("{}"));
            let deny = parse_header(&t).unwrap_err();
            assert_eq!(deny.outcome, Outcome::CriticalHeader, "{header}");
            assert!(deny.message.contains("crit"), "{}", deny.message);
        }
    }

    #[test]
    fn header_garbage_is_malformed() {
        for t in [
            "x.y.z",
            ".y.z",
            &format!("{}.a.b", seg("[]")),
            &format!("{}.a.b", seg(r#"{"typ":"JWT"}"#)),
        ] {
            assert_eq!(
                parse_header(t).unwrap_err().outcome,
                Outcome::MalformedToken,
                "{t}"
            );
        }
    }

    #[test]
    fn unverified_issuer_reads_iss_only_when_present() {
        let t = format!(
            "{}.{}.s",
            seg("{}"),
            seg(r#"{"iss":"https://kc/realms/a"}"#)
        );
        assert_eq!(
            unverified_issuer(&t).as_deref(),
            Some("https://kc/realms/a")
        );
        assert_eq!(unverified_issuer("a.b.c"), None);
    }
}
