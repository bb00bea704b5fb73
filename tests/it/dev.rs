//! `serve --dev`: the binary starts with no file, prints usable tokens, and serves its own
//! issuer; every printed token gets the access it is described with.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use envoy_types::ext_authz::v3::pb::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use prost::Message as _;
use zeebe_authz_core::body::frame;
use zeebe_authz_core::proto;

use crate::util::*;

/// `serve --dev` on port 0, with what it printed. Kills the process on drop, so a failed
/// assertion does not leave the server running.
struct DevServer {
    child: std::process::Child,
    check_addr: String,
    issuer: String,
    /// Every `export NAME=VALUE` line: the tokens, the clients, the client settings.
    exports: std::collections::BTreeMap<String, String>,
    /// Every line printed up to the readiness hint.
    lines: Vec<String>,
}

impl DevServer {
    /// Starts the binary and reads its stdout up to the readiness hint.
    fn start(extra: &[&std::ffi::OsStr]) -> DevServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
            .args([
                "serve",
                "--dev",
                "--dev-check-addr",
                "127.0.0.1:0",
                "--dev-admin-addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut server = DevServer {
            child,
            check_addr: String::new(),
            issuer: String::new(),
            exports: Default::default(),
            lines: Vec::new(),
        };
        for line in stdout.lines() {
            let line = line.unwrap();
            server.lines.push(line.clone());
            if let Some(rest) = line.strip_prefix("# zeebe-authz dev mode: ext_authz Check on ") {
                server.check_addr = rest.split(',').next().unwrap().to_string();
            }
            if let Some(rest) = line.strip_prefix("# Issuer ") {
                server.issuer = rest.split(',').next().unwrap().to_string();
            }
            if let Some((name, value)) =
                line.strip_prefix("export ").and_then(|l| l.split_once('='))
            {
                server.exports.insert(name.to_string(), value.to_string());
            }
            if line.starts_with("# Readiness") {
                break;
            }
        }
        server
    }

    /// The printed value of `export NAME=…`.
    fn export(&self, name: &str) -> &str {
        self.exports
            .get(name)
            .unwrap_or_else(|| panic!("no export {name} in {:#?}", self.lines))
    }

