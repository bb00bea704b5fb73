//! Optional OpenTelemetry traces: off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, then exported over OTLP/HTTP (protobuf) with
//! the standard `OTEL_*` settings (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_BSP_SCHEDULE_DELAY`, …).
//!
//! Each Check is a span `check` continuing the W3C `traceparent` of the request Envoy forwards
//! (the client's trace, when it sends one), with the rpc, realm, reason and decision id; a
//! JWKS fetch is a span `jwks_fetch`, a child of the Check that asked for it. With traces off a
//! Check creates no span at all.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt as _};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported (spans are only made then).
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Flushes the spans not yet exported when dropped (at exit).
pub struct Guard(SdkTracerProvider);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.shutdown();
    }
}

/// The tracing layer exporting spans, when the environment asks for traces.
pub fn layer<S>() -> Option<(OpenTelemetryLayer<S, SdkTracer>, Guard)>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let wanted = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !wanted {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("warning: OpenTelemetry traces are off: {e}");
            return None;
        }
    };
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "zeebe-authz".into());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(name).build())
        .build();
    let tracer = provider.tracer("zeebe-authz");
    ENABLED.store(true, Ordering::Relaxed);
    Some((
        tracing_opentelemetry::layer().with_tracer(tracer),
        Guard(provider),
    ))
}

/// The span of one Check, continuing the trace of `headers` (`traceparent`, `tracestate`).
pub(crate) fn check_span(headers: &std::collections::HashMap<String, String>) -> tracing::Span {
    let span = tracing::info_span!(
        "check",
        otel.kind = "server",
        rpc = tracing::field::Empty,
        realm = tracing::field::Empty,
        reason = tracing::field::Empty,
        decision_id = tracing::field::Empty,
        dry_run = tracing::field::Empty,
    );
    if headers.contains_key("traceparent") {
        let parent = opentelemetry::propagation::TextMapPropagator::extract(
            &TraceContextPropagator::new(),
            headers,
        );
        let _ = span.set_parent(parent);
    }
    span
}
