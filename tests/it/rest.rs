//! The REST door through the Check API: every rpc and its REST twin get the same decision for
//! the same token and the same logical request (tenant, job type, process id, message and
//! signal name), under the dev policy and under the Camunda dialect's example; REST-only and
//! identity-management operations are not granted by `*`; unknown and unroutable `/v2` paths
//! fail closed. How denies are answered: `rest_answers`.

use envoy_types::ext_authz::v3::pb::CheckResponse;
use serde_json::json;
use zeebe_authz_core::signing::SigningKey;

use crate::util::*;

pub(crate) const OK: i32 = 0;
pub(crate) const PERMISSION_DENIED: i32 = 7;
pub(crate) const UNAUTHENTICATED: i32 = 16;

pub(crate) fn dev_policy() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/dev.yaml")).unwrap()
}

pub(crate) async fn setup(policy: &str) -> (Keycloak, SigningKey, Authz) {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let config = one_realm_config(&kc.issuer).replace(
        "    policy: default.yaml\n",
        "    policy: default.yaml\n    tenants_claim: groups\n    tenants_prefix: /tenants/\n",
    );
    let authz = Authz::start(&config, policy).await;
    authz.wait_ready().await;
    (kc, key, authz)
}

/// One logical request: the values conditions read.
#[derive(Debug, Clone, Copy, Default)]
struct Logical {
    tenant: Option<&'static str>,
    job_type: Option<&'static str>,
    id: Option<&'static str>,
}

/// A protobuf string field.
fn field(number: u32, value: &str) -> Vec<u8> {
    let mut out = vec![(number << 3 | 2) as u8, value.len() as u8];
    out.extend_from_slice(value.as_bytes());
    out
}

/// The gRPC body of `rpc` for `l` (only the fields conditions read; field numbers from
/// proto/gateway.proto), and the REST request (method, path, content type, body).
fn both(rpc: &str, l: Logical) -> (Vec<u8>, (&'static str, String, &'static str, Vec<u8>)) {
    let t = l.tenant;
    let mut pb = Vec::new();
    let mut add = |n: u32, v: Option<&str>| {
        if let Some(v) = v {
            pb.extend(field(n, v));
        }
    };
    let mut js = serde_json::Map::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            js.insert(k.into(), json!(v));
        }
    };
    let (method, path): (&str, &str) = match rpc {
        "Topology" => ("GET", "/v2/topology"),
        "ActivateJobs" => {
            add(1, l.job_type);
            add(7, t);
            put("type", l.job_type);
            if let Some(t) = t {
                js.insert("tenantIds".into(), json!([t]));
            }
            ("POST", "/v2/jobs/activation")
        }
        "CompleteJob" => ("POST", "/v2/jobs/2251799813685249/completion"),
        "FailJob" => ("POST", "/v2/jobs/2251799813685249/failure"),
        "ThrowError" => ("POST", "/v2/jobs/2251799813685249/error"),
        "UpdateJobRetries" => {
            js.insert("changeset".into(), json!({"retries": 3}));
            ("PATCH", "/v2/jobs/2251799813685249")
        }
        "UpdateJobTimeout" => {
            js.insert("changeset".into(), json!({"timeout": 3000}));
            ("PATCH", "/v2/jobs/2251799813685249")
        }
        "CreateProcessInstance" => {
            add(2, l.id);
            add(6, t);
            put("processDefinitionId", l.id);
            put("tenantId", t);
            ("POST", "/v2/process-instances")
        }
        "CreateProcessInstanceWithResult" => {
            let mut inner = Vec::new();
            if let Some(id) = l.id {
                inner.extend(field(2, id));
            }
            if let Some(t) = t {
                inner.extend(field(6, t));
            }
            pb.push(1 << 3 | 2);
            pb.push(inner.len() as u8);
            pb.extend(inner);
            put("processDefinitionId", l.id);
            put("tenantId", t);
            js.insert("awaitCompletion".into(), json!(true));
            ("POST", "/v2/process-instances")
        }
        "CancelProcessInstance" => ("POST", "/v2/process-instances/1/cancellation"),
        "MigrateProcessInstance" => ("POST", "/v2/process-instances/1/migration"),
        "ModifyProcessInstance" => ("POST", "/v2/process-instances/1/modification"),
        "EvaluateDecision" => {
            add(2, l.id);
            add(4, t);
            put("decisionDefinitionId", l.id);
            put("tenantId", t);
            ("POST", "/v2/decision-definitions/evaluation")
        }
        "PublishMessage" => {
            add(1, l.id);
            add(6, t);
            put("name", l.id);
            put("tenantId", t);
            ("POST", "/v2/messages/publication")
        }
        "BroadcastSignal" => {
            add(1, l.id);
            add(3, t);
            put("signalName", l.id);
            put("tenantId", t);
            ("POST", "/v2/signals/broadcast")
        }
        "EvaluateConditional" => {
            add(1, t);
            put("tenantId", t);
            ("POST", "/v2/conditionals/evaluation")
        }
        "ResolveIncident" => ("POST", "/v2/incidents/1/resolution"),
        "SetVariables" => ("PUT", "/v2/element-instances/1/variables"),
        "DeleteResource" => ("POST", "/v2/resources/1/deletion"),
        "DeployResource" => {
            add(2, t);
            let mut body = b"--B\r\nContent-Disposition: form-data; name=\"resources\"; filename=\"a.bpmn\"\r\n\r\n<x/>\r\n".to_vec();
            if let Some(t) = t {
                body.extend(
                    format!(
                        "--B\r\nContent-Disposition: form-data; name=\"tenantId\"\r\n\r\n{t}\r\n"
                    )
                    .as_bytes(),
                );
            }
            body.extend(b"--B--\r\n");
            return (
                zeebe_authz_core::body::frame(&pb),
                (
                    "POST",
                    "/v2/deployments".into(),
                    "multipart/form-data; boundary=B",
                    body,
                ),
            );
        }
        other => panic!("no REST twin written for {other}"),
    };
    let body = if method == "GET" {
        Vec::new()
    } else {
        serde_json::to_vec(&js).unwrap()
    };
    (
        zeebe_authz_core::body::frame(&pb),
        (method, path.into(), "application/json", body),
    )
}

