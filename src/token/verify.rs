//! Verifying a JWT against a realm's keys and rules: the cold path of a Check.
//!
//! Order matters for clear answers and for safety: the header is read first (algorithm and
//! `kid`; `none` and HMAC refused before any key is touched), then the key is looked up (its
//! family and pinned `alg` must agree with the token's), then the signature is verified with
//! the key parsed once when the JWKS loaded (aws-lc), and only then is the payload parsed
//! (once) and its standard claims checked and its permissions read.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

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
    /// Which token types are access tokens here (see [`check_token_type`]).
    pub token_type: TokenType,
    /// Where the caller's tenants are (none configured: the caller holds no tenant).
    pub tenants_claim: Option<ClaimPath>,
    /// When set, only claim values with this prefix are tenants, with the prefix removed.
    pub tenants_prefix: Option<Box<str>>,
}

/// What a realm requires of a token's type (RFC 8725 §3.11: explicit typing keeps an ID,
/// refresh or logout token from passing for an access token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenType {
    /// The token must say it is an access token: `typ: Bearer` in the payload (Keycloak) or
    /// the header `typ: at+jwt` (RFC 9068). The default.
    #[default]
    Required,
    /// As `Required`, but a token that names no type at all is taken as an access token too
    /// (an IdP that types none). A token typed as anything else is still refused.
    Optional,
}

impl TokenType {
    /// `required` or `optional`, as a config writes it.
    pub fn parse(s: &str) -> Option<TokenType> {
        match s {
            "required" => Some(TokenType::Required),
            "optional" => Some(TokenType::Optional),
            _ => None,
        }
    }
}

/// Refuses a token whose type is not an access token's (`rule` says whether an untyped token
/// passes). Keycloak types every token in the payload: `Bearer` for access tokens, `ID`,
/// `Refresh`, `Offline`, `Logout` for the others; RFC 9068 types access tokens in the header
/// (`at+jwt`), and other JWT kinds name themselves there too (`logout+jwt`, `secevent+jwt`).
pub fn check_token_type(
    header_typ: Option<&str>,
    claims: &Value,
    rule: TokenType,
) -> Result<(), Deny> {
    let header = header_typ.map(|t| {
        let t = t.trim();
        let t = t
            .get(..12)
            .filter(|p| p.eq_ignore_ascii_case("application/"))
            .map_or(t, |_| &t[12..]);
        t.to_ascii_lowercase()
    });
    let refuse = |what: String| {
        Deny::new(
            Outcome::WrongTokenType,
            format!("{what}, not an access token (typ Bearer, or the header typ at+jwt)"),
        )
    };
    if let Some(h) = header.as_deref()
        && h.ends_with("+jwt")
        && h != "at+jwt"
    {
        return Err(refuse(format!(
            "token header typ is '{}'",
            clip(h, 32, Keep::Graphic)
        )));
    }
    match claims.get("typ") {
        Some(Value::String(t)) if t == "Bearer" => Ok(()),
        Some(Value::String(t)) => Err(refuse(format!(
            "token typ is '{}'",
            clip(t, 32, Keep::Graphic)
        ))),
        Some(_) => Err(refuse("token typ is not a string".to_string())),
        None if header.as_deref() == Some("at+jwt") || rule == TokenType::Optional => Ok(()),
        None => Err(Deny::new(
            Outcome::WrongTokenType,
            "token has no typ: an access token carries typ Bearer (Keycloak) or the header typ at+jwt (RFC 9068); a realm whose IdP types no token sets token_type: optional",
        )),
    }
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
    /// The header's `typ` (RFC 9068 access tokens: `at+jwt`).
    pub typ: Option<String>,
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
        /// Any JSON: a non-string `typ` reads as none here (the payload's decides then).
        #[serde(default)]
        typ: Option<Value>,
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
    Ok(JwtHeader {
        alg,
        kid: raw.kid,
        typ: raw
            .typ
            .and_then(|t| t.as_str().map(str::to_string))
            .filter(|t| t.len() <= 64),
    })
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
    let claims = read_claims(signing_input, |name| reads_claim(name, rules, policy))?;
    check_token_type(header.typ.as_deref(), &claims, rules.token_type)?;
    principal_from_claims(&claims, rules, policy, now)
}

/// Whether [`principal_from_claims`] reads the top-level claim `name` under these rules and
/// this policy. A claim read anywhere below it must be named here, or a verified token's
/// principal would not see it (the property test `read_claims_keeps_the_principal` compares
/// against the whole payload).
fn reads_claim(name: &str, rules: &TokenRules, policy: &Policy) -> bool {
    matches!(
        name,
        "exp" | "nbf" | "iat" | "iss" | "aud" | "sub" | "azp" | "client_id" | "clientId" | "typ"
    ) || rules.permissions_claim.root() == Some(name)
        || rules.tenants_claim.as_ref().and_then(ClaimPath::root) == Some(name)
        || policy.dialect().is_some_and(|d| d.reads_claim(name))
}

