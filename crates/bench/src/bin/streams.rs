//! `chorus-bench-streams`: the job streams' numbers on this machine, for the
//! in-process backend and for Redis (a real `redis-server` it starts itself).
//!
//! - reconnect → first replayed event: a client that had event k of a
//!   200-event log subscribes again (ownership check + replay), p50/p99;
//! - one job fanned out to N subscribers: events delivered per second, and
//!   this process's RSS while they are attached;
//! - events per second one instance pushes through the backend (many jobs
//!   writing at once, until every event is stored);
//! - RSS after 10,000 finished jobs compared with before them (no leak: the
//!   local backend sweeps finished logs, Redis expires them; this process
//!   must not keep anything per job).

use chorus_streams::{JobMeta, Jobs, RedisConfig, Streams};
use chorus_testkit::redis::RedisServer;
use chorus_types::{ConversationId, JobEvent, JobId, MessageState, UserId};
use clap::Parser;
use futures::StreamExt;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Job streams benchmark: reconnect, fan-out, throughput, memory")]
struct Args {
    /// Subscribers on one job in the fan-out run.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Finished jobs in the memory run.
    #[arg(long, default_value_t = 10_000)]
    finished_jobs: usize,
    /// Only this backend (`local` or `redis`).
    #[arg(long)]
    backend: Option<String>,
}

fn meta() -> JobMeta {
    JobMeta {
        owner: UserId("bench".into()),
        conversation: ConversationId("c".into()),
    }
}

fn delta(i: usize) -> JobEvent {
    JobEvent::Delta {
        text: format!("token{i} "),
    }
}

fn done() -> JobEvent {
    JobEvent::Done {
        state: MessageState::Complete,
        error: None,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let redis = RedisServer::start();
    for name in ["local", "redis"] {
        if args.backend.as_deref().is_some_and(|b| b != name) {
            continue;
        }
        let streams = || async {
            match name {
                "local" => Ok::<_, anyhow::Error>(Streams::local()),
                _ => Streams::redis(RedisConfig::new(redis.url()))
                    .await
                    .map_err(anyhow::Error::msg),
            }
        };
        println!("\n== {name} backend ==");
        reconnect(&streams().await?.jobs).await?;
        fan_out(&streams().await?.jobs, args.subscribers).await?;
        throughput(&streams().await?.jobs).await?;
        memory(&streams().await?.jobs, args.finished_jobs).await?;
    }
    Ok(())
}

async fn reconnect(jobs: &Jobs) -> anyhow::Result<()> {
    let id = JobId("reconnect".into());
    let w = jobs
        .create(id.clone(), meta(), String::new())
        .await
        .map_err(anyhow::Error::msg)?;
    for i in 0..200 {
        w.append(delta(i));
    }
    w.flushed().await;
    let user = meta().owner;
    let mut times = Vec::new();
    for i in 0..1000u64 {
        let t = Instant::now();
        let mut sub = jobs.subscribe(&id, &user, i % 199).await.expect("owner");
        sub.next().await.expect("a replayed event");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "reconnect -> first replayed event: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (1,000 reconnects)",
        chorus_bench::percentile_ms(&times, 0.5),
        chorus_bench::percentile_ms(&times, 0.99),
        chorus_bench::percentile_ms(&times, 1.0)
    );
    Ok(())
}

async fn fan_out(jobs: &Jobs, subscribers: usize) -> anyhow::Result<()> {
    const EVENTS: usize = 1000;
    let id = JobId("fan-out".into());
    let w = jobs
        .create(id.clone(), meta(), String::new())
        .await
        .map_err(anyhow::Error::msg)?;
    let user = meta().owner;
    let before = chorus_bench::own_rss_mib();
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let sub = jobs.subscribe(&id, &user, 0).await.expect("owner");
        readers.push(tokio::spawn(sub.count()));
    }
    let attached = chorus_bench::own_rss_mib();
    let t = Instant::now();
    for i in 0..EVENTS {
        w.append(delta(i));
        if i % 50 == 0 {
            // A model streams; it does not dump everything in one instant.
            tokio::task::yield_now().await;
        }
    }
    w.append(done());
    let mut delivered = 0;
    for r in readers {
        delivered += r.await?;
    }
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(delivered == subscribers * (EVENTS + 1), "lost events");
    println!(
        "one job -> {subscribers} subscribers: {:.0} events/s delivered ({delivered} in {:.2} s); RSS {:.1} MiB before, {:.1} MiB with them attached (+{:.1} KiB each)",
        delivered as f64 / secs,
        secs,
        before,
        attached,
        (attached - before) * 1024.0 / subscribers as f64
    );
    Ok(())
}

async fn throughput(jobs: &Jobs) -> anyhow::Result<()> {
    const JOBS: usize = 100;
    const EVENTS: usize = 1000;
    let mut writers = Vec::new();
    for j in 0..JOBS {
        let id = JobId(format!("throughput-{j}"));
        writers.push(
            jobs.create(id, meta(), String::new())
                .await
                .map_err(anyhow::Error::msg)?,
        );
    }
    let t = Instant::now();
    for i in 0..EVENTS {
        for w in &writers {
            w.append(delta(i));
        }
        tokio::task::yield_now().await;
    }
    for w in &writers {
        w.append(done());
    }
    for w in &writers {
        w.flushed().await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "appended and stored by one instance: {:.0} events/s ({JOBS} jobs x {EVENTS} events in {secs:.2} s)",
        (JOBS * (EVENTS + 1)) as f64 / secs
    );
    Ok(())
}

async fn memory(jobs: &Jobs, count: usize) -> anyhow::Result<()> {
    // Warm up allocator pools and connections, then take the baseline.
    finish_jobs(jobs, "warm", 200).await?;
    jobs.sweep(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = chorus_bench::own_rss_mib();
    // Two rounds: the allocator keeps some freed pages after the first, but a
    // leak would grow the second round by as much again.
    let mut after = Vec::new();
    for round in 0..2 {
        finish_jobs(jobs, &format!("leak{round}"), count).await?;
        // The local backend keeps finished logs for late subscribers until swept.
        jobs.sweep(Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(500)).await;
        after.push(chorus_bench::own_rss_mib());
    }
    println!(
        "{count} finished jobs (20 events each), twice: RSS {before:.1} MiB before, {:.1} MiB after the first {count}, {:.1} MiB after the second",
        after[0], after[1]
    );
    Ok(())
}

async fn finish_jobs(jobs: &Jobs, tag: &str, count: usize) -> anyhow::Result<()> {
    for n in 0..count {
        let id = JobId(format!("{tag}-{n}"));
        let w = jobs
            .create(id, meta(), String::new())
            .await
            .map_err(anyhow::Error::msg)?;
        for i in 0..20 {
            w.append(delta(i));
        }
        w.append(done());
        if n % 100 == 99 {
            w.flushed().await;
        }
    }
    Ok(())
}
