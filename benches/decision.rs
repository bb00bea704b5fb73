//! The decision path without the network: `Authorizer::check` on a cached token (the hot
//! path), the same rpc decided body-free and body-aware (issue 3 wants the ratio ≤ 1.2x), the
//! same logical request through the gRPC door and the REST door (protobuf field read against
//! JSON member read, one group so criterion runs them interleaved; again with no token cache,
//! the cold path), the body readers alone, and policy compilation.
//!
//! The authorizer is the server's own (`server::build` on the bench's one-realm config), its
//! keys installed directly; every token is verified once before measuring, so each iteration
//! is a cache hit, as in a steady state.

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use envoy_types::ext_authz::v3::pb::CheckRequest;
use zeebe_authz::bench::mix::{BodyFields, Minter, RpcMix, prepare};
use zeebe_authz::bench::target::bench_config;
use zeebe_authz::dev::AUDIENCE;
use zeebe_authz_core::body::{FieldPath, FieldSelection, read_fields, unframe};
use zeebe_authz_core::diag::Diagnostics;
use zeebe_authz_core::keyset::KeySet;
use zeebe_authz_core::policy::{Policy, compile};
use zeebe_authz_core::signing::{SigningKey, jwks};
use zeebe_authz_server::authorizer::Authorizer;
use zeebe_authz_server::metrics::Metrics;

const ISSUER: &str = "http://127.0.0.1:8080/realms/bench";
const HOST: &str = "zeebe-gateway:26500";

fn policy_text(name: &str) -> (Arc<Path>, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("the policy file is readable");
    (Arc::from(path.as_path()), text)
}

fn compiled(name: &str) -> Arc<Policy> {
    let (file, text) = policy_text(name);
    let mut diags = Diagnostics::default();
    Arc::new(compile(&file, &text, &mut diags).expect("the policy compiles"))
}

/// The server's authorizer under `policy`, trusting `key`.
fn authorizer(policy: Arc<Policy>, key: &SigningKey) -> Arc<Authorizer> {
    authorizer_with(bench_config(ISSUER, policy), key)
}

/// [`authorizer`] with no verified-token cache: every Check verifies its token's signature,
/// as the first call of each token does (the cold path).
fn cold_authorizer(policy: Arc<Policy>, key: &SigningKey) -> Arc<Authorizer> {
    let mut config = bench_config(ISSUER, policy);
    config.token.cache_max_bytes = 0;
    authorizer_with(config, key)
}

fn authorizer_with(config: zeebe_authz_core::config::Config, key: &SigningKey) -> Arc<Authorizer> {
    let (authorizer, caches) = zeebe_authz_server::serve::build(&config, Arc::new(Metrics::new()))
        .expect("the config builds");
    let doc = jwks(&[key]).to_string();
    for cache in caches {
        cache.install(
            KeySet::from_jwks(doc.as_bytes(), tokio::time::Instant::now().into_std())
                .expect("a valid JWKS"),
        );
    }
    authorizer
}

/// The Check of `rpc` with a token holding `permissions` and `tenants`.
fn request(key: &SigningKey, rpc: RpcMix, permissions: &[&str], tenants: &[&str]) -> CheckRequest {
    let permissions: Vec<String> = permissions.iter().map(ToString::to_string).collect();
    let tenants: Vec<String> = tenants.iter().map(ToString::to_string).collect();
    let token = Minter {
        key,
        issuer: ISSUER,
        audience: AUDIENCE,
        permissions: &permissions,
        tenants: &tenants,
    }
    .mint()
    .expect("minting");
    let calls = rpc.calls(&BodyFields {
        tenant: "tenant-a".into(),
        bpmn_process_id: "order-process".into(),
        job_type: "payment-card".into(),
        variables_bytes: 0,
    });
    prepare(&[token], &calls)[0].to_check_request(HOST)
}

