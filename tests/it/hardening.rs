//! Regression tests of the third hardening round (issue 21), each named after the defect it
//! pins: a withdrawn key, a wrapping `exp`, IPv6 spellings, a cache bounded by entries, token
//! types, rpcs the engine was trusted to decide, descriptor exhaustion and idle connections.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use prost::Message as _;
use serde_json::json;
use zeebe_authz_core::body::frame;
use zeebe_authz_core::proto;
use zeebe_authz_core::signing::SigningKey;

use crate::util::*;

const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const UNAUTHENTICATED: i32 = 16;
const UNAVAILABLE: i32 = 14;

/// [`one_realm_config`] with `lines` added to the realm (each a `key: value` line).
fn realm_config_with(issuer: &str, lines: &[&str]) -> String {
    let base = one_realm_config(issuer);
    let extra: String = lines.iter().map(|l| format!("    {l}\n")).collect();
    base.replacen(
        "    policy: default.yaml\n",
        &format!("    policy: default.yaml\n{extra}"),
        1,
    )
}

async fn start(config: &str, policy: &str) -> Authz {
    let authz = Authz::start(config, policy).await;
    authz.wait_ready().await;
    authz
}

#[tokio::test]
async fn withdrawn_key_ends_cached_tokens_at_the_next_check() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let authz = start(&one_realm_config(&kc.issuer), &default_policy()).await;
    let old = token(&key, &kc.issuer, &["read:*"]);
    assert_eq!(code(&authz.topology(&old).await), OK);
    assert_eq!(code(&authz.topology(&old).await), OK, "cached");
    // Keycloak withdraws kc-1; a token of the new key makes the authorizer fetch the keys.
    let rotated = SigningKey::generate("kc-2").unwrap();
    kc.publish(&[&rotated]);
    let new = token(&rotated, &kc.issuer, &["read:*"]);
    assert_eq!(code(&authz.topology(&new).await), OK);
    // A never-seen kc-1 token is refused: so must the cached one be, at once.
    let fresh_old = token(&key, &kc.issuer, &["read:*"]);
    let r = authz.topology(&fresh_old).await;
    assert_eq!(code(&r), UNAUTHENTICATED, "{}", message(&r));
    let r = authz.topology(&old).await;
    assert_eq!(
        code(&r),
        UNAUTHENTICATED,
        "a cached token outlived its withdrawn key: {}",
        message(&r)
    );
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn rotation_with_the_old_key_kept_listed_evicts_no_cached_token() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let authz = start(&one_realm_config(&kc.issuer), &default_policy()).await;
    let old = token(&key, &kc.issuer, &["read:*"]);
    assert_eq!(code(&authz.topology(&old).await), OK);
    let rotated = SigningKey::generate("kc-2").unwrap();
    kc.publish(&[&key, &rotated]);
    let fetches = kc.jwks_fetches();
    assert_eq!(
        code(
            &authz
                .topology(&token(&rotated, &kc.issuer, &["read:*"]))
                .await
        ),
        OK
    );
    assert_eq!(kc.jwks_fetches(), fetches + 1, "the new kid was fetched");
    let hits = authz.metric("zeebe_authz_token_cache_hits_total").await;
    assert_eq!(code(&authz.topology(&old).await), OK);
    assert_eq!(
        authz.metric("zeebe_authz_token_cache_hits_total").await,
        hits + 1.0,
        "the old token is still a cache hit"
    );
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn exp_plus_leeway_does_not_wrap_and_far_exp_is_cached() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let authz = start(&one_realm_config(&kc.issuer), &default_policy()).await;
    for exp in [json!(u64::MAX), json!(u64::MAX - 1), json!(1e300)] {
        let t = token_with(&key, &kc.issuer, &["read:*"], |c| c["exp"] = exp.clone());
        let misses = authz.metric("zeebe_authz_token_cache_misses_total").await;
        for _ in 0..3 {
            let r = authz.topology(&t).await;
            assert_eq!(code(&r), OK, "exp {exp}: {}", message(&r));
        }
        assert_eq!(
            authz.metric("zeebe_authz_token_cache_misses_total").await,
            misses + 1.0,
            "exp {exp}: verified once, then cached"
        );
    }
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn ipv6_literal_spellings_reach_the_realm_of_the_canonical_form() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    // The v6 realm is configured in a long spelling, the catch-all refuses everything.
    let config = format!(
        "listen:\n  check: 127.0.0.1:0\n  admin: 127.0.0.1:0\nrealms:\n  - name: v6\n    issuer: {iss}\n    audiences: [{AUDIENCE}]\n    hosts: ['[FD00:0:0::1]', '[::ffff:10.0.0.1]:26500']\n    policy: default.yaml\n  - name: other\n    issuer: {iss}\n    audiences: [{AUDIENCE}]\n    hosts: ['*']\n    policy: none.yaml\n",
        iss = kc.issuer
    );
    let scratch = Scratch::new();
    scratch.write("default.yaml", &default_policy());
    scratch.write("none.yaml", "grants: []\n");
    let path = scratch.write("config.yaml", &config);
    let authz = Authz::start_from(scratch, path, Default::default()).await;
    authz.wait_ready().await;
    let t = token(&key, &kc.issuer, &["read:*"]);
    for host in [
        "[fd00::1]",
        "[fd00:0:0:0:0:0:0:1]",
        "[FD00::0001]:26500",
        "[fd00:0::0:1].",
        "[::ffff:10.0.0.1]:26500",
        "[::FFFF:a00:1]:26500",
    ] {
        let r = authz.call(host, &rpc("Topology"), Some(&t)).await;
        assert_eq!(code(&r), OK, "{host}: {}", message(&r));
    }
    let r = authz.call("[fd00::2]", &rpc("Topology"), Some(&t)).await;
    assert_eq!(code(&r), PERMISSION_DENIED, "another address: the * realm");
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn token_cache_is_bounded_by_bytes_not_entries() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let mut config = realm_config_with(&kc.issuer, &["tenants_claim: tenants"]);
    config.push_str("token:\n  cache_max_bytes: 262144\n");
    let authz = start(&config, &default_policy()).await;
    // 300 tokens of ~6 KiB of tenants each: ~1.8 MiB of principals, 256 KiB allowed.
    let tenants: Vec<String> = (0..200).map(|i| format!("tenant-{i:025}")).collect();
    for i in 0..300 {
        let t = token_with(&key, &kc.issuer, &["read:*"], |c| {
            c["tenants"] = json!(tenants);
            c["jti"] = json!(format!("t{i}"));
        });
        assert_eq!(code(&authz.topology(&t).await), OK);
    }
    let bytes = authz.metric("zeebe_authz_token_cache_bytes ").await;
    let entries = authz.metric("zeebe_authz_token_cache_entries ").await;
    assert!(
        bytes > 100_000.0 && bytes <= 262_144.0,
        "cache weight {bytes} B, {entries} entries"
    );
    assert!(entries < 300.0, "{entries} entries of ~6 KiB kept");
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn non_access_token_types_are_refused() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let authz = start(&one_realm_config(&kc.issuer), &default_policy()).await;
    for typ in ["ID", "Refresh", "Logout", "Offline", "bearer-ish"] {
        let t = token_with(&key, &kc.issuer, &["read:*"], |c| c["typ"] = json!(typ));
        let r = authz.topology(&t).await;
        assert_eq!(code(&r), UNAUTHENTICATED, "typ {typ}: {}", message(&r));
        assert!(message(&r).contains("typ"), "{}", message(&r));
    }
    // An untyped token is refused too, unless the realm says its IdP types none.
    let untyped = token_with(&key, &kc.issuer, &["read:*"], |c| {
        c.as_object_mut().unwrap().remove("typ");
    });
    assert_eq!(code(&authz.topology(&untyped).await), UNAUTHENTICATED);
    // RFC 9068's header type is an access token's.
    let mut claims = zeebe_authz_core::signing::access_token_claims(
        &kc.issuer,
        AUDIENCE,
        "orders-worker",
        &["read:*"],
        300,
    );
    claims.as_object_mut().unwrap().remove("typ");
    let at_jwt = key
        .sign_with_header(
            &json!({"alg": "RS256", "kid": "kc-1", "typ": "at+jwt"}),
            &claims,
        )
        .unwrap();
    let r = authz.topology(&at_jwt).await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    authz.stop().await;

    let lenient = start(
        &realm_config_with(&kc.issuer, &["token_type: optional"]),
        &default_policy(),
    )
    .await;
    assert_eq!(code(&lenient.topology(&untyped).await), OK);
    let id = token_with(&key, &kc.issuer, &["read:*"], |c| c["typ"] = json!("ID"));
    assert_eq!(code(&lenient.topology(&id).await), UNAUTHENTICATED);
    lenient.stop().await;
    kc.stop().await;
}

