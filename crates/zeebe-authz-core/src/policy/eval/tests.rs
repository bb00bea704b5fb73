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
    let Err(RpcDeny::MissingPermission { rpc, granting, .. }) = p.authorize(&read, &[], cpi, &B)
    else {
        panic!()
    };
    assert_eq!((rpc, &*granting), (cpi, "write:*, CreateProcessInstance"));
    assert!(
        p.authorize(&p.grants_for(["write:*"]), &[], cpi, &B)
            .is_ok()
    );
    let poc = p.grants_for(["DeployProcess", "CreateProcessInstance", "Topology"]);
    assert!(p.authorize(&poc, &[], cpi, &B).is_ok() && p.authorize(&poc, &[], topo, &B).is_ok());
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
    fn an_assigned_tenant_filter_let_grpc_job_activation_pass_on_tenant_ids_the_gateway_ignores() {
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
        assert!(authorize(&p, &["a"], &[], "PublishMessage", &msg("other", "tenant-a")).is_err());
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
