//! A Keycloak-shaped issuer on HTTP, on loopback: a realm's discovery document, JWKS and token
//! endpoint ([`token_endpoint`]: the client-credentials grant) served by [`IssuerRealm`] and
//! [`LoopbackIssuer`], the one implementation dev mode, bench and the tests share. Keys and
//! tokens themselves are the core's `signing`.

use serde_json::{Value, json};

mod loopback;
pub mod token_endpoint;

pub use loopback::{IssuerRealm, JwksFailure, LoopbackIssuer};
pub use token_endpoint::{OAuthClient, TokenEndpoint};

/// Keycloak's OIDC discovery document for `issuer` (only what clients of it read).
pub(crate) fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}
