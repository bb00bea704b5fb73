//! The tonic ext_authz service: one `CheckRequest` in, one `CheckResponse` out, answered
//! within the caller's `grpc-timeout`.
//!
//! The service is written out here rather than generated (envoy-types' `AuthorizationServer`)
//! so that the answer goes to tonic as the bytes [`super::wire`] writes, not as a message built
//! of `String`s and a `HashMap` first; the request is decoded by prost as before.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse};
use tokio::time::Instant;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Context, Poll, Service, StdError, http};
use tonic::{Request, Response, Status};

use super::read::view;
use crate::authorizer::Authorizer;
use zeebe_authz_core::decision::Verdict;

/// Decides one Check as the service does, without gRPC: Envoy's request → the verdict (timed
/// into `check_duration_seconds` as the service times it). Never fails: every problem is a
/// deny with a reason. `deadline`: see `Authorizer::decide`. [`response_bytes`] writes the
/// answer Envoy would get.
pub async fn check(
    authorizer: &Authorizer,
    request: &CheckRequest,
    deadline: Option<Instant>,
) -> Verdict {
    decide(authorizer, request, deadline).await
}

/// The `CheckResponse` the service sends for `verdict`, as the protobuf bytes written (the
/// service writes them into tonic's buffer instead). Benches count this encoding with the
/// decision; tests and the fuzz harness decode it as Envoy does.
pub fn response_bytes(verdict: &Verdict) -> Vec<u8> {
    let mut bytes = Vec::new();
    super::wire::encode_check_response(verdict, &mut bytes);
    bytes
}

/// The verdict on one Check, timed. The response is written from it as tonic sends it, into
/// tonic's buffer (see [`EncodedWriter`]): no buffer of our own per Check. So
/// `check_duration_seconds` measures the decision only, not that encoding (a few thousand
/// instructions, under the histogram's first bucket of 25 µs); its help text says so. Timing
/// the encoding as well would take a third clock read per Check in the encoder.
async fn decide(
    authorizer: &Authorizer,
    request: &CheckRequest,
    deadline: Option<Instant>,
) -> Verdict {
    let started = std::time::Instant::now();
    let verdict = authorizer.decide(&view(request), deadline).await;
    authorizer
        .metrics()
        .check_latency(started.elapsed().as_secs_f64());
    verdict
}

/// The gRPC service answering Envoy's Checks with `authorizer`.
pub(crate) fn authorization_server(authorizer: Arc<Authorizer>) -> CheckServer {
    CheckServer { authorizer }
}

/// `envoy.service.auth.v3.Authorization`: `Check` answered, any other method UNIMPLEMENTED.
#[derive(Clone)]
pub(crate) struct CheckServer {
    authorizer: Arc<Authorizer>,
}

impl tonic::server::NamedService for CheckServer {
    const NAME: &'static str = "envoy.service.auth.v3.Authorization";
}

impl<B> Service<http::Request<B>> for CheckServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != "/envoy.service.auth.v3.Authorization/Check" {
            return Box::pin(async {
                let mut response = http::Response::new(tonic::body::Body::default());
                let headers = response.headers_mut();
                headers.insert(
                    Status::GRPC_STATUS,
                    (tonic::Code::Unimplemented as i32).into(),
                );
                headers.insert(
                    http::header::CONTENT_TYPE,
                    tonic::metadata::GRPC_CONTENT_TYPE,
                );
                Ok(response)
            });
        }
        let method = CheckMethod(self.authorizer.clone());
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(CheckCodec);
            Ok(grpc.unary(method, req).await)
        })
    }
}

/// The `Check` method: one `CheckRequest` in, its encoded `CheckResponse` out.
struct CheckMethod(Arc<Authorizer>);

impl tonic::server::UnaryService<CheckRequest> for CheckMethod {
    type Response = Encoded;
    type Future = BoxFuture<Response<Encoded>, Status>;

    fn call(&mut self, request: Request<CheckRequest>) -> Self::Future {
        let authorizer = self.0.clone();
        Box::pin(async move {
            let deadline = answer_deadline(request.metadata());
            let request = request.into_inner();
            if !crate::telemetry::enabled() {
                let verdict = decide(&authorizer, &request, deadline).await;
                return Ok(Response::new(Encoded(verdict)));
            }
            let span = crate::telemetry::check_span(&trace_headers(&request));
            let verdict = tracing::Instrument::instrument(
                decide(&authorizer, &request, deadline),
                span.clone(),
            )
            .await;
            span.record("rpc", verdict.path.as_str());
            span.record("reason", verdict.decision.outcome().reason());
            span.record("decision_id", verdict.id.as_str());
            if let Some(realm) = &verdict.realm {
                span.record("realm", realm.as_str());
            }
            if verdict.dry_run {
                span.record("dry_run", true);
            }
            Ok(Response::new(Encoded(verdict)))
        })
    }
}

