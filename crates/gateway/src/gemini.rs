//! Google Gemini: `models/{model}:streamGenerateContent?alt=sse` (one
//! `GenerateContentResponse` per SSE event) and `:generateContent`, on the Gemini
//! API (API key in `x-goog-api-key`) or on Vertex AI (OAuth token, same body).

use crate::anthropic::arguments_object;
use crate::http::{self, Connection, parse_event};
use crate::request::SamplingKeys;
use crate::vertex::GoogleAuth;
use crate::{Answer, ChatRequest, FinishReason, GatewayError, Image, Part, Provider, StreamEvent};
use chorus_types::Usage;
use eventsource_stream::Event;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Clone)]
pub enum GeminiTarget {
    /// `{base}/v1beta/models/{model}:…` with `x-goog-api-key`.
    Api { base_url: String, api_key: String },
    /// `{base}/publishers/google/models/{model}:…` (base names project and
    /// location) with a Google OAuth token.
    Vertex {
        base_url: String,
        auth: Arc<GoogleAuth>,
    },
}

#[derive(Clone)]
pub struct Gemini {
    conn: Connection,
    target: GeminiTarget,
}

impl Gemini {
    pub fn new(conn: impl Into<Connection>, target: GeminiTarget) -> Self {
        Self {
            conn: conn.into(),
            target,
        }
    }

    fn base_url(&self) -> &str {
        match &self.target {
            GeminiTarget::Api { base_url, .. } | GeminiTarget::Vertex { base_url, .. } => base_url,
        }
    }

    pub fn body(&self, request: &ChatRequest) -> Value {
        let mut body = Map::new();
        body.insert("contents".into(), Value::Array(contents(request)));
        if let Some(system) = &request.system {
            body.insert(
                "systemInstruction".into(),
                json!({"parts": [{"text": system}]}),
            );
        }
        if !request.tools.is_empty() {
            let decls: Vec<Value> = request
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "parameters": t.parameters}))
                .collect();
            body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
        }
        let mut config = Map::new();
        request.write_sampling(
            SamplingKeys {
                temperature: Some("temperature"),
                top_p: Some("topP"),
                max_tokens: Some("maxOutputTokens"),
                stop: Some("stopSequences"),
            },
            &mut config,
        );
        if let Some(r) = request.reasoning {
            config.insert(
                "thinkingConfig".into(),
                json!({"thinkingBudget": r.budget(), "includeThoughts": true}),
            );
        }
        if !config.is_empty() {
            body.insert("generationConfig".into(), Value::Object(config));
        }
        Value::Object(body)
    }

    async fn post(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, GatewayError> {
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let model = &request.model;
        let req = match &self.target {
            GeminiTarget::Api { base_url, api_key } => self
                .conn
                .client()
                .post(format!("{base_url}/v1beta/models/{model}:{method}"))
                .header("x-goog-api-key", api_key),
            GeminiTarget::Vertex { base_url, auth } => {
                let token = auth.token(self.conn.client()).await?;
                self.conn
                    .client()
                    .post(format!(
                        "{base_url}/publishers/google/models/{model}:{method}"
                    ))
                    .bearer_auth(token)
            }
        };
        self.conn
            .send(req.json(&self.body(request)), self.base_url(), stream)
            .await
    }
}

fn contents(request: &ChatRequest) -> Vec<Value> {
    crate::request::role_messages(request, "model", "parts", part)
}

fn part(p: &Part) -> Value {
    match p {
        Part::Text(t) => json!({"text": t}),
        Part::Image(Image::Base64 { media_type, data }) => {
            json!({"inlineData": {"mimeType": media_type, "data": data}})
        }
        Part::Image(Image::Url(url)) => {
            json!({"fileData": {"mimeType": mime_from_url(url), "fileUri": url}})
        }
        Part::ToolCall(c) => json!({
            "functionCall": {"name": c.name, "args": arguments_object(&c.arguments)},
        }),
        Part::ToolResult(r) => {
            // `response` must be an object: a JSON object result goes as is.
            let response = match serde_json::from_str::<Value>(&r.content) {
                Ok(v @ Value::Object(_)) => v,
                _ if r.is_error => json!({"error": r.content}),
                _ => json!({"result": r.content}),
            };
            json!({"functionResponse": {"name": r.name, "response": response}})
        }
    }
}

fn mime_from_url(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    match path.rsplit('.').next() {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("heic") => "image/heic",
        _ => "image/jpeg",
    }
}

