//! The load engine: workers sending prepared requests in a closed or open loop, each keeping
//! its own latency histogram and counters, merged at the end.
//!
//! - **Closed loop**: `concurrency` workers, each sending its next request as soon as the
//!   previous one is answered. Finds the maximum throughput.
//! - **Open loop**: requests are due at a fixed rate (request `i` at `start + i / rate`),
//!   sent by up to `concurrency` workers. A request sent late because every worker was busy
//!   is timed from when it was due, so queueing shows in the latency instead of being hidden
//!   (coordinated omission). A request whose worker merely woke late from its timer (tokio's
//!   timer has millisecond resolution) is timed from when it was actually sent: that delay is
//!   the generator's, not the server's.
//!
//! Transports: Checks over gRPC (pre-encoded `CheckRequest` bytes), Zeebe calls over gRPC (to
//! Envoy in front of a gateway), or direct calls of [`zeebe_authz_server::envoy::check`] without gRPC. The
//! gRPC transports send prepared bytes through a pass-through codec, so the generator spends
//! no time encoding while it competes for the same cores as the server under test.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse};
use hdrhistogram::Histogram;
use prost::Message as _;
use prost::bytes::{Buf as _, BufMut as _, Bytes};
use tokio::time::Instant;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use zeebe_authz_core::decision::Verdict;

use super::mix::Prepared;
use zeebe_authz_core::diag::error_chain;
use zeebe_authz_server::authorizer::Authorizer;

/// The ext_authz Check method.
pub(crate) const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";
/// Latencies above this are recorded as this (the histogram's upper bound).
const MAX_RECORDED: Duration = Duration::from_secs(60);

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pacing {
    /// Each of `concurrency` workers sends as soon as its last request is answered.
    Closed {
        /// Requests in flight.
        concurrency: usize,
    },
    /// Requests are due at `rate` per second; at most `concurrency` in flight.
    Open {
        /// Requests per second.
        rate: f64,
        /// Workers (the most requests in flight).
        concurrency: usize,
        /// Send at the due time to the microsecond (see [`wait_until`]) instead of on the
        /// next millisecond tick of tokio's timer.
        precise: bool,
    },
}

impl Pacing {
    fn workers(self) -> usize {
        match self {
            Pacing::Closed { concurrency } | Pacing::Open { concurrency, .. } => concurrency,
        }
        .max(1)
    }
}

/// When a phase ends: after `duration`, after `requests`, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bound {
    /// Stop sending after this long.
    pub(crate) duration: Option<Duration>,
    /// Stop after this many requests.
    pub(crate) requests: Option<u64>,
}

/// How a request travels.
pub(crate) enum Transport {
    /// `Authorization/Check` over gRPC, the prepared requests pre-encoded.
    Check {
        /// One per connection.
        channels: Vec<Channel>,
        /// Encoded `CheckRequest`s.
        requests: Arc<[Bytes]>,
    },
    /// Zeebe gateway calls over gRPC (through Envoy).
    Gateway {
        /// One per connection.
        channels: Vec<Channel>,
        /// The calls.
        requests: Arc<[GatewayRequest]>,
    },
    /// [`zeebe_authz_server::envoy::check`] called in this process.
    Direct {
        /// The authorizer.
        authorizer: Arc<Authorizer>,
        /// The requests.
        requests: Arc<[CheckRequest]>,
    },
}

/// One prepared Zeebe call.
pub(crate) struct GatewayRequest {
    path: PathAndQuery,
    message: Bytes,
    authorization: AsciiMetadataValue,
}

impl Transport {
    /// Opens `connections` HTTP/2 connections to `addr` and encodes the Checks for `host`.
    pub(crate) async fn check(
        addr: SocketAddr,
        connections: usize,
        prepared: &[Prepared],
        host: &str,
    ) -> anyhow::Result<Transport> {
        let requests = prepared
            .iter()
            .map(|p| Bytes::from(p.to_check_request(host).encode_to_vec()))
            .collect();
        Ok(Transport::Check {
            channels: connect(addr, connections).await?,
            requests,
        })
    }