/// A Check of `rpc_name` with `message` as its body, on a Zeebe host.
async fn ask(
    authz: &Authz,
    token: &str,
    rpc_name: &str,
    message: &[u8],
) -> envoy_types::ext_authz::v3::pb::CheckResponse {
    authz
        .check(check_request(
            "zeebe:26500",
            &rpc(rpc_name),
            Some(&format!("Bearer {token}")),
            &frame(message),
        ))
        .await
}

const DIALECT: &str = "identity:\n  username_claim: preferred_username\n  groups_claim: groups\nauthorizations:\n  - owner: {group: payments}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: [order-process]\n    permissions: [CREATE_PROCESS_INSTANCE, CANCEL_PROCESS_INSTANCE, UPDATE_PROCESS_INSTANCE]\n";

#[tokio::test]
async fn engine_off_key_only_rpcs_require_the_wildcard() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let t = token_with(&key, &kc.issuer, &[], |c| {
        c["preferred_username"] = json!("ann");
        c["groups"] = json!(["payments"]);
    });
    let signal = proto::BroadcastSignalRequest {
        signal_name: "start-anything".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let complete = proto::CompleteJobRequest {
        job_key: 1,
        ..Default::default()
    }
    .encode_to_vec();
    let cancel = proto::CancelProcessInstanceRequest {
        process_instance_key: 1,
        ..Default::default()
    }
    .encode_to_vec();
    let create = proto::CreateProcessInstanceRequest {
        bpmn_process_id: "order-process".into(),
        ..Default::default()
    }
    .encode_to_vec();
    // Default: the engine does not check, so what only it could decide needs `*`.
    let edge_only = start(&one_realm_config(&kc.issuer), DIALECT).await;
    for (name, body) in [
        ("BroadcastSignal", &signal),
        ("CompleteJob", &complete),
        ("CancelProcessInstance", &cancel),
    ] {
        let r = ask(&edge_only, &t, name, body).await;
        assert_eq!(code(&r), PERMISSION_DENIED, "{name}: {}", message(&r));
    }
    let r = ask(&edge_only, &t, "CreateProcessInstance", &create).await;
    assert_eq!(code(&r), OK, "the id is checked here: {}", message(&r));
    edge_only.stop().await;
    // With engine authorizations on, the engine decides those: the edge lets them through.
    let engine = start(
        &realm_config_with(&kc.issuer, &["engine_authorizations: true"]),
        DIALECT,
    )
    .await;
    for (name, body) in [
        ("BroadcastSignal", &signal),
        ("CompleteJob", &complete),
        ("CancelProcessInstance", &cancel),
    ] {
        let r = ask(&engine, &t, name, body).await;
        assert_eq!(code(&r), OK, "{name}: {}", message(&r));
    }
    engine.stop().await;
    kc.stop().await;
}

