//! A Keycloak-shaped token issuer: signing keys, their JWKS, and access tokens with the claims
//! Keycloak and Camunda Identity put in them.
//!
//! `serve --dev` uses it to be its own issuer, `bench` to mint load, and the tests to play
//! Keycloak on loopback. It signs with aws-lc (RS256 by default, as Keycloak does).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// An RSA signing key with its `kid`.
pub struct SigningKey {
    kid: String,
    pair: KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be made or used.
#[derive(Debug, thiserror::Error)]
#[error("RSA key operation failed")]
pub struct KeyError;

impl SigningKey {
    /// Generates a fresh RSA-2048 key.
    pub fn generate(kid: impl Into<String>) -> Result<SigningKey, KeyError> {
        Ok(SigningKey {
            kid: kid.into(),
            pair: KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError)?,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK, as Keycloak publishes it.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kid": self.kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// Signs `claims` as an RS256 JWT with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let mut token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                token.as_bytes(),
                &mut sig,
            )
            .map_err(|_| KeyError)?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(token)
    }
}

/// A JWKS document of the given keys.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// Keycloak's OIDC discovery document for `issuer` (only what clients of it read).
pub fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

/// The claims of a Keycloak client-credentials access token carrying Camunda Identity
/// permissions for `audience`, valid for `ttl_secs` from now.
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
    json!({
        "exp": now + ttl_secs,
        "iat": now,
        "jti": format!("{:x}", rand_u64()),
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "typ": "Bearer",
        "azp": client_id,
        "scope": "profile email",
        "clientId": client_id,
        "preferred_username": format!("service-account-{client_id}"),
        "realm_access": {"roles": ["default-roles-camunda-platform"]},
        "resource_access": {audience: {"roles": permissions}},
        "permissions": {audience: permissions},
    })
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).map_or(0, |()| u64::from_le_bytes(b))
}
