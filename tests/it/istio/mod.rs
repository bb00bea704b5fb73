//! `zeebe-authz istio`: the committed `istio/` folder is what the generator makes today, every
//! emitted object parses into a strict model of its Istio or Kubernetes type (unknown fields
//! rejected, written here from the API references rather than shared with the generator), and
//! Istio's evaluation of the generated policies, simulated, never allows a call the authorizer
//! would deny, nor denies one it would allow.

// The strict models have fields no assertion reads: they exist so that a missing, misspelt or
// extra field fails to parse.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeebe_authz::istio::{self, GeneratedFile, IstioOptions, Mode};
use zeebe_authz_core::body::RequestBody;
use zeebe_authz_core::catalog::{GATEWAY_PATH_PREFIX, Rpc};
use zeebe_authz_core::config::{Config, RealmMode};
use zeebe_authz_core::policy::PathRule;

use crate::util::Scratch;

mod dry_run;
mod model;
mod output;
mod rest_door;
mod simulate;

use model::*;
use simulate::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub(crate) fn example_config() -> PathBuf {
    // Relative, as in the committed headers: tests run from the package root.
    PathBuf::from("examples/config.yaml")
}

pub(crate) fn generate(config: &Path, options: &IstioOptions) -> Vec<GeneratedFile> {
    istio::generate(config, &[Mode::Sidecar, Mode::Ambient], options)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn istio_with_the_default_policy_decides_exactly_like_the_authorizer() {
    assert_istio_agrees_with_the_authorizer(&example_config(), &IstioOptions::default());
    assert_istio_agrees_with_the_authorizer(
        &example_config(),
        &IstioOptions {
            authorizer_decides_all: true,
            ..IstioOptions::default()
        },
    );
}

/// Two realms (one with named hosts, one for any other host), exact and wildcard permissions,
/// groups, authenticated unknown rpcs and other paths.
fn mixed_setup() -> (Scratch, PathBuf) {
    mixed_setup_in("enforce", "enforce")
}

/// [`mixed_setup`] with the realms' modes (`Tenant A`, `rest`).
fn mixed_setup_in(tenant_a: &str, rest: &str) -> (Scratch, PathBuf) {
    let s = Scratch::new();
    s.write(
        "exact.yaml",
        "groups:\n  jobs: [ActivateJobs, StreamActivatedJobs, CompleteJob, FailJob, ThrowError]\ngrants:\n  - permission: deployer\n    rpcs: [DeployResource, Topology]\n  - permission: worker\n    rpcs: [jobs, Topology]\n  - permission: 'admin:*'\n    rpcs: [DeleteResource]\nunknown_rpcs: authenticated\n",
    );
    s.write(
        "poc.yaml",
        "rpc_named_permissions: true\ngrants:\n  - permission: 'read:*'\n    rpcs: [Topology]\nother_paths: authenticated\n",
    );
    let config = s.write(
        "config.yaml",
        &format!("realms:\n  - name: Tenant A\n    issuer: https://kc.example.com/realms/a\n    audiences: [zeebe-api]\n    hosts: [zeebe.example.com, 'camunda-zeebe-gateway:26500']\n    policy: exact.yaml\n    mode: {tenant_a}\n  - name: rest\n    issuer: https://kc.example.com/realms/rest\n    audiences: [zeebe-api]\n    hosts: ['*', tenant-b.example.com]\n    policy: poc.yaml\n    mode: {rest}\n"),
    );
    (s, config)
}

#[test]
fn istio_with_mixed_realms_and_permissions_decides_exactly_like_the_authorizer() {
    let (_s, config) = mixed_setup();
    assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
    assert_istio_agrees_with_the_authorizer(
        &config,
        &IstioOptions {
            authorizer_decides_all: true,
            ..IstioOptions::default()
        },
    );
}

/// Regression: the grants compiled from Camunda-dialect authorizations are named after their
/// owner (`user:ann`); Istio must not take that name for a permission and allow a token whose
/// permissions claim holds `user:ann`.
#[test]
fn camunda_authorizations_are_never_enforced_by_istio_as_permissions() {
    let s = Scratch::new();
    s.write(
        "dialect.yaml",
        "grants:\n  - {permission: deployer, rpcs: [DeployResource]}\nauthorizations:\n  - owner: {user: ann}\n    resource_type: x-RPC\n    resource_ids: [Topology, CompleteJob]\n    permissions: [x-CALL]\n",
    );
    let config = s.write(
        "config.yaml",
        "realms:\n  - name: a\n    issuer: https://kc.example.com/realms/a\n    audiences: [zeebe-api]\n    hosts: [zeebe.example.com]\n    policy: dialect.yaml\n",
    );
    assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
    let files = generate(&config, &IstioOptions::default());
    for f in &files {
        assert!(!f.contents.contains("user:ann"), "{}", f.path.display());
    }
}

#[test]
fn exact_permissions_are_native_and_istio_wildcards_go_to_the_authorizer() {
    let (_s, config) = mixed_setup();
    let files = generate(&config, &IstioOptions::default());
    let p = parse_mode(&files, Mode::Sidecar);
    let allow = p
        .policies
        .iter()
        .find(|ap| ap.spec.action == Action::Allow)
        .unwrap();
    let values: Vec<&str> = allow
        .spec
        .rules
        .iter()
        .flat_map(|r| {
            r.when
                .iter()
                .flat_map(|c| c.values.iter().map(String::as_str))
        })
        .collect();
    assert!(values.contains(&"deployer") && values.contains(&"worker"));
    assert!(
        values.contains(&"CreateProcessInstance"),
        "rpc-named permissions are native"
    );
    assert!(
        !values
            .iter()
            .any(|v| v.starts_with('*') || v.ends_with('*')),
        "a '*' would be a prefix/suffix match in Istio: {values:?}"
    );
    let custom = p
        .policies
        .iter()
        .find(|ap| ap.spec.action == Action::Custom)
        .unwrap();
    let custom_paths: Vec<&str> = custom
        .spec
        .rules
        .iter()
        .flat_map(|r| {
            r.to.iter()
                .flat_map(|t| t.operation.paths.iter().map(String::as_str))
        })
        .collect();
    assert!(
        custom_paths.contains(&"/gateway_protocol.Gateway/DeleteResource"),
        "{custom_paths:?}"
    );
    assert!(
        custom_paths.contains(&"/gateway_protocol.Gateway/Topology"),
        "read:* grants it"
    );
    assert!(!custom_paths.contains(&"/gateway_protocol.Gateway/DeployResource"));
    // Realm names become DNS labels.
    assert!(
        p.request_authentications
            .iter()
            .any(|ra| ra.metadata.name == "zeebe-authz-tenant-a")
    );
}

#[test]
fn options_reach_the_output() {
    let options = IstioOptions {
        namespace: "zeebe".into(),
        gateway_selector: istio::parse_labels("app=gw,release=c8").unwrap(),
        gateway_service: "c8-zeebe-gateway".into(),
        gateway_port: 26600,
        gateway_rest_port: 8088,
        rest_pass_through: vec!["/operate/*".into()],
        waypoint: "wp".into(),
        image: "registry.example.com/zeebe-authz:1".into(),
        replicas: 3,
        check_timeout: std::time::Duration::from_millis(1500),
        authorizer_decides_all: false,
    };
    let files = generate(&example_config(), &options);
    let side = parse_mode(&files, Mode::Sidecar);
    assert_eq!(
        side.policies[0]
            .spec
            .selector
            .as_ref()
            .unwrap()
            .match_labels
            .len(),
        2
    );
    assert!(
        side.policies
            .iter()
            .all(|p| p.metadata.namespace == "zeebe")
    );
    let mesh = side.mesh.unwrap();
    let (_, grpc) = mesh.mesh_config.ext_authz();
    assert_eq!(grpc.service, "zeebe-authz.zeebe.svc.cluster.local");
    assert_eq!(grpc.timeout, "1.5s");
    let d = &side.deployments[0];
    assert_eq!(d.spec.replicas, 3);
    assert_eq!(
        d.spec.template.spec.containers[0].image,
        "registry.example.com/zeebe-authz:1"
    );
    let amb = parse_mode(&files, Mode::Ambient);
    assert_eq!(amb.policies[0].spec.target_refs[0].name, "c8-zeebe-gateway");
    assert_eq!(amb.gateways[0].metadata.name, "wp");
    let ports: Vec<&String> = amb.policies[0].spec.rules[0].to[0]
        .operation
        .ports
        .iter()
        .collect();
    assert_eq!(ports, ["26600"]);
    assert!(istio::parse_labels("").is_err() && istio::parse_labels("a").is_err());
    assert!(istio::parse_labels("a=*").is_err());
}

#[test]
fn an_invalid_config_is_reported_not_generated() {
    let s = Scratch::new();
    let config = s.write(
        "config.yaml",
        "realms:\n  - {name: a, issuer: kc, audiences: [z], hosts: [x], policy: missing.yaml}\n",
    );
    let err = istio::generate(&config, &[Mode::Sidecar], &IstioOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("realms[0].issuer") && text.contains("realms[0].policy"),
        "{text}"
    );
}

#[test]
fn write_files_then_check_and_stale_files() {
    let s = Scratch::new();
    let files = generate(&example_config(), &IstioOptions::default());
    istio::write_files(&s.0, &files).unwrap();
    assert!(istio::differences(&s.0, &files).is_empty());
    // A generated file that is no longer generated is stale; other files are left alone.
    let stale = s.write(
        "sidecar/old.yaml",
        &format!("{}\nkind: X\n", istio::GENERATED_MARKER),
    );
    let mine = s.write("sidecar/notes.yaml", "# mine\n");
    assert_eq!(
        istio::differences(&s.0, &files),
        std::slice::from_ref(&stale)
    );
    istio::write_files(&s.0, &files).unwrap();
    assert!(!stale.exists() && mine.exists());
    std::fs::write(s.0.join("ambient/waypoint.yaml"), "changed").unwrap();
    assert_eq!(
        istio::differences(&s.0, &files),
        [s.0.join("ambient/waypoint.yaml")]
    );
}

#[test]
fn cli_check_mode_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_zeebe-authz");
    let ok = std::process::Command::new(bin)
        .args([
            "istio",
            "--config",
            "examples/config.yaml",
            "--out",
            "istio",
            "--check",
        ])
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let s = Scratch::new();
    let stale = std::process::Command::new(bin)
        .args([
            "istio",
            "--config",
            "examples/config.yaml",
            "--check",
            "--out",
        ])
        .arg(&s.0)
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert_eq!(stale.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stale.stderr).contains("regenerate with"));
    let bad = s.write("bad.yaml", "realms: []\n");
    let invalid = std::process::Command::new(bin)
        .args(["istio", "--config"])
        .arg(&bad)
        .arg("--out")
        .arg(&s.0)
        .output()
        .unwrap();
    assert_eq!(
        invalid.status.code(),
        Some(64),
        "config errors exit 64 like serve"
    );
}

