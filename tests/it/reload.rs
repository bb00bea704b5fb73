//! Operating safely: hot reload of config and policies, dry-run realms, decision ids in the
//! deny message and in Envoy's dynamic metadata.

use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{CheckResponse, HttpResponse};
use envoy_types::pb::google::protobuf::value::Kind;
use zeebe_authz_core::signing::SigningKey;

use crate::util::*;

const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const UNAUTHENTICATED: i32 = 16;
const RELOAD_EVERY: Duration = Duration::from_millis(100);
const GENERATION: &str = "zeebe_authz_config_generation ";
const RELOADS_OK: &str = "zeebe_authz_config_reloads_total{result=\"ok\"} ";
const RELOADS_FAILED: &str = "zeebe_authz_config_reloads_total{result=\"error\"} ";

/// A policy granting `permission` the rpc `Topology` only.
fn topology_for(permission: &str) -> String {
    format!("grants:\n  - permission: {permission}\n    rpcs: [Topology]\n")
}

fn meta(r: &CheckResponse, key: &str) -> Option<Kind> {
    r.dynamic_metadata.as_ref()?.fields.get(key)?.kind.clone()
}

fn text(s: &str) -> Option<Kind> {
    Some(Kind::StringValue(s.into()))
}

/// A Check of Topology with an `x-request-id`.
async fn topology_with_id(authz: &Authz, token: &str, id: &str) -> CheckResponse {
    let req = check_request(
        "zeebe:26500",
        &rpc("Topology"),
        Some(&format!("Bearer {token}")),
        &[],
    );
    authz.check(with_header(req, "x-request-id", id)).await
}

async fn setup(policy: &str) -> (Keycloak, SigningKey, Authz) {
    let key = SigningKey::generate("k1").unwrap();
    let kc = keycloak(&[&key]).await;
    let authz = Authz::start_reloading(&one_realm_config(&kc.issuer), policy, RELOAD_EVERY).await;
    authz.wait_ready().await;
    (kc, key, authz)
}