/// The payload of a JWT as a JSON object of only the top-level members `wanted` names.
/// Accepts and refuses exactly the payloads [`unverified_claims`] does (it is this parse,
/// keeping every member): every other member is still parsed as strictly as into a `Value`
/// (string escapes and UTF-8, number range, the nesting limit) and only then dropped, and a
/// repeated member is the last one, as in a `Value`. What it saves on a cold Check is
/// building, and then dropping, the `Value`s of the members nobody reads (Keycloak's
/// `realm_access`, `resource_access`, `scope`, …). Unlike serde_json's own `Value` parse, it
/// refuses serde_json's private keys ([`SERDE_PRIVATE_KEYS`]) at any depth.
pub(crate) fn read_claims(token: &str, wanted: impl Fn(&str) -> bool) -> Result<Value, Deny> {
    let malformed = || {
        Deny::new(
            Outcome::MalformedToken,
            "token payload is not a JSON object",
        )
    };
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let members = WantedMembers(&wanted)
        .deserialize(&mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|_| malformed())?;
    Ok(Value::Object(members))
}

/// The top-level object of [`read_claims`].
struct WantedMembers<'w, F>(&'w F);

impl<'de, F: Fn(&str) -> bool> DeserializeSeed<'de> for WantedMembers<'_, F> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: Fn(&str) -> bool> Visitor<'de> for WantedMembers<'_, F> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Map::new();
        while let Some(MemberName(name)) = map.next_key()? {
            if (self.0)(&name) {
                members.insert(name.into_owned(), map.next_value::<Plain>()?.0);
            } else {
                map.next_value::<Checked>()?;
            }
        }
        Ok(members)
    }
}

/// serde_json's private keys. With its `raw_value` feature (which axum turns on in this build)
/// a `Value` parse reads an object whose first key is one of these as a raw value or number
/// and parses its string again, so `{"$serde_json::private::RawValue":"{\"exp\":5}"}` would
/// read as `{"exp":5}`. No JWT carries them: the claims parses refuse them as malformed.
const SERDE_PRIVATE_KEYS: [&str; 2] = [
    "$serde_json::private::RawValue",
    "$serde_json::private::Number",
];

/// An object key, borrowed from the payload unless it has escapes. Read as `Value` reads its
/// keys (`deserialize_str`); serde_json's private keys are refused.
struct MemberName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> Visitor<'de> for Name {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                refuse_private(s)?;
                Ok(MemberName(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                refuse_private(s)?;
                Ok(MemberName(Cow::Owned(s.to_owned())))
            }
        }
        fn refuse_private<E: de::Error>(key: &str) -> Result<(), E> {
            if SERDE_PRIVATE_KEYS.contains(&key) {
                return Err(E::custom("a serde_json private key"));
            }
            Ok(())
        }
        d.deserialize_str(Name)
    }
}

/// A JSON value, built as serde_json's `Value` builds one (a repeated key: the last; a float
/// that is not finite: null) but with keys read as [`MemberName`]s.
struct Plain(Value);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PlainVisitor).map(Plain)
    }
}

struct PlainVisitor;

impl<'de> Visitor<'de> for PlainVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Plain(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(MemberName(name)) = map.next_key()? {
            let Plain(value) = map.next_value()?;
            members.insert(name.into_owned(), value);
        }
        Ok(Value::Object(members))
    }
}

/// Any JSON value, parsed through the same `deserialize_any` calls as a `Value` (so refused
/// exactly when a `Value` would be) and kept as nothing. Unlike serde's `IgnoredAny`, which
/// serde_json skips without checking escapes, number ranges or the nesting limit.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key::<MemberName<'de>>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// The payload of a JWT as JSON, its signature not checked: for [`verify`] once the signature
/// is, and for `zeebe-authz explain` offline.
/// The same parse as [`read_claims`], keeping every member.
pub fn unverified_claims(token: &str) -> Result<Value, Deny> {
    read_claims(token, |_| true)
}

