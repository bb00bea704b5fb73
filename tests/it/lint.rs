//! `zeebe-authz lint`: the corpus of broken files in `tests/data/lint/` gives exactly its
//! expected findings, the binary's output formats and exit codes, online issuer checks against
//! loopback servers, and no panic on any input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use zeebe_authz::lint::{self, FileKind, LintOptions};
use zeebe_authz_core::diag::{Diagnostic, Severity};
use zeebe_authz_core::signing::SigningKey;

use crate::util::{Scratch, keycloak, keycloak_on};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CORPUS: &str = "tests/data/lint";

fn lint_bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
        .arg("lint")
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap()
}

fn lint_now(paths: &[PathBuf], options: &LintOptions) -> Vec<Diagnostic> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(lint::lint_files(paths, options))
        .unwrap()
}

/// One line of a `.expected` file: `[FILE:]LINE:COLUMN SEVERITY KEY [| TEXT]`.
#[derive(Debug)]
struct Expected {
    file: Option<String>,
    line: u64,
    column: u64,
    severity: Severity,
    key: String,
    text: Option<String>,
}

fn parse_expected(path: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (head, text) = match l.split_once(" | ") {
                Some((h, t)) => (h, Some(t.trim().to_string())),
                None => (l, None),
            };
            let mut parts = head.split_whitespace();
            let place = parts.next().unwrap();
            let severity = match parts.next().unwrap() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                "note" => Severity::Note,
                other => panic!("{}: bad severity {other}", path.display()),
            };
            let key = parts.next().unwrap().to_string();
            let mut place: Vec<&str> = place.split(':').collect();
            let column = place.pop().unwrap().parse().unwrap();
            let line = place.pop().unwrap().parse().unwrap();
            Expected {
                file: place.pop().map(str::to_string),
                line,
                column,
                severity,
                key: if key == "-" { String::new() } else { key },
                text,
            }
        })
        .collect()
}

