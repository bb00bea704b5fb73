//! Unit tests of the parent module.
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::body::{RequestBody, frame};
use crate::diag::{Diagnostics, Severity};
use crate::policy::{Policy, PolicyOptions, RpcDeny, compile_with};
use crate::proto;

/// Compiles for a realm whose engine checks its authorizations (what most tests below
/// compare against); [`engine_off_rpcs_the_engine_decides_need_the_wildcard`] the default.
fn compile_str(text: &str) -> (Option<Policy>, Diagnostics) {
    compile_str_with(text, true)
}

fn compile_str_with(text: &str, engine_authorizations: bool) -> (Option<Policy>, Diagnostics) {
    let mut d = Diagnostics::default();
    let file: Arc<Path> = Arc::from(Path::new("c.yaml"));
    let options = PolicyOptions {
        engine_authorizations,
    };
    (compile_with(&file, text, options, &mut d), d)
}

fn policy(text: &str) -> Policy {
    let (p, d) = compile_str(text);
    p.unwrap_or_else(|| panic!("{:?}", d.items()))
}

const EXAMPLE: &str = include_str!("../../../../../policies/camunda-8.8.yaml");

fn rpc(name: &str) -> crate::catalog::Rpc {
    crate::catalog::Rpc::from_name(name).unwrap()
}

fn decide(
    p: &Policy,
    claims: &serde_json::Value,
    name: &str,
    msg: &impl prost::Message,
) -> Result<(), RpcDeny> {
    let raw = frame(&msg.encode_to_vec());
    let body = RequestBody {
        raw: &raw,
        encoding: None,
        partial: false,
        content_type: None,
    };
    let grants = p.grants_for_token(claims, []);
    p.authorize(&grants, &[], rpc(name), &body)
}

fn start(process: &str, tenant: &str) -> proto::CreateProcessInstanceRequest {
    proto::CreateProcessInstanceRequest {
        bpmn_process_id: process.into(),
        tenant_id: tenant.into(),
        ..Default::default()
    }
}

fn activate(job_type: &str) -> proto::ActivateJobsRequest {
    proto::ActivateJobsRequest {
        r#type: job_type.into(),
        ..Default::default()
    }
}

fn engine_words(r: Result<(), RpcDeny>) -> String {
    match r {
        Err(RpcDeny::MissingPermission {
            engine: Some(e), ..
        })
        | Err(RpcDeny::ConditionFailed {
            engine: Some(e), ..
        }) => e,
        other => panic!("no engine message: {other:?}"),
    }
}

#[test]
fn owners_resolve_from_claims_as_the_engine_resolves_them() {
    let p = policy(EXAMPLE);
    let d = p.dialect().unwrap();
    let user = json!({"sub": "u-1", "preferred_username": "demo", "groups": ["payments", "x"], "realm_access": {"roles": ["zeebe-admin"]}});
    assert_eq!(
        d.owners(&user),
        [
            "user:demo",
            "group:payments",
            "group:x",
            "mapping_rule:payments-team",
            "mapping_rule:platform-admins"
        ]
    );
    // A token with a client id is the client, not a user.
    let client = json!({"preferred_username": "service-account-payments-worker", "azp": "payments-worker", "client_id": "payments-worker"});
    assert_eq!(d.owners(&client), ["client:payments-worker"]);
    // Non-string values never equal a mapping rule's value; an empty id is no owner.
    let odd = json!({"sub": "s", "preferred_username": "p", "client_id": "", "groups": [true, 3], "realm_access": {"roles": "zeebe-admin"}});
    assert_eq!(d.owners(&odd), ["user:p", "mapping_rule:platform-admins"]);
    // A Keycloak user token names the app in azp: with client_id_claim: client_id it is
    // still the user.
    let user_via_app = json!({"preferred_username": "ann", "azp": "payments-worker"});
    assert_eq!(d.owners(&user_via_app), ["user:ann"]);
    // Neither a username nor a client id: Camunda refuses the token, so no owner, not
    // even of its groups.
    assert!(d.owners(&json!({"groups": ["payments"]})).is_empty());
    assert_eq!(
        d.owners(&json!({"preferred_username": "o", "groups": "ops"})),
        ["user:o", "group:ops"],
        "a string is one group"
    );
    let none = json!({"sub": 7});
    assert!(d.owners(&none).is_empty());
}

