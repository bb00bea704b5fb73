//! Policy evaluation: permissions → [`Grants`] once per token, then per Check one bit test,
//! and only for rpcs whose grant has conditions, a read of the few body fields they need.

use super::camunda::{self, ResourceType};
use super::condition::{ConditionKind, DEFAULT_TENANT, Unmet};
use super::{ConditionSource, Grant, Policy, rest_values};
use crate::body::{
    BodyError, RequestBody, TENANT_FILTER_NOT_PROVIDED, last_varint, read_fields, unframe,
};
use crate::catalog::{RestRoute, Rpc, RpcSet};
use crate::rest::Door;
use crate::text::{Keep, clip};

/// What a token's permissions grant under one policy. Lives in every cached principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Rpcs granted without conditions.
    pub rpcs: RpcSet,
    /// Indexes of held grants with conditions (checked against the body).
    pub conditional: Box<[u16]>,
    /// The job-activating rpcs when the token holds an x-JOB_TYPE authorization (through any
    /// of its owners): then only x-JOB_TYPE authorizations grant them.
    pub pinned: RpcSet,
}

/// Whether `g` loses the `pinned` rpcs: a Camunda-dialect authorization other than x-JOB_TYPE.
pub fn is_pinned_out(g: &Grant, pinned: RpcSet) -> bool {
    !pinned.is_empty()
        && g.authorization()
            .is_some_and(|a| a.resource != ResourceType::XJobType)
}

/// Why a policy refuses an rpc to a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcDeny {
    /// No grant of the token covers the rpc; carries the permissions that would.
    MissingPermission {
        /// The rpc.
        rpc: Rpc,
        /// Display list of permissions (of `grants:`) that grant it.
        granting: Box<str>,
        /// With the Camunda dialect, the engine's words for what is missing.
        engine: Option<String>,
    },
    /// Grants cover the rpc, but the request's fields meet none of their conditions.
    ConditionFailed {
        /// Our words: which value failed which condition.
        reason: String,
        /// The engine's words, when the first failing rule is a Camunda-dialect one.
        engine: Option<String>,
    },
    /// A condition needs the body, and it is missing, partial or unreadable.
    BodyUnavailable(BodyError),
}