/// The twins of `both`.
const TWINS: [&str; 20] = [
    "Topology",
    "ActivateJobs",
    "CompleteJob",
    "FailJob",
    "ThrowError",
    "UpdateJobRetries",
    "UpdateJobTimeout",
    "CreateProcessInstance",
    "CreateProcessInstanceWithResult",
    "CancelProcessInstance",
    "MigrateProcessInstance",
    "ModifyProcessInstance",
    "EvaluateDecision",
    "PublishMessage",
    "BroadcastSignal",
    "EvaluateConditional",
    "ResolveIncident",
    "SetVariables",
    "DeleteResource",
    "DeployResource",
];

pub(crate) fn reason(r: &CheckResponse) -> String {
    r.dynamic_metadata
        .as_ref()
        .and_then(|m| m.fields.get("reason"))
        .and_then(|v| match &v.kind {
            Some(envoy_types::pb::google::protobuf::value::Kind::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "allowed".into())
}

const LOGICAL: [Logical; 5] = [
    Logical {
        tenant: None,
        job_type: None,
        id: None,
    },
    Logical {
        tenant: Some("tenant-a"),
        job_type: Some("payment-eu"),
        id: Some("order-process"),
    },
    Logical {
        tenant: Some("tenant-b"),
        job_type: Some("shipping"),
        id: Some("other"),
    },
    Logical {
        tenant: Some("<default>"),
        job_type: Some("payment"),
        id: Some("x"),
    },
    Logical {
        tenant: Some("tenant-a"),
        job_type: None,
        id: None,
    },
];

/// Sends every twin's two requests for every logical request with `token`; returns the
/// mismatches (rpc, logical request, gRPC answer, REST answer), and adds each answer's reason
/// to `seen`. With `words`, the deny messages must match too (the decision id aside): the
/// Camunda dialect's denies quote the engine, which names no door.
async fn mismatches(
    authz: &Authz,
    token: &str,
    seen: &mut std::collections::BTreeMap<String, usize>,
    words: bool,
) -> Vec<String> {
    let mut found = Vec::new();
    let auth = format!("Bearer {token}");
    for rpc_name in TWINS {
        for l in LOGICAL {
            let (pb, rest) = both(rpc_name, l);
            let g = authz
                .check(check_request(
                    "zeebe.example.com",
                    &rpc(rpc_name),
                    Some(&auth),
                    &pb,
                ))
                .await;
            let r = authz.check(rest_request(Some(token), &rest)).await;
            let said = |r: &CheckResponse| {
                let m = message(r);
                m.split_once(" [decision ")
                    .map_or(m.clone(), |(w, _)| w.to_string())
            };
            let (gc, rc) = ((code(&g), reason(&g)), (code(&r), reason(&r)));
            let (gc, rc) = if words {
                ((gc.0, gc.1 + &said(&g)), (rc.0, rc.1 + &said(&r)))
            } else {
                (gc, rc)
            };
            *seen.entry(reason(&r)).or_default() += 1;
            if gc != rc {
                found.push(format!(
                    "{rpc_name} {l:?}: gRPC {gc:?} {}, REST {rc:?} {}",
                    message(&g),
                    message(&r)
                ));
            }
        }
    }
    found
}

#[tokio::test]
async fn every_rpc_and_its_rest_twin_decide_alike_for_the_dev_tokens() {
    let (kc, key, authz) = setup(&dev_policy()).await;
    let tokens = [
        token(&key, &kc.issuer, &["write:*"]),
        token(&key, &kc.issuer, &["read:*"]),
        token_with(&key, &kc.issuer, &["tenant:write"], |c| {
            c["groups"] = json!(["/tenants/tenant-a"])
        }),
        token(&key, &kc.issuer, &["worker:payment"]),
        token(&key, &kc.issuer, &[]),
    ];
    let mut all = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for t in &tokens {
        all.extend(mismatches(&authz, t, &mut seen, false).await);
    }
    assert!(
        all.is_empty(),
        "{} mismatches:\n{}",
        all.len(),
        all.join("\n")
    );
    // The matrix holds allows and every kind of policy deny, not one answer throughout.
    for reason in ["allowed", "missing_permission", "condition_failed"] {
        assert!(seen.get(reason).is_some_and(|n| *n > 0), "{seen:?}");
    }
    authz.stop().await;
}

#[tokio::test]
async fn every_rpc_and_its_rest_twin_decide_alike_under_the_camunda_dialect() {
    let policy = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/camunda-8.8.yaml"
    ))
    .unwrap();
    let (kc, key, authz) = setup(&policy).await;
    // The owners of the example: a client, a group (also a mapping rule), a role.
    let owners = [
        json!({"client_id": "payments-worker"}),
        json!({"preferred_username": "jane", "groups": ["payments"]}),
        json!({"preferred_username": "ops", "realm_access": {"roles": ["zeebe-admin"]}}),
        json!({"preferred_username": "nobody"}),
    ];
    let mut all = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for owner in owners {
        let t = token_with(&key, &kc.issuer, &[], |c| {
            if let Some(o) = c.as_object_mut() {
                o.remove("client_id");
                for (k, v) in owner.as_object().unwrap() {
                    o.insert(k.clone(), v.clone());
                }
            }
        });
        all.extend(mismatches(&authz, &t, &mut seen, true).await);
    }
    assert!(
        all.is_empty(),
        "{} mismatches:\n{}",
        all.len(),
        all.join("\n")
    );
    // The matrix holds allows and every kind of policy deny, not one answer throughout.
    for reason in ["allowed", "missing_permission", "condition_failed"] {
        assert!(seen.get(reason).is_some_and(|n| *n > 0), "{seen:?}");
    }
    authz.stop().await;
}