/// The CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name and state.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// `serve --dev` under a soft and hard `RLIMIT_NOFILE` of `nofile` (util-linux `prlimit`),
/// with `config` lines; killed on drop.
struct LimitedServer {
    child: std::process::Child,
    check_addr: String,
    token: String,
}

impl LimitedServer {
    fn start(nofile: u32, extra: &[&str]) -> LimitedServer {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("prlimit")
            .arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_zeebe-authz"))
            .args([
                "serve",
                "--dev",
                "--dev-check-addr",
                "127.0.0.1:0",
                "--dev-admin-addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prlimit (util-linux) runs the server");
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (mut check_addr, mut token) = (String::new(), String::new());
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("# zeebe-authz dev mode: ext_authz Check on ") {
                check_addr = rest.split(',').next().unwrap().to_string();
            }
            if let Some(v) = line.strip_prefix("export ZEEBE_AUTHZ_WRITE_TOKEN=") {
                token = v.to_string();
            }
            if line.starts_with("# Readiness") {
                break;
            }
        }
        assert!(!check_addr.is_empty() && !token.is_empty());
        LimitedServer {
            child,
            check_addr,
            token,
        }
    }

    /// A Topology Check on a new connection, within `timeout`.
    async fn answers_within(&self, timeout: Duration) -> bool {
        let addr = format!("http://{}", self.check_addr);
        let token = self.token.clone();
        let call = async move {
            let mut client =
                envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient::connect(addr)
                    .await
                    .ok()?;
            let r = client
                .check(check_request(
                    "h",
                    &rpc("Topology"),
                    Some(&format!("Bearer {token}")),
                    &[],
                ))
                .await
                .ok()?;
            Some(code(r.get_ref()) == OK)
        };
        tokio::time::timeout(timeout, call)
            .await
            .ok()
            .flatten()
            .unwrap_or(false)
    }
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_exhaustion_does_not_spin_a_core() {
    let server = LimitedServer::start(128, &[]);
    assert!(server.answers_within(Duration::from_secs(10)).await);
    // 200 idle connections: more than the process may open.
    let attackers: Vec<std::net::TcpStream> = (0..200)
        .filter_map(|_| std::net::TcpStream::connect(&server.check_addr).ok())
        .collect();
    assert!(attackers.len() >= 150, "{} connected", attackers.len());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.child.id();
    let before = cpu_seconds(pid);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_seconds(pid) - before;
    let share = used / started.elapsed().as_secs_f64();
    assert!(
        share < 0.05,
        "{used:.2} s CPU in 3 s with the descriptors exhausted"
    );
    // Once the attackers leave, a new connection is served.
    drop(attackers);
    assert!(
        server.answers_within(Duration::from_secs(5)).await,
        "no answer after the idle connections closed"
    );
}

/// Whether the server closed `stream` within `within` (a read that ends or fails).
fn closed_within(stream: &mut std::net::TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let mut config = one_realm_config(&kc.issuer);
    config.push_str("server:\n  header_timeout: 1s\n  idle_timeout: 2s\n");
    let authz = start(&config, &default_policy()).await;
    // Sends nothing at all.
    let mut silent = std::net::TcpStream::connect(authz.check_addr).unwrap();
    // Opens HTTP/2 (preface and SETTINGS) and never sends a request.
    let mut slow = std::net::TcpStream::connect(authz.check_addr).unwrap();
    slow.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let (silent_closed, slow_closed) = tokio::task::spawn_blocking(move || {
        (
            closed_within(&mut silent, Duration::from_secs(4)),
            closed_within(&mut slow, Duration::from_secs(4)),
        )
    })
    .await
    .unwrap();
    assert!(silent_closed, "a silent connection stayed open");
    assert!(slow_closed, "a connection with no request stayed open");
    // A client that made a call and keeps its connection idle is closed after idle_timeout,
    // and reconnects for its next call.
    let t = token(&key, &kc.issuer, &["read:*"]);
    assert_eq!(code(&authz.topology(&t).await), OK);
    // The close is the server's: wait until it has no connection left (under a loaded test
    // run a fixed sleep past idle_timeout was not always enough), then give the client's
    // connection task a moment to read the end of stream before the next call.
    let closed_by = Instant::now() + Duration::from_secs(10);
    while authz.metric("zeebe_authz_check_connections ").await > 0.0 {
        assert!(
            Instant::now() < closed_by,
            "the idle connection was not closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(code(&authz.topology(&t).await), OK);
    authz.stop().await;
    kc.stop().await;
}

/// An `https://` key source that redirects to `http://`: reqwest's default policy followed it,
/// so keys came over plain HTTP although the operator named an HTTPS source (and gave it a CA
/// bundle). The fetch must refuse the downgrade; an HTTPS→HTTPS redirect still works.
#[tokio::test]
async fn jwks_redirect_from_https_to_http_is_refused() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let plain_certs = format!("{}/protocol/openid-connect/certs", kc.issuer);
    let (tls_kc, tls_pem) = keycloak_tls(&[&key]).await;
    let tls_certs = format!("{}/protocol/openid-connect/certs", tls_kc.issuer);
    let to_plain = plain_certs.clone();
    let to_tls = tls_certs.clone();
    let app = axum::Router::new()
        .route(
            "/downgrade",
            axum::routing::get(
                move || async move { axum::response::Redirect::temporary(&to_plain) },
            ),
        )
        .route(
            "/same-scheme",
            axum::routing::get(move || async move { axum::response::Redirect::temporary(&to_tls) }),
        );
    let (addr, redirector_pem, redirector) = serve_tls(app).await;
    let scratch = Scratch::new();
    let ca = scratch.write("ca.pem", &format!("{redirector_pem}{tls_pem}"));
    let t = token(&key, &kc.issuer, &["read:*"]);

    let config = |path: &str| {
        realm_config_with(&kc.issuer, &[&format!("jwks_uri: https://{addr}{path}")])
            + &format!("  ca_bundle: {}\n", ca.display())
    };
    let downgraded = Authz::start(&config("/downgrade"), &default_policy()).await;
    let r = downgraded.topology(&t).await;
    assert_eq!(
        code(&r),
        UNAVAILABLE,
        "keys fetched over http after an https redirect: {}",
        message(&r)
    );
    assert_eq!(downgraded.admin("/readyz").await.0, 503);
    downgraded.stop().await;

    let followed = start(&config("/same-scheme"), &default_policy()).await;
    assert_eq!(code(&followed.topology(&t).await), OK);
    followed.stop().await;

    redirector.abort();
    tls_kc.stop().await;
    kc.stop().await;
}
