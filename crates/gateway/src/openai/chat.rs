//! OpenAI Chat Completions (`POST {baseURL}/chat/completions`), streaming and
//! not. Every OpenAI-compatible server (Groq, Mistral, DeepSeek, OpenRouter,
//! Ollama, vLLM, xAI, …) and Azure OpenAI speak this protocol; they differ in
//! URL and auth header only, which [`Target`] holds.

use super::tools::ToolCallTracker;
use crate::http::{self, Connection, clip, parse_event};
use crate::request::SamplingKeys;
use crate::{
    Answer, ChatRequest, FinishReason, GatewayError, Image, Part, Provider, Speaker, StreamEvent,
    ToolCall,
};
use chorus_types::Usage;
use eventsource_stream::Event;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Where requests go and how they authenticate.
#[derive(Clone, Debug)]
pub enum Target {
    /// `{base}/chat/completions` with `Authorization: Bearer <key>` (no header
    /// when the key is empty, for local servers such as Ollama).
    OpenAi { base_url: String, api_key: String },
    /// `{base}/openai/deployments/{deployment}/chat/completions?api-version=…`
    /// with an `api-key` header. A model without a listed deployment is used as
    /// the deployment name.
    Azure {
        base_url: String,
        api_key: String,
        api_version: String,
        deployments: BTreeMap<String, String>,
    },
}

/// One upstream speaking Chat Completions.
#[derive(Clone)]
pub struct OpenAiChat {
    conn: Connection,
    target: Target,
    add_params: BTreeMap<String, Value>,
    drop_params: Vec<String>,
}

impl OpenAiChat {
    pub fn new(conn: impl Into<Connection>, base_url: &str, api_key: &str) -> Self {
        Self::with_target(
            conn,
            Target::OpenAi {
                base_url: base_url.trim_end_matches('/').to_string(),
                api_key: api_key.to_string(),
            },
        )
    }

    pub fn with_target(conn: impl Into<Connection>, target: Target) -> Self {
        Self {
            conn: conn.into(),
            target,
            add_params: BTreeMap::new(),
            drop_params: Vec::new(),
        }
    }

    /// Body fields to add and to drop (librechat.yaml's `addParams`, `dropParams`).
    pub fn with_params(
        mut self,
        add_params: BTreeMap<String, Value>,
        drop_params: Vec<String>,
    ) -> Self {
        self.add_params = add_params;
        self.drop_params = drop_params;
        self
    }

    fn base_url(&self) -> &str {
        match &self.target {
            Target::OpenAi { base_url, .. } | Target::Azure { base_url, .. } => base_url,
        }
    }

    fn completions_url(&self, model: &str) -> String {
        match &self.target {
            Target::OpenAi { base_url, .. } => format!("{base_url}/chat/completions"),
            Target::Azure {
                base_url,
                api_version,
                deployments,
                ..
            } => {
                let deployment = deployments.get(model).map_or(model, String::as_str);
                format!(
                    "{base_url}/openai/deployments/{deployment}/chat/completions?api-version={api_version}"
                )
            }
        }
    }

    /// The JSON body for `request`, with the endpoint's overrides applied.
    pub fn body(&self, request: &ChatRequest, stream: bool) -> Value {
        let mut body = Map::new();
        if !matches!(self.target, Target::Azure { .. }) {
            // Azure takes the model from the deployment in the URL.
            body.insert("model".into(), json!(request.model));
        }
        body.insert("messages".into(), Value::Array(messages(request)));
        body.insert("stream".into(), json!(stream));
        if stream {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters,
                    }})
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        request.write_sampling(
            SamplingKeys {
                temperature: Some("temperature"),
                top_p: Some("top_p"),
                max_tokens: Some("max_tokens"),
                stop: Some("stop"),
            },
            &mut body,
        );
        if let Some(r) = request.reasoning {
            body.insert("reasoning_effort".into(), json!(r.effort().as_str()));
        }
        for (k, v) in &self.add_params {
            body.insert(k.clone(), v.clone());
        }
        for k in &self.drop_params {
            body.remove(k);
        }
        Value::Object(body)
    }

    fn authorized(&self, mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.target {
            Target::OpenAi { api_key, .. } if !api_key.is_empty() => {
                req = req.bearer_auth(api_key);
            }
            Target::Azure { api_key, .. } => req = req.header("api-key", api_key),
            _ => {}
        }
        req
    }

    async fn post(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, GatewayError> {
        let body = self.body(request, stream);
        let req = self
            .authorized(
                self.conn
                    .client()
                    .post(self.completions_url(&request.model)),
            )
            .json(&body);
        self.conn.send(req, self.base_url(), stream).await
    }
}

/// Chat Completions messages: the system prompt first; tool results become
/// `tool` messages; images become `image_url` parts (data URLs when inline).
fn messages(request: &ChatRequest) -> Vec<Value> {
    let mut out = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = &request.system {
        out.push(json!({"role": "system", "content": system}));
    }
    for m in &request.messages {
        match m.speaker {
            Speaker::User => {
                let mut content = Vec::new();
                for p in &m.parts {
                    match p {
                        Part::ToolResult(r) => out.push(json!({
                            "role": "tool", "tool_call_id": r.call_id, "content": r.content,
                        })),
                        Part::Text(t) => content.push(json!({"type": "text", "text": t})),
                        Part::Image(img) => content.push(json!({
                            "type": "image_url", "image_url": {"url": image_url(img)},
                        })),
                        Part::ToolCall(_) => {}
                    }
                }
                if !content.is_empty() {
                    out.push(json!({"role": "user", "content": simplify(content)}));
                }
            }
            Speaker::Assistant => {
                let text = m.text();
                let calls: Vec<Value> = m
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolCall(c) => Some(json!({
                            "id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        })),
                        _ => None,
                    })
                    .collect();
                let mut msg = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    if text.is_empty() {
                        msg["content"] = Value::Null;
                    }
                    msg["tool_calls"] = Value::Array(calls);
                }
                out.push(msg);
            }
        }
    }
    out
}

