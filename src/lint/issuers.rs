//! Config checks across realms: a catch-all realm trusting a named realm's issuer.

use zeebe_authz_core::config::{self, Config};
use zeebe_authz_core::diag::{Diagnostics, Span};

/// A `*` realm that trusts the issuer of a realm with named hosts accepts that realm's tokens
/// on every host no realm names: any spelling of a host the named realm misses (a trailing dot
/// was the first found, an IP address or an internal service name are others) is then judged
/// by the `*` realm's policy instead of the named one's.
pub(super) fn warn_catch_all_sharing_an_issuer(
    config: &Config,
    spans: &[Span],
    diags: &mut Diagnostics,
) {
    let issuer = |r: &config::RealmConfig| r.issuer.trim_end_matches('/').to_string();
    for (i, any) in config.realms.iter().enumerate() {
        if !any.hosts.iter().any(|h| &**h == "*") {
            continue;
        }
        for named in &config.realms {
            if std::ptr::eq(named, any) || issuer(named) != issuer(any) {
                continue;
            }
            diags
                .warning(
                    spans[i].clone(),
                    format!("realms[{i}].issuer"),
                    format!(
                        "realm '{}' (hosts: *) trusts the same issuer as realm '{}': a token of '{}' is accepted on every host '{}' does not name (another spelling, an IP address) and judged by the policy of '{}'",
                        any.name, named.name, named.name, named.name, any.name
                    ),
                )
                .hint("give the catch-all realm its own Keycloak realm, or list every host explicitly");
        }
    }
}
