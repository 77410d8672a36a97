//! What the benchmark binaries share.

pub mod proc;

/// This process's resident memory in MiB.
pub fn own_rss_mib() -> f64 {
    proc::rss_kib(std::process::id()).map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// The `p` quantile (0.0..=1.0) of sorted durations, nearest rank.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The same, in milliseconds.
pub fn percentile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    percentile(sorted, p).as_secs_f64() * 1000.0
}
