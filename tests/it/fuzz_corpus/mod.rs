//! The fuzz corpora on stable: every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` goes through the same function the fuzz target runs
//! (`fuzz/harness/mod.rs`), so `cargo test` keeps every seed and every past crash passing without
//! nightly or cargo-fuzz. A missing or empty corpus folder fails: a replay of nothing proves
//! nothing.
//!
//! `every_seed_is_committed` checks (or, with `ZEEBE_AUTHZ_WRITE_SEEDS=1`, rewrites) the hand-made
//! seeds; see `fuzz/README.md`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use prost::Message as _;
use serde_json::json;
use zeebe_authz_core::body::frame;
use zeebe_authz_core::catalog::Rpc;
use zeebe_authz_core::proto;
use zeebe_authz_core::signing::{SigningKey, access_token_claims};

#[path = "../../../fuzz/harness/mod.rs"]
mod harness;

use harness::{Call, MessageChoice};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Replays one target's corpus and regressions; fails listing every file that fails.
fn replay(target: &str) {
    let (_, run) = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target of the harness");
    let corpus = fuzz_dir().join("corpus").join(target);
    let mut files =
        read_dir(&corpus).unwrap_or_else(|e| panic!("corpus {} is missing: {e}", corpus.display()));
    assert!(!files.is_empty(), "corpus {} is empty", corpus.display());
    let regressions = fuzz_dir().join("regressions").join(target);
    if regressions.exists() {
        files.extend(read_dir(&regressions).unwrap());
    }
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(&data))) {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{}: {why}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

fn read_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.is_file());
    files.sort();
    Ok(files)
}

#[test]
fn token() {
    replay("token");
}

#[test]
fn body() {
    replay("body");
}

#[test]
fn policy() {
    replay("policy");
}

#[test]
fn config() {
    replay("config");
}

#[test]
fn jwks() {
    replay("jwks");
}

#[test]
fn check() {
    replay("check");
}

#[test]
fn json() {
    replay("json");
}

#[test]
fn multipart() {
    replay("multipart");
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for (name, _) in harness::TARGETS {
        let file = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(text.contains(&format!("harness::{name}(data)")), "{text}");
    }
}

/// The oracles' field table is written from the proto; the catalog is generated from it.
#[test]
fn harness_fields_match_the_catalog() {
    let disagreeing = harness::fields_disagreeing_with_the_catalog();
    assert!(disagreeing.is_empty(), "{disagreeing:#?}");
}

/// The REST seeds of the `check` target decide as their names say (`-denied`: a deny), so
/// the REST oracle judges allows, not only denies.
#[test]
fn rest_check_seeds_decide_as_named() {
    let mut allowed = 0;
    for (name, calls) in check_seeds()
        .into_iter()
        .filter(|(n, _)| n.starts_with("rest-"))
    {
        let answers = harness::check_responses(&Call::encode_all(&calls));
        assert_eq!(answers.len(), calls.len(), "{name}");
        for (_, response) in answers {
            let allow = response.status.as_ref().map(|s| s.code) == Some(0);
            let want = !name.ends_with("-denied") && !name.contains("crafted");
            assert_eq!(allow, want, "{name}: {response:?}");
            allowed += usize::from(allow);
        }
    }
    assert!(allowed >= 5, "{allowed}");
}

/// The deployments of the `multipart` corpus are read, by the reader and by the model of the
/// gateway alike: the oracle compares values, not only refusals.
#[test]
fn multipart_seeds_are_read_by_the_reader_and_the_model() {
    for (name, want) in [
        ("deploy-tenant-a", Some("tenant-a")),
        ("deploy-no-tenant", None),
        ("deploy-it-boundary-b", Some("tenant-b")),
        ("deploy-curl-two-resources", Some("tenant-a")),
        ("deploy-quoted-boundary", Some("<default>")),
        ("deploy-empty-tenant", Some("")),
    ] {
        let data = std::fs::read(fuzz_dir().join("corpus/multipart").join(name)).unwrap();
        let (ct, body) = harness::multipart_input(&data).unwrap();
        let read = zeebe_authz_core::multipart::read_part(body, &ct, "tenantId");
        assert_eq!(read, Ok(want), "{name}");
        let bound = harness::gateway_tenant(body, &ct);
        assert_eq!(
            bound,
            harness::Bound::Tenant(want.map(String::from)),
            "{name}"
        );
    }
}

#[test]
fn check_calls_round_trip() {
    let calls = [
        call("WRITE", "Topology"),
        Call {
            text: b"text".to_vec(),
            ..call("TENANT", "ActivateJobs")
        },
    ];
    let bytes = Call::encode_all(&calls);
    assert_eq!(Call::decode_all(&bytes), calls);
    assert_eq!(Call::decode_all(&[]), []);
}

mod seeds;

use seeds::*;

/// Every seed this file makes is committed under its name (their bytes differ between runs:
/// keys are generated anew). With `ZEEBE_AUTHZ_WRITE_SEEDS=1` it (re)writes them instead;
/// files of other names are left alone.
#[test]
fn every_seed_is_committed() {
    let owned = |seeds: Vec<(&str, Vec<u8>)>| -> Seeds {
        seeds.into_iter().map(|(n, d)| (n.to_string(), d)).collect()
    };
    let lint_data = copies("tests/data/lint", "yaml");
    let mut policy = copies("policies", "yaml");
    policy.extend(lint_data.clone());
    let mut config = copies("examples", "yaml");
    config.push(("full.yaml".into(), FULL_CONFIG.as_bytes().to_vec()));
    config.extend(lint_data);
    let check = check_seeds()
        .into_iter()
        .map(|(n, calls)| (n.to_string(), Call::encode_all(&calls)))
        .collect();
    let targets: Vec<(&str, Seeds)> = vec![
        ("token", owned(token_seeds())),
        ("body", owned(body_seeds())),
        ("policy", policy),
        ("config", config),
        ("jwks", owned(jwks_seeds())),
        ("check", check),
    ];
    let write = std::env::var_os("ZEEBE_AUTHZ_WRITE_SEEDS").is_some_and(|v| v == "1");
    let mut missing = Vec::new();
    for (target, seeds) in targets {
        let dir = fuzz_dir().join("corpus").join(target);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
        }
        for (name, data) in seeds {
            let path = dir.join(&name);
            if write {
                std::fs::write(&path, data).unwrap();
            } else if !path.is_file() {
                missing.push(format!("{target}/{name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "seeds not committed (run ZEEBE_AUTHZ_WRITE_SEEDS=1 cargo test --test it fuzz_corpus::every_seed_is_committed): {missing:?}"
    );
}
