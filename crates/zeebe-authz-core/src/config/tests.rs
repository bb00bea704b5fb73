//! Unit tests of the parent module.
use super::*;

/// The files these tests write to a temporary folder, read as the server reads them (no size
/// bound or device check: the tests write only small regular files).
struct Disk;

impl Files for Disk {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn holds_certificates(&self, pem: &[u8]) -> bool {
        pem::parse_many(pem).is_ok_and(|p| p.iter().any(|p| p.tag() == "CERTIFICATE"))
    }
}

fn compile_in(dir: &Path, text: &str) -> (Option<Config>, Diagnostics) {
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    let mut d = Diagnostics::default();
    let file: Arc<Path> = Arc::from(path.as_path());
    (compile(&file, text, &Disk, &mut d), d)
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("zeebe-authz-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        "grants:\n  - {permission: 'write:*', rpcs: ['*']}\n",
    )
    .unwrap();
    dir
}

#[test]
fn jwks_and_token_durations_are_bounded() {
    let dir = std::env::temp_dir();
    let file: Arc<Path> = Arc::from(dir.join("bounded.yaml").as_path());
    for (key, value) in [
        ("jwks:\n  refetch_cooldown", "0s"),
        ("jwks:\n  fetch_timeout", "0ms"),
        ("jwks:\n  refresh_interval", "0s"),
        ("jwks:\n  keys_max_age", "18446744073709551615s"),
        ("token:\n  leeway", "1000000h"),
    ] {
        let text = format!(
            "realms:\n  - {{name: a, issuer: 'https://kc/realms/a', audiences: [z], hosts: ['*'], policy: p.yaml}}\n{key}: {value}\n"
        );
        let mut diags = Diagnostics::default();
        let _ = compile(&file, &text, &Disk, &mut diags);
        assert!(
            diags
                .items()
                .iter()
                .any(|d| d.message.contains("is outside")),
            "{key}: {value}: {:?}",
            diags.items()
        );
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    for bad in ["", "5", "m", "5 minutes", "-1s", "1.5s"] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
}

#[test]
fn minimal_config_compiles_with_defaults() {
    let dir = tempdir("ok");
    let (c, d) = compile_in(
        &dir,
        "realms:\n  - name: a\n    issuer: https://kc/realms/a/\n    audiences: [zeebe-api]\n    hosts: [Zeebe.Example.com]\n    policy: p.yaml\n",
    );
    let c = c.unwrap_or_else(|| panic!("{:?}", d.items()));
    let r = &c.realms[0];
    assert_eq!(&*r.issuer, "https://kc/realms/a");
    assert_eq!(&*r.hosts[0], "zeebe.example.com");
    assert_eq!(r.permissions_claim.to_string(), "permissions.zeebe-api");
    assert_eq!(c.listen.check.port(), 9000);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_error_reported_with_line_and_key() {
    let dir = tempdir("bad");
    let text = "listen:\n  check: nope\nrealms:\n  - name: a\n    issuer: kc\n    audiences: []\n    hosts: [x]\n    policy: missing.yaml\n  - name: b\n    issuer: https://kc/realms/b\n    audiences: [z]\n    hosts: [x]\n    policy: p.yaml\njwks:\n  refresh_interval: often\n";
    let (c, d) = compile_in(&dir, text);
    assert!(c.is_none());
    let keys: Vec<(&str, u64)> = d
        .items()
        .iter()
        .map(|d| (d.key.as_str(), d.span.line))
        .collect();
    assert!(keys.contains(&("listen.check", 2)), "{keys:?}");
    assert!(keys.contains(&("realms[0].issuer", 5)), "{keys:?}");
    assert!(keys.contains(&("realms[0].audiences", 6)), "{keys:?}");
    assert!(keys.contains(&("realms[0].policy", 8)), "{keys:?}");
    assert!(keys.contains(&("realms[1].hosts", 12)), "{keys:?}");
    assert!(keys.contains(&("jwks.refresh_interval", 15)), "{keys:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn policy_errors_are_reported_with_the_policy_file() {
    let dir = tempdir("pol");
    std::fs::write(
        dir.join("p.yaml"),
        "grants:\n  - {permission: x, rpcs: [Topolgy]}\n",
    )
    .unwrap();
    let (c, d) = compile_in(
        &dir,
        "realms:\n  - {name: a, issuer: 'https://kc/realms/a', audiences: [z], hosts: ['*'], policy: p.yaml}\n",
    );
    assert!(c.is_none());
    assert!(d.items()[0].span.file.ends_with("p.yaml"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn dynamic_metadata_send_is_all_denies_or_none() {
    let dir = tempdir("metadata");
    let realm = "realms:\n  - {name: a, issuer: 'https://kc/realms/a', audiences: [z], hosts: ['*'], policy: p.yaml}\n";
    let (config, _) = compile_in(&dir, realm);
    assert_eq!(config.unwrap().dynamic_metadata, MetadataSet::Denies);
    for (name, set) in [
        ("all", MetadataSet::All),
        ("denies", MetadataSet::Denies),
        ("none", MetadataSet::None),
    ] {
        let text = format!("{realm}dynamic_metadata:\n  send: {name}\n");
        let (config, d) = compile_in(&dir, &text);
        assert_eq!(
            config.map(|c| c.dynamic_metadata),
            Some(set),
            "{:?}",
            d.items()
        );
    }
    let (config, d) = compile_in(&dir, &format!("{realm}dynamic_metadata:\n  send: allows\n"));
    assert!(config.is_none());
    let error = &d.items()[0];
    assert_eq!(error.key, "dynamic_metadata.send");
    assert!(
        error
            .message
            .contains("'allows' is not all, denies or none"),
        "{error:?}"
    );
    assert_eq!(error.span.line, 4);
}

#[test]
fn rest_base_path_defaults_to_v2_and_refuses_what_the_gateway_may_read_otherwise() {
    let dir = tempdir("rest-base");
    let realm = |extra: &str| {
        format!(
            "realms:\n  - {{name: a, issuer: 'https://kc/realms/a', audiences: [z], hosts: ['*'], policy: p.yaml{extra}}}\n"
        )
    };
    let (c, d) = compile_in(&dir, &realm(""));
    assert_eq!(
        &*c.unwrap().realms[0].rest_base_path,
        "/v2",
        "{:?}",
        d.items()
    );
    let (c, _) = compile_in(&dir, &realm(", rest_base_path: /orchestration/v2"));
    assert_eq!(&*c.unwrap().realms[0].rest_base_path, "/orchestration/v2");
    for bad in ["v2", "/v2/", "/v2;x", "/v%32", "/a/../v2"] {
        let (c, d) = compile_in(&dir, &realm(&format!(", rest_base_path: '{bad}'")));
        assert!(c.is_none(), "{bad}");
        assert!(
            d.items().iter().any(|i| i.key.ends_with("rest_base_path")),
            "{bad}: {:?}",
            d.items()
        );
    }
}
