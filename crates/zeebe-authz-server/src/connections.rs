//! The Check port's connections: how they are accepted, how many may be open, and when an
//! idle or slow one is closed. tonic serves what this module hands it.
//!
//! - **Accepting with back-off**: when the process runs out of descriptors (`EMFILE`,
//!   `ENFILE`) or memory, `accept` fails at once for as long as the condition lasts; tonic's own
//!   accept loop retries at once and burns a core doing it. Here the accept task sleeps
//!   ([`MIN_ACCEPT_BACKOFF`], doubling up to [`MAX_ACCEPT_BACKOFF`]) and logs once per episode.
//! - **A cap**: at most `max_connections` are open; the next is accepted only when one closes
//!   (the kernel's backlog holds the rest). The effective cap also leaves [`RESERVED_FDS`]
//!   descriptors of the `RLIMIT_NOFILE` soft limit to everything else (JWKS fetches, the admin
//!   port), so the Check port alone cannot exhaust them. At start the soft limit is raised to
//!   the hard limit ([`raise_fd_limit`]).
//! - **A header timeout**: a new connection must complete a request's headers within
//!   `header_timeout`, or it is closed (one that sends nothing, or opens HTTP/2 and never
//!   finishes a request: slowloris). Envoy sends its first request as it connects.
//! - **An idle timeout**: a connection on which no request (a complete HEADERS frame, or
//!   DATA) arrived for `idle_timeout` is closed. Envoy reconnects for its next Check. The
//!   close is abrupt (end of stream, no GOAWAY): a request Envoy sends in the very instant of
//!   the close fails, which is why the default is long.
//! - **Keepalive pings** (HTTP/2 PING, tonic's `http2_keepalive_*`) find dead peers.
//!
//! Activity is read from the bytes the connection receives: a small scanner walks the HTTP/2
//! frame headers (9 bytes each) and notes HEADERS/CONTINUATION frames that end a header block
//! and DATA frames, ignoring PING, SETTINGS and WINDOW_UPDATE, so keepalive traffic does not
//! count as use. The timer is armed once and only re-armed when it fires early.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};

use crate::coalesce::CoalescedWrites;
use zeebe_authz_core::config::ConnectionSettings;

/// Descriptors of the soft limit left to everything but Check connections.
pub(crate) const RESERVED_FDS: u64 = 64;
/// The first wait after `accept` failed for lack of resources.
pub(crate) const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two `accept`s that fail for lack of resources.
pub(crate) const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit in force
/// (logged). A failure is logged and leaves the limit as it was.
pub(crate) fn raise_fd_limit() -> Option<u64> {
    let (before, hard) = rlimit::Resource::NOFILE.get().ok()?;
    match rlimit::increase_nofile_limit(hard) {
        Ok(now) => {
            if now > before {
                tracing::info!(from = before, to = now, hard, "Raised the descriptor limit");
            }
            Some(now)
        }
        Err(e) => {
            tracing::warn!(soft = before, hard, error = %e, "Cannot raise the descriptor limit");
            Some(before)
        }
    }
}

/// The cap in force: `max_connections`, and at most the soft descriptor limit less
/// [`RESERVED_FDS`] (at least 16).
pub(crate) fn effective_cap(max_connections: usize, soft_limit: Option<u64>) -> usize {
    let by_limit = soft_limit.map_or(usize::MAX, |l| {
        usize::try_from(l.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX)
    });
    max_connections.min(by_limit).max(1)
}