/// A lone text part is sent as a plain string, which every compatible server reads.
fn simplify(mut content: Vec<Value>) -> Value {
    if content.len() == 1 && content[0]["type"] == "text" {
        return content.swap_remove(0)["text"].take();
    }
    Value::Array(content)
}

pub(crate) fn image_url(img: &Image) -> String {
    match img {
        Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Image::Url(u) => u.clone(),
    }
}

/// Reads `data: {chunk}` events up to `data: [DONE]`.
#[derive(Default)]
struct Reader {
    tools: ToolCallTracker,
    finish: Option<FinishReason>,
}

impl Reader {
    fn close(&mut self, reason: FinishReason, out: &mut Vec<StreamEvent>) {
        out.extend(self.tools.end_all());
        out.push(StreamEvent::Finish(reason));
    }
}

impl http::Reader<Event> for Reader {
    fn read(&mut self, event: Event, out: &mut Vec<StreamEvent>) -> Result<bool, GatewayError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            let reason = self.finish.take().unwrap_or(FinishReason::Stop);
            self.close(reason, out);
            return Ok(true);
        }
        let chunk: Chunk = parse_event(data, format_args!("a chunk"))?;
        if let Some(err) = chunk.error {
            return Err(GatewayError::Upstream {
                status: 200,
                message: err.message(),
            });
        }
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.reasoning_content.or(delta.reasoning)
                    && !text.is_empty()
                {
                    out.push(StreamEvent::Reasoning(text));
                }
                if let Some(text) = delta.content
                    && !text.is_empty()
                {
                    out.push(StreamEvent::Text(text));
                }
                for call in delta.tool_calls {
                    let f = call.function.unwrap_or_default();
                    self.tools
                        .seen(call.index, call.id, f.name, f.arguments, out);
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(FinishReason::from_wire(&reason));
            }
        }
        if let Some(u) = chunk.usage {
            out.push(StreamEvent::Usage(u.into()));
        }
        Ok(false)
    }

    /// Some compatible servers end without `[DONE]` after a finish_reason;
    /// without either, the answer was cut off.
    fn end(mut self, out: &mut Vec<StreamEvent>) -> Result<(), GatewayError> {
        let reason = self.finish.take().ok_or_else(http::cut_short)?;
        self.close(reason, out);
        Ok(())
    }
}

impl Provider for OpenAiChat {
    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxStream<'static, Result<StreamEvent, GatewayError>> {
        let this = self.clone();
        let post = async move { this.post(&request, true).await };
        http::stream(post, http::sse, self.conn.idle(), Reader::default())
    }

    fn complete(&self, request: ChatRequest) -> BoxFuture<'static, Result<Answer, GatewayError>> {
        let this = self.clone();
        async move {
            let resp = this.post(&request, false).await?;
            let parsed: Completion = http::json(resp, "the completion").await?;
            let choice =
                parsed.choices.into_iter().next().ok_or_else(|| {
                    GatewayError::Malformed("the completion has no choices".into())
                })?;
            let m = choice.message;
            Ok(Answer {
                text: m.content.unwrap_or_default(),
                reasoning: m.reasoning_content.or(m.reasoning).unwrap_or_default(),
                tool_calls: m
                    .tool_calls
                    .into_iter()
                    .map(|c| {
                        let f = c.function.unwrap_or_default();
                        ToolCall {
                            id: c.id.unwrap_or_default(),
                            name: f.name.unwrap_or_default(),
                            arguments: f.arguments.unwrap_or_default(),
                        }
                    })
                    .collect(),
                usage: parsed.usage.map(Into::into),
                finish: FinishReason::from_wire(choice.finish_reason.as_deref().unwrap_or("stop")),
            })
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'static, Result<Vec<String>, GatewayError>> {
        let this = self.clone();
        async move {
            let url = match &this.target {
                Target::OpenAi { base_url, .. } => format!("{base_url}/models"),
                // Azure lists deployments from config, not from the resource.
                Target::Azure { deployments, .. } => {
                    return Ok(deployments.keys().cloned().collect());
                }
            };
            let req = this.authorized(this.conn.client().get(url));
            let resp = this.conn.send(req, this.base_url(), false).await?;
            let list: ModelList = http::json(resp, "the model list").await?;
            Ok(list.data.into_iter().map(|m| m.id).collect())
        }
        .boxed()
    }
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
    /// DeepSeek's spelling of visible reasoning.
    #[serde(default)]
    reasoning_content: Option<String>,
    /// OpenRouter's and vLLM's spelling.
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Deserialize, Default)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            cached_tokens: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            reasoning_tokens: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            estimated: false,
        }
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<CompletionChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    message: CompletionMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CompletionMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

/// OpenAI's error object inside a stream; some compatible servers send a string.
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
            } if !message.contains(&kind) => format!("{message} ({kind})"),
            WireError::Object { message, .. } => clip(&message),
            WireError::Text(t) => clip(&t),
        }
    }
}
