//! The data path of one Check: request view → realm → token → rule → decision.
//!
//! Hot path (a cached token): parse the path (a `match` on the method name), look the host up,
//! hash the token, one cache lookup, one bit test, build the response. No crypto, no JSON.
//! Cold path: verify the token (see `token::verify`), fetching keys only when its `kid` is
//! unknown (shared single-flight refetch with cooldown, see `jwks`).

use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse};

use crate::catalog::{PathTarget, parse_path};
use crate::config::TokenSettings;
use crate::decision::{Decision, Deny, IdentityHeaders, Outcome, PathLabel, into_check_response};
use crate::jwks::{FetchCause, KeyLookup};
use crate::metrics::Metrics;
use crate::policy::{PathRule, RpcDeny};
use crate::realm::{Realm, Realms};
use crate::request::RequestView;
use crate::token::bearer::{bearer_token, check_jwt_shape};
use crate::token::cache::TokenCache;
use crate::token::verify::{parse_header, unverified_issuer, verify};
use crate::token::{Principal, unix_now};

/// Everything a Check needs, built once at startup.
pub struct Authorizer {
    realms: Realms,
    cache: TokenCache,
    metrics: Arc<Metrics>,
    headers: IdentityHeaders,
    max_token_bytes: usize,
}

impl Authorizer {
    /// Assembles the authorizer.
    pub fn new(
        realms: Realms,
        token: &TokenSettings,
        headers: IdentityHeaders,
        metrics: Arc<Metrics>,
    ) -> Authorizer {
        Authorizer {
            realms,
            cache: TokenCache::new(
                token.cache_capacity,
                token.cache_max_ttl,
                token.leeway.as_secs(),
            ),
            metrics,
            headers,
            max_token_bytes: token.max_bytes,
        }
    }

    /// The realms (for readiness).
    pub fn realms(&self) -> &Realms {
        &self.realms
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The verified-token cache.
    pub fn token_cache(&self) -> &TokenCache {
        &self.cache
    }

    /// Answers one Check. Never fails: every problem is a deny with a reason.
    pub async fn check(&self, request: &CheckRequest) -> CheckResponse {
        let started = std::time::Instant::now();
        let view = RequestView::new(request);
        let target = parse_path(view.path);
        let label = match target {
            PathTarget::Rpc(rpc) => PathLabel::Rpc(rpc),
            PathTarget::UnknownRpc(_) => PathLabel::UnknownRpc,
            PathTarget::OtherService => PathLabel::Other,
        };
        let (decision, realm, principal) = self.decide(&view, target).await;
        let response = into_check_response(&decision, &self.headers);
        self.metrics.decision(label, decision.outcome());
        self.metrics.check_latency(started.elapsed().as_secs_f64());
        if let Decision::Deny(deny) = &decision {
            log_deny(&view, deny, realm, principal.as_deref());
        }
        response
    }

    async fn decide<'r>(
        &'r self,
        view: &RequestView<'_>,
        target: PathTarget<'_>,
    ) -> (Decision, Option<&'r Realm>, Option<Arc<Principal>>) {
        let Some(realm) = self.realms.for_host(view.host) else {
            let deny = Deny::new(
                Outcome::UnknownHost,
                format!(
                    "host '{}' is not protected by any realm",
                    printable(view.host)
                ),
            );
            return (Decision::Deny(deny), None, None);
        };
        let principal = match self.authenticate(realm, view.authorization).await {
            Ok(p) => p,
            Err(deny) => return (Decision::Deny(deny), Some(realm), None),
        };
        let rule = match target {
            PathTarget::Rpc(rpc) => realm
                .policy
                .decide(&principal.grants, &principal.tenants, rpc, &view.body)
                .map_err(|e| match e {
                    RpcDeny::MissingPermission { rpc, granting } => Deny::new(
                        Outcome::MissingPermission,
                        format!(
                            "{rpc} requires permission {granting} in {}",
                            realm.rules.permissions_claim
                        ),
                    ),
                    RpcDeny::ConditionFailed(reason) => {
                        Deny::new(Outcome::ConditionFailed, format!("{rpc}: {reason}"))
                    }
                    RpcDeny::BodyUnavailable(e) => Deny::new(
                        Outcome::BodyUnavailable,
                        format!("{rpc}: cannot check the request's fields: {e}"),
                    ),
                }),
            PathTarget::UnknownRpc(method) => match realm.policy.unknown_rpcs() {
                PathRule::Authenticated => Ok(()),
                PathRule::Deny => Err(Deny::new(
                    Outcome::UnknownRpc,
                    format!("unknown gateway rpc '{}'", printable(method)),
                )),
            },
            PathTarget::OtherService => match realm.policy.other_paths() {
                PathRule::Authenticated => Ok(()),
                PathRule::Deny => Err(Deny::new(
                    Outcome::OtherPath,
                    format!("path '{}' is not a Zeebe gateway rpc", printable(view.path)),
                )),
            },
        };
        match rule {
            Ok(()) => {
                let decision = Decision::Allow {
                    principal,
                    realm: realm.name.clone(),
                };
                (decision, Some(realm), None)
            }
            Err(deny) => (Decision::Deny(deny), Some(realm), Some(principal)),
        }
    }

