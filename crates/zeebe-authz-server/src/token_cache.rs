//! The verified-token cache: token → distilled [`Principal`], so a repeated token costs one
//! hash and one lookup instead of a signature check and JSON parsing.
//!
//! Bounds and behaviour:
//! - **Key**: the realm's token cache id, compared exactly, and a 128-bit keyed hash of the
//!   token (XXH3-128 with a secret drawn at random per process: one pass over the ~1 KiB
//!   token). A hit skips verification, so a collision would hand one token's principal to
//!   another. XXH3 is not a MAC: for short inputs (32–240 bytes) there are pairs that collide
//!   with a probability of about 2^-27 whatever the secret (Cyan4973/xxHash#1127), but each
//!   pair is derived from a known message, so building one for a cached token needs that
//!   token, which already gets its principal. Without it, one must hit an unknown 128-bit
//!   value under a secret that is never shown (with 100k entries, ~2^-111 a try). Two realms
//!   never share a key, whatever the hash. Storing hashes rather than tokens keeps 100k
//!   entries small. The table hashes that key by passing it through ([`PassThrough`]): it is
//!   already uniform and unknown to clients, so no hash-flooding defence is lost.
//! - **Value**: `Arc<Principal>`, the identity of the key that verified its token
//!   ([`zeebe_authz_core::keyset::VerifyKey::id`]: `kid` and key material) and the unix second
//!   after which it is not used, never the token.
//! - **Expiry**: an entry is valid until its token's `exp` (plus leeway, saturating: an `exp`
//!   near `u64::MAX` is cached like any other) and `max_ttl` after it was cached at the
//!   latest, so a revoked permission is picked up within `max_ttl`. Each hit compares that
//!   second with the clock; an expired entry is never returned, and is evicted by weight like
//!   any cold entry. No timer wheel: with moka's per-entry expiry 100k tokens took 68 MiB and
//!   a hit ~670 ns; here 36 MiB and ~80 ns.
//! - **Withdrawn keys**: a hit is used only while the realm's current key set still holds
//!   the key that verified it (the caller passes that test in): when Keycloak withdraws a key,
//!   its cached tokens end at the next Check after the fetch that proved it gone, exactly as
//!   a never-seen token of that key is refused. A rotation that keeps the old key listed
//!   changes nothing (the identity is the `kid` and the key material, not the fetch).
//! - **Size**: at most `max_bytes` of estimated weight ([`entry_weight`]: the principal's heap
//!   and the entry's share of the table), so 100,000 small tokens fit in the default and
//!   tokens with thousands of tenants take their real room instead of a fixed slot
//!   (quick_cache's S3-FIFO eviction: entries seen once leave first, so a flood of one-off
//!   tokens does not push out the hot ones). An entry heavier than one shard's share of the
//!   bound is not cached (quick_cache). The weight is reported as
//!   `zeebe_authz_token_cache_bytes`.
//! - **Evictions** of entries still valid are reported to an [`EvictionHook`] with their
//!   queue (hot: read again after it was cached), so an operator sees a bound too small for
//!   the working set before the miss rate shows it.
//! - **Failures** are not cached: an invalid token is verified (and refused) every time.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, Weighter};

use zeebe_authz_core::token::{Principal, unix_now};

/// What one entry costs besides its principal's strings: the key, the entry, the `Arc`'s
/// counts and the principal itself, and quick_cache's slot and index (measured with
/// `zeebe-authz bench memory`: 248 B per ordinary token, all in).
pub(crate) const ENTRY_OVERHEAD_BYTES: u64 = 192;

/// A cache key: the realm's token cache id and a 128-bit keyed hash of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenKey {
    realm: u64,
    token: u128,
}

impl Hash for TokenKey {
    /// One word: the token's hash folded to 64 bits, the realm id mixed in (two realms' keys
    /// of one token land apart). Equal keys hash alike, as `Eq` needs.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let token = self.token as u64 ^ (self.token >> 64) as u64;
        state.write_u64(token ^ self.realm.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
}

/// The table's hasher: a [`TokenKey`] is already a keyed hash (XXH3-128 under a per-process
/// secret), uniform, and not one a client can aim at another's bucket, so it is taken as the
/// table hash instead of being hashed again (quick_cache's default, aHash).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;

    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

/// See [`PassThrough`]: keeps the word a [`TokenKey`] writes.
#[derive(Debug)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = self.0.rotate_left(5) ^ word;
    }

    /// Not used by [`TokenKey`]; any other input is folded in a byte at a time (FNV-1a).
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type Table = Cache<TokenKey, Entry, EntryWeighter, PassThrough, ReportEvictions>;

/// Weighs an entry by [`entry_weight`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryWeighter;

impl Weighter<TokenKey, Entry> for EntryWeighter {
    fn weight(&self, _key: &TokenKey, entry: &Entry) -> u64 {
        entry.weight
    }
}

