//! What a load run reports, as text for people and as JSON (`--json`) for scripts.
//!
//! Latencies are in microseconds; decisions are keyed by gRPC status name (`OK`,
//! `UNAUTHENTICATED`, …); errors (no decision at all) by kind.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::load::{Tally, code_name};

/// One load run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// What was loaded (`in-process ours`, `external 127.0.0.1:9000`, …).
    pub target: String,
    /// `check`, `gateway` or `direct`.
    pub transport: String,
    /// `closed` or `open`.
    pub pacing: String,
    /// Workers (closed: requests in flight; open: the most in flight).
    pub(crate) concurrency: usize,
    /// The open loop's rate.
    pub(crate) rate: Option<f64>,
    /// HTTP/2 connections (0 for direct calls).
    pub(crate) connections: usize,
    /// The token mix.
    pub(crate) tokens: String,
    /// The rpc mix.
    pub(crate) rpc: String,
    /// Seconds of warm-up before measuring.
    pub(crate) warmup_secs: f64,
    /// Seconds from the first measured send to the last answer.
    pub elapsed_secs: f64,
    /// Requests measured.
    pub requests: u64,
    /// Requests per second.
    pub(crate) throughput: f64,
    /// Latency percentiles in microseconds.
    pub(crate) latency_us: Latency,
    /// Decisions by gRPC status name.
    pub decisions: BTreeMap<String, u64>,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// The first message of each non-OK decision, by status name.
    pub(crate) messages: BTreeMap<String, String>,
    /// Open loop: requests sent after they were due because every worker was busy.
    pub(crate) late: u64,
    /// In-process zeebe-authz: JWKS fetches made during the measured phase.
    pub jwks_fetches: Option<u64>,
    /// Seconds spent minting tokens before the run.
    pub mint_secs: f64,
    /// CPU time (user + system) per measured request, by party (`generator`, `server` when
    /// in-process, and each `--cpu-of NAME`), in µs.
    pub cpu_us_per_request: BTreeMap<String, f64>,
}

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Latency {
    /// Median.
    pub(crate) p50: f64,
    /// 90th percentile.
    pub(crate) p90: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// 99.9th percentile.
    pub(crate) p999: f64,
    /// Largest.
    pub(crate) max: f64,
    /// Mean.
    pub(crate) mean: f64,
}

impl Latency {
    /// From a nanosecond histogram.
    pub(crate) fn from_tally(tally: &Tally) -> Latency {
        let h = &tally.latency;
        let us = |ns: u64| ns as f64 / 1_000.0;
        if h.is_empty() {
            return Latency {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        Latency {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1_000.0,
        }
    }
}

/// The first message of each non-OK decision, by status name.
pub(crate) fn messages_by_name(tally: &Tally) -> BTreeMap<String, String> {
    tally
        .messages
        .iter()
        .map(|(code, m)| (code_name(*code), m.clone()))
        .collect()
}

/// Decisions by status name.
pub(crate) fn decisions_by_name(tally: &Tally) -> BTreeMap<String, u64> {
    tally
        .decisions
        .iter()
        .map(|(code, n)| (code_name(*code), *n))
        .collect()
}

impl LoadReport {
    /// The report as text.
    pub(crate) fn to_text(&self) -> String {
        let mut s = String::new();
        let pacing = match self.rate {
            Some(rate) => format!(
                "open loop at {rate:.0}/s, up to {} in flight",
                self.concurrency
            ),
            None => format!("closed loop, {} in flight", self.concurrency),
        };
        let over = if self.transport == "direct" {
            "direct calls (no gRPC)".to_string()
        } else {
            format!("{} over {} connection(s)", self.transport, self.connections)
        };
        let _ = writeln!(s, "zeebe-authz bench: {}, {over}, {pacing}", self.target);
        let _ = writeln!(
            s,
            "  tokens {}, rpc {}; measured {:.2} s after {:.2} s warm-up{}",
            self.tokens,
            self.rpc,
            self.elapsed_secs,
            self.warmup_secs,
            if self.mint_secs > 0.0 {
                format!(" ({:.1} s minting tokens before)", self.mint_secs)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            s,
            "  throughput   {:.0} req/s ({} requests)",
            self.throughput, self.requests
        );
        let l = &self.latency_us;
        let _ = writeln!(
            s,
            "  latency      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {})",
            show_us(l.p50),
            show_us(l.p90),
            show_us(l.p99),
            show_us(l.p999),
            show_us(l.max),
            show_us(l.mean)
        );
        let list = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_string()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let _ = writeln!(s, "  decisions    {}", list(&self.decisions));
        for (code, message) in &self.messages {
            let _ = writeln!(s, "  {code:<12} e.g. \"{message}\"");
        }
        let _ = writeln!(s, "  errors       {}", list(&self.errors));
        if self.rate.is_some() {
            let _ = writeln!(
                s,
                "  late sends   {} (queued behind busy workers)",
                self.late
            );
        }
        if let Some(n) = self.jwks_fetches {
            let _ = writeln!(s, "  jwks fetches {n} during the measured phase");
        }
        if !self.cpu_us_per_request.is_empty() {
            let _ = writeln!(
                s,
                "  CPU/request  {}",
                self.cpu_us_per_request
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.2} µs"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        s
    }
}

/// Microseconds as `850 µs` or `1.25 ms`.
pub(crate) fn show_us(us: f64) -> String {
    if us >= 1_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{us:.0} µs")
    }
}
