//! The settings the server's parts take from a config: the JWKS cache's timing, the token
//! cache's defaults and the Check port's connections (the defaults a config without these
//! keys gets).

use std::time::Duration;

/// Default bound of the verified-token cache's estimated weight: 64 MiB, room for ~250,000
/// ordinary Keycloak principals, or ~10,000 that carry 6 KiB of tenants each.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 64 << 20;
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

/// The default cap on open Check connections (Envoy keeps a few per worker thread).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default time a new connection has to complete its first request's headers.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time a connection may carry no request before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// The default interval of HTTP/2 keepalive pings on a connection that received nothing.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// The default time a keepalive ping may go unanswered before the connection is closed.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The Check port's connection settings (`server:` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// The most open Check connections.
    pub max_connections: usize,
    /// How long a new connection may take to complete its first request's headers.
    pub header_timeout: Duration,
    /// How long a connection may carry no request.
    pub idle_timeout: Duration,
    /// HTTP/2 keepalive ping interval.
    pub keepalive_interval: Duration,
    /// How long a keepalive ping may go unanswered.
    pub keepalive_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
        }
    }
}