#[tokio::test]
async fn star_grants_no_rest_only_operation_and_no_identity_management() {
    let policy = "grants:\n  - {permission: 'write:*', rpcs: ['*']}\n  - {permission: 'tasks', rpcs: ['rest:*']}\n  - {permission: 'admin', rpcs: [CreateAuthorization]}\n";
    let (kc, key, authz) = setup(policy).await;
    let write = token(&key, &kc.issuer, &["write:*"]);
    let tasks = token(&key, &kc.issuer, &["tasks"]);
    let admin = token(&key, &kc.issuer, &["admin"]);
    let send = |t: &str, method: &'static str, path: &str| {
        rest_request(
            Some(t),
            &(method, path.to_string(), "application/json", b"{}".to_vec()),
        )
    };
    let cases = [
        (
            &write,
            "POST",
            "/v2/user-tasks/1/completion",
            PERMISSION_DENIED,
        ),
        (&write, "POST", "/v2/authorizations", PERMISSION_DENIED),
        (
            &write,
            "POST",
            "/v2/process-instances/search",
            PERMISSION_DENIED,
        ),
        (&write, "POST", "/v2/jobs/1/completion", OK),
        (&tasks, "POST", "/v2/user-tasks/1/completion", OK),
        (&tasks, "POST", "/v2/process-instances/search", OK),
        (&tasks, "POST", "/v2/authorizations", PERMISSION_DENIED),
        (&tasks, "POST", "/v2/users", PERMISSION_DENIED),
        (&tasks, "POST", "/v2/jobs/1/completion", PERMISSION_DENIED),
        (&admin, "POST", "/v2/authorizations", OK),
        (&admin, "DELETE", "/v2/authorizations/1", PERMISSION_DENIED),
    ];
    for (t, method, path, expected) in cases {
        let r = authz.check(send(t, method, path)).await;
        assert_eq!(code(&r), expected, "{method} {path}: {}", message(&r));
    }
    authz.stop().await;
}

