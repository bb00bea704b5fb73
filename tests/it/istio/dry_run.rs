//! Dry-run realms, and the Helm chart's example values.

use super::*;

// ---- dry-run realms ----

#[test]
fn dry_run_realms_are_enforced_by_no_one_and_reported_in_full() {
    for (tenant_a, rest) in [
        ("dry-run", "enforce"),
        ("enforce", "dry-run"),
        ("dry-run", "dry-run"),
    ] {
        let (_s, config) = mixed_setup_in(tenant_a, rest);
        assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
        assert_istio_agrees_with_the_authorizer(
            &config,
            &IstioOptions {
                authorizer_decides_all: true,
                ..IstioOptions::default()
            },
        );
    }
    // The default policy (`write:*`: the authorizer decides every rpc anyway).
    let s = Scratch::new();
    let config = s.write(
        "config.yaml",
        &format!(
            "realms:\n  - name: camunda\n    issuer: https://keycloak.example.com/auth/realms/camunda-platform\n    audiences: [zeebe-api]\n    hosts: [zeebe.example.com, 'camunda-zeebe-gateway:26500']\n    policy: {}\n    mode: dry-run\n",
            Path::new(ROOT).join("policies/default.yaml").display()
        ),
    );
    assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
}

pub(crate) fn policy<'a>(p: &'a Parsed, name: &str) -> &'a AuthorizationPolicy {
    p.policies
        .iter()
        .find(|ap| ap.metadata.name == name)
        .unwrap_or_else(|| panic!("no policy {name}"))
}

#[test]
fn a_dry_run_realm_sends_every_call_to_the_authorizer_and_its_native_rules_are_dry_run() {
    let (_s, config) = mixed_setup_in("dry-run", "enforce");
    let loaded = zeebe_authz_server::disk::load_config(&config).unwrap_or_else(|e| panic!("{e}"));
    let files = generate(&config, &IstioOptions::default());
    let realm_a = "https://kc.example.com/realms/a/*";
    let realm_rest = "https://kc.example.com/realms/rest/*";
    for mode in [Mode::Sidecar, Mode::Ambient] {
        let p = parse_mode(&files, mode);
        let dry_run: Vec<(&str, Action)> = p
            .policies
            .iter()
            .filter(|ap| is_dry_run(ap))
            .map(|ap| (ap.metadata.name.as_str(), ap.spec.action))
            .collect();
        assert_eq!(
            dry_run,
            [
                ("zeebe-authz-require-jwt-dry-run", Action::Deny),
                ("zeebe-authz-allow-dry-run", Action::Allow)
            ],
            "Istio still calls ext_authz for a dry-run CUSTOM policy: never annotate it"
        );
        for ap in p.policies.iter().filter(|ap| !is_dry_run(ap)) {
            assert!(ap.metadata.annotations.is_empty(), "{}", ap.metadata.name);
        }
        // Kubernetes annotations are strings: a bare `true` would not apply.
        let text = &files
            .iter()
            .find(|f| f.path == Path::new(mode.dir()).join("authorization-policy.yaml"))
            .unwrap()
            .contents;
        assert_eq!(text.matches("istio.io/dry-run: \"true\"\n").count(), 2);
        assert!(
            text.contains("Realms in mode: dry-run (\"Tenant A\")"),
            "{text}"
        );

        // Realm A's principal requirement is dry-run only; realm rest's stays enforced.
        let principals = |ap: &AuthorizationPolicy| -> Vec<String> {
            ap.spec
                .rules
                .iter()
                .flat_map(|r| r.from.iter())
                .flat_map(|f| f.source.not_request_principals.iter().cloned())
                .collect()
        };
        // (One rule for the gRPC port, one for the REST port.)
        assert_eq!(
            principals(policy(&p, "zeebe-authz-require-jwt-dry-run")),
            [realm_a, realm_a]
        );
        assert_eq!(
            principals(policy(&p, "zeebe-authz-require-jwt")),
            [realm_rest, realm_rest]
        );

        // CUSTOM: every call on realm A's hosts (no path list).
        let custom = policy(&p, "zeebe-authz-custom");
        assert!(
            custom.spec.rules.iter().any(|r| {
                let o = &r.to[0].operation;
                o.hosts.contains(&"zeebe.example.com".to_string())
                    && o.paths.is_empty()
                    && o.not_paths.is_empty()
            }),
            "{custom:?}"
        );

        // Without a token, a call of realm A passes Istio (the authorizer reports it), and
        // the dry-run results say enforcing would deny it; realm rest is unchanged.
        let call = |host| Call {
            host,
            port: 26500,
            path: format!("{GATEWAY_PATH_PREFIX}DeployResource"),
            issuer: None,
            permissions: vec![],
        };
        let claim_key = "request.auth.claims[permissions][zeebe-api]";
        let policies: Vec<AuthorizationPolicy> = p
            .policies
            .into_iter()
            .filter(|ap| mode == Mode::Sidecar || ap.spec.selector.is_none())
            .collect();
        let actual =
            |c: &Call| istio_allows(&policies, c, claim_key, |c| authorizer_allows(&loaded, c));
        let would = |c: &Call| {
            istio_would_allow(&policies, c, claim_key, |c| {
                authorizer_would_allow(&loaded, c)
            })
        };
        assert!(actual(&call("zeebe.example.com")) && !would(&call("zeebe.example.com")));
        assert!(!actual(&call("other.example.com")) && !would(&call("other.example.com")));
    }
    let request_authentication = &files
        .iter()
        .find(|f| f.path == Path::new("sidecar/request-authentication.yaml"))
        .unwrap()
        .contents;
    assert!(
        request_authentication.contains("answered 401 here, also in realms in mode: dry-run"),
        "{request_authentication}"
    );
}