#[test]
fn every_corpus_case_gives_exactly_its_expected_findings() {
    let dir = Path::new(CORPUS);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "expected"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "the corpus lost cases: {cases:?}");
    let mut failures = Vec::new();
    for expected_path in &cases {
        let name = expected_path.file_stem().unwrap().to_str().unwrap();
        let yaml = dir.join(format!("{name}.yaml"));
        let expected = parse_expected(expected_path);
        let found = lint_now(std::slice::from_ref(&yaml), &LintOptions::default());
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        if found.len() != expected.len() {
            failures.push(format!(
                "{name}: expected {} finding(s), got {}:\n  {}",
                expected.len(),
                found.len(),
                shown.join("\n  ")
            ));
            continue;
        }
        for (e, d) in expected.iter().zip(&found) {
            let file = d
                .span
                .file
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let want_file = e.file.clone().unwrap_or_else(|| format!("{name}.yaml"));
            let text_ok = e.text.as_ref().is_none_or(|t| {
                d.message.contains(t.as_str())
                    || d.hint.as_deref().is_some_and(|h| h.contains(t.as_str()))
            });
            if file != want_file
                || (d.span.line, d.span.column) != (e.line, e.column)
                || d.severity != e.severity
                || d.key != e.key
                || !text_ok
            {
                failures.push(format!("{name}: expected {e:?}\n  got {d}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unknown_rpc_suggests_the_closest_name_in_text_output() {
    let out = lint_bin(&["tests/data/lint/unknown-rpc.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().next().unwrap(),
        "tests/data/lint/unknown-rpc.yaml:5:12: error: grants[1].rpcs[0]: unknown rpc or group 'Topolgy' (hint: did you mean 'Topology'?)"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 error(s), 0 warning(s) in 1 file(s)"));
}

#[test]
fn exit_codes_clean_findings_and_usage() {
    let clean = lint_bin(&[
        "policies/default.yaml",
        "policies/dev.yaml",
        "examples/config.yaml",
    ]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert!(clean.stdout.is_empty());
    // Warnings alone are findings too.
    assert_eq!(
        lint_bin(&["tests/data/lint/uncovered.yaml"]).status.code(),
        Some(1)
    );
    assert_eq!(
        lint_bin(&["tests/data/lint/yaml-syntax.yaml"])
            .status
            .code(),
        Some(1)
    );
    // Usage errors.
    let missing = lint_bin(&["tests/data/lint/no-such-file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-file.yaml"));
    assert_eq!(lint_bin(&[]).status.code(), Some(2));
    assert_eq!(
        lint_bin(&["--kind", "nonsense", "x.yaml"]).status.code(),
        Some(2)
    );
    assert_eq!(
        lint_bin(&["--format", "xml", "x.yaml"]).status.code(),
        Some(2)
    );
}

#[test]
fn notes_inform_and_do_not_fail_lint() {
    // The shipped Camunda example has x- extensions (notes), two authorizations that a realm
    // whose engine checks nothing would see lose rpcs (notes: a policy names no realm), and
    // nothing to fix.
    let out = lint_bin(&["policies/camunda-8.8.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(": note: authorizations[6]: x-JOB_TYPE is an extension of zeebe-authz: enforced only at the edge"),
        "{stdout}"
    );
    assert!(stdout.lines().all(|l| l.contains(": note: ")), "{stdout}");
    assert!(
        stdout.contains("engine_authorizations is false") && stdout.contains("BroadcastSignal"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("0 error(s), 0 warning(s), 4 note(s) in 1 file(s)")
    );
    // A partial wildcard is a warning: exit 1.
    assert_eq!(
        lint_bin(&["tests/data/lint/camunda-engine-differs.yaml"])
            .status
            .code(),
        Some(1)
    );
}

fn stdout_of(args: &[&str]) -> String {
    let out = lint_bin(args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn camunda_version_reports_each_authorizations_twin_and_its_settings() {
    let case = "tests/data/lint/camunda-engine-differs.yaml";
    let v88 = stdout_of(&["--camunda-version", "8.8", case]);
    for line in [
        "  authorizations[0] (group orders, PROCESS_DEFINITION [order-*, invoice]): twin, but LITERAL in Camunda: order-* matches only the resource id that is exactly that text",
        "  authorizations[1] (client notifier, MESSAGE [order-paid]): no twin: the 8.8 engine checks MESSAGE on \"*\" only",
        "  authorizations[2] (role admin, RESOURCE [*]): no twin: Camunda has no roles claim: role 'admin' must be assigned to its users and clients in the engine",
        "  authorizations[3] (mapping_rule ops, DECISION_DEFINITION [risk-*, *-score]): no twin: Camunda assigns tenants to owners, not to authorizations: assign MAPPING_RULE 'ops' to tenant(s) tenant-a, tenant-b in Camunda",
        "  authorizations[4] (client worker, x-JOB_TYPE [payment*]): no twin: x-JOB_TYPE is an extension, enforced only at the edge",
        "  authorizations[6] (user ann, CLUSTER_VARIABLE [*]): no twin: READ is not a permission of CLUSTER_VARIABLE in Camunda 8.8",
        "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_USERNAMECLAIM=preferred_username",
        "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENTIDCLAIM=client_id",
        "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GROUPSCLAIM=groups",
        "# identity.roles_claim has no Camunda setting: Camunda has no roles claim, roles are assigned in the engine",
        "CAMUNDA_SECURITY_INITIALIZATION_MAPPINGRULES_0_MAPPINGRULEID=ops",
        "CAMUNDA_SECURITY_INITIALIZATION_MAPPINGRULES_0_CLAIMNAME=$['org']['teams']",
        "CAMUNDA_SECURITY_INITIALIZATION_MAPPINGRULES_0_CLAIMVALUE=ops",
        "# authorizations[0] (LITERAL in Camunda: a partial wildcard)",
        // One entry per resource id.
        "CAMUNDA_SECURITY_INITIALIZATION_AUTHORIZATIONS_0_OWNERTYPE=GROUP",
        "CAMUNDA_SECURITY_INITIALIZATION_AUTHORIZATIONS_0_OWNERID=orders",
        "CAMUNDA_SECURITY_INITIALIZATION_AUTHORIZATIONS_0_RESOURCETYPE=PROCESS_DEFINITION",
        "CAMUNDA_SECURITY_INITIALIZATION_AUTHORIZATIONS_0_RESOURCEID=order-*",
        "CAMUNDA_SECURITY_INITIALIZATION_AUTHORIZATIONS_0_PERMISSIONS=CREATE_PROCESS_INSTANCE,UPDATE_PROCESS_INSTANCE",
        "CAMUNDA_SECURITY_INITIALIZATION_AUTHORIZATIONS_1_RESOURCEID=invoice",
        "  CompleteJob (PROCESS_DEFINITION UPDATE_PROCESS_INSTANCE)",
        "  DeleteResource (RESOURCE DELETE_PROCESS or RESOURCE DELETE_DRD or RESOURCE DELETE_FORM or RESOURCE DELETE_RESOURCE)",
    ] {
        assert!(
            v88.lines().any(|l| l.starts_with(line)),
            "{line}\nnot in\n{v88}"
        );
    }
    assert!(
        v88.contains("…_OWNER_TYPE"),
        "the spelling caveat is stated"
    );
    assert!(
        !v88.contains("AUTHORIZATIONS_2_"),
        "only twins get settings:\n{v88}"
    );
    // Not granted by the policy: not listed as resolved.
    assert!(!v88.contains("CancelProcessInstance ("), "{v88}");

    // 8.9 checks message names and knows CLUSTER_VARIABLE.
    let v89 = stdout_of(&["--camunda-version", "8.9", case]);
    assert!(
        v89.contains("  authorizations[1] (client notifier, MESSAGE [order-paid]): twin\n"),
        "{v89}"
    );
    assert!(
        v89.contains("  authorizations[6] (user ann, CLUSTER_VARIABLE [*]): twin\n"),
        "{v89}"
    );
    assert!(v89.contains("_RESOURCETYPE=CLUSTER_VARIABLE"), "{v89}");

    // JSON stays the findings' format; the report is text.
    assert_eq!(
        lint_bin(&["--camunda-version", "8.8", "--format", "json", case])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        lint_bin(&["--camunda-version", "8.10", case]).status.code(),
        Some(2)
    );
}

#[test]
fn camunda_version_8_7_prints_a_policy_in_the_dialect_that_lints_clean() {
    let s = Scratch::new();
    let out = lint_bin(&["--camunda-version", "8.7", "policies/multi-tenant.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains(
        r#"  - {id: "perm-write-all", claim: "$['permissions']['zeebe-api']", value: "write:*"}"#
    ), "{yaml}");
    assert!(
        yaml.contains("# It has no CANCEL_PROCESS_INSTANCE and no MODIFY_PROCESS_INSTANCE"),
        "{yaml}"
    );
    assert!(
        yaml.contains("CancelProcessInstance and ModifyProcessInstance"),
        "{yaml}"
    );
    let saved = s.write("migrated.yaml", &yaml);
    let relinted = lint_bin(&[saved.to_str().unwrap()]);
    let findings = String::from_utf8(relinted.stdout).unwrap();
    assert_eq!(relinted.status.code(), Some(0), "{findings}\n{yaml}");
    assert!(
        findings.lines().all(|l| l.contains(": note: ")),
        "{findings}"
    );

    // The claim comes from --permissions-claim for a policy, from the realm for a config.
    let yaml = stdout_of(&[
        "--camunda-version",
        "8.7",
        "--permissions-claim",
        "resource_access.zeebe.roles",
        "policies/default.yaml",
    ]);
    assert!(
        yaml.contains(r#"claim: "$['resource_access']['zeebe']['roles']""#),
        "{yaml}"
    );
    let yaml = stdout_of(&["--camunda-version", "8.7", "examples/config.yaml"]);
    assert!(
        yaml.starts_with("# examples/config.yaml, realm '"),
        "{yaml}"
    );
    assert!(
        yaml.contains(r#"claim: "$['permissions']['zeebe-api']""#),
        "{yaml}"
    );
    // Findings go to stderr, so stdout stays a policy file.
    let out = lint_bin(&["--camunda-version", "8.7", "tests/data/lint/shadowed.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.starts_with("# tests/data/lint/shadowed.yaml in the Camunda dialect"),
        "{yaml}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("shadowed by grants[1]"));
}

#[test]
fn camunda_table_prints_the_rpc_permission_table() {
    let out = lint_bin(&["--camunda-table"]);
    assert_eq!(out.status.code(), Some(0));
    let docs =
        std::fs::read_to_string(Path::new(ROOT).join("docs/camunda-rpc-permissions.md")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), docs);
    assert_eq!(
        lint_bin(&["--camunda-table", "policies/dev.yaml"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn json_format_is_an_array_of_located_findings() {
    let out = lint_bin(&[
        "--format",
        "json",
        "tests/data/lint/shadowed.yaml",
        "policies/default.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 3);
    let first = &items[0];
    assert_eq!(first["severity"], "warning");
    assert_eq!(first["file"], "tests/data/lint/shadowed.yaml");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(7), Some(17))
    );
    assert_eq!(first["key"], "grants[2]");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("shadowed by grants[1]")
    );
    assert!(first["hint"].as_str().is_some());
    // Clean input is an empty array, exit 0.
    let clean = lint_bin(&["--format", "json", "policies/default.yaml"]);
    assert_eq!(clean.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(v, serde_json::json!([]));
}

#[test]
fn a_policy_reached_twice_is_reported_once() {
    let config = PathBuf::from("tests/data/lint/config-broken.yaml");
    let policy = PathBuf::from("tests/data/lint/uncovered.yaml");
    let found = lint_now(&[config, policy], &LintOptions::default());
    let uncovered = found
        .iter()
        .filter(|d| d.message.starts_with("no permission grants"))
        .count();
    assert_eq!(uncovered, 1, "{found:#?}");
}

#[test]
fn kind_can_be_forced() {
    let s = Scratch::new();
    let p = s.write("p.yaml", "{}\n");
    // Empty mapping: neither kind by its keys.
    let told = lint_now(std::slice::from_ref(&p), &LintOptions::default());
    assert!(told[0].message.contains("cannot tell"), "{told:?}");
    let forced = lint_now(
        std::slice::from_ref(&p),
        &LintOptions {
            kind: Some(FileKind::Policy),
            online: None,
            keycloak_realm: None,
        },
    );
    assert_eq!(forced.len(), 1);
    assert!(forced[0].message.contains("no permission grants 22 rpc(s)"));
    let as_config = lint_now(
        &[p],
        &LintOptions {
            kind: Some(FileKind::Config),
            online: None,
            keycloak_realm: None,
        },
    );
    assert!(
        as_config.iter().any(|d| d.message.contains("realms")),
        "{as_config:?}"
    );
}

#[test]
fn non_utf8_files_are_findings_not_crashes() {
    let s = Scratch::new();
    let p = s.0.join("bin.yaml");
    std::fs::write(&p, [b'a', b':', b' ', 0xff, 0xfe, b'\n']).unwrap();
    let found = lint_now(&[p], &LintOptions::default());
    assert_eq!(found.len(), 1);
    assert!(found[0].message.contains("not UTF-8"));
}

// ---- --online ----

fn online(timeout_ms: u64) -> LintOptions {
    LintOptions {
        kind: None,
        online: Some(Duration::from_millis(timeout_ms)),
        keycloak_realm: None,
    }
}

fn config_for(s: &Scratch, issuer: &str) -> PathBuf {
    s.write("default.yaml", &crate::util::default_policy());
    s.write(
        "config.yaml",
        &format!(
            "realms:\n  - name: camunda\n    issuer: {issuer}\n    audiences: [zeebe-api]\n    hosts: ['*']\n    policy: default.yaml\n"
        ),
    )
}

#[tokio::test]
async fn online_accepts_a_live_issuer_and_reports_wrong_or_dead_ones() {
    let key = SigningKey::generate("k1").unwrap();
    let keycloak = keycloak(&[&key]).await;
    let s = Scratch::new();

    let config = config_for(&s, &keycloak.issuer);
    let found = lint::lint_files(std::slice::from_ref(&config), &online(2000))
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:#?}");
    // Offline, nothing is fetched.
    assert!(
        lint::lint_files(std::slice::from_ref(&config), &LintOptions::default())
            .await
            .unwrap()
            .is_empty()
    );

    // A realm that does not exist: discovery answers 404.
    let wrong = keycloak.issuer.replace("/realms/camunda", "/realms/nope");
    let config = config_for(&s, &wrong);
    let found = lint::lint_files(&[config], &online(2000)).await.unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].key.as_str(), found[0].span.line),
        ("realms[0].issuer", 3)
    );
    assert!(found[0].message.contains("HTTP 404"), "{}", found[0]);

    // The issuer goes away: its port is closed.
    let issuer = keycloak.issuer.clone();
    keycloak.stop().await;
    let config = config_for(&s, &issuer);
    let found = lint::lint_files(&[config], &online(2000)).await.unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].severity, Severity::Error);
    assert!(
        found[0].message.starts_with("issuer unreachable"),
        "{}",
        found[0]
    );
}

#[tokio::test]
async fn online_times_out_on_an_issuer_that_never_answers() {
    // Accepts connections (the kernel does) but never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/realms/camunda", silent.local_addr().unwrap());
    let s = Scratch::new();
    let config = config_for(&s, &issuer);
    let started = std::time::Instant::now();
    let found = lint::lint_files(&[config], &online(300)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].message.contains("issuer unreachable"),
        "{}",
        found[0]
    );
    drop(silent);
}

#[tokio::test]
async fn online_reports_an_issuer_whose_discovery_names_another_issuer() {
    let key = SigningKey::generate("k1").unwrap();
    let keycloak = keycloak(&[&key]).await;
    let s = Scratch::new();
    // A second server whose discovery names the first one's issuer (a proxy in front of
    // Keycloak without its frontend URL set looks like this).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let other = keycloak_on(listener, keycloak.issuer.clone(), &[&key]);
    let config = config_for(&s, &format!("http://{addr}/realms/camunda"));
    let found = lint::lint_files(&[config], &online(2000)).await.unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].message.contains("names issuer"), "{}", found[0]);
    other.stop().await;
    keycloak.stop().await;
}

#[tokio::test]
async fn online_fetches_as_serve_does_exact_issuer_and_no_discovery_with_a_jwks_uri() {
    let key = SigningKey::generate("k1").unwrap();
    let keycloak = keycloak(&[&key]).await;
    let s = Scratch::new();
    // Discovery names the issuer with a trailing '/': serve compares exactly and would refuse
    // the realm's keys, so lint must report it (it used to trim the '/').
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = format!("http://{addr}/realms/camunda");
    let slashed = keycloak_on(listener, format!("{issuer}/"), &[&key]);
    let found = lint::lint_files(&[config_for(&s, &issuer)], &online(2000))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].message.contains("names issuer"), "{}", found[0]);
    slashed.stop().await;

    // An explicit jwks_uri: serve never asks the issuer for discovery, so lint does not either
    // (the issuer's host is down here; its keys are served elsewhere).
    let dead = format!("http://{addr}/realms/camunda");
    let config = s.write(
        "with-jwks-uri.yaml",
        &format!(
            "realms:\n  - name: camunda\n    issuer: {dead}\n    jwks_uri: {}/protocol/openid-connect/certs\n    audiences: [zeebe-api]\n    hosts: ['*']\n    policy: default.yaml\n",
            keycloak.issuer
        ),
    );
    let found = lint::lint_files(&[config], &online(2000)).await.unwrap();
    assert!(found.is_empty(), "{found:#?}");
    keycloak.stop().await;
}

// ---- no panic on any input ----

fn lint_text(text: &str) {
    let file: Arc<Path> = Arc::from(Path::new("/nonexistent/zeebe-authz-fuzz/input.yaml"));
    for kind in [None, Some(FileKind::Policy), Some(FileKind::Config)] {
        let linted = lint::lint_source(&file, text, kind);
        for d in &linted.diagnostics {
            // Every finding renders.
            let _ = d.to_string();
        }
    }
}

/// Fragments that make random text look like our YAML, so the fuzzing gets past the parser.
const FRAGMENTS: &[&str] = &[
    "grants:",
    "groups:",
    "realms:",
    "rpc_named_permissions: true",
    "- permission: ",
    "rpcs: ",
    "when:",
    "tenant: ",
    "held",
    "job_type: ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "*",
    "- ",
    "  ",
    "\n",
    ":",
    "Topology",
    "Topolgy",
    "write:*",
    "<default>",
    "payment*",
    "jobs",
    "issuer: ",
    "hosts: ",
    "audiences: ",
    "policy: ",
    "&a ",
    "*a",
    "!!str ",
    "? ",
    "|",
    ">",
    "#",
    "~",
    "null",
    "1e9",
    "-1",
    "unknown_rpcs: authenticated",
    "other_paths: deny",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn lint_never_panics_on_random_text(text in "\\PC{0,200}") {
        lint_text(&text);
    }

    #[test]
    fn lint_never_panics_on_yaml_shaped_text(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..60)) {
        let text: String = parts.iter().map(|&i| FRAGMENTS[i]).collect();
        lint_text(&text);
    }

    #[test]
    fn lint_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let s = Scratch::new();
        let p = s.0.join("bytes.yaml");
        std::fs::write(&p, &bytes).unwrap();
        let found = lint_now(&[p], &LintOptions::default());
        // Only valid UTF-8 YAML that compiles clean lints clean.
        prop_assert!(found.iter().all(|d| !d.message.is_empty()));
    }
}