    /// Opens `connections` HTTP/2 connections to a gateway (or Envoy) at `addr`.
    pub(crate) async fn gateway(
        addr: SocketAddr,
        connections: usize,
        prepared: &[Prepared],
    ) -> anyhow::Result<Transport> {
        let requests = prepared
            .iter()
            .map(|p| {
                Ok(GatewayRequest {
                    path: PathAndQuery::try_from(p.call.path.as_str())?,
                    message: p.call.message.clone(),
                    authorization: MetadataValue::try_from(&*p.authorization)?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Transport::Gateway {
            channels: connect(addr, connections).await?,
            requests,
        })
    }

    /// Calls `authorizer` in-process.
    pub(crate) fn direct(
        authorizer: Arc<Authorizer>,
        prepared: &[Prepared],
        host: &str,
    ) -> Transport {
        Transport::Direct {
            authorizer,
            requests: prepared.iter().map(|p| p.to_check_request(host)).collect(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Transport::Check { requests, .. } => requests.len(),
            Transport::Gateway { requests, .. } => requests.len(),
            Transport::Direct { requests, .. } => requests.len(),
        }
    }

    /// Sends request `index` (modulo the pool) on connection `worker` (modulo connections).
    async fn send(&self, index: u64, worker: usize, timeout: Duration) -> Answer {
        let i = usize::try_from(index).unwrap_or(usize::MAX) % self.len().max(1);
        let call = async {
            match self {
                Transport::Check { channels, requests } => {
                    let channel = channels[worker % channels.len()].clone();
                    let answer = unary(
                        channel,
                        PathAndQuery::from_static(CHECK_PATH),
                        tonic::Request::new(requests[i].clone()),
                    )
                    .await;
                    match answer {
                        Ok(bytes) => match CheckResponse::decode(bytes) {
                            Ok(r) => response_decision(r),
                            Err(_) => Answer::Error("undecodable CheckResponse".into()),
                        },
                        // A gRPC error from an ext_authz server is an outage to Envoy, not a
                        // decision: count it as an error.
                        Err(status) => Answer::Error(error_kind(&status)),
                    }
                }
                Transport::Gateway { channels, requests } => {
                    let r = &requests[i];
                    let channel = channels[worker % channels.len()].clone();
                    let mut request = tonic::Request::new(r.message.clone());
                    request
                        .metadata_mut()
                        .insert("authorization", r.authorization.clone());
                    match drained(channel, r.path.clone(), request).await {
                        Ok(_) => Answer::Decision(0, String::new()),
                        Err(status) if is_transport_error(&status) => {
                            Answer::Error(error_kind(&status))
                        }
                        Err(status) => {
                            Answer::Decision(status.code() as i32, status.message().to_string())
                        }
                    }
                }
                Transport::Direct {
                    authorizer,
                    requests,
                } => decision(
                    &zeebe_authz_server::envoy::check(authorizer, &requests[i], None).await,
                ),
            }
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(answer) => answer,
            Err(_) => Answer::Error("timeout".into()),
        }
    }
}

async fn connect(addr: SocketAddr, connections: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..connections.max(1) {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| anyhow::anyhow!("connecting to {addr}: {}", error_chain(&e)))?;
        channels.push(channel);
    }
    Ok(channels)
}

async fn unary(
    channel: Channel,
    path: PathAndQuery,
    request: tonic::Request<Bytes>,
) -> Result<Bytes, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("transport error: {e}")))?;
    grpc.unary(request, path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// A Zeebe call whose answer may be any number of messages (ActivateJobs streams; a proxy's
/// direct response is trailers-only, with no message): reads them all, returns the status.
async fn drained(
    channel: Channel,
    path: PathAndQuery,
    request: tonic::Request<Bytes>,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("transport error: {e}")))?;
    let mut stream = grpc
        .server_streaming(request, path, RawCodec)
        .await?
        .into_inner();
    while stream.message().await?.is_some() {}
    Ok(())
}

fn is_transport_error(status: &tonic::Status) -> bool {
    status.message().starts_with("transport error")
        || std::error::Error::source(status)
            .is_some_and(|s| s.downcast_ref::<tonic::transport::Error>().is_some())
}

fn error_kind(status: &tonic::Status) -> String {
    if is_transport_error(status) {
        "transport".into()
    } else {
        format!("grpc {}", code_name(status.code() as i32))
    }
}

/// The SCREAMING_CASE name of a gRPC status code.
pub(crate) fn code_name(code: i32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|c| NAMES.get(c))
        .map_or_else(|| format!("CODE_{code}"), |n| (*n).to_string())
}

/// Sends and receives messages as prepared bytes: the generator encodes nothing per call.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
struct RawEncoder;

#[derive(Debug, Clone, Copy, Default)]
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// What a `CheckResponse` from a server says.
fn response_decision(response: CheckResponse) -> Answer {
    match response.status {
        Some(s) => Answer::Decision(s.code, s.message),
        None => Answer::Decision(0, String::new()),
    }
}

