//! `zeebe-authz lint --keycloak-realm EXPORT.json` on the realm the e2e suite runs in the real
//! Keycloak: tests/e2e/keycloak/camunda-platform-realm.json is a `kc.sh export` of it (the
//! e2e test `test_lint_against_the_live_export` lints a fresh one too). Each check, clean and
//! failing; the partial export (no users) of the admin console.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use zeebe_authz::diag::{Diagnostic, Severity};
use zeebe_authz::lint::{self, LintOptions};

use crate::util::Scratch;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const EXPORT: &str = "tests/e2e/keycloak/camunda-platform-realm.json";
const ISSUER: &str = "http://127.0.0.1:8080/realms/camunda-platform";

fn export() -> PathBuf {
    PathBuf::from(ROOT).join(EXPORT)
}

fn config(s: &Scratch, issuer: &str, policy: &str, extra: &str) -> PathBuf {
    let policy = s.write("policy.yaml", policy);
    s.write(
        "config.yaml",
        &format!(
            "realms:\n  - name: camunda\n    issuer: {issuer}\n    audiences: [zeebe-api]\n    hosts: ['*']\n    policy: {}\n{extra}",
            policy.display()
        ),
    )
}

fn dev_policy() -> String {
    std::fs::read_to_string(PathBuf::from(ROOT).join("policies/dev.yaml")).unwrap()
}

fn default_policy() -> String {
    std::fs::read_to_string(PathBuf::from(ROOT).join("policies/default.yaml")).unwrap()
}

const TENANTS: &str = "    tenants_claim: tenants\n    tenants_prefix: /tenants/\n";

fn check(config: PathBuf, export: PathBuf) -> Vec<Diagnostic> {
    let options = LintOptions {
        keycloak_realm: Some(export),
        ..LintOptions::default()
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(lint::lint_files(&[config], &options))
        .unwrap()
}

fn show(found: &[Diagnostic]) -> String {
    found.iter().map(|d| format!("{d}\n")).collect()
}

/// The export with `edit` applied, written to the scratch folder.
fn edited(s: &Scratch, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(export()).unwrap()).unwrap();
    edit(&mut v);
    s.write("export.json", &serde_json::to_string_pretty(&v).unwrap())
}

#[test]
fn the_suites_config_is_clean_against_the_suites_realm() {
    let s = Scratch::new();
    let found = check(config(&s, ISSUER, &dev_policy(), TENANTS), export());
    assert!(found.is_empty(), "{}", show(&found));
}

#[test]
fn clients_with_a_token_that_match_no_grant_are_notes_at_their_line_in_the_export() {
    let s = Scratch::new();
    let found = check(config(&s, ISSUER, &default_policy(), ""), export());
    let notes: Vec<&str> = found.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        notes,
        ["clients['zeebe-tenant']", "clients['zeebe-worker']"],
        "{}",
        show(&found)
    );
    assert!(found.iter().all(|d| d.severity == Severity::Note));
    let text = std::fs::read_to_string(export()).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("\"clientId\" : \"zeebe-tenant\""))
        .unwrap() as u64
        + 1;
    assert_eq!(found[0].span.line, line);
    assert!(
        found[0].message.contains("matches no grant"),
        "{}",
        found[0]
    );
}

#[test]
fn an_issuer_of_another_realm_is_an_error() {
    let s = Scratch::new();
    let found = check(
        config(
            &s,
            "http://127.0.0.1:8080/auth/realms/other",
            &dev_policy(),
            TENANTS,
        ),
        export(),
    );
    assert_eq!(found.len(), 1, "{}", show(&found));
    assert_eq!(found[0].severity, Severity::Error);
    assert_eq!(found[0].key, "realms[0].issuer");
    assert!(
        found[0]
            .message
            .contains("not of the exported realm 'camunda-platform'")
    );
    assert_eq!(found[0].span.line, 3, "at the issuer");
}