#[test]
fn the_example_policy_decides_as_its_comments_say() {
    let p = policy(EXAMPLE);
    let team = json!({"preferred_username": "ann", "groups": ["payments"]});
    assert!(
        decide(
            &p,
            &team,
            "CreateProcessInstance",
            &start("order-process", "tenant-a")
        )
        .is_ok()
    );
    assert!(decide(&p, &team, "Topology", &proto::TopologyRequest {}).is_ok());
    assert_eq!(
        engine_words(decide(
            &p,
            &team,
            "CreateProcessInstance",
            &start("invoice", "tenant-a")
        )),
        "Insufficient permissions to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION', required resource identifiers are one of '[*, invoice]'"
    );
    assert_eq!(
        engine_words(decide(
            &p,
            &team,
            "CreateProcessInstance",
            &start("order-process", "tenant-b")
        )),
        "Expected to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION' for tenant 'tenant-b', but user is not assigned to this tenant"
    );
    assert_eq!(
        engine_words(decide(
            &p,
            &team,
            "DeployResource",
            &proto::DeployResourceRequest::default()
        )),
        "Insufficient permissions to perform operation 'CREATE' on resource 'RESOURCE'"
    );
    let pm = proto::PublishMessageRequest {
        name: "order-paid".into(),
        ..Default::default()
    };
    assert_eq!(
        engine_words(decide(&p, &team, "PublishMessage", &pm)),
        "Insufficient permissions to perform operation 'CREATE' on resource 'MESSAGE', required resource identifiers are one of '[*, order-paid]'"
    );

    let admin = json!({"preferred_username": "root", "realm_access": {"roles": ["zeebe-admin"]}});
    for (name, ok) in [
        ("CreateProcessInstance", true),
        ("CompleteJob", true),
        ("DeployResource", true),
        ("PublishMessage", true),
        ("Topology", false),
    ] {
        let r = decide(&p, &admin, name, &start("any", ""));
        assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
    }
    assert_eq!(
        engine_words(decide(&p, &admin, "Topology", &proto::TopologyRequest {})),
        "Insufficient permissions to perform operation 'x-CALL' on resource 'x-RPC', required resource identifiers are one of '[*, Topology]'"
    );
}

#[test]
fn a_request_sent_by_key_only_is_denied_without_an_empty_resource_id() {
    // It was "required resource identifiers are one of '[, *]'": the empty bpmnProcessId
    // of a CreateProcessInstance sent by processDefinitionKey, listed as an id.
    let p = policy(EXAMPLE);
    let team = json!({"preferred_username": "ann", "groups": ["payments"]});
    let by_key = proto::CreateProcessInstanceRequest {
        process_definition_key: 2_251_799_813_685_249,
        tenant_id: "tenant-a".into(),
        ..Default::default()
    };
    assert_eq!(
        engine_words(decide(&p, &team, "CreateProcessInstance", &by_key)),
        "Insufficient permissions to perform operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION'"
    );
    let worker = json!({"client_id": "payments-worker"});
    assert_eq!(
        engine_words(decide(&p, &worker, "ActivateJobs", &activate(""))),
        "Insufficient permissions to perform operation 'x-ACTIVATE' on resource 'x-JOB_TYPE'"
    );
}

