//! `zeebe-authz bench load`: short runs bounded by request count against the in-process
//! authorizer, the allow-all server and an external target, checking that the tool counts
//! what the server decided (allowed, UNAUTHENTICATED, PERMISSION_DENIED) and how many JWKS
//! fetches a run caused. No timing assertions: the figures themselves are BENCHMARKS.md's.

use clap::Parser as _;
use zeebe_authz::bench::report::LoadReport;
use zeebe_authz::bench::target::InProcess;
use zeebe_authz::bench::{self, BenchArgs, BenchCommand};
use zeebe_authz::cli::{Cli, Command};

/// Runs `zeebe-authz bench load <args>` in this process (on the bench's own runtimes).
fn load(args: &[&str]) -> LoadReport {
    load_under(bench::default_policy().unwrap(), args)
}

/// The same, the in-process authorizer running `policies/<name>`.
fn load_with_policy(name: &str, args: &[&str]) -> LoadReport {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(name);
    let mut diags = zeebe_authz_core::diag::Diagnostics::default();
    let policy = zeebe_authz_server::disk::compile_policy_file(&path, &mut diags)
        .expect("the policy compiles");
    load_under(std::sync::Arc::new(policy), args)
}

fn load_under(
    policy: std::sync::Arc<zeebe_authz_core::policy::Policy>,
    args: &[&str],
) -> LoadReport {
    let argv = ["zeebe-authz", "bench", "load", "--client-threads", "1"]
        .iter()
        .chain(args);
    let cli = Cli::try_parse_from(argv).expect("valid bench arguments");
    let Command::Bench(BenchArgs {
        command: BenchCommand::Load(args),
    }) = cli.command
    else {
        panic!("parsed as another command");
    };
    bench::load(&args, policy).expect("the bench run succeeds")
}

fn decisions(report: &LoadReport) -> Vec<(&str, u64)> {
    report
        .decisions
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect()
}

#[test]
fn hot_token_mixed_rpcs_are_all_allowed() {
    let r = load(&[
        "--requests",
        "200",
        "--concurrency",
        "8",
        "--rpc",
        "mixed",
        "--warmup",
        "0ms",
        "--server-threads",
        "1",
    ]);
    assert_eq!(r.requests, 200);
    assert_eq!(decisions(&r), [("OK", 200)]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.jwks_fetches, Some(0), "keys were loaded before readiness");
    assert_eq!(r.transport, "check");
}

#[test]
fn invalid_signatures_are_counted_unauthenticated() {
    let r = load(&[
        "--tokens",
        "invalid",
        "--requests",
        "100",
        "--concurrency",
        "4",
        "--server-threads",
        "1",
    ]);
    assert_eq!(decisions(&r), [("UNAUTHENTICATED", 100)]);
}

#[test]
fn missing_permission_is_counted_permission_denied() {
    let r = load(&[
        "--permissions",
        "read:*",
        "--rpc",
        "create-process-instance",
        "--requests",
        "50",
        "--concurrency",
        "4",
        "--warmup",
        "0ms",
        "--server-threads",
        "1",
    ]);
    assert_eq!(decisions(&r), [("PERMISSION_DENIED", 50)]);
}

#[test]
fn body_aware_requests_reach_the_tenant_condition() {
    let tenant_run = |tenant: &str| {
        load_with_policy(
            "dev.yaml",
            &[
                "--permissions",
                "tenant:write",
                "--token-tenants",
                "tenant-a",
                "--rpc",
                "create-process-instance",
                "--tenant",
                tenant,
                "--requests",
                "30",
                "--concurrency",
                "3",
                "--warmup",
                "0ms",
                "--server-threads",
                "1",
            ],
        )
    };
    assert_eq!(decisions(&tenant_run("tenant-a")), [("OK", 30)]);
    assert_eq!(
        decisions(&tenant_run("tenant-b")),
        [("PERMISSION_DENIED", 30)]
    );
}

#[test]
fn distinct_tokens_are_each_sent_once_and_allowed() {
    let r = load(&["--tokens", "distinct:40", "--concurrency", "4"]);
    assert_eq!(r.requests, 40, "distinct:N defaults to N requests");
    assert_eq!(decisions(&r), [("OK", 40)]);
    assert!(r.mint_secs > 0.0);
}

#[test]
fn unknown_kid_flood_of_200_concurrent_checks_fetches_at_most_once_a_second() {
    // 200 in flight: below the 256 Checks that may wait for keys at once (more would be told
    // to retry, see the check tests).
    let r = load(&[
        "--tokens",
        "unknown-kid",
        "--requests",
        "1000",
        "--concurrency",
        "200",
        "--connections",
        "8",
    ]);
    assert_eq!(decisions(&r), [("UNAUTHENTICATED", 1000)]);
    // Each Check waits for a fetch that started after it arrived (so a rotated key is never
    // refused): the Checks that arrive while the first fetch runs share the next one, a
    // cooldown (1 s) later; once a fetch proved the kid unknown, the rest are refused at once.
    // Keycloak sees at most one fetch a second, plus the first.
    let fetches = r.jwks_fetches.expect("in-process server counts fetches");
    let allowed = 1 + r.elapsed_secs.floor() as u64;
    assert!(
        (1..=allowed).contains(&fetches),
        "{fetches} fetches in {:.2} s",
        r.elapsed_secs
    );
}

#[test]
fn direct_calls_need_no_grpc() {
    let r = load(&["--direct", "--requests", "100", "--warmup", "0ms"]);
    assert_eq!(r.transport, "direct");
    assert_eq!(decisions(&r), [("OK", 100)]);
}

#[test]
fn open_loop_sends_exactly_the_requests_due_in_its_duration() {
    // 200/s for 500 ms: requests 0..=99 are due before the end, whatever the machine's speed.
    let r = load(&[
        "--rate",
        "200",
        "--duration",
        "500ms",
        "--warmup",
        "0ms",
        "--concurrency",
        "8",
        "--server-threads",
        "1",
    ]);
    assert_eq!(r.pacing, "open");
    assert_eq!(decisions(&r), [("OK", 100)]);
}

#[test]
fn allow_all_server_allows_even_invalid_tokens_as_an_external_target() {
    let logs = tracing::Dispatch::none();
    let server = InProcess::start_allow_all(1, &logs).unwrap();
    let addr = server.check_addr.to_string();
    let r = load(&[
        "--target",
        &addr,
        "--tokens",
        "invalid",
        "--requests",
        "100",
        "--concurrency",
        "4",
    ]);
    server.shutdown().unwrap();
    assert_eq!(decisions(&r), [("OK", 100)]);
    assert_eq!(r.target, addr);
    assert_eq!(
        r.jwks_fetches, None,
        "an external target's fetches are not seen"
    );
}

#[test]
fn gateway_calls_are_counted_by_their_grpc_status() {
    // The allow-all server serves only the Check API: a Zeebe call to it is UNIMPLEMENTED,
    // which the gateway transport must report as that status, with the server's message.
    let logs = tracing::Dispatch::none();
    let server = InProcess::start_allow_all(1, &logs).unwrap();
    let addr = server.check_addr.to_string();
    let r = load(&[
        "--gateway",
        &addr,
        "--rpc",
        "mixed",
        "--requests",
        "40",
        "--concurrency",
        "4",
    ]);
    server.shutdown().unwrap();
    assert_eq!(r.transport, "gateway");
    assert_eq!(decisions(&r), [("UNIMPLEMENTED", 40)]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}
