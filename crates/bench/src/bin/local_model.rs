//! `chorus-bench-local`: the built-in local model's numbers on this machine
//! (SmolLM2-135M-Instruct, Q4_1, through the gateway's `local` provider).
//!
//! For 1 and 2 threads: the first answer's time to first token on a fresh
//! endpoint (the model file is loaded then), and over several warm answers the
//! time to first token and tokens per second while generating; and this
//! process's RSS before the model and with it loaded.

use chorus_gateway::{ChatMessage, ChatRequest, LocalModel, LocalSettings, Provider, StreamEvent};
use clap::Parser;
use futures::StreamExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Local model benchmark: load, time to first token, tokens/s, RSS")]
struct Args {
    /// The GGUF file (default: the test model fetched by scripts/fetch-model.sh).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Warm answers per thread count.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Tokens per answer.
    #[arg(long, default_value_t = 128)]
    tokens: u32,
}

struct Run {
    first_token: Duration,
    tokens: u64,
    generating: Duration,
}

async fn answer(model: &LocalModel, tokens: u32) -> anyhow::Result<Run> {
    let request = ChatRequest {
        model: "bench".into(),
        messages: vec![ChatMessage::user(
            "Tell me a long story about a lighthouse keeper.",
        )],
        max_tokens: Some(tokens),
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    let started = Instant::now();
    let mut first = None;
    let mut produced = 0;
    let mut stream = model.stream(request);
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Text(_) if first.is_none() => first = Some(started.elapsed()),
            StreamEvent::Usage(u) => produced = u.output_tokens,
            _ => {}
        }
    }
    let first_token = first.unwrap_or_default();
    Ok(Run {
        first_token,
        tokens: produced,
        generating: started.elapsed() - first_token,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = args.model.unwrap_or_else(chorus_testkit::test_model);
    println!("model {}", path.display());
    for threads in [1, 2] {
        let rss_before = chorus_bench::own_rss_mib();
        let model = LocalModel::start(
            "bench",
            LocalSettings {
                threads,
                ..LocalSettings::new(&path)
            },
        );
        let cold = answer(&model, 8).await?;
        let rss_loaded = chorus_bench::own_rss_mib();
        let mut warm = Vec::new();
        for _ in 0..args.runs {
            warm.push(answer(&model, args.tokens).await?);
        }
        let ttft: Vec<f64> = warm
            .iter()
            .map(|r| r.first_token.as_secs_f64() * 1000.0)
            .collect();
        let rates: Vec<f64> = warm
            .iter()
            .map(|r| r.tokens.saturating_sub(1) as f64 / r.generating.as_secs_f64())
            .collect();
        let rss_after = chorus_bench::own_rss_mib();
        println!(
            "{threads} thread(s): first answer's first token {:.0} ms (model load included); warm first token {:.0} ms (median of {}); {:.1} tokens/s (median; {} tokens per answer); RSS {rss_before:.0} MiB before, {rss_loaded:.0} MiB loaded, {rss_after:.0} MiB after the runs",
            cold.first_token.as_secs_f64() * 1000.0,
            median(&ttft),
            warm.len(),
            median(&rates),
            warm.first().map_or(0, |r| r.tokens),
        );
        // The next thread count starts from an unloaded model.
        drop(model);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
