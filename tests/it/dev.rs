//! `serve --dev`: the binary starts with no file, prints usable tokens, and serves its own
//! issuer; every printed token gets the access it is described with.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use prost::Message as _;
use zeebe_authz::body::frame;
use zeebe_authz::proto;

use crate::util::*;

/// Kills the child on drop, so a failed assertion does not leave the server running.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn dev_mode_prints_four_working_tokens() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
            .args([
                "serve",
                "--dev",
                "--dev-check-addr",
                "127.0.0.1:0",
                "--dev-admin-addr",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut tokens = std::collections::HashMap::new();
    let mut check_addr = String::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("# zeebe-authz dev mode: ext_authz Check on ") {
            check_addr = rest.split(',').next().unwrap().to_string();
        }
        if let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            tokens.insert(name.to_string(), value.to_string());
        }
        if line.starts_with("# Readiness") {
            break;
        }
    }
    let names: std::collections::BTreeSet<_> = tokens.keys().cloned().collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
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
    let mut server = Child(
        Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
            .args([
                "serve",
                "--dev",
                "--dev-check-addr",
                "127.0.0.1:0",
                "--dev-admin-addr",
                "127.0.0.1:0",
                "--dev-key",
            ])
            .arg(&pem)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (mut check_addr, mut issuer) = (String::new(), String::new());
    for line in BufReader::new(server.0.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("# zeebe-authz dev mode: ext_authz Check on ") {
            check_addr = rest.split(',').next().unwrap().to_string();
        }
        if let Some(rest) = line.strip_prefix("# Issuer ") {
            issuer = rest.split(',').next().unwrap().to_string();
        }
        if line.starts_with("# Readiness") {
            break;
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
        .args([
            "bench",
            "load",
            "--target",
            &check_addr,
            "--issuer",
            &issuer,
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
            &check_addr,
            "--issuer",
            &issuer,
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
