//! `zeebe-authz istio --helm-values FILE`: the values of the Helm chart (`charts/zeebe-authz`)
//! for one mesh mode, written from the same config, policies and generator as the manifests.
//!
//! The chart renders the authorizer's ConfigMap from `realms`, `policies`, `jwks`, `token`,
//! `identityHeaders` and `dynamicMetadata`, and the Istio objects from `istio.objects` verbatim. So that the two can
//! never disagree, the file also carries `istio.sourceSha256`: the SHA-256 of the realms and
//! policies as Go's `encoding/json` writes them (what the chart's `toJson | sha256sum` sees).
//! The chart refuses to render when a hand edit changed the realms or policies without
//! regenerating the Istio objects.
//!
//! Settings the config leaves out are written empty (`""` or `~`): the chart then leaves them
//! out too, and the binary's defaults apply, as they do for the config itself.

use super::GENERATED_MARKER;
use super::IstioError;
use super::NAME;
use super::args::IstioOptions;
use super::args::Mode;
use super::config_map::config_map_data;
use super::config_map::display_path;
use super::enforcement;
use super::yaml::Yaml;
use super::yaml_doc;
use std::path::Path;

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::render::Generator;

/// A config section the chart has values for: its name in the config, in the chart, and its
/// settings (snake_case in the config, camelCase in the chart).
type Section = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The config sections the chart has values for.
const SECTIONS: [Section; 4] = [
    (
        "jwks",
        "jwks",
        &[
            ("refresh_interval", "refreshInterval"),
            ("refetch_cooldown", "refetchCooldown"),
            ("fetch_timeout", "fetchTimeout"),
            ("keys_max_age", "keysMaxAge"),
        ],
    ),
    (
        "token",
        "token",
        &[
            ("leeway", "leeway"),
            ("max_bytes", "maxBytes"),
            ("cache_max_bytes", "cacheMaxBytes"),
            ("cache_max_ttl", "cacheMaxTtl"),
        ],
    ),
    (
        "identity_headers",
        "identityHeaders",
        &[
            ("subject", "subject"),
            ("client_id", "clientId"),
            ("realm", "realm"),
            ("send", "send"),
        ],
    ),
    ("dynamic_metadata", "dynamicMetadata", &[("send", "send")]),
];

/// Realm keys, config to chart.
const REALM_KEYS: [(&str, &str); 11] = [
    ("name", "name"),
    ("issuer", "issuer"),
    ("audiences", "audiences"),
    ("hosts", "hosts"),
    ("policy", "policy"),
    ("jwks_uri", "jwksUri"),
    ("permissions_claim", "permissionsClaim"),
    ("tenants_claim", "tenantsClaim"),
    ("tenants_prefix", "tenantsPrefix"),
    ("rest_base_path", "restBasePath"),
    ("mode", "mode"),
];

/// The files of a mode folder whose objects the chart installs, in apply order (not the mesh
/// config, which is istiod's, nor the Service patch, nor the authorizer's own objects).
const ISTIO_FILES: [&str; 4] = [
    "waypoint.yaml",
    "request-authentication.yaml",
    "authorization-policy.yaml",
    "telemetry.yaml",
];

