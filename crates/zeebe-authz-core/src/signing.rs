//! The signing side of a Keycloak-shaped issuer: signing keys, their JWKS, and access tokens
//! with the claims Keycloak and Camunda Identity put in them. No file or network I/O, but not
//! deterministic: minting reads the OS random source (key generation) and the system clock
//! (`iat`/`exp`). It sits in the core, not in the tools, because the tests of all three crates
//! mint tokens and a tools-only home would make the server's tests depend on the binary crate;
//! the Check path never calls it.
//!
//! `serve --dev` uses it to be its own issuer, `bench` to mint load, and the tests to play
//! Keycloak. It signs with aws-lc (RS256 by default, as Keycloak does). Serving a realm's
//! discovery, JWKS and token endpoint on HTTP is the tools' `issuer` module.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

/// A signing key with its `kid` and JWS algorithm.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: Pair,
}

/// The kind of key a JWS algorithm signs with. HMAC has none: an issuer's keys are asymmetric.
enum KeyType {
    Rsa,
    Ec(&'static signature::EcdsaSigningAlgorithm),
    Ed,
}

impl KeyType {
    fn of(alg: Algorithm) -> Result<KeyType, KeyError> {
        Ok(match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyType::Rsa,
            Algorithm::ES256 => KeyType::Ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            Algorithm::ES384 => KeyType::Ec(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
            Algorithm::EdDSA => KeyType::Ed,
            _ => return Err(KeyError),
        })
    }
}

enum Pair {
    Rsa(KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be made or used.
#[derive(Debug, thiserror::Error)]
#[error("signing key operation failed")]
pub struct KeyError;

impl SigningKey {
    /// Generates a fresh RSA-2048 key for RS256 (Keycloak's default).
    pub fn generate(kid: impl Into<String>) -> Result<SigningKey, KeyError> {
        SigningKey::generate_for(Algorithm::RS256, kid)
    }

    /// Generates a fresh key for `alg` (RSA-2048 for RS*/PS*, P-256/P-384, Ed25519).
    /// HMAC is refused: an issuer's keys are asymmetric.
    pub fn generate_for(alg: Algorithm, kid: impl Into<String>) -> Result<SigningKey, KeyError> {
        let pair = match KeyType::of(alg)? {
            KeyType::Rsa => Pair::Rsa(KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError)?),
            KeyType::Ec(curve) => Pair::Ec(EcdsaKeyPair::generate(curve).map_err(|_| KeyError)?),
            KeyType::Ed => Pair::Ed(Ed25519KeyPair::generate().map_err(|_| KeyError)?),
        };
        Ok(SigningKey {
            kid: kid.into(),
            alg,
            pair,
        })
    }

    /// Loads a private key from PKCS #8 PEM (`-----BEGIN PRIVATE KEY-----`, as
    /// `openssl genpkey` writes it) for `alg`: RSA for RS*/PS*, P-256/P-384 for ES256/ES384,
    /// Ed25519 for EdDSA.
    pub fn from_pkcs8_pem(
        alg: Algorithm,
        kid: impl Into<String>,
        pem_text: &str,
    ) -> Result<SigningKey, KeyError> {
        let block = pem::parse(pem_text).map_err(|_| KeyError)?;
        if block.tag() != "PRIVATE KEY" {
            return Err(KeyError);
        }
        let der = block.contents();
        let pair = match KeyType::of(alg)? {
            KeyType::Rsa => Pair::Rsa(KeyPair::from_pkcs8(der).map_err(|_| KeyError)?),
            KeyType::Ec(curve) => {
                Pair::Ec(EcdsaKeyPair::from_pkcs8(curve, der).map_err(|_| KeyError)?)
            }
            KeyType::Ed => Pair::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(|_| KeyError)?),
        };
        Ok(SigningKey {
            kid: kid.into(),
            alg,
            pair,
        })
    }

