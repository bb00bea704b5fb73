//! The settings the server's parts take from a config: the JWKS cache's timing and the token
//! cache's defaults (the defaults a config without these keys gets).

use std::time::Duration;

/// Default number of principals the verified-token cache keeps.
pub const DEFAULT_CACHE_CAPACITY: u64 = 100_000;
/// Default longest time a verified-token cache entry lives, whatever its token's `exp`.
pub const DEFAULT_CACHE_MAX_TTL: Duration = Duration::from_secs(300);

/// The default least time between two fetches: Keycloak sees at most one fetch a second.
pub const DEFAULT_REFETCH_COOLDOWN: Duration = Duration::from_secs(1);
/// The default timeout of one fetch.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(1);

/// Timing of the JWKS cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    /// How often keys are refreshed in the background.
    pub refresh_interval: Duration,
    /// The least time between the starts of two fetches (of any cause): bounds what a spray of
    /// unknown `kid`s costs Keycloak, and how long a Check may wait for a rotated key.
    pub refetch_cooldown: Duration,
    /// How long one fetch may take. Below the Check timeout `zeebe-authz istio` generates
    /// (2 s), so a Check waiting on a hanging Keycloak gets the fetch's own error, not Envoy's.
    pub fetch_timeout: Duration,
    /// How long the last good keys stay usable when Keycloak cannot be reached.
    pub keys_max_age: Duration,
}

impl Default for JwksSettings {
    fn default() -> Self {
        JwksSettings {
            refresh_interval: Duration::from_secs(300),
            refetch_cooldown: DEFAULT_REFETCH_COOLDOWN,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            keys_max_age: Duration::from_secs(12 * 3600),
        }
    }
}
