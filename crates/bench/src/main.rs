//! `chorus-bench`: the gateway's numbers on this machine, printed.
//!
//! Starts a fake OpenAI upstream (in this process) that streams 200 chunks per
//! answer and a release `chorus serve` (its own process, so its RSS and CPU can
//! be read from /proc), then:
//!
//! 1. **Time to first token** at fixed request rates (open loop: requests start
//!    on schedule whether or not earlier ones finished), once straight to the
//!    upstream and once through Chorus's `/v1/chat/completions`; the difference
//!    per percentile is what the gateway adds.
//! 2. **CPU per 1,000 forwarded chunks**: Chorus's user+system time over the
//!    through-Chorus runs divided by the chunks it forwarded.
//! 3. **Concurrent streams vs RSS**: holds N slow streams open at once (clients
//!    multiplex them over HTTP/2 so the client side needs few sockets; Chorus
//!    still holds one upstream connection per stream) and reads Chorus's RSS.

mod load;
mod upstream;

use anyhow::{Context, bail};
use chorus_bench::proc;
use clap::Parser;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Gateway benchmark: TTFT added, CPU per chunk, streams vs RSS")]
struct Args {
    /// The `chorus` binary (release build).
    #[arg(long, env = "CHORUS_BIN")]
    chorus: PathBuf,
    /// Request rates for the time-to-first-token runs (requests per second).
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    rates: Vec<u32>,
    /// Seconds of load per rate (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent stream levels to hold open.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    streams: Vec<usize>,
    /// Chunks per answer.
    #[arg(long, default_value_t = 200)]
    chunks: usize,
    /// Seconds to keep each level of streams open after measuring (to inspect
    /// the process by hand).
    #[arg(long, default_value_t = 0)]
    hold_seconds: u64,
    /// Milliseconds between chunks in the rate runs.
    #[arg(long, default_value_t = 5)]
    interval_ms: u64,
}

/// A running `chorus serve` with one user and an API key.
struct Chorus {
    child: tokio::process::Child,
    base: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Chorus {
    async fn start(bin: &std::path::Path, upstream: std::net::SocketAddr) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let run = |args: &[&str]| {
            let out = std::process::Command::new(bin)
                .args(args)
                .arg("--data-dir")
                .arg(&data)
                .output()
                .with_context(|| format!("running {}", bin.display()))?;
            if !out.status.success() {
                bail!("chorus {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        run(&[
            "user",
            "create",
            "--email",
            "bench@example.com",
            "--password",
            "bench password 1",
        ])?;
        let key = run(&["api-key", "create", "--email", "bench@example.com"])?;
        let config = dir.path().join("chorus.yaml");
        std::fs::write(
            &config,
            format!(
                "endpoints:\n  custom:\n    - name: Bench\n      apiKey: sk-bench\n      baseURL: http://{upstream}/v1\n      models: {{default: [fast, slow]}}\n"
            ),
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = tokio::process::Command::new(bin)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .env("CHORUS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                return Ok(Self {
                    child,
                    base,
                    key,
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("chorus did not start on {base}")
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("chorus is running")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let up = upstream::start(upstream::Pace {
        chunks: args.chunks,
        fast_interval: Duration::from_millis(args.interval_ms),
        slow_interval: Duration::from_millis(100),
    })
    .await?;
    let chorus = Chorus::start(&args.chorus, up.addr).await?;
    let pid = chorus.pid();
    let direct = load::Target {
        url: format!("http://{}/v1/chat/completions", up.addr),
        key: "sk-bench".into(),
        model: "fast".into(),
    };
    let gateway = load::Target {
        url: format!("{}/v1/chat/completions", chorus.base),
        key: chorus.key.clone(),
        model: "Bench/fast".into(),
    };
    println!(
        "chorus-bench: {} chunks per answer, {} ms apart; {} s per run; chorus pid {pid}, idle RSS {:.1} MiB",
        args.chunks,
        args.interval_ms,
        args.seconds,
        proc::rss_kib(pid)? as f64 / 1024.0
    );

    println!("\ntime to first token (open loop, HTTP/1.1 keep-alive clients)");
    println!(
        "{:>6}  {:>22}  {:>22}  {:>18}  {:>8}  {:>14}",
        "req/s",
        "direct p50/p99 ms",
        "via chorus p50/p99 ms",
        "added p50/p99 ms",
        "errors",
        "CPU/1k chunks"
    );
    let seconds = Duration::from_secs(args.seconds);
    for &rate in &args.rates {
        let d = load::run_rate(&direct, rate, seconds).await;
        let cpu_before = proc::cpu_time(pid)?;
        let g = load::run_rate(&gateway, rate, seconds).await;
        let cpu = proc::cpu_time(pid)? - cpu_before;
        let chunks = g.completed as f64 * args.chunks as f64;
        println!(
            "{rate:>6}  {:>10.3} / {:>9.3}  {:>10.3} / {:>9.3}  {:>8.3} / {:>7.3}  {:>8}  {:>11.2} ms",
            ms(d.p50),
            ms(d.p99),
            ms(g.p50),
            ms(g.p99),
            ms(g.p50.saturating_sub(d.p50)),
            ms(g.p99.saturating_sub(d.p99)),
            g.errors + d.errors,
            ms(cpu) / (chunks / 1000.0),
        );
        if g.completed + g.errors < g.started {
            println!(
                "        ({} of {} requests through chorus did not finish in time)",
                g.started - g.completed - g.errors,
                g.started
            );
        }
    }

    println!(
        "\nconcurrent open streams through chorus (clients on HTTP/2; one upstream connection per stream)"
    );
    println!(
        "{:>8}  {:>8}  {:>10}  {:>14}  {:>12}",
        "streams", "open", "RSS MiB", "per stream KiB", "ramp-up s"
    );
    let slow = load::Target {
        model: "Bench/slow".into(),
        ..gateway.clone()
    };
    for &n in &args.streams {
        let before = proc::rss_kib(pid)?;
        let held = load::hold_streams(&slow, n, &up.open).await;
        let rss = proc::rss_kib(pid)?;
        println!(
            "{n:>8}  {:>8}  {:>10.1}  {:>14.1}  {:>12.1}",
            held.open,
            rss as f64 / 1024.0,
            (rss.saturating_sub(before)) as f64 / held.open.max(1) as f64,
            held.ramp.as_secs_f64(),
        );
        if let Some(e) = &held.first_error {
            println!("          first error: {e}");
        }
        tokio::time::sleep(Duration::from_secs(args.hold_seconds)).await;
        held.release(&up.open).await;
    }
    Ok(())
}