fn code(authorizer: &Authorizer, rt: &tokio::runtime::Runtime, req: &CheckRequest) -> i32 {
    let verdict = rt.block_on(zeebe_authz_server::envoy::check(authorizer, req, None));
    verdict.status().map_or(0, |(code, _)| code as i32)
}

/// One Check as the service answers it: the verdict, and the `CheckResponse` bytes written.
async fn answer(authorizer: &Authorizer, req: &CheckRequest) -> Vec<u8> {
    let verdict = zeebe_authz_server::envoy::check(authorizer, req, None).await;
    zeebe_authz_server::envoy::response_bytes(&verdict)
}

fn bench_check(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let key = SigningKey::generate("bench-1").expect("key generation");
    let default = authorizer(compiled("default.yaml"), &key);
    let dev = authorizer(compiled("dev.yaml"), &key);

    let topology = request(&key, RpcMix::Topology, &["write:*"], &[]);
    // Same rpc and body; `write:*` is unconditional, `tenant:write` must read the tenant.
    let body_free = request(&key, RpcMix::CreateProcessInstance, &["write:*"], &[]);
    let body_aware = request(
        &key,
        RpcMix::CreateProcessInstance,
        &["tenant:write"],
        &["tenant-a"],
    );
    let jobs = request(
        &key,
        RpcMix::ActivateJobs,
        &["worker:payment"],
        &["tenant-a"],
    );
    for (authorizer, req) in [
        (&default, &topology),
        (&dev, &body_free),
        (&dev, &body_aware),
        (&dev, &jobs),
    ] {
        assert_eq!(code(authorizer, &rt, req), 0, "allowed (and now cached)");
    }

    let mut group = c.benchmark_group("check_cache_hit");
    group.bench_function("topology", |b| {
        b.to_async(&rt).iter(|| answer(&default, &topology))
    });
    group.bench_function("create_process_instance/body_free", |b| {
        b.to_async(&rt).iter(|| answer(&dev, &body_free))
    });
    group.bench_function("create_process_instance/body_aware_tenant", |b| {
        b.to_async(&rt).iter(|| answer(&dev, &body_aware))
    });
    group.bench_function("activate_jobs/body_aware_job_type", |b| {
        b.to_async(&rt).iter(|| answer(&dev, &jobs))
    });
    group.finish();
}

/// `request` as the REST twin: method, path, JSON body.
fn rest_twin(mut req: CheckRequest, method: &str, path: &str, body: &str) -> CheckRequest {
    let http = req
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .expect("an HTTP request");
    http.method = method.into();
    http.path = path.into();
    http.raw_body = body.as_bytes().to_vec();
    http.headers
        .insert("content-type".into(), "application/json".into());
    http.headers.remove("grpc-encoding");
    req
}