/// The chart's values for `mode`, as the text of a values file.
pub(crate) fn helm_values(
    config_path: &Path,
    mode: Mode,
    options: &IstioOptions,
) -> Result<String, IstioError> {
    let config = zeebe_authz_server::disk::load_config(config_path)?;
    let enforcement = enforcement::enforcement(&config, options.authorizer_decides_all)?;
    let data = config_map_data(config_path, &config)?;
    let generator = Generator {
        mode,
        options,
        enforcement: &enforcement,
        source: config_path,
    };
    let files = generator.files(&data)?;

    let rewritten: Yaml = serde_saphyr::from_str(&data["config.yaml"])
        .map_err(|e| IstioError::Rewrite(e.to_string()))?;
    let section = |key: &str| match &rewritten {
        Yaml::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(k, Yaml::Str(s) if s == key))
            .map(|(_, v)| v.clone()),
        _ => None,
    };
    let field = |map: &Yaml, key: &str| match map {
        Yaml::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(k, Yaml::Str(s) if s == key))
            .map(|(_, v)| v.clone()),
        _ => None,
    };

    let Some(Yaml::Seq(raw_realms)) = section("realms") else {
        return Err(IstioError::Rewrite("no realms list".into()));
    };
    let realms = Yaml::Seq(
        raw_realms
            .iter()
            .map(|raw| {
                map(REALM_KEYS
                    .iter()
                    .filter_map(|(from, to)| field(raw, from).map(|v| (*to, v))))
            })
            .collect(),
    );
    let policies = Yaml::Seq(
        data.iter()
            .filter(|(k, _)| k.as_str() != "config.yaml" && k.as_str() != "ca-bundle.pem")
            .map(|(k, text)| {
                map([
                    ("name", Yaml::Str(k.clone())),
                    ("text", Yaml::Str(text.clone())),
                ])
            })
            .collect(),
    );

    let (repository, tag) = split_image(&options.image);
    let mut entries = vec![
        // The mesh extension provider calls the Service `zeebe-authz`.
        ("fullnameOverride", Yaml::Str(NAME.into())),
        (
            "image",
            map([
                ("repository", Yaml::Str(repository.into())),
                ("tag", Yaml::Str(tag.into())),
            ]),
        ),
        ("replicaCount", Yaml::Int(options.replicas.into())),
        ("realms", realms.clone()),
        ("policies", policies.clone()),
    ];
    for (from, to, settings) in SECTIONS {
        let raw = section(from).unwrap_or(Yaml::Null);
        let mut values: Vec<(&str, Yaml)> = settings
            .iter()
            .map(|(k, camel)| (*camel, field(&raw, k).unwrap_or(Yaml::Null)))
            .collect();
        if from == "jwks" {
            let pem = data.get("ca-bundle.pem").cloned().unwrap_or_default();
            values.push((
                "caBundle",
                map([
                    ("inline", Yaml::Str(pem)),
                    ("secretName", Yaml::Str(String::new())),
                    ("configMapName", Yaml::Str(String::new())),
                ]),
            ));
        }
        entries.push((to, map(values)));
    }

    let mut objects = Vec::new();
    for name in ISTIO_FILES {
        let Some(file) = files
            .iter()
            .find(|f| f.path.file_name() == Some(name.as_ref()))
        else {
            continue;
        };
        for doc in file.contents.split("\n---\n") {
            let object: Yaml =
                serde_saphyr::from_str(doc).map_err(|e| IstioError::Rewrite(e.to_string()))?;
            objects.push(object);
        }
    }
    let source = map([("policies", policies), ("realms", realms)]);
    entries.push((
        "istio",
        map([
            ("enabled", Yaml::Bool(true)),
            ("mode", Yaml::Str(mode.dir().into())),
            ("namespace", Yaml::Str(options.namespace.clone())),
            (
                "extensionProviderService",
                Yaml::Str(format!("{NAME}.{}.svc.cluster.local", options.namespace)),
            ),
            ("sourceSha256", Yaml::Str(source_sha256(&source))),
            ("objects", Yaml::Seq(objects)),
        ]),
    ));

    let header = format!(
        "{GENERATED_MARKER} --helm-values from {} (mode {}). Do not edit:\n\
         # change the config or policy and regenerate. Values of charts/zeebe-authz: the authorizer's\n\
         # config and policies, and the Istio objects made from them (istio.sourceSha256 ties them).\n",
        display_path(config_path),
        mode.dir(),
    );
    Ok(header + &yaml_doc(&map(entries))?)
}

fn map<'a>(entries: impl IntoIterator<Item = (&'a str, Yaml)>) -> Yaml {
    Yaml::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Yaml::Str(k.to_string()), v))
            .collect(),
    )
}

/// `registry/name:tag` into the repository and the tag (`latest` when there is none).
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// The SHA-256 (hex) of `value` as Go's `encoding/json` encodes it, which is what the chart's
/// `toJson | sha256sum` computes.
pub(crate) fn source_sha256(value: &Yaml) -> String {
    let mut json = String::new();
    write_go_json(value, &mut json);
    let digest = Sha256::digest(json.as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Go's `json.Marshal`: object keys sorted by their bytes, no spaces, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped as `\u…`, integers in decimal.
fn write_go_json(value: &Yaml, out: &mut String) {
    match value {
        Yaml::Null => out.push_str("null"),
        Yaml::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Yaml::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Yaml::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Yaml::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Yaml::Str(s) => write_go_string(s, out),
        Yaml::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Yaml::Map(entries) => {
            let mut sorted: Vec<(String, &Yaml)> = entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::Str(s) => s.clone(),
                        other => {
                            let mut s = String::new();
                            write_go_json(other, &mut s);
                            s
                        }
                    };
                    (key, v)
                })
                .collect();
            sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(&k, out);
                out.push(':');
                write_go_json(v, out);
            }
            out.push('}');
        }
    }
}

fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_sorts_keys_and_escapes_like_encoding_json() {
        let v: Yaml =
            serde_saphyr::from_str("b: [1, true, ~]\na: \"x<y>&\\\"\\n\\u0001\"\n").unwrap();
        let mut s = String::new();
        write_go_json(&v, &mut s);
        assert_eq!(
            s,
            r#"{"a":"x\u003cy\u003e\u0026\"\n\u0001","b":[1,true,null]}"#
        );
    }

    #[test]
    fn images_split_at_the_tag_not_the_registry_port() {
        assert_eq!(split_image("zeebe-authz:0.1.0"), ("zeebe-authz", "0.1.0"));
        assert_eq!(
            split_image("registry:5000/zeebe-authz"),
            ("registry:5000/zeebe-authz", "latest")
        );
        assert_eq!(
            split_image("registry:5000/zeebe-authz:1"),
            ("registry:5000/zeebe-authz", "1")
        );
    }
}
