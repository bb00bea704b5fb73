//! The dialect on the REST door: what [`super::REST_TABLE`] grants, and the engine's words
//! a REST deny carries.
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::body::RequestBody;
use crate::catalog::RestRoute;
use crate::diag::Diagnostics;
use crate::policy::{Policy, PolicyOptions, RpcDeny, compile_with};
use crate::rest::{DEFAULT_BASE_PATH, RestTarget, parse_rest_path};

fn policy(authorizations: &str, engine_authorizations: bool) -> (Policy, Diagnostics) {
    let mut d = Diagnostics::default();
    let file: Arc<Path> = Arc::from(Path::new("p.yaml"));
    let text = format!("authorizations:\n{authorizations}");
    let options = PolicyOptions {
        engine_authorizations,
    };
    let p =
        compile_with(&file, &text, options, &mut d).unwrap_or_else(|| panic!("{:?}", d.items()));
    (p, d)
}

fn route(method: &str, path: &str) -> &'static RestRoute {
    match parse_rest_path(DEFAULT_BASE_PATH, method, path) {
        Some(RestTarget::Route(r)) => r,
        other => panic!("{method} {path}: {other:?}"),
    }
}

fn ask(p: &Policy, user: &str, method: &str, path: &str, body: &str) -> Result<(), RpcDeny> {
    let grants = p.grants_for_token(&json!({ "sub": user }), []);
    let body = RequestBody {
        raw: body.as_bytes(),
        encoding: None,
        partial: false,
        content_type: Some("application/json"),
    };
    p.authorize_rest(
        &grants,
        &[],
        route(method, path),
        path,
        &body,
        &mut |_, _| {},
    )
}

fn auth(resource: &str, ids: &str, permissions: &str) -> String {
    format!(
        "  - {{owner: {{user: alice}}, resource_type: {resource}, resource_ids: [{ids}], permissions: [{permissions}]}}\n"
    )
}

/// Regression: REST-only operations had no rows, so a dialect authorization such as
/// PROCESS_DEFINITION READ_PROCESS_INSTANCE, USER READ or AUTHORIZATION CREATE granted none of
/// them (only their names, `rest:*` or `admin:*` did).
#[test]
fn a_dialect_grant_of_process_definition_read_granted_nothing_on_rest() {
    let text = [
        auth(
            "PROCESS_DEFINITION",
            "'*'",
            "READ_PROCESS_INSTANCE, READ_PROCESS_DEFINITION",
        ),
        auth("USER", "'*'", "READ"),
        auth("AUTHORIZATION", "'*'", "CREATE"),
    ]
    .concat();
    let (p, _) = policy(&text, false);
    for (method, path) in [
        ("GET", "/v2/process-instances/2251799813685249"),
        ("POST", "/v2/process-instances/search"),
        ("GET", "/v2/process-definitions/2251799813685249/xml"),
        ("POST", "/v2/variables/search"),
        ("GET", "/v2/users/bob"),
        ("POST", "/v2/users/search"),
        ("POST", "/v2/authorizations"),
    ] {
        assert_eq!(
            ask(&p, "alice", method, path, "{}"),
            Ok(()),
            "{method} {path}"
        );
        assert!(
            ask(&p, "bob", method, path, "{}").is_err(),
            "bob: {method} {path}"
        );
    }
    // No more than the rows say: not another permission, not an rpc twin.
    for (method, path) in [
        ("DELETE", "/v2/users/bob"),
        ("PUT", "/v2/users/bob"),
        ("POST", "/v2/authorizations/search"),
        (
            "POST",
            "/v2/process-instances/2251799813685249/cancellation",
        ),
        ("POST", "/v2/process-instances/cancellation"),
        ("GET", "/v2/status"),
    ] {
        assert!(
            ask(&p, "alice", method, path, "{}").is_err(),
            "{method} {path}"
        );
    }
}

/// Named ids on a path-id row: the edge does not compare them, so they grant where the engine
/// checks (any id: the engine refuses the others) and nothing where it does not (warned).
#[test]
fn named_ids_on_rest_rows_grant_only_where_the_engine_checks() {
    let text = auth("USER", "alice", "READ");
    let (checked, _) = policy(&text, true);
    assert_eq!(ask(&checked, "alice", "GET", "/v2/users/alice", ""), Ok(()));
    assert_eq!(ask(&checked, "alice", "GET", "/v2/users/bob", ""), Ok(()));
    let (unchecked, d) = policy(&text, false);
    assert!(ask(&unchecked, "alice", "GET", "/v2/users/alice", "").is_err());
    assert!(
        d.items().iter().any(|i| i.message.contains("GetUser")),
        "{:?}",
        d.items()
    );
    // A create is checked on `*` only.
    let (p, _) = policy(&auth("USER", "alice", "CREATE"), true);
    assert!(ask(&p, "alice", "POST", "/v2/users", "{}").is_err());
    let (p, _) = policy(&auth("USER", "'*'", "CREATE"), false);
    assert_eq!(ask(&p, "alice", "POST", "/v2/users", "{}"), Ok(()));
}

fn engine_words(r: Result<(), RpcDeny>) -> String {
    match r {
        Err(RpcDeny::MissingPermission {
            engine: Some(words),
            ..
        }) => words,
        other => panic!("{other:?}"),
    }
}

