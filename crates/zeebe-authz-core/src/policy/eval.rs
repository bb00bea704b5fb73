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
                // The kinds read from the request, on the stack (no list per Check).
                let mut kinds = ConditionKind::ALL;
                let mut count = 0;
                for kind in ConditionKind::ALL {
                    if matches!(
                        reads.slots[kind.index()],
                        Some(ConditionSource::Body(_) | ConditionSource::Rest)
                    ) {
                        kinds[count] = kind;
                        count += 1;
                    }
                }
                let needed = &kinds[..count];
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
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::diag::Diagnostics;
    use crate::policy::compile;

    use super::*;

    const B: RequestBody<'static> = RequestBody {
        raw: &[],
        encoding: None,
        partial: false,
        content_type: None,
    };

    fn policy(text: &str) -> Policy {
        let mut d = Diagnostics::default();
        let file: Arc<Path> = Arc::from(Path::new("p.yaml"));
        compile(&file, text, &mut d).unwrap_or_else(|| panic!("{:?}", d.items()))
    }

    #[test]
    fn presets_and_rpc_named_permissions() {
        let p = policy(
            "rpc_named_permissions: true\ngrants:\n  - {permission: 'write:*', rpcs: ['*']}\n  - {permission: 'read:*', rpcs: [Topology]}\n",
        );
        let topo = Rpc::from_name("Topology").unwrap();
        let cpi = Rpc::from_name("CreateProcessInstance").unwrap();
        let read = p.grants_for(["read:*"]);
        assert!(p.authorize(&read, &[], topo, &B).is_ok());
        let Err(RpcDeny::MissingPermission { rpc, granting, .. }) =
            p.authorize(&read, &[], cpi, &B)
        else {
            panic!()
        };
        assert_eq!((rpc, &*granting), (cpi, "write:*, CreateProcessInstance"));
        assert!(
            p.authorize(&p.grants_for(["write:*"]), &[], cpi, &B)
                .is_ok()
        );
        let poc = p.grants_for(["DeployProcess", "CreateProcessInstance", "Topology"]);
        assert!(
            p.authorize(&poc, &[], cpi, &B).is_ok() && p.authorize(&poc, &[], topo, &B).is_ok()
        );
        assert!(
            p.authorize(&poc, &[], Rpc::from_name("CompleteJob").unwrap(), &B)
                .is_err()
        );
        assert!(p.authorize(&p.grants_for([]), &[], topo, &B).is_err());
        assert!(
            p.authorize(&p.grants_for(["WRITE:*", "topology"]), &[], topo, &B)
                .is_err(),
            "permissions are case-sensitive"
        );
    }

    #[test]
    fn rpc_named_permissions_are_off_unless_enabled() {
        let p = policy("grants:\n  - {permission: 'read:*', rpcs: [Topology]}\n");
        assert!(
            p.authorize(
                &p.grants_for(["CreateProcessInstance"]),
                &[],
                Rpc::from_name("CreateProcessInstance").unwrap(),
                &B
            )
            .is_err()
        );
    }

    mod conditions {

        use super::*;
        use crate::body::frame;
        use crate::proto;

        fn dev() -> Policy {
            policy(crate::policy::DEV_POLICY)
        }

        fn body(msg: &impl prost::Message) -> Vec<u8> {
            frame(&msg.encode_to_vec())
        }

        fn authorize(
            p: &Policy,
            perms: &[&str],
            tenants: &[&str],
            rpc: &str,
            raw: &[u8],
        ) -> Result<(), RpcDeny> {
            let tenants: Vec<Box<str>> = tenants.iter().map(|t| (*t).into()).collect();
            let b = RequestBody {
                raw,
                encoding: None,
                partial: false,
                content_type: None,
            };
            p.authorize(
                &p.grants_for(perms.iter().copied()),
                &tenants,
                Rpc::from_name(rpc).unwrap(),
                &b,
            )
        }

        fn cpi(tenant: &str) -> Vec<u8> {
            body(&proto::CreateProcessInstanceRequest {
                bpmn_process_id: "order".into(),
                tenant_id: tenant.into(),
                ..Default::default()
            })
        }

        #[test]
        fn tenant_held_allows_only_the_callers_tenants() {
            let p = dev();
            let t = &["tenant:write"];
            assert_eq!(
                authorize(
                    &p,
                    t,
                    &["tenant-a"],
                    "CreateProcessInstance",
                    &cpi("tenant-a")
                ),
                Ok(())
            );
            assert_eq!(
                authorize(
                    &p,
                    t,
                    &["tenant-a"],
                    "CreateProcessInstance",
                    &cpi("tenant-b")
                ),
                Err(RpcDeny::ConditionFailed {
                    reason: "tenant 'tenant-b' not allowed (token holds: tenant-a)".into(),
                    engine: None,
                })
            );
            assert!(
                authorize(&p, t, &["tenant-a"], "CreateProcessInstance", &cpi("")).is_err(),
                "default tenant"
            );
            let jobs = body(&proto::ActivateJobsRequest {
                r#type: "x".into(),
                tenant_ids: vec!["tenant-a".into(), "tenant-b".into()],
                ..Default::default()
            });
            assert!(authorize(&p, t, &["tenant-a", "tenant-b"], "ActivateJobs", &jobs).is_ok());
            assert!(authorize(&p, t, &["tenant-a"], "ActivateJobs", &jobs).is_err());
            // DeployProcess always deploys to the default tenant.
            assert!(
                authorize(
                    &p,
                    t,
                    &["tenant-a"],
                    "DeployProcess",
                    &body(&proto::DeployProcessRequest::default())
                )
                .is_err()
            );
            assert!(
                authorize(
                    &p,
                    t,
                    &["<default>"],
                    "DeployProcess",
                    &body(&proto::DeployProcessRequest::default())
                )
                .is_ok()
            );
            // Key-only rpcs carry no tenant: no body needed, granted.
            assert!(authorize(&p, t, &["tenant-a"], "CompleteJob", &[]).is_ok());
            assert!(authorize(&p, t, &["tenant-a"], "Topology", &[]).is_ok());
            // write:* needs no body at all.
            assert!(authorize(&p, &["write:*"], &[], "CreateProcessInstance", &[]).is_ok());
        }

        /// Camunda 8.9's gateway.proto gave ActivateJobsRequest (8) and
        /// StreamActivatedJobsRequest (7) a `tenantFilter`: ASSIGNED makes the gateway ignore
        /// `tenantIds` and activate for every tenant assigned to the principal, so the tenant
        /// condition passed on ids the gateway never used.
        #[test]
        fn an_assigned_tenant_filter_let_grpc_job_activation_pass_on_tenant_ids_the_gateway_ignores()
         {
            let p = dev();
            let t = &["tenant:write"];
            let held = ["tenant-a"];
            let jobs = |filter: i32| {
                body(&proto::ActivateJobsRequest {
                    r#type: "x".into(),
                    tenant_ids: vec!["tenant-a".into()],
                    tenant_filter: filter,
                    ..Default::default()
                })
            };
            let stream = |filter: i32| {
                body(&proto::StreamActivatedJobsRequest {
                    r#type: "x".into(),
                    tenant_ids: vec!["tenant-a".into()],
                    tenant_filter: filter,
                    ..Default::default()
                })
            };
            let refused = Err(RpcDeny::BodyUnavailable(BodyError::Member {
                member: "tenantFilter",
                what: TENANT_FILTER_NOT_PROVIDED,
            }));
            // PROVIDED (0, the default, not on the wire) keeps the ids the condition saw.
            assert_eq!(authorize(&p, t, &held, "ActivateJobs", &jobs(0)), Ok(()));
            assert_eq!(
                authorize(&p, t, &held, "StreamActivatedJobs", &stream(0)),
                Ok(())
            );
            // ASSIGNED, and any value the gateway might read as it, is refused.
            for filter in [1, 2, -1] {
                assert_eq!(
                    authorize(&p, t, &held, "ActivateJobs", &jobs(filter)),
                    refused
                );
                assert_eq!(
                    authorize(&p, t, &held, "StreamActivatedJobs", &stream(filter)),
                    refused
                );
            }
            // Last occurrence wins, as in protobuf-java: ASSIGNED then PROVIDED is PROVIDED...
            let mut last_provided = jobs(1);
            let mut tail = vec![8 << 3, 0];
            append_to_frame(&mut last_provided, &mut tail);
            assert_eq!(
                authorize(&p, t, &held, "ActivateJobs", &last_provided),
                Ok(())
            );
            // ... and PROVIDED written out, then ASSIGNED, is ASSIGNED.
            let mut last_assigned = jobs(0);
            let mut tail = vec![8 << 3, 0, 8 << 3, 1];
            append_to_frame(&mut last_assigned, &mut tail);
            assert_eq!(
                authorize(&p, t, &held, "ActivateJobs", &last_assigned),
                refused
            );
            // Without a tenant condition the filter is not the authorizer's business, even when
            // another grant of the policy (or of the same token) has one.
            assert_eq!(
                authorize(&p, &["write:*"], &[], "ActivateJobs", &jobs(1)),
                Ok(())
            );
            let payment = body(&proto::ActivateJobsRequest {
                r#type: "payment".into(),
                tenant_ids: vec!["tenant-a".into()],
                tenant_filter: 1,
                ..Default::default()
            });
            let both = &["tenant:write", "worker:payment"];
            assert_eq!(
                authorize(&p, &["worker:payment"], &[], "ActivateJobs", &payment),
                Ok(())
            );
            assert_eq!(authorize(&p, both, &held, "ActivateJobs", &payment), Ok(()));
            assert_eq!(
                authorize(&p, both, &held, "ActivateJobs", &jobs(1)),
                Err(RpcDeny::ConditionFailed {
                    reason: "job type 'x' not allowed (allowed: payment*)".into(),
                    engine: None,
                })
            );
        }

        /// Appends `tail` to the one message of an uncompressed gRPC frame.
        fn append_to_frame(frame: &mut Vec<u8>, tail: &mut Vec<u8>) {
            frame.append(tail);
            let len = u32::try_from(frame.len() - 5).unwrap();
            frame[1..5].copy_from_slice(&len.to_be_bytes());
        }

        #[test]
        fn job_type_patterns() {
            let p = dev();
            let w = &["worker:payment"];
            let activate = |ty: &str| {
                body(&proto::ActivateJobsRequest {
                    r#type: ty.into(),
                    ..Default::default()
                })
            };
            assert!(authorize(&p, w, &[], "ActivateJobs", &activate("payment")).is_ok());
            assert!(authorize(&p, w, &[], "ActivateJobs", &activate("payment-refund")).is_ok());
            assert_eq!(
                authorize(&p, w, &[], "ActivateJobs", &activate("shipping")),
                Err(RpcDeny::ConditionFailed {
                    reason: "job type 'shipping' not allowed (allowed: payment*)".into(),
                    engine: None,
                })
            );
            let stream = body(&proto::StreamActivatedJobsRequest {
                r#type: "payment".into(),
                ..Default::default()
            });
            assert!(authorize(&p, w, &[], "StreamActivatedJobs", &stream).is_ok());
            assert!(authorize(&p, w, &[], "CompleteJob", &[]).is_ok());
            assert!(matches!(
                authorize(&p, w, &[], "CreateProcessInstance", &cpi("")),
                Err(RpcDeny::MissingPermission { .. })
            ));
        }

        #[test]
        fn missing_partial_and_garbage_bodies_never_allow() {
            let p = dev();
            let t = &["tenant:write"];
            let held = ["tenant-a"];
            assert_eq!(
                authorize(&p, t, &held, "CreateProcessInstance", &[]),
                Err(RpcDeny::BodyUnavailable(BodyError::Missing))
            );
            let good = cpi("tenant-a");
            assert!(matches!(
                authorize(
                    &p,
                    t,
                    &held,
                    "CreateProcessInstance",
                    &good[..good.len() - 1]
                ),
                Err(RpcDeny::BodyUnavailable(BodyError::Truncated { .. }))
            ));
            assert!(matches!(
                authorize(
                    &p,
                    t,
                    &held,
                    "CreateProcessInstance",
                    &[0, 0, 0, 0, 2, 0xff, 0xff]
                ),
                Err(RpcDeny::BodyUnavailable(BodyError::Malformed(_)))
            ));
            let tenants: Vec<Box<str>> = vec!["tenant-a".into()];
            let partial = RequestBody {
                raw: &good,
                encoding: None,
                partial: true,
                content_type: None,
            };
            let rpc = Rpc::from_name("CreateProcessInstance").unwrap();
            assert_eq!(
                p.authorize(&p.grants_for(["tenant:write"]), &tenants, rpc, &partial),
                Err(RpcDeny::BodyUnavailable(BodyError::Partial))
            );
        }

        #[test]
        fn any_grant_whose_conditions_hold_allows() {
            let p = policy(
                "grants:\n  - {permission: a, rpcs: [PublishMessage], when: {tenant: [tenant-a], message_name: ['order-*']}}\n  - {permission: b, rpcs: [PublishMessage], when: {message_name: [ping]}}\n",
            );
            let msg = |name: &str, tenant: &str| {
                body(&proto::PublishMessageRequest {
                    name: name.into(),
                    tenant_id: tenant.into(),
                    ..Default::default()
                })
            };
            assert!(
                authorize(
                    &p,
                    &["a"],
                    &[],
                    "PublishMessage",
                    &msg("order-paid", "tenant-a")
                )
                .is_ok()
            );
            assert!(
                authorize(
                    &p,
                    &["a"],
                    &[],
                    "PublishMessage",
                    &msg("order-paid", "tenant-b")
                )
                .is_err()
            );
            assert!(
                authorize(&p, &["a"], &[], "PublishMessage", &msg("other", "tenant-a")).is_err()
            );
            assert!(
                authorize(
                    &p,
                    &["a", "b"],
                    &[],
                    "PublishMessage",
                    &msg("ping", "tenant-b")
                )
                .is_ok()
            );
        }
    }
}
