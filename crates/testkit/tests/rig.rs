//! Knobs and figures shared by the rigs: environment scaling, latency percentiles.

use std::time::Duration;

/// A number from the environment, or `default` when unset or unreadable.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Mebibytes per second for `bytes` moved in `elapsed`.
pub fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64().max(1e-9)
}

/// Latency samples of one kind of request.
#[derive(Debug, Default, Clone)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    /// The `p`-th percentile (0..=100), nearest rank; zero without samples.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let mut v = self.0.clone();
        v.sort();
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    /// `n=.. p50=.. p99=.. max=..` in milliseconds.
    pub fn summary(&self) -> String {
        format!(
            "n={:>5} p50={:>7.1}ms p99={:>7.1}ms max={:>7.1}ms",
            self.0.len(),
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(100.0)),
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
fn percentiles_by_nearest_rank() {
    let l = Latencies((1..=100).map(Duration::from_millis).collect());
    assert_eq!(l.percentile(99.0), Duration::from_millis(99));
    assert_eq!(l.percentile(50.0), Duration::from_millis(50));
    assert_eq!(l.percentile(100.0), Duration::from_millis(100));
    assert_eq!(Latencies::default().percentile(99.0), Duration::ZERO);
}
