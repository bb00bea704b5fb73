//! The `jwks` target: a JWKS document parsed into keys, and the key cache.

use super::*;

pub(crate) const ALGORITHMS: [Algorithm; 10] = [
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
    let Ok(set) = KeySet::from_jwks(data, tokio::time::Instant::now().into_std()) else {
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
