//! The data path of one Check: request view → realm → token → rule → decision.
//!
//! Hot path (a cached token): parse the path (a `match` on the method name), look the host up,
//! hash the token, one cache lookup, one bit test, build the response. No crypto, no JSON.
//! Cold path: verify the token (see `token::verify`), fetching keys only when its `kid` is
//! unknown (shared single-flight refetch with cooldown, see `jwks`).

use std::sync::Arc;

use tokio::time::Instant;

use crate::catalog::{PathTarget, parse_path};
use crate::config::TokenSettings;
use crate::decision::{Decision, IdentityHeaders};
use crate::jwks::{FetchCause, KeyLookup, KeySet, KeyWait};
use crate::metrics::Metrics;
use crate::outcome::{Deny, Outcome, PathLabel};
use crate::policy::{PathRule, RpcDeny};
use crate::realm::{Realm, Realms};
use crate::request::RequestView;
use crate::text::{Keep, clip};
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
    pub(crate) fn realms(&self) -> &Realms {
        &self.realms
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The verified-token cache.
    pub(crate) fn token_cache(&self) -> &TokenCache {
        &self.cache
    }

    /// The names of the identity headers an allow adds.
    pub(crate) fn identity_headers(&self) -> &IdentityHeaders {
        &self.headers
    }

    /// Decides one Check, counts it and logs a deny. Never fails: every problem is a deny with
    /// a reason. A Check that must wait for keys gives up at `deadline` (the caller's
    /// `grpc-timeout` less a margin); without one it waits at most one fetch:
    /// `refetch_cooldown + fetch_timeout`.
    pub(crate) async fn decide(
        &self,
        view: &RequestView<'_>,
        deadline: Option<Instant>,
    ) -> Decision {
        let target = parse_path(view.path);
        let label = match target {
            PathTarget::Rpc(rpc) => PathLabel::Rpc(rpc),
            PathTarget::UnknownRpc(_) | PathTarget::MalformedRpc(_) => PathLabel::UnknownRpc,
            PathTarget::OtherService => PathLabel::Other,
        };
        let (decision, realm, principal) = self.judge(view, target, deadline).await;
        self.metrics.decision(label, decision.outcome());
        if let Decision::Deny(deny) = &decision {
            log_deny(view, deny, realm, principal.as_deref());
        }
        decision
    }

    async fn judge<'r>(
        &'r self,
        view: &RequestView<'_>,
        target: PathTarget<'_>,
        deadline: Option<Instant>,
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
        let principal = match self.authenticate(realm, view.authorization, deadline).await {
            Ok(p) => p,
            Err(deny) => return (Decision::Deny(deny), Some(realm), None),
        };
        let rule = match target {
            PathTarget::Rpc(rpc) => realm
                .policy
                .authorize(&principal.grants, &principal.tenants, rpc, &view.body)
                .map_err(|e| match e {
                    RpcDeny::MissingPermission { rpc, granting } if granting.is_empty() => {
                        Deny::new(
                            Outcome::MissingPermission,
                            format!(
                                "{rpc} is granted by no permission of realm '{}'",
                                realm.name
                            ),
                        )
                    }
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
            // `unknown_rpcs: authenticated` lets a newer gateway's rpcs through, never a
            // method that is no rpc name, whatever the policy says.
            PathTarget::MalformedRpc(method) => Err(Deny::new(
                Outcome::UnknownRpc,
                format!(
                    "unknown gateway rpc '{}' (not an rpc name)",
                    printable(method)
                ),
            )),
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
        deadline: Option<Instant>,
    ) -> Result<Arc<Principal>, Deny> {
        let token = bearer_token(authorization, self.max_token_bytes)?;
        let key = self.cache.key(realm.index, token);
        let now = unix_now();
        if let Some(p) = self.cache.get(&key, now) {
            self.metrics.token_cache(true);
            return Ok(p);
        }
        self.metrics.token_cache(false);
        let principal = Arc::new(self.verify(realm, token, now, deadline).await?);
        self.cache.insert(key, principal.clone());
        Ok(principal)
    }

    async fn verify(
        &self,
        realm: &Realm,
        token: &str,
        now: u64,
        deadline: Option<Instant>,
    ) -> Result<Principal, Deny> {
        check_jwt_shape(token)?;
        let header = parse_header(token)?;
        let kid = header.kid.as_deref();
        let known = |keys: &KeySet| !matches!(keys.find(kid, header.alg), KeyLookup::UnknownKid);
        let keys = match realm.jwks.keys() {
            Some(keys) if known(&keys) => keys,
            cached => {
                // Keys must be fetched. A foreign token would trigger fetches for nothing:
                // answer it first.
                if unverified_issuer(token).as_deref() != Some(&*realm.rules.issuer) {
                    return Err(Deny::new(
                        Outcome::WrongIssuer,
                        format!("token issuer is not {}", realm.rules.issuer),
                    ));
                }
                if let (Some(keys), Some(k)) = (&cached, kid)
                    && realm.jwks.is_known_unknown(keys, k)
                {
                    return Err(unknown_key(kid));
                }
                let cause = match cached {
                    Some(_) => FetchCause::UnknownKid,
                    None => FetchCause::NoKeys,
                };
                let deadline = deadline.unwrap_or_else(|| {
                    let s = realm.jwks.settings();
                    Instant::now() + s.refetch_cooldown + s.fetch_timeout
                });
                // Either keys that know the kid (perhaps from a fetch already under way), or
                // the keys of a fetch that started after this Check arrived: then a kid
                // missing from them is really unknown.
                let keys = realm
                    .jwks
                    .wait_for_keys(cause, deadline, known)
                    .await
                    .map_err(|e| keys_unavailable(&e, kid))?;
                if let Some(k) = kid
                    && !known(&keys)
                {
                    realm.jwks.remember_unknown(&keys, k);
                }
                keys
            }
        };
        match keys.find(kid, header.alg) {
            KeyLookup::Found(key) => verify(token, &header, key, &realm.rules, &realm.policy, now),
            KeyLookup::AlgorithmMismatch => Err(Deny::new(
                Outcome::AlgorithmMismatch,
                format!("token algorithm {:?} does not match its key", header.alg),
            )),
            KeyLookup::UnknownKid => Err(unknown_key(kid)),
        }
    }
}

/// The deny for a `kid` that a fetch made after the token existed did not list.
fn unknown_key(kid: Option<&str>) -> Deny {
    Deny::new(
        Outcome::UnknownKey,
        format!(
            "token signing key {} is not in the realm's JWKS (fetched after the token was seen)",
            shown_kid(kid)
        ),
    )
}

/// The deny when keys could not be had: UNAVAILABLE, since the key may well exist.
fn keys_unavailable(wait: &KeyWait, kid: Option<&str>) -> Deny {
    match wait {
        KeyWait::Failed(_) => Deny::new(
            Outcome::KeysUnavailable,
            format!(
                "signing keys unavailable: fetching the realm's JWKS failed (Keycloak unreachable or its JWKS invalid), so key {} could not be checked; retry",
                shown_kid(kid)
            ),
        ),
        KeyWait::Overloaded => Deny::new(
            Outcome::KeysTimeout,
            format!(
                "signing keys unavailable: too many Checks already wait for the realm's keys, so key {} could not be checked; retry",
                shown_kid(kid)
            ),
        ),
        KeyWait::Deadline => Deny::new(
            Outcome::KeysTimeout,
            format!(
                "signing keys unavailable: no JWKS fetch ended before the Check's deadline, so key {} could not be checked; retry",
                shown_kid(kid)
            ),
        ),
    }
}

fn shown_kid(kid: Option<&str>) -> String {
    kid.map_or_else(|| "(no kid)".to_string(), |k| format!("'{}'", printable(k)))
}

/// Untrusted text (path, host, kid) for messages and bare log fields.
fn printable(s: &str) -> String {
    clip(s, 64, Keep::Graphic)
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