#[test]
fn engine_off_rpcs_the_engine_decides_need_the_wildcard() {
    let text = "identity:\n  groups_claim: groups\nauthorizations:\n  - owner: {group: payments}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: [order-process]\n    permissions: [CREATE_PROCESS_INSTANCE, UPDATE_PROCESS_INSTANCE]\n  - owner: {group: admins}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: ['*']\n    permissions: [CREATE_PROCESS_INSTANCE]\n";
    let (p, d) = compile_str_with(text, false);
    let p = p.unwrap_or_else(|| panic!("{:?}", d.items()));
    let lost: Vec<String> = d
        .items()
        .iter()
        .filter(|w| w.severity == Severity::Warning)
        .map(|w| w.to_string())
        .collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    for rpc in ["BroadcastSignal", "CompleteJob", "SetVariables"] {
        assert!(lost[0].contains(rpc), "{rpc} named in {}", lost[0]);
    }
    assert!(lost[0].contains("engine_authorizations"), "{}", lost[0]);
    let team = json!({"sub": "ann", "groups": ["payments"]});
    let admin = json!({"sub": "bob", "groups": ["admins"]});
    let signal = proto::BroadcastSignalRequest {
        signal_name: "go".into(),
        ..Default::default()
    };
    assert!(decide(&p, &team, "BroadcastSignal", &signal).is_err());
    assert!(
        decide(&p, &admin, "BroadcastSignal", &signal).is_ok(),
        "on *"
    );
    let create = proto::CreateProcessInstanceRequest {
        bpmn_process_id: "order-process".into(),
        ..Default::default()
    };
    assert!(decide(&p, &team, "CreateProcessInstance", &create).is_ok());
    // Where the engine checks, the same authorization lets it decide.
    let (p, _) = compile_str_with(text, true);
    assert!(decide(&p.unwrap(), &team, "BroadcastSignal", &signal).is_ok());
}

#[test]
fn x_job_type_pins_the_job_types_of_an_owner_with_process_authorizations() {
    let p = policy(EXAMPLE);
    let worker = json!({"client_id": "payments-worker"});
    assert!(decide(&p, &worker, "ActivateJobs", &activate("payment-charge")).is_ok());
    assert!(
        decide(
            &p,
            &worker,
            "StreamActivatedJobs",
            &proto::StreamActivatedJobsRequest {
                r#type: "payment".into(),
                ..Default::default()
            }
        )
        .is_ok()
    );
    assert_eq!(
        engine_words(decide(&p, &worker, "ActivateJobs", &activate("shipping"))),
        "Insufficient permissions to perform operation 'x-ACTIVATE' on resource 'x-JOB_TYPE', required resource identifiers are one of '[*, shipping]'"
    );
    // Its process authorization still grants the key-only job rpcs.
    assert!(
        decide(
            &p,
            &worker,
            "CompleteJob",
            &proto::CompleteJobRequest::default()
        )
        .is_ok()
    );
    // Without an x-JOB_TYPE authorization, UPDATE_PROCESS_INSTANCE grants activation of
    // any type (the engine filters the jobs by process).
    let admin = json!({"preferred_username": "root", "realm_access": {"roles": ["zeebe-admin"]}});
    assert!(decide(&p, &admin, "ActivateJobs", &activate("shipping")).is_ok());
    // The pin is per token: a group's process authorization does not reopen job types
    // for a client that is pinned.
    let p = policy(
        "identity: {client_id_claim: azp, groups_claim: groups}\nauthorizations:\n  - {owner: {group: ops}, resource_type: PROCESS_DEFINITION, resource_ids: ['*'], permissions: [UPDATE_PROCESS_INSTANCE]}\n  - {owner: {client: w}, resource_type: x-JOB_TYPE, resource_ids: ['payment*'], permissions: [x-ACTIVATE]}\n",
    );
    let ops = json!({"azp": "other", "groups": ["ops"]});
    assert!(decide(&p, &ops, "ActivateJobs", &activate("shipping")).is_ok());
    let pinned = json!({"azp": "w", "groups": ["ops"]});
    assert!(decide(&p, &pinned, "ActivateJobs", &activate("shipping")).is_err());
    assert!(decide(&p, &pinned, "ActivateJobs", &activate("payment")).is_ok());
    assert!(
        decide(
            &p,
            &pinned,
            "CompleteJob",
            &proto::CompleteJobRequest::default()
        )
        .is_ok()
    );
}

