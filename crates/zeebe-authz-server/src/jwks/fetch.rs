//! Fetching a realm's keys: the one OIDC discovery and the one size-bounded GET, used by
//! `serve` (the key cache) and `lint --online` alike, so the two can never disagree on what a
//! realm's issuer serves. The discovery's `issuer` must equal the realm's issuer exactly (it
//! is what Keycloak puts in `iss`), and an explicit `jwks_uri` skips discovery.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use zeebe_authz_core::keyset::{JwksError, KeySet};

use super::{JwksSource, MAX_DOCUMENT_BYTES};
use zeebe_authz_core::diag::error_chain;

/// GETs a realm's documents with a timeout and a size bound.
pub struct Fetcher<'a> {
    client: &'a reqwest::Client,
    timeout: Duration,
}

impl<'a> Fetcher<'a> {
    /// A fetcher whose every request may take `timeout`.
    pub fn new(client: &'a reqwest::Client, timeout: Duration) -> Fetcher<'a> {
        Fetcher { client, timeout }
    }

    /// The realm's JWKS URL: the explicit one, else `jwks_uri` of the issuer's discovery
    /// document (`<issuer>/.well-known/openid-configuration`, both Keycloak issuer forms).
    pub async fn jwks_uri(&self, source: &JwksSource) -> Result<Arc<str>, JwksError> {
        if let Some(uri) = &source.jwks_uri {
            return Ok(uri.clone());
        }
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = discovery_url(&source.issuer);
        let body = self.get(&url).await?;
        let doc: Discovery = serde_json::from_slice(&body)
            .map_err(|e| JwksError::InvalidDocument(format!("{url}: {e}")))?;
        if doc.issuer != *source.issuer {
            return Err(JwksError::IssuerMismatch {
                url,
                found: doc.issuer,
                expected: source.issuer.to_string(),
            });
        }
        Ok(doc.jwks_uri.into())
    }

    /// The keys at `uri`, stamped `fetched_at`.
    pub async fn key_set(&self, uri: &str, fetched_at: Instant) -> Result<KeySet, JwksError> {
        let body = self.get(uri).await?;
        KeySet::from_jwks(&body, fetched_at.into_std())
    }

    /// GETs `url`: a success status and at most [`MAX_DOCUMENT_BYTES`] within the timeout.
    pub(crate) async fn get(&self, url: &str) -> Result<Vec<u8>, JwksError> {
        let fail = |reason: String| JwksError::Fetch {
            url: url.to_string(),
            reason,
        };
        let mut resp = self
            .client
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| fail(error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(error_chain(&e)))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(fail(format!(
                    "document larger than {MAX_DOCUMENT_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Where an issuer's discovery document is.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Whether the system has a CA store, the one rustls reads (the distribution's bundle under
/// `/etc/ssl`, or `SSL_CERT_FILE` / `SSL_CERT_DIR`); read anew on each call (startup and each
/// reload that makes a client). Without one, dev mode and `http://` issuers still start; see
/// `config::check_trust` for the one config that cannot.
pub fn system_store_present() -> bool {
    !rustls_native_certs::load_native_certs().certs.is_empty()
}

/// The most redirects one key or discovery fetch follows.
pub const MAX_REDIRECTS: usize = 5;

/// Redirects are followed, at most [`MAX_REDIRECTS`], but never from `https` to anything else:
/// a source the operator named with `https://` (and perhaps a CA bundle) must not hand its keys
/// over plain HTTP, where anyone on the path could swap them. reqwest's default policy follows
/// ten redirects and allows that downgrade.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let was_https = attempt.previous().iter().any(|u| u.scheme() == "https");
        if was_https && attempt.url().scheme() != "https" {
            let to = attempt.url().to_string();
            return attempt.error(format!("refused a redirect from https to {to}"));
        }
        attempt.follow()
    })
}

/// Builds the HTTP client for JWKS fetches, trusting `ca_bundle` (PEM) in addition to the
/// system roots when given. Without a system CA store it trusts the bundle alone, or nothing
/// (then only `http://` works; see `roots` for the check that refuses an `https://` source).
pub fn http_client(ca_bundle: Option<&[u8]>) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .user_agent(concat!("zeebe-authz/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect_policy());
    let bundle = match ca_bundle {
        Some(pem) => reqwest::Certificate::from_pem_bundle(pem)?,
        None => Vec::new(),
    };
    if system_store_present() {
        builder.tls_certs_merge(bundle).build()
    } else {
        builder.tls_certs_only(bundle).build()
    }
}