#[tokio::test]
async fn unknown_and_unroutable_rest_paths_fail_closed_and_other_paths_opens_only_grpc_calls() {
    let policy = "grants:\n  - {permission: 'write:*', rpcs: ['*', 'rest:*', 'admin:*']}\nunknown_rpcs: authenticated\nother_paths: authenticated\n";
    let (kc, key, authz) = setup(policy).await;
    let t = token(&key, &kc.issuer, &["write:*"]);
    for (method, path) in [
        ("POST", "/v2/no-such-thing"),
        ("GET", "/v2/jobs/activation"),
        ("POST", "/v2/jobs;x=1/activation"),
        ("POST", "/v2/jobs/activ%61tion"),
        ("POST", "/v2/jobs/activation/"),
        ("POST", "/V2/jobs/activation"),
        ("POST", "/v2//jobs/activation"),
        ("POST", "/v2/jobs/0x10/completion"),
    ] {
        let r = authz
            .check(rest_request(
                Some(&t),
                &(method, path.into(), "application/json", b"{}".to_vec()),
            ))
            .await;
        assert_eq!(code(&r), PERMISSION_DENIED, "{method} {path}");
        assert_eq!(reason(&r), "unknown_rpc", "{method} {path}");
    }
    // `other_paths: authenticated` opens gRPC calls of other services only: a security review
    // found it opened every path of the gateway's HTTP port outside /v2 (Operate's /v1, the
    // web apps' /api, actuator), and /v2 itself under a realm whose base path differs.
    for (method, path, content_type) in [
        ("GET", "/actuator/health", "application/json"),
        ("POST", "/v1/process-instances/search", "application/json"),
        ("POST", "/api/processes/grouped", "application/json"),
        (
            "POST",
            "/orchestration/v2/jobs/activation",
            "application/json",
        ),
        ("POST", "/v1/tasks", "application/grpc"),
        ("GET", "/grpc.health.v1.Health/Check", "application/grpc"),
    ] {
        let r = authz
            .check(rest_request(
                Some(&t),
                &(method, path.into(), content_type, Vec::new()),
            ))
            .await;
        assert_eq!(code(&r), PERMISSION_DENIED, "{method} {path}");
        assert_eq!(reason(&r), "other_path", "{method} {path}");
    }
    let r = authz
        .check(rest_request(
            Some(&t),
            &(
                "POST",
                "/grpc.health.v1.Health/Check".into(),
                "application/grpc",
                Vec::new(),
            ),
        ))
        .await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    authz.stop().await;
}

#[tokio::test]
async fn rest_conditions_read_the_json_body_as_jackson_does() {
    let (kc, key, authz) = setup(&dev_policy()).await;
    let worker = token(&key, &kc.issuer, &["worker:payment"]);
    let tenant = token_with(&key, &kc.issuer, &["tenant:write"], |c| {
        c["groups"] = json!(["/tenants/tenant-a"])
    });
    let post = |t: &str, path: &str, body: &[u8]| {
        rest_request(
            Some(t),
            &("POST", path.to_string(), "application/json", body.to_vec()),
        )
    };
    let cases: [(&str, &str, &[u8], i32); 10] = [
        (&worker, "/v2/jobs/activation", br#"{"type":"payment"}"#, OK),
        (
            &worker,
            "/v2/jobs/activation",
            br#"{"type":"payment","type":"shipping"}"#,
            PERMISSION_DENIED,
        ),
        (
            &worker,
            "/v2/jobs/activation",
            br#"{"type":"shipping","type":"payment"}"#,
            OK,
        ),
        (
            &worker,
            "/v2/jobs/activation",
            br#"{"typ\u0065":"shipping"}"#,
            PERMISSION_DENIED,
        ),
        (
            &worker,
            "/v2/jobs/activation",
            br#"{"type":"payment"} x"#,
            PERMISSION_DENIED,
        ),
        (
            &worker,
            "/v2/jobs/activation",
            br#"{"type":["payment"]}"#,
            PERMISSION_DENIED,
        ),
        (
            &tenant,
            "/v2/process-instances",
            br#"{"processDefinitionId":"p","tenantId":"tenant-a"}"#,
            OK,
        ),
        (
            &tenant,
            "/v2/process-instances",
            br#"{"tenantId":"tenant-a","tenantId":"tenant-b"}"#,
            PERMISSION_DENIED,
        ),
        (
            &tenant,
            "/v2/messages/publication",
            br#"{"name":"m","tenantId":"tenant-a"}"#,
            OK,
        ),
        (
            &tenant,
            "/v2/process-instances",
            br#"{"tenantId":"tenant-a","awaitCompletion":"yes"}"#,
            PERMISSION_DENIED,
        ),
    ];
    for (t, path, body, expected) in cases {
        let r = authz.check(post(t, path, body)).await;
        assert_eq!(
            code(&r),
            expected,
            "{path} {}: {}",
            String::from_utf8_lossy(body),
            message(&r)
        );
    }
    authz.stop().await;
}

/// The book's table is the catalog's: every route is a row of `docs/src/rest.md`.
#[test]
fn the_rest_page_lists_every_route_of_the_catalog() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/rest.md")).unwrap();
    for route in zeebe_authz_core::catalog::REST_ROUTES {
        let ops: Vec<&str> = route.operations.iter().map(|r| r.name()).collect();
        let row = format!(
            "| `{}` | `{}` | {} |",
            route.method,
            route.template,
            ops.join(" or ")
        );
        assert!(page.contains(&row), "docs/src/rest.md lacks {row}");
    }
}