/// The accepted connections of `listener`, as tonic takes them: accepted by a task that
/// holds one of `cap` permits per open connection and backs off when resources run out. The
/// task ends when the stream is dropped (tonic drops it at shutdown), closing the listener.
pub(crate) fn incoming(
    listener: TcpListener,
    settings: ConnectionSettings,
    cap: usize,
    gauge: Gauge,
) -> impl tonic::codegen::tokio_stream::Stream<Item = std::io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(1);
    let permits = Arc::new(Semaphore::new(cap));
    tokio::spawn(accept_loop(listener, settings, permits, gauge, tx));
    tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    settings: ConnectionSettings,
    permits: Arc<Semaphore>,
    gauge: Gauge,
    tx: mpsc::Sender<std::io::Result<Conn>>,
) {
    let mut backoff = MIN_ACCEPT_BACKOFF;
    let mut starved = false;
    loop {
        let permit = tokio::select! {
            () = tx.closed() => return,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let accepted = tokio::select! {
            () = tx.closed() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                if starved {
                    tracing::info!("Accepting Check connections again");
                    starved = false;
                }
                backoff = MIN_ACCEPT_BACKOFF;
                // Nagle would delay small Check answers by up to 40 ms.
                let _ = stream.set_nodelay(true);
                let conn = Conn::new(
                    CoalescedWrites::new(stream),
                    settings,
                    permit,
                    gauge.clone(),
                );
                if tx.send(Ok(conn)).await.is_err() {
                    return;
                }
            }
            Err(e) if is_resource_exhaustion(&e) => {
                if !starved {
                    tracing::warn!(error = %e, open = gauge.get(), "Cannot accept Check connections: out of descriptors or memory; backing off");
                    starved = true;
                }
                drop(permit);
                tokio::select! {
                    () = tx.closed() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
            // A connection reset before it was accepted, and the like: the next one.
            Err(e) => tracing::debug!(error = %e, "Accept failed"),
        }
    }
}

/// Whether an `accept` error means the process or system lacks resources (retrying at once
/// would only spin).
fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    // EMFILE 24, ENFILE 23, ENOBUFS 105, ENOMEM 12 (Linux).
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
        || e.kind() == std::io::ErrorKind::OutOfMemory
}

/// One accepted Check connection: its permit and gauge share, and the timeouts.
pub(crate) struct Conn {
    io: CoalescedWrites,
    scan: FrameScan,
    settings: ConnectionSettings,
    /// When the last request arrived (or the connection was accepted).
    last_request: Instant,
    /// Whether a request arrived yet (the header timeout applies until then).
    requested: bool,
    timer: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
    gauge: Gauge,
}

impl Conn {
    fn new(
        io: CoalescedWrites,
        settings: ConnectionSettings,
        permit: OwnedSemaphorePermit,
        gauge: Gauge,
    ) -> Conn {
        gauge.inc();
        let now = Instant::now();
        Conn {
            io,
            scan: FrameScan::default(),
            settings,
            last_request: now,
            requested: false,
            timer: Box::pin(tokio::time::sleep_until(now + settings.header_timeout)),
            _permit: permit,
            gauge,
        }
    }

    /// When the connection is to be closed unless a request arrives.
    fn deadline(&self) -> Instant {
        if self.requested {
            self.last_request + self.settings.idle_timeout
        } else {
            self.last_request + self.settings.header_timeout
        }
    }

    /// Whether the deadline passed (re-arming the timer when it fired early).
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        while self.timer.as_mut().poll(cx).is_ready() {
            let deadline = self.deadline();
            if deadline <= Instant::now() {
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
        false
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.scan.feed(&buf.filled()[before..]) {
                    this.requested = true;
                    this.last_request = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.poll_expired(cx) {
                    tracing::debug!(
                        requested = this.requested,
                        "Closing a Check connection: no request in time"
                    );
                    // End of stream: hyper closes the connection and the descriptor.
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// Walks the HTTP/2 frames a connection receives (after the 24-byte client preface) and says
/// whether a chunk finished a request's header block or carried DATA.
#[derive(Debug, Default)]
struct FrameScan {
    /// Preface bytes still to skip (set on the first byte).
    preface_left: usize,
    started: bool,
    /// A frame header being read (9 bytes).
    header: [u8; 9],
    header_len: usize,
    /// Payload bytes of the current frame still to skip.
    payload_left: usize,
    /// The current frame counts as a request when its payload is complete.
    counts: bool,
}

/// The HTTP/2 client connection preface.
const PREFACE_BYTES: usize = 24;

impl FrameScan {
    /// Feeds received bytes; true when a request frame completed in them.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        if !self.started && !bytes.is_empty() {
            self.started = true;
            self.preface_left = PREFACE_BYTES;
        }
        let mut request = false;
        while !bytes.is_empty() {
            if self.preface_left > 0 {
                let n = self.preface_left.min(bytes.len());
                self.preface_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                if self.payload_left == 0 && self.counts {
                    request = true;
                }
                continue;
            }
            let n = (9 - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len == 9 {
                self.header_len = 0;
                let h = &self.header;
                let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                let (kind, flags) = (h[3], h[4]);
                // DATA (0), or HEADERS (1) / CONTINUATION (9) with END_HEADERS (0x4).
                self.counts = kind == 0 || (matches!(kind, 1 | 9) && flags & 0x4 != 0);
                self.payload_left = len;
                if len == 0 && self.counts {
                    request = true;
                }
            }
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut out = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn the_frame_scan_counts_requests_not_pings_or_settings() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let settings = frame(4, 0, &[0; 6]);
        let ping = frame(6, 0, &[0; 8]);
        let headers_open = frame(1, 0, &[1; 20]);
        let continuation_end = frame(9, 4, &[2; 5]);
        let data = frame(0, 1, &[3; 100]);
        let mut s = FrameScan::default();
        assert!(!s.feed(preface));
        assert!(!s.feed(&settings));
        assert!(!s.feed(&ping));
        assert!(!s.feed(&headers_open), "the header block is not finished");
        assert!(s.feed(&continuation_end));
        assert!(!s.feed(&ping));
        // Byte by byte: the request counts when its last byte arrives.
        let mut counted = Vec::new();
        for b in &data {
            counted.push(s.feed(std::slice::from_ref(b)));
        }
        assert_eq!(counted.iter().filter(|c| **c).count(), 1);
        assert!(counted[counted.len() - 1]);
        // Everything in one chunk.
        let mut s = FrameScan::default();
        let all = [&preface[..], &settings, &frame(1, 4, &[9; 30]), &ping].concat();
        assert!(s.feed(&all));
    }

    #[test]
    fn the_cap_leaves_descriptors_to_the_rest() {
        assert_eq!(effective_cap(10_000, Some(1_048_576)), 10_000);
        assert_eq!(effective_cap(10_000, Some(128)), 64);
        assert_eq!(effective_cap(10_000, Some(20)), 16);
        assert_eq!(effective_cap(5, None), 5);
    }
}
