//! Tokens: from the `authorization` header to a distilled [`Principal`].
//!
//! - [`bearer`] takes the token out of the header (scheme, size and charset checks).
//! - [`verify`] verifies signature and claims against a realm's keys and rules (cold path).
//!
//! Keeping verified principals, so the hot path does no crypto and no JSON, is the server's
//! token cache.

pub mod bearer;
pub mod verify;

use crate::policy::Grants;
use crate::text::HeaderText;

/// What the authorizer keeps of a verified token: enough to decide and to tell the gateway
/// who called, nothing more (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub` (a user or service-account id), escaped for its header when cached.
    pub subject: HeaderText,
    /// The client the token was issued to (`azp`, RFC 9068's `client_id`, or Keycloak's
    /// `clientId`), escaped for its header when cached.
    pub client_id: HeaderText,
    /// The rpcs the token's permissions grant under the realm's policy.
    pub grants: Grants,
    /// The tenants the caller holds (for tenant conditions).
    pub tenants: Box<[Box<str>]>,
    /// The token's `exp` (unix seconds).
    pub expires_at: u64,
}

/// Seconds since the unix epoch, from the system clock (tokens speak wall-clock time).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
