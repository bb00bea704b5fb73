//! Unit tests of the parent module.
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::*;
use zeebe_authz_core::signing::{SigningKey, jwks};

fn keyset(now: Instant) -> KeySet {
    let key = SigningKey::generate_for(Algorithm::ES256, "k1").unwrap();
    KeySet::from_jwks(jwks(&[&key]).to_string().as_bytes(), now.into_std()).unwrap()
}

fn cache(settings: JwksSettings) -> (JwksCache, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    // Port 1 on loopback: nothing listens, every fetch fails at once.
    let source = JwksSource {
        issuer: "http://127.0.0.1:1/realms/r".into(),
        jwks_uri: None,
    };
    let c = JwksCache::new(
        "r".into(),
        source,
        settings,
        None,
        reqwest::Client::new(),
        metrics.clone(),
    );
    (c, metrics)
}

#[tokio::test(start_paused = true)]
async fn last_good_keys_expire_after_keys_max_age() {
    let settings = JwksSettings {
        keys_max_age: Duration::from_secs(3600),
        ..JwksSettings::default()
    };
    let (c, _) = cache(settings);
    assert!(!c.is_ready());
    c.install(keyset(Instant::now()));
    assert!(c.is_ready());
    tokio::time::advance(Duration::from_secs(3599)).await;
    assert!(c.keys().is_some(), "still within keys_max_age");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(c.keys().is_none(), "stale keys must not be used forever");
    assert!(!c.is_ready());
}

#[tokio::test(start_paused = true)]
async fn fetches_are_shared_and_rate_limited_never_refused() {
    let settings = JwksSettings {
        refetch_cooldown: Duration::from_secs(1),
        ..JwksSettings::default()
    };
    let (c, metrics) = cache(settings);
    let c = Arc::new(c);
    let t0 = Instant::now();
    let far = t0 + Duration::from_secs(60);
    // Fifty concurrent askers share one fetch, and each learns that it failed.
    let mut waits = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let c = c.clone();
        waits.spawn(async move { c.wait_for_keys(FetchCause::UnknownKid, far, |_| true).await });
    }
    for r in waits.join_all().await {
        assert!(matches!(r, Err(KeyWait::Failed(_))), "{r:?}");
    }
    assert_eq!(metrics.jwks_fetch_count("r", "error"), 1);
    // The next asker is inside the cooldown: it is not refused, it waits for the fetch
    // scheduled at the cooldown's end.
    let r = c.wait_for_keys(FetchCause::UnknownKid, far, |_| true).await;
    assert!(matches!(r, Err(KeyWait::Failed(_))), "{r:?}");
    assert_eq!(metrics.jwks_fetch_count("r", "error"), 2);
    assert!(t0.elapsed() >= Duration::from_secs(1), "{:?}", t0.elapsed());
    // A deadline before the scheduled fetch ends the wait, not the fetch.
    let soon = Instant::now() + Duration::from_millis(100);
    let r = c
        .wait_for_keys(FetchCause::UnknownKid, soon, |_| true)
        .await;
    assert!(matches!(r, Err(KeyWait::Deadline)), "{r:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        metrics.jwks_fetch_count("r", "error"),
        3,
        "the fetch went on after its asker gave up"
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_checks_are_bounded() {
    let (c, metrics) = cache(JwksSettings::default());
    let c = Arc::new(c);
    let far = Instant::now() + Duration::from_secs(60);
    // One fetch now: the next may start only a cooldown later, so the askers below wait.
    let _ = c.wait_for_keys(FetchCause::NoKeys, far, |_| true).await;
    let mut waits = tokio::task::JoinSet::new();
    for _ in 0..MAX_KEY_WAITERS + 10 {
        let c = c.clone();
        waits.spawn(async move { c.wait_for_keys(FetchCause::UnknownKid, far, |_| true).await });
    }
    let results = waits.join_all().await;
    let overloaded = results
        .iter()
        .filter(|r| matches!(r, Err(KeyWait::Overloaded)))
        .count();
    let failed = results
        .iter()
        .filter(|r| matches!(r, Err(KeyWait::Failed(_))))
        .count();
    assert_eq!((overloaded, failed), (10, MAX_KEY_WAITERS));
    assert_eq!(metrics.jwks_fetch_count("r", "error"), 2);
    // Every slot was given back.
    assert_eq!(c.waiting.load(Ordering::Acquire), 0);
}

#[test]
fn unknown_kids_are_remembered_per_key_set_for_a_cooldown() {
    let (c, _) = cache(JwksSettings::default());
    let now = Instant::now();
    let a = Arc::new(keyset(now));
    let b = Arc::new(keyset(now));
    c.remember_unknown(&a, "stale");
    assert!(c.is_known_unknown(&a, "stale"));
    assert!(
        !c.is_known_unknown(&a, "other"),
        "only the kid proved unknown"
    );
    assert!(!c.is_known_unknown(&b, "stale"), "new keys forget it");
    c.remember_unknown(&b, "x");
    assert!(
        !c.is_known_unknown(&a, "stale"),
        "cleared when the keys changed"
    );
    for i in 0..MAX_UNKNOWN_KIDS + 5 {
        c.remember_unknown(&b, &format!("k{i}"));
    }
    assert!(c.unknown_kids.lock().unwrap().kids.len() <= MAX_UNKNOWN_KIDS);
}

#[tokio::test(start_paused = true)]
async fn installed_keys_answer_without_a_fetch() {
    let (c, metrics) = cache(JwksSettings::default());
    let c = Arc::new(c);
    c.install(keyset(Instant::now()));
    let r = c
        .wait_for_keys(FetchCause::NoKeys, Instant::now(), |_| true)
        .await;
    assert!(r.is_ok(), "{r:?}");
    // No fetch was asked for: none runs later either.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(metrics.jwks_fetch_count("r", "error"), 0);
}

#[test]
fn background_retries_back_off_to_a_bound() {
    let s = Duration::from_secs;
    let waits: Vec<_> = (1..=8).map(|n| retry_interval(s(1), n)).collect();
    assert_eq!(waits, [s(1), s(2), s(4), s(8), s(16), s(30), s(30), s(30)]);
    assert_eq!(retry_interval(s(60), 3), s(60), "never below the cooldown");
    assert_eq!(retry_interval(s(1), u32::MAX), s(30));
}
