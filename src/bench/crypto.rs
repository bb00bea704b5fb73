//! The machine's crypto limit: how many JWT signatures one core verifies per second, through
//! the same aws-lc call (key parsed once per JWK) the authorizer makes on its cold path.
//!
//! The cold-path target is stated against it (distinct tokens at ≥ 0.8 × RS256 verifies per
//! second per core × cores), so the figure is measured on the machine that runs the load, in
//! the same run, rather than quoted from elsewhere.

use std::time::{Duration, Instant};

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;

use serde::Serialize;
use zeebe_authz_core::keyset::{KeyLookup, KeySet, VerifyKey};

use zeebe_authz_core::signing::{SigningKey, access_token_claims, alg_name, jwks};

/// Verification rates of one algorithm.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CryptoFigure {
    /// `RS256`, `PS256`, `ES256`, `EdDSA`.
    pub(crate) alg: String,
    /// Verifies per second on one thread.
    pub(crate) per_core: f64,
    /// Verifies per second on `threads` threads at once (when measured).
    pub(crate) parallel: Option<f64>,
    /// The threads of the parallel measurement.
    pub(crate) threads: usize,
}

/// The report of `bench crypto`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CryptoReport {
    /// Cores the OS offers this process.
    pub(crate) cores: usize,
    /// RS256 per core × cores: the cold-path ceiling the targets refer to.
    pub(crate) rs256_limit: f64,
    /// Every measured algorithm; RS256 first.
    pub(crate) figures: Vec<CryptoFigure>,
}

/// A token signed with a fresh key for `alg`, split at its signature, and the key to verify it.
struct Sample {
    message: String,
    signature: String,
    key: Arc<VerifyKey>,
    alg: Algorithm,
}

impl Sample {
    fn new(alg: Algorithm) -> anyhow::Result<Sample> {
        let key = SigningKey::generate_for(alg, "crypto-bench")?;
        let token = key.sign(&access_token_claims(
            "http://127.0.0.1/realms/bench",
            "zeebe-api",
            "bench-client",
            &["write:*"],
            3600,
        ))?;
        let (message, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| anyhow::anyhow!("a signed token has three segments"))?;
        let keys = KeySet::from_jwks(
            jwks(&[&key]).to_string().as_bytes(),
            std::time::Instant::now(),
        )?;
        let KeyLookup::Found(verify_key) = keys.find(Some(key.kid()), alg) else {
            anyhow::bail!("the {alg:?} key is not usable from its own JWKS");
        };
        let sample = Sample {
            message: message.to_string(),
            signature: signature.to_string(),
            key: verify_key.clone(),
            alg,
        };
        anyhow::ensure!(
            sample.verify_once(),
            "a fresh {alg:?} signature must verify"
        );
        Ok(sample)
    }

    /// The cold path's signature step: base64url-decode the signature, verify it with the key
    /// parsed when the JWKS loaded.
    fn verify_once(&self) -> bool {
        URL_SAFE_NO_PAD.decode(&self.signature).is_ok_and(|sig| {
            self.key
                .verify_signature(self.alg, self.message.as_bytes(), &sig)
        })
    }

    /// Verifies for `duration` on this thread; verifies per second.
    fn rate(&self, duration: Duration) -> f64 {
        let start = Instant::now();
        let mut n = 0u64;
        loop {
            for _ in 0..32 {
                std::hint::black_box(self.verify_once());
            }
            n += 32;
            let elapsed = start.elapsed();
            if elapsed >= duration {
                return n as f64 / elapsed.as_secs_f64();
            }
        }
    }
}

/// Measures `alg` on one thread for `duration`, then (when `threads` > 1) on `threads`
/// threads at once for `duration`.
pub(crate) fn measure(
    alg: Algorithm,
    duration: Duration,
    threads: usize,
) -> anyhow::Result<CryptoFigure> {
    let sample = Sample::new(alg)?;
    let per_core = sample.rate(duration);
    let parallel = (threads > 1).then(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| s.spawn(|| sample.rate(duration)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("verify threads do not panic"))
                .sum()
        })
    });
    Ok(CryptoFigure {
        alg: alg_name(alg).to_string(),
        per_core,
        parallel,
        threads,
    })
}

/// Measures RS256 (per core and on every core) and, more briefly, PS256, ES256 and EdDSA.
pub(crate) fn run(duration: Duration) -> anyhow::Result<CryptoReport> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rs256 = measure(Algorithm::RS256, duration, cores)?;
    let rs256_limit = rs256.per_core * cores as f64;
    let mut figures = vec![rs256];
    for alg in [Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA] {
        figures.push(measure(alg, duration / 2, 1)?);
    }
    Ok(CryptoReport {
        cores,
        rs256_limit,
        figures,
    })
}

impl CryptoReport {
    /// The report as text.
    pub(crate) fn to_text(&self) -> String {
        let mut lines = vec![format!(
            "zeebe-authz bench crypto: {} core(s); RS256 limit {:.0} verifies/s (per core × cores)",
            self.cores, self.rs256_limit
        )];
        for f in &self.figures {
            let parallel = f.parallel.map_or(String::new(), |p| {
                format!(", {p:.0}/s on {} threads at once", f.threads)
            });
            lines.push(format!(
                "  {:<6} {:>8.0} verifies/s per core{parallel}",
                f.alg, f.per_core
            ));
        }
        lines.join("\n") + "\n"
    }
}
