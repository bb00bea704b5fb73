//! The hand-made seeds of each target's corpus, which `every_seed_is_committed` checks.

use super::*;

/// A call of a pre-minted token on the dev host's exact path of `rpc`, no body.
pub(crate) fn call(token: &str, rpc: &str) -> Call {
    Call {
        token: index(harness::TOKEN_NAMES, token),
        rpc: Rpc::from_name(rpc).expect("a catalog rpc").index() as u8,
        ..Call::default()
    }
}

pub(crate) fn index(table: &[&str], value: &str) -> u8 {
    let i = table.iter().position(|v| *v == value);
    u8::try_from(i.unwrap_or_else(|| panic!("{value:?} is not in {table:?}"))).unwrap()
}

/// Message fields with one tenant and a job type.
pub(crate) fn fields(tenant: &str, job_type: &str) -> MessageChoice {
    MessageChoice {
        tenants: 1,
        tenant: [index(harness::TENANTS, tenant), 0],
        job_type: index(harness::JOB_TYPES, job_type),
    }
}

pub(crate) fn with_body(mut c: Call, shape: &str, first: MessageChoice) -> Call {
    c.body = index(harness::BODIES, shape);
    c.first = first;
    c
}

pub(crate) fn check_seeds() -> Vec<(&'static str, Vec<Call>)> {
    let host = |mut c: Call, h: &str| {
        c.host = index(harness::HOSTS, h);
        c
    };
    let path = |mut c: Call, p: &str| {
        c.path = index(harness::PATHS, p);
        c
    };
    let tenant_a = fields("tenant-a", "payment");
    let tenant_b = fields("tenant-b", "payment");
    vec![
        ("write-topology", vec![call("WRITE", "Topology")]),
        (
            "write-topology-twice-cached",
            vec![call("WRITE", "Topology"), call("WRITE", "Topology")],
        ),
        ("read-topology", vec![call("READ", "Topology")]),
        (
            "read-create-process-instance-denied",
            vec![call("READ", "CreateProcessInstance")],
        ),
        (
            "named-create-process-instance",
            vec![call("NAMED", "CreateProcessInstance")],
        ),
        (
            "tenant-create-process-instance-tenant-a",
            vec![with_body(
                call("TENANT", "CreateProcessInstance"),
                "plain frame",
                tenant_a.clone(),
            )],
        ),
        (
            "tenant-create-process-instance-tenant-b-denied",
            vec![with_body(
                call("TENANT", "CreateProcessInstance"),
                "plain frame",
                tenant_b.clone(),
            )],
        ),
        (
            "tenant-create-process-instance-gzip",
            vec![with_body(
                call("TENANT", "CreateProcessInstance"),
                "gzip frame",
                tenant_a.clone(),
            )],
        ),
        (
            "tenant-create-process-instance-gzip-two-members",
            vec![Call {
                second: tenant_b.clone(),
                ..with_body(
                    call("TENANT", "CreateProcessInstance"),
                    "gzip frame of two members (first, second)",
                    tenant_a.clone(),
                )
            }],
        ),
        (
            "tenant-create-process-instance-merged",
            vec![Call {
                second: tenant_b.clone(),
                ..with_body(
                    call("TENANT", "CreateProcessInstance"),
                    "plain frame of two messages merged (first, second)",
                    tenant_a.clone(),
                )
            }],
        ),
        (
            "tenant-with-result-nested",
            vec![with_body(
                call("TENANT", "CreateProcessInstanceWithResult"),
                "plain frame",
                tenant_a.clone(),
            )],
        ),
        (
            "tenant-activate-jobs-two-tenants",
            vec![with_body(
                call("TENANT", "ActivateJobs"),
                "plain frame",
                MessageChoice {
                    tenants: 2,
                    tenant: [
                        index(harness::TENANTS, "tenant-a"),
                        index(harness::TENANTS, "tenant-b"),
                    ],
                    job_type: 0,
                },
            )],
        ),
        (
            "tenant-partial-body",
            vec![Call {
                partial: 1,
                ..with_body(
                    call("TENANT", "PublishMessage"),
                    "plain frame",
                    tenant_a.clone(),
                )
            }],
        ),
        (
            "tenant-raw-body-frame",
            vec![Call {
                text: frame(
                    &proto::CreateProcessInstanceRequest {
                        bpmn_process_id: "order".into(),
                        tenant_id: "tenant-a".into(),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                ),
                ..with_body(
                    call("TENANT", "CreateProcessInstance"),
                    "the call's text",
                    MessageChoice::default(),
                )
            }],
        ),
        (
            "tenant-deploy-process",
            vec![call("TENANT", "DeployProcess")],
        ),
        ("tenant-complete-job", vec![call("TENANT", "CompleteJob")]),
        (
            "worker-activate-jobs-payment",
            vec![with_body(
                call("WORKER", "ActivateJobs"),
                "plain frame",
                fields("", "payment-refund"),
            )],
        ),
        (
            "worker-stream-jobs-shipping-denied",
            vec![with_body(
                call("WORKER", "StreamActivatedJobs"),
                "gzip frame",
                fields("", "shipping"),
            )],
        ),
        (
            "worker-raw-headers",
            vec![Call {
                raw_headers: 1,
                ..with_body(
                    call("WORKER", "ActivateJobs"),
                    "plain frame",
                    fields("", "payment"),
                )
            }],
        ),
        ("other-on-dev-host", vec![call("OTHER", "Topology")]),
        (
            "other-on-its-host",
            vec![host(call("OTHER", "Topology"), "other.example.com:26500")],
        ),
        (
            "host-upper-case",
            vec![host(call("WRITE", "Topology"), "ZEEBE.Example.COM")],
        ),
        (
            "host-trailing-dot-port",
            vec![host(call("WRITE", "Topology"), "Zeebe.Example.Com.:443")],
        ),
        (
            "host-unknown",
            vec![host(call("WRITE", "Topology"), "unknown.example.com")],
        ),
        (
            "path-query-string",
            vec![path(
                call("WRITE", "Topology"),
                "/gateway_protocol.Gateway/{}?x=1",
            )],
        ),
        (
            "path-other-service",
            vec![path(
                call("WRITE", "Topology"),
                "/grpc.health.v1.Health/Check",
            )],
        ),
        ("expired", vec![call("EXPIRED", "Topology")]),
        ("forged", vec![call("FORGED", "Topology")]),
        ("wrong-alg", vec![call("WRONG_ALG", "Topology")]),
        ("unsigned", vec![call("UNSIGNED", "Topology")]),
        ("wrong-aud", vec![call("WRONG_AUD", "Topology")]),
        ("not-yet-valid", vec![call("NOT_YET", "Topology")]),
        (
            "wrong-iss-on-other-host",
            vec![host(call("WRONG_ISS", "Topology"), "other.example.com")],
        ),
        (
            "basic-scheme",
            vec![Call {
                form: index(harness::FORMS, "Basic {}"),
                ..call("WRITE", "Topology")
            }],
        ),
        (
            "garbage-token",
            vec![Call {
                token: harness::TOKEN_NAMES.len() as u8 + 1,
                text: b"Bearer eyJhbGciOiJub25lIn0.e30.".to_vec(),
                ..call("WRITE", "Topology")
            }],
        ),
        ("rest-write-topology", vec![rest("WRITE", "/topology")]),
        (
            "rest-read-topology-head",
            vec![Call {
                body_rpc: index(harness::REST_METHODS, "HEAD") + 1,
                ..rest("READ", "/topology")
            }],
        ),
        (
            "rest-tenant-create-process-instance-tenant-a",
            vec![rest_body(
                rest("TENANT", "/process-instances"),
                "JSON of the endpoint's members",
                tenant_a.clone(),
            )],
        ),
        (
            "rest-tenant-create-process-instance-tenant-b-denied",
            vec![rest_body(
                rest("TENANT", "/process-instances"),
                "JSON of the endpoint's members",
                tenant_b.clone(),
            )],
        ),
        (
            "rest-named-create-process-instance-with-result-denied",
            vec![Call {
                second: MessageChoice {
                    job_type: 1,
                    ..MessageChoice::default()
                },
                ..rest_body(
                    rest("NAMED", "/process-instances"),
                    "JSON of the endpoint's members",
                    tenant_a.clone(),
                )
            }],
        ),
        (
            "rest-worker-activate-jobs-payment",
            vec![rest_body(
                rest("WORKER", "/jobs/activation"),
                "JSON of the endpoint's members",
                tenant_a.clone(),
            )],
        ),
        (
            "rest-tenant-activate-jobs-assigned-filter-denied",
            vec![Call {
                second: MessageChoice {
                    tenant: [2, 0],
                    ..MessageChoice::default()
                },
                ..rest_body(
                    rest("TENANT", "/jobs/activation"),
                    "JSON of the endpoint's members",
                    tenant_a.clone(),
                )
            }],
        ),
        (
            "rest-tenant-deploy-multipart-tenant-a",
            vec![rest_body(
                rest("TENANT", "/deployments"),
                "multipart deployment",
                tenant_a.clone(),
            )],
        ),
        (
            "rest-tenant-deploy-multipart-crafted-part",
            vec![Call {
                text: b"Content-Disposition: form-data; name=\"=?UTF-8?Q?tenantId?=\"".to_vec(),
                ..rest_body(
                    rest("TENANT", "/deployments"),
                    "multipart deployment with a part of the call's text as headers (holding tenant-b) first",
                    tenant_a.clone(),
                )
            }],
        ),
        (
            "rest-write-complete-job-matrix-path-denied",
            vec![Call {
                path: index(harness::REST_PATHS, "/v2{};x=1"),
                ..rest("WRITE", "/jobs/{key}/completion")
            }],
        ),
        (
            "rest-write-search-user-tasks-denied",
            vec![rest("WRITE", "/user-tasks/search")],
        ),
    ]
}

/// A REST call of the endpoint of `harness::REST_TWINS` at `path`, with the exact path.
pub(crate) fn rest(token: &str, path: &str) -> Call {
    let i = harness::REST_TWINS
        .iter()
        .position(|t| t.path == path)
        .unwrap_or_else(|| panic!("{path} is not in REST_TWINS"));
    Call {
        token: index(harness::TOKEN_NAMES, token),
        rpc: u8::try_from(i).unwrap(),
        raw_headers: 2,
        ..Call::default()
    }
}

pub(crate) fn rest_body(mut c: Call, shape: &str, first: MessageChoice) -> Call {
    c.body = index(harness::REST_BODIES, shape);
    c.first = first;
    c
}

/// The claims of a token the `token` target accepts, valid at the harness's clock.
pub(crate) fn claims_at_now() -> serde_json::Value {
    let mut c = access_token_claims(harness::ISSUER, "zeebe-api", "orders", &["write:*"], 0);
    c["exp"] = json!(harness::NOW + 300);
    c["iat"] = json!(harness::NOW - 10);
    c["jti"] = json!("seed");
    c["tenants"] = json!(["tenant-a"]);
    c["groups"] = json!(["/tenants/tenant-a", "/admins"]);
    c
}

pub(crate) fn token_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims_at_now();
        f(&mut c);
        c.to_string().into_bytes()
    };
    let now = harness::NOW;
    let seg = |v: serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let dev_key = SigningKey::generate_for(jsonwebtoken::Algorithm::ES256, "dev-1").unwrap();
    let dev_token = dev_key.sign(&claims_at_now()).unwrap();
    vec![
        (
            "claims-keycloak.json",
            claims_at_now().to_string().into_bytes(),
        ),
        (
            "claims-minimal.json",
            json!({"exp": now + 60, "iss": harness::ISSUER, "aud": "zeebe-api"})
                .to_string()
                .into_bytes(),
        ),
        (
            "claims-aud-list.json",
            edit(&|c| c["aud"] = json!(["account", "camunda"])),
        ),
        (
            "claims-camunda-owners.json",
            edit(&|c| {
                c["client_id"] = json!("");
                c["preferred_username"] = json!("ann");
                c["groups"] = json!(["payments", 3, "x"]);
                c["realm_access"] = json!({"roles": "zeebe-admin"});
            }),
        ),
        (
            "claims-camunda-client.json",
            edit(&|c| {
                c["client_id"] = json!("payments-worker");
                c["groups"] = json!("payments");
            }),
        ),
        (
            "claims-expired.json",
            edit(&|c| c["exp"] = json!(now - harness::LEEWAY - 1)),
        ),
        (
            "claims-exp-at-leeway.json",
            edit(&|c| c["exp"] = json!(now - harness::LEEWAY)),
        ),
        (
            "claims-fractional-times.json",
            edit(&|c| {
                c["exp"] = json!(now as f64 + 0.5);
                c["nbf"] = json!((now + harness::LEEWAY) as f64 + 0.9);
            }),
        ),
        (
            "claims-nbf-future.json",
            edit(&|c| c["nbf"] = json!(now + 3600)),
        ),
        (
            "claims-wrong-iss.json",
            edit(&|c| c["iss"] = json!("https://keycloak.example.com/realms/other")),
        ),
        (
            "claims-no-aud.json",
            edit(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
        ),
        (
            "claims-scope-string.json",
            edit(&|c| c["permissions"]["zeebe-api"] = json!("write:* read:*")),
        ),
        (
            "claims-client-id-only.json",
            edit(&|c| {
                c.as_object_mut().unwrap().remove("azp");
            }),
        ),
        (
            "header-bearer-dev-token.txt",
            format!("Bearer {dev_token}").into_bytes(),
        ),
        ("header-lower-case.txt", b"bearer a.b.c".to_vec()),
        ("header-basic.txt", b"Basic dXNlcjpwdw==".to_vec()),
        (
            "header-crit.txt",
            format!(
                "Bearer {}.{}.c2ln",
                seg(json!({"alg": "ES256", "kid": harness::FUZZ_KID, "crit": ["exp"]})),
                seg(json!({}))
            )
            .into_bytes(),
        ),
        (
            "header-alg-none.txt",
            format!(
                "Bearer {}.{}.",
                seg(json!({"alg": "none"})),
                seg(claims_at_now())
            )
            .into_bytes(),
        ),
        (
            "header-fuzz-kid-bad-signature.txt",
            format!(
                "Bearer {}.{}.c2ln",
                seg(json!({"alg": "ES256", "kid": harness::FUZZ_KID})),
                seg(claims_at_now())
            )
            .into_bytes(),
        ),
    ]
}

