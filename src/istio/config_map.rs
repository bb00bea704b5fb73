//! The authorizer's ConfigMap: the config rewritten for the cluster, its policies verbatim and
//! the CA bundle.

use super::ADMIN_PORT;
use super::CONFIG_DIR;
use super::GRPC_PORT;
use super::IstioError;
use super::yaml::Yaml;
use super::yaml_doc;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;
use std::path::PathBuf;
use zeebe_authz_core::config::Config;
use zeebe_authz_core::diag::resolve_relative;

/// The ConfigMap's files: the config rewritten for the cluster (listen addresses, policy and
/// CA paths inside [`CONFIG_DIR`]), each policy verbatim, and the CA bundle if any.
pub(super) fn config_map_data(
    config_path: &Path,
    config: &Config,
) -> Result<BTreeMap<String, String>, IstioError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| IstioError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let text = read(config_path)?;
    let mut doc: Yaml = serde_saphyr::from_str(&text).map_err(|e| {
        IstioError::Rewrite(e.to_string().lines().next().unwrap_or_default().into())
    })?;
    let mut data = BTreeMap::new();

    doc.set(
        "listen",
        Yaml::string_map([
            ("check", format!("0.0.0.0:{GRPC_PORT}").as_str()),
            ("admin", format!("0.0.0.0:{ADMIN_PORT}").as_str()),
        ]),
    );

    // One ConfigMap key per distinct policy file, named after it.
    let mut keys_by_source: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut used_keys = BTreeSet::new();
    let Some(Yaml::Seq(raw_realms)) = doc.get_mut("realms") else {
        return Err(IstioError::Rewrite("no realms list".into()));
    };
    if raw_realms.len() != config.realms.len() {
        return Err(IstioError::Rewrite("realm count changed".into()));
    }
    for (raw, realm) in raw_realms.iter_mut().zip(&config.realms) {
        let Some(Yaml::Str(policy)) = raw.get_mut("policy") else {
            return Err(IstioError::Rewrite(format!(
                "realm '{}' has no policy path",
                realm.name
            )));
        };
        let source = resolve_relative(config_path, policy);
        let key = match keys_by_source.get(&source) {
            Some(k) => k.clone(),
            None => {
                let stem = source
                    .file_stem()
                    .map(|s| sanitize_key(&s.to_string_lossy()))
                    .unwrap_or_default();
                let mut key = format!("policy-{stem}.yaml");
                let mut n = 2;
                while used_keys.contains(&key) {
                    key = format!("policy-{stem}-{n}.yaml");
                    n += 1;
                }
                used_keys.insert(key.clone());
                data.insert(key.clone(), read(&source)?);
                keys_by_source.insert(source, key.clone());
                key
            }
        };
        *policy = key;
    }

    if let Some(pem) = &config.ca_bundle {
        let pem = String::from_utf8(pem.clone())
            .map_err(|_| IstioError::Rewrite("the CA bundle is not UTF-8 PEM".into()))?;
        if let Some(jwks) = doc.get_mut("jwks") {
            jwks.set("ca_bundle", Yaml::Str("ca-bundle.pem".into()));
        }
        data.insert("ca-bundle.pem".into(), pem);
    }

    let header = format!(
        "# The zeebe-authz config in the cluster: {} with its paths inside {CONFIG_DIR}.\n",
        display_path(config_path)
    );
    data.insert("config.yaml".into(), header + &yaml_doc(&doc)?);
    Ok(data)
}

fn sanitize_key(s: &str) -> String {
    let key: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if key.is_empty() { "policy".into() } else { key }
}

pub(super) fn display_path(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}
