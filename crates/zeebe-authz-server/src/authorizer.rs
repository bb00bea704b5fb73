//! The data path of one Check: request view → realm → token → rule → decision.
//!
//! Hot path (a cached token): parse the path (a `match` on the method name), look the host up,
//! hash the token, one cache lookup, one bit test, build the response. No crypto, no JSON.
//! Cold path: verify the token (see `token::verify`), fetching keys only when its `kid` is
//! unknown (shared single-flight refetch with cooldown, see `jwks`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use tokio::time::Instant;

use crate::jwks::{FetchCause, KeyWait};
use crate::metrics::Metrics;
use crate::realm::{Realm, Realms};
use crate::token_cache::TokenCache;
use zeebe_authz_core::catalog::{PathTarget, is_grpc_service_call, parse_path};
use zeebe_authz_core::config::{RealmMode, TokenSettings};
use zeebe_authz_core::decision::{Decision, DecisionId, IdentityHeaders, MetadataSet, Verdict};
use zeebe_authz_core::keyset::{KeyLookup, KeySet};
use zeebe_authz_core::outcome::{Deny, Outcome, PathLabel};
use zeebe_authz_core::policy::{PathRule, RpcDeny};
use zeebe_authz_core::request::RequestView;
use zeebe_authz_core::rest::{DEFAULT_BASE_PATH, RestTarget, parse_rest_path};
use zeebe_authz_core::text::{Keep, clip};
use zeebe_authz_core::token::bearer::{bearer_token, check_jwt_shape};
use zeebe_authz_core::token::verify::{
    TokenType, check_token_type, parse_header, principal_from_claims, unverified_claims,
    unverified_issuer, verify,
};
use zeebe_authz_core::token::{Principal, unix_now};

/// One config's worth of Check state. A reload builds a new one and swaps it in whole, so a
/// Check sees one config from its start to its end, never half of two.
pub struct Generation {
    /// 1 for the config the process started with, +1 per reload.
    pub(crate) number: u64,
    /// The realms, by host.
    pub realms: Realms,
    /// Verified tokens. Kept across reloads while the token settings stay the same; entries
    /// are keyed by each realm's `cache_id`, which changes when anything they were derived
    /// from changes.
    pub cache: Arc<TokenCache>,
    /// Token limits and cache settings.
    pub(crate) token: TokenSettings,
    /// The identity header names.
    pub(crate) headers: Arc<IdentityHeaders>,
    /// Which answers carry the dynamic metadata.
    pub(crate) metadata: MetadataSet,
}

/// How a decision takes the caller's token.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// As `serve` does: the bearer token, verified against the realm's keys (cached).
    Verified,
    /// The bearer token's claims, its signature not checked (`explain` offline).
    Unverified,
    /// These claims, as if a token carried them (`explain --claims`).
    Claims(&'a serde_json::Value),
}

/// Everything a Check needs: the generation in force and the process-wide metrics.
pub struct Authorizer {
    current: ArcSwap<Generation>,
    metrics: Arc<Metrics>,
    id_prefix: u64,
    next_id: AtomicU64,
}

impl Authorizer {
    /// Assembles the authorizer of the first generation.
    pub fn new(
        realms: Realms,
        token: &TokenSettings,
        headers: IdentityHeaders,
        metadata: MetadataSet,
        metrics: Arc<Metrics>,
    ) -> Authorizer {
        let first = Generation {
            number: 1,
            realms,
            cache: Arc::new(new_cache(token, &metrics)),
            token: token.clone(),
            headers: Arc::new(headers),
            metadata,
        };
        let mut prefix = [0u8; 8];
        // A fixed prefix only makes generated ids less unique across processes.
        let _ = aws_lc_rs::rand::fill(&mut prefix);
        Authorizer {
            current: ArcSwap::from_pointee(first),
            metrics,
            id_prefix: u64::from_le_bytes(prefix),
            next_id: AtomicU64::new(0),
        }
    }

    /// The generation in force.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// The generation that would follow the current one with these parts: the token cache is
    /// kept when the token settings are the same.
    pub(crate) fn next_generation(
        &self,
        realms: Realms,
        token: &TokenSettings,
        headers: IdentityHeaders,
        metadata: MetadataSet,
    ) -> Generation {
        let current = self.current();
        let cache = if current.token == *token {
            current.cache.clone()
        } else {
            Arc::new(new_cache(token, &self.metrics))
        };
        Generation {
            number: current.number + 1,
            realms,
            cache,
            token: token.clone(),
            headers: Arc::new(headers),
            metadata,
        }
    }