#[test]
fn an_audience_no_client_gets_and_a_claim_no_mapper_writes() {
    let s = Scratch::new();
    let cfg = config(&s, ISSUER, &dev_policy(), "    tenants_claim: tenant_ids\n");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[zeebe-api]", "[operate-api]");
    let cfg = s.write(
        "config.yaml",
        &format!("{text}    permissions_claim: permissions.zeebe-api\n"),
    );
    let found = check(cfg, export());
    let got: Vec<(Severity, &str)> = found.iter().map(|d| (d.severity, d.key.as_str())).collect();
    assert_eq!(
        got,
        [
            (Severity::Error, "realms[0].audiences"),
            (Severity::Warning, "realms[0].tenants_claim")
        ],
        "{}",
        show(&found)
    );
    assert!(
        found[0]
            .message
            .contains("gets 'operate-api' into its tokens' aud")
    );
    assert!(found[1].message.contains("writes the claim 'tenant_ids'"));
}

#[test]
fn a_permission_no_one_holds_is_a_grant_no_token_can_use() {
    let s = Scratch::new();
    let policy = format!(
        "{}\n",
        dev_policy().replace(
            "unknown_rpcs: deny",
            "  - permission: \"admin:*\"\n    rpcs: [\"*\"]\nunknown_rpcs: deny"
        )
    );
    // And zeebe-tenant loses its roles: tenant:write exists but no one holds it.
    let export = edited(&s, |v| {
        for user in v["users"].as_array_mut().unwrap() {
            if user["serviceAccountClientId"] == "zeebe-tenant" {
                user["clientRoles"] = Value::Object(Default::default());
            }
        }
    });
    let found = check(config(&s, ISSUER, &policy, TENANTS), export);
    let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(found.len(), 2, "{}", show(&found));
    assert!(
        found
            .iter()
            .all(|d| d.severity == Severity::Warning && d.key == "permission")
    );
    assert!(messages[0].contains("no client or user of realm 'camunda-platform' holds 'tenant:write' (a role of client 'zeebe-api')"), "{messages:?}");
    assert!(
        messages[1].contains("realm 'camunda-platform' has no role 'admin:*'"),
        "{messages:?}"
    );
}

#[test]
fn the_dialect_claims_and_owners_are_checked() {
    let s = Scratch::new();
    let policy = "identity:\n  username_claim: preferred_username\n  client_id_claim: client_id\n  groups_claim: groups\n  roles_claim: team_roles\nmapping_rules:\n  - {id: payers, claim: groups, value: payments}\nauthorizations:\n  - {owner: {client: zeebe-writer}, resource_type: PROCESS_DEFINITION, resource_ids: ['*'], permissions: [CREATE_PROCESS_INSTANCE]}\n  - {owner: {group: payments}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n  - {owner: {client: ghost}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n  - {owner: {mapping_rule: payers}, resource_type: x-RPC, resource_ids: [Topology], permissions: [x-CALL]}\n";
    let found: Vec<Diagnostic> = check(config(&s, ISSUER, policy, ""), export())
        .into_iter()
        .filter(|d| d.severity != Severity::Note)
        .collect();
    let got: Vec<(&str, bool)> = found
        .iter()
        .map(|d| {
            (
                d.key.as_str(),
                d.message.contains("team_roles") || d.message.contains("'ghost'"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("identity.roles_claim", true), ("owner", true)],
        "{}",
        show(&found)
    );
}

#[test]
fn a_partial_export_without_users_checks_what_it_can() {
    let s = Scratch::new();
    let export = edited(&s, |v| {
        v.as_object_mut().unwrap().remove("users");
    });
    let found = check(config(&s, ISSUER, &dev_policy(), TENANTS), export);
    assert_eq!(found.len(), 1, "{}", show(&found));
    assert_eq!(
        (found[0].severity, found[0].key.as_str()),
        (Severity::Note, "users")
    );
}

#[test]
fn the_binary_takes_the_flag_and_exits_by_findings() {
    let s = Scratch::new();
    let clean = config(&s, ISSUER, &dev_policy(), TENANTS);
    let run = |cfg: &PathBuf| {
        Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
            .args(["lint", "--keycloak-realm", EXPORT])
            .arg(cfg)
            .current_dir(ROOT)
            .output()
            .unwrap()
    };
    let done = run(&clean);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let wrong = config(
        &s,
        "http://127.0.0.1:8080/realms/nope",
        &dev_policy(),
        TENANTS,
    );
    let done = run(&wrong);
    assert_eq!(done.status.code(), Some(1));
    let out = String::from_utf8_lossy(&done.stdout);
    assert!(
        out.contains(":3:") && out.contains("error: realms[0].issuer"),
        "{out}"
    );
}