#[tokio::test]
async fn a_policy_rewrite_is_in_force_without_restart_and_cached_principals_follow_it() {
    let (kc, key, authz) = setup(&topology_for("alpha")).await;
    let beta = token(&key, &kc.issuer, &["beta"]);
    let alpha = token(&key, &kc.issuer, &["alpha"]);
    // Both tokens are verified and cached under the first policy.
    assert_eq!(code(&authz.topology(&beta).await), PERMISSION_DENIED);
    assert_eq!(code(&authz.topology(&alpha).await), OK);
    assert_eq!(authz.metric(GENERATION).await, 1.0);

    std::fs::write(authz.dir().join("default.yaml"), topology_for("beta")).unwrap();
    authz.wait_metric(GENERATION, 2.0).await;
    // The cached principals were distilled from the old policy: they must not decide now.
    assert_eq!(code(&authz.topology(&beta).await), OK);
    assert_eq!(code(&authz.topology(&alpha).await), PERMISSION_DENIED);

    std::fs::write(authz.dir().join("default.yaml"), topology_for("alpha")).unwrap();
    authz.wait_metric(GENERATION, 3.0).await;
    assert_eq!(code(&authz.topology(&beta).await), PERMISSION_DENIED);
    assert_eq!(code(&authz.topology(&alpha).await), OK);
    assert_eq!(authz.metric(RELOADS_OK).await, 2.0);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn a_broken_policy_keeps_the_last_good_one_until_it_is_fixed() {
    let (kc, key, authz) = setup(&topology_for("alpha")).await;
    let alpha = token(&key, &kc.issuer, &["alpha"]);
    let beta = token(&key, &kc.issuer, &["beta"]);
    for broken in [
        "grants:\n  - permission: beta\n    rpcs: [NoSuchRpc]\n",
        "grants: [",
        "grants: 7\n",
        // Caught half-written: an empty file is an error, not "refuse everything".
        "",
    ] {
        let failed = authz.metric(RELOADS_FAILED).await;
        std::fs::write(authz.dir().join("default.yaml"), broken).unwrap();
        authz.wait_metric(RELOADS_FAILED, failed + 1.0).await;
        assert_eq!(code(&authz.topology(&alpha).await), OK, "{broken:?}");
        assert_eq!(code(&authz.topology(&beta).await), PERMISSION_DENIED);
    }
    // The same broken contents are not compiled again and again.
    let failed = authz.metric(RELOADS_FAILED).await;
    tokio::time::sleep(RELOAD_EVERY * 5).await;
    assert_eq!(authz.metric(RELOADS_FAILED).await, failed);
    assert_eq!(authz.metric(GENERATION).await, 1.0);

    std::fs::write(authz.dir().join("default.yaml"), topology_for("beta")).unwrap();
    authz.wait_metric(GENERATION, 2.0).await;
    assert_eq!(code(&authz.topology(&beta).await), OK);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn a_configmap_update_by_symlink_swap_is_reloaded() {
    // Kubernetes mounts a ConfigMap as `<dir>/..data -> ..<timestamp>/` with each key a
    // symlink `<dir>/<key> -> ..data/<key>`, and updates it by swapping `..data`.
    let key = SigningKey::generate("k1").unwrap();
    let kc = keycloak(&[&key]).await;
    let scratch = Scratch::new();
    let version = |name: &str, policy: &str| {
        let dir = scratch.0.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("config.yaml"), one_realm_config(&kc.issuer)).unwrap();
        std::fs::write(dir.join("default.yaml"), policy).unwrap();
    };
    version("..v1", &topology_for("alpha"));
    std::os::unix::fs::symlink("..v1", scratch.0.join("..data")).unwrap();
    for file in ["config.yaml", "default.yaml"] {
        std::os::unix::fs::symlink(format!("..data/{file}"), scratch.0.join(file)).unwrap();
    }
    let path = scratch.0.join("config.yaml");
    let reload = zeebe_authz_server::reload::ReloadOptions {
        path: path.clone(),
        interval: Some(RELOAD_EVERY),
    };
    let authz = Authz::start_from(
        scratch,
        path,
        zeebe_authz_server::serve::ServeExtras::reloading(reload),
    )
    .await;
    authz.wait_ready().await;
    let beta = token(&key, &kc.issuer, &["beta"]);
    assert_eq!(code(&authz.topology(&beta).await), PERMISSION_DENIED);

    let dir = authz.dir().to_path_buf();
    let swap = |name: &str| {
        std::os::unix::fs::symlink(name, dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    };
    let new_version = |name: &str, policy: &str| {
        let d = dir.join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("config.yaml"), one_realm_config(&kc.issuer)).unwrap();
        std::fs::write(d.join("default.yaml"), policy).unwrap();
    };
    new_version("..v2", &topology_for("beta"));
    swap("..v2");
    std::fs::remove_dir_all(dir.join("..v1")).unwrap();
    authz.wait_metric(GENERATION, 2.0).await;
    assert_eq!(code(&authz.topology(&beta).await), OK);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn reloads_under_load_never_fail_a_check_and_each_sees_one_policy() {
    // Alternating policies while Checks run: every answer is OK or PERMISSION_DENIED as one of
    // the two policies says, never an error, and never one that neither policy gives.
    let (kc, key, authz) = setup(&topology_for("alpha")).await;
    let alpha = token(&key, &kc.issuer, &["alpha"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let alpha = alpha.clone();
        let authz = &authz;
        async move {
            let mut answers = std::collections::BTreeMap::<i32, u64>::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                *answers
                    .entry(code(&authz.topology(&alpha).await))
                    .or_default() += 1;
            }
            answers
        }
    };
    let reloads = async {
        for i in 0..20u32 {
            let permission = if i % 2 == 0 { "beta" } else { "alpha" };
            std::fs::write(authz.dir().join("default.yaml"), topology_for(permission)).unwrap();
            authz.wait_metric(GENERATION, f64::from(i + 2)).await;
            // Between reloads the policy in force decides.
            let expected = if permission == "alpha" {
                OK
            } else {
                PERMISSION_DENIED
            };
            assert_eq!(code(&authz.topology(&alpha).await), expected, "reload {i}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let (answers, ()) = tokio::join!(load, reloads);
    assert!(
        answers.keys().all(|c| [OK, PERMISSION_DENIED].contains(c)),
        "{answers:?}"
    );
    assert!(answers.values().sum::<u64>() > 20, "{answers:?}");
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn a_realm_added_by_reload_gets_its_keys_and_a_removed_one_stops_fetching() {
    let key = SigningKey::generate("k1").unwrap();
    let kc = keycloak(&[&key]).await;
    let other_key = SigningKey::generate("o1").unwrap();
    let other = keycloak(&[&other_key]).await;
    // A refresh every second (every 2 s, the cooldown), so a running refresher shows.
    let config = one_realm_config(&kc.issuer)
        .replace("hosts: ['*']", "hosts: [zeebe]")
        .replace("refresh_interval: 5m", "refresh_interval: 1s");
    let two_realms = config.replace(
        "jwks:",
        &format!(
            "  - name: other\n    issuer: {}\n    audiences: [{AUDIENCE}]\n    hosts: [other]\n    policy: default.yaml\njwks:",
            other.issuer
        ),
    );
    let authz = Authz::start_reloading(&config, &topology_for("alpha"), RELOAD_EVERY).await;
    authz.wait_ready().await;
    let other_token = token(&other_key, &other.issuer, &["alpha"]);
    let topology = rpc("Topology");
    let call_other = || authz.call("other", &topology, Some(&other_token));
    // No realm protects host `other` yet.
    assert_eq!(code(&call_other().await), PERMISSION_DENIED);

    std::fs::write(authz.dir().join("config.yaml"), &two_realms).unwrap();
    authz.wait_metric(GENERATION, 2.0).await;
    // Its keys were fetched before it went into force: ready, and its tokens verify.
    assert_eq!(authz.admin("/readyz").await.0, 200);
    assert!(other.jwks_fetches() >= 1);
    assert_eq!(code(&call_other().await), OK);
    // While the realm is configured its keys are refreshed.
    let fetches = other.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert!(other.jwks_fetches() > fetches);

    std::fs::write(authz.dir().join("config.yaml"), &config).unwrap();
    authz.wait_metric(GENERATION, 3.0).await;
    assert_eq!(code(&call_other().await), PERMISSION_DENIED);
    // Its refresher stopped: no more refreshes of its keys. A fetch already on its way when
    // the generation changed may still land (under load it did, once); count from after that.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fetches = other.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(other.jwks_fetches(), fetches);
    authz.stop().await;
    kc.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn dry_run_allows_what_enforce_denies_and_reports_it() {
    let key = SigningKey::generate("k1").unwrap();
    let kc = keycloak(&[&key]).await;
    let config = answering_everything(&one_realm_config(&kc.issuer).replace(
        "    policy: default.yaml\n",
        "    policy: default.yaml\n    mode: dry-run\n",
    ));
    let authz = Authz::start_reloading(&config, &topology_for("alpha"), RELOAD_EVERY).await;
    authz.wait_ready().await;
    let beta = token(&key, &kc.issuer, &["beta"]);
    // Would be PERMISSION_DENIED: allowed, with the caller's identity and the would-be reason.
    let r = topology_with_id(&authz, &beta, "dry-1").await;
    assert_eq!(code(&r), OK);
    assert_eq!(meta(&r, "dry_run"), Some(Kind::BoolValue(true)));
    assert_eq!(meta(&r, "reason"), text("missing_permission"));
    assert_eq!(meta(&r, "decision_id"), text("dry-1"));
    assert_eq!(meta(&r, "subject"), text("service-account-orders-worker"));
    assert_eq!(ok_headers(&r).len(), 3);
    // An invalid token goes through too, with every identity header removed.
    let r = topology_with_id(&authz, "not-a-jwt", "dry-2").await;
    assert_eq!(code(&r), OK);
    assert_eq!(meta(&r, "reason"), text("malformed_token"));
    let Some(HttpResponse::OkResponse(ok)) = &r.http_response else {
        panic!("{r:?}")
    };
    assert!(ok.headers.is_empty());
    assert_eq!(ok.headers_to_remove.len(), 3);
    let dry = r#"zeebe_authz_decisions_total{rpc="Topology",result="deny",reason="missing_permission",mode="dry-run",door="grpc"} "#;
    assert_eq!(authz.metric(dry).await, 1.0);

    // A reload switches the realm to enforce: the same call is refused.
    std::fs::write(
        authz.dir().join("config.yaml"),
        config.replace("mode: dry-run", "mode: enforce"),
    )
    .unwrap();
    authz.wait_metric(GENERATION, 2.0).await;
    let r = topology_with_id(&authz, &beta, "enforced-1").await;
    assert_eq!(code(&r), PERMISSION_DENIED);
    assert_eq!(meta(&r, "dry_run"), None);
    let enforced = r#"zeebe_authz_decisions_total{rpc="Topology",result="deny",reason="missing_permission",mode="enforce",door="grpc"} "#;
    assert_eq!(authz.metric(enforced).await, 1.0);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn every_check_has_a_decision_id_in_the_message_and_the_metadata() {
    let (kc, key, authz) = setup(&topology_for("alpha")).await;
    let beta = token(&key, &kc.issuer, &["beta"]);
    let alpha = token(&key, &kc.issuer, &["alpha"]);
    // Envoy's x-request-id is the decision id.
    let id = "0d0b5f9e-8d3a-4a8e-9d6c-1f2e3d4c5b6a";
    let r = topology_with_id(&authz, &beta, id).await;
    assert_eq!(code(&r), PERMISSION_DENIED);
    assert!(
        message(&r).ends_with(&format!(" [decision {id}: zeebe-authz explain shows why]")),
        "{}",
        message(&r)
    );
    assert_eq!(meta(&r, "decision_id"), text(id));
    assert_eq!(meta(&r, "realm"), text("camunda"));
    assert_eq!(meta(&r, "rpc"), text("Topology"));
    assert_eq!(meta(&r, "reason"), text("missing_permission"));
    // By default an allow carries none: its decision id is the request id, which Envoy's
    // access log has as %REQ(X-REQUEST-ID)%.
    let r = topology_with_id(&authz, &alpha, "req-ok").await;
    assert_eq!(code(&r), OK);
    assert!(r.dynamic_metadata.is_none(), "{r:?}");
    // A request id a log line or message could not carry as is gets a generated one.
    for bad in ["", "has space", "new\nline", &"x".repeat(65), "ünï"] {
        let r = topology_with_id(&authz, &beta, bad).await;
        let Some(Kind::StringValue(generated)) = meta(&r, "decision_id") else {
            panic!("{r:?}")
        };
        assert!(
            generated.starts_with("za-") && generated.len() == 27,
            "{bad:?}: {generated}"
        );
        assert!(message(&r).contains(&format!("[decision {generated}:")));
    }
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn a_policy_file_that_appears_after_the_config_naming_it_is_reloaded() {
    // Regression: the error for a missing policy points at the config, so the missing file was
    // never watched, and its arrival (a second ConfigMap updated later) reloaded nothing.
    let (kc, key, authz) = setup(&topology_for("alpha")).await;
    let beta = token(&key, &kc.issuer, &["beta"]);
    let failed = authz.metric(RELOADS_FAILED).await;
    let config = one_realm_config(&kc.issuer).replace("policy: default.yaml", "policy: later.yaml");
    std::fs::write(authz.dir().join("config.yaml"), config).unwrap();
    authz.wait_metric(RELOADS_FAILED, failed + 1.0).await;
    assert_eq!(code(&authz.topology(&beta).await), PERMISSION_DENIED);
    std::fs::write(authz.dir().join("later.yaml"), topology_for("beta")).unwrap();
    authz.wait_metric(GENERATION, 2.0).await;
    assert_eq!(code(&authz.topology(&beta).await), OK);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn twin_realms_with_other_keys_never_share_cached_tokens_after_a_reload() {
    // Regression: two realms alike but for their JWKS URL got one token cache id after a
    // reload, so a token verified with realm a's keys was served from the cache on b's host.
    let key_a = SigningKey::generate("ka").unwrap();
    let key_b = SigningKey::generate("kb").unwrap();
    let kc = keycloak(&[&key_a]).await;
    let other = keycloak(&[&key_b]).await;
    let jwks = |kc: &Keycloak| format!("{}/protocol/openid-connect/certs", kc.issuer);
    let realm = |name: &str, host: &str, jwks_uri: String| {
        format!(
            "  - name: {name}\n    issuer: {}\n    audiences: [{AUDIENCE}]\n    hosts: [{host}]\n    policy: default.yaml\n    jwks_uri: {jwks_uri}\n",
            kc.issuer
        )
    };
    let config = format!(
        "listen:\n  check: 127.0.0.1:0\n  admin: 127.0.0.1:0\nrealms:\n{}{}jwks:\n  refetch_cooldown: 2s\n",
        realm("a", "a", jwks(&kc)),
        realm("b", "b", jwks(&other)),
    );
    let authz = Authz::start_reloading(&config, &topology_for("alpha"), RELOAD_EVERY).await;
    authz.wait_ready().await;
    let t = token(&key_a, &kc.issuer, &["alpha"]);
    let topology = rpc("Topology");
    assert_eq!(code(&authz.call("a", &topology, Some(&t)).await), OK);
    assert_eq!(
        code(&authz.call("b", &topology, Some(&t)).await),
        UNAUTHENTICATED
    );
    // Any reload (here a comment) keeps the realms apart.
    std::fs::write(
        authz.dir().join("config.yaml"),
        format!("{config}# edited\n"),
    )
    .unwrap();
    authz.wait_metric(GENERATION, 2.0).await;
    assert_eq!(code(&authz.call("a", &topology, Some(&t)).await), OK);
    assert_eq!(
        code(&authz.call("b", &topology, Some(&t)).await),
        UNAUTHENTICATED
    );
    authz.stop().await;
    kc.stop().await;
    other.stop().await;
}
