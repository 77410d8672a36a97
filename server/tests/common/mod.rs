//! What the server tests share: the app in-process or as the real binary, a
//! cookie-keeping browser-like client, and readers of the SSE streams.
#![allow(dead_code)] // each test file uses its own part

use chorus_testkit::MockOpenAi;
use chorus_types::{JobEvent, MessageId, SendResult, UserEvent};
use futures::StreamExt;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// An engine on `store` with `config`'s endpoints, in-process streams and a
/// throwaway secret key, for tests that set data up in the store first.
pub async fn engine_on(
    store: chorus_store::Store,
    config: &chorus_config::Config,
) -> chorus_engine::Engine {
    chorus_engine::Engine::start(
        store,
        chorus_gateway::Gateway::from_config(config),
        chorus_streams::Streams::local(),
        chorus_secrets::SecretBox::ephemeral(),
    )
    .await
    .unwrap()
}

/// A sandbox working under `work`, running containers through this build's
/// `chorus sandbox-exec` helper, on the rootfs `make test` builds.
pub async fn sandbox(work: &Path) -> chorus_sandbox::Sandbox {
    chorus_sandbox::Sandbox::start(chorus_sandbox::SandboxConfig {
        rootfs: chorus_sandbox::rootfs_from_env(),
        work_dir: work.to_path_buf(),
        helper: chorus_sandbox::HelperCommand {
            program: env!("CARGO_BIN_EXE_chorus").into(),
            args: vec!["sandbox-exec".into()],
        },
        concurrency: 4,
        limits: chorus_sandbox::Limits::default(),
    })
    .await
    .unwrap()
}