/// Turns response chunks into events. Gemini sends each function call whole,
/// so it is started, filled and ended at once.
#[derive(Default)]
struct Reader {
    calls: u32,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl Reader {
    fn chunk(&mut self, chunk: Response, out: &mut Vec<StreamEvent>) -> Result<(), GatewayError> {
        if let Some(e) = chunk.error {
            let message = match e.status {
                Some(status) if !e.message.contains(&status) => format!("{} ({status})", e.message),
                _ => e.message,
            };
            return Err(http::error_for_status(e.code, message, None));
        }
        if let Some(feedback) = chunk.prompt_feedback
            && let Some(reason) = feedback.block_reason
        {
            return Err(GatewayError::Upstream {
                status: 400,
                message: format!("Gemini blocked the prompt ({reason})"),
            });
        }
        for candidate in chunk.candidates.into_iter().take(1) {
            for p in candidate.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(call) = p.function_call {
                    let index = self.calls;
                    self.calls += 1;
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: call.id.unwrap_or_else(|| format!("call_{index}")),
                        name: call.name,
                    });
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: call.args.unwrap_or_else(|| json!({})).to_string(),
                    });
                    out.push(StreamEvent::ToolCallEnd { index });
                } else if let Some(text) = p.text.filter(|t| !t.is_empty()) {
                    out.push(if p.thought {
                        StreamEvent::Reasoning(text)
                    } else {
                        StreamEvent::Text(text)
                    });
                }
            }
            if let Some(reason) = candidate.finish_reason {
                self.finish = Some(if self.calls > 0 && reason == "STOP" {
                    FinishReason::ToolCalls
                } else {
                    FinishReason::from_wire(&reason)
                });
            }
        }
        if let Some(u) = chunk.usage_metadata {
            let thoughts = u.thoughts_token_count.unwrap_or(0);
            self.usage = Some(Usage {
                input_tokens: u.prompt_token_count.unwrap_or(0),
                output_tokens: u.candidates_token_count.unwrap_or(0) + thoughts,
                cached_tokens: u.cached_content_token_count.unwrap_or(0),
                reasoning_tokens: thoughts,
                estimated: false,
            });
        }
        Ok(())
    }
}

impl http::Reader<Event> for Reader {
    fn read(&mut self, event: Event, out: &mut Vec<StreamEvent>) -> Result<bool, GatewayError> {
        let chunk = parse_event(&event.data, format_args!("a GenerateContentResponse"))?;
        self.chunk(chunk, out)?;
        // Gemini's stream has no end marker: it ends when the body does.
        Ok(false)
    }

    fn end(self, out: &mut Vec<StreamEvent>) -> Result<(), GatewayError> {
        http::close(self.usage, self.finish, out)
    }
}

impl Provider for Gemini {
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
            let chunk: Response = http::json(resp, "the GenerateContentResponse").await?;
            let mut reader = Reader::default();
            let mut events = Vec::new();
            reader.chunk(chunk, &mut events)?;
            http::Reader::end(reader, &mut events)?;
            Answer::collect(futures::stream::iter(events.into_iter().map(Ok))).await
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'static, Result<Vec<String>, GatewayError>> {
        let this = self.clone();
        async move {
            let GeminiTarget::Api { base_url, api_key } = &this.target else {
                return Ok(Vec::new());
            };
            let req = this
                .conn
                .client()
                .get(format!("{base_url}/v1beta/models?pageSize=1000"))
                .header("x-goog-api-key", api_key);
            let resp = this.conn.send(req, base_url, false).await?;
            let list: ModelList = http::json(resp, "the model list").await?;
            Ok(list
                .models
                .into_iter()
                .filter(|m| {
                    m.supported_generation_methods
                        .iter()
                        .any(|g| g == "generateContent")
                })
                .map(|m| m.name.trim_start_matches("models/").to_string())
                .collect())
        }
        .boxed()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    /// Set instead of the rest when the stream fails midway.
    #[serde(default)]
    error: Option<GoogleError>,
}

#[derive(Deserialize)]
struct GoogleError {
    #[serde(default = "internal")]
    code: u16,
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: Option<String>,
}

fn internal() -> u16 {
    500
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<WirePart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    #[serde(default)]
    function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
    #[serde(default)]
    thoughts_token_count: Option<u64>,
    #[serde(default)]
    cached_content_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    models: Vec<ModelEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelEntry {
    name: String,
    #[serde(default)]
    supported_generation_methods: Vec<String>,
}
