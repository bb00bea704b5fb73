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
    if system_store || config.ca_bundle.is_some() {
        return Ok(());
    }
    let file: Arc<Path> = path.into();
    let mut diags = Diagnostics::default();
    for (i, realm) in config.realms.iter().enumerate() {
        let (key, url) = match &realm.jwks_uri {
            Some(uri) => ("jwks_uri", uri),
            None => ("issuer", &realm.issuer),
        };
        if url.starts_with("https://") {
            diags
                .error(
                    Span::file(&file),
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
    if diags.has_errors() {
        Err(InvalidConfig(diags.into_vec()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::check_trust;

    /// The keys `check_trust` refuses in a config with realms at `urls` (each an issuer, or
    /// `issuer jwks_uri`), with or without a CA bundle and a system store.
    fn refused(urls: &[&str], bundle: bool, system_store: bool) -> Vec<String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zeebe-authz-roots-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/default.yaml");
        let mut text = String::from("realms:\n");
        for (i, url) in urls.iter().enumerate() {
            let (issuer, jwks_uri) = match url.split_once(' ') {
                Some((issuer, uri)) => (issuer, format!(", jwks_uri: '{uri}'")),
                None => (*url, String::new()),
            };
            text += &format!(
                "  - {{name: r{i}, issuer: '{issuer}', audiences: [z], hosts: [h{i}], policy: '{policy}'{jwks_uri}}}\n"
            );
        }
        if bundle {
            let ca = rcgen::generate_simple_self_signed(vec!["kc.example".to_string()]).unwrap();
            std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
            text += "jwks:\n  ca_bundle: ca.pem\n";
        }
        let path = dir.join("config.yaml");
        std::fs::write(&path, &text).unwrap();
        let config = crate::config::load(&path);
        let _ = std::fs::remove_dir_all(&dir);
        let config = config.unwrap_or_else(|e| panic!("{e}\n{text}"));
        match check_trust(&config, &path, system_store) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.into_iter().map(|d| d.key).collect(),
        }
    }

    #[test]
    fn only_an_https_source_without_bundle_or_system_store_is_refused() {
        let https = "https://kc.example/realms/a";
        let http = "http://kc.example/realms/b";
        assert_eq!(refused(&[http, https], false, false), ["realms[1].issuer"]);
        assert!(refused(&[http, https], false, true).is_empty());
        assert!(refused(&[http, https], true, false).is_empty());
        assert!(refused(&[http], false, false).is_empty());
        // The source fetched is the jwks_uri when there is one, not the issuer's discovery.
        let over_http = "https://kc.example/realms/c http://kc.internal/certs";
        assert!(refused(&[over_http], false, false).is_empty());
        let over_https = "http://kc.example/realms/d https://kc.internal/certs";
        assert_eq!(refused(&[over_https], false, false), ["realms[0].jwks_uri"]);
    }
}
