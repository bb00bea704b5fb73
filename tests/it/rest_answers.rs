//! How a deny is answered on the REST port: as problem details (RFC 9457) with the decision id
//! and, on a 401, a bearer challenge, for the REST door's paths and for every other path a
//! request does not call as gRPC (Operate's `/v1`, actuator, the web applications beside
//! `/v2`); in gRPC form (`grpc-status`, `grpc-message`) for the gateway service's paths and for
//! a gRPC call of another service.

use envoy_types::ext_authz::v3::pb::{CheckResponse, HttpResponse};

use crate::rest::{PERMISSION_DENIED, UNAUTHENTICATED, dev_policy, reason, setup};
use crate::util::*;

/// The denied answer's HTTP status, headers and body.
fn denied(r: &CheckResponse) -> (u32, Vec<(String, String)>, String) {
    let Some(HttpResponse::DeniedResponse(denied)) = &r.http_response else {
        panic!("not a deny: {r:?}")
    };
    let headers = denied
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .map(|h| (h.key.clone(), h.value.clone()))
        .collect();
    (
        denied.status.as_ref().map_or(0, |s| s.code as u32),
        headers,
        denied.body.clone(),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `request` without its `content-type` (a browser's or curl's GET).
fn without_content_type(
    mut request: envoy_types::ext_authz::v3::pb::CheckRequest,
) -> envoy_types::ext_authz::v3::pb::CheckRequest {
    request
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .unwrap()
        .headers
        .remove("content-type");
    request
}

/// Asserts `r` is a problem-details deny with `status` naming `instance`; returns its body.
fn assert_problem(r: &CheckResponse, status: u32, instance: &str, what: &str) -> serde_json::Value {
    let (http, headers, body) = denied(r);
    assert_eq!(http, status, "{what}");
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/problem+json"),
        "{what}: {headers:?}"
    );
    assert_eq!(header(&headers, "grpc-status"), None, "{what}: {headers:?}");
    assert_eq!(
        header(&headers, "www-authenticate").is_some(),
        status == 401,
        "{what}: {headers:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(body["status"], status, "{what}");
    assert_eq!(body["instance"], instance, "{what}");
    let id = body["decisionId"].as_str().expect("a decision id");
    assert!(
        body["detail"].as_str().unwrap().contains(id),
        "{what}: {body}"
    );
    body
}

/// Asserts `r` is a deny in gRPC form with `code`.
fn assert_grpc_form(r: &CheckResponse, code_: i32, what: &str) {
    let (_, headers, body) = denied(r);
    assert_eq!(code(r), code_, "{what}");
    assert_eq!(
        header(&headers, "grpc-status"),
        Some(code_.to_string().as_str()),
        "{what}: {headers:?}"
    );
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/grpc"),
        "{what}: {headers:?}"
    );
    assert!(body.is_empty(), "{what}: {body}");
}

#[tokio::test]
async fn rest_denies_are_problem_details_with_the_decision_id_and_a_bearer_challenge() {
    let (kc, key, authz) = setup(&dev_policy()).await;
    let read = token(&key, &kc.issuer, &["read:*"]);
    let activation = (
        "POST",
        "/v2/jobs/activation?x=1".to_string(),
        "application/json",
        br#"{"type":"payment"}"#.to_vec(),
    );
    let forbidden = authz.check(rest_request(Some(&read), &activation)).await;
    let unauthorized = authz.check(rest_request(None, &activation)).await;
    for (r, status, title, code_) in [
        (&forbidden, 403, "FORBIDDEN", PERMISSION_DENIED),
        (&unauthorized, 401, "UNAUTHORIZED", UNAUTHENTICATED),
    ] {
        assert_eq!(code(r), code_);
        let Some(HttpResponse::DeniedResponse(denied)) = &r.http_response else {
            panic!("{r:?}")
        };
        assert_eq!(denied.status.as_ref().unwrap().code, status);
        let headers: Vec<(String, String)> = denied
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect();
        assert!(headers.contains(&("content-type".into(), "application/problem+json".into())));
        assert!(
            !headers.iter().any(|(k, _)| k == "grpc-status"),
            "{headers:?}"
        );
        assert_eq!(
            headers.iter().any(|(k, _)| k == "www-authenticate"),
            status == 401,
            "{headers:?}"
        );
        let body: serde_json::Value = serde_json::from_str(&denied.body).unwrap();
        assert_eq!(body["status"], status);
        assert_eq!(body["title"], title);
        assert_eq!(body["instance"], "/v2/jobs/activation");
        let id = body["decisionId"].as_str().unwrap();
        assert!(body["detail"].as_str().unwrap().contains(id), "{body}");
        assert!(!denied.body.contains(&read), "the body carries the token");
    }
    authz.stop().await;
}

/// A review found that on the REST port a refused call to a path beside `/v2` (Operate's `/v1`,
/// actuator) was answered with `grpc-status` headers and no body, which an HTTP client cannot
/// read; now the request decides: not a gRPC call, problem details; a gRPC call, gRPC form.
#[tokio::test]
async fn a_refused_call_beside_the_rest_api_was_answered_in_grpc_form() {
    let (kc, key, authz) = setup(&dev_policy()).await;
    let write = token(&key, &kc.issuer, &["write:*"]);
    for (token, method, path, content_type, status) in [
        (
            Some(&write),
            "POST",
            "/v1/process-definitions/search",
            Some("application/json"),
            403,
        ),
        (Some(&write), "GET", "/actuator/health", None, 403),
        (
            Some(&write),
            "GET",
            "/operate/api/process-instances?x=1",
            Some("text/html"),
            403,
        ),
        (None, "GET", "/v1/topology", None, 401),
    ] {
        let request = rest_request(
            token.map(String::as_str),
            &(method, path.into(), content_type.unwrap_or(""), Vec::new()),
        );
        let request = if content_type.is_none() {
            without_content_type(request)
        } else {
            request
        };
        let r = authz.check(request).await;
        let what = format!("{method} {path} ({content_type:?})");
        let instance = path.split_once('?').map_or(path, |(p, _)| p);
        let body = assert_problem(&r, status, instance, &what);
        assert_eq!(
            body["title"],
            if status == 401 {
                "UNAUTHORIZED"
            } else {
                "FORBIDDEN"
            },
            "{what}"
        );
        if status == 403 {
            assert_eq!(reason(&r), "other_path", "{what}");
        }
    }
    // gRPC calls keep the gRPC form: another service's (gRPC health, any codec suffix or
    // parameters, any case) and the gateway service's whatever they say.
    for (method, path, content_type, code_) in [
        (
            "POST",
            "/grpc.health.v1.Health/Check",
            "application/grpc",
            PERMISSION_DENIED,
        ),
        (
            "POST",
            "/grpc.health.v1.Health/Check",
            "Application/GRPC+proto",
            PERMISSION_DENIED,
        ),
        (
            "POST",
            "/v1/tasks",
            "application/grpc; charset=utf-8",
            PERMISSION_DENIED,
        ),
        (
            "POST",
            "/gateway_protocol.Gateway/NoSuchRpc",
            "application/json",
            PERMISSION_DENIED,
        ),
    ] {
        let r = authz
            .check(rest_request(
                Some(&write),
                &(method, path.into(), content_type, Vec::new()),
            ))
            .await;
        assert_grpc_form(&r, code_, &format!("{method} {path} ({content_type})"));
    }
    let r = authz
        .check(rest_request(
            None,
            &(
                "POST",
                "/grpc.health.v1.Health/Check".into(),
                "application/grpc",
                Vec::new(),
            ),
        ))
        .await;
    assert_grpc_form(&r, UNAUTHENTICATED, "gRPC health without a token");
    authz.stop().await;
}