    /// The printed tokens, by variable name.
    fn tokens(&self) -> std::collections::BTreeMap<String, String> {
        self.exports
            .iter()
            .filter(|(name, _)| name.ends_with("_TOKEN"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// POSTs a form to the printed token endpoint; the status and the JSON body.
    async fn token_request(
        &self,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
        let url = self.export("ZEEBE_AUTHORIZATION_SERVER_URL");
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(form_escape(id), Some(form_escape(secret)));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.json().await.unwrap(), headers)
    }
}

/// application/x-www-form-urlencoded escaping of one value.
fn form_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn dev_mode_prints_four_working_tokens() {
    let server = DevServer::start(&[]);
    let tokens = server.tokens();
    let (check_addr, tokens) = (&server.check_addr, &tokens);
    assert_eq!(
        tokens.keys().collect::<Vec<_>>(),
        [
            "ZEEBE_AUTHZ_READ_TOKEN",
            "ZEEBE_AUTHZ_TENANT_TOKEN",
            "ZEEBE_AUTHZ_WORKER_TOKEN",
            "ZEEBE_AUTHZ_WRITE_TOKEN"
        ]
    );
    let mut client = AuthorizationClient::connect(format!("http://{check_addr}"))
        .await
        .unwrap();
    let mut check = async |token: &str, rpc_name: &str, body: Vec<u8>| {
        let req = check_request(
            "localhost",
            &rpc(rpc_name),
            Some(&format!("Bearer {token}")),
            &body,
        );
        code(&client.check(req).await.unwrap().into_inner())
    };
    let cpi = |tenant: &str| {
        frame(
            &proto::CreateProcessInstanceRequest {
                tenant_id: tenant.into(),
                ..Default::default()
            }
            .encode_to_vec(),
        )
    };
    let jobs = |ty: &str| {
        frame(
            &proto::ActivateJobsRequest {
                r#type: ty.into(),
                ..Default::default()
            }
            .encode_to_vec(),
        )
    };
    let t = |n: &str| tokens[&format!("ZEEBE_AUTHZ_{n}_TOKEN")].clone();
    assert_eq!(check(&t("WRITE"), "CreateProcessInstance", vec![]).await, 0);
    assert_eq!(check(&t("READ"), "Topology", vec![]).await, 0);
    assert_eq!(check(&t("READ"), "CreateProcessInstance", vec![]).await, 7);
    assert_eq!(
        check(&t("TENANT"), "CreateProcessInstance", cpi("tenant-a")).await,
        0
    );
    assert_eq!(
        check(&t("TENANT"), "CreateProcessInstance", cpi("tenant-b")).await,
        7
    );
    assert_eq!(
        check(&t("WORKER"), "ActivateJobs", jobs("payment")).await,
        0
    );
    assert_eq!(
        check(&t("WORKER"), "ActivateJobs", jobs("shipping")).await,
        7
    );
    assert_eq!(
        check(&t("WORKER"), "CreateProcessInstance", cpi("")).await,
        7
    );
}

#[tokio::test]
async fn bench_mints_tokens_a_dev_server_accepts_with_the_given_key() {
    let scratch = Scratch::new();
    let key = zeebe_authz_core::signing::SigningKey::generate("dev-1").unwrap();
    let pem = scratch.write("dev-key.pem", &key.to_pkcs8_pem().unwrap());
    let server = DevServer::start(&["--dev-key".as_ref(), pem.as_os_str()]);
    let (check_addr, issuer) = (&server.check_addr, &server.issuer);
    let out = Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
        .args([
            "bench",
            "load",
            "--target",
            check_addr,
            "--issuer",
            issuer,
            "--tokens",
            "distinct:40",
            "--requests",
            "40",
            "--concurrency",
            "4",
            "--key",
        ])
        .arg(&pem)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("OK 40"), "{text}");
    // A key the server does not have: every token refused.
    let other = scratch.write(
        "other.pem",
        &zeebe_authz_core::signing::SigningKey::generate("dev-1")
            .unwrap()
            .to_pkcs8_pem()
            .unwrap(),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
        .args([
            "bench",
            "load",
            "--target",
            check_addr,
            "--issuer",
            issuer,
            "--requests",
            "10",
            "--concurrency",
            "2",
            "--key",
        ])
        .arg(&other)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("UNAUTHENTICATED 10"), "{text}");
}

/// The Check code for `token` on `rpc_name` with `body` (a gRPC frame or empty).
async fn check_code(check_addr: &str, token: &str, rpc_name: &str, body: &[u8]) -> i32 {
    let mut client = AuthorizationClient::connect(format!("http://{check_addr}"))
        .await
        .unwrap();
    let req = check_request(
        "localhost",
        &rpc(rpc_name),
        Some(&format!("Bearer {token}")),
        body,
    );
    code(&client.check(req).await.unwrap().into_inner())
}

#[tokio::test]
async fn dev_clients_get_tokens_with_the_printed_tokens_permissions() {
    let server = DevServer::start(&["--dev-token-ttl".as_ref(), "7s".as_ref()]);
    let jobs = |ty: &str| {
        frame(
            &proto::ActivateJobsRequest {
                r#type: ty.into(),
                ..Default::default()
            }
            .encode_to_vec(),
        )
    };
    let cpi = |tenant: &str| {
        frame(
            &proto::CreateProcessInstanceRequest {
                tenant_id: tenant.into(),
                ..Default::default()
            }
            .encode_to_vec(),
        )
    };
    let id = |role: &str| {
        server
            .export(&format!("ZEEBE_AUTHZ_{role}_CLIENT_ID"))
            .to_string()
    };
    let secret = |role: &str| {
        server
            .export(&format!("ZEEBE_AUTHZ_{role}_CLIENT_SECRET"))
            .to_string()
    };
    // Form fields (zbctl, @camunda8/sdk) for the worker, HTTP Basic for the others.
    let (status, body, headers) = server
        .token_request(
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id("WORKER")),
                ("client_secret", &secret("WORKER")),
                ("audience", "zeebe-api"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 7);
    assert_eq!(headers["cache-control"], "no-store");
    let worker = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        check_code(
            &server.check_addr,
            &worker,
            "ActivateJobs",
            &jobs("payment-eu")
        )
        .await,
        0
    );
    assert_eq!(
        check_code(
            &server.check_addr,
            &worker,
            "ActivateJobs",
            &jobs("shipping")
        )
        .await,
        7
    );
    let mut by_role = std::collections::BTreeMap::new();
    for role in ["WRITE", "READ", "TENANT"] {
        let (status, body, _) = server
            .token_request(
                Some((&id(role), &secret(role))),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(status, 200, "{role}: {body}");
        by_role.insert(role, body["access_token"].as_str().unwrap().to_string());
    }
    let check = async |role: &str, rpc_name: &str, body: Vec<u8>| {
        check_code(&server.check_addr, &by_role[role], rpc_name, &body).await
    };
    assert_eq!(check("WRITE", "CreateProcessInstance", vec![]).await, 0);
    assert_eq!(check("READ", "Topology", vec![]).await, 0);
    assert_eq!(check("READ", "CreateProcessInstance", vec![]).await, 7);
    assert_eq!(
        check("TENANT", "CreateProcessInstance", cpi("tenant-a")).await,
        0
    );
    assert_eq!(
        check("TENANT", "CreateProcessInstance", cpi("tenant-b")).await,
        7
    );
    // Same claims as the printed tokens, but for exp, iat and jti.
    let claims = |token: &str| {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let mut c: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for k in ["exp", "iat", "jti"] {
            c.as_object_mut().unwrap().remove(k);
        }
        c
    };
    let printed = server.tokens();
    for role in ["WRITE", "READ", "TENANT"] {
        assert_eq!(
            claims(&by_role[role]),
            claims(&printed[&format!("ZEEBE_AUTHZ_{role}_TOKEN")]),
            "{role}"
        );
    }
}

#[tokio::test]
async fn dev_token_endpoint_refuses_as_keycloak_does() {
    let server = DevServer::start(&[]);
    let id = server.export("ZEEBE_AUTHZ_READ_CLIENT_ID").to_string();
    let (status, body, headers) = server
        .token_request(
            Some((&id, "not-the-secret")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string(), "{body}");
    assert!(headers.contains_key("www-authenticate"));
    let (status, body, _) = server
        .token_request(
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "x"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body, _) = server
        .token_request(
            None,
            &[
                ("grant_type", "password"),
                ("username", "demo"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn dev_token_endpoint_is_in_the_discovery_document() {
    let server = DevServer::start(&[]);
    let doc: serde_json::Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        server.issuer
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        doc["token_endpoint"],
        server.export("ZEEBE_AUTHORIZATION_SERVER_URL")
    );
    assert_eq!(
        server.export("CAMUNDA_OAUTH_URL"),
        server.export("ZEEBE_AUTHORIZATION_SERVER_URL")
    );
    assert_eq!(server.export("ZEEBE_TOKEN_AUDIENCE"), "zeebe-api");
    assert_eq!(
        server.export("ZEEBE_CLIENT_ID"),
        server.export("ZEEBE_AUTHZ_WRITE_CLIENT_ID")
    );
}

#[tokio::test]
async fn dev_token_ttl_expires_tokens_without_leeway() {
    let server = DevServer::start(&["--dev-token-ttl".as_ref(), "1s".as_ref()]);
    let (status, body, _) = server
        .token_request(
            Some((
                server.export("ZEEBE_AUTHZ_READ_CLIENT_ID"),
                server.export("ZEEBE_AUTHZ_READ_CLIENT_SECRET"),
            )),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        check_code(&server.check_addr, &token, "Topology", &[]).await,
        0
    );
    // exp is iat + 1 s in whole seconds: refused once the clock is past it (no leeway in dev
    // mode), whatever the cache holds.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        check_code(&server.check_addr, &token, "Topology", &[]).await,
        16
    );
}

#[tokio::test]
async fn dev_envoy_config_writes_a_bootstrap_and_prints_how_to_run_it() {
    let scratch = Scratch::new();
    let path = scratch.0.join("envoy.yaml");
    let server = DevServer::start(&[
        "--envoy-config".as_ref(),
        path.as_os_str(),
        "--gateway".as_ref(),
        "127.0.0.1:26500".as_ref(),
        "--envoy-listen".as_ref(),
        "127.0.0.1:26611".as_ref(),
    ]);
    let text = std::fs::read_to_string(&path).unwrap();
    let check_port = server.check_addr.rsplit_once(':').unwrap().1;
    assert!(
        text.contains(&format!("port_value: {check_port}")),
        "{text}"
    );
    assert!(text.contains(r#"address: "127.0.0.1", port_value: 26611"#));
    assert!(text.contains(r#"address: "127.0.0.1", port_value: 26500"#));
    assert_eq!(server.export("ZEEBE_ADDRESS"), "127.0.0.1:26611");
    assert_eq!(
        server.export("ZEEBE_GRPC_ADDRESS"),
        "grpc://127.0.0.1:26611"
    );
    let printed = server.lines.join("\n");
    assert!(
        printed.contains(&format!("#   envoy -c {}", path.display())),
        "{printed}"
    );
    assert!(
        printed.contains("zbctl status --insecure --address 127.0.0.1:26611 --clientCache $HOME/.camunda/zeebe-authz-dev-writer.yaml"),
        "{printed}"
    );
}

#[test]
fn envoy_config_needs_a_gateway_and_dev_mode() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["serve", "--dev", "--envoy-config", "/nonexistent/e.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--gateway"));
    let out = run(&[
        "serve",
        "--dev",
        "--envoy-config",
        "e.yaml",
        "--gateway",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOST:PORT"));
}

/// `--dev-identity-headers` sets `identity_headers.send` of the dev realm: what an allow
/// overwrites, while every other identity header is removed all the same.
#[tokio::test]
async fn dev_identity_headers_choose_what_an_allow_sets() {
    for (send, set) in [
        (
            "all",
            &[
                "x-zeebe-authz-subject",
                "x-zeebe-authz-client-id",
                "x-zeebe-authz-realm",
            ][..],
        ),
        ("subject", &["x-zeebe-authz-subject"][..]),
        ("none", &[][..]),
    ] {
        let server = DevServer::start(&["--dev-identity-headers".as_ref(), send.as_ref()]);
        let token = server.export("ZEEBE_AUTHZ_WRITE_TOKEN");
        let mut client = AuthorizationClient::connect(format!("http://{}", server.check_addr))
            .await
            .unwrap();
        let req = check_request(
            "localhost",
            &rpc("Topology"),
            Some(&format!("Bearer {token}")),
            &[],
        );
        let response = client.check(req).await.unwrap().into_inner();
        assert_eq!(code(&response), 0, "{send}");
        let names: Vec<String> = ok_headers(&response).into_iter().map(|h| h.0).collect();
        assert_eq!(names, set, "{send}");
        let removed = match &response.http_response {
            Some(HttpResponse::OkResponse(ok)) => ok.headers_to_remove.clone(),
            _ => Vec::new(),
        };
        let all = [
            "x-zeebe-authz-subject",
            "x-zeebe-authz-client-id",
            "x-zeebe-authz-realm",
        ];
        let expected: Vec<&str> = all.into_iter().filter(|n| !set.contains(n)).collect();
        assert_eq!(removed, expected, "{send}");
    }
}

#[test]
fn dev_identity_headers_refuse_an_unknown_set() {
    let out = Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
        .args(["serve", "--dev", "--dev-identity-headers", "some"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("'some' is not all, subject or none"),
        "{text}"
    );
}