/// Issue 23: a REST call was refused as "another service's path" whatever the token. Now the
/// dev tokens mean on REST what they mean on gRPC.
#[tokio::test]
async fn a_rest_call_was_refused_as_another_services_path_whatever_the_token() {
    let (kc, key, authz) = setup(&dev_policy()).await;
    let read = token(&key, &kc.issuer, &["read:*"]);
    let topology = (
        "GET",
        "/v2/topology".to_string(),
        "application/json",
        Vec::new(),
    );
    let r = authz.check(rest_request(Some(&read), &topology)).await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    let start = (
        "POST",
        "/v2/process-instances".to_string(),
        "application/json",
        br#"{"processDefinitionId":"order-process"}"#.to_vec(),
    );
    let r = authz.check(rest_request(Some(&read), &start)).await;
    assert_eq!(
        (code(&r), reason(&r).as_str()),
        (PERMISSION_DENIED, "missing_permission"),
        "{}",
        message(&r)
    );
    authz.stop().await;
}

/// An ActivateJobs sent with `"tenantFilter": "ASSIGNED"` (Camunda 8.9's JobActivationRequest)
/// was judged on its `tenantIds`, which the gateway then ignores for the principal's assigned
/// tenants: a tenant condition passed on tenants the gateway never used. Now any value but
/// absent, `null` or `"PROVIDED"` is refused under a tenant condition.
#[tokio::test]
async fn an_assigned_tenant_filter_let_activate_jobs_pass_on_tenant_ids_the_gateway_ignores() {
    let (kc, key, authz) = setup(&dev_policy()).await;
    let t = token_with(&key, &kc.issuer, &["tenant:write"], |c| {
        c["groups"] = json!(["/tenants/tenant-a"])
    });
    let activate = |filter: Option<serde_json::Value>| {
        let mut js = json!({"type": "payment", "tenantIds": ["tenant-a"], "maxJobsToActivate": 1, "timeout": 1000});
        if let Some(f) = filter {
            js["tenantFilter"] = f;
        }
        let body = serde_json::to_vec(&js).unwrap();
        (
            "POST",
            "/v2/jobs/activation".to_string(),
            "application/json",
            body,
        )
    };
    let cases = [
        (None, OK),
        (Some(json!(null)), OK),
        (Some(json!("PROVIDED")), OK),
        (Some(json!("ASSIGNED")), PERMISSION_DENIED),
        (Some(json!("assigned")), PERMISSION_DENIED),
        (Some(json!(1)), PERMISSION_DENIED),
        (Some(json!(["PROVIDED"])), PERMISSION_DENIED),
    ];
    for (filter, expected) in cases {
        let r = authz
            .check(rest_request(Some(&t), &activate(filter.clone())))
            .await;
        assert_eq!(code(&r), expected, "{filter:?}: {}", message(&r));
    }
    // A grant without a tenant condition does not care which tenants the gateway takes, even
    // though another grant of the policy reads them.
    let worker = token_with(&key, &kc.issuer, &["worker:payment"], |_| {});
    let r = authz
        .check(rest_request(
            Some(&worker),
            &activate(Some(json!("ASSIGNED"))),
        ))
        .await;
    assert_eq!(code(&r), OK, "{}", message(&r));
    authz.stop().await;
}
