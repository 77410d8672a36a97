//! What the benchmark binaries share.

pub mod proc;

/// This process's resident memory in MiB.
pub fn own_rss_mib() -> f64 {
    proc::rss_kib(std::process::id()).map_or(0.0, |kib| kib as f64 / 1024.0)
}
