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
            ResourceId::Resolved | ResourceId::Path(_) | ResourceId::WildcardOnly => {
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

/// The REST-only operations of the catalog (none of their rows may name a gRPC rpc).
fn rest_only() -> impl Iterator<Item = Rpc> {
    Rpc::operations().filter(|o| !o.is_grpc())
}

#[test]
fn every_rest_row_names_a_rest_only_operation_of_the_catalog_and_a_permission_of_its_type() {
    // A name the catalog lacks (proto/rest-operations.txt renamed or dropped it) is listed
    // here for whoever merges the two, rather than silently granting nothing.
    let unknown: Vec<&str> = REST_TABLE
        .iter()
        .map(|r| r.rpc)
        .chain(REST_NO_PERMISSION.iter().map(|(o, _)| *o))
        .chain(REST_UNVERIFIED.iter().map(|(o, _)| *o))
        .filter(|name| Rpc::from_name(name).is_none_or(|o| o.is_grpc()))
        .collect();
    assert!(
        unknown.is_empty(),
        "REST_TABLE / REST_NO_PERMISSION / REST_UNVERIFIED name operations that are no REST-only operation of the catalog: {unknown:?}"
    );
    for r in REST_TABLE {
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
        assert!(!r.resource.is_extension(), "{}", r.rpc);
    }
}

/// Every REST-only operation of the catalog has a row, or is listed as needing no permission
/// or as unverified: a new catalog row cannot silently lack one.
#[test]
fn every_rest_only_operation_has_a_row_or_is_listed() {
    let listed = |op: Rpc| {
        REST_NO_PERMISSION
            .iter()
            .chain(REST_UNVERIFIED)
            .any(|(o, _)| *o == op.name())
    };
    let missing: Vec<&str> = rest_only()
        .filter(|op| rows_of(*op).next().is_none() && !listed(*op))
        .map(Rpc::name)
        .collect();
    assert!(
        missing.is_empty(),
        "REST-only operations with neither a row in REST_TABLE nor an entry in REST_NO_PERMISSION / REST_UNVERIFIED (policy/camunda/rest.rs): {missing:?}"
    );
    let both: Vec<&str> = rest_only()
        .filter(|op| rows_of(*op).next().is_some() && listed(*op))
        .map(Rpc::name)
        .collect();
    assert!(both.is_empty(), "listed and with rows: {both:?}");
    let rendered = render_table();
    for op in rest_only() {
        assert!(rendered.contains(&format!("| {op} |")), "{op} not rendered");
    }
}

#[test]
fn rest_rows_find_their_id_where_the_request_has_it() {
    for r in REST_TABLE
        .iter()
        .filter(|r| Rpc::from_name(r.rpc).is_some())
    {
        let op = r.rpc();
        let has = id_kind(r.resource).and_then(|k| field_source(op, k));
        match r.id {
            ResourceId::Field => assert!(has.is_some(), "{} lacks its id member", r.rpc),
            ResourceId::Path(var) => {
                assert!(has.is_none(), "{}", r.rpc);
                assert!(
                    op.rest_routes().all(|route| route
                        .segments
                        .iter()
                        .any(|s| matches!(s, crate::catalog::Segment::Text(n) if *n == var))),
                    "{}: no text path variable {var}",
                    r.rpc
                );
            }
            ResourceId::Resolved | ResourceId::WildcardOnly => {
                assert!(has.is_none(), "{} carries the id of {}", r.rpc, r.resource)
            }
        }
        // An operation new in 8.9 has no 8.8 engine.
        if op.rest_routes().all(|route| route.since != "8.8") {
            assert_eq!(r.v8_8, Engine::Absent, "{} is not in 8.8", r.rpc);
        }
    }
}

/// Identity management needs exactly its resource type's permission: the type its path
/// names (a member search: the member's type), and on a named entity, that entity's id.
#[test]
fn identity_operations_need_exactly_their_resource_types_permission() {
    let type_of = |segment: &str| match segment {
        "users" => Some((R::User, "username")),
        "groups" => Some((R::Group, "groupId")),
        "roles" => Some((R::Role, "roleId")),
        "tenants" => Some((R::Tenant, "tenantId")),
        "mapping-rules" => Some((R::MappingRule, "mappingRuleId")),
        "authorizations" => Some((R::Authorization, "authorizationKey")),
        _ => None,
    };
    let mut seen = 0;
    for op in rest_only() {
        let Some(route) = op.rest_routes().next() else {
            continue;
        };
        let segments: Vec<&str> = route.template.trim_start_matches('/').split('/').collect();
        let Some((own, own_var)) = type_of(segments[0]) else {
            continue;
        };
        seen += 1;
        let rows: Vec<&Row> = rows_of(op).collect();
        assert_eq!(rows.len(), 1, "{op}: exactly one way to be granted");
        let r = rows[0];
        let member = (segments.last() == Some(&"search") && segments.len() == 4)
            .then(|| type_of(segments[2]))
            .flatten();
        assert!(
            r.resource == own || member.is_some_and(|(m, _)| m == r.resource),
            "{op}: {} is not its type",
            r.resource
        );
        assert!(
            [P::Create, P::Read, P::Update, P::Delete].contains(&r.permission),
            "{op}"
        );
        if let ResourceId::Path(var) = r.id {
            assert!(r.resource == own && var == own_var, "{op}: id {var}");
        }
        let expected = match route.method {
            "GET" => P::Read,
            "DELETE" if segments.len() == 2 => P::Delete,
            "POST" if segments.len() == 1 => P::Create,
            "POST" => P::Read,
            _ => P::Update,
        };
        assert_eq!(r.permission, expected, "{op} ({})", route.template);
    }
    assert!(seen >= 67, "{seen} identity operations");
}

#[test]
fn rest_rows_grant_as_the_dialect_needs() {
    let op = |n: &str| Rpc::from_name(n).unwrap();
    let (any, star) = rpcs_granted(R::ProcessDefinition, P::ReadProcessInstance);
    assert!(any.contains(op("GetProcessInstance")) && star.is_empty());
    assert!(
        rpcs_resolved(R::ProcessDefinition, P::ReadProcessInstance)
            .contains(op("GetProcessInstance"))
    );
    let (any, _) = rpcs_granted(R::User, P::Read);
    assert!(any.contains(op("GetUser")) && any.contains(op("SearchUsers")));
    assert!(!any.contains(op("UpdateUser")));
    let (any, star) = rpcs_granted(R::Authorization, P::Create);
    assert_eq!(
        (any, star.iter().map(Rpc::name).collect::<Vec<_>>()),
        (RpcSet::EMPTY, vec!["CreateAuthorization"])
    );
    let get_user = rows_of(op("GetUser")).next().unwrap();
    assert_eq!(
        engine_message(get_user, Some("bob")),
        "Insufficient permissions to perform operation 'READ' on resource 'USER', required resource identifiers are one of '[*, bob]'"
    );
    assert_eq!(
        engine_message(&message_row(op("GetProcessInstance")), Some("42")),
        "Insufficient permissions to perform operation 'READ_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION'"
    );
}
