//! OpenAI Chat Completions (`POST {baseURL}/chat/completions`), streaming and not.
//! Every OpenAI-compatible endpoint (Groq, Mistral, OpenRouter, Ollama, vLLM, …)
//! speaks this protocol.

use crate::{ChatRequest, GatewayError, Provider, StreamEvent};
use chorus_types::{Role, Usage};
use eventsource_stream::Eventsource;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a stream may stay silent before it counts as dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// One OpenAI-compatible upstream.
#[derive(Clone)]
pub struct OpenAiChat {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    headers: BTreeMap<String, String>,
    add_params: BTreeMap<String, Value>,
    drop_params: Vec<String>,
    /// Longest silence in a stream, and longest whole call that does not stream
    /// (titles, model lists).
    idle_timeout: Duration,
}

impl OpenAiChat {
    pub fn new(http: reqwest::Client, base_url: &str, api_key: &str) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            headers: BTreeMap::new(),
            add_params: BTreeMap::new(),
            drop_params: Vec::new(),
            idle_timeout: IDLE_TIMEOUT,
        }
    }

    /// Extra headers, body fields to add and body fields to drop (librechat.yaml's
    /// `headers`, `addParams`, `dropParams`).
    pub fn with_overrides(
        mut self,
        headers: BTreeMap<String, String>,
        add_params: BTreeMap<String, Value>,
        drop_params: Vec<String>,
    ) -> Self {
        self.headers = headers;
        self.add_params = add_params;
        self.drop_params = drop_params;
        self
    }

    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// The JSON body for `request`, with the endpoint's overrides applied.
    pub fn body(&self, request: &ChatRequest, stream: bool) -> Value {
        let mut messages = Vec::with_capacity(request.messages.len() + 1);
        if let Some(system) = &request.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        for m in &request.messages {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::System => "system",
            };
            messages.push(json!({"role": role, "content": m.text}));
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(request.model));
        body.insert("messages".into(), Value::Array(messages));
        body.insert("stream".into(), json!(stream));
        if stream {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
        if let Some(t) = request.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(n) = request.max_tokens {
            body.insert("max_tokens".into(), json!(n));
        }
        for (k, v) in &self.add_params {
            body.insert(k.clone(), v.clone());
        }
        for k in &self.drop_params {
            body.remove(k);
        }
        Value::Object(body)
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.authorized(self.http.post(format!("{}{path}", self.base_url)))
            .json(body)
    }

    fn authorized(&self, mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if !self.api_key.is_empty() {
            req = req.bearer_auth(&self.api_key);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        req
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, GatewayError> {
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(error_from_response(resp).await)
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> GatewayError {
        if e.is_timeout() {
            return GatewayError::Timeout(self.idle_timeout);
        }
        GatewayError::Connect {
            url: self.base_url.clone(),
            reason: root_cause(&e),
        }
    }
}

impl Provider for OpenAiChat {
    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxStream<'static, Result<StreamEvent, GatewayError>> {
        let this = self.clone();
        let body = self.body(&request, true);
        async_stream::stream! {
            let resp = match this.send(this.post("/chat/completions", &body)).await {
                Ok(r) => r,
                Err(e) => { yield Err(e); return; }
            };
            let mut events = resp.bytes_stream().eventsource();
            let mut finish: Option<String> = None;
            loop {
                let next = match tokio::time::timeout(this.idle_timeout, events.next()).await {
                    Ok(next) => next,
                    Err(_) => { yield Err(GatewayError::Timeout(this.idle_timeout)); return; }
                };
                let event = match next {
                    None => break,
                    Some(Ok(ev)) => ev,
                    Some(Err(e)) => {
                        yield Err(GatewayError::Malformed(format!("the event stream broke: {e}")));
                        return;
                    }
                };
                let data = event.data.trim();
                if data.is_empty() {
                    continue;
                }
                if data == "[DONE]" {
                    yield Ok(StreamEvent::Finish(finish.take().unwrap_or_else(|| "stop".into())));
                    return;
                }
                let chunk: Chunk = match serde_json::from_str(data) {
                    Ok(c) => c,
                    Err(e) => {
                        yield Err(GatewayError::Malformed(format!("a chunk is not valid JSON ({e}): {}", clip(data))));
                        return;
                    }
                };
                if let Some(err) = chunk.error {
                    yield Err(GatewayError::Upstream { status: 200, message: err.message() });
                    return;
                }
                for choice in chunk.choices {
                    if let Some(text) = choice.delta.and_then(|d| d.content)
                        && !text.is_empty()
                    {
                        yield Ok(StreamEvent::Text(text));
                    }
                    if let Some(reason) = choice.finish_reason {
                        finish = Some(reason);
                    }
                }
                if let Some(u) = chunk.usage {
                    yield Ok(StreamEvent::Usage(Usage {
                        input_tokens: u.prompt_tokens,
                        output_tokens: u.completion_tokens,
                    }));
                }
            }
            // Some compatible servers end without `[DONE]` after a finish_reason;
            // without either, the answer was cut off.
            match finish {
                Some(reason) => yield Ok(StreamEvent::Finish(reason)),
                None => yield Err(GatewayError::Malformed(
                    "the stream ended before the answer was complete".into(),
                )),
            }
        }
        .boxed()
    }

    fn complete(&self, request: ChatRequest) -> BoxFuture<'static, Result<String, GatewayError>> {
        let this = self.clone();
        let body = self.body(&request, false);
        async move {
            let req = this
                .post("/chat/completions", &body)
                .timeout(this.idle_timeout);
            let resp = this.send(req).await?;
            let parsed: Completion = resp.json().await.map_err(|e| {
                GatewayError::Malformed(format!("the completion is not valid JSON: {e}"))
            })?;
            parsed
                .choices
                .into_iter()
                .next()
                .and_then(|c| c.message.content)
                .ok_or_else(|| GatewayError::Malformed("the completion has no message".into()))
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'static, Result<Vec<String>, GatewayError>> {
        let this = self.clone();
        async move {
            let req = this
                .authorized(this.http.get(format!("{}/models", this.base_url)))
                .timeout(this.idle_timeout);
            let resp = this.send(req).await?;
            let list: ModelList = resp.json().await.map_err(|e| {
                GatewayError::Malformed(format!("the model list is not valid JSON: {e}"))
            })?;
            Ok(list.data.into_iter().map(|m| m.id).collect())
        }
        .boxed()
    }
}

/// Turns a non-2xx response into a typed error, reading OpenAI's
/// `{"error": {"message": …}}` body when there is one.
async fn error_from_response(resp: reqwest::Response) -> GatewayError {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&text)
        .ok()
        .and_then(|b| b.error)
        .map(|e| e.message())
        .unwrap_or_else(|| {
            if text.trim().is_empty() {
                "no details given".into()
            } else {
                clip(&text)
            }
        });
    match status {
        401 | 403 => GatewayError::Unauthorized { status, message },
        429 => GatewayError::RateLimited {
            message,
            retry_after,
        },
        _ => GatewayError::Upstream { status, message },
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn clip(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<CompletionChoice>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    message: CompletionMessage,
}

#[derive(Deserialize)]
struct CompletionMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<WireError>,
}

/// OpenAI's error object; some compatible servers send a bare string instead.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireError {
    Object {
        message: String,
        #[serde(default, rename = "type")]
        kind: Option<String>,
    },
    Text(String),
}

impl WireError {
    fn message(self) -> String {
        match self {
            WireError::Object {
                message,
                kind: Some(kind),
            } if !message.contains(&kind) => {
                format!("{message} ({kind})")
            }
            WireError::Object { message, .. } => message,
            WireError::Text(t) => t,
        }
    }
}
