//! MCP and the tool loop: `tools/call` latency to a stdio and a streamable
//! HTTP server (p50/p99), memory per connected MCP server (in Chorus, and
//! the server process), and what one tool round trip through the engine's
//! run loop adds beyond the model turns and the tool itself.
//!
//! Uses the Python-SDK server of the tool tests (`make test` sets up its venv):
//! `cargo run --release -p chorus-bench --bin chorus-bench-tools`.

use chorus_bench::{own_rss_mib, percentile_ms};
use chorus_config::McpServer;
use chorus_engine::{Engine, SendRequest};
use chorus_testkit::{MockOpenAi, MockOptions};
use chorus_tools::Mcp;
use chorus_types::{JobEvent, UserId};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CALLS: usize = 300;

fn toolbox() -> (String, String) {
    let python = std::env::var("HOME").unwrap() + "/.cache/chorus/pyenv/bin/python";
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tools/tests/servers/toolbox.py")
        .to_string_lossy()
        .into_owned();
    (python, script)
}

fn stdio() -> McpServer {
    let (python, script) = toolbox();
    McpServer {
        command: Some(python),
        args: vec![script],
        ..Default::default()
    }
}

async fn latency(mcp: &Mcp, tool: &str) -> Vec<Duration> {
    // Connect and warm up first: the first call starts the server.
    mcp.call(tool, r#"{"a": 1, "b": 1}"#).await;
    let mut times = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let args = format!(r#"{{"a": {i}, "b": 1}}"#);
        let started = Instant::now();
        let out = mcp.call(tool, &args).await;
        times.push(started.elapsed());
        assert!(!out.is_error, "{}", out.content);
    }
    times.sort();
    times
}

fn report(label: &str, times: &[Duration]) {
    println!(
        "{label:<34} p50 {:>6.2} ms   p99 {:>6.2} ms",
        percentile_ms(times, 0.5),
        percentile_ms(times, 0.99)
    );
}

async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!("MCP tools/call (the toolbox's add), {CALLS} calls one after another");
    let mcp = Mcp::new(&BTreeMap::from([("toolbox".to_string(), stdio())]));
    report("stdio", &latency(&mcp, "add_mcp_toolbox").await);

    let (python, script) = toolbox();
    let port = free_port().await;
    let mut server = tokio::process::Command::new(&python)
        .args([&script, "http", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = Mcp::new(&BTreeMap::from([(
        "toolbox".to_string(),
        McpServer {
            url: Some(format!("http://127.0.0.1:{port}/mcp")),
            ..Default::default()
        },
    )]));
    report("streamable HTTP", &latency(&http, "add_mcp_toolbox").await);
    drop(http);
    server.kill().await.ok();

    // Memory: ten stdio servers connected and idle.
    let before = own_rss_mib();
    let many: BTreeMap<String, McpServer> = (0..10).map(|i| (format!("s{i}"), stdio())).collect();
    let many = Mcp::new(&many);
    for i in 0..10 {
        many.definitions(&format!("s{i}"))
            .await
            .map_err(anyhow::Error::msg)?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = own_rss_mib();
    let server_rss = child_rss_kib("toolbox.py");
    println!(
        "idle connected stdio server: {:.2} MiB in Chorus each (10 servers: {:.1} → {:.1} MiB); the Python server process itself: {:.1} MiB",
        (after - before) / 10.0,
        before,
        after,
        server_rss as f64 / 1024.0 / 10.0
    );
    drop(many);

    loop_overhead().await
}

/// RSS of this process's children whose command line mentions `needle`.
fn child_rss_kib(needle: &str) -> u64 {
    let me = std::process::id().to_string();
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let dir = entry.path();
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1));
        let Ok(cmd) = std::fs::read_to_string(dir.join("cmdline")) else {
            continue;
        };
        if ppid == Some(me.as_str()) && cmd.contains(needle) {
            let pid: u32 = entry.file_name().to_string_lossy().parse().unwrap_or(0);
            total += chorus_bench::proc::rss_kib(pid).unwrap_or(0);
        }
    }
    total
}

/// One answer through the engine with and without a tool round trip.
async fn loop_overhead() -> anyhow::Result<()> {
    let mock = MockOpenAi::start(MockOptions {
        token_delay: Duration::ZERO,
        ..MockOptions::default()
    })
    .await;
    let (python, script) = toolbox();
    let yaml = format!(
        "endpoints:\n  custom:\n    - name: Mock\n      apiKey: sk-test\n      baseURL: {}\n      models: {{default: [mock-small]}}\nmcpServers:\n  toolbox:\n    command: {python}\n    args: [\"{script}\"]\n",
        mock.base_url()
    );
    let config = chorus_config::load_str(&yaml, Path::new("bench.yaml"), &|_| None)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .config;
    let store = chorus_store::Store::memory().await?;
    let user = UserId(
        store
            .create_user("b@example.com", "B", "h", false)
            .await?
            .id,
    );
    let engine = Engine::start(
        store,
        chorus_gateway::Gateway::from_config(&config),
        chorus_streams::Streams::local(),
        chorus_secrets::SecretBox::ephemeral(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .with_mcp(Mcp::new(&config.mcp_servers));
    let run = |text: &'static str, tools: Vec<String>| {
        let (engine, user) = (engine.clone(), user.clone());
        async move {
            let started = Instant::now();
            let sent = engine
                .send(
                    &user,
                    SendRequest {
                        conversation: None,
                        parent: None,
                        endpoint: "Mock".into(),
                        model: "mock-small".into(),
                        text: text.into(),
                        tools,
                        files: Vec::new(),
                        agent: None,
                    },
                )
                .await
                .unwrap();
            let mut events = engine.watch(&user, &sent.job, 0).await.unwrap();
            while let Some(w) = events.next().await {
                if let Some(e) = w.event()
                    && matches!(e.event, JobEvent::Done { .. })
                {
                    break;
                }
            }
            started.elapsed()
        }
    };
    let rounds = 60;
    let (mut plain, mut with_tool) = (Vec::new(), Vec::new());
    run(
        "warm up [[call:add_mcp_toolbox {\"a\": 1, \"b\": 1}]]",
        vec!["mcp:toolbox".into()],
    )
    .await;
    for _ in 0..rounds {
        plain.push(run("hi", Vec::new()).await);
        with_tool.push(
            run(
                "[[call:add_mcp_toolbox {\"a\": 1, \"b\": 1}]]",
                vec!["mcp:toolbox".into()],
            )
            .await,
        );
    }
    plain.sort();
    with_tool.sort();
    println!("\nthe engine's loop ({rounds} answers each, mock upstream with no token delay)");
    report("answer, no tools (1 model turn)", &plain);
    report("answer with 1 MCP call (2 turns)", &with_tool);
    println!(
        "one tool round trip adds {:.2} ms at p50 (the tool's own call included; subtract the stdio figure above for the loop's share)",
        percentile_ms(&with_tool, 0.5) - percentile_ms(&plain, 0.5)
    );
    Ok(())
}
