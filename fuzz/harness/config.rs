//! The `config` target: the config compile `serve` and `lint` share.

use super::*;

/// Whether config text names the machine's device, process or kernel files. The compile refuses
/// devices and reads at most 4 MiB of a regular file (`diag::read_file`), but fuzzing which
/// `/proc` files exist on this machine finds nothing about our code and is slow.
pub(crate) fn names_special_files(text: &str) -> bool {
    ["/dev/", "/proc/", "/sys/"]
        .iter()
        .any(|p| text.contains(p))
}

/// The input as a config (its policy paths resolve against `examples/`): compile and lint never
/// panic and agree; a compiled config's hosts are in normal form and each reaches its realm.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if names_special_files(&text) {
        return;
    }
    let file: Arc<Path> = Arc::from(repo_root().join("examples/fuzzed-config.yaml"));
    let mut diags = Diagnostics::default();
    let compiled = config::compile(&file, &text, &zeebe_authz_server::disk::Disk, &mut diags);
    assert_compile_and_lint_agree(compiled.is_some(), &diags, &file, &text, FileKind::Config);
    let _ = lint_source(&file, &text, None);
    let Some(config) = compiled else { return };
    let metrics = shared_metrics();
    let realms = Realms::new(
        config
            .realms
            .iter()
            .map(|r| (r.clone(), key_cache(r, &metrics)))
            .collect(),
        LEEWAY,
        None,
    );
    for (index, realm) in config.realms.iter().enumerate() {
        exercise_policy(&realm.policy);
        for host in realm.hosts.iter().filter(|h| &***h != "*") {
            let (name, _) = host.rsplit_once(':').unwrap_or((host, ""));
            assert!(
                !host.bytes().any(|b| b.is_ascii_uppercase()) && !name.ends_with('.'),
                "host '{host}' is not in normal form"
            );
            for spelling in [host.to_string(), host.to_ascii_uppercase()] {
                let found = realms.for_host(&spelling).map(|r| r.index);
                assert_eq!(found, Some(index), "host '{spelling}' of realm {index}");
            }
        }
    }
}

pub(crate) fn shared_metrics() -> Arc<Metrics> {
    static METRICS: OnceLock<Arc<Metrics>> = OnceLock::new();
    METRICS.get_or_init(|| Arc::new(Metrics::new())).clone()
}

/// A key cache for `realm` that never fetches anything: its JWKS URL has a scheme reqwest
/// refuses, so a refetch fails at once, without I/O.
pub(crate) fn key_cache(realm: &RealmConfig, metrics: &Arc<Metrics>) -> Arc<JwksCache> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    let client = CLIENT.get_or_init(|| http_client(None).expect("the JWKS HTTP client"));
    let settings = JwksSettings {
        refetch_cooldown: Duration::ZERO,
        fetch_timeout: Duration::from_secs(1),
        keys_max_age: Duration::from_secs(30 * 24 * 3600),
        ..JwksSettings::default()
    };
    let source = JwksSource {
        issuer: realm.issuer.clone(),
        jwks_uri: Some("file:///nonexistent/certs".into()),
    };
    Arc::new(JwksCache::new(
        realm.name.clone(),
        source,
        settings,
        None,
        client.clone(),
        metrics.clone(),
    ))
}
