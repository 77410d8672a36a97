//! The load: open-loop request rates with time to first token, and many
//! streams held open at once.

use bytes::Bytes;
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The first content chunk's text, as both the upstream and Chorus write it.
const FIRST_TOKEN: &[u8] = b"t0 \"";
/// How long in-flight requests may take to finish after a run's schedule ends.
const DRAIN: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub key: String,
    pub model: String,
}

impl Target {
    fn body(&self) -> Bytes {
        Bytes::from(
            serde_json::json!({
                "model": self.model, "stream": true,
                "messages": [{"role": "user", "content": "bench"}],
            })
            .to_string(),
        )
    }
}

enum Outcome {
    /// Time to first token; the stream then ran to `[DONE]`.
    Done(Duration),
    Failed(String),
}

/// Sends one streamed request, reports the first token through `on_first`,
/// and reads the answer to its end.
async fn one(
    http: &reqwest::Client,
    target: &Target,
    body: Bytes,
    on_first: impl FnOnce(Duration),
) -> Outcome {
    let t0 = Instant::now();
    let resp = match http
        .post(&target.url)
        .bearer_auth(&target.key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return Outcome::Failed(format!("HTTP {}", r.status())),
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let mut stream = resp.bytes_stream();
    let mut head = Vec::new();
    let mut ttft = None;
    let mut on_first = Some(on_first);
    let mut tail = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        if ttft.is_none() {
            head.extend_from_slice(&chunk);
            if head.windows(FIRST_TOKEN.len()).any(|w| w == FIRST_TOKEN) {
                let at = t0.elapsed();
                ttft = Some(at);
                if let Some(f) = on_first.take() {
                    f(at);
                }
            }
        }
        // Keep the last bytes only, to check the end marker.
        tail.extend_from_slice(&chunk);
        if tail.len() > 64 {
            tail.drain(..tail.len() - 64);
        }
    }
    match ttft {
        Some(t) if tail.ends_with(b"data: [DONE]\n\n") => Outcome::Done(t),
        Some(_) => Outcome::Failed("the stream ended without [DONE]".into()),
        None => Outcome::Failed("no first token".into()),
    }
}

pub struct RateResult {
    pub p50: Duration,
    pub p99: Duration,
    pub started: usize,
    pub completed: usize,
    pub errors: usize,
}

/// Requests one rate run keeps open at most (see `run_rate`).
const MAX_IN_FLIGHT: usize = 6_000;

/// `rate` requests per second for one warm-up second, then for `length`;
/// only the latter counts.
pub async fn run_rate(target: &Target, rate: u32, length: Duration) -> RateResult {
    let http = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .expect("a static client configuration");
    let body = target.body();
    let ttfts = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let warmup = rate as usize;
    let total = warmup + (length.as_secs_f64() * f64::from(rate)) as usize;
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    // Open loop, but bounded: past saturation requests pile up without end and
    // the process runs out of file descriptors (limit 20,000 here; each request
    // holds a client and an upstream socket in this process). A request that
    // finds the limit reached counts as an error.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        ticks.tick().await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("first error at {rate} req/s: {MAX_IN_FLIGHT} requests in flight");
            }
            continue;
        };
        let (http, target, body) = (http.clone(), target.clone(), body.clone());
        let (ttfts, errors) = (ttfts.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            match one(&http, &target, body, |_| {}).await {
                Outcome::Done(t) if i >= warmup => ttfts.lock().unwrap().push(t),
                Outcome::Done(_) => {}
                Outcome::Failed(e) => {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("first error at {rate} req/s: {e}");
                    }
                }
            }
        }));
    }
    let _ = tokio::time::timeout(DRAIN, futures::future::join_all(tasks)).await;
    let mut v = ttfts.lock().unwrap().clone();
    v.sort();
    RateResult {
        p50: chorus_bench::percentile(&v, 0.5),
        p99: chorus_bench::percentile(&v, 0.99),
        started: total - warmup,
        completed: v.len(),
        errors: errors.load(Ordering::Relaxed),
    }
}

pub struct Held {
    /// Streams that got their first token and were still open when counted.
    pub open: usize,
    pub ramp: Duration,
    pub first_error: Option<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Held {
    /// Drops every stream and waits until Chorus has closed its upstream ones.
    pub async fn release(self, upstream_open: &AtomicUsize) {
        for t in &self.tasks {
            t.abort();
        }
        let until = Instant::now() + Duration::from_secs(60);
        while upstream_open.load(Ordering::Relaxed) > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Clients per level: HTTP/2 servers allow a bounded number of streams per
/// connection (hyper: 200), so streams are spread over this many connections.
const H2_CONNECTIONS: usize = 100;
/// Streams opened per second while ramping up.
const OPEN_RATE: f64 = 2_000.0;

/// Opens `n` slow streams through `target` and returns once all are open (or
/// a minute has passed), with the streams still running.
pub async fn hold_streams(target: &Target, n: usize, upstream_open: &AtomicUsize) -> Held {
    let clients: Vec<reqwest::Client> = (0..H2_CONNECTIONS)
        .map(|_| {
            reqwest::Client::builder()
                .http2_prior_knowledge()
                .build()
                .expect("a static client configuration")
        })
        .collect();
    let body = target.body();
    let open = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(Mutex::new(None));
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / OPEN_RATE));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        ticks.tick().await;
        let (http, target, body) = (
            clients[i % H2_CONNECTIONS].clone(),
            target.clone(),
            body.clone(),
        );
        let (open, failed, first_error) = (open.clone(), failed.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let counted = open.clone();
            match one(&http, &target, body, move |_| {
                counted.fetch_add(1, Ordering::Relaxed);
            })
            .await
            {
                Outcome::Done(_) => {
                    open.fetch_sub(1, Ordering::Relaxed);
                }
                Outcome::Failed(e) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    first_error.lock().unwrap().get_or_insert(e);
                }
            }
        }));
    }
    let until = Instant::now() + Duration::from_secs(60);
    while open.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < n
        && Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ramp = started.elapsed();
    // Let allocations settle, then count what is open on both sides.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let open_now = open
        .load(Ordering::Relaxed)
        .min(upstream_open.load(Ordering::Relaxed));
    let first_error = first_error.lock().unwrap().take();
    Held {
        open: open_now,
        ramp,
        first_error,
        tasks,
    }
}