#[test]
fn grants_and_authorizations_of_one_token_add_up() {
    let p = policy(
        "grants:\n  - {permission: 'read:*', rpcs: [Topology]}\nauthorizations:\n  - owner: {user: ann}\n    resource_type: MESSAGE\n    resource_ids: [order-*]\n    permissions: [CREATE]\n",
    );
    let claims = json!({"sub": "ann"});
    let g = p.grants_for_token(&claims, ["read:*"]);
    let pm = |name: &str| proto::PublishMessageRequest {
        name: name.into(),
        ..Default::default()
    };
    let raw = frame(&prost::Message::encode_to_vec(&pm("order-paid")));
    let body = RequestBody {
        raw: &raw,
        encoding: None,
        partial: false,
        content_type: None,
    };
    assert!(p.authorize(&g, &[], rpc("PublishMessage"), &body).is_ok());
    assert!(p.authorize(&g, &[], rpc("Topology"), &body).is_ok());
    // A permission named like an owner key is no owner.
    let g = p.grants_for(["user:ann"]);
    assert!(p.authorize(&g, &[], rpc("PublishMessage"), &body).is_err());
    // Our words stay when no authorization covers the rpc's denial... and both when mixed.
    let Err(RpcDeny::MissingPermission {
        granting, engine, ..
    }) = p.authorize(&p.grants_for([]), &[], rpc("Topology"), &body)
    else {
        panic!()
    };
    assert_eq!(&*granting, "read:*");
    assert!(engine.unwrap().contains("'x-RPC'"));
}

/// A request of `rpc` whose resource id field (if any) holds `id`.
fn request_with_id(rpc: crate::catalog::Rpc, id: &str) -> Vec<u8> {
    use prost::Message as _;
    let bytes = match rpc.name() {
        "CreateProcessInstance" => start(id, "").encode_to_vec(),
        "CreateProcessInstanceWithResult" => proto::CreateProcessInstanceWithResultRequest {
            request: Some(start(id, "")),
            ..Default::default()
        }
        .encode_to_vec(),
        "EvaluateDecision" => proto::EvaluateDecisionRequest {
            decision_id: id.into(),
            ..Default::default()
        }
        .encode_to_vec(),
        "PublishMessage" => proto::PublishMessageRequest {
            name: id.into(),
            ..Default::default()
        }
        .encode_to_vec(),
        "ActivateJobs" => activate(id).encode_to_vec(),
        "StreamActivatedJobs" => proto::StreamActivatedJobsRequest {
            r#type: id.into(),
            ..Default::default()
        }
        .encode_to_vec(),
        _ => Vec::new(),
    };
    frame(&bytes)
}