/// Serves `engine` on a free port; returns the base URL.
pub async fn serve(engine: chorus_engine::Engine, config: &chorus_config::Config) -> String {
    let router = chorus_server::router(engine, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

pub struct Server {
    pub base: String,
    _task: tokio::task::JoinHandle<()>,
}

pub async fn start(data: &Path, yaml: &str) -> Server {
    let config = chorus_config::load_str(yaml, Path::new("test.yaml"), &|_| None)
        .unwrap()
        .config;
    let router =
        chorus_server::build_with_helper(data, &config, env!("CARGO_BIN_EXE_chorus").into())
            .await
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        _task: task,
    }
}

/// A mock upstream that streams with 1 ms between chunks (engine-level tests).
pub async fn fast_mock() -> MockOpenAi {
    MockOpenAi::start(chorus_testkit::MockOptions {
        token_delay: Duration::from_millis(1),
        ..chorus_testkit::MockOptions::default()
    })
    .await
}

/// A config file's text, parsed and checked (as `test.yaml`).
pub fn parse_config(yaml: &str) -> chorus_config::Config {
    chorus_config::load_str(yaml, Path::new("test.yaml"), &|_| None)
        .unwrap()
        .config
}

/// A job's whole log, watched to its end (engine-level tests).
pub async fn job_log(
    engine: &chorus_engine::Engine,
    user: &chorus_types::UserId,
    job: &chorus_types::JobId,
) -> Vec<JobEvent> {
    let stream = engine
        .watch(user, job, 0)
        .await
        .expect("the owner can watch")
        .filter_map(|w| async move { w.event() })
        .map(|e| e.event);
    tokio::time::timeout(Duration::from_secs(60), stream.collect())
        .await
        .expect("the job ends")
}

/// A new account in `store`.
pub async fn user_in(store: &chorus_store::Store, email: &str, name: &str) -> chorus_types::UserId {
    let record = store.create_user(email, name, "h", false).await.unwrap();
    chorus_types::UserId(record.id)
}

/// A config with no endpoints (what a fresh install runs), for plain HTTP.
pub const NO_ENDPOINTS: &str = "server:\n  secureCookies: false\n";

pub fn config_for(mock: &MockOpenAi, extra: &str) -> String {
    format!(
        "{extra}\nserver:\n  secureCookies: false\nendpoints:\n  custom:\n    - name: Mock\n      apiKey: sk-test\n      baseURL: {}\n      models: {{default: [mock-small]}}\n      titleConvo: true\n",
        mock.base_url()
    )
}

/// A browser-like client: keeps cookies, sends a same-origin `Origin`.
pub fn client(base: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", base.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Calls server function `f` on `base`, with that instance's own origin (what
/// a browser sends to a load-balanced site: Origin and Host name the same site,
/// whichever instance answers).
pub async fn call(c: &reqwest::Client, base: &str, f: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = c
        .post(format!("{base}/api/{f}"))
        .header("origin", base)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub async fn register(c: &reqwest::Client, base: &str, email: &str) {
    let (status, body) = call(
        c,
        base,
        "register",
        &[
            ("email", email),
            ("name", ""),
            ("password", "long enough pw"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Signs in; returns the status and body of the answer.
pub async fn login(c: &reqwest::Client, base: &str, email: &str, password: &str) -> (u16, Value) {
    call(
        c,
        base,
        "login",
        &[("email", email), ("password", password)],
    )
    .await
}

/// Sends `text` to the Mock endpoint in a new conversation.
pub async fn send(c: &reqwest::Client, base: &str, text: &str) -> SendResult {
    send_to(c, base, "Mock", "mock-small", text).await
}

/// Sends `text` to `endpoint`/`model` in a new conversation.
pub async fn send_to(
    c: &reqwest::Client,
    base: &str,
    endpoint: &str,
    model: &str,
    text: &str,
) -> SendResult {
    let form = [("endpoint", endpoint), ("model", model), ("text", text)];
    let (status, sent) = call(c, base, "send", &form).await;
    assert_eq!(status, 200, "{sent}");
    serde_json::from_value(sent).unwrap()
}

/// A job's events from `base`, after event `after`, at most `take` of them
/// (all, to the end, when `None`).
pub async fn job_events(
    c: &reqwest::Client,
    base: &str,
    job: &str,
    after: u64,
    take: Option<usize>,
) -> Vec<(u64, JobEvent)> {
    some_events(
        c,
        &format!("{base}/api/jobs/{job}/events"),
        Some(after),
        take,
    )
    .await
}

pub async fn continue_answer(
    c: &reqwest::Client,
    base: &str,
    sent: &SendResult,
    answer: &MessageId,
) -> (u16, Value) {
    let form = [
        ("conversation", sent.conversation.0.as_str()),
        ("message", answer.0.as_str()),
    ];
    call(c, base, "continue", &form).await
}

/// Reads a job's SSE stream to its end: (seq, event) pairs.
pub async fn events(
    c: &reqwest::Client,
    url: &str,
    last_event_id: Option<u64>,
) -> Vec<(u64, JobEvent)> {
    some_events(c, url, last_event_id, None).await
}

/// Reads a job's SSE stream until its end or `take` events (when given), leaving
/// out notices that are not job events (such as `interrupted`).
pub async fn some_events(
    c: &reqwest::Client,
    url: &str,
    last_event_id: Option<u64>,
    take: Option<usize>,
) -> Vec<(u64, JobEvent)> {
    let mut req = c.get(url);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = eventsource_stream::Eventsource::eventsource(resp.bytes_stream());
    let mut out = Vec::new();
    while take.is_none_or(|n| out.len() < n) {
        let next = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an event within 20 s");
        let Some(ev) = next else { break };
        let ev = ev.unwrap();
        if ev.event != "message" {
            continue;
        }
        let event: JobEvent = serde_json::from_str(&ev.data).unwrap();
        let done = event.is_terminal();
        out.push((ev.id.parse().unwrap(), event));
        if done {
            break;
        }
    }
    out
}

pub fn text_of(events: &[(u64, JobEvent)]) -> String {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            JobEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Opens `GET /api/events` and returns its events as they come.
pub async fn user_events(
    c: &reqwest::Client,
    base: &str,
) -> impl futures::Stream<Item = UserEvent> + Unpin {
    let resp = c.get(format!("{base}/api/events")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    Box::pin(
        eventsource_stream::Eventsource::eventsource(resp.bytes_stream())
            .map(|ev| serde_json::from_str::<UserEvent>(&ev.unwrap().data).unwrap()),
    )
}

pub async fn next_event(
    stream: &mut (impl futures::Stream<Item = UserEvent> + Unpin),
) -> UserEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream stays open")
}

/// The real binary on a free port; killed when dropped.
pub struct Process {
    pub child: std::process::Child,
    pub base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn spawn_binary(data: &Path, config: &Path) -> Process {
    spawn_binary_with(data, config, &[]).await
}

/// The binary with extra environment variables.
pub async fn spawn_binary_with(data: &Path, config: &Path, env: &[(&str, &str)]) -> Process {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Owned by `Process` at once, so it is killed and reaped on every path.
    let process = Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("{}/readyz", process.base)).await
            && r.status() == 200
        {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not become ready");
}

/// The model ids `GET /v1/models` lists for `key` (`base` ends in `/v1`).
pub async fn model_ids(http: &reqwest::Client, base: &str, key: &str) -> Vec<String> {
    let body: Value = http
        .get(format!("{base}/models"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}
