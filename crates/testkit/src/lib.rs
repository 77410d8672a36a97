//! A local upstream that speaks OpenAI's Chat Completions protocol as OpenAI
//! documents it: `text/event-stream` with one `data: {chunk}` per event, a usage
//! chunk with `choices: []` when `stream_options.include_usage` is set, `data: [DONE]`,
//! and `{"error": {...}}` bodies with the documented status codes.
//!
//! What it answers is driven by the last user message, so tests can reach every
//! path through the real HTTP stack:
//!
//! | the message contains | the upstream                                             |
//! |----------------------|----------------------------------------------------------|
//! | `[[status:N]]`       | answers HTTP N with OpenAI's error body for that status  |
//! | `[[malformed]]`      | streams one chunk, then a line that is not JSON          |
//! | `[[cut]]`            | streams some text, then closes without finish or `[DONE]` |
//! | `[[slow]]`           | waits 150 ms between chunks (for stop/reload tests)      |
//! | anything else        | streams a markdown answer that quotes the message        |
//!
//! Offered tools, it plays a model that uses them: `[[call:NAME {json}]]` in the
//! user message calls the offered tool NAME with those arguments (several such
//! directives: calls in parallel); otherwise, offered `execute_code`, each fenced
//! code block becomes a call `{"lang": <fence tag>, "code": …}`. Calls stream as
//! OpenAI streams them (finish reason `tool_calls`); when the last messages are
//! `tool` results it answers from them ([`answer_from_tools`]).

pub mod redis;

/// The real small model the tests talk to (SmolLM2-135M-Instruct):
/// `CHORUS_TEST_MODEL`, else where `scripts/fetch-model.sh ~/.cache/chorus`
/// puts it (`make test` runs that first).
pub fn test_model() -> std::path::PathBuf {
    let path = std::env::var_os("CHORUS_TEST_MODEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/chorus/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    assert!(
        path.is_file(),
        "the test model {} is missing: run `scripts/fetch-model.sh ~/.cache/chorus`",
        path.display()
    );
    path
}
pub mod surreal;
pub mod upstream;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the mock behaves.
#[derive(Clone, Debug)]
pub struct MockOptions {
    /// When set, requests must carry `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Delay between streamed chunks.
    pub token_delay: Duration,
    /// Model ids served by `GET /v1/models`.
    pub models: Vec<String>,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            api_key: Some("sk-test".into()),
            token_delay: Duration::from_millis(5),
            models: vec!["mock-small".into(), "mock-large".into()],
        }
    }
}

/// A request the mock received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone)]
struct Shared {
    options: MockOptions,
    recorded: Arc<Mutex<Vec<Recorded>>>,
}

/// A running mock upstream; stops when dropped.
pub struct MockOpenAi {
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl MockOpenAi {
    /// Starts on an ephemeral loopback port.
    pub async fn start(options: MockOptions) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), options).await
    }

    pub async fn start_on(addr: SocketAddr, options: MockOptions) -> Self {
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind mock upstream");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(Shared {
            options,
            recorded: recorded.clone(),
        });
        // Chunks go out at once (no Nagle delay), as a real provider's do.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .ok();
        });
        Self {
            addr,
            recorded,
            _shutdown: tx,
        }
    }

    /// The `baseURL` to configure (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }
}

/// The reasoning the mock streams for a `[[think]]` prompt.
pub fn reasoning_for(prompt: &str) -> String {
    format!(
        "The user wrote \"{}\". I should answer with some markdown.",
        prompt.trim()
    )
}

/// The answer the mock streams for `prompt` (tests compare against it).
pub fn answer_for(prompt: &str) -> String {
    let quoted = prompt.trim().replace('\n', " ");
    format!(
        "You said: **{quoted}**\n\nHere is a code block:\n\n```python\nprint(\"hello from chorus\")\n```\n\nAnd a list:\n\n- one\n- two\n"
    )
}

/// The code blocks of a message: (fence tag, code).
pub fn code_blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let Some(newline) = after.find('\n') else {
            break;
        };
        let lang = after[..newline].trim().to_string();
        let body = &after[newline + 1..];
        let Some(end) = body.find("```") else { break };
        out.push((lang, body[..end].to_string()));
        rest = &body[end + 3..];
    }
    out
}

/// What the mock answers after its tool calls, from their results in order.
pub fn answer_from_tools(results: &[String]) -> String {
    let mut answer = String::from("I ran the code.\n");
    for r in results {
        answer.push_str(&format!(
            "\nIt returned:\n\n```text\n{}\n```\n",
            r.trim_end()
        ));
    }
    answer
}

