//! Parsing a JWKS document into verification keys. Pure: no I/O (fetching is the server's).

use std::sync::Arc;

use ahash::AHashMap;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;
use std::time::Instant;

/// A verification key from a JWKS, parsed once per algorithm it may verify (aws-lc
/// `ParsedPublicKey`), so a verification does not rebuild the key.
pub struct VerifyKey {
    /// The key's identity across fetches: a hash of its `kid`, type and key material (the
    /// same JWK listed by two fetches has the same id; a key withdrawn and another published
    /// under its `kid` do not). The token cache ties each principal to it.
    pub id: u64,
    /// The parsed key for each algorithm the key accepts.
    parsed: Box<[(Algorithm, ParsedPublicKey)]>,
    /// The algorithm family the key belongs to (RSA, EC, Ed).
    pub(crate) family: AlgorithmFamily,
    /// The algorithm the JWK pins with `alg`, if any.
    pub(crate) alg: Option<Algorithm>,
    /// For EC keys, the curve's algorithm (P-256 → ES256, P-384 → ES384).
    pub(crate) ec_alg: Option<Algorithm>,
}

impl VerifyKey {
    /// Whether a token signed with `alg` may be verified with this key. HMAC is never
    /// accepted (a public key must not double as a shared secret), and a key's `alg` or
    /// curve pins the algorithm exactly.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        if alg.family() == AlgorithmFamily::Hmac || alg.family() != self.family {
            return false;
        }
        self.alg.is_none_or(|a| a == alg) && self.ec_alg.is_none_or(|a| a == alg)
    }

    /// Verifies a JWS signature over `message` for `alg`. False for an algorithm the key does
    /// not accept.
    pub fn verify_signature(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }
}

/// The aws-lc verification algorithm of a JWS algorithm (RSA keys of 2048 to 8192 bits; ECDSA
/// signatures in JWS's fixed `r || s` form).
fn verification_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        _ => return None,
    })
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (PKCS #1).
fn der_rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let v = &v[v
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(v.len().saturating_sub(1))..];
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        push_len(out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(0x30);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish()
    }
}

/// The keys of one fetch. Immutable.
#[derive(Debug)]
pub struct KeySet {
    by_kid: AHashMap<Box<str>, Arc<VerifyKey>>,
    without_kid: Vec<Arc<VerifyKey>>,
    /// Every key's [`VerifyKey::id`] (a handful: a linear scan beats hashing).
    ids: Box<[u64]>,
    /// When the keys were fetched (tokio clock).
    pub fetched_at: Instant,
    /// How many JWKs of the document were skipped (encryption keys, unsupported types).
    pub skipped: usize,
}

impl KeySet {
    /// Parses a JWKS document. Encryption keys (`use: enc`), symmetric keys and keys we cannot
    /// read are skipped, not fatal: Keycloak lists `RSA-OAEP` keys beside its signing keys.
    pub fn from_jwks(document: &[u8], fetched_at: Instant) -> Result<KeySet, JwksError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc = serde_json::from_slice(document)
            .map_err(|e| JwksError::InvalidDocument(e.to_string()))?;
        let mut set = KeySet {
            by_kid: AHashMap::new(),
            without_kid: Vec::new(),
            ids: Box::new([]),
            fetched_at,
            skipped: 0,
        };
        for value in doc.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                set.skipped += 1;
                continue;
            };
            match verify_key_from_jwk(&jwk, jwk.common.key_id.as_deref().unwrap_or_default()) {
                Some(key) => {
                    let key = Arc::new(key);
                    match jwk.common.key_id {
                        Some(kid) => {
                            set.by_kid.insert(kid.into(), key);
                        }
                        None => set.without_kid.push(key),
                    }
                }
                None => set.skipped += 1,
            }
        }
        if set.by_kid.is_empty() && set.without_kid.is_empty() {
            return Err(JwksError::NoSigningKeys);
        }
        set.ids = set
            .by_kid
            .values()
            .chain(&set.without_kid)
            .map(|k| k.id)
            .collect();
        Ok(set)
    }

    /// Whether the set holds the key with identity `id` ([`VerifyKey::id`]).
    pub fn holds(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    /// Finds the key for a token header. With a `kid`, only that key; without one, the single
    /// key without `kid` that accepts the algorithm (ambiguity is a miss, not a guess).
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> KeyLookup<'_> {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(k) if k.accepts(alg) => KeyLookup::Found(k),
                Some(_) => KeyLookup::AlgorithmMismatch,
                None => KeyLookup::UnknownKid,
            },
            None => {
                let mut it = self.without_kid.iter().filter(|k| k.accepts(alg));
                match (it.next(), it.next()) {
                    (Some(k), None) => KeyLookup::Found(k),
                    _ => KeyLookup::UnknownKid,
                }
            }
        }
    }

    /// How many usable keys the set has.
    pub fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }

    /// Whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The outcome of a key lookup.
#[derive(Debug)]
pub enum KeyLookup<'a> {
    /// The key to verify with.
    Found(&'a Arc<VerifyKey>),
    /// No key has this `kid` (a refetch may help).
    UnknownKid,
    /// The key exists but belongs to another algorithm (a forgery attempt or a misconfigured
    /// client: refetching will not help).
    AlgorithmMismatch,
}