    /// The private key as PKCS #8 PEM (RSA and Ed25519 keys; EC keys cannot be exported).
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        let der: Pkcs8V1Der<'static> = match &self.pair {
            Pair::Rsa(pair) => pair.as_der().map_err(|_| KeyError)?,
            Pair::Ed(pair) => pair.as_der().map_err(|_| KeyError)?,
            Pair::Ec(_) => return Err(KeyError),
        };
        Ok(pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            der.as_ref().to_vec(),
        )))
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS algorithm it signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK, as Keycloak publishes it.
    pub fn jwk(&self) -> Value {
        let alg = alg_name(self.alg);
        match &self.pair {
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kid": self.kid, "kty": "RSA", "alg": alg, "use": "sig",
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Pair::Ec(pair) => {
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                let (x, y) = point[1..].split_at((point.len() - 1) / 2);
                let crv = if self.alg == Algorithm::ES256 {
                    "P-256"
                } else {
                    "P-384"
                };
                json!({
                    "kid": self.kid, "kty": "EC", "alg": alg, "use": "sig", "crv": crv,
                    "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                })
            }
            Pair::Ed(pair) => json!({
                "kid": self.kid, "kty": "OKP", "alg": alg, "use": "sig", "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }),
        }
    }

    /// Signs `claims` as a JWT with this key's algorithm and `kid`.
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": alg_name(self.alg), "typ": "JWT", "kid": self.kid});
        self.sign_with_header(&header, claims)
    }

    /// Signs `claims` under an arbitrary header (tests forge headers with it).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> Result<String, KeyError> {
        let mut token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match &self.pair {
            Pair::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &rng, token.as_bytes(), &mut sig)
                    .map_err(|_| KeyError)?;
                sig
            }
            Pair::Ec(pair) => pair
                .sign(&rng, token.as_bytes())
                .map_err(|_| KeyError)?
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(token)
    }
}

/// The JWS name of an algorithm (`RS256`).
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        _ => "HS",
    }
}

/// A JWKS document of the given keys.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// The claims of a Keycloak client-credentials access token carrying Camunda Identity
/// permissions for `audience`, valid for `ttl_secs` from now.
///
/// Shaped as Keycloak 26 writes them in a realm Identity set up (tests/e2e/test_keycloak.py
/// pins the real ones): `aud` is an array from the audience-resolve mapper, `account` beside the
/// API (the realm's default roles hold `account` client roles), and the client-role mapper
/// writes those roles under `permissions.account` too; the service-account scope's mapper names
/// the client in `client_id` (Keycloak before 26 wrote `clientId`). One difference is kept on
/// purpose: `sub` is `service-account-<client>` (readable in tests and dev logs), where
/// Keycloak puts the service-account user's id (a UUID).
pub fn access_token_claims(
    issuer: &str,
    audience: &str,
    client_id: &str,
    permissions: &[&str],
    ttl_secs: u64,
) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let subject = format!("service-account-{client_id}");
    let account = ["manage-account", "manage-account-links", "view-profile"];
    json!({
        "exp": now + ttl_secs,
        "iat": now,
        "jti": format!("{:x}", rand_u64()),
        "iss": issuer,
        "aud": [audience, "account"],
        "sub": subject,
        "typ": "Bearer",
        "azp": client_id,
        "acr": "1",
        "scope": "camunda-identity email profile",
        "client_id": client_id,
        "preferred_username": format!("service-account-{client_id}"),
        "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-camunda-platform"]},
        "resource_access": {audience: {"roles": permissions}, "account": {"roles": account}},
        "permissions": {audience: permissions, "account": account},
    })
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).map_or(0, |()| u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_pem_round_trips_and_refuses_what_it_cannot_sign_with() {
        for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA] {
            let key = SigningKey::generate_for(alg, "k").unwrap();
            let pem = key.to_pkcs8_pem().unwrap();
            let loaded = SigningKey::from_pkcs8_pem(alg, "k", &pem).unwrap();
            assert_eq!(loaded.jwk(), key.jwk(), "{alg:?}");
        }
        let rsa = SigningKey::generate("k").unwrap().to_pkcs8_pem().unwrap();
        assert!(SigningKey::from_pkcs8_pem(Algorithm::HS256, "k", &rsa).is_err());
        assert!(
            SigningKey::from_pkcs8_pem(Algorithm::EdDSA, "k", &rsa).is_err(),
            "wrong key type"
        );
        assert!(
            SigningKey::from_pkcs8_pem(
                Algorithm::RS256,
                "k",
                &rsa.replace("PRIVATE KEY", "PUBLIC KEY")
            )
            .is_err()
        );
        assert!(SigningKey::from_pkcs8_pem(Algorithm::RS256, "k", "not pem").is_err());
        assert!(
            SigningKey::generate_for(Algorithm::ES256, "k")
                .unwrap()
                .to_pkcs8_pem()
                .is_err()
        );
    }
}