/// What a verdict of this process's authorizer says (as its `CheckResponse` would).
fn decision(verdict: &Verdict) -> Answer {
    match verdict.status() {
        Some((code, message)) => Answer::Decision(code as i32, message),
        None => Answer::Decision(0, String::new()),
    }
}

/// What one request got.
enum Answer {
    /// The decision's gRPC status code (0 = allowed) and its message.
    Decision(i32, String),
    /// No decision: transport failure, timeout, a gRPC error from the ext_authz server.
    Error(String),
}

/// What a phase measured.
#[derive(Debug)]
pub(crate) struct Tally {
    /// Latencies in nanoseconds.
    pub(crate) latency: Histogram<u64>,
    /// Decisions by gRPC status code.
    pub(crate) decisions: BTreeMap<i32, u64>,
    /// Errors by kind.
    pub(crate) errors: BTreeMap<String, u64>,
    /// The first message seen with each non-OK decision (what a denied client reads).
    pub(crate) messages: BTreeMap<i32, String>,
    /// From the first send to the last answer.
    pub(crate) elapsed: Duration,
    /// Requests sent after they were due because every worker was busy (open loop).
    pub(crate) late: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency: Histogram::new_with_bounds(
                1_000,
                u64::try_from(MAX_RECORDED.as_nanos()).unwrap_or(u64::MAX),
                3,
            )
            .expect("static histogram bounds are valid"),
            decisions: BTreeMap::new(),
            errors: BTreeMap::new(),
            messages: BTreeMap::new(),
            elapsed: Duration::ZERO,
            late: 0,
        }
    }

    fn record(&mut self, latency: Duration, answer: Answer) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency.saturating_record(nanos.max(1_000));
        match answer {
            Answer::Decision(code, message) => {
                *self.decisions.entry(code).or_default() += 1;
                if code != 0 {
                    self.messages.entry(code).or_insert(message);
                }
            }
            Answer::Error(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latency
            .add(&other.latency)
            .expect("histograms share bounds");
        for (code, n) in other.decisions {
            *self.decisions.entry(code).or_default() += n;
        }
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        for (code, message) in other.messages {
            self.messages.entry(code).or_insert(message);
        }
        self.late += other.late;
    }

    /// Requests answered or failed.
    pub(crate) fn count(&self) -> u64 {
        self.decisions.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }
}

/// Waits until `due`. Tokio's timer fires on millisecond ticks, so at thousands of requests
/// per second the requests due within one tick would all leave together, a burst that queues
/// at the server and shows as latency. `precise` sleeps to within a tick of `due`, then yields
/// until it: requests leave when due, at the price of a busy generator thread (pin it to a
/// core of its own).
async fn wait_until(due: Instant, precise: bool) {
    if !precise {
        tokio::time::sleep_until(due).await;
        return;
    }
    const TICK: Duration = Duration::from_millis(1);
    if due.saturating_duration_since(Instant::now()) > TICK {
        tokio::time::sleep_until(due - TICK).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

/// Runs one phase: sends until `bound` is reached, then waits for the requests in flight.
/// `next` is the index of the next request in the pool, shared across phases so a warm-up
/// does not reuse the measured phase's distinct tokens.
pub(crate) async fn run_phase(
    transport: Arc<Transport>,
    pacing: Pacing,
    bound: Bound,
    timeout: Duration,
    next: Arc<AtomicU64>,
) -> Tally {
    let start = Instant::now();
    let end = bound.duration.map(|d| start + d);
    let issued = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..pacing.workers() {
        let transport = transport.clone();
        let issued = issued.clone();
        let next = next.clone();
        workers.spawn(async move {
            let mut tally = Tally::new();
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if bound.requests.is_some_and(|max| n >= max) {
                    break;
                }
                let (due, sent) = match pacing {
                    Pacing::Closed { .. } => {
                        let now = Instant::now();
                        (now, now)
                    }
                    Pacing::Open { rate, precise, .. } => {
                        let due = start + Duration::from_secs_f64(n as f64 / rate);
                        let now = Instant::now();
                        if now < due {
                            wait_until(due, precise).await;
                            (due, Instant::now())
                        } else {
                            // Every worker was busy when this request was due: it queued.
                            tally.late += 1;
                            (due, due)
                        }
                    }
                };
                if end.is_some_and(|e| due >= e) {
                    break;
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                let answer = transport.send(index, worker, timeout).await;
                tally.record(sent.elapsed(), answer);
            }
            tally
        });
    }
    let mut total = Tally::new();
    while let Some(done) = workers.join_next().await {
        total.merge(done.expect("bench workers do not panic"));
    }
    total.elapsed = start.elapsed();
    total
}
