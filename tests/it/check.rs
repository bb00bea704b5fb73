//! The Check contract against a Keycloak-shaped issuer: allow, every deny code, identity
//! headers, key rotation, Keycloak outages, `kid` floods and realm isolation.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::json;
use zeebe_authz::issuer::SigningKey;

use crate::util::*;

const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;
const UNAVAILABLE: i32 = 14;
const UNAUTHENTICATED: i32 = 16;

async fn setup() -> (Keycloak, SigningKey, Authz) {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = Keycloak::start(&[&key]).await;
    let authz = Authz::start(&one_realm_config(&kc.issuer), &default_policy()).await;
    authz.wait_ready().await;
    (kc, key, authz)
}

#[tokio::test]
async fn write_token_is_allowed_with_identity_headers_that_overwrite() {
    let (kc, key, authz) = setup().await;
    let t = token(&key, &kc.issuer, &["write:*"]);
    let r = authz
        .call("zeebe.example.com", &rpc("CreateProcessInstance"), Some(&t))
        .await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    let headers = ok_headers(&r);
    let overwrite = envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction::OverwriteIfExistsOrAdd as i32;
    assert!(
        headers.contains(&(
            "x-zeebe-authz-subject".into(),
            "service-account-orders-worker".into(),
            overwrite
        )),
        "{headers:?}"
    );
    assert!(
        headers.contains(&(
            "x-zeebe-authz-client-id".into(),
            "orders-worker".into(),
            overwrite
        )),
        "{headers:?}"
    );
    assert!(
        headers.contains(&("x-zeebe-authz-realm".into(), "camunda".into(), overwrite)),
        "{headers:?}"
    );
    for h in &headers {
        assert!(!h.1.contains(&t), "a header carries the token");
    }
    // A second call is answered from the cache and gives the same answer.
    let again = authz
        .call("zeebe.example.com", &rpc("CreateProcessInstance"), Some(&t))
        .await;
    assert_eq!(code(&again), OK);
    let (_, metrics) = authz.admin("/metrics").await;
    assert!(
        metrics.contains("zeebe_authz_token_cache_hits_total 1"),
        "{metrics}"
    );
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn read_token_gets_topology_only_and_the_deny_names_rpc_and_permission() {
    let (kc, key, authz) = setup().await;
    let t = token(&key, &kc.issuer, &["read:*"]);
    assert_eq!(code(&authz.topology(&t).await), OK);
    let r = authz
        .call("h", &rpc("CreateProcessInstance"), Some(&t))
        .await;
    assert_eq!(code(&r), PERMISSION_DENIED);
    let m = message(&r);
    assert!(
        m.contains("CreateProcessInstance")
            && m.contains("write:*")
            && m.contains("permissions.zeebe-api"),
        "{m}"
    );
    // The Identity PoC's per-rpc permissions.
    let poc = token(
        &key,
        &kc.issuer,
        &["DeployProcess", "CreateProcessInstance", "Topology"],
    );
    assert_eq!(
        code(
            &authz
                .call("h", &rpc("CreateProcessInstance"), Some(&poc))
                .await
        ),
        OK
    );
    assert_eq!(
        code(&authz.call("h", &rpc("CompleteJob"), Some(&poc)).await),
        PERMISSION_DENIED
    );
    // No permissions at all.
    let none = token(&key, &kc.issuer, &[]);
    assert_eq!(code(&authz.topology(&none).await), PERMISSION_DENIED);
    let (_, metrics) = authz.admin("/metrics").await;
    assert!(
        metrics.contains(r#"zeebe_authz_decisions_total{rpc="CreateProcessInstance",result="deny",reason="missing_permission"} 1"#),
        "{metrics}"
    );
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn unknown_rpcs_and_other_services_are_permission_denied() {
    let (kc, key, authz) = setup().await;
    let t = token(&key, &kc.issuer, &["write:*"]);
    let r = authz.call("h", &rpc("NoSuchRpc"), Some(&t)).await;
    assert_eq!(code(&r), PERMISSION_DENIED);
    assert!(
        message(&r).contains("unknown gateway rpc 'NoSuchRpc'"),
        "{}",
        message(&r)
    );
    let r = authz
        .call(
            "h",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            Some(&t),
        )
        .await;
    assert_eq!(code(&r), PERMISSION_DENIED);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn invalid_tokens_are_unauthenticated_with_a_reason_and_never_echoed() {
    let (kc, key, authz) = setup().await;
    let iss = kc.issuer.clone();
    let forger = SigningKey::generate("kc-1").unwrap(); // same kid, other key
    let now = zeebe_authz::token::unix_now();
    let none_token = {
        let t = token(&key, &iss, &["write:*"]);
        let mut parts = t.split('.');
        let _ = parts.next();
        use base64::Engine as _;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        format!("{header}.{}.", parts.next().unwrap())
    };
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "missing bearer token"),
        ("garbage", Some("abc".into()), "not a JWT"),
        (
            "bad signature",
            Some(token(&forger, &iss, &["write:*"])),
            "signature",
        ),
        (
            "expired",
            Some(token_with(&key, &iss, &["write:*"], |c| {
                c["exp"] = json!(now - 3600);
                c["iat"] = json!(now - 7200);
            })),
            "expired",
        ),
        (
            "not yet valid",
            Some(token_with(&key, &iss, &["write:*"], |c| {
                c["nbf"] = json!(now + 3600)
            })),
            "not valid yet",
        ),
        (
            "issued in the future",
            Some(token_with(&key, &iss, &["write:*"], |c| {
                c["iat"] = json!(now + 3600)
            })),
            "future",
        ),
        (
            "wrong issuer",
            Some(token(&key, "http://127.0.0.1:1/realms/other", &["write:*"])),
            "issuer",
        ),
        (
            "wrong audience",
            Some(token_with(&key, &iss, &["write:*"], |c| {
                c["aud"] = json!("operate-api")
            })),
            "audience",
        ),
        (
            "no exp",
            Some(token_with(&key, &iss, &["write:*"], |c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
            "exp",
        ),
        ("alg none", Some(none_token), "'none' is not accepted"),
        (
            "alg HS256",
            Some(
                key.sign_with_header(&json!({"alg": "HS256", "kid": "kc-1"}), &json!({}))
                    .unwrap(),
            ),
            "'HS256' is not accepted",
        ),
        (
            "alg mismatch",
            Some(
                key.sign_with_header(
                    &json!({"alg": "ES256", "kid": "kc-1"}),
                    &json!({"iss": iss}),
                )
                .unwrap(),
            ),
            "does not match its key",
        ),
    ];
    for (name, t, expected) in cases {
        let r = authz.call("h", &rpc("Topology"), t.as_deref()).await;
        assert_eq!(code(&r), UNAUTHENTICATED, "{name}: {}", message(&r));
        assert!(message(&r).contains(expected), "{name}: {}", message(&r));
        if let Some(t) = &t {
            assert!(
                !message(&r).contains(t.as_str()),
                "{name}: message echoes the token"
            );
        }
    }
    // An audience array that contains ours is fine; Bearer is case-insensitive.
    let multi = token_with(&key, &iss, &["write:*"], |c| {
        c["aud"] = json!(["account", "zeebe-api"])
    });
    let r = authz
        .check(check_request(
            "h",
            &rpc("Topology"),
            Some(&format!("bearer {multi}")),
            &[],
        ))
        .await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn every_keycloak_algorithm_verifies_when_the_jwks_lists_it() {
    let keys: Vec<SigningKey> = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, alg)| SigningKey::generate_for(alg, format!("k{i}")).unwrap())
    .collect();
    let kc = Keycloak::start(&keys.iter().collect::<Vec<_>>()).await;
    let authz = Authz::start(&one_realm_config(&kc.issuer), &default_policy()).await;
    authz.wait_ready().await;
    for k in &keys {
        let r = authz.topology(&token(k, &kc.issuer, &["read:*"])).await;
        assert_eq!(code(&r), OK, "{:?}: {}", k.alg(), message(&r));
    }
    // A PS256 token presented under an RS256-pinned key is refused (algorithm confusion).
    let rs = &keys[0];
    let forged = rs
        .sign_with_header(
            &json!({"alg": "PS256", "kid": "k0"}),
            &json!({"iss": kc.issuer}),
        )
        .unwrap();
    assert_eq!(code(&authz.topology(&forged).await), UNAUTHENTICATED);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn rotation_new_kid_is_fetched_once_and_accepted() {
    let (kc, key, authz) = setup().await;
    let startup_fetches = kc.jwks_fetches();
    let rotated = SigningKey::generate("kc-2").unwrap();
    kc.publish(&[&key, &rotated]);
    let r = authz
        .topology(&token(&rotated, &kc.issuer, &["read:*"]))
        .await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    assert_eq!(kc.jwks_fetches(), startup_fetches + 1);
    // The old key still works (Keycloak keeps old keys listed after rotation).
    let r = authz.topology(&token(&key, &kc.issuer, &["read:*"])).await;
    assert_eq!(code(&r), OK);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn keycloak_down_after_start_cached_keys_still_verify_new_tokens() {
    let (kc, key, authz) = setup().await;
    let issuer = kc.issuer.clone();
    kc.stop().await;
    // A token never seen before: verified with the cached keys, no fetch needed.
    let r = authz.topology(&token(&key, &issuer, &["read:*"])).await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    assert_eq!(authz.admin("/readyz").await.0, 200);
    // An unknown kid cannot be fetched: unauthenticated (the key is not known), not an allow.
    let stranger = SigningKey::generate("kc-9").unwrap();
    let r = authz
        .topology(&token(&stranger, &issuer, &["read:*"]))
        .await;
    assert_eq!(code(&r), UNAUTHENTICATED, "{}", message(&r));
    authz.stop().await;
}

#[tokio::test]
async fn keycloak_down_before_start_is_unavailable_and_not_ready() {
    // Reserve a loopback port and close it: nothing listens there.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let issuer = format!("http://{addr}/realms/{REALM}");
    let authz = Authz::start(&one_realm_config(&issuer), &default_policy()).await;
    let key = SigningKey::generate("kc-1").unwrap();
    let r = authz.topology(&token(&key, &issuer, &["write:*"])).await;
    assert_eq!(code(&r), UNAVAILABLE, "{}", message(&r));
    assert!(message(&r).contains("unavailable"), "{}", message(&r));
    let (status, body) = authz.admin("/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("camunda"), "{body}");
    // Keycloak comes up on that address: readiness follows after the retry (cooldown 2 s).
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let kc = Keycloak::serve(listener, issuer.clone(), &[&key]);
    authz.wait_ready().await;
    let r = authz.topology(&token(&key, &issuer, &["write:*"])).await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn kid_flood_costs_one_fetch_per_cooldown() {
    let (kc, key, authz) = setup().await;
    let before = kc.jwks_fetches();
    kc.delay_jwks(Duration::from_millis(200)); // keep the fetch in flight while the flood queues
    let mut calls = Vec::new();
    for i in 0..300 {
        let stranger = SigningKey::generate_for(Algorithm::ES256, format!("random-{i}")).unwrap();
        let t = token(&stranger, &kc.issuer, &["write:*"]);
        let authz = &authz;
        calls.push(async move { code(&authz.topology(&t).await) });
    }
    let codes = join_all(calls).await;
    assert!(codes.iter().all(|c| *c == UNAUTHENTICATED), "{codes:?}");
    assert_eq!(
        kc.jwks_fetches(),
        before + 1,
        "a kid flood must cost one fetch"
    );
    // The known key still works meanwhile.
    let r = authz.topology(&token(&key, &kc.issuer, &["read:*"])).await;
    assert_eq!(code(&r), OK);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn a_token_of_one_realm_is_refused_on_another_realms_host() {
    let key_a = SigningKey::generate("a-1").unwrap();
    let key_b = SigningKey::generate("b-1").unwrap();
    let kc_a = Keycloak::start(&[&key_a]).await;
    let kc_b = Keycloak::start(&[&key_b]).await;
    let config = format!(
        "listen: {{check: 127.0.0.1:0, admin: 127.0.0.1:0}}\nrealms:\n  - {{name: prod, issuer: '{}', audiences: [zeebe-api], hosts: [zeebe.prod.example.com], policy: default.yaml}}\n  - {{name: test, issuer: '{}', audiences: [zeebe-api], hosts: ['zeebe.test.example.com:443'], policy: default.yaml}}\n",
        kc_a.issuer, kc_b.issuer
    );
    let authz = Authz::start(&config, &default_policy()).await;
    authz.wait_ready().await;
    let ta = token(&key_a, &kc_a.issuer, &["write:*"]);
    let tb = token(&key_b, &kc_b.issuer, &["write:*"]);
    assert_eq!(
        code(
            &authz
                .call("zeebe.prod.example.com", &rpc("Topology"), Some(&ta))
                .await
        ),
        OK
    );
    assert_eq!(
        code(
            &authz
                .call("ZEEBE.prod.example.com:443", &rpc("Topology"), Some(&ta))
                .await
        ),
        OK
    );
    assert_eq!(
        code(
            &authz
                .call("zeebe.test.example.com:443", &rpc("Topology"), Some(&tb))
                .await
        ),
        OK
    );
    let r = authz
        .call("zeebe.prod.example.com", &rpc("Topology"), Some(&tb))
        .await;
    assert_eq!(code(&r), UNAUTHENTICATED, "{}", message(&r));
    // Cached in realm A, still refused in realm B.
    assert_eq!(
        code(
            &authz
                .call("zeebe.test.example.com:443", &rpc("Topology"), Some(&ta))
                .await
        ),
        UNAUTHENTICATED
    );
    let r = authz
        .call("elsewhere.example.com", &rpc("Topology"), Some(&ta))
        .await;
    assert_eq!(code(&r), PERMISSION_DENIED);
    assert!(
        message(&r).contains("not protected by any realm"),
        "{}",
        message(&r)
    );
    authz.stop().await;
    kc_a.stop().await;
    kc_b.stop().await;
}

#[tokio::test]
async fn config_errors_exit_64_listing_every_error_before_binding() {
    let scratch = Scratch::new();
    scratch.write(
        "default.yaml",
        "grants:\n  - {permission: x, rpcs: [Topolgy]}\n",
    );
    let path = scratch.write(
        "config.yaml",
        "listen:\n  check: 127.0.0.1:0\n  admin: nope\nrealms:\n  - name: a\n    issuer: not-a-url\n    audiences: [zeebe-api]\n    hosts: ['*']\n    policy: default.yaml\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config.yaml:3:10: error: listen.admin"),
        "{stderr}"
    );
    assert!(
        stderr.contains("config.yaml:6:13: error: realms[0].issuer"),
        "{stderr}"
    );
    assert!(
        stderr.contains("default.yaml:2:") && stderr.contains("did you mean 'Topology'"),
        "{stderr}"
    );
    assert!(!stderr.contains("Listening"), "{stderr}");
}

#[tokio::test]
async fn self_signed_keycloak_is_trusted_only_with_the_ca_bundle() {
    let key = SigningKey::generate("kc-1").unwrap();
    let (kc, ca_pem) = Keycloak::start_tls(&[&key]).await;
    let t = token(&key, &kc.issuer, &["write:*"]);

    // Without the bundle the certificate is not trusted: no keys, UNAVAILABLE, not ready.
    let untrusted = Authz::start(&one_realm_config(&kc.issuer), &default_policy()).await;
    let r = untrusted.topology(&t).await;
    assert_eq!(code(&r), UNAVAILABLE, "{}", message(&r));
    assert_eq!(untrusted.admin("/readyz").await.0, 503);
    untrusted.stop().await;

    let scratch = Scratch::new();
    let ca = scratch.write("keycloak-ca.pem", &ca_pem);
    let config = one_realm_config(&kc.issuer) + &format!("  ca_bundle: {}\n", ca.display());
    let trusted = Authz::start(&config, &default_policy()).await;
    trusted.wait_ready().await;
    assert_eq!(code(&trusted.topology(&t).await), OK);
    trusted.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn permissions_claim_is_configurable() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = Keycloak::start(&[&key]).await;
    for (claim, set) in [
        ("scope", json!("openid read:* profile")),
        ("realm_access.roles", json!(["offline_access", "read:*"])),
        ("[resource_access, zeebe.api, roles]", json!(["read:*"])),
    ] {
        let config = one_realm_config(&kc.issuer).replace(
            "    policy: default.yaml\n",
            &format!("    policy: default.yaml\n    permissions_claim: {claim}\n"),
        );
        let authz = Authz::start(&config, &default_policy()).await;
        authz.wait_ready().await;
        let t = token_with(&key, &kc.issuer, &[], |c| match claim {
            "scope" => c["scope"] = set.clone(),
            "realm_access.roles" => c["realm_access"]["roles"] = set.clone(),
            _ => c["resource_access"] = json!({"zeebe.api": {"roles": set.clone()}}),
        });
        assert_eq!(code(&authz.topology(&t).await), OK, "{claim}");
        let r = authz
            .call("h", &rpc("CreateProcessInstance"), Some(&t))
            .await;
        assert_eq!(code(&r), PERMISSION_DENIED, "{claim}");
        authz.stop().await;
    }
    kc.stop().await;
}
