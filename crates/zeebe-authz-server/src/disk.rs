//! The file system, as a config sees it: the one reader of the files a config names (the
//! config, its policies, the JWKS CA bundle), and config and policy files loaded from paths.
//! The core compiles text; this is where the text comes from.

use std::path::{Path, PathBuf};

use zeebe_authz_core::config::{self, Config};
use zeebe_authz_core::diag::{Diagnostics, InvalidConfig};
use zeebe_authz_core::files::{Files, read_source};
use zeebe_authz_core::policy::{self, Policy};

/// The largest file a config names (config, policies, CA bundle) that is read.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads a file a config names: a regular file (or a link to one, as Kubernetes mounts a
/// ConfigMap) of at most [`MAX_FILE_BYTES`]. A device such as `/dev/zero` or a FIFO would
/// otherwise be read forever.
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// The file system as the core's [`Files`]: [`read_file`], and a CA bundle judged by the
/// HTTP client that will trust it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disk;

impl Files for Disk {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        read_file(path)
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn holds_certificates(&self, pem: &[u8]) -> bool {
        reqwest::Certificate::from_pem_bundle(pem).is_ok_and(|v| !v.is_empty())
    }
}

/// Reads and compiles a config file (and the policies it names).
pub fn load_config(path: &Path) -> Result<Config, InvalidConfig> {
    load_config_tracked(path).0
}

/// [`load_config`], and every file it read or tried to read (the config, its policies, the CA
/// bundle), also when it failed: what a reload watches.
pub fn load_config_tracked(path: &Path) -> (Result<Config, InvalidConfig>, Vec<PathBuf>) {
    let mut diags = Diagnostics::default();
    let mut sources = vec![path.to_path_buf()];
    let compiled = read_source(&Disk, path, &mut diags).and_then(|(file, text)| {
        config::compile_tracked(&file, &text, &Disk, &mut diags, &mut sources)
    });
    let result = match compiled {
        Some(mut c) if !diags.has_errors() => {
            c.warnings = diags.into_vec();
            Ok(c)
        }
        _ => Err(InvalidConfig(diags.into_vec())),
    };
    (result, sources)
}

/// Reads and compiles a policy file.
pub fn compile_policy_file(path: &Path, diags: &mut Diagnostics) -> Option<Policy> {
    let (file, text) = read_source(&Disk, path, diags)?;
    policy::compile(&file, &text, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_named_files_are_bounded_regular_files() {
        let err = read_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file");
        assert!(read_file(Path::new("/nonexistent/x")).is_err());
        let mut diags = Diagnostics::default();
        assert!(read_source(&Disk, Path::new("/dev/zero"), &mut diags).is_none());
        assert!(diags.has_errors());
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("zeebe-authz-disk-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// An owner no token can be is only a warning; `serve` must still get to log it, so a loaded
    /// config carries its warnings.
    #[test]
    fn a_loaded_config_keeps_its_warnings_for_serve_to_log() {
        let dir = tempdir("warn");
        std::fs::write(
            dir.join("p.yaml"),
            "authorizations:\n  - {owner: {client: w}, resource_type: x-RPC, resource_ids: [Topology], permissions: [x-CALL]}\n",
        )
        .unwrap();
        let path = dir.join("config.yaml");
        std::fs::write(
            &path,
            "realms:\n  - {name: a, issuer: 'https://kc/realms/a', audiences: [z], hosts: ['*'], policy: p.yaml}\n",
        )
        .unwrap();
        let config = load_config(&path).unwrap();
        let found: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
        assert!(
            found.len() == 1 && found[0].contains("identity.client_id_claim is not set"),
            "{found:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `config::check_trust` on configs loaded from disk (moved from the core: they write files).
#[cfg(test)]
mod trust_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use zeebe_authz_core::config::check_trust;

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
        let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/default.yaml");
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
        let config = crate::disk::load_config(&path);
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
