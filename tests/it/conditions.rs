//! Conditions on request fields through the Check API: the body Envoy forwards decides
//! tenant and job-type rules; missing, partial, compressed and garbage bodies.

use std::io::Write as _;

use prost::Message as _;
use serde_json::json;
use zeebe_authz_core::body::frame;
use zeebe_authz_core::proto;
use zeebe_authz_core::signing::SigningKey;

use crate::util::*;

const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;

fn dev_policy() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/dev.yaml")).unwrap()
}

async fn setup() -> (Keycloak, SigningKey, Authz) {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    // Tenants come from Keycloak group paths; only those under /tenants/ count.
    let config = one_realm_config(&kc.issuer).replace(
        "    policy: default.yaml\n",
        "    policy: default.yaml\n    tenants_claim: groups\n    tenants_prefix: /tenants/\n",
    );
    let authz = Authz::start(&config, &dev_policy()).await;
    authz.wait_ready().await;
    (kc, key, authz)
}

fn tenant_token(key: &SigningKey, issuer: &str, groups: &[&str]) -> String {
    token_with(key, issuer, &["tenant:write"], |c| {
        c["groups"] = json!(groups)
    })
}

async fn call_with_body(
    authz: &Authz,
    t: &str,
    rpc_name: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> (i32, String) {
    let req = check_request("h", &rpc(rpc_name), Some(&format!("Bearer {t}")), body);
    let req = extra.iter().fold(req, |req, (k, v)| with_header(req, k, v));
    let r = authz.check(req).await;
    (code(&r), message(&r))
}

/// Builds a framed request body for a tenant.
type BodyFor = Box<dyn Fn(&str) -> Vec<u8>>;

fn cpi(tenant: &str) -> Vec<u8> {
    frame(
        &proto::CreateProcessInstanceRequest {
            bpmn_process_id: "order".into(),
            tenant_id: tenant.into(),
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

#[tokio::test]
async fn tenant_rules_read_the_tenant_from_every_tenant_carrying_rpc() {
    let (kc, key, authz) = setup().await;
    // Keycloak group paths; only those under /tenants/ are tenants.
    let t = tenant_token(&key, &kc.issuer, &["/tenants/tenant-a", "/admins"]);
    let bodies: Vec<(&str, BodyFor)> = vec![
        ("CreateProcessInstance", Box::new(cpi)),
        (
            "CreateProcessInstanceWithResult",
            Box::new(|t| {
                frame(
                    &proto::CreateProcessInstanceWithResultRequest {
                        request: Some(proto::CreateProcessInstanceRequest {
                            tenant_id: t.into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                )
            }),
        ),
        (
            "DeployResource",
            Box::new(|t| {
                frame(
                    &proto::DeployResourceRequest {
                        resources: vec![proto::Resource {
                            name: "a.bpmn".into(),
                            content: b"<xml/>".to_vec(),
                        }],
                        tenant_id: t.into(),
                    }
                    .encode_to_vec(),
                )
            }),
        ),
        (
            "PublishMessage",
            Box::new(|t| {
                frame(
                    &proto::PublishMessageRequest {
                        name: "m".into(),
                        tenant_id: t.into(),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                )
            }),
        ),
        (
            "BroadcastSignal",
            Box::new(|t| {
                frame(
                    &proto::BroadcastSignalRequest {
                        signal_name: "s".into(),
                        tenant_id: t.into(),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                )
            }),
        ),
        (
            "EvaluateDecision",
            Box::new(|t| {
                frame(
                    &proto::EvaluateDecisionRequest {
                        decision_id: "d".into(),
                        tenant_id: t.into(),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                )
            }),
        ),
        (
            "EvaluateConditional",
            Box::new(|t| {
                frame(
                    &proto::EvaluateConditionalRequest {
                        tenant_id: t.into(),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                )
            }),
        ),
        (
            "ActivateJobs",
            Box::new(|t| {
                frame(
                    &proto::ActivateJobsRequest {
                        r#type: "x".into(),
                        tenant_ids: vec![t.into()],
                        ..Default::default()
                    }
                    .encode_to_vec(),
                )
            }),
        ),
        (
            "StreamActivatedJobs",
            Box::new(|t| {
                frame(
                    &proto::StreamActivatedJobsRequest {
                        r#type: "x".into(),
                        tenant_ids: vec![t.into()],
                        ..Default::default()
                    }
                    .encode_to_vec(),
                )
            }),
        ),
    ];
    for (name, make) in &bodies {
        let (c, m) = call_with_body(&authz, &t, name, &make("tenant-a"), &[]).await;
        assert_eq!(c, OK, "{name} in tenant-a: {m}");
        let (c, m) = call_with_body(&authz, &t, name, &make("tenant-b"), &[]).await;
        assert_eq!(c, PERMISSION_DENIED, "{name} in tenant-b");
        assert!(
            m.contains("tenant 'tenant-b' not allowed (token holds: tenant-a)"),
            "{name}: {m}"
        );
        let (c, m) = call_with_body(&authz, &t, name, &make(""), &[]).await;
        assert_eq!(c, PERMISSION_DENIED, "{name} in the default tenant");
        assert!(m.contains("tenant '<default>' not allowed"), "{name}: {m}");
    }
    let both = frame(
        &proto::ActivateJobsRequest {
            r#type: "x".into(),
            tenant_ids: vec!["tenant-a".into(), "tenant-b".into()],
            ..Default::default()
        }
        .encode_to_vec(),
    );
    assert_eq!(
        call_with_body(&authz, &t, "ActivateJobs", &both, &[])
            .await
            .0,
        PERMISSION_DENIED
    );
    // Key-only rpcs carry no tenant: left to the broker, no body needed.
    assert_eq!(
        call_with_body(&authz, &t, "CompleteJob", &[], &[]).await.0,
        OK
    );
    let (_, metrics) = authz.admin("/metrics").await;
    assert!(metrics.contains(r#"zeebe_authz_decisions_total{rpc="PublishMessage",result="deny",reason="condition_failed",mode="enforce",door="grpc"} 2"#), "{metrics}");
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn worker_gets_payment_jobs_only() {
    let (kc, key, authz) = setup().await;
    let w = token(&key, &kc.issuer, &["worker:payment"]);
    let activate = |ty: &str| {
        frame(
            &proto::ActivateJobsRequest {
                r#type: ty.into(),
                worker: "w1".into(),
                max_jobs_to_activate: 10,
                ..Default::default()
            }
            .encode_to_vec(),
        )
    };
    assert_eq!(
        call_with_body(&authz, &w, "ActivateJobs", &activate("payment"), &[])
            .await
            .0,
        OK
    );
    assert_eq!(
        call_with_body(&authz, &w, "ActivateJobs", &activate("payment-refund"), &[])
            .await
            .0,
        OK
    );
    // The decision id is Envoy's x-request-id.
    let (c, m) = call_with_body(
        &authz,
        &w,
        "ActivateJobs",
        &activate("shipping"),
        &[("x-request-id", "req-1")],
    )
    .await;
    assert_eq!(c, PERMISSION_DENIED);
    assert_eq!(
        m,
        "zeebe-authz: ActivateJobs: job type 'shipping' not allowed (allowed: payment*) [decision req-1: zeebe-authz explain shows why]"
    );
    let (c, m) = call_with_body(&authz, &w, "CreateProcessInstance", &cpi(""), &[]).await;
    assert_eq!(c, PERMISSION_DENIED);
    assert!(m.contains("requires permission"), "{m}");
    for job_rpc in [
        "CompleteJob",
        "FailJob",
        "ThrowError",
        "UpdateJobRetries",
        "UpdateJobTimeout",
    ] {
        assert_eq!(
            call_with_body(&authz, &w, job_rpc, &[], &[]).await.0,
            OK,
            "{job_rpc}"
        );
    }
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn gzip_bodies_are_decided_on_their_content() {
    let (kc, key, authz) = setup().await;
    let t = tenant_token(&key, &kc.issuer, &["/tenants/tenant-a"]);
    let gz = |tenant: &str| {
        let msg = proto::CreateProcessInstanceRequest {
            tenant_id: tenant.into(),
            ..Default::default()
        }
        .encode_to_vec();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&msg).unwrap();
        let mut body = frame(&e.finish().unwrap());
        body[0] = 1;
        body
    };
    let enc = [("grpc-encoding", "gzip")];
    assert_eq!(
        call_with_body(&authz, &t, "CreateProcessInstance", &gz("tenant-a"), &enc)
            .await
            .0,
        OK
    );
    assert_eq!(
        call_with_body(&authz, &t, "CreateProcessInstance", &gz("tenant-b"), &enc)
            .await
            .0,
        PERMISSION_DENIED
    );
    let (c, m) = call_with_body(
        &authz,
        &t,
        "CreateProcessInstance",
        &gz("tenant-a"),
        &[("grpc-encoding", "snappy")],
    )
    .await;
    assert_eq!(c, PERMISSION_DENIED);
    assert!(m.contains("unsupported grpc-encoding 'snappy'"), "{m}");
    authz.stop().await;
    kc.stop().await;
}

fn gzip_member(message: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(message).unwrap();
    e.finish().unwrap()
}

fn compressed_frame(compressed: &[u8]) -> Vec<u8> {
    let mut body = frame(compressed);
    body[0] = 1;
    body
}

#[tokio::test]
async fn multi_member_gzip_escapes_body_conditions() {
    // grpc-java's GZIPInputStream (the gateway) inflates every concatenated member and parses
    // the result as one message, so the second member's fields win there: they must here too.
    let (kc, key, authz) = setup().await;
    let enc = [("grpc-encoding", "gzip")];
    let tenant = tenant_token(&key, &kc.issuer, &["/tenants/tenant-a"]);
    let cpi = |t: &str| {
        gzip_member(
            &proto::CreateProcessInstanceRequest {
                bpmn_process_id: "order".into(),
                tenant_id: t.into(),
                ..Default::default()
            }
            .encode_to_vec(),
        )
    };
    let two = compressed_frame(&[cpi("tenant-a"), cpi("tenant-b")].concat());
    let (c, m) = call_with_body(&authz, &tenant, "CreateProcessInstance", &two, &enc).await;
    assert_eq!(c, PERMISSION_DENIED, "{m}");
    assert!(m.contains("tenant 'tenant-b' not allowed"), "{m}");
    let one = compressed_frame(&cpi("tenant-a"));
    let (c, m) = call_with_body(&authz, &tenant, "CreateProcessInstance", &one, &enc).await;
    assert_eq!(c, OK, "{m}");

    let worker = token(&key, &kc.issuer, &["worker:payment"]);
    let jobs = |t: &str| {
        gzip_member(
            &proto::ActivateJobsRequest {
                r#type: t.into(),
                max_jobs_to_activate: 1,
                ..Default::default()
            }
            .encode_to_vec(),
        )
    };
    let two = compressed_frame(&[jobs("payment"), jobs("shipping")].concat());
    let (c, m) = call_with_body(&authz, &worker, "ActivateJobs", &two, &enc).await;
    assert_eq!(c, PERMISSION_DENIED, "{m}");
    assert!(m.contains("job type 'shipping' not allowed"), "{m}");

    // Bytes after the last member that are no member: refused, never ignored.
    let tail = compressed_frame(&[&cpi("tenant-a")[..], b"\x00\x01tenant-b"].concat());
    let (c, m) = call_with_body(&authz, &tenant, "CreateProcessInstance", &tail, &enc).await;
    assert_eq!(c, PERMISSION_DENIED, "{m}");
    assert!(m.contains("gzip"), "{m}");
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn a_field_key_beyond_32_bits_hides_a_tenant_from_the_authorizer() {
    // Found by fuzzing: protobuf-java (the gateway) keeps the low 32 bits of a key varint, so
    // `b2 80 80 80 10` is tenantId there, and the last tenantId wins.
    let (kc, key, authz) = setup().await;
    let t = tenant_token(&key, &kc.issuer, &["/tenants/tenant-a"]);
    let mut msg = proto::CreateProcessInstanceRequest {
        bpmn_process_id: "order".into(),
        tenant_id: "tenant-a".into(),
        ..Default::default()
    }
    .encode_to_vec();
    msg.extend_from_slice(&[0xb2, 0x80, 0x80, 0x80, 0x10, 0x08]);
    msg.extend_from_slice(b"tenant-b");
    let (c, m) = call_with_body(&authz, &t, "CreateProcessInstance", &frame(&msg), &[]).await;
    assert_eq!(c, PERMISSION_DENIED, "{m}");
    assert!(m.contains("field key beyond 32 bits"), "{m}");
    authz.stop().await;
    kc.stop().await;
}

#[tokio::test]
async fn missing_partial_and_garbage_bodies_are_denied_with_the_reason() {
    let (kc, key, authz) = setup().await;
    let t = tenant_token(&key, &kc.issuer, &["/tenants/tenant-a"]);
    let good = cpi("tenant-a");
    // (case, body, extra headers, expected message part)
    type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("missing", vec![], vec![], "not forwarded by Envoy"),
        (
            "partial",
            good.clone(),
            vec![("x-envoy-auth-partial-body", "true")],
            "truncated by Envoy",
        ),
        (
            "truncated",
            good[..good.len() - 3].to_vec(),
            vec![],
            "truncated gRPC frame",
        ),
        (
            "two messages",
            [good.clone(), good.clone()].concat(),
            vec![],
            "more than one gRPC message",
        ),
        (
            "garbage",
            vec![0, 0, 0, 0, 3, 0xff, 0xff, 0xff],
            vec![],
            "malformed protobuf",
        ),
    ];
    for (name, body, headers, expected) in cases {
        let (c, m) = call_with_body(&authz, &t, "CreateProcessInstance", &body, &headers).await;
        assert_eq!(c, PERMISSION_DENIED, "{name}");
        assert!(m.contains(expected), "{name}: {m}");
    }
    // The same bodies do not matter to a token whose grant needs no body.
    let w = token(&key, &kc.issuer, &["write:*"]);
    assert_eq!(
        call_with_body(
            &authz,
            &w,
            "CreateProcessInstance",
            &[],
            &[("x-envoy-auth-partial-body", "true")]
        )
        .await
        .0,
        OK
    );
    authz.stop().await;
    kc.stop().await;
}