#[test]
fn rpcs_with_conditions_go_to_the_authorizer_with_the_body() {
    let s = Scratch::new();
    s.write(
        "conditions.yaml",
        "groups:\n  jobs: [ActivateJobs, CompleteJob]\ngrants:\n  - permission: tenant-a-starter\n    rpcs: ['*']\n    when:\n      tenant: [tenant-a]\n  - permission: payment-worker\n    rpcs: [jobs]\n    when:\n      job_type: ['payment*']\n",
    );
    let config = s.write(
        "config.yaml",
        "realms:\n  - name: a\n    issuer: https://kc.example.com/realms/a\n    audiences: [zeebe-api]\n    hosts: [zeebe.example.com]\n    policy: conditions.yaml\n",
    );
    let files = generate(&config, &IstioOptions::default());
    let p = parse_mode(&files, Mode::Sidecar);
    let mesh = p.mesh.as_ref().unwrap();
    let body = mesh
        .mesh_config
        .ext_authz()
        .1
        .include_request_body_in_check
        .as_ref()
        .expect("conditions need the body");
    assert_eq!(
        (
            body.max_request_bytes,
            body.allow_partial_message,
            body.pack_as_bytes
        ),
        (65536, true, true)
    );
    let path = |rpc: &str| format!("{GATEWAY_PATH_PREFIX}{rpc}");
    let custom = p
        .policies
        .iter()
        .find(|ap| ap.spec.action == Action::Custom)
        .unwrap();
    let custom_paths = &custom.spec.rules[0].to[0].operation.paths;
    for rpc in [
        "CreateProcessInstance",
        "DeployResource",
        "ActivateJobs",
        "PublishMessage",
    ] {
        assert!(
            custom_paths.contains(&path(rpc)),
            "{rpc} carries a checked field"
        );
    }
    for rpc in ["CompleteJob", "Topology", "CancelProcessInstance"] {
        assert!(
            !custom_paths.contains(&path(rpc)),
            "{rpc} carries no checked field"
        );
    }
    // The key-only rpcs of those grants carry no field to check: Istio grants them natively.
    let allow = p
        .policies
        .iter()
        .find(|ap| ap.spec.action == Action::Allow)
        .unwrap();
    let native: Vec<(String, String)> = allow
        .spec
        .rules
        .iter()
        .filter(|r| !r.when.is_empty())
        .flat_map(|r| {
            let value = r.when[0].values[0].clone();
            r.to[0]
                .operation
                .paths
                .iter()
                .map(move |p| (value.clone(), p.clone()))
        })
        .collect();
    for (permission, rpc) in [
        ("tenant-a-starter", "Topology"),
        ("tenant-a-starter", "CancelProcessInstance"),
        ("payment-worker", "CompleteJob"),
    ] {
        assert!(
            native.contains(&(permission.into(), path(rpc))),
            "{permission} {rpc}: {native:?}"
        );
    }
    assert!(!native.iter().any(|(_, p)| custom_paths.contains(p)));
    assert_istio_agrees_with_the_authorizer(&config, &IstioOptions::default());
}
