//! `lint --online`: each realm's discovery document and keys, fetched with the code `serve`
//! uses at startup ([`Fetcher`]), each failure a located error on the realm's `issuer`.

use std::time::Duration;

use super::LintedConfig;
use zeebe_authz_core::config;
use zeebe_authz_core::diag::{Diagnostic, Diagnostics, Span};
use zeebe_authz_core::keyset::JwksError;
use zeebe_authz_server::jwks::{self, Fetcher, JwksSource, discovery_url};

/// `--online`: each realm's discovery document and keys, fetched as `serve` fetches them.
pub(super) async fn check_issuers(linted: &LintedConfig, timeout: Duration) -> Vec<Diagnostic> {
    let mut diags = Diagnostics::default();
    let client = match jwks::http_client(linted.config.ca_bundle.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            if let Some(span) = linted.issuer_spans.first() {
                diags.error(
                    Span::file(&span.file),
                    "jwks.ca_bundle",
                    format!("cannot build an HTTP client: {e}"),
                );
            }
            return diags.into_vec();
        }
    };
    for (i, (realm, span)) in linted
        .config
        .realms
        .iter()
        .zip(&linted.issuer_spans)
        .enumerate()
    {
        let key = format!("realms[{i}].issuer");
        if let Err(problem) = check_issuer(&client, realm, timeout).await {
            let d = diags.error(span.clone(), &key, problem.message);
            if let Some(h) = problem.hint {
                d.hint(h);
            }
        }
    }
    diags.into_vec()
}

struct Problem {
    message: String,
    hint: Option<String>,
}

impl Problem {
    fn new(message: String, hint: &str) -> Problem {
        Problem {
            message,
            hint: Some(hint.to_string()),
        }
    }
}

/// One realm's discovery and keys, fetched by the very code `serve` uses ([`Fetcher`]): the
/// same exact issuer comparison, and no discovery when the realm names its `jwks_uri`.
async fn check_issuer(
    client: &reqwest::Client,
    realm: &config::RealmConfig,
    timeout: Duration,
) -> Result<(), Problem> {
    let fetcher = Fetcher::new(client, timeout);
    let source = JwksSource {
        issuer: realm.issuer.clone(),
        jwks_uri: realm.jwks_uri.clone(),
    };
    let uri = fetcher.jwks_uri(&source).await.map_err(|e| match e {
        JwksError::Fetch { .. } => Problem::new(
            format!("issuer unreachable: {e}"),
            "Keycloak serves discovery at <issuer>/.well-known/openid-configuration; check the host, the realm name, the /auth prefix (Keycloak before 17 has it) and jwks.ca_bundle",
        ),
        JwksError::IssuerMismatch { url, found, expected } => Problem::new(
            format!(
                "discovery at {url} names issuer '{found}', not '{expected}': tokens would be rejected"
            ),
            "set issuer to exactly the value Keycloak puts in `iss` (its discovery's `issuer`)",
        ),
        other => Problem::new(
            format!(
                "{} is not an OpenID discovery document: {other}",
                discovery_url(&realm.issuer)
            ),
            "the issuer URL must be the realm's URL, e.g. https://HOST/realms/REALM",
        ),
    })?;
    match fetcher.key_set(&uri, tokio::time::Instant::now()).await {
        Ok(_) => Ok(()),
        Err(e @ JwksError::Fetch { .. }) => Err(Problem::new(
            format!("keys unreachable: {e}"),
            "check jwks_uri (or the issuer's discovery) and jwks.ca_bundle",
        )),
        // from_jwks refuses a document without a usable key (NoSigningKeys).
        Err(e) => Err(Problem::new(
            format!("{uri} is not a usable JWKS: {e}"),
            "jwks_uri must point at the realm's certs endpoint",
        )),
    }
}