fn bench_doors(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let key = SigningKey::generate("bench-1").expect("key generation");
    let dev = authorizer(compiled("dev.yaml"), &key);
    let grpc_tenant = request(
        &key,
        RpcMix::CreateProcessInstance,
        &["tenant:write"],
        &["tenant-a"],
    );
    let rest_tenant = rest_twin(
        grpc_tenant.clone(),
        "POST",
        "/v2/process-instances",
        r#"{"processDefinitionId":"order-process","tenantId":"tenant-a","variables":{"orderId":"o-1","amount":42.5,"items":[1,2,3]}}"#,
    );
    let grpc_jobs = request(
        &key,
        RpcMix::ActivateJobs,
        &["worker:payment"],
        &["tenant-a"],
    );
    let rest_jobs = rest_twin(
        grpc_jobs.clone(),
        "POST",
        "/v2/jobs/activation",
        r#"{"type":"payment-card","worker":"w-1","timeout":30000,"maxJobsToActivate":32,"tenantIds":["tenant-a"]}"#,
    );
    for req in [&grpc_tenant, &rest_tenant, &grpc_jobs, &rest_jobs] {
        assert_eq!(code(&dev, &rt, req), 0, "allowed (and now cached)");
    }
    let mut group = c.benchmark_group("check_door");
    group.bench_function("create_process_instance_tenant/grpc", |b| {
        b.to_async(&rt).iter(|| answer(&dev, &grpc_tenant))
    });
    group.bench_function("create_process_instance_tenant/rest", |b| {
        b.to_async(&rt).iter(|| answer(&dev, &rest_tenant))
    });
    group.bench_function("activate_jobs_job_type/grpc", |b| {
        b.to_async(&rt).iter(|| answer(&dev, &grpc_jobs))
    });
    group.bench_function("activate_jobs_job_type/rest", |b| {
        b.to_async(&rt).iter(|| answer(&dev, &rest_jobs))
    });
    group.finish();

    // The same requests on a cold token: no verified-token cache, so each Check verifies the
    // RS256 signature before it reads the body.
    let cold = cold_authorizer(compiled("dev.yaml"), &key);
    for req in [&grpc_tenant, &rest_tenant] {
        assert_eq!(code(&cold, &rt, req), 0, "allowed");
    }
    let mut group = c.benchmark_group("check_door_cold");
    group.bench_function("create_process_instance_tenant/grpc", |b| {
        b.to_async(&rt).iter(|| answer(&cold, &grpc_tenant))
    });
    group.bench_function("create_process_instance_tenant/rest", |b| {
        b.to_async(&rt).iter(|| answer(&cold, &rest_tenant))
    });
    group.finish();

    // The readers alone, on a body seen for the first time (no cache between iterations).
    let json = r#"{"processDefinitionId":"order-process","tenantId":"tenant-a","variables":{"orderId":"o-1","amount":42.5,"items":[1,2,3]}}"#;
    let queries = [
        zeebe_authz_core::json::Query {
            outer: None,
            name: "tenantId",
        },
        zeebe_authz_core::json::Query {
            outer: None,
            name: "processDefinitionId",
        },
    ];
    c.bench_function(
        "body/create_process_instance/json_tenant_and_process",
        |b| {
            b.iter(|| {
                let text = zeebe_authz_core::json::decode(json.as_bytes()).expect("UTF-8");
                zeebe_authz_core::json::read_members(&text, &queries).map(|v| v.len())
            })
        },
    );
}

fn bench_body(c: &mut Criterion) {
    let calls = RpcMix::Mixed.calls(&BodyFields {
        tenant: "tenant-a".into(),
        bpmn_process_id: "order-process".into(),
        job_type: "payment-card".into(),
        variables_bytes: 0,
    });
    let frame = zeebe_authz_core::body::frame(&calls[0].message);
    let mut plan = FieldSelection::default();
    // CreateProcessInstanceRequest: bpmnProcessId = 2, tenantId = 6.
    let process = plan.add(FieldPath {
        outer: None,
        number: 2,
        repeated: false,
    });
    let tenant = plan.add(FieldPath {
        outer: None,
        number: 6,
        repeated: false,
    });
    let mut scratch = Vec::new();
    let message = unframe(&frame, None, &mut scratch).expect("one frame");
    let fields = read_fields(message, &plan).expect("a valid message");
    assert_eq!(fields.get(process), ["order-process"]);
    assert_eq!(fields.get(tenant), ["tenant-a"]);

    c.bench_function("body/create_process_instance/tenant_and_process", |b| {
        b.iter(|| {
            let mut scratch = Vec::new();
            let message = unframe(&frame, None, &mut scratch).expect("one frame");
            read_fields(message, &plan).map(|f| f.get(tenant).len())
        })
    });
}

fn bench_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_compile");
    for name in ["default.yaml", "dev.yaml"] {
        let (file, text) = policy_text(name);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut diags = Diagnostics::default();
                compile(&file, &text, &mut diags)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_check, bench_doors, bench_body, bench_compile);
criterion_main!(benches);
