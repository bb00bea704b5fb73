//! The tonic ext_authz service: one `CheckRequest` in, one `CheckResponse` out, answered
//! within the caller's `grpc-timeout`.

use std::sync::Arc;
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse,
};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::request::view;
use super::response::into_check_response;
use crate::authorizer::Authorizer;

/// Answers one Check: Envoy's request → the decision → Envoy's response. Never fails: every
/// problem is a deny with a reason. `deadline`: see `Authorizer::decide`.
pub async fn check(
    authorizer: &Authorizer,
    request: &CheckRequest,
    deadline: Option<Instant>,
) -> CheckResponse {
    let started = std::time::Instant::now();
    let verdict = authorizer.decide(&view(request), deadline).await;
    let response = into_check_response(&verdict);
    authorizer
        .metrics()
        .check_latency(started.elapsed().as_secs_f64());
    response
}

/// The gRPC service answering Envoy's Checks with `authorizer`.
pub(crate) fn authorization_server(
    authorizer: Arc<Authorizer>,
) -> AuthorizationServer<CheckService> {
    AuthorizationServer::new(CheckService { authorizer })
}

/// The tonic adapter: one Check in, one CheckResponse out.
pub(crate) struct CheckService {
    authorizer: Arc<Authorizer>,
}

#[tonic::async_trait]
impl Authorization for CheckService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let deadline = answer_deadline(request.metadata());
        if !crate::telemetry::enabled() {
            return Ok(Response::new(
                check(&self.authorizer, request.get_ref(), deadline).await,
            ));
        }
        let headers = request
            .get_ref()
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref())
            .map(|h| &h.headers);
        let span = crate::telemetry::check_span(headers.unwrap_or(&Default::default()));
        let response = tracing::Instrument::instrument(
            check(&self.authorizer, request.get_ref(), deadline),
            span.clone(),
        )
        .await;
        // The decision's attributes, as its dynamic metadata carries them.
        if let Some(fields) = response.dynamic_metadata.as_ref().map(|m| &m.fields) {
            for key in ["rpc", "realm", "reason", "decision_id"] {
                if let Some(envoy_types::pb::google::protobuf::value::Kind::StringValue(v)) =
                    fields.get(key).and_then(|v| v.kind.as_ref())
                {
                    span.record(key, v.as_str());
                }
            }
            if fields.contains_key("dry_run") {
                span.record("dry_run", true);
            }
        }
        Ok(Response::new(response))
    }
}

/// When a Check must answer at the latest: Envoy sends its ext_authz timeout as the call's
/// `grpc-timeout`, and an answer that arrives after it is lost (Envoy answers the client
/// itself, with its generic error). We answer [`answer_margin`] before it, so the client
/// sees our reason; work the Check waited on (a key fetch) goes on in the background.
fn answer_deadline(metadata: &tonic::metadata::MetadataMap) -> Option<Instant> {
    let timeout = parse_grpc_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)?;
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