/// The estimated bytes an entry for `p` holds: [`ENTRY_OVERHEAD_BYTES`] and the principal's
/// heap (its strings, tenants and conditional grant indexes).
pub(crate) fn entry_weight(p: &Principal) -> u64 {
    let text = p.subject.heap_bytes() + p.client_id.heap_bytes();
    let tenants: usize = p.tenants.iter().map(|t| t.len() + 16).sum();
    let grants = p.grants.conditional.len() * 2;
    ENTRY_OVERHEAD_BYTES + (text + tenants + grants) as u64
}

/// Called for each still-valid entry the cache evicts for room; the argument says whether it
/// left from the hot queue (it was read again after it was cached). Runs under a shard lock:
/// it must be quick (the server's increments a counter).
pub(crate) type EvictionHook = Arc<dyn Fn(bool) + Send + Sync>;

/// The table's lifecycle: reports evictions of still-valid entries to the hook and, as
/// quick_cache's default lifecycle does, stashes up to two evicted entries so their
/// principals are dropped after the shard lock is released.
#[derive(Clone)]
struct ReportEvictions {
    hook: Option<EvictionHook>,
}

impl ReportEvictions {
    fn evicted(&self, stash: &mut [Option<Entry>; 2], hot: bool, entry: Entry) {
        if let Some(hook) = &self.hook
            && entry.valid_until >= unix_now()
        {
            hook(hot);
        }
        if let Some(slot) = stash.iter_mut().find(|s| s.is_none()) {
            *slot = Some(entry);
        }
    }
}

impl Lifecycle<TokenKey, Entry> for ReportEvictions {
    type RequestState = [Option<Entry>; 2];

    fn begin_request(&self) -> Self::RequestState {
        [None, None]
    }

    fn on_evict_cold(&self, stash: &mut Self::RequestState, _key: TokenKey, entry: Entry) {
        self.evicted(stash, false, entry);
    }

    fn on_evict_hot(&self, stash: &mut Self::RequestState, _key: TokenKey, entry: Entry) {
        self.evicted(stash, true, entry);
    }
}

/// The length of the hash secret (XXH3's default secret is 192 bytes; 136 is its minimum).
const SECRET_BYTES: usize = 192;

/// See the module docs.
pub struct TokenCache {
    max_bytes: u64,
    cache: Table,
    secret: Box<[u8; SECRET_BYTES]>,
    leeway: u64,
    max_ttl: u64,
}

#[derive(Clone)]
pub(crate) struct Entry {
    principal: Arc<Principal>,
    /// The identity of the key that verified the token
    /// ([`zeebe_authz_core::keyset::VerifyKey::id`]).
    key_id: u64,
    /// Unix second after which the entry is not used.
    valid_until: u64,
    /// [`entry_weight`] of the principal, computed once.
    weight: u64,
}

impl TokenCache {
    /// A cache of at most `max_bytes` of principals (estimated), each kept at most `max_ttl`.
    #[cfg(test)]
    pub(crate) fn new(max_bytes: u64, max_ttl: Duration, leeway: u64) -> TokenCache {
        TokenCache::with_hook(max_bytes, max_ttl, leeway, None)
    }

    /// [`TokenCache::new`], reporting evictions of still-valid entries to `hook`.
    pub(crate) fn with_eviction_hook(
        max_bytes: u64,
        max_ttl: Duration,
        leeway: u64,
        hook: EvictionHook,
    ) -> TokenCache {
        TokenCache::with_hook(max_bytes, max_ttl, leeway, Some(hook))
    }

    fn with_hook(
        max_bytes: u64,
        max_ttl: Duration,
        leeway: u64,
        hook: Option<EvictionHook>,
    ) -> TokenCache {
        TokenCache {
            max_bytes,
            cache: {
                // The table is sized for ordinary principals; it grows when they are smaller.
                let items = usize::try_from(max_bytes / 256).unwrap_or(usize::MAX);
                Table::with(
                    items.max(16),
                    max_bytes,
                    EntryWeighter,
                    PassThrough,
                    ReportEvictions { hook },
                )
            },
            secret: random_secret(),
            leeway,
            max_ttl: max_ttl.as_secs(),
        }
    }

    /// The key of `token` in the realm with token cache id `realm`.
    pub(crate) fn key(&self, realm: u64, token: &str) -> TokenKey {
        TokenKey {
            realm,
            token: xxhash_rust::xxh3::xxh3_128_with_secret(token.as_bytes(), &self.secret[..]),
        }
    }