pub(crate) fn body_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let cpi = |tenant: &str| {
        proto::CreateProcessInstanceRequest {
            bpmn_process_id: "order-process".into(),
            tenant_id: tenant.into(),
            variables: r#"{"x":1}"#.into(),
            version: -1,
            tags: vec!["t".into()],
            ..Default::default()
        }
        .encode_to_vec()
    };
    let nested = |r: proto::CreateProcessInstanceRequest| {
        proto::CreateProcessInstanceWithResultRequest {
            request: Some(r),
            request_timeout: 5,
            ..Default::default()
        }
        .encode_to_vec()
    };
    let merged = [
        nested(proto::CreateProcessInstanceRequest {
            tenant_id: "tenant-a".into(),
            ..Default::default()
        }),
        nested(proto::CreateProcessInstanceRequest {
            bpmn_process_id: "p".into(),
            ..Default::default()
        }),
        nested(proto::CreateProcessInstanceRequest {
            tenant_id: "tenant-c".into(),
            ..Default::default()
        }),
    ]
    .concat();
    // Field 6 (tenantId) under a 5-byte varint key: 0xb2 0x80 0x80 0x80 0x00 is 50, padded.
    let padded_key = [
        &cpi("tenant-a")[..],
        &[0xb2, 0x80, 0x80, 0x80, 0x00, 8],
        b"tenant-b",
    ]
    .concat();
    let gz = harness::gzip;
    let gz_frame = |m: &[u8]| harness::frame_flagged(1, m);
    vec![
        ("create-process-instance.frame", frame(&cpi("tenant-a"))),
        ("create-process-instance.message", cpi("tenant-a")),
        (
            "create-process-instance-last-wins.frame",
            frame(&[cpi("tenant-a"), cpi("tenant-b")].concat()),
        ),
        ("with-result-merged.frame", frame(&merged)),
        (
            "activate-jobs.frame",
            frame(
                &proto::ActivateJobsRequest {
                    r#type: "payment".into(),
                    worker: "w1".into(),
                    max_jobs_to_activate: 10,
                    tenant_ids: vec!["tenant-a".into(), "tenant-b".into()],
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ),
        (
            "stream-activated-jobs.frame",
            frame(
                &proto::StreamActivatedJobsRequest {
                    r#type: "payment".into(),
                    tenant_ids: vec!["tenant-a".into()],
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ),
        (
            "publish-message.frame",
            frame(
                &proto::PublishMessageRequest {
                    name: "order-paid".into(),
                    correlation_key: "42".into(),
                    tenant_id: "tenant-a".into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ),
        (
            "broadcast-signal.frame",
            frame(
                &proto::BroadcastSignalRequest {
                    signal_name: "s".into(),
                    tenant_id: "tenant-a".into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ),
        (
            "evaluate-decision.frame",
            frame(
                &proto::EvaluateDecisionRequest {
                    decision_id: "d".into(),
                    tenant_id: "tenant-a".into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ),
        (
            "deploy-resource.frame",
            frame(
                &proto::DeployResourceRequest {
                    resources: vec![proto::Resource {
                        name: "a.bpmn".into(),
                        content: b"<xml/>".to_vec(),
                    }],
                    tenant_id: "tenant-a".into(),
                }
                .encode_to_vec(),
            ),
        ),
        (
            "evaluate-conditional.frame",
            frame(
                &proto::EvaluateConditionalRequest {
                    tenant_id: "tenant-a".into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ),
        ("padded-varint-key.frame", frame(&padded_key)),
        (
            "create-process-instance.gzip.frame",
            gz_frame(&gz(&cpi("tenant-a"))),
        ),
        (
            "create-process-instance-two-members.gzip.frame",
            gz_frame(&[gz(&cpi("tenant-a")), gz(&cpi("tenant-b"))].concat()),
        ),
        (
            "create-process-instance-trailing-garbage.gzip.frame",
            gz_frame(&[&gz(&cpi("tenant-a"))[..], b"\0garbage"].concat()),
        ),
        ("empty-message.frame", frame(&[])),
        ("bad-flag.frame", vec![2, 0, 0, 0, 0]),
        ("truncated.frame", vec![0, 0, 0, 0, 9, 1]),
    ]
}

pub(crate) fn jwks_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use jsonwebtoken::Algorithm::*;
    let key = |alg, kid: &str| SigningKey::generate_for(alg, kid).unwrap();
    let rsa = key(RS256, "rsa-1");
    let ps = key(PS256, "ps-1");
    let p256 = key(ES256, "ec-1");
    let p384 = key(ES384, "ec-2");
    let ed = key(EdDSA, "ed-1");
    let doc = |keys: Vec<serde_json::Value>| json!({ "keys": keys }).to_string().into_bytes();
    let enc = json!({"kid": "enc-1", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc",
        "n": rsa.jwk()["n"], "e": "AQAB"});
    let mut no_kid = p256.jwk();
    no_kid.as_object_mut().unwrap().remove("kid");
    let mut no_alg = rsa.jwk();
    no_alg.as_object_mut().unwrap().remove("alg");
    let mut mismatch = rsa.jwk();
    mismatch["alg"] = json!("ES256");
    vec![
        (
            "keycloak.json",
            doc(vec![rsa.jwk(), enc.clone(), p256.jwk()]),
        ),
        ("rsa.json", doc(vec![rsa.jwk()])),
        ("ps256.json", doc(vec![ps.jwk()])),
        ("ec-p256-p384.json", doc(vec![p256.jwk(), p384.jwk()])),
        ("ed25519.json", doc(vec![ed.jwk()])),
        ("no-kid.json", doc(vec![no_kid])),
        ("no-alg.json", doc(vec![no_alg])),
        ("alg-family-mismatch.json", doc(vec![mismatch, ed.jwk()])),
        (
            "symmetric-and-enc-only.json",
            doc(vec![
                json!({"kid": "hs", "kty": "oct", "alg": "HS256", "k": "c2VjcmV0"}),
                enc,
            ]),
        ),
        ("duplicate-kid.json", doc(vec![rsa.jwk(), rsa.jwk()])),
        ("empty-keys.json", doc(vec![])),
    ]
}

/// A config with every section, two realms and host spellings to normalize.
pub(crate) const FULL_CONFIG: &str = "\
listen:
  check: 127.0.0.1:9000
  admin: 127.0.0.1:9001
realms:
  - name: camunda
    issuer: https://keycloak.example.com/realms/camunda
    audiences: [zeebe-api]
    hosts: [Zeebe.Example.COM., 'camunda-zeebe-gateway:26500']
    policy: ../policies/dev.yaml
    permissions_claim: permissions.zeebe-api
    tenants_claim: tenants
  - name: partners
    issuer: https://keycloak.example.com/auth/realms/partners
    audiences: [zeebe-api, camunda]
    jwks_uri: https://keycloak.example.com/auth/realms/partners/protocol/openid-connect/certs
    hosts: [partners.example.com, 'camunda-zeebe-gateway']
    policy: ../policies/multi-tenant.yaml
    permissions_claim: [resource_access, zeebe-api, roles]
    tenants_claim: groups
    tenants_prefix: /tenants/
jwks:
  refresh_interval: 5m
  refetch_cooldown: 10s
  fetch_timeout: 5s
  keys_max_age: 12h
token:
  leeway: 30s
  max_bytes: 16384
  cache_max_bytes: 1048576
  cache_max_ttl: 5m
identity_headers:
  subject: x-zeebe-authz-subject
  client_id: x-zeebe-authz-client-id
  realm: x-zeebe-authz-realm
";

pub(crate) fn copies(dir: &str, ext: &str) -> Seeds {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    read_dir(&root.join(dir))
        .unwrap()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| {
            let name = format!(
                "{}-{}",
                dir.replace('/', "-"),
                p.file_name().unwrap().to_string_lossy()
            );
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Named seed files.
pub(crate) type Seeds = Vec<(String, Vec<u8>)>;