    /// Puts `generation` in force: Checks that start from now on use it; Checks under way
    /// finish with the one they started with.
    pub(crate) fn install(&self, generation: Generation) {
        self.current.store(Arc::new(generation));
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Decides one Check, counts it and logs a deny (in dry-run: a deny that was not
    /// enforced). Never fails: every problem is a deny with a reason. A Check that must wait
    /// for keys gives up at `deadline` (the caller's `grpc-timeout` less a margin); without
    /// one it waits at most one fetch: `refetch_cooldown + fetch_timeout`.
    pub(crate) async fn decide(
        &self,
        view: &RequestView<'_>,
        deadline: Option<Instant>,
    ) -> Verdict {
        self.decide_with(view, deadline, Credentials::Verified)
            .await
    }

    /// [`Authorizer::decide`] with the token taken as `credentials` say (`serve` verifies it;
    /// `zeebe-authz explain` offline takes its claims on trust): everything else is the same.
    pub async fn decide_with(
        &self,
        view: &RequestView<'_>,
        deadline: Option<Instant>,
        credentials: Credentials<'_>,
    ) -> Verdict {
        let generation = self.current();
        let realm = generation.realms.for_host(view.host);
        // The REST door's paths sit under the realm's base path; every other path is read as
        // gRPC's (an unknown host has no realm, and is denied whatever its path).
        let base = realm.map_or(DEFAULT_BASE_PATH, |r| &*r.rest_base_path);
        let target = match parse_rest_path(base, view.method, view.path) {
            Some(rest) => Target::Rest(rest),
            None => Target::Grpc(parse_path(view.path)),
        };
        let path = match target {
            Target::Grpc(PathTarget::Rpc(rpc)) => PathLabel::Rpc(rpc),
            Target::Grpc(PathTarget::UnknownRpc(_) | PathTarget::MalformedRpc(_)) => {
                PathLabel::UnknownRpc
            }
            Target::Grpc(PathTarget::OtherService) => PathLabel::Other,
            Target::Rest(RestTarget::Route(route)) => PathLabel::RestOperation(route.operations[0]),
            Target::Rest(RestTarget::Unknown | RestTarget::Unroutable(_)) => PathLabel::RestUnknown,
        };
        let (decision, realm, principal) = self
            .judge(&generation, realm, view, target, deadline, credentials)
            .await;
        // An unknown host has no realm, so no mode: it is always enforced.
        let mode = realm.map_or(RealmMode::Enforce, |r| r.mode);
        self.metrics.decision(path, decision.outcome(), mode);
        if let Some(r) = realm {
            r.decisions.count(decision.outcome());
        }
        let id = view
            .request_id
            .and_then(DecisionId::from_request)
            .unwrap_or_else(|| {
                DecisionId::generated(self.id_prefix, self.next_id.fetch_add(1, Ordering::Relaxed))
            });
        let dry_run = mode == RealmMode::DryRun;
        if let Decision::Deny(deny) = &decision {
            log_deny(view, deny, &id, dry_run, realm, principal.as_deref());
        }
        let principal = match &decision {
            Decision::Allow { principal, .. } => Some(principal.clone()),
            Decision::Deny(_) => principal,
        };
        // A deny answered over HTTP (the REST door; another path not called as gRPC) names the
        // request in its problem details (`instance`): the path without its query, as the
        // gateway's own problem details do.
        let answered_as_problem = path.answered_as_problem(view.body.content_type);
        let instance = match (&decision, answered_as_problem) {
            (Decision::Deny(_), true) => Some(
                clip(
                    zeebe_authz_core::rest::path_of(view.path),
                    256,
                    Keep::Graphic,
                )
                .into_boxed_str(),
            ),
            _ => None,
        };
        Verdict {
            id,
            instance,
            decision,
            dry_run,
            realm: realm.map(|r| r.name.clone()),
            principal,
            path,
            headers: generation.headers.clone(),
            metadata: generation.metadata,
        }
    }

    async fn judge<'g>(
        &self,
        generation: &Generation,
        realm: Option<&'g Realm>,
        view: &RequestView<'_>,
        target: Target<'_>,
        deadline: Option<Instant>,
        credentials: Credentials<'_>,
    ) -> (Decision, Option<&'g Realm>, Option<Arc<Principal>>) {
        let Some(realm) = realm else {
            let deny = Deny::new(
                Outcome::UnknownHost,
                format!(
                    "host '{}' is not protected by any realm",
                    printable(view.host)
                ),
            );
            return (Decision::Deny(deny), None, None);
        };
        let authenticated = match credentials {
            Credentials::Verified => {
                self.authenticate(generation, realm, view.authorization, deadline)
                    .await
            }
            Credentials::Unverified => {
                unverified_principal(realm, view.authorization, generation.token.max_bytes)
            }
            // Claims without a header: a `typ` naming another kind is refused, none passes.
            Credentials::Claims(claims) => check_token_type(None, claims, TokenType::Optional)
                .and_then(|()| {
                    principal_from_claims(claims, &realm.rules, &realm.policy, unix_now())
                })
                .map(Arc::new),
        };
        let principal = match authenticated {
            Ok(p) => p,
            Err(deny) => return (Decision::Deny(deny), Some(realm), None),
        };
        let rule = match target {
            Target::Grpc(PathTarget::Rpc(rpc)) => realm
                .policy
                .authorize(&principal.grants, &principal.tenants, rpc, &view.body)
                .map_err(|e| rpc_deny(realm, rpc.name(), e)),
            Target::Rest(RestTarget::Route(route)) => realm
                .policy
                .authorize_rest(
                    &principal.grants,
                    &principal.tenants,
                    route,
                    view.path,
                    &view.body,
                    &mut |_, _| {},
                )
                .map_err(|e| {
                    let operation = format!(
                        "{} {}{}",
                        route.method, realm.rest_base_path, route.template
                    );
                    rpc_deny(realm, &operation, e)
                }),
            // Fails closed whatever `unknown_rpcs` says: a newer gateway's REST endpoint may
            // manage identity.
            Target::Rest(RestTarget::Unknown) => Err(Deny::new(
                Outcome::UnknownRpc,
                format!(
                    "unknown REST operation {} {} (not in zeebe-authz's table of the Orchestration Cluster API under {})",
                    printable(view.method),
                    printable(zeebe_authz_core::rest::path_of(view.path)),
                    realm.rest_base_path
                ),
            )),
            Target::Rest(RestTarget::Unroutable(why)) => Err(Deny::new(
                Outcome::UnknownRpc,
                format!(
                    "path '{}' may reach another REST operation at the gateway than it reads: {why}",
                    printable(view.path)
                ),
            )),
            // `unknown_rpcs: authenticated` lets a newer gateway's rpcs through, never a
            // method that is no rpc name, whatever the policy says.
            Target::Grpc(PathTarget::MalformedRpc(method)) => Err(Deny::new(
                Outcome::UnknownRpc,
                format!(
                    "unknown gateway rpc '{}' (not an rpc name)",
                    printable(method)
                ),
            )),
            Target::Grpc(PathTarget::UnknownRpc(method)) => match realm.policy.unknown_rpcs() {
                PathRule::Authenticated => Ok(()),
                PathRule::Deny => Err(Deny::new(
                    Outcome::UnknownRpc,
                    format!("unknown gateway rpc '{}'", printable(method)),
                )),
            },
            Target::Grpc(PathTarget::OtherService) => match realm.policy.other_paths() {
                PathRule::Authenticated
                    if is_grpc_service_call(view.method, view.path, view.body.content_type) =>
                {
                    Ok(())
                }
                PathRule::Authenticated | PathRule::Deny => Err(Deny::new(
                    Outcome::OtherPath,
                    format!("path '{}' is not a Zeebe gateway rpc", printable(view.path)),
                )),
            },
        };
        match rule {
            Ok(()) => {
                let decision = Decision::Allow { principal };
                (decision, Some(realm), None)
            }
            Err(deny) => (Decision::Deny(deny), Some(realm), Some(principal)),
        }
    }

    /// Token → principal, from the cache or by verifying it.
    async fn authenticate(
        &self,
        generation: &Generation,
        realm: &Realm,
        authorization: Option<&str>,
        deadline: Option<Instant>,
    ) -> Result<Arc<Principal>, Deny> {
        let cache = &generation.cache;
        let token = bearer_token(authorization, generation.token.max_bytes)?;
        let key = cache.key(realm.cache_id, token);
        let now = unix_now();
        // A hit counts only while the realm's keys still hold the key that verified it.
        if let Some(p) = cache.get(&key, now, |id| realm.jwks.holds_key(id)) {
            self.metrics.token_cache(true);
            return Ok(p);
        }
        self.metrics.token_cache(false);
        let (principal, key_id) = self.verify(realm, token, now, deadline).await?;
        let principal = Arc::new(principal);
        cache.insert(key, principal.clone(), key_id);
        Ok(principal)
    }

    async fn verify(
        &self,
        realm: &Realm,
        token: &str,
        now: u64,
        deadline: Option<Instant>,
    ) -> Result<(Principal, u64), Deny> {
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
            KeyLookup::Found(key) => {
                verify(token, &header, key, &realm.rules, &realm.policy, now).map(|p| (p, key.id))
            }
            KeyLookup::AlgorithmMismatch => Err(Deny::new(
                Outcome::AlgorithmMismatch,
                format!("token algorithm {:?} does not match its key", header.alg),
            )),
            KeyLookup::UnknownKid => Err(unknown_key(kid)),
        }
    }
}

