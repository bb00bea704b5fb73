//! The verified-token cache: token → distilled [`Principal`], so a repeated token costs one
//! hash and one lookup instead of a signature check and JSON parsing.
//!
//! Bounds and behaviour:
//! - **Key**: a 128-bit keyed hash (two independently seeded aHash states) of the realm index
//!   and the token. The seeds are random per process, so nobody can build a token that
//!   collides with another's; storing hashes rather than tokens keeps 100k entries small.
//! - **Value**: `Arc<Principal>`, never the token.
//! - **Expiry**: each entry expires at its token's `exp` (plus leeway) and after `max_ttl` at
//!   the latest, so a policy reload or a revoked permission is picked up within `max_ttl`.
//!   A hit re-checks `exp` as well, since the cache's clock is coarse.
//! - **Size**: at most `capacity` entries (TinyLFU eviction by moka).
//! - **Failures** are not cached: an invalid token is verified (and refused) every time.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use super::{Principal, unix_now};

/// Default number of cached principals.
pub const DEFAULT_CAPACITY: u64 = 100_000;
/// Default longest time an entry lives, whatever its token's `exp`.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(300);

/// A cache key: a 128-bit keyed hash of realm and token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenKey(u64, u64);

/// See the module docs.
pub struct TokenCache {
    cache: Cache<TokenKey, Arc<Principal>>,
    seeds: (ahash::RandomState, ahash::RandomState),
    leeway: u64,
}

struct UntilExp {
    leeway: u64,
    max_ttl: Duration,
}

impl Expiry<TokenKey, Arc<Principal>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &TokenKey,
        value: &Arc<Principal>,
        _now: Instant,
    ) -> Option<Duration> {
        let left = (value.expires_at + self.leeway).saturating_sub(unix_now());
        Some(Duration::from_secs(left).min(self.max_ttl))
    }
}

impl TokenCache {
    /// A cache of at most `capacity` principals, each kept at most `max_ttl`.
    pub fn new(capacity: u64, max_ttl: Duration, leeway: u64) -> TokenCache {
        TokenCache {
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExp { leeway, max_ttl })
                .build(),
            seeds: (ahash::RandomState::new(), ahash::RandomState::new()),
            leeway,
        }
    }

    /// The key of `token` in realm `realm`.
    pub fn key(&self, realm: usize, token: &str) -> TokenKey {
        let hash = |s: &ahash::RandomState| {
            let mut h = s.build_hasher();
            realm.hash(&mut h);
            token.hash(&mut h);
            h.finish()
        };
        TokenKey(hash(&self.seeds.0), hash(&self.seeds.1))
    }

    /// The principal for a key, if cached and its token has not expired.
    pub fn get(&self, key: &TokenKey, now: u64) -> Option<Arc<Principal>> {
        let p = self.cache.get(key)?;
        (p.expires_at + self.leeway >= now).then_some(p)
    }

    /// Caches a verified principal.
    pub fn insert(&self, key: TokenKey, principal: Arc<Principal>) {
        self.cache.insert(key, principal);
    }

    /// Approximate number of entries.
    pub fn len(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Whether the cache is (approximately) empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs moka's pending maintenance (tests, memory measurements).
    pub fn sync(&self) {
        self.cache.run_pending_tasks();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Grants;

    fn principal(exp: u64) -> Arc<Principal> {
        Arc::new(Principal {
            subject: "s".into(),
            client_id: "c".into(),
            grants: Grants::default(),
            tenants: Box::new([]),
            expires_at: exp,
        })
    }

    #[test]
    fn keys_differ_by_realm_and_token() {
        let c = TokenCache::new(10, DEFAULT_MAX_TTL, 0);
        assert_eq!(c.key(0, "a.b.c"), c.key(0, "a.b.c"));
        assert_ne!(c.key(0, "a.b.c"), c.key(1, "a.b.c"));
        assert_ne!(c.key(0, "a.b.c"), c.key(0, "a.b.d"));
    }

    #[test]
    fn expired_principal_is_not_returned() {
        let c = TokenCache::new(10, DEFAULT_MAX_TTL, 5);
        let now = unix_now();
        let k = c.key(0, "t");
        c.insert(k, principal(now + 100));
        assert!(c.get(&k, now).is_some());
        assert!(c.get(&k, now + 106).is_none(), "past exp + leeway");
        let k2 = c.key(0, "old");
        c.insert(k2, principal(now - 100));
        assert!(c.get(&k2, now).is_none());
    }
}