#[test]
fn every_table_row_grants_its_rpc_as_the_row_says() {
    use crate::policy::camunda::{RPC_TABLE, ResourceId};
    for row in RPC_TABLE {
        let rpc = row.rpc();
        let text = |ids: &str| {
            format!(
                "authorizations:\n  - owner: {{user: a}}\n    resource_type: {}\n    resource_ids: [{ids}]\n    permissions: [{}]\n",
                row.resource, row.permission
            )
        };
        let claims = json!({"sub": "a"});
        let other = json!({"sub": "b"});
        let check = |p: &Policy, claims: &serde_json::Value, id: &str| {
            let raw = request_with_id(rpc, id);
            let body = RequestBody {
                raw: &raw,
                encoding: None,
                partial: false,
                content_type: None,
            };
            p.authorize(&p.grants_for_token(claims, []), &[], rpc, &body)
        };
        let star = policy(&text("'*'"));
        assert!(
            check(&star, &claims, "anything").is_ok(),
            "{} on '*'",
            row.rpc
        );
        assert!(
            check(&star, &other, "anything").is_err(),
            "{}: another user",
            row.rpc
        );
        let (named, _) = compile_str(&text("granted-id"));
        let named = named.unwrap();
        let id_result = check(&named, &claims, "granted-id");
        let other_id = check(&named, &claims, "other-id");
        match row.id {
            ResourceId::Field => {
                assert!(id_result.is_ok(), "{}: {id_result:?}", row.rpc);
                let words = engine_words(other_id);
                assert!(
                    words.ends_with(&format!("operation '{}' on resource '{}', required resource identifiers are one of '[*, other-id]'", row.permission, row.resource)),
                    "{}: {words}", row.rpc
                );
            }
            ResourceId::Resolved | ResourceId::Path(_) => {
                assert!(
                    id_result.is_ok() && other_id.is_ok(),
                    "{}: the edge cannot see the resource",
                    row.rpc
                );
            }
            ResourceId::WildcardOnly => {
                assert!(
                    id_result.is_err() && other_id.is_err(),
                    "{}: '*' only",
                    row.rpc
                );
            }
        }
    }
}

#[test]
fn camunda_names_are_exact_and_mistakes_are_located() {
    let (p, d) = compile_str(
        "authorizations:\n  - owner: {user: a, client: b}\n    resource_type: process_definition\n    resource_ids: []\n    permissions: [CREATE_PROCESS_INSTANCES]\n  - owner: {mapping_rule: nope}\n    resource_type: PROCESS_DEFINITION\n    resource_ids: ['*']\n    permissions: [CREATE]\n  - owner: {client: w}\n    resource_type: x-RPC\n    resource_ids: [Topolgy]\n    permissions: [x-CALL]\n    tenants: sometimes\n",
    );
    assert!(p.is_none());
    let msgs: Vec<String> = d
        .items()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            format!(
                "{}:{} {} | {}",
                d.span.line,
                d.key,
                d.message,
                d.hint.clone().unwrap_or_default()
            )
        })
        .collect();
    let has = |s: &str| assert!(msgs.iter().any(|m| m.contains(s)), "{s} not in {msgs:#?}");
    has("2:authorizations[0].owner an owner names exactly one of");
    has(
        "3:authorizations[0].resource_type unknown resource type 'process_definition' | did you mean 'PROCESS_DEFINITION'?",
    );
    has("authorizations[0].resource_ids no resource id listed");
    has("authorizations[1].owner.mapping_rule unknown mapping rule 'nope'");
    has("authorizations[1].permissions[0] 'CREATE' is not a permission of PROCESS_DEFINITION");
    has(
        "authorizations[2].resource_ids[0] unknown rpc or group 'Topolgy' | did you mean 'Topology'?",
    );
    has("authorizations[2].tenants 'sometimes' is neither");
}

#[test]
fn authorizations_that_grant_nothing_at_the_edge_are_warned() {
    let (p, d) = compile_str(
        "identity: {client_id_claim: azp}\nauthorizations:\n  - owner: {user: a}\n    resource_type: RESOURCE\n    resource_ids: [my-deployment]\n    permissions: [CREATE]\n  - owner: {user: a}\n    resource_type: SYSTEM\n    resource_ids: ['*']\n    permissions: [READ]\n  - owner: {group: g}\n    resource_type: MESSAGE\n    resource_ids: ['*']\n    permissions: [CREATE]\n",
    );
    assert!(p.is_some());
    let msgs: Vec<String> = d
        .items()
        .iter()
        .map(|d| format!("{} {}", d.key, d.message))
        .collect();
    let has = |s: &str| assert!(msgs.iter().any(|m| m.contains(s)), "{s} not in {msgs:#?}");
    has(
        "authorizations[0].resource_ids CREATE on RESOURCE is checked on \"*\" only, so these ids grant no DeployProcess, DeployResource",
    );
    has("authorizations[1] SYSTEM READ is checked by no gateway rpc or REST operation");
    has("authorizations[2].owner a group owner, but identity.groups_claim is not set");
}

