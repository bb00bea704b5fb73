//! Startup without a system CA store, as in a scratch or slim image without ca-certificates:
//! the binary runs with `SSL_CERT_FILE` and `SSL_CERT_DIR` naming nothing, which leaves the
//! store rustls reads empty. Nothing but an `https://` key source without `jwks.ca_bundle`
//! needs one (issue 26: `serve --dev` exited with "No CA certificates were loaded from the
//! system").

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use zeebe_authz_core::signing::SigningKey;

use crate::util::*;

/// The environment of a root without a CA store.
const NO_CA_STORE: [(&str, &str); 2] = [
    ("SSL_CERT_FILE", "/nonexistent/zeebe-authz-it/ca.pem"),
    ("SSL_CERT_DIR", "/nonexistent/zeebe-authz-it/certs"),
];

/// `zeebe-authz serve …` started without a CA store; killed on drop.
struct Storeless {
    child: Child,
    admin_addr: String,
    /// Its log after "Listening", line by line.
    log: mpsc::Receiver<String>,
}

impl Storeless {
    /// Starts `serve` with `args` and reads its JSON log up to "Listening"; `Err` holds the
    /// exit code and everything it logged when it exits first.
    fn start(args: &[&OsStr]) -> Result<Storeless, (Option<i32>, String)> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
            .arg("serve")
            .args(args)
            .envs(NO_CA_STORE)
            .env("ZEEBE_AUTHZ_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel();
        // The reader thread ends with the process (EOF on its stderr).
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut log = String::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    log.push_str(&line);
                    log.push('\n');
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                        continue;
                    };
                    if v["fields"]["message"] == "Listening" {
                        let admin_addr = v["fields"]["admin_addr"].as_str().unwrap().to_string();
                        return Ok(Storeless {
                            child,
                            admin_addr,
                            log: rx,
                        });
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err((child.wait().unwrap().code(), log));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("serve neither listened nor exited in 30 s:\n{log}");
                }
            }
        }
    }

    /// Waits (bounded) until `/readyz` answers 200: every realm has its keys. Fails at once,
    /// with what it logged, when the process exits.
    async fn wait_ready(&mut self) {
        let url = format!("http://{}/readyz", self.admin_addr);
        let mut last = None;
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log: Vec<String> = self.log.try_iter().collect();
                panic!(
                    "serve exited ({status}) after listening:\n{}",
                    log.join("\n")
                );
            }
            if let Ok(resp) = reqwest::get(&url).await {
                if resp.status() == 200 {
                    return;
                }
                last = Some(resp.status());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("not ready after 30 s without a CA store: {last:?}");
    }
}

impl Drop for Storeless {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --config config` without a CA store off the runtime's threads (the loopback
/// Keycloak answers on them meanwhile).
async fn start_with_config(config: &Path) -> Result<Storeless, (Option<i32>, String)> {
    let config = config.as_os_str().to_owned();
    tokio::task::spawn_blocking(move || Storeless::start(&["--config".as_ref(), &config]))
        .await
        .unwrap()
}

fn expect_started(started: Result<Storeless, (Option<i32>, String)>) -> Storeless {
    started.unwrap_or_else(|(code, log)| panic!("serve exited ({code:?}):\n{log}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_exited_without_a_system_ca_store() {
    let server = tokio::task::spawn_blocking(|| {
        Storeless::start(
            &[
                "--dev",
                "--dev-check-addr",
                "127.0.0.1:0",
                "--dev-admin-addr",
                "127.0.0.1:0",
            ]
            .map(OsStr::new),
        )
    })
    .await
    .unwrap();
    // Ready: the dev realm's keys came from its own loopback issuer over http.
    expect_started(server).wait_ready().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_issuer_exited_without_a_system_ca_store() {
    let key = SigningKey::generate("kc-1").unwrap();
    let kc = keycloak(&[&key]).await;
    let scratch = Scratch::new();
    scratch.write("default.yaml", &default_policy());
    let config = scratch.write("config.yaml", &one_realm_config(&kc.issuer));
    expect_started(start_with_config(&config).await)
        .wait_ready()
        .await;
    kc.stop().await;
}

/// This one started before the fix too (the bundle alone filled the store rustls checks); it
/// keeps the bundle-only trust working now that the client is built without the system store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_issuer_with_ca_bundle_starts_without_a_system_ca_store() {
    let key = SigningKey::generate("kc-1").unwrap();
    let (kc, ca_pem) = keycloak_tls(&[&key]).await;
    let scratch = Scratch::new();
    scratch.write("default.yaml", &default_policy());
    let ca = scratch.write("keycloak-ca.pem", &ca_pem);
    let config = one_realm_config(&kc.issuer) + &format!("  ca_bundle: {}\n", ca.display());
    let config = scratch.write("config.yaml", &config);
    expect_started(start_with_config(&config).await)
        .wait_ready()
        .await;
    kc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_issuer_without_ca_store_or_bundle_was_not_a_config_error() {
    let scratch = Scratch::new();
    scratch.write("default.yaml", &default_policy());
    // Nothing listens there: the error must come before any fetch (and any bound port).
    let config = scratch.write(
        "config.yaml",
        &one_realm_config("https://127.0.0.1:9/realms/camunda"),
    );
    let Err((code, log)) = start_with_config(&config).await else {
        panic!("serve started with an https:// issuer and nothing to trust it with");
    };
    assert_eq!(code, Some(64), "{log}");
    assert!(
        log.contains("config.yaml: error: realms[0].issuer: https://127.0.0.1:9/realms/camunda is fetched over https"),
        "{log}"
    );
    assert!(log.contains("set jwks.ca_bundle"), "{log}");
    assert!(!log.contains("Listening"), "{log}");
}

/// `lint` agrees with `serve` on the same host: a config serve refuses for want of a CA store
/// is a lint error too (lint passed it before).
#[test]
fn lint_passed_a_config_serve_refuses_without_a_system_ca_store() {
    let scratch = Scratch::new();
    scratch.write("default.yaml", &default_policy());
    let config = scratch.write(
        "config.yaml",
        &one_realm_config("https://127.0.0.1:9/realms/camunda"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
        .arg("lint")
        .arg(&config)
        .envs(NO_CA_STORE)
        .output()
        .expect("run zeebe-authz lint");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "lint passed:\n{text}");
    assert!(
        text.contains("realms[0].issuer: https://127.0.0.1:9/realms/camunda is fetched over https"),
        "{text}"
    );
    assert!(text.contains("set jwks.ca_bundle"), "{text}");
}
