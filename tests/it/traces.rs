//! OpenTelemetry: `serve` with `OTEL_EXPORTER_OTLP_ENDPOINT` exports a span per Check that
//! continues the caller's `traceparent`, and a key fetch as a child of the Check that asked,
//! to an OTLP/HTTP receiver the test runs on loopback.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio::sync::mpsc;
use zeebe_authz_core::signing::{SigningKey, access_token_claims};

use crate::util::*;

const TRACE_1: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_1: &str = "00f067aa0ba902b7";
const TRACE_2: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_2: &str = "b7ad6b7169203331";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            other => Some(format!("{other:?}")),
        }
    })
}

/// `serve --dev` with traces on, killed on drop.
struct Traced(std::process::Child);

impl Drop for Traced {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_check_continues_the_callers_trace_and_a_key_fetch_is_its_child() {
    // The receiver: every export request's spans go to the test.
    let (spans_tx, mut spans_rx) = mpsc::unbounded_channel::<Span>();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let spans_tx = spans_tx.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                for s in request
                    .resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans)
                {
                    let _ = spans_tx.send(s);
                }
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let receiver = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut child = Command::new(env!("CARGO_BIN_EXE_zeebe-authz"))
        .args(["serve", "--dev", "--dev-check-addr", "127.0.0.1:0"])
        .args(["--dev-admin-addr", "127.0.0.1:0"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let server = Traced(child);
    let (mut check_addr, mut issuer, mut token) = (String::new(), String::new(), String::new());
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("# zeebe-authz dev mode: ext_authz Check on ") {
            check_addr = rest.split(',').next().unwrap().to_string();
        }
        if let Some(rest) = line.strip_prefix("# Issuer ") {
            issuer = rest.split(',').next().unwrap().to_string();
        }
        if let Some(t) = line.strip_prefix("export ZEEBE_AUTHZ_READ_TOKEN=") {
            token = t.to_string();
        }
        if line.starts_with("# Readiness") {
            break;
        }
    }
    let mut client = AuthorizationClient::connect(format!("http://{check_addr}"))
        .await
        .unwrap();
    let mut check = async |token: &str, traceparent: String| {
        let req = check_request(
            "localhost",
            &rpc("Topology"),
            Some(&format!("Bearer {token}")),
            &[],
        );
        let req = with_header(req, "traceparent", &traceparent);
        let req = with_header(req, "x-request-id", "traced-1");
        code(&client.check(req).await.unwrap().into_inner())
    };
    assert_eq!(
        check(&token, format!("00-{TRACE_1}-{PARENT_1}-01")).await,
        0
    );
    // A key the dev realm does not have: the Check asks for a fetch of its JWKS.
    let stranger = SigningKey::generate("not-dev-1").unwrap();
    let claims = access_token_claims(&issuer, "zeebe-api", "x", &["read:*"], 300);
    let unknown_kid = stranger.sign(&claims).unwrap();
    assert_eq!(
        check(&unknown_kid, format!("00-{TRACE_2}-{PARENT_2}-01")).await,
        16
    );

    let mut spans: Vec<Span> = Vec::new();
    let found = |spans: &[Span]| {
        let checks: Vec<&Span> = spans.iter().filter(|s| s.name == "check").collect();
        let fetch = spans
            .iter()
            .find(|s| s.name == "jwks_fetch" && hex(&s.trace_id) == TRACE_2);
        checks.len() >= 2 && fetch.is_some()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !found(&spans) {
        match tokio::time::timeout_at(deadline, spans_rx.recv()).await {
            Ok(Some(s)) => spans.push(s),
            _ => panic!(
                "spans did not arrive: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            ),
        }
    }
    let first = spans
        .iter()
        .find(|s| s.name == "check" && hex(&s.trace_id) == TRACE_1)
        .expect("the first Check continues the caller's trace");
    assert_eq!(hex(&first.parent_span_id), PARENT_1);
    assert_eq!(attribute(first, "rpc").as_deref(), Some("Topology"));
    assert_eq!(attribute(first, "realm").as_deref(), Some("dev"));
    assert_eq!(attribute(first, "reason").as_deref(), Some("allowed"));
    assert_eq!(attribute(first, "decision_id").as_deref(), Some("traced-1"));
    let second = spans
        .iter()
        .find(|s| s.name == "check" && hex(&s.trace_id) == TRACE_2)
        .expect("the second Check continues its caller's trace");
    assert_eq!(attribute(second, "reason").as_deref(), Some("unknown_key"));
    // (The startup fetch is a trace of its own.)
    let fetch = spans
        .iter()
        .find(|s| s.name == "jwks_fetch" && hex(&s.trace_id) == TRACE_2)
        .unwrap();
    assert_eq!(fetch.parent_span_id, second.span_id);
    assert_eq!(attribute(fetch, "cause").as_deref(), Some("unknown_kid"));
    drop(server);
    receiver.abort();
}