/// Checks a token's claims (`exp`, `nbf`, `iat`, `iss`, `aud`) and distils the principal under
/// `policy`: its permissions and tenants at the realm's claim paths.
pub fn principal_from_claims(
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
            token_type: TokenType::Optional,
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

    /// Member names of generated payloads: the claims the realms and policies below read,
    /// some nobody reads, an escaped `exp`, and serde_json's private keys.
    const MEMBER_NAMES: [&str; 23] = [
        "exp",
        "nbf",
        "iat",
        "iss",
        "aud",
        "sub",
        "azp",
        "client_id",
        "clientId",
        "permissions",
        "resource_access",
        "tenants",
        "groups",
        "preferred_username",
        "realm_access",
        "roles",
        "scope",
        "jti",
        "typ",
        "\\u0065xp",
        "x",
        "$serde_json::private::RawValue",
        "$serde_json::private::Number",
    ];

    /// Payload text for [`read_claims`]: members named from the claims the realms and
    /// policies below read and some nobody reads (repeats included, and an escaped `exp`), with
    /// values that are well-formed or not as JSON (a lone surrogate escape, a number out of
    /// range, nesting past serde_json's limit of 128).
    fn payload_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let names = prop::sample::select(MEMBER_NAMES.to_vec());
        let strings = prop::sample::select(vec![
            "\"write:*\"",
            "\"read:*\"",
            "\"zeebe-api\"",
            "\"https://idp/realms/r\"",
            "\"payments\"",
            "\"payments-worker\"",
            "\"zeebe-admin\"",
            "\"/tenants/t1\"",
            "\"t1 t2\"",
            "\"\"",
            "\"a\\nb\"",
            "\"\\ud800\"",
            "\"\\ud83d\\ude00\"",
            "\"\\x\"",
        ]);
        let leaf = prop_oneof![
            strings,
            prop::sample::select(vec![
                "1900000000",
                "2000000000",
                "2000000000.5",
                "-1",
                "0",
                "1e400",
                "-0",
                "1.0e9",
                "18446744073709551616",
                "null",
                "true",
                "false",
            ]),
        ]
        .prop_map(str::to_string);
        let value = leaf.prop_recursive(4, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((names.clone(), inner), 0..4).prop_map(|m| {
                    let members: Vec<String> =
                        m.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
                (120usize..135).prop_map(|depth| format!(
                    "{}1{}",
                    "[".repeat(depth),
                    "]".repeat(depth)
                )),
            ]
        });
        let names = prop::sample::select(MEMBER_NAMES.to_vec());
        let fixed = prop::sample::select(vec![
            "\"iss\":\"https://idp/realms/r\"",
            "\"aud\":[\"camunda\",\"zeebe-api\"]",
            "\"exp\":2000000000",
            "\"permissions\":{\"zeebe-api\":[\"write:*\"]}",
            "\"resource_access\":{\"zeebe-api\":{\"roles\":[\"read:*\"]}}",
            "\"client_id\":\"payments-worker\"",
            "\"groups\":[\"payments\",\"/tenants/t1\"]",
            "\"realm_access\":{\"roles\":[\"zeebe-admin\"]}",
            "\"sub\":\"service-account-x\"",
            "\"azp\":\"kc\"",
            "\"clientId\":\"legacy\"",
            "\"preferred_username\":\"ann\"",
            "\"tenants\":[\"t1\"]",
            "\"scope\":\"write:* read:*\"",
            "\"nbf\":1900000000",
            "\"iat\":2000000010",
        ]);
        (
            prop::collection::vec(fixed, 0..14),
            prop::collection::vec((names, value), 0..8),
            prop::sample::select(vec!["", " ", "x", "]"]),
        )
            .prop_map(|(fixed, free, tail)| {
                let mut members: Vec<String> = fixed.into_iter().map(str::to_string).collect();
                members.extend(free.into_iter().map(|(k, v)| format!("\"{k}\":{v}")));
                format!("{{{}}}{tail}", members.join(","))
            })
    }

    fn realm_rules() -> Vec<TokenRules> {
        let rules =
            |permissions: &[&str], tenants: Option<&[&str]>, prefix: Option<&str>| TokenRules {
                issuer: "https://idp/realms/r".into(),
                audiences: Box::new(["zeebe-api".into()]),
                leeway: 5,
                token_type: TokenType::Optional,
                permissions_claim: ClaimPath::new(permissions.iter().copied()),
                tenants_claim: tenants.map(|t| ClaimPath::new(t.iter().copied())),
                tenants_prefix: prefix.map(Into::into),
            };
        vec![
            rules(&["permissions", "zeebe-api"], Some(&["tenants"]), None),
            rules(
                &["resource_access", "zeebe-api", "roles"],
                Some(&["groups"]),
                Some("/tenants/"),
            ),
            rules(&["scope"], None, None),
            rules(&[], Some(&[]), None),
        ]
    }

    fn policies() -> [&'static Policy; 2] {
        use std::sync::OnceLock;
        static POLICIES: OnceLock<[Policy; 2]> = OnceLock::new();
        let p = POLICIES.get_or_init(|| {
            [
                crate::policy::embedded("dev", crate::policy::DEV_POLICY).unwrap(),
                crate::policy::embedded(
                    "camunda-8.8",
                    include_str!("../../policies/camunda-8.8.yaml"),
                )
                .unwrap(),
            ]
        });
        [&p[0], &p[1]]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The members a verified token keeps give the same principal, or the same deny, as
        /// the whole payload (`unverified_claims`, itself compared with serde_json's own parse
        /// below): for every realm's claim paths and for a policy with the Camunda dialect's
        /// owner claims.
        #[test]
        fn read_claims_keeps_the_principal(text in payload_text()) {
            let token = format!("h.{}.s", seg(&text));
            let whole = unverified_claims(&token);
            for rules in &realm_rules() {
                for policy in policies() {
                    let kept = read_claims(&token, |n| reads_claim(n, rules, policy));
                    match (&whole, &kept) {
                        (Ok(whole), Ok(kept)) => {
                            let members = kept.as_object().unwrap();
                            let expected: Map<String, Value> = whole
                                .as_object()
                                .unwrap()
                                .iter()
                                .filter(|(k, _)| reads_claim(k, rules, policy))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect();
                            proptest::prop_assert_eq!(members, &expected);
                            for now in [1_900_000_000, 2_000_000_003, 2_000_000_006] {
                                proptest::prop_assert_eq!(
                                    principal_from_claims(whole, rules, policy, now),
                                    principal_from_claims(kept, rules, policy, now),
                                    "{}", text
                                );
                            }
                        }
                        (Err(a), Err(b)) => proptest::prop_assert_eq!(a, b),
                        _ => proptest::prop_assert!(
                            false,
                            "accepted by one parse only: {text} (whole {:?}, kept {:?})",
                            whole.is_ok(),
                            kept.is_ok()
                        ),
                    }
                }
            }
        }

        /// The claims parse is serde_json's own `Value` parse (what `verify` and `explain` did
        /// before), but for serde_json's private keys, which it refuses wherever they are.
        #[test]
        fn claims_parse_as_serde_json_parses_them_but_private_keys(text in payload_text()) {
            let token = format!("h.{}.s", seg(&text));
            let ours = unverified_claims(&token);
            if text.contains("$serde_json::private::") {
                proptest::prop_assert!(ours.is_err(), "{}", text);
            } else {
                let reference = serde_json::from_slice::<Value>(text.as_bytes())
                    .ok()
                    .filter(Value::is_object);
                proptest::prop_assert_eq!(ours.ok(), reference, "{}", text);
            }
        }
    }

    #[test]
    fn serde_json_private_keys_are_refused_as_malformed() {
        // Regression: with serde_json's raw_value feature (on through axum) a `Value` parse
        // read the first payload as `{"exp":5,"sub":"a"}` and the kept-members parse as `{}`;
        // and the second was refused by one parse and accepted by the other.
        for bad in [
            r#"{"$serde_json::private::RawValue":"{\"exp\":5,\"sub\":\"a\"}"}"#,
            r#"{"exp":5,"x":{"$serde_json::private::RawValue":"not json"}}"#,
            r#"{"exp":5,"sub":{"\u0024serde_json::private::Number":"1"}}"#,
        ] {
            let token = format!("h.{}.s", seg(bad));
            let refused = unverified_claims(&token).unwrap_err();
            assert_eq!(refused.outcome, Outcome::MalformedToken, "{bad}");
            assert!(read_claims(&token, |n| n == "exp").is_err(), "{bad}");
        }
    }

    #[test]
    fn read_claims_refuses_what_a_value_refuses_in_unread_members() {
        // serde's IgnoredAny would skip these unchecked (serde_json does not validate escapes,
        // number ranges or depth while skipping): the kept-members parse must not.
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for bad in [
            r#"{"exp":1,"x":"\ud800"}"#.to_string(),
            r#"{"exp":1,"x":1e400}"#.to_string(),
            format!(r#"{{"exp":1,"x":{deep}}}"#),
            r#"{"exp":1,"x":{"\ud800":1}}"#.to_string(),
            r#"{"exp":1,"x":"\x"}"#.to_string(),
            r#"{"exp":1} x"#.to_string(),
            "[1]".to_string(),
        ] {
            let token = format!("h.{}.s", seg(&bad));
            assert!(unverified_claims(&token).is_err(), "{bad}");
            assert!(read_claims(&token, |n| n == "exp").is_err(), "{bad}");
        }
        // A repeated member: the last one, as in a `Value`.
        let token = format!("h.{}.s", seg(r#"{"exp":1,"\u0065xp":2,"x":[],"exp":3}"#));
        assert_eq!(
            read_claims(&token, |n| n == "exp").unwrap(),
            serde_json::json!({"exp": 3})
        );
        assert_eq!(unverified_claims(&token).unwrap()["exp"], 3);
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
                kid: Some("k1".into()),
                typ: Some("JWT".into()),
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
