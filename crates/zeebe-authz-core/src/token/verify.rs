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
use crate::keyset::VerifyKey;
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
mod tests;