/// Regression: a REST deny under the dialect quoted the engine without the request's resource
/// id (the gRPC deny names it): a twin's id from the JSON body, a REST-only operation's from
/// its path variable or body member.
#[test]
fn a_rest_dialect_deny_did_not_name_the_resource_id() {
    let (p, _) = policy(&auth("x-RPC", "Topology", "x-CALL"), false);
    let words = |method, path, body| engine_words(ask(&p, "alice", method, path, body));
    let needs = |permission: &str, resource: &str| {
        format!(
            "Insufficient permissions to perform operation '{permission}' on resource '{resource}'"
        )
    };
    assert_eq!(
        words(
            "POST",
            "/v2/process-instances",
            r#"{"processDefinitionId":"order-process"}"#
        ),
        format!(
            "{}, required resource identifiers are one of '[*, order-process]'",
            needs("CREATE_PROCESS_INSTANCE", "PROCESS_DEFINITION")
        )
    );
    assert_eq!(
        words(
            "POST",
            "/v2/decision-definitions/evaluation",
            r#"{"decisionDefinitionId":"risk"}"#
        ),
        format!(
            "{}, required resource identifiers are one of '[*, risk]'",
            needs("CREATE_DECISION_INSTANCE", "DECISION_DEFINITION")
        )
    );
    assert_eq!(
        words("GET", "/v2/users/bob?x=1", ""),
        format!(
            "{}, required resource identifiers are one of '[*, bob]'",
            needs("READ", "USER")
        )
    );
    assert_eq!(
        words("PUT", "/v2/tenants/tenant-b/users/bob", ""),
        format!(
            "{}, required resource identifiers are one of '[*, tenant-b]'",
            needs("UPDATE", "TENANT")
        )
    );
    assert_eq!(
        words("POST", "/v2/messages/correlation", r#"{"name":"paid"}"#),
        format!(
            "{}, required resource identifiers are one of '[*, paid]'",
            needs("CREATE", "MESSAGE")
        )
    );
    // By key, or with no readable id, the engine's words name none (as on gRPC).
    assert_eq!(
        words(
            "POST",
            "/v2/process-instances",
            r#"{"processDefinitionKey":"1"}"#
        ),
        needs("CREATE_PROCESS_INSTANCE", "PROCESS_DEFINITION")
    );
    assert_eq!(
        words("POST", "/v2/decision-definitions/evaluation", "not json"),
        needs("CREATE_DECISION_INSTANCE", "DECISION_DEFINITION")
    );
    assert_eq!(
        words("GET", "/v2/process-instances/2251799813685249", ""),
        needs("READ_PROCESS_INSTANCE", "PROCESS_DEFINITION")
    );
    // No Camunda permission: named as the operation.
    assert_eq!(
        words("GET", "/v2/status", ""),
        "Insufficient permissions to perform operation 'x-CALL' on resource 'x-RPC', required resource identifiers are one of '[*, GetStatus]'"
    );
}

/// A deny quotes the id where the request has it, so the routes whose deny names a body
/// member are the routes whose body Envoy must send.
#[test]
fn routes_whose_deny_names_a_body_member_are_body_routes() {
    let (p, _) = policy(&auth("x-RPC", "Topology", "x-CALL"), false);
    let body: Vec<&str> = p.body_routes().map(|r| r.template).collect();
    for template in [
        "/process-instances",
        "/messages/correlation",
        "/decision-definitions/evaluation",
    ] {
        assert!(body.contains(&template), "{template} not in {body:?}");
    }
    assert!(!body.contains(&"/users/{username}"), "{body:?}");
}

/// Regression (review of the REST rows): an authorization held to `tenants:` granted the
/// REST-only operations that carry no tenant member without the condition, so CLUSTER_VARIABLE
/// UPDATE for tenant-a wrote tenant-b's variables (the tenant is in the path, which no
/// condition reads), and PROCESS_DEFINITION READ_PROCESS_INSTANCE for tenant-a searched every
/// tenant. Such operations are now left out of a tenant-held authorization, with a warning.
#[test]
fn a_tenant_held_authorization_granted_rest_operations_in_every_tenant() {
    let held = |resource: &str, permissions: &str| {
        format!(
            "  - {{owner: {{user: alice}}, resource_type: {resource}, resource_ids: ['*'], permissions: [{permissions}], tenants: [tenant-a]}}\n"
        )
    };
    let text = [
        held("CLUSTER_VARIABLE", "UPDATE"),
        held(
            "PROCESS_DEFINITION",
            "READ_PROCESS_INSTANCE, CREATE_PROCESS_INSTANCE",
        ),
    ]
    .concat();
    for engine in [false, true] {
        let (p, d) = policy(&text, engine);
        for (method, path, body) in [
            (
                "PUT",
                "/v2/cluster-variables/tenants/tenant-b/x",
                r#"{"value":1}"#,
            ),
            ("POST", "/v2/process-instances/search", "{}"),
            ("POST", "/v2/variables/search", "{}"),
        ] {
            assert!(
                matches!(
                    ask(&p, "alice", method, path, body),
                    Err(RpcDeny::MissingPermission { .. })
                ),
                "{method} {path} (engine_authorizations: {engine})"
            );
        }
        // The twin that carries a tenant is still held to it.
        let create =
            |tenant: &str| format!(r#"{{"processDefinitionId":"order","tenantId":"{tenant}"}}"#);
        assert_eq!(
            ask(
                &p,
                "alice",
                "POST",
                "/v2/process-instances",
                &create("tenant-a")
            ),
            Ok(())
        );
        assert!(
            ask(
                &p,
                "alice",
                "POST",
                "/v2/process-instances",
                &create("tenant-b")
            )
            .is_err()
        );
        let warned: Vec<String> = d.items().iter().map(|i| i.message.clone()).collect();
        assert!(
            warned
                .iter()
                .any(|m| m.contains("UpdateTenantClusterVariable") && m.contains("tenant")),
            "{warned:?}"
        );
    }
}
