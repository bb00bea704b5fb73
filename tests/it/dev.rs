//! `serve --dev`: the binary starts with no file, prints usable tokens, and serves its own
//! issuer; every printed token gets the access it is described with.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use prost::Message as _;
use zeebe_authz::body::frame;
use zeebe_authz::proto;

use crate::util::*;

/// `serve --dev` on port 0, with what it printed. Kills the process on drop, so a failed
/// assertion does not leave the server running.
struct DevServer {
    child: std::process::Child,
    check_addr: String,
    issuer: String,
    tokens: std::collections::BTreeMap<String, String>,
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
            tokens: Default::default(),
        };
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("# zeebe-authz dev mode: ext_authz Check on ") {
                server.check_addr = rest.split(',').next().unwrap().to_string();
            }
            if let Some(rest) = line.strip_prefix("# Issuer ") {
                server.issuer = rest.split(',').next().unwrap().to_string();
            }
            if let Some((name, value)) =
                line.strip_prefix("export ").and_then(|l| l.split_once('='))
            {
                server.tokens.insert(name.to_string(), value.to_string());
            }
            if line.starts_with("# Readiness") {
                break;
            }
        }
        server
    }
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
    let (check_addr, tokens) = (&server.check_addr, &server.tokens);
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
    let key = zeebe_authz::issuer::SigningKey::generate("dev-1").unwrap();
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
        &zeebe_authz::issuer::SigningKey::generate("dev-1")
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