#[test]
fn with_every_realm_in_dry_run_the_enforced_deny_policy_stays_and_matches_nothing() {
    // `kubectl apply` does not delete an object that is no longer generated: a stale
    // zeebe-authz-require-jwt would keep enforcing a token on every realm.
    let (_s, config) = mixed_setup_in("dry-run", "dry-run");
    let files = generate(&config, &IstioOptions::default());
    for mode in [Mode::Sidecar, Mode::Ambient] {
        let p = parse_mode(&files, mode);
        let deny = policy(&p, "zeebe-authz-require-jwt");
        assert!(!is_dry_run(deny) && deny.spec.rules.is_empty());
        assert_eq!(
            policy(&p, "zeebe-authz-require-jwt-dry-run")
                .spec
                .rules
                .len(),
            4,
            "each realm's gRPC and REST rules"
        );
    }
}

#[test]
fn enforce_realms_get_no_dry_run_policies() {
    let files = generate(&example_config(), &IstioOptions::default());
    for mode in [Mode::Sidecar, Mode::Ambient] {
        let p = parse_mode(&files, mode);
        assert!(p.policies.iter().all(|ap| !is_dry_run(ap)));
        assert!(
            p.policies
                .iter()
                .all(|ap| !ap.metadata.name.ends_with("-dry-run"))
        );
    }
}

#[test]
fn committed_chart_example_values_match_the_generator() {
    // charts/zeebe-authz/examples/ is `zeebe-authz istio --helm-values` of examples/multi-realm.yaml;
    // tests/e2e/test_helm.py renders it and compares the chart with the generator.
    let bin = env!("CARGO_BIN_EXE_zeebe-authz");
    for mode in ["sidecar", "ambient"] {
        let values = format!("charts/zeebe-authz/examples/multi-realm-{mode}.yaml");
        let out = std::process::Command::new(bin)
            .args([
                "istio",
                "--config",
                "examples/multi-realm.yaml",
                "--mode",
                mode,
            ])
            .args(["--helm-values", &values, "--check"])
            .current_dir(ROOT)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn helm_values_need_one_mode_and_report_drift() {
    let bin = env!("CARGO_BIN_EXE_zeebe-authz");
    let s = Scratch::new();
    let values = s.0.join("values.yaml");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(["istio", "--config", "examples/config.yaml", "--helm-values"])
            .arg(&values)
            .args(args)
            .current_dir(ROOT)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run(&[]), Some(2), "--mode both has no single set of values");
    assert_eq!(
        run(&["--mode", "sidecar", "--check"]),
        Some(1),
        "missing file"
    );
    assert_eq!(run(&["--mode", "sidecar"]), Some(0));
    assert_eq!(run(&["--mode", "sidecar", "--check"]), Some(0));
    assert_eq!(run(&["--mode", "ambient", "--check"]), Some(1));
    let text = std::fs::read_to_string(&values).unwrap();
    assert!(text.contains("  sourceSha256: "), "{text}");
    assert!(text.contains("fullnameOverride: zeebe-authz\n"), "{text}");
}
