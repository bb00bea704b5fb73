//! The Check against a realm's keys: every Keycloak algorithm, rotation, Keycloak outages
//! before and after start, `kid` floods and the refetch cooldown, and the Check's deadline.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::json;
use zeebe_authz_core::signing::SigningKey;

use crate::check::{OK, UNAUTHENTICATED, UNAVAILABLE, setup};
use crate::util::*;

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
    let kc = keycloak(&keys.iter().collect::<Vec<_>>()).await;
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
    let kc = keycloak_on(listener, issuer.clone(), &[&key]);
    authz.wait_ready().await;
    let r = authz.topology(&token(&key, &issuer, &["write:*"])).await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn kid_flood_costs_at_most_one_fetch_per_cooldown() {
    let (kc, key, authz) = setup().await;
    let before = kc.jwks_fetches();
    kc.delay_jwks(Duration::from_millis(200)); // keep the fetch in flight while the flood queues
    let started = std::time::Instant::now();
    let mut calls = Vec::new();
    for i in 0..300 {
        let stranger = SigningKey::generate_for(Algorithm::ES256, format!("random-{i}")).unwrap();
        let t = token(&stranger, &kc.issuer, &["write:*"]);
        let authz = &authz;
        calls.push(async move {
            let r = authz.topology(&t).await;
            (code(&r), message(&r))
        });
    }
    let answers = join_all(calls).await;
    // At most MAX_KEY_WAITERS Checks wait for keys; the rest are told to retry at once.
    let overloaded = answers.iter().filter(|(c, _)| *c == UNAVAILABLE).count();
    assert!(
        overloaded <= 300 - zeebe_authz_server::jwks::MAX_KEY_WAITERS,
        "{answers:?}"
    );
    for (c, m) in &answers {
        match *c {
            UNAUTHENTICATED => assert!(m.contains("not in the realm's JWKS"), "{m}"),
            UNAVAILABLE => assert!(m.contains("too many Checks"), "{m}"),
            other => panic!("{other}: {m}"),
        }
    }
    // The Checks that arrived while the first fetch ran share one more, a cooldown (2 s) on.
    let cooldowns = (started.elapsed().as_secs_f64() / 2.0).floor() as u64;
    let fetches = kc.jwks_fetches() - before;
    assert!(
        (1..=1 + cooldowns).contains(&fetches),
        "a kid flood made {fetches} fetches in {:?}",
        started.elapsed()
    );
    // The known key still works meanwhile.
    let r = authz.topology(&token(&key, &kc.issuer, &["read:*"])).await;
    assert_eq!(code(&r), OK);
    authz.stop().await;
    kc.stop().await;
}

/// The default cooldown, as a deployment has it (the other tests use 2 s).
fn default_cooldown_config(issuer: &str) -> String {
    let config = one_realm_config(issuer);
    assert!(config.contains("  refetch_cooldown: 2s\n"));
    config.replace("  refetch_cooldown: 2s\n", "")
}

