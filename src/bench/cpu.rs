//! CPU time per request: the user + system time a process (or a group of this process's
//! threads) spent during the measured phase, read from `/proc` (Linux) before and after it.
//!
//! On a shared VM throughput swings ±20 % between rounds; the CPU one request costs each
//! party (authorizer, Envoy, the generator itself) is much steadier, and adds up to the cost
//! of the hop.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to measure: a process by pid, or this process's threads whose name starts with a
/// prefix (an in-process server's runtime). Threads are summed as they are at each sample, so a
/// thread that ends between two samples takes its time with it: tokio's worker threads live as
/// long as their runtime, which covers the measured phase.
#[derive(Debug, Clone)]
pub(crate) enum CpuSource {
    /// Another process.
    Pid(u32),
    /// Threads of this process (`/proc/self/task/*/comm` starting with it).
    Threads(&'static str),
}

/// `NAME=PID` from the command line.
pub(crate) fn parse_cpu_of(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NAME=PID"))?;
    let pid = pid
        .parse()
        .map_err(|_| format!("'{pid}' in '{s}' is not a pid"))?;
    if name.is_empty() {
        return Err(format!("'{s}' has no name"));
    }
    Ok((name.to_owned(), pid))
}

/// The CPU seconds (user + system) of each source, now; `None` where `/proc` cannot tell.
pub(crate) fn sample(sources: &[(String, CpuSource)]) -> Vec<Option<f64>> {
    sources
        .iter()
        .map(|(_, source)| match source {
            CpuSource::Pid(pid) => stat_seconds(&PathBuf::from(format!("/proc/{pid}/stat"))),
            CpuSource::Threads(prefix) => threads_seconds(prefix),
        })
        .collect()
}

/// CPU µs per request of each source between two samples.
pub(crate) fn per_request(
    sources: &[(String, CpuSource)],
    before: &[Option<f64>],
    after: &[Option<f64>],
    requests: u64,
) -> BTreeMap<String, f64> {
    sources
        .iter()
        .zip(before.iter().zip(after))
        .filter_map(|((name, _), (b, a))| {
            let spent = a.as_ref()? - b.as_ref()?;
            (requests > 0).then(|| (name.clone(), spent * 1e6 / requests as f64))
        })
        .collect()
}

fn threads_seconds(prefix: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut any = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(prefix)
            && let Some(s) = stat_seconds(&task.path().join("stat"))
        {
            total += s;
            any = true;
        }
    }
    any.then_some(total)
}

/// utime + stime of a `/proc/…/stat` file, in seconds.
fn stat_seconds(path: &std::path::Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / CLOCK_TICKS_PER_SECOND)
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux architecture this runs on (USER_HZ).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_of_this_process_grows_with_work() {
        let sources = vec![("me".to_string(), CpuSource::Pid(std::process::id()))];
        let before = sample(&sources);
        // A fixed amount of work, not a fixed wall time: on a loaded machine 300 ms of wall
        // time gave less than 100 ms of CPU and the test failed. 200 million dependent steps
        // take at least 50 ms of CPU on any core of today (even at 4 GHz and one step a cycle;
        // a dependent multiply takes several).
        let mut x = 0u64;
        for _ in 0..200_000_000u64 {
            x = std::hint::black_box(x)
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = sample(&sources);
        let per = per_request(&sources, &before, &after, 1);
        assert!(per["me"] >= 50_000.0, "{per:?}");
        assert_eq!(parse_cpu_of("envoy=42"), Ok(("envoy".into(), 42)));
        assert!(parse_cpu_of("envoy").is_err());
        assert!(parse_cpu_of("=1").is_err());
    }
}
