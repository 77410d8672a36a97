//! `chorus-bench-sandbox`: what running code in a container costs here.
//!
//! Create → exit through the whole path (helper process, libcontainer, tmpfs
//! session, copy back) for `true` (a bash script) and `python3 -c pass`, p50/p99
//! over `--runs`, against the same commands on the bare host; then executions per
//! second at concurrency 1, 2 and 8; and the rootfs size.

use chorus_sandbox::{ExecRequest, HelperCommand, Language, Limits, Sandbox, SandboxConfig};
use clap::Parser;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Code sandbox benchmark: container overhead and executions per second")]
struct Args {
    #[arg(long, default_value_t = 100)]
    runs: usize,
    /// The rootfs (default: $CHORUS_SANDBOX_ROOTFS, else where build-rootfs.sh puts it).
    #[arg(long)]
    rootfs: Option<PathBuf>,
    /// The helper (default: chorus-sandbox-helper next to this binary).
    #[arg(long)]
    helper: Option<PathBuf>,
    /// Executions per concurrency level in the throughput runs.
    #[arg(long, default_value_t = 48)]
    throughput_runs: usize,
}

fn report(name: &str, mut times: Vec<Duration>) -> f64 {
    times.sort();
    let (p50, p99) = (
        chorus_bench::percentile_ms(&times, 0.5),
        chorus_bench::percentile_ms(&times, 0.99),
    );
    println!("{name:<28} p50 {p50:7.1} ms   p99 {p99:7.1} ms");
    p50
}

async fn host(runs: usize, program: &str, args: &[&str]) -> Vec<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let status = tokio::process::Command::new(program)
            .args(args)
            .status()
            .await
            .unwrap();
        assert!(status.success());
        times.push(t.elapsed());
    }
    times
}

async fn contained(sandbox: &Sandbox, runs: usize, lang: Language, code: &str) -> Vec<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let out = sandbox
            .exec("bench", ExecRequest::new(lang, code))
            .await
            .unwrap();
        assert_eq!(out.exit_code, Some(0), "{out:?}");
        times.push(t.elapsed());
    }
    times
}

fn du_mib(path: &std::path::Path) -> f64 {
    let out = std::process::Command::new("du")
        .arg("-sk")
        .arg(path)
        .output()
        .unwrap();
    let kib: f64 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rootfs = args.rootfs.unwrap_or_else(chorus_sandbox::rootfs_from_env);
    let helper = args.helper.unwrap_or_else(|| {
        std::env::current_exe()
            .unwrap()
            .with_file_name("chorus-sandbox-helper")
    });
    let work = tempfile::tempdir()?;
    let sandbox = Sandbox::start(SandboxConfig {
        rootfs: rootfs.clone(),
        work_dir: work.path().to_path_buf(),
        helper: HelperCommand {
            program: helper,
            args: vec![],
        },
        concurrency: 8,
        limits: Limits::default(),
    })
    .await?;
    if let Some(reason) = sandbox.health().reason {
        anyhow::bail!("{reason}");
    }
    // Warm the page cache for the interpreter and the helper.
    contained(&sandbox, 3, Language::Py, "pass").await;

    println!("create → exit over {} runs", args.runs);
    report("host /bin/true", host(args.runs, "/bin/true", &[]).await);
    // Debian's interpreter, like the rootfs's: a `python3` earlier on PATH may be a
    // version manager's shim script that costs ten times Python's own start.
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("python3");
    let host_py = report(
        "host python3 -c pass",
        host(args.runs, python, &["-c", "pass"]).await,
    );
    report(
        "sandbox true (bash)",
        contained(&sandbox, args.runs, Language::Bash, "true").await,
    );
    let box_py = report(
        "sandbox python3 pass",
        contained(&sandbox, args.runs, Language::Py, "pass").await,
    );
    println!(
        "overhead over bare python3: {:.1} ms (p50, helper process included)",
        box_py - host_py
    );

    println!(
        "\nexecutions per second (python3 pass, {} each)",
        args.throughput_runs
    );
    for concurrency in [1usize, 2, 8] {
        let t = Instant::now();
        let per_worker = args.throughput_runs / concurrency;
        let workers =
            (0..concurrency).map(|_| contained(&sandbox, per_worker, Language::Py, "pass"));
        futures::future::join_all(workers).await;
        let rate = (per_worker * concurrency) as f64 / t.elapsed().as_secs_f64();
        println!("concurrency {concurrency}: {rate:6.1} exec/s");
    }
    println!("\nrootfs {}: {:.0} MiB", rootfs.display(), du_mib(&rootfs));
    Ok(())
}