/// The title the mock writes for a conversation whose first message is `prompt`.
pub fn title_for(prompt: &str) -> String {
    let words: Vec<&str> = prompt.split_whitespace().take(3).collect();
    format!("Chat about {}", words.join(" "))
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .with_state(shared)
}

fn error(status: StatusCode, message: &str, kind: &str, code: Value) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, "1".parse().unwrap());
    }
    resp
}

fn unauthorized(headers: &HeaderMap, shared: &Shared) -> Option<Response> {
    let expected = shared.options.api_key.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    (given != expected).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            &format!("Incorrect API key provided: {given}. You can find your API key at https://platform.openai.com/account/api-keys."),
            "invalid_request_error",
            json!("invalid_api_key"),
        )
    })
}

async fn models(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(resp) = unauthorized(&headers, &shared) {
        return resp;
    }
    let data: Vec<Value> = shared
        .options
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "chorus-testkit"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|ms| ms.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The status a `[[status:N]]` directive asks for.
fn directive_status(text: &str) -> Option<u16> {
    let start = text.find("[[status:")? + "[[status:".len();
    let end = text[start..].find("]]")? + start;
    text[start..end].parse().ok()
}

async fn chat(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("We could not parse the JSON body of your request. ({e})"),
                "invalid_request_error",
                Value::Null,
            );
        }
    };
    shared.recorded.lock().unwrap().push(Recorded {
        path: "/v1/chat/completions".into(),
        headers: headers.clone(),
        body: body.clone(),
    });
    if let Some(resp) = unauthorized(&headers, &shared) {
        return resp;
    }
    let model = body["model"].as_str().unwrap_or_default().to_string();
    if !shared.options.models.contains(&model) {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            json!("model_not_found"),
        );
    }
    let prompt = last_user_text(&body);
    if let Some(status) = directive_status(&prompt) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return match status.as_u16() {
            429 => error(
                status,
                "Rate limit reached for requests. Please try again in 1s.",
                "requests",
                json!("rate_limit_exceeded"),
            ),
            401 => error(
                status,
                "Incorrect API key provided.",
                "invalid_request_error",
                json!("invalid_api_key"),
            ),
            _ => error(
                status,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                Value::Null,
            ),
        };
    }
    let streaming = body["stream"].as_bool().unwrap_or(false);
    if !streaming {
        // A non-streamed request is how Chorus asks for titles.
        let first_user = body["messages"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        let convo = first_user.rsplit("User: ").next().unwrap_or(first_user);
        let convo = convo.split('\n').next().unwrap_or(convo);
        return axum::Json(json!({
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": title_for(convo)}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}
        }))
        .into_response();
    }
    // `[[no-usage]]` plays a server that never reports usage, even when asked.
    let include_usage = body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false)
        && !prompt.contains("[[no-usage]]");
    let delay = if prompt.contains("[[slow]]") {
        Duration::from_millis(150)
    } else {
        shared.options.token_delay
    };
    let malformed = prompt.contains("[[malformed]]");
    let cut = prompt.contains("[[cut]]");
    let (answer, tool_calls) = match tool_turn(&body) {
        Some(ToolTurn::Call(calls)) => (String::new(), calls),
        Some(ToolTurn::Answer(results)) => (answer_from_tools(&results), Vec::new()),
        None => (answer_for(&prompt), Vec::new()),
    };
    let stream = sse_body(StreamPlan {
        model,
        answer,
        tool_calls,
        // `[[think]]` plays a reasoning model (DeepSeek's `reasoning_content`).
        reasoning: if prompt.contains("[[think]]") {
            reasoning_for(&prompt)
        } else {
            String::new()
        },
        delay,
        include_usage,
        malformed,
        cut,
        prompt_len: prompt.len(),
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap()
}

enum ToolTurn {
    /// Make these calls: (tool name, arguments as JSON text).
    Call(Vec<(String, String)>),
    /// Answer from these tool results.
    Answer(Vec<String>),
}

/// What a model offered `execute_code` does next, if it uses the tool.
fn tool_turn(body: &Value) -> Option<ToolTurn> {
    let offered: Vec<&str> = body["tools"]
        .as_array()?
        .iter()
        .filter(|t| t["type"] == "function")
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    if offered.is_empty() {
        return None;
    }
    let messages = body["messages"].as_array()?;
    let last = messages.last()?;
    if last["role"] == "tool" {
        let results = messages
            .iter()
            .rev()
            .take_while(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>();
        return Some(ToolTurn::Answer(results.into_iter().rev().collect()));
    }
    if last["role"] != "user" {
        return None;
    }
    let text = last["content"].as_str()?;
    let directed: Vec<(String, String)> = call_directives(text)
        .into_iter()
        .filter(|(name, _)| offered.contains(&name.as_str()))
        .collect();
    if !directed.is_empty() {
        return Some(ToolTurn::Call(directed));
    }
    if !offered.contains(&"execute_code") {
        return None;
    }
    let calls: Vec<(String, String)> = code_blocks(text)
        .into_iter()
        .map(|(lang, code)| {
            let args = json!({"lang": lang, "code": code}).to_string();
            ("execute_code".to_string(), args)
        })
        .collect();
    (!calls.is_empty()).then_some(ToolTurn::Call(calls))
}

/// The `[[call:NAME {json}]]` directives of a message: (name, arguments).
fn call_directives(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[[call:") {
        let after = &rest[start + "[[call:".len()..];
        let Some(end) = after.find("]]") else { break };
        let inner = after[..end].trim();
        let (name, args) = inner.split_once(' ').unwrap_or((inner, "{}"));
        out.push((name.to_string(), args.trim().to_string()));
        rest = &after[end + 2..];
    }
    out
}

/// Splits the answer into word-sized pieces, like a tokenizer would.
fn pieces(answer: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in answer.chars() {
        cur.push(ch);
        if ch == ' ' || ch == '\n' {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn chunk(model: &str, delta: Value, finish: Value) -> Bytes {
    let c = json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    });
    Bytes::from(format!("data: {c}\n\n"))
}

/// The usage chunk sent after the finish when `stream_options.include_usage` is set.
fn usage_chunk(model: &str, prompt: usize, completion: usize) -> Bytes {
    let usage = json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": model, "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    });
    Bytes::from(format!("data: {usage}\n\n"))
}

/// Waits `delay` between chunks; none at all when it is zero (a zero sleep
/// still waits for the timer's next millisecond tick, which would dominate
/// benchmarks).
async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// What one streamed answer of the mock looks like.
struct StreamPlan {
    model: String,
    answer: String,
    /// When not empty, the turn is these tool calls (name, arguments) instead.
    tool_calls: Vec<(String, String)>,
    /// Streamed as `reasoning_content` before the answer; empty for none.
    reasoning: String,
    delay: Duration,
    include_usage: bool,
    malformed: bool,
    cut: bool,
    prompt_len: usize,
}

fn sse_body(plan: StreamPlan) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let StreamPlan {
        model,
        answer,
        tool_calls,
        reasoning,
        delay,
        include_usage,
        malformed,
        cut,
        prompt_len,
    } = plan;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let send = |b: Bytes| tx.send(b);
        if send(chunk(
            &model,
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        ))
        .await
        .is_err()
        {
            return;
        }
        for piece in pieces(&reasoning) {
            pause(delay).await;
            if send(chunk(
                &model,
                json!({"reasoning_content": piece}),
                Value::Null,
            ))
            .await
            .is_err()
            {
                return;
            }
        }
        if !tool_calls.is_empty() {
            for (index, (name, arguments)) in tool_calls.iter().enumerate() {
                let head = json!({"role": "assistant", "content": null, "tool_calls": [{
                    "index": index, "id": format!("call_mock{index}"), "type": "function",
                    "function": {"name": name, "arguments": ""}
                }]});
                if send(chunk(&model, head, Value::Null)).await.is_err() {
                    return;
                }

                // Arguments arrive in pieces, as they do from OpenAI.
                let bytes: Vec<char> = arguments.chars().collect();
                for piece in bytes.chunks(12) {
                    pause(delay).await;
                    let piece: String = piece.iter().collect();
                    let delta =
                        json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]});
                    if send(chunk(&model, delta, Value::Null)).await.is_err() {
                        return;
                    }
                }
            }
            let _ = send(chunk(&model, json!({}), json!("tool_calls"))).await;
            if include_usage {
                let _ = send(usage_chunk(&model, prompt_len / 4 + 8, 20)).await;
            }
            let _ = send(Bytes::from_static(b"data: [DONE]\n\n")).await;
            return;
        }
        let parts = pieces(&answer);
        let count = parts.len();
        for (i, piece) in parts.into_iter().enumerate() {
            pause(delay).await;
            if send(chunk(&model, json!({"content": piece}), Value::Null))
                .await
                .is_err()
            {
                return; // the client went away
            }
            if malformed && i == 1 {
                let _ = send(Bytes::from_static(
                    b"data: {\"choices\": [this is not json\n\n",
                ))
                .await;
                return;
            }
            if cut && i == count / 2 {
                return;
            }
        }
        let _ = send(chunk(&model, json!({}), json!("stop"))).await;
        if include_usage {
            let _ = send(usage_chunk(&model, prompt_len / 4 + 8, count)).await;
        }
        let _ = send(Bytes::from_static(b"data: [DONE]\n\n")).await;
    });
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
    )
}