    /// The principal for a key, if cached, its token has not expired and `holds_key` says
    /// the realm's keys still hold the key that verified it. An entry whose key is gone is
    /// removed.
    pub(crate) fn get(
        &self,
        key: &TokenKey,
        now: u64,
        holds_key: impl FnOnce(u64) -> bool,
    ) -> Option<Arc<Principal>> {
        let e = self.cache.get(key)?;
        if e.valid_until < now {
            return None;
        }
        if !holds_key(e.key_id) {
            self.cache.remove(key);
            return None;
        }
        Some(e.principal)
    }

    /// Caches a principal verified by the key with identity `key_id`.
    pub(crate) fn insert(&self, key: TokenKey, principal: Arc<Principal>, key_id: u64) {
        let valid_until = principal
            .expires_at
            .saturating_add(self.leeway)
            .min(unix_now().saturating_add(self.max_ttl));
        let weight = entry_weight(&principal);
        self.cache.insert(
            key,
            Entry {
                principal,
                key_id,
                valid_until,
                weight,
            },
        );
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.cache.len() as u64
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The estimated bytes the entries hold ([`entry_weight`] summed).
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }

    /// The bound of [`TokenCache::weight`] (`token.cache_max_bytes`).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }
}

/// A secret for the key hash, from the operating system's random source (aws-lc's
/// `SystemRandom`). Should that ever fail, aHash's per-process random seeds fill it instead,
/// so making a cache (at a reload too) never fails.
fn random_secret() -> Box<[u8; SECRET_BYTES]> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut secret = Box::new([0u8; SECRET_BYTES]);
    if aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut secret[..])
        .is_err()
    {
        let state = ahash::RandomState::new();
        for (i, word) in secret.chunks_exact_mut(8).enumerate() {
            word.copy_from_slice(&state.hash_one(i).to_le_bytes());
        }
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeebe_authz_core::config::settings::DEFAULT_CACHE_MAX_TTL as DEFAULT_MAX_TTL;

    #[test]
    fn each_cache_draws_its_own_secret() {
        let (a, b) = (random_secret(), random_secret());
        assert_ne!(a, b);
        assert!(
            a.iter().any(|&x| x != 0)
                && a.iter().collect::<std::collections::BTreeSet<_>>().len() > 64
        );
    }
    use zeebe_authz_core::policy::Grants;

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
        let c = TokenCache::new(1 << 20, DEFAULT_MAX_TTL, 0);
        assert_eq!(c.key(0, "a.b.c"), c.key(0, "a.b.c"));
        assert_ne!(c.key(0, "a.b.c"), c.key(1, "a.b.c"));
        assert_ne!(c.key(0, "a.b.c"), c.key(0, "a.b.d"));
        // Every byte of a long token counts (XXH3 takes >240 bytes in stripes).
        let long = "a".repeat(1000);
        for i in [0, 239, 240, 500, 999] {
            let mut other = long.clone().into_bytes();
            other[i] = b'b';
            let other = String::from_utf8(other).unwrap();
            assert_ne!(c.key(0, &long), c.key(0, &other), "byte {i}");
        }
    }

    #[test]
    fn the_table_hash_is_the_keys_token_hash_with_its_realm() {
        let c = TokenCache::new(1 << 20, DEFAULT_MAX_TTL, 0);
        let hash = |realm, token: &str| PassThrough.hash_one(c.key(realm, token));
        let key = c.key(3, "a.b.c");
        assert_eq!(
            hash(3, "a.b.c"),
            key.token as u64 ^ (key.token >> 64) as u64 ^ 3u64.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        assert_ne!(hash(0, "a.b.c"), hash(1, "a.b.c"));
        // Uniform where quick_cache and hashbrown look: the shard (middle bits), the bucket
        // (low bits) and the tag (top 7 bits) of 4,096 tokens.
        let hashes: Vec<u64> = (0..4096).map(|i| hash(1, &format!("t.{i}.x"))).collect();
        for (shift, bits) in [(0, 8), (32, 4), (57, 7)] {
            let mut seen = std::collections::BTreeSet::new();
            for h in &hashes {
                seen.insert((h >> shift) & ((1 << bits) - 1));
            }
            assert_eq!(seen.len(), 1 << bits, "bits {shift}..{}", shift + bits);
        }
    }

    #[test]
    fn keys_differ_by_process() {
        // The secret is drawn per cache: another process (or cache) keys the same token apart.
        let (a, b) = (
            TokenCache::new(1 << 20, DEFAULT_MAX_TTL, 0),
            TokenCache::new(1 << 20, DEFAULT_MAX_TTL, 0),
        );
        assert_ne!(a.key(0, "a.b.c"), b.key(0, "a.b.c"));
    }

    #[test]
    fn expired_principal_is_not_returned() {
        let c = TokenCache::new(1 << 20, DEFAULT_MAX_TTL, 5);
        let now = unix_now();
        let k = c.key(0, "t");
        c.insert(k, principal(now + 100), 1);
        assert!(c.get(&k, now, |_| true).is_some());
        assert!(
            c.get(&k, now + 106, |_| true).is_none(),
            "past exp + leeway"
        );
        let k2 = c.key(0, "old");
        c.insert(k2, principal(now - 100), 1);
        assert!(c.get(&k2, now, |_| true).is_none());
    }

    #[test]
    fn entries_live_at_most_max_ttl() {
        let c = TokenCache::new(1 << 20, Duration::from_secs(60), 0);
        let now = unix_now();
        let k = c.key(0, "long-lived");
        c.insert(k, principal(now + 3600), 1);
        assert!(c.get(&k, now + 59, |_| true).is_some());
        assert!(
            c.get(&k, now + 61, |_| true).is_none(),
            "max_ttl caps a long token lifetime"
        );
    }

    #[test]
    fn exp_plus_leeway_saturates() {
        let c = TokenCache::new(1 << 20, DEFAULT_MAX_TTL, 30);
        let now = unix_now();
        let k = c.key(0, "far");
        c.insert(k, principal(u64::MAX), 1);
        assert!(c.get(&k, now, |_| true).is_some());
        assert!(
            c.get(&k, now + 301, |_| true).is_none(),
            "max_ttl still caps it"
        );
    }

    #[test]
    fn an_entry_whose_key_is_gone_is_not_returned_and_leaves() {
        let c = TokenCache::new(1 << 20, DEFAULT_MAX_TTL, 0);
        let now = unix_now();
        let k = c.key(0, "t");
        c.insert(k, principal(now + 100), 7);
        assert!(c.get(&k, now, |id| id == 7).is_some());
        assert!(c.get(&k, now, |id| id == 8).is_none());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn the_cache_is_bounded_by_weight() {
        let c = TokenCache::new(256 << 10, DEFAULT_MAX_TTL, 0);
        let now = unix_now();
        let tenants: Box<[Box<str>]> = (0..200).map(|i| format!("tenant-{i:025}").into()).collect();
        for i in 0..300 {
            let mut p = (*principal(now + 100)).clone();
            p.tenants = tenants.clone();
            c.insert(c.key(0, &format!("t{i}")), Arc::new(p), 1);
        }
        assert!(c.weight() <= 256 << 10, "{}", c.weight());
        assert!(c.weight() > 128 << 10, "{}", c.weight());
        assert!(c.len() < 300);
    }
}

#[cfg(test)]
mod eviction_tests {
    use std::sync::{Arc, Mutex};

    use super::TokenCache;
    use zeebe_authz_core::config::settings::DEFAULT_CACHE_MAX_TTL as DEFAULT_MAX_TTL;
    use zeebe_authz_core::policy::Grants;
    use zeebe_authz_core::token::{Principal, unix_now};

    fn principal(exp: u64) -> Arc<Principal> {
        Arc::new(Principal {
            subject: "s".into(),
            client_id: "c".into(),
            grants: Grants::default(),
            tenants: Box::new([]),
            expires_at: exp,
        })
    }

    /// Room for 10 principals of [`principal`].
    fn ten() -> u64 {
        10 * super::entry_weight(&principal(0))
    }

    /// A cache of 10 whose hook records each report (`true`: hot).
    fn reporting_cache() -> (TokenCache, Arc<Mutex<Vec<bool>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let cache = TokenCache::with_eviction_hook(
            ten(),
            DEFAULT_MAX_TTL,
            0,
            Arc::new(move |hot| sink.lock().unwrap().push(hot)),
        );
        (cache, seen)
    }

    #[test]
    fn evictions_of_valid_entries_are_reported_with_their_queue() {
        let (c, seen) = reporting_cache();
        let live = unix_now() + 3600;
        // Tokens read again after caching are hot; a stream of them twice the capacity must
        // push hot entries out, and the one-off tokens that follow leave from the cold queue.
        for i in 0..40 {
            let k = c.key(0, &format!("hot-{i}"));
            c.insert(k, principal(live), 1);
            assert!(c.get(&k, unix_now(), |_| true).is_some());
            assert!(c.get(&k, unix_now(), |_| true).is_some());
        }
        for i in 0..40 {
            c.insert(c.key(0, &format!("cold-{i}")), principal(live), 1);
        }
        let seen = seen.lock().unwrap();
        assert!(seen.contains(&true), "no hot eviction reported: {seen:?}");
        assert!(seen.contains(&false), "no cold eviction reported: {seen:?}");
        assert!(c.len() <= 11);
        assert_eq!(c.max_bytes(), ten());
    }

    #[test]
    fn evictions_of_expired_entries_are_not_reported() {
        let (c, seen) = reporting_cache();
        for i in 0..40 {
            c.insert(c.key(0, &format!("old-{i}")), principal(1), 1);
        }
        assert!(c.len() <= 11);
        assert_eq!(*seen.lock().unwrap(), Vec::<bool>::new());
    }
}
