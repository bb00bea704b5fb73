//! The memory of a full verified-token cache: an in-process authorizer is sent N distinct
//! valid tokens (each verified and cached), then the process's resident set is read.
//!
//! Tokens are minted, checked and dropped one at a time, so what stays resident is the
//! authorizer and its cache, not the load. They are signed with Ed25519 because RSA signing
//! would make minting 100k tokens take minutes; the cache keeps a hash and the distilled
//! principal, never the token, so the algorithm does not change what is measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use jsonwebtoken::Algorithm;
use serde::Serialize;

use super::mix::{BodyFields, Minter, RpcMix, prepare};
use super::target::{Direct, OursOptions};
use zeebe_authz_core::signing::SigningKey;

/// The memory target: 100k cached tokens in under 64 MiB resident.
pub(crate) const TARGET_RSS_BYTES: u64 = 64 << 20;

/// The report of `bench memory`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MemoryReport {
    /// Tokens sent.
    pub(crate) tokens: u64,
    /// Of those, allowed (verified and cached).
    pub(crate) allowed: u64,
    /// Entries in the cache afterwards.
    pub(crate) cache_entries: u64,
    /// Resident set before the authorizer was built, bytes.
    pub(crate) rss_start: u64,
    /// Resident set with the authorizer built and its keys loaded, bytes.
    pub(crate) rss_empty_cache: u64,
    /// Resident set with the cache full, bytes.
    pub(crate) rss_full_cache: u64,
    /// (full − empty) / entries.
    pub(crate) bytes_per_entry: f64,
    /// Seconds to mint and check every token.
    pub(crate) fill_secs: f64,
}

/// The resident set of this process in bytes (Linux `/proc/self/status`), if readable.
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Fills an in-process authorizer's cache with `tokens` distinct tokens on `runtime`.
pub(crate) fn run(
    runtime: &tokio::runtime::Runtime,
    logs: &tracing::Dispatch,
    tokens: u64,
    options: OursOptions,
) -> anyhow::Result<MemoryReport> {
    let rss_start = resident_bytes().unwrap_or(0);
    let direct = Direct::start(
        logs,
        OursOptions {
            key: SigningKey::generate_for(Algorithm::EdDSA, "bench-memory")?,
            ..options
        },
    )?;
    let rss_empty_cache = resident_bytes().unwrap_or(0);
    let started = Instant::now();
    let allowed = Arc::new(AtomicU64::new(0));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let key = direct.issuer.key.clone();
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..workers {
            let authorizer = direct.authorizer.clone();
            let allowed = allowed.clone();
            let issuer = direct.issuer.url.clone();
            let key = key.clone();
            let share = tokens / workers + u64::from(w < tokens % workers);
            tasks.spawn(async move {
                let permissions = ["write:*".to_string()];
                let minter = Minter {
                    key: &key,
                    issuer: &issuer,
                    audience: crate::dev::AUDIENCE,
                    permissions: &permissions,
                    tenants: &[],
                };
                let calls = RpcMix::Topology.calls(&BodyFields {
                    tenant: String::new(),
                    bpmn_process_id: String::new(),
                    job_type: String::new(),
                    variables_bytes: 0,
                });
                for _ in 0..share {
                    let token = minter.mint()?;
                    let request = prepare(&[token], &calls)[0].to_check_request("zeebe:26500");
                    let verdict =
                        zeebe_authz_server::envoy::check(&authorizer, &request, None).await;
                    if verdict.status().is_none() {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        anyhow::Ok(())
    })?;
    let fill_secs = started.elapsed().as_secs_f64();
    let generation = direct.authorizer.current();
    let cache = &generation.cache;
    let cache_entries = cache.len();
    let rss_full_cache = resident_bytes().unwrap_or(0);
    let report = MemoryReport {
        tokens,
        allowed: allowed.load(Ordering::Relaxed),
        cache_entries,
        rss_start,
        rss_empty_cache,
        rss_full_cache,
        bytes_per_entry: rss_full_cache.saturating_sub(rss_empty_cache) as f64
            / cache_entries.max(1) as f64,
        fill_secs,
    };
    direct.shutdown();
    Ok(report)
}

impl MemoryReport {
    /// The report as text.
    pub(crate) fn to_text(&self) -> String {
        let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
        format!(
            "zeebe-authz bench memory: {} distinct tokens sent, {} allowed, {} cached ({:.1} s)\n  \
             resident  {:.1} MiB at start, {:.1} MiB with an empty cache, {:.1} MiB with the cache full\n  \
             per entry {:.0} bytes; target < {} MiB: {}\n",
            self.tokens,
            self.allowed,
            self.cache_entries,
            self.fill_secs,
            mib(self.rss_start),
            mib(self.rss_empty_cache),
            mib(self.rss_full_cache),
            self.bytes_per_entry,
            TARGET_RSS_BYTES >> 20,
            if self.rss_full_cache < TARGET_RSS_BYTES {
                "met"
            } else {
                "missed"
            }
        )
    }
}