#[test]
fn prefer_username_claim_makes_a_token_with_both_the_user() {
    let p = policy(
        "identity: {username_claim: preferred_username, client_id_claim: azp, prefer_username_claim: true}\nauthorizations:\n  - {owner: {client: app}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
    );
    let d = p.dialect().unwrap();
    assert_eq!(
        d.owners(&json!({"preferred_username": "ann", "azp": "app"})),
        ["user:ann"]
    );
    assert_eq!(d.owners(&json!({"azp": "app"})), ["client:app"]);
}

/// Regression: `azp` as the client id claim made every Keycloak user the client it logged
/// in through (a user could take a worker's authorizations): it is warned.
#[test]
fn azp_as_the_client_id_claim_is_warned() {
    let (p, d) = compile_str(
        "identity: {client_id_claim: azp}\nauthorizations:\n  - {owner: {client: app}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
    );
    assert!(p.is_some());
    assert!(
        d.items().iter().any(|d| d.severity == Severity::Warning
            && d.key == "identity.client_id_claim"
            && d.message.contains("every user is taken for that client")),
        "{:?}",
        d.items()
    );
}

/// Regression: `**` is a pattern matching the empty id of a request sent by key only, so
/// it passed where the README promises that only "*" does.
#[test]
fn ids_of_only_stars_other_than_the_wildcard_are_refused() {
    for id in ["**", "***"] {
        let (p, d) = compile_str(&format!(
            "authorizations:\n  - {{owner: {{user: a}}, resource_type: PROCESS_DEFINITION, resource_ids: ['{id}'], permissions: [CREATE_PROCESS_INSTANCE]}}\n"
        ));
        assert!(p.is_none(), "{id}");
        assert!(
            d.items()
                .iter()
                .any(|d| d.message == format!("'{id}' is no resource id")),
            "{:?}",
            d.items()
        );
    }
}

/// Regression: owner ids were trimmed (`' root '` was the owner `root`) and mapping rule
/// values could be empty (matching an empty claim).
#[test]
fn owner_ids_and_mapping_values_are_compared_exactly_so_odd_ones_are_refused() {
    for (text, message) in [
        (
            "authorizations:\n  - {owner: {user: ' root '}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
            "owner id has spaces at either end",
        ),
        (
            "authorizations:\n  - {owner: {user: \"a\\nb\"}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
            "owner id contains control characters",
        ),
        (
            "mapping_rules: [{id: m, claim: groups, value: ''}]\n",
            "mapping rule value is empty",
        ),
        (
            "mapping_rules: [{id: ' m', claim: groups, value: v}]\n",
            "mapping rule id has spaces at either end",
        ),
    ] {
        let (p, d) = compile_str(text);
        assert!(p.is_none(), "{text}");
        assert!(
            d.items().iter().any(|d| d.message == message),
            "{text}: {:?}",
            d.items()
        );
    }
}

#[test]
fn json_path_claims_and_bad_claims() {
    let p = policy(
        "identity: {username_claim: \"$['camunda']['user']\", groups_claim: $.org.groups}\nauthorizations:\n  - {owner: {group: ops}, resource_type: x-RPC, resource_ids: ['*'], permissions: [x-CALL]}\n",
    );
    let d = p.dialect().unwrap();
    assert_eq!(
        d.owners(&json!({"camunda": {"user": "u"}, "org": {"groups": ["ops"]}})),
        ["user:u", "group:ops"]
    );
    let (p, d) = compile_str(
        "identity: {groups_claim: '$.a[0]'}\nmapping_rules: [{id: m, claim: 'a..b', value: v}]\n",
    );
    assert!(p.is_none());
    assert_eq!(
        d.items()
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count(),
        2,
        "{:?}",
        d.items()
    );
}