    /// Token → principal, from the cache or by verifying it.
    async fn authenticate(
        &self,
        realm: &Realm,
        authorization: Option<&str>,
    ) -> Result<Arc<Principal>, Deny> {
        let token = bearer_token(authorization, self.max_token_bytes)?;
        let key = self.cache.key(realm.index, token);
        let now = unix_now();
        if let Some(p) = self.cache.get(&key, now) {
            self.metrics.token_cache(true);
            return Ok(p);
        }
        self.metrics.token_cache(false);
        let principal = Arc::new(self.verify(realm, token, now).await?);
        self.cache.insert(key, principal.clone());
        Ok(principal)
    }

    async fn verify(&self, realm: &Realm, token: &str, now: u64) -> Result<Principal, Deny> {
        check_jwt_shape(token)?;
        let header = parse_header(token)?;
        let mut keys = match realm.jwks.keys() {
            Some(k) => k,
            None => realm
                .jwks
                .refetch(FetchCause::NoKeys)
                .await
                .ok_or_else(keys_unavailable)?,
        };
        let mut refetched = false;
        loop {
            match keys.find(header.kid.as_deref(), header.alg) {
                KeyLookup::Found(key) => {
                    let key = key.clone();
                    return verify(token, &header, &key, &realm.rules, &realm.policy, now);
                }
                KeyLookup::AlgorithmMismatch => {
                    return Err(Deny::new(
                        Outcome::AlgorithmMismatch,
                        format!("token algorithm {:?} does not match its key", header.alg),
                    ));
                }
                KeyLookup::UnknownKid if refetched => {
                    return Err(Deny::new(
                        Outcome::UnknownKey,
                        "token signing key (kid) is not in the realm's JWKS",
                    ));
                }
                KeyLookup::UnknownKid => {
                    // A foreign token would trigger refetches for nothing: answer it first.
                    if unverified_issuer(token).as_deref() != Some(&*realm.rules.issuer) {
                        return Err(Deny::new(
                            Outcome::WrongIssuer,
                            format!("token issuer is not {}", realm.rules.issuer),
                        ));
                    }
                    keys = realm
                        .jwks
                        .refetch(FetchCause::UnknownKid)
                        .await
                        .ok_or_else(keys_unavailable)?;
                    refetched = true;
                }
            }
        }
    }
}

fn keys_unavailable() -> Deny {
    Deny::new(
        Outcome::KeysUnavailable,
        "signing keys of the realm are unavailable (Keycloak unreachable)",
    )
}

/// Clips untrusted text for messages and logs: at most 64 printable ASCII characters.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect();
    if s.len() > out.len() {
        out.push('…');
    }
    out
}

/// One line per deny: what an operator (or a developer whose worker is refused) needs to know,
/// with the subject and client when the token was valid. Never the token.
fn log_deny(view: &RequestView<'_>, deny: &Deny, realm: Option<&Realm>, who: Option<&Principal>) {
    tracing::info!(
        rpc = %printable(view.path),
        reason = deny.outcome.reason(),
        detail = %deny.message,
        realm = realm.map_or("", |r| &r.name),
        subject = who.map_or("", |p| &p.subject),
        client_id = who.map_or("", |p| &p.client_id),
        host = %printable(view.host),
        "Denied"
    );
}
