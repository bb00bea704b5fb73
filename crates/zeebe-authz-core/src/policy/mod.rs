//! The policy: which Identity permissions grant which Zeebe rpcs. Pure: no I/O, no async.
//!
//! A policy file (`policies/*.yaml`) is deserialized into `Raw*` types that mirror the file,
//! then [`compile`] validates it against the rpc catalog and builds the lookup structures a
//! Check needs: a map from permission name to grants, and per grant an [`RpcSet`]. The same
//! function serves `serve` and `lint`, so what lint accepts is exactly what the server runs.
//!
//! Evaluation happens in two steps. When a token is first verified, [`Policy::grants_for`]
//! turns its permissions into a `Grants` value (a bitset), which the verified-token cache
//! keeps; every later Check is then one bit test in [`Policy::authorize`].

pub mod camunda;
mod compile;
pub mod condition;
mod dialect;
mod eval;
mod rest_values;
mod wildcards;

use std::sync::Arc;

use ahash::AHashMap;

use crate::catalog::{REST_ROUTES, RestRoute, Rpc, RpcSet};

pub use compile::{DEFAULT_POLICY, DEV_POLICY, PolicyOptions, compile, compile_with, embedded};
pub use dialect::Authorization;
pub use dialect::{Dialect, Identity, MappingRule};
pub use eval::{Grants, RpcDeny, is_pinned_out};

use crate::body::FieldSelection;
use crate::diag::Span;
use condition::{ConditionKind, Conditions};

/// What to do with a path that is not a known gateway rpc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathRule {
    /// PERMISSION_DENIED for everyone (the default).
    Deny,
    /// Allowed for any valid token of the realm.
    Authenticated,
}

/// A compiled policy. Immutable; shared as `Arc<Policy>`.
#[derive(Debug)]
pub struct Policy {
    /// Per rpc (catalog index): which body fields its conditions read.
    reads: Box<[RpcReads]>,
    grants: Box<[Grant]>,
    by_permission: AHashMap<Box<str>, Box<[u16]>>,
    rpc_named_permissions: bool,
    unknown_rpcs: PathRule,
    other_paths: PathRule,
    /// Per rpc (catalog index): the permissions that would grant it, for deny messages.
    granting_permissions: Box<[Box<str>]>,
    /// The Camunda dialect (`identity:`, `mapping_rules:`, `authorizations:`), if used.
    dialect: Option<Dialect>,
    /// SHA-256 of the policy text: equal texts compile to equal policies (same grant order),
    /// so cached principals of one stay valid for the other across a reload.
    digest: [u8; 32],
}

/// One grant: a permission and the rpcs it allows.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The Identity permission (Keycloak client role) that activates this grant.
    pub permission: Box<str>,
    /// The rpcs it grants.
    pub rpcs: RpcSet,
    /// Conditions on request fields, if any.
    pub conditions: Option<Arc<Conditions>>,
    /// The rpcs of `rpcs` on which a condition applies (they carry a constrained field); the
    /// others are granted unconditionally.
    pub conditional_rpcs: RpcSet,
    /// Where the grant is written (its `permission`, or an authorization's `owner`).
    pub span: Span,
    /// Whether it is a grant or a Camunda-dialect authorization.
    pub source: GrantSource,
}

/// What a [`Grant`] was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantSource {
    /// Under `grants:`; `permission` is a permission of the token's permissions claim.
    Permission,
    /// Under `authorizations:`; `permission` names the owner (`client:payments-worker`).
    Camunda(Arc<Authorization>),
}

