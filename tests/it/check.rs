//! The Check contract against a Keycloak-shaped issuer: allow, every deny code, identity
//! headers, key rotation, Keycloak outages, `kid` floods and realm isolation.

use serde_json::json;
use zeebe_authz_core::signing::{SigningKey, access_token_claims};

use crate::util::*;

pub(crate) const OK: i32 = 0;
pub(crate) const PERMISSION_DENIED: i32 = 7;
pub(crate) const UNAVAILABLE: i32 = 14;
pub(crate) const UNAUTHENTICATED: i32 = 16;

pub(crate) async fn setup() -> (Keycloak, SigningKey, Authz) {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let authz = Authz::start(&one_realm_config(&kc.issuer), &default_policy()).await;
    authz.wait_ready().await;
    (kc, key, authz)
}

#[tokio::test]
async fn write_token_is_allowed_with_identity_headers_that_overwrite() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let config = answering_everything(&one_realm_config(&kc.issuer));
    let authz = Authz::start(&config, &default_policy()).await;
    authz.wait_ready().await;
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
        metrics.contains(r#"zeebe_authz_decisions_total{rpc="CreateProcessInstance",result="deny",reason="missing_permission",mode="enforce",door="grpc"} 1"#),
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
    let now = zeebe_authz_core::token::unix_now();
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
async fn crit_header_accepted() {
    let (kc, key, authz) = setup().await;
    for header in [
        json!({"alg": "RS256", "kid": "kc-1", "typ": "JWT", "crit": ["exp"]}),
        json!({"alg": "RS256", "kid": "kc-1", "crit": ["urn:x:ext"], "urn:x:ext": true}),
    ] {
        let t = key
            .sign_with_header(
                &header,
                &access_token_claims(&kc.issuer, AUDIENCE, "orders-worker", &["write:*"], 300),
            )
            .unwrap();
        let r = authz.topology(&t).await;
        assert_eq!(code(&r), UNAUTHENTICATED, "{header}: {}", message(&r));
        assert!(message(&r).contains("crit"), "{}", message(&r));
    }
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn trailing_dot_host_falls_through_to_another_realm() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    // Realm `a` grants read:* everything readable; the catch-all realm trusts the same
    // issuer but grants nothing to read:*.
    let scratch = Scratch::new();
    scratch.write("nothing.yaml", "grants: []\n");
    let config = answering_everything(&format!(
        "listen: {{check: 127.0.0.1:0, admin: 127.0.0.1:0}}\nrealms:\n  - {{name: a, issuer: '{i}', audiences: [zeebe-api], hosts: [zeebe.a.example], policy: default.yaml}}\n  - {{name: any, issuer: '{i}', audiences: [zeebe-api], hosts: ['*'], policy: '{}'}}\n",
        scratch.0.join("nothing.yaml").display(),
        i = kc.issuer
    ));
    let authz = Authz::start(&config, &default_policy()).await;
    authz.wait_ready().await;
    let t = token(&key, &kc.issuer, &["read:*"]);
    for host in [
        "zeebe.a.example",
        "zeebe.a.example.",
        "ZEEBE.A.Example.",
        "zeebe.a.example.:26500",
    ] {
        let r = authz.call(host, &rpc("Topology"), Some(&t)).await;
        assert_eq!(code(&r), OK, "{host}: {}", message(&r));
        assert!(
            ok_headers(&r)
                .iter()
                .any(|(k, v, _)| k == "x-zeebe-authz-realm" && v == "a"),
            "{host}: judged by another realm: {:?}",
            ok_headers(&r)
        );
    }
    // Two dots are another name: the catch-all realm's policy decides.
    let r = authz
        .call("zeebe.a.example..", &rpc("Topology"), Some(&t))
        .await;
    assert_eq!(code(&r), PERMISSION_DENIED, "{}", message(&r));
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn header_values_from_tokens_go_out_unsanitized() {
    let (kc, key, authz) = setup().await;
    for (sub, sent) in [
        ("alice\r\nx-injected: 1", "alice%0D%0Ax-injected: 1"),
        ("bob\u{0}\t\u{7f}", "bob%00%09%7F"),
        (" carol ", "%20carol%20"),
    ] {
        let t = token_with(&key, &kc.issuer, &["write:*"], |c| c["sub"] = json!(sub));
        let r = authz.topology(&t).await;
        assert_eq!(code(&r), OK, "{sub:?}: {}", message(&r));
        let headers = ok_headers(&r);
        assert!(
            headers
                .iter()
                .any(|(k, v, _)| k == "x-zeebe-authz-subject" && v == sent),
            "{headers:?}"
        );
        for (k, v, _) in &headers {
            assert!(
                v.bytes().all(|b| (0x20..=0x7e).contains(&b))
                    && !v.starts_with(' ')
                    && !v.ends_with(' '),
                "{k}: {v:?} is no valid header value"
            );
        }
    }
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn paths_with_a_query_string_parameters_or_escapes_are_judged_by_their_prefix() {
    let (kc, key, authz) = setup().await;
    let t = token(&key, &kc.issuer, &["write:*"]);
    for suffix in ["?x=1", ";x", "/", "%20"] {
        let path = format!("{}{suffix}", rpc("Topology"));
        let r = authz.call("h", &path, Some(&t)).await;
        assert_eq!(code(&r), PERMISSION_DENIED, "{path}: {}", message(&r));
        assert!(
            message(&r).contains("unknown gateway rpc"),
            "{}",
            message(&r)
        );
    }
    let r = authz
        .call("h", "/gateway_protocol.Gateway/Topolog%79", Some(&t))
        .await;
    assert_eq!(code(&r), PERMISSION_DENIED, "{}", message(&r));
    let r = authz.call("h", &rpc("Topology"), Some(&t)).await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    authz.stop().await;

    // Even where unknown rpcs are let through (a newer gateway's), a method that is no rpc
    // name is not: `CreateProcessInstance?x` must never pass for a token without that rpc.
    let lenient = default_policy().replace("unknown_rpcs: deny", "unknown_rpcs: authenticated");
    assert_ne!(lenient, default_policy());
    let authz = Authz::start(&one_realm_config(&kc.issuer), &lenient).await;
    authz.wait_ready().await;
    let reader = token(&key, &kc.issuer, &["read:*"]);
    let r = authz.call("h", &rpc("NewerRpc"), Some(&reader)).await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    for suffix in ["?x=1", ";x", "/", "%20"] {
        let path = format!("{}{suffix}", rpc("CreateProcessInstance"));
        let r = authz.call("h", &path, Some(&reader)).await;
        assert_eq!(code(&r), PERMISSION_DENIED, "{path}: {}", message(&r));
        assert!(message(&r).contains("not an rpc name"), "{}", message(&r));
    }
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn a_token_of_one_realm_is_refused_on_another_realms_host() {
    let key_a = SigningKey::generate("a-1").unwrap();
    let key_b = SigningKey::generate("b-1").unwrap();
    let kc_a = keycloak(&[&key_a]).await;
    let kc_b = keycloak(&[&key_b]).await;
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
    let (kc, ca_pem) = keycloak_tls(&[&key]).await;
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
    let kc = keycloak(&[&key]).await;
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

/// `dynamic_metadata.send: denies` (the default): a plain allow carries no metadata (Envoy
/// skips storing it), a deny carries all of it; `all`: every answer; `none`: no answer.
#[tokio::test]
async fn dynamic_metadata_send_chooses_which_answers_carry_it() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    for (send, on_allow, on_deny) in [
        ("", false, true),
        ("all", true, true),
        ("denies", false, true),
        ("none", false, false),
    ] {
        let setting = if send.is_empty() {
            String::new()
        } else {
            format!("dynamic_metadata:\n  send: {send}\n")
        };
        let config = format!("{}{setting}", one_realm_config(&kc.issuer));
        let authz = Authz::start(&config, &default_policy()).await;
        authz.wait_ready().await;
        let write = token(&key, &kc.issuer, &["write:*"]);
        let allowed = authz
            .call(
                "zeebe.example.com",
                &rpc("CreateProcessInstance"),
                Some(&write),
            )
            .await;
        assert_eq!(code(&allowed), OK, "{send}");
        assert_eq!(allowed.dynamic_metadata.is_some(), on_allow, "{send}");
        // The identity headers do not depend on it: by default, the subject alone.
        let names: Vec<String> = ok_headers(&allowed).into_iter().map(|h| h.0).collect();
        assert_eq!(names, ["x-zeebe-authz-subject"], "{send}");
        let read = token(&key, &kc.issuer, &["read:*"]);
        let denied = authz
            .call(
                "zeebe.example.com",
                &rpc("CreateProcessInstance"),
                Some(&read),
            )
            .await;
        assert_eq!(code(&denied), PERMISSION_DENIED, "{send}");
        let fields = denied
            .dynamic_metadata
            .map(|m| m.fields)
            .unwrap_or_default();
        assert_eq!(fields.contains_key("decision_id"), on_deny, "{send}");
        assert_eq!(fields.contains_key("reason"), on_deny, "{send}");
        authz.stop().await;
    }
}