impl Policy {
    /// The grants of a token holding `permissions` (and no Camunda-dialect owner).
    pub fn grants_for<'a>(&self, permissions: impl IntoIterator<Item = &'a str>) -> Grants {
        self.grants_of(permissions, &[])
    }

    /// The grants of a token with these `claims`, holding `permissions`: its grants, and
    /// the authorizations of the owners its claims resolve to under the Camunda dialect.
    pub fn grants_for_token<'a>(
        &self,
        claims: &serde_json::Value,
        permissions: impl IntoIterator<Item = &'a str>,
    ) -> Grants {
        let owners = self.dialect().map(|d| d.owners(claims)).unwrap_or_default();
        self.grants_of(permissions, &owners)
    }

    fn grants_of<'a>(
        &self,
        permissions: impl IntoIterator<Item = &'a str>,
        owners: &[String],
    ) -> Grants {
        let mut rpcs = RpcSet::EMPTY;
        let mut conditional = Vec::new();
        // A token holding an x-JOB_TYPE authorization, through any owner it resolves to,
        // activates only those job types: none of its other authorizations (such as a group's
        // PROCESS_DEFINITION/UPDATE_PROCESS_INSTANCE) grants the job-activating rpcs then.
        // Grants of the permissions claim are not affected.
        let owned: Vec<u16> = self
            .dialect()
            .into_iter()
            .flat_map(|d| owners.iter().filter_map(|o| d.by_owner.get(o.as_str())))
            .flatten()
            .copied()
            .collect();
        let pins = owned.iter().any(|&i| {
            self.grants[usize::from(i)]
                .authorization()
                .is_some_and(|a| a.resource == ResourceType::XJobType)
        });
        let pinned = if pins {
            camunda::job_type_rpcs()
        } else {
            RpcSet::EMPTY
        };
        let mut hold = |idx: &[u16]| {
            for &i in idx {
                let g = &self.grants[usize::from(i)];
                let mask = if is_pinned_out(g, pinned) {
                    pinned
                } else {
                    RpcSet::EMPTY
                };
                rpcs = rpcs.union(g.rpcs.difference(g.conditional_rpcs).difference(mask));
                if !g.conditional_rpcs.difference(mask).is_empty() && !conditional.contains(&i) {
                    conditional.push(i);
                }
            }
        };
        let mut named = RpcSet::EMPTY;
        for p in permissions {
            if let Some(idx) = self.by_permission.get(p) {
                hold(idx);
            }
            if self.rpc_named_permissions
                && let Some(rpc) = Rpc::from_grpc_name(p)
            {
                named = named.with(rpc);
            }
        }
        hold(&owned);
        conditional.sort_unstable();
        Grants {
            rpcs: rpcs.union(named),
            conditional: conditional.into(),
            pinned,
        }
    }

    /// Whether `grants` (with the caller's `tenants`) allow `rpc` for this request. The body is
    /// only read when no unconditional grant covers the rpc and a conditional one does.
    pub fn authorize(
        &self,
        grants: &Grants,
        tenants: &[Box<str>],
        rpc: Rpc,
        body: &RequestBody<'_>,
    ) -> Result<(), RpcDeny> {
        self.authorize_traced(grants, tenants, rpc, body, &mut |_, _| {})
    }

    /// [`Policy::authorize`], telling `trace` each conditional grant it checked and how that
    /// went, in order (`zeebe-authz explain`).
    pub fn authorize_traced(
        &self,
        grants: &Grants,
        tenants: &[Box<str>],
        rpc: Rpc,
        body: &RequestBody<'_>,
        trace: &mut dyn FnMut(&Grant, Result<(), &str>),
    ) -> Result<(), RpcDeny> {
        self.authorize_door(grants, tenants, rpc, Door::Grpc, body, trace)
    }

    /// Whether `grants` allow a REST request to `route` (`path` is the request's path as sent,
    /// its query string included): the route's operation, or the one or two rpcs its body
    /// selects (`awaitCompletion`, the members of a job's `changeset`), each authorized as on
    /// the gRPC door with the condition values read from the JSON or multipart body.
    pub fn authorize_rest(
        &self,
        grants: &Grants,
        tenants: &[Box<str>],
        route: &'static RestRoute,
        path: &str,
        body: &RequestBody<'_>,
        trace: &mut dyn FnMut(&Grant, Result<(), &str>),
    ) -> Result<(), RpcDeny> {
        let all: RpcSet = route.operations.iter().copied().collect();
        if grants.rpcs.is_superset(all) {
            return Ok(());
        }
        let selected = if route.operations.len() == 1 {
            all
        } else {
            rest_values::select(route, body).map_err(RpcDeny::BodyUnavailable)?
        };
        for rpc in selected.iter() {
            self.authorize_door(
                grants,
                tenants,
                rpc,
                Door::Rest { route, path },
                body,
                trace,
            )?;
        }
        Ok(())
    }

    /// [`Policy::authorize_traced`] for a request through `door`.
    fn authorize_door(
        &self,
        grants: &Grants,
        tenants: &[Box<str>],
        rpc: Rpc,
        door: Door<'_>,
        body: &RequestBody<'_>,
        trace: &mut dyn FnMut(&Grant, Result<(), &str>),
    ) -> Result<(), RpcDeny> {
        if grants.rpcs.contains(rpc) {
            return Ok(());
        }
        let candidates: Vec<&Grant> = grants
            .conditional
            .iter()
            .map(|&i| &self.grants[usize::from(i)])
            .filter(|g| {
                g.conditional_rpcs.contains(rpc)
                    && !(grants.pinned.contains(rpc) && is_pinned_out(g, grants.pinned))
            })
            .collect();
        if candidates.is_empty() {
            return Err(RpcDeny::MissingPermission {
                rpc,
                granting: self.granting_permissions(rpc).into(),
                engine: self.dialect().map(|_| self.engine_missing(rpc, door, body)),
            });
        }
        if body.partial {
            return Err(RpcDeny::BodyUnavailable(BodyError::Partial));
        }
        let reads = &self.reads[rpc.index()];
        match door {
            Door::Grpc => {
                let mut scratch = Vec::new();
                let message = unframe(body.raw, body.encoding, &mut scratch)
                    .map_err(RpcDeny::BodyUnavailable)?;
                let fields =
                    read_fields(message, &reads.fields).map_err(RpcDeny::BodyUnavailable)?;
                // Any value but 0 is refused, also one whose low 32 bits (all protobuf-java
                // keeps of an enum) are 0: stricter than the gateway, never looser.
                let provided = match reads.tenant_filter {
                    Some(number) => matches!(
                        last_varint(message, number).map_err(RpcDeny::BodyUnavailable)?,
                        None | Some(0)
                    ),
                    None => true,
                };
                let candidates = without_tenant_conditions_unless(provided, candidates)?;
                let values = |kind: ConditionKind| match reads.slots[kind.index()]? {
                    ConditionSource::Body(slot) => Some(fields.get(slot)),
                    ConditionSource::DefaultTenant => Some(&[DEFAULT_TENANT][..]),
                    ConditionSource::Rest => None,
                };
                self.check_candidates(rpc, tenants, &candidates, values, trace)
            }
            Door::Rest { route, path } => {
                let query = crate::rest::query_of(path);
                let needed = &reads.request_kinds[..];
                let text = rest_values::json_text(route, body).map_err(RpcDeny::BodyUnavailable)?;
                let provided = match (&text, needed.contains(&ConditionKind::Tenant)) {
                    (Some(text), true) => rest_values::tenant_filter_is_provided(route, text)
                        .map_err(RpcDeny::BodyUnavailable)?,
                    _ => true,
                };
                let candidates = without_tenant_conditions_unless(provided, candidates)?;
                let read = rest_values::read(route, query, text.as_deref(), body, needed)
                    .map_err(RpcDeny::BodyUnavailable)?;
                let views: [Vec<&str>; ConditionKind::COUNT] =
                    std::array::from_fn(|i| read[i].iter().map(|c| &**c).collect());
                let values = |kind: ConditionKind| match reads.slots[kind.index()]? {
                    ConditionSource::DefaultTenant => Some(&[DEFAULT_TENANT][..]),
                    _ => Some(views[kind.index()].as_slice()),
                };
                self.check_candidates(rpc, tenants, &candidates, values, trace)
            }
        }
    }

    /// Checks the conditions of `candidates` (the held grants that grant `rpc` under
    /// conditions) against the request's `values`: the first that holds allows.
    fn check_candidates<'v>(
        &self,
        rpc: Rpc,
        tenants: &[Box<str>],
        candidates: &[&Grant],
        values: impl Fn(ConditionKind) -> Option<&'v [&'v str]> + Copy,
        trace: &mut dyn FnMut(&Grant, Result<(), &str>),
    ) -> Result<(), RpcDeny> {
        let mut first_failure: Option<(&Grant, Unmet)> = None;
        for &grant in candidates {
            let conditions = grant
                .conditions
                .as_deref()
                .expect("conditional grants have conditions");
            match conditions.check(tenants, values) {
                Ok(()) => {
                    trace(grant, Ok(()));
                    return Ok(());
                }
                Err(unmet) => {
                    trace(grant, Err(&unmet.reason));
                    first_failure.get_or_insert((grant, unmet));
                }
            }
        }
        let (grant, unmet) = first_failure.expect("a candidate was checked");
        let engine = grant.authorization().map(|a| {
            let row = camunda::row_for(rpc, a.resource, &a.permissions);
            if unmet.kind == ConditionKind::Tenant {
                camunda::engine_tenant_message(&row, &unmet.value)
            } else {
                camunda::engine_message(&row, Some(&unmet.value))
            }
        });
        Err(RpcDeny::ConditionFailed {
            reason: unmet.reason,
            engine,
        })
    }

    /// The engine's words for a missing permission on `rpc`, with the request's resource id
    /// where the request carries one (a body field or member, a REST path variable) and it
    /// can be read.
    fn engine_missing(&self, rpc: Rpc, door: Door<'_>, body: &RequestBody<'_>) -> String {
        let row = camunda::message_row(rpc);
        let id = if row.resource == camunda::ResourceType::XRpc {
            Some(rpc.name().to_string())
        } else if let Door::Rest { route, path } = door {
            rest_values::engine_id(&row, route, path, body)
        } else {
            let body = Some(body).filter(|b| !b.partial);
            self.reads[rpc.index()]
                .engine_id
                .as_ref()
                .zip(body)
                .and_then(|(selection, body)| {
                    let mut scratch = Vec::new();
                    let message = unframe(body.raw, body.encoding, &mut scratch).ok()?;
                    let fields = read_fields(message, selection).ok()?;
                    let value = fields.get(0).last().copied().unwrap_or("");
                    Some(clip(value, 64, Keep::Text)).filter(|v| !v.is_empty())
                })
        };
        camunda::engine_message(&row, id.as_deref())
    }
}

/// The candidates that may still allow a job activation whose `tenantFilter` is not PROVIDED
/// (Camunda 8.9+: the gateway then ignores the tenant ids a tenant condition would read): those
/// without a tenant condition. When none is left, the deny names the filter.
fn without_tenant_conditions_unless(
    provided: bool,
    candidates: Vec<&Grant>,
) -> Result<Vec<&Grant>, RpcDeny> {
    if provided {
        return Ok(candidates);
    }
    let left: Vec<&Grant> = candidates
        .into_iter()
        .filter(|g| g.conditions.as_deref().is_none_or(|c| c.tenant.is_none()))
        .collect();
    if left.is_empty() {
        return Err(RpcDeny::BodyUnavailable(BodyError::Member {
            member: "tenantFilter",
            what: TENANT_FILTER_NOT_PROVIDED,
        }));
    }
    Ok(left)
}

#[cfg(test)]
mod tests;
