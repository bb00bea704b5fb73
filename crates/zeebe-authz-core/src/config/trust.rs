//! A config's key sources against the trust it has: an `https://` key source needs a CA to
//! trust its certificate with, from `jwks.ca_bundle` or the system's store.
//!
//! A root without a CA store (a scratch or slim image without ca-certificates) needs none when
//! nothing is fetched over https: dev mode and `http://` issuers start there, and a CA bundle
//! is trusted on its own. The one config that cannot work there, an `https://` key source with
//! neither, is a configuration error naming `jwks.ca_bundle`: at startup (exit 64, before a
//! port is bound) and on reload (the last good config stays in force). An `http://` issuer
//! whose discovery names an `https://` jwks_uri cannot be foreseen: that fetch fails as any
//! untrusted certificate does, and the realm is not ready.

use std::path::Path;
use std::sync::Arc;

use super::Config;
use crate::diag::{Diagnostics, InvalidConfig, Span};

/// Refuses a config with an `https://` key source (its `jwks_uri`, else its issuer's
/// discovery) and nothing to trust its certificate with: no `jwks.ca_bundle` and, per
/// `system_store` (`jwks::system_store_present`), no system CA store.
pub fn check_trust(config: &Config, path: &Path, system_store: bool) -> Result<(), InvalidConfig> {
    let mut diags = Diagnostics::default();
    report_untrusted_sources(config, &path.into(), system_store, &mut diags);
    if diags.has_errors() {
        Err(InvalidConfig(diags.into_vec()))
    } else {
        Ok(())
    }
}

/// What `check_trust` refuses, as errors in `diags` (lint reports them beside its own).
pub fn report_untrusted_sources(
    config: &Config,
    file: &Arc<Path>,
    system_store: bool,
    diags: &mut Diagnostics,
) {
    if system_store || config.ca_bundle.is_some() {
        return;
    }
    for (i, realm) in config.realms.iter().enumerate() {
        let (key, url) = match &realm.jwks_uri {
            Some(uri) => ("jwks_uri", uri),
            None => ("issuer", &realm.issuer),
        };
        if url.starts_with("https://") {
            diags
                .error(
                    Span::file(file),
                    format!("realms[{i}].{key}"),
                    format!(
                        "{url} is fetched over https, and this system has no CA certificates \
                         to trust its certificate with (none in /etc/ssl, SSL_CERT_FILE or \
                         SSL_CERT_DIR)"
                    ),
                )
                .hint(
                    "set jwks.ca_bundle to a PEM file holding the CA that signed Keycloak's \
                     certificate, or install the system's CA certificates",
                );
        }
    }
}
