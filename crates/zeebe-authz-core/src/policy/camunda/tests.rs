//! Unit tests of the parent module.
use super::*;
use crate::policy::condition::field_source;
use ResourceId::{Resolved, WildcardOnly};

#[test]
fn every_row_names_a_catalog_rpc_and_a_permission_of_its_type() {
    for r in RPC_TABLE {
        assert!(Rpc::from_name(r.rpc).is_some(), "{}", r.rpc);
        for v in [CamundaVersion::V8_8, CamundaVersion::V8_9] {
            if r.engine(v) != Engine::Absent {
                assert!(
                    permissions_of(r.resource, v).contains(&r.permission),
                    "{} {} {} in {v}",
                    r.rpc,
                    r.resource,
                    r.permission
                );
            }
        }
    }
}

#[test]
fn field_rows_have_the_field_and_resolved_rows_do_not() {
    for r in RPC_TABLE {
        let rpc = r.rpc();
        let has = id_kind(r.resource).and_then(|k| field_source(rpc, k));
        match r.id {
            ResourceId::Field => assert!(has.is_some(), "{} lacks its id field", r.rpc),
            // A condition on the id must never apply to a key-only rpc.
            ResourceId::Resolved | ResourceId::WildcardOnly => {
                assert!(has.is_none(), "{} carries the id of {}", r.rpc, r.resource)
            }
        }
    }
}

#[test]
fn every_rpc_but_topology_has_a_camunda_row() {
    for rpc in Rpc::all() {
        let camunda = rows_of(rpc).any(|r| !r.resource.is_extension());
        assert_eq!(camunda, rpc.name() != "Topology", "{rpc}");
    }
}

#[test]
fn rows_of_the_issue() {
    let find = |rpc: &str, res: ResourceType| {
        RPC_TABLE
            .iter()
            .find(|r| r.rpc == rpc && r.resource == res)
            .copied()
            .unwrap()
    };
    let cpi = find("CreateProcessInstance", R::ProcessDefinition);
    assert_eq!((cpi.permission, cpi.id), (P::CreateProcessInstance, Field));
    let wr = find("CreateProcessInstanceWithResult", R::ProcessDefinition);
    assert_eq!(wr.permission, P::CreateProcessInstance);
    let dmn = find("EvaluateDecision", R::DecisionDefinition);
    assert_eq!(dmn.permission, P::CreateDecisionInstance);
    let deploy = find("DeployResource", R::Resource);
    assert_eq!((deploy.permission, deploy.id), (P::Create, WildcardOnly));
    let msg = find("PublishMessage", R::Message);
    assert_eq!(
        (msg.permission, msg.v8_8, msg.v8_9),
        (P::Create, EngineStar, Checks)
    );
    for rpc in ["ActivateJobs", "StreamActivatedJobs"] {
        let pd = find(rpc, R::ProcessDefinition);
        assert_eq!(
            (pd.permission, pd.v8_8),
            (P::UpdateProcessInstance, Filters)
        );
        assert_eq!(find(rpc, R::XJobType).id, Field);
    }
    for rpc in [
        "CompleteJob",
        "FailJob",
        "ThrowError",
        "UpdateJobRetries",
        "UpdateJobTimeout",
    ] {
        let r = find(rpc, R::ProcessDefinition);
        assert_eq!(
            (r.permission, r.id),
            (P::UpdateProcessInstance, Resolved),
            "{rpc}"
        );
    }
    assert_eq!(
        find("EvaluateConditional", R::ProcessDefinition).v8_8,
        Absent
    );
}

#[test]
fn what_an_authorization_grants() {
    let (any, star) = rpcs_granted(R::Resource, P::Create);
    assert!(any.is_empty());
    assert_eq!(
        star.iter().map(Rpc::name).collect::<Vec<_>>(),
        ["DeployProcess", "DeployResource"]
    );
    let (any, _) = rpcs_granted(R::ProcessDefinition, P::CreateProcessInstance);
    let names: Vec<_> = any.iter().map(Rpc::name).collect();
    assert_eq!(
        names,
        [
            "CreateProcessInstance",
            "CreateProcessInstanceWithResult",
            "BroadcastSignal",
            "EvaluateConditional"
        ]
    );
}

#[test]
fn engine_messages_in_camunda_words() {
    let cpi = rows_of(Rpc::from_name("CreateProcessInstance").unwrap())
        .next()
        .unwrap();
    assert_eq!(
        engine_message(cpi, Some("order-process")),
        "Insufficient permissions to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION', required resource identifiers are one of '[*, order-process]'"
    );
    // Java sorts Strings by UTF-16 unit: '*' (0x2A) sorts before letters, after '!'.
    assert_eq!(
        engine_message(cpi, Some("!x")),
        "Insufficient permissions to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION', required resource identifiers are one of '[!x, *]'"
    );
    let deploy = rows_of(Rpc::from_name("DeployResource").unwrap())
        .next()
        .unwrap();
    assert_eq!(
        engine_message(deploy, None),
        "Insufficient permissions to perform operation 'CREATE' on resource 'RESOURCE'"
    );
    assert_eq!(
        engine_tenant_message(cpi, "tenant-b"),
        "Expected to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION' for tenant 'tenant-b', but user is not assigned to this tenant"
    );
}

#[test]
fn versions_parse() {
    assert_eq!(CamundaVersion::parse("8.8"), Some(CamundaVersion::V8_8));
    assert_eq!(CamundaVersion::parse("v8.9.2"), Some(CamundaVersion::V8_9));
    assert_eq!(CamundaVersion::parse("8.6"), Some(CamundaVersion::V8_7));
    for bad in ["8", "9.0", "8.x", "", "8.8.a", "8.10", "8.08", "8.8.01"] {
        assert_eq!(CamundaVersion::parse(bad), None, "{bad}");
    }
}

#[test]
fn names_round_trip() {
    for r in ResourceType::ALL {
        assert_eq!(ResourceType::from_name(r.as_str()), Some(*r));
    }
    for p in Permission::ALL {
        assert_eq!(Permission::from_name(p.as_str()), Some(*p));
    }
    assert_eq!(ResourceType::from_name("process_definition"), None);
}

#[test]
fn the_table_in_docs_is_generated_from_this_one() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/camunda-rpc-permissions.md"
    );
    let rendered = render_table();
    if std::env::var_os("ZEEBE_AUTHZ_BLESS").is_some() {
        std::fs::write(path, &rendered).unwrap();
    }
    let stored = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        stored == rendered,
        "docs/camunda-rpc-permissions.md is stale: run `ZEEBE_AUTHZ_BLESS=1 cargo test the_table_in_docs`"
    );
}