fn verify_key_from_jwk(jwk: &Jwk, kid: &str) -> Option<VerifyKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(ka) => Some(signing_algorithm(ka)?),
    };
    let (family, ec_alg) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (AlgorithmFamily::Rsa, None),
        AlgorithmParameters::EllipticCurve(p) => {
            let curve_alg = match p.curve {
                jsonwebtoken::jwk::EllipticCurve::P256 => Algorithm::ES256,
                jsonwebtoken::jwk::EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            };
            (AlgorithmFamily::Ec, Some(curve_alg))
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            if p.curve != jsonwebtoken::jwk::EllipticCurve::Ed25519 {
                return None;
            }
            (AlgorithmFamily::Ed, None)
        }
        // Symmetric keys never verify tokens here: a JWKS is public.
        _ => return None,
    };
    if alg.is_some_and(|a| a.family() != family) {
        return None;
    }
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok();
    let public_bytes = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => der_rsa_public_key(&b64(&p.n)?, &b64(&p.e)?),
        AlgorithmParameters::EllipticCurve(p) => [&[4u8][..], &b64(&p.x)?, &b64(&p.y)?].concat(),
        AlgorithmParameters::OctetKeyPair(p) => b64(&p.x)?,
        _ => return None,
    };
    let candidates: Vec<Algorithm> = match (alg, ec_alg) {
        (Some(a), _) | (None, Some(a)) => vec![a],
        (None, None) => family.algorithms().to_vec(),
    };
    let parsed: Box<[(Algorithm, ParsedPublicKey)]> = candidates
        .into_iter()
        .filter_map(|a| {
            Some((
                a,
                ParsedPublicKey::new(verification_algorithm(a)?, &public_bytes).ok()?,
            ))
        })
        .collect();
    if parsed.is_empty() {
        return None;
    }
    // The identity: kid, family, pinned algorithm and the public key bytes, length-prefixed
    // so no two different keys share an input.
    let mut identity = Vec::with_capacity(kid.len() + public_bytes.len() + 32);
    for part in [
        kid.as_bytes(),
        format!("{family:?}/{alg:?}").as_bytes(),
        &public_bytes,
    ] {
        identity.extend_from_slice(&(part.len() as u64).to_le_bytes());
        identity.extend_from_slice(part);
    }
    Some(VerifyKey {
        id: xxhash_rust::xxh3::xxh3_64(&identity),
        parsed,
        family,
        alg,
        ec_alg,
    })
}

fn signing_algorithm(ka: KeyAlgorithm) -> Option<Algorithm> {
    Some(match ka {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Why keys could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JwksError {
    /// Network, TLS, timeout or HTTP status failure.
    #[error("fetching {url} failed: {reason}")]
    Fetch {
        /// What was fetched.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The discovery document names another issuer than the realm's (Keycloak behind a proxy
    /// without its frontend URL set looks like this): its tokens would all be rejected.
    #[error("{url} names issuer '{found}', the realm is configured with '{expected}'")]
    IssuerMismatch {
        /// The discovery document's URL.
        url: String,
        /// The `issuer` it names.
        found: String,
        /// The realm's issuer.
        expected: String,
    },
    /// The discovery document or JWKS is not what OIDC says it is.
    #[error("invalid document: {0}")]
    InvalidDocument(String),
    /// The JWKS has no key we can verify with.
    #[error("the JWKS has no usable signing key")]
    NoSigningKeys,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{SigningKey, jwks};

    #[test]
    fn jwks_parsing_skips_encryption_symmetric_and_unknown_keys() {
        let key = SigningKey::generate_for(Algorithm::EdDSA, "ed").unwrap();
        let mut doc = jwks(&[&key]);
        let keys = doc["keys"].as_array_mut().unwrap();
        keys.push(serde_json::json!({"kid": "enc", "kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"}));
        keys.push(serde_json::json!({"kid": "hmac", "kty": "oct", "k": "c2VjcmV0"}));
        keys.push(serde_json::json!({"kid": "weird", "kty": "XYZ"}));
        let set = KeySet::from_jwks(doc.to_string().as_bytes(), Instant::now()).unwrap();
        assert_eq!((set.len(), set.skipped), (1, 3));
        assert!(matches!(
            set.find(Some("ed"), Algorithm::EdDSA),
            KeyLookup::Found(_)
        ));
        assert!(matches!(
            set.find(Some("ed"), Algorithm::RS256),
            KeyLookup::AlgorithmMismatch
        ));
        assert!(matches!(
            set.find(Some("hmac"), Algorithm::HS256),
            KeyLookup::UnknownKid
        ));
        assert!(
            matches!(set.find(None, Algorithm::EdDSA), KeyLookup::UnknownKid),
            "no kid: only keys without kid"
        );
        for bad in [
            &b"not json"[..],
            b"{}",
            br#"{"keys": []}"#,
            br#"{"keys": [{"kty": "oct", "k": "AA"}]}"#,
        ] {
            assert!(KeySet::from_jwks(bad, Instant::now()).is_err());
        }
    }
}