/// The W3C trace context headers of the request Envoy forwards (as `view` reads headers).
fn trace_headers(request: &CheckRequest) -> std::collections::HashMap<String, String> {
    const NAMES: [&str; 2] = ["traceparent", "tracestate"];
    let Some(http) = super::read::http(request) else {
        return Default::default();
    };
    NAMES
        .iter()
        .zip(super::read::headers(http, &NAMES))
        .filter_map(|(name, value)| Some(((*name).to_owned(), value?.to_owned())))
        .collect()
}

/// A `CheckResponse`, to be written from its verdict straight into tonic's buffer.
struct Encoded(Verdict);

/// Decodes `CheckRequest`s with prost; writes [`Encoded`] responses from their verdicts.
struct CheckCodec;

impl Codec for CheckCodec {
    type Encode = Encoded;
    type Decode = CheckRequest;
    type Encoder = EncodedWriter;
    type Decoder = tonic_prost::ProstDecoder<CheckRequest>;

    fn encoder(&mut self) -> EncodedWriter {
        EncodedWriter
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstCodec::<CheckResponse, CheckRequest>::default().decoder()
    }
}

struct EncodedWriter;

impl Encoder for EncodedWriter {
    type Item = Encoded;
    type Error = Status;

    fn encode(&mut self, item: Encoded, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        super::wire::encode_check_response(&item.0, dst);
        Ok(())
    }
}

/// When a Check must answer at the latest: Envoy sends its ext_authz timeout as the call's
/// `grpc-timeout`, and an answer that arrives after it is lost (Envoy answers the client
/// itself, with its generic error). We answer [`answer_margin`] before it, so the client
/// sees our reason; work the Check waited on (a key fetch) goes on in the background.
fn answer_deadline(metadata: &tonic::metadata::MetadataMap) -> Option<Instant> {
    // A `HeaderName` made once: looking the header up by `&str` parses the name every time.
    static GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");
    let timeout = parse_grpc_timeout(metadata.as_ref().get(&GRPC_TIMEOUT)?.to_str().ok()?)?;
    Some(Instant::now() + timeout.saturating_sub(answer_margin(timeout)))
}

/// How long before the caller's deadline we answer: a tenth of the timeout, at most 100 ms.
/// Envoy's clock starts before ours (a cold connection to the authorizer, queueing on a busy
/// node) and the answer must still cross the pod network; a tenth leaves room for both.
fn answer_margin(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_millis(100))
}

/// `grpc-timeout` (gRPC over HTTP/2): at most 8 digits and a unit, `H M S m u n`.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_is_read_from_headers_or_the_raw_header_map() {
        use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
        use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
        use envoy_types::pb::envoy::service::auth::v3::attribute_context::{
            HttpRequest, Request as AttrRequest,
        };
        let request = |http: HttpRequest| CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(AttrRequest {
                    http: Some(http),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut http = HttpRequest::default();
        http.headers.insert("traceparent".into(), tp.into());
        assert_eq!(trace_headers(&request(http))["traceparent"], tp);
        // Envoy with `encode_raw_headers` sends them in `header_map`, values as bytes.
        let http = HttpRequest {
            header_map: Some(HeaderMap {
                headers: vec![HeaderValue {
                    key: "traceparent".into(),
                    value: String::new(),
                    raw_value: tp.as_bytes().to_vec(),
                }],
            }),
            ..Default::default()
        };
        assert_eq!(trace_headers(&request(http))["traceparent"], tp);
        assert!(trace_headers(&CheckRequest::default()).is_empty());
    }

    #[test]
    fn grpc_timeout_is_parsed_as_the_spec_says() {
        let ms = Duration::from_millis;
        assert_eq!(parse_grpc_timeout("200m"), Some(ms(200)));
        assert_eq!(parse_grpc_timeout("2S"), Some(ms(2000)));
        assert_eq!(parse_grpc_timeout("1M"), Some(ms(60_000)));
        assert_eq!(parse_grpc_timeout("1H"), Some(ms(3_600_000)));
        assert_eq!(
            parse_grpc_timeout("1500u"),
            Some(Duration::from_micros(1500))
        );
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in [
            "",
            "m",
            "200",
            "123456789m",
            "-1m",
            "1.5S",
            "1s",
            "1 m",
            "\u{e9}",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_answer_margin_is_a_tenth_up_to_100ms() {
        let ms = Duration::from_millis;
        assert_eq!(answer_margin(ms(200)), ms(20));
        assert_eq!(answer_margin(ms(2000)), ms(100));
        assert_eq!(answer_margin(ms(5000)), ms(100));
        assert_eq!(answer_margin(ms(0)), ms(0));
    }
}