/// The principal of a bearer token whose signature is not checked: the same shape, header and
/// claim checks as a verified one.
fn unverified_principal(
    realm: &Realm,
    authorization: Option<&str>,
    max_bytes: usize,
) -> Result<Arc<Principal>, Deny> {
    let token = bearer_token(authorization, max_bytes)?;
    check_jwt_shape(token)?;
    let header = parse_header(token)?;
    let claims = unverified_claims(token)?;
    check_token_type(header.typ.as_deref(), &claims, realm.rules.token_type)?;
    principal_from_claims(&claims, &realm.rules, &realm.policy, unix_now()).map(Arc::new)
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

/// What a request's path names, at the door it came through.
#[derive(Debug, Clone, Copy)]
enum Target<'p> {
    /// A gRPC path (or another service's).
    Grpc(PathTarget<'p>),
    /// A path under the realm's REST base path (or one the gateway may route there).
    Rest(RestTarget),
}

/// The deny of a policy's refusal, in our words or the engine's (same on both doors);
/// `operation` names what was called (`CompleteJob`, `POST /v2/jobs/{jobKey}/completion`).
fn rpc_deny(realm: &Realm, operation: &str, e: RpcDeny) -> Deny {
    match e {
        RpcDeny::MissingPermission {
            engine: Some(engine),
            granting,
            ..
        } if granting.is_empty() => Deny::new(Outcome::MissingPermission, engine),
        RpcDeny::MissingPermission { rpc, granting, .. } if granting.is_empty() => Deny::new(
            Outcome::MissingPermission,
            format!(
                "{rpc} is granted by no permission of realm '{}'",
                realm.name
            ),
        ),
        RpcDeny::MissingPermission {
            rpc,
            granting,
            engine,
        } => Deny::new(
            Outcome::MissingPermission,
            match engine {
                Some(engine) => format!(
                    "{rpc} requires permission {granting} in {}, or: {engine}",
                    realm.rules.permissions_claim
                ),
                None => format!(
                    "{rpc} requires permission {granting} in {}",
                    realm.rules.permissions_claim
                ),
            },
        ),
        RpcDeny::ConditionFailed {
            engine: Some(engine),
            ..
        } => Deny::new(Outcome::ConditionFailed, engine),
        RpcDeny::ConditionFailed { reason, .. } => {
            Deny::new(Outcome::ConditionFailed, format!("{operation}: {reason}"))
        }
        RpcDeny::BodyUnavailable(error) => Deny::new(
            Outcome::BodyUnavailable,
            format!("{operation}: cannot check the request's fields: {error}"),
        ),
    }
}

/// Untrusted text (path, host, kid) for messages and bare log fields.
fn printable(s: &str) -> String {
    clip(s, 64, Keep::Graphic)
}

/// One line per deny: what an operator (or a developer whose worker is refused) needs to know,
/// with the subject and client when the token was valid. Never the token.
fn log_deny(
    view: &RequestView<'_>,
    deny: &Deny,
    id: &DecisionId,
    dry_run: bool,
    realm: Option<&Realm>,
    who: Option<&Principal>,
) {
    tracing::info!(
        decision_id = id.as_str(),
        dry_run,
        rpc = %printable(view.path),
        method = %printable(view.method),
        reason = deny.outcome.reason(),
        detail = %deny.message,
        realm = realm.map_or("", |r| &r.name),
        subject = who.map_or("", |p| &p.subject),
        client_id = who.map_or("", |p| &p.client_id),
        host = %printable(view.host),
        "Denied"
    );
}

fn new_cache(token: &TokenSettings, metrics: &Metrics) -> TokenCache {
    TokenCache::with_eviction_hook(
        token.cache_max_bytes,
        token.cache_max_ttl,
        token.leeway.as_secs(),
        Arc::new(metrics.token_cache_eviction_counter()),
    )
}