/// Which body fields an rpc's conditions read, and where each condition kind finds its value.
#[derive(Debug, Clone)]
pub(crate) struct RpcReads {
    pub(crate) fields: FieldSelection,
    pub(crate) slots: [Option<ConditionSource>; ConditionKind::COUNT],
    /// With the Camunda dialect: the field (slot 0) whose value the engine-worded deny of a
    /// missing permission names, when the rpc's message row compares one.
    pub(crate) engine_id: Option<FieldSelection>,
    /// With the Camunda dialect: whether a REST-only operation's engine-worded deny names a
    /// member of its body.
    pub(crate) engine_member: bool,
    /// Under a tenant condition: the number of the request's `tenantFilter` enum (job
    /// activation, Camunda 8.9+), which must be PROVIDED for the tenant ids read to be the
    /// ones the gateway uses.
    pub(crate) tenant_filter: Option<u32>,
    /// The kinds whose values come from the request (`Body` or `Rest` slots), in
    /// [`ConditionKind::ALL`] order: what a REST Check reads from the body.
    pub(crate) request_kinds: Box<[ConditionKind]>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum ConditionSource {
    /// A protobuf field, by slot of the rpc's selection (on REST: the route's member).
    Body(usize),
    DefaultTenant,
    /// A REST-only operation's member (its route names it).
    Rest,
}

impl Policy {
    /// SHA-256 of the text it was compiled from.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The grants in file order.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The Camunda dialect, if the policy uses it.
    pub fn dialect(&self) -> Option<&Dialect> {
        self.dialect.as_ref()
    }

    /// Whether a permission named after an rpc grants that rpc (Identity PoC style).
    pub fn rpc_named_permissions(&self) -> bool {
        self.rpc_named_permissions
    }

    /// What happens to unknown rpcs under the gateway service.
    pub fn unknown_rpcs(&self) -> PathRule {
        self.unknown_rpcs
    }

    /// What happens to paths of other services.
    pub fn other_paths(&self) -> PathRule {
        self.other_paths
    }

    /// The operations that some permission grants.
    pub fn granted_somewhere(&self) -> RpcSet {
        let base = if self.rpc_named_permissions {
            RpcSet::all()
        } else {
            RpcSet::EMPTY
        };
        self.grants.iter().fold(base, |s, g| s.union(g.rpcs))
    }

    /// The permissions that would grant `rpc`, as a display list (`write:*, CreateProcessInstance`;
    /// empty when none does).
    pub fn granting_permissions(&self, rpc: Rpc) -> &str {
        &self.granting_permissions[rpc.index()]
    }

    /// The rpcs some grant allows only under conditions on request fields: the authorizer must
    /// see their body, and Istio cannot decide them natively (`zeebe-authz istio` sends them
    /// to the CUSTOM provider).
    pub fn conditional_rpcs(&self) -> RpcSet {
        self.grants
            .iter()
            .fold(RpcSet::EMPTY, |s, g| s.union(g.conditional_rpcs))
    }

    /// Whether any rule needs the request body (the mesh's ext_authz provider must then send
    /// it with `includeRequestBodyInCheck`).
    pub fn needs_body(&self) -> bool {
        !self.conditional_rpcs().is_empty()
    }

    /// The operations whose request body the authorizer reads: a condition's field, or (with
    /// the Camunda dialect) the id an engine-worded deny names. Envoy must buffer their body
    /// before the Check; for every other operation it can skip buffering
    /// (`ExtAuthzPerRoute.check_settings.disable_request_body_buffering`) without changing a
    /// decision.
    pub fn body_rpcs(&self) -> RpcSet {
        Rpc::operations()
            .filter(|rpc| {
                let reads = &self.reads[rpc.index()];
                reads.fields != FieldSelection::default()
                    || reads.engine_id.is_some()
                    || reads.engine_member
            })
            .fold(self.conditional_rpcs(), RpcSet::with)
    }

    /// The REST routes whose body the authorizer may read: a route of an operation in
    /// [`Policy::body_rpcs`] (conditions), and the two routes whose body chooses between two
    /// rpcs (`POST /process-instances`, `PATCH /jobs/{jobKey}`). Envoy must buffer their body
    /// before the Check; every other REST route can skip buffering without changing a
    /// decision.
    pub fn body_routes(&self) -> impl Iterator<Item = &'static RestRoute> + '_ {
        let body = self.body_rpcs();
        REST_ROUTES.iter().filter(move |r| {
            r.operations.len() > 1 || r.operations.iter().any(|op| body.contains(*op))
        })
    }
}

impl Grant {
    /// The authorization this grant was compiled from, if any.
    pub fn authorization(&self) -> Option<&Authorization> {
        match &self.source {
            GrantSource::Camunda(a) => Some(a),
            GrantSource::Permission => None,
        }
    }

    /// Whether the grant only applies under conditions on request fields (then a broader
    /// unconditional grant shadows it, but it shadows nothing).
    pub fn is_conditional(&self) -> bool {
        !self.conditional_rpcs.is_empty()
    }
}
