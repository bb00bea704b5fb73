//! The Camunda dialect on the REST door through the Check API: its authorizations grant
//! REST-only operations by the table of `policy/camunda/rest.rs`, and a refused REST request's
//! problem details quote the engine with the request's resource id, as the gRPC deny does.

use envoy_types::ext_authz::v3::pb::{CheckResponse, HttpResponse};
use serde_json::json;

use super::rest::setup;
use crate::util::*;

const POLICY: &str = "identity: {username_claim: preferred_username}\n\
authorizations:\n\
  - {owner: {user: jane}, resource_type: PROCESS_DEFINITION, resource_ids: ['*'], permissions: [READ_PROCESS_INSTANCE]}\n\
  - {owner: {user: jane}, resource_type: USER, resource_ids: ['*'], permissions: [READ]}\n\
  - {owner: {user: jane}, resource_type: AUTHORIZATION, resource_ids: ['*'], permissions: [CREATE]}\n";

/// The problem details' `detail` of a refused REST request (`None` when allowed).
fn detail(r: &CheckResponse) -> Option<String> {
    let Some(HttpResponse::DeniedResponse(denied)) = &r.http_response else {
        return None;
    };
    let body: serde_json::Value = serde_json::from_str(&denied.body).unwrap();
    Some(body["detail"].as_str().unwrap().to_string())
}

fn call(
    method: &'static str,
    path: &str,
    body: &str,
) -> (&'static str, String, &'static str, Vec<u8>) {
    (
        method,
        path.to_string(),
        "application/json",
        body.as_bytes().to_vec(),
    )
}

#[tokio::test]
async fn a_dialect_policy_grants_rest_only_operations_and_its_denies_name_the_id() {
    let (kc, key, authz) = setup(POLICY).await;
    let user = |name: &str| {
        let name = name.to_string();
        token_with(&key, &kc.issuer, &[], move |c| {
            let o = c.as_object_mut().unwrap();
            o.remove("client_id");
            o.insert("preferred_username".into(), json!(name));
        })
    };
    let jane = user("jane");
    for (method, path, body) in [
        ("GET", "/v2/process-instances/2251799813685249", ""),
        ("POST", "/v2/process-instances/search", "{}"),
        ("GET", "/v2/users/bob", ""),
        ("POST", "/v2/authorizations", "{}"),
    ] {
        let r = authz
            .check(rest_request(Some(&jane), &call(method, path, body)))
            .await;
        assert_eq!(code(&r), 0, "{method} {path}: {}", message(&r));
    }
    for (token, method, path, body, words) in [
        (
            &jane,
            "DELETE",
            "/v2/users/bob",
            "",
            "operation 'DELETE' on resource 'USER', required resource identifiers are one of '[*, bob]'",
        ),
        (
            &jane,
            "POST",
            "/v2/process-instances",
            r#"{"processDefinitionId":"order-process"}"#,
            "operation 'CREATE_PROCESS_INSTANCE' on resource 'PROCESS_DEFINITION', required resource identifiers are one of '[*, order-process]'",
        ),
        (
            &user("joe"),
            "GET",
            "/v2/users/alice",
            "",
            "operation 'READ' on resource 'USER', required resource identifiers are one of '[*, alice]'",
        ),
        (
            &user("joe"),
            "POST",
            "/v2/authorizations",
            "{}",
            "operation 'CREATE' on resource 'AUTHORIZATION'",
        ),
    ] {
        let r = authz
            .check(rest_request(Some(token), &call(method, path, body)))
            .await;
        assert_eq!(code(&r), 7, "{method} {path}");
        let detail = detail(&r).unwrap_or_default();
        assert!(
            detail.contains(&format!(
                "Insufficient permissions to perform {words} [decision "
            )),
            "{method} {path}: {detail}"
        );
    }
    authz.stop().await;
}

#[tokio::test]
async fn explain_shows_the_rest_row_a_dialect_authorization_grants_by_and_the_id_it_denies() {
    use zeebe_authz::explain::{Call, Caller, RestCall, explain};
    let scratch = Scratch::new();
    scratch.write("default.yaml", POLICY);
    let path = scratch.write(
        "config.yaml",
        &one_realm_config("http://127.0.0.1:1/realms/x"),
    );
    let config = zeebe_authz_server::disk::load_config(&path).unwrap();
    let call = |method: &str, p: &str| Call {
        host: "h".into(),
        rpc: format!("{method} {p}"),
        caller: Caller::Claims(json!({"preferred_username": "jane"})),
        request: None,
        rest: Some(RestCall {
            method: method.into(),
            path: p.into(),
            body: Vec::new(),
        }),
        online: None,
        request_id: None,
    };
    let e = explain(&config, &call("GET", "/v2/users/bob"))
        .await
        .unwrap();
    assert!(e.allowed, "{e:?}");
    assert!(
        e.steps.iter().any(
            |s| s.step == "grant" && s.detail.contains("user:jane grants GetUser by USER READ")
        ),
        "{e:?}"
    );
    let e = explain(&config, &call("DELETE", "/v2/users/bob"))
        .await
        .unwrap();
    assert!(!e.allowed);
    let message = e.message.unwrap_or_default();
    assert!(
        message.contains("operation 'DELETE' on resource 'USER', required resource identifiers are one of '[*, bob]'"),
        "{message}"
    );
}
