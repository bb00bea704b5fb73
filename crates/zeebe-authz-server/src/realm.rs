//! Realms: which Keycloak realm (issuer, audiences, policy, keys) protects a request's host.
//!
//! A realm is chosen by the request's `:authority` before the token is read, and the token
//! must then be of that realm's issuer: a token of realm A is never accepted on realm B's host,
//! even if both realms trust the same Keycloak.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ahash::AHashMap;
use sha2::{Digest as _, Sha256};

use crate::jwks::JwksCache;
use crate::metrics::RealmDecisions;
use zeebe_authz_core::config::{RealmConfig, RealmMode};
use zeebe_authz_core::host::Authority;
use zeebe_authz_core::policy::Policy;
use zeebe_authz_core::text::HeaderText;
use zeebe_authz_core::token::verify::TokenRules;

/// One realm, ready to serve.
pub struct Realm {
    /// Position in the config.
    pub index: usize,
    /// Part of token cache keys: the same for two generations of a realm only when everything
    /// a cached principal was derived from is the same (issuer, audiences, claims, leeway,
    /// policy text, JWKS URL), and never the same for two realms, so a reload never serves a
    /// principal compiled against another policy or verified with another realm's keys.
    pub(crate) cache_id: u64,
    /// What `cache_id` stands for.
    fingerprint: [u8; 32],
    /// Name for logs and headers (escaped for its header once, here).
    pub name: Arc<HeaderText>,
    /// Whether denies are enforced.
    pub mode: RealmMode,
    /// What tokens must satisfy.
    pub rules: TokenRules,
    /// The compiled policy.
    pub policy: Arc<Policy>,
    /// Where the gateway serves the REST API (`/v2`).
    pub rest_base_path: Arc<str>,
    /// The realm's keys.
    pub(crate) jwks: Arc<JwksCache>,
    /// Its decision counters (`zeebe_authz_realm_decisions_total`).
    pub(crate) decisions: RealmDecisions,
}

/// Which rule of [`Realms::for_host`] chose a realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRule {
    /// The host (with its port, if any) is one of the realm's hosts.
    Exact,
    /// The host without its port is one of the realm's hosts.
    WithoutPort,
    /// No realm names the host; the realm with host `*` takes it.
    AnyHost,
}

/// All realms, indexed by host.
pub struct Realms {
    realms: Box<[Realm]>,
    by_host: AHashMap<Box<str>, usize>,
    any_host: Option<usize>,
}

/// Token cache ids are never reused for a different realm fingerprint, in any generation.
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

impl Realms {
    /// Builds the host index. Hosts are in normal form and unique (checked when the config was
    /// compiled). A realm whose fingerprint equals one of `previous` (the generation a reload
    /// replaces) keeps its token cache id, so its cached tokens stay warm.
    pub fn new(
        realms: Vec<(RealmConfig, Arc<JwksCache>)>,
        leeway: u64,
        previous: Option<&Realms>,
    ) -> Realms {
        let mut by_host = AHashMap::new();
        let mut any_host = None;
        let mut claimed: Vec<u64> = Vec::new();
        let realms: Box<[Realm]> = realms
            .into_iter()
            .enumerate()
            .map(|(index, (c, jwks))| {
                for h in c.hosts.iter() {
                    if &**h == "*" {
                        any_host = Some(index);
                    } else {
                        by_host.insert(h.clone(), index);
                    }
                }
                let rules = TokenRules {
                    issuer: c.issuer,
                    audiences: c.audiences,
                    leeway,
                    token_type: c.token_type,
                    permissions_claim: c.permissions_claim,
                    tenants_claim: c.tenants_claim,
                    tenants_prefix: c.tenants_prefix,
                };
                let fingerprint = fingerprint(&rules, &c.policy, &c.jwks_uri);
                // Each previous id goes to at most one new realm (the one of the same name
                // first): two realms never share cached principals.
                let candidates = || {
                    previous
                        .into_iter()
                        .flat_map(Realms::iter)
                        .filter(|r| r.fingerprint == fingerprint && !claimed.contains(&r.cache_id))
                };
                let reused = candidates()
                    .find(|r| *r.name == *c.name)
                    .or_else(|| candidates().next())
                    .map(|r| r.cache_id);
                let cache_id =
                    reused.unwrap_or_else(|| NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed));
                claimed.push(cache_id);
                Realm {
                    index,
                    decisions: jwks.metrics().realm_decisions(&c.name, c.mode),
                    cache_id,
                    fingerprint,
                    name: Arc::new(HeaderText::from(&*c.name)),
                    mode: c.mode,
                    rules,
                    policy: c.policy,
                    rest_base_path: c.rest_base_path.into(),
                    jwks,
                }
            })
            .collect();
        Realms {
            realms,
            by_host,
            any_host,
        }
    }

    /// The realm protecting `host`: an exact match, then the host without its port, then the
    /// `*` realm. Hosts are compared in the normal form of `zeebe_authz_core::host` (lower case, one
    /// trailing dot dropped), in which the config's hosts were stored.
    pub fn for_host(&self, host: &str) -> Option<&Realm> {
        self.matching(host).map(|(realm, _)| realm)
    }

    /// [`Realms::for_host`], saying which of its rules chose the realm.
    pub fn matching(&self, host: &str) -> Option<(&Realm, HostRule)> {
        if self.by_host.is_empty() {
            // Only a `*` realm (or none): nothing to normalize or look up.
            return self.any_host.map(|i| (&self.realms[i], HostRule::AnyHost));
        }
        let authority = Authority::parse(host);
        let exact = || {
            self.by_host
                .get(&*authority.joined(host))
                .map(|&i| (i, HostRule::Exact))
        };
        let without_port = || {
            authority.port.and_then(|_| {
                self.by_host
                    .get(&*authority.name)
                    .map(|&i| (i, HostRule::WithoutPort))
            })
        };
        exact()
            .or_else(without_port)
            .or(self.any_host.map(|i| (i, HostRule::AnyHost)))
            .map(|(i, how)| (&self.realms[i], how))
    }

    /// Every realm.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Realm> {
        self.realms.iter()
    }
}

/// What a cached principal depends on: the token rules, the policy text and where the keys
/// that verified it came from.
fn fingerprint(rules: &TokenRules, policy: &Policy, jwks_uri: &Option<Arc<str>>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(format!("{rules:?}").as_bytes());
    h.update(policy.digest());
    h.update(format!("{jwks_uri:?}").as_bytes());
    h.finalize().into()
}