#[tokio::test]
async fn key_rotation_right_after_any_unknown_kid_is_refused_for_the_whole_cooldown() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let authz = Authz::start(&default_cooldown_config(&kc.issuer), &default_policy()).await;
    authz.wait_ready().await;
    let before = kc.jwks_fetches();
    let counting_since = std::time::Instant::now();
    // A stray token with an unknown kid: really unknown, so UNAUTHENTICATED.
    let stray = SigningKey::generate_for(Algorithm::ES256, "stray").unwrap();
    let r = authz
        .topology(&token(&stray, &kc.issuer, &["read:*"]))
        .await;
    assert_eq!(code(&r), UNAUTHENTICATED, "{}", message(&r));
    // Keycloak rotates at once, inside the cooldown the stray fetch started.
    let rotated = SigningKey::generate("kc-2").unwrap();
    kc.publish(&[&key, &rotated]);
    let r = authz
        .topology(&token(&rotated, &kc.issuer, &["read:*"]))
        .await;
    assert_eq!(code(&r), OK, "{}", message(&r));

    // A spray of random kids (one every 0.25 s) while Keycloak rotates again: every token of
    // the new key is allowed, and Keycloak sees at most one fetch a second.
    let again = SigningKey::generate("kc-3").unwrap();
    let spray = async {
        for i in 0..12 {
            let s = SigningKey::generate_for(Algorithm::ES256, format!("spray-{i}")).unwrap();
            let r = authz.topology(&token(&s, &kc.issuer, &["read:*"])).await;
            assert!(
                matches!(code(&r), UNAUTHENTICATED | UNAVAILABLE),
                "{}",
                message(&r)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let legit = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        kc.publish(&[&key, &rotated, &again]);
        let mut codes = Vec::new();
        for _ in 0..10 {
            let r = authz
                .topology(&token(&again, &kc.issuer, &["read:*"]))
                .await;
            codes.push((code(&r), message(&r)));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        codes
    };
    let ((), codes) = tokio::join!(spray, legit);
    assert!(codes.iter().all(|(c, _)| *c == OK), "{codes:?}");
    // Fetch starts are at least a cooldown (1 s) apart: one at once, then one a second.
    let seconds = counting_since.elapsed().as_secs_f64();
    let fetches = kc.jwks_fetches() - before;
    assert!(
        fetches as f64 <= 1.0 + seconds,
        "{fetches} fetches in {seconds:.1} s"
    );
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn a_stale_kid_repeated_waits_once_per_cooldown_and_blocks_no_other_kid() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let authz = Authz::start(&default_cooldown_config(&kc.issuer), &default_policy()).await;
    authz.wait_ready().await;
    let before = kc.jwks_fetches();
    let stale = SigningKey::generate_for(Algorithm::ES256, "stale").unwrap();
    let t = token(&stale, &kc.issuer, &["read:*"]);
    assert_eq!(code(&authz.topology(&t).await), UNAUTHENTICATED);
    assert_eq!(kc.jwks_fetches(), before + 1);
    // The same kid again, within the cooldown: refused at once, no fetch, no wait.
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let r = authz
            .topology(&token(&stale, &kc.issuer, &["read:*"]))
            .await;
        assert_eq!(code(&r), UNAUTHENTICATED, "{}", message(&r));
    }
    // Waiting for a fetch each, they would take 20 cooldowns (20 s).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(kc.jwks_fetches(), before + 1);
    // A rotated key meanwhile is fetched and accepted: the stale kid blocks nothing else.
    let rotated = SigningKey::generate("kc-2").unwrap();
    kc.publish(&[&key, &rotated]);
    let r = authz
        .topology(&token(&rotated, &kc.issuer, &["read:*"]))
        .await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn unknown_kid_while_keycloak_is_unreachable_is_unavailable_not_unauthenticated() {
    let (kc, key, authz) = setup().await;
    let issuer = kc.issuer.clone();
    let stranger = SigningKey::generate("kc-9").unwrap();
    let t = token(&stranger, &issuer, &["read:*"]);
    let huge = vec![b' '; zeebe_authz_server::jwks::MAX_DOCUMENT_BYTES + 1];
    for failure in [
        JwksFailure::Status(503),
        JwksFailure::Body(b"<html>gateway timeout</html>".to_vec()),
        JwksFailure::Body(br#"{"keys": []}"#.to_vec()),
        JwksFailure::Body(huge),
    ] {
        kc.fail_jwks(Some(failure.clone()));
        let r = authz.topology(&t).await;
        assert_eq!(code(&r), UNAVAILABLE, "{failure:?}: {}", message(&r));
        assert!(message(&r).contains("kc-9"), "{}", message(&r));
    }
    // Keycloak answers again, without the kid: only now is the key unknown.
    kc.fail_jwks(None);
    let r = authz.topology(&t).await;
    assert_eq!(code(&r), UNAUTHENTICATED, "{}", message(&r));
    // Connection refused (another kid: kc-9 was just proved unknown).
    kc.stop().await;
    let other = SigningKey::generate("kc-10").unwrap();
    let r = authz.topology(&token(&other, &issuer, &["read:*"])).await;
    assert_eq!(code(&r), UNAVAILABLE, "{}", message(&r));
    // Cached keys still verify new tokens of the known key meanwhile.
    let r = authz.topology(&token(&key, &issuer, &["read:*"])).await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    authz.stop().await;
}

#[tokio::test]
async fn a_check_never_outlives_envoys_timeout() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    // A fetch may take up to 5 s here; Envoy's ext_authz timeout is 1 s.
    let config =
        default_cooldown_config(&kc.issuer).replace("fetch_timeout: 1s", "fetch_timeout: 5s");
    let authz = Authz::start(&config, &default_policy()).await;
    authz.wait_ready().await;
    let before = kc.jwks_fetches();
    kc.delay_jwks(Duration::from_millis(2500));
    let rotated = SigningKey::generate("kc-2").unwrap();
    kc.publish(&[&key, &rotated]);
    let t = token(&rotated, &kc.issuer, &["read:*"]);
    let timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let r = authz
        .check_within(
            check_request("h", &rpc("Topology"), Some(&format!("Bearer {t}")), &[]),
            timeout,
        )
        .await
        .expect("answered before the caller's deadline, not cut off by it");
    let took = started.elapsed();
    assert_eq!(code(&r), UNAVAILABLE, "{}", message(&r));
    assert!(message(&r).contains("deadline"), "{}", message(&r));
    assert!(took < timeout, "answered after {took:?}");
    // Answered a tenth of the timeout before it (the margin), not at once.
    assert!(
        took >= Duration::from_millis(850),
        "answered early, after {took:?}"
    );
    // The fetch went on without the Check (it started within a cooldown, 1 s, of the startup
    // fetch and takes 2.5 s): once it lands the token is allowed, from the cache, without
    // another fetch.
    let landed = r#"cause="unknown_kid",result="ok"} 1"#;
    for _ in 0..100 {
        if authz.admin("/metrics").await.1.contains(landed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        authz.admin("/metrics").await.1.contains(landed),
        "the background fetch did not land within 5 s"
    );
    kc.delay_jwks(Duration::ZERO);
    let r = authz.topology(&t).await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    assert_eq!(kc.jwks_fetches(), before + 1);
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn a_foreign_token_triggers_no_fetch_even_while_the_realm_has_no_keys() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    kc.fail_jwks(Some(JwksFailure::Status(503)));
    let authz = Authz::start(&one_realm_config(&kc.issuer), &default_policy()).await;
    // The startup fetch fails; the next background retry is a cooldown (2 s) away.
    for _ in 0..200 {
        if kc.jwks_fetches() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = kc.jwks_fetches();
    assert_eq!(before, 1);
    let stranger = SigningKey::generate("other-1").unwrap();
    let foreign = token(
        &stranger,
        "https://elsewhere.example/realms/x",
        &["write:*"],
    );
    let r = authz.topology(&foreign).await;
    assert_eq!(code(&r), UNAUTHENTICATED, "{}", message(&r));
    assert!(message(&r).contains("issuer"), "{}", message(&r));
    assert_eq!(kc.jwks_fetches(), before, "a foreign token made a fetch");
    authz.stop().await;
    kc.stop().await;
}
