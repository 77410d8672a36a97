//! Anthropic Messages (`POST /v1/messages`): `system` apart from the messages,
//! content blocks (`text`, `image`, `tool_use`, `tool_result`), extended
//! thinking, and named SSE events `message_start` … `message_stop`. Also serves
//! Claude on Vertex AI, which takes the same body at `:streamRawPredict`.

use crate::http::{self, Connection, parse_event};
use crate::request::SamplingKeys;
use crate::vertex::GoogleAuth;
use crate::{
    Answer, ChatRequest, FinishReason, GatewayError, Image, Part, Provider, StreamEvent, ToolCall,
};
use chorus_types::Usage;
use eventsource_stream::Event;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The API version Chorus speaks (the one Anthropic documents for Messages).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; this is used when the request sets none.
const DEFAULT_MAX_TOKENS: u32 = 8192;

#[derive(Clone)]
pub enum AnthropicTarget {
    /// `{base}/v1/messages` with `x-api-key`.
    Direct { base_url: String, api_key: String },
    /// `{base}/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:streamRawPredict`
    /// with a Google OAuth token.
    Vertex {
        base_url: String,
        auth: Arc<GoogleAuth>,
    },
}

#[derive(Clone)]
pub struct Anthropic {
    conn: Connection,
    target: AnthropicTarget,
}

impl Anthropic {
    pub fn new(conn: impl Into<Connection>, target: AnthropicTarget) -> Self {
        Self {
            conn: conn.into(),
            target,
        }
    }

    fn base_url(&self) -> &str {
        match &self.target {
            AnthropicTarget::Direct { base_url, .. } | AnthropicTarget::Vertex { base_url, .. } => {
                base_url
            }
        }
    }

    /// The Messages body. On Vertex the model is in the URL and the version in the body.
    pub fn body(&self, request: &ChatRequest, stream: bool) -> Value {
        let mut body = Map::new();
        match &self.target {
            AnthropicTarget::Direct { .. } => {
                body.insert("model".into(), json!(request.model));
            }
            AnthropicTarget::Vertex { .. } => {
                body.insert("anthropic_version".into(), json!("vertex-2023-10-16"));
            }
        }
        let max_tokens = request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        body.insert("max_tokens".into(), json!(max_tokens));
        if let Some(system) = &request.system {
            body.insert("system".into(), json!(system));
        }
        body.insert("messages".into(), Value::Array(messages(request)));
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(r) = request.reasoning {
            // The budget must stay below max_tokens.
            let budget = r.budget().min(max_tokens.saturating_sub(1)).max(1024);
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
        // Thinking rules out temperature and top_p; max_tokens is always set above.
        let sampling = request.reasoning.is_none();
        request.write_sampling(
            SamplingKeys {
                temperature: sampling.then_some("temperature"),
                top_p: sampling.then_some("top_p"),
                max_tokens: None,
                stop: Some("stop_sequences"),
            },
            &mut body,
        );
        if stream {
            body.insert("stream".into(), json!(true));
        }
        Value::Object(body)
    }

    async fn post(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, GatewayError> {
        let body = self.body(request, stream);
        let req = match &self.target {
            AnthropicTarget::Direct { base_url, api_key } => self
                .conn
                .client()
                .post(format!("{base_url}/v1/messages"))
                .header("x-api-key", api_key)
                .header("anthropic-version", ANTHROPIC_VERSION),
            AnthropicTarget::Vertex { base_url, auth } => {
                let method = if stream {
                    "streamRawPredict"
                } else {
                    "rawPredict"
                };
                let token = auth.token(self.conn.client()).await?;
                self.conn
                    .client()
                    .post(format!(
                        "{base_url}/publishers/anthropic/models/{}:{method}",
                        request.model
                    ))
                    .bearer_auth(token)
            }
        };
        self.conn
            .send(req.json(&body), self.base_url(), stream)
            .await
    }
}

fn messages(request: &ChatRequest) -> Vec<Value> {
    crate::request::role_messages(request, "assistant", "content", block)
}

fn block(part: &Part) -> Value {
    match part {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image(Image::Base64 { media_type, data }) => json!({
            "type": "image", "source": {"type": "base64", "media_type": media_type, "data": data},
        }),
        Part::Image(Image::Url(url)) => {
            json!({"type": "image", "source": {"type": "url", "url": url}})
        }
        Part::ToolCall(c) => json!({
            "type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(&c.arguments),
        }),
        Part::ToolResult(r) => json!({
            "type": "tool_result", "tool_use_id": r.call_id, "content": r.content, "is_error": r.is_error,
        }),
    }
}

/// Tool arguments as a JSON object (Anthropic, Gemini and Bedrock want an object,
/// not text); text the model wrote that is not an object becomes `{}`.
pub(crate) fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// Reads the named events `message_start` … `message_stop`.
#[derive(Default)]
struct Reader {
    usage: Usage,
    finish: Option<FinishReason>,
    /// Content-block indexes that are tool calls.
    tool_blocks: Vec<u32>,
}

impl http::Reader<Event> for Reader {
    fn read(&mut self, event: Event, out: &mut Vec<StreamEvent>) -> Result<bool, GatewayError> {
        let ev: WireEvent = parse_event(&event.data, format_args!("the {:?} event", event.event))?;
        match ev {
            WireEvent::MessageStart { message } => self.usage = message.usage.into_usage(),
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                Block::ToolUse { id, name, .. } => {
                    self.tool_blocks.push(index);
                    out.push(StreamEvent::ToolCallStart { index, id, name });
                }
                Block::Text { text } if !text.is_empty() => out.push(StreamEvent::Text(text)),
                Block::Thinking { thinking } if !thinking.is_empty() => {
                    out.push(StreamEvent::Reasoning(thinking))
                }
                _ => {}
            },
            WireEvent::ContentBlockDelta { index, delta } => match delta {
                BlockChange::TextDelta { text } => out.push(StreamEvent::Text(text)),
                BlockChange::ThinkingDelta { thinking } => {
                    out.push(StreamEvent::Reasoning(thinking))
                }
                BlockChange::InputJsonDelta { partial_json } if !partial_json.is_empty() => out
                    .push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: partial_json,
                    }),
                _ => {}
            },
            WireEvent::ContentBlockStop { index } => {
                if self.tool_blocks.contains(&index) {
                    out.push(StreamEvent::ToolCallEnd { index });
                }
            }
            WireEvent::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.finish = Some(FinishReason::from_wire(&reason));
                }
                if let Some(n) = usage.and_then(|u| u.output_tokens) {
                    self.usage.output_tokens = n;
                }
            }
            WireEvent::MessageStop => {
                out.push(StreamEvent::Usage(self.usage));
                out.push(StreamEvent::Finish(
                    self.finish.take().unwrap_or(FinishReason::Stop),
                ));
                return Ok(true);
            }
            WireEvent::Error { error } => {
                let status = match error.kind.as_str() {
                    "overloaded_error" => 529,
                    "rate_limit_error" => 429,
                    "api_error" => 500,
                    _ => 400,
                };
                let message = format!("{} ({})", error.message, error.kind);
                return Err(http::error_for_status(status, message, None));
            }
            WireEvent::Ping | WireEvent::Other => {}
        }
        Ok(false)
    }
}

impl Provider for Anthropic {
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
            let message: Message = http::json(resp, "the message").await?;
            let mut answer = Answer {
                usage: Some(message.usage.into_usage()),
                finish: FinishReason::from_wire(
                    message.stop_reason.as_deref().unwrap_or("end_turn"),
                ),
                ..Default::default()
            };
            for block in message.content {
                match block {
                    Block::Text { text } => answer.text.push_str(&text),
                    Block::Thinking { thinking } => answer.reasoning.push_str(&thinking),
                    Block::ToolUse { id, name, input } => answer.tool_calls.push(ToolCall {
                        id,
                        name,
                        arguments: input.to_string(),
                    }),
                    Block::Other => {}
                }
            }
            Ok(answer)
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'static, Result<Vec<String>, GatewayError>> {
        let this = self.clone();
        async move {
            let AnthropicTarget::Direct { base_url, api_key } = &this.target else {
                return Ok(Vec::new());
            };
            let req = this
                .conn
                .client()
                .get(format!("{base_url}/v1/models?limit=1000"))
                .header("x-api-key", api_key)
                .header("anthropic-version", ANTHROPIC_VERSION);
            let resp = this.conn.send(req, base_url, false).await?;
            let list: ModelList = http::json(resp, "the model list").await?;
            Ok(list.data.into_iter().map(|m| m.id).collect())
        }
        .boxed()
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: MessageHead,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockChange,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<DeltaUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: WireError,
    },
    /// Event types added after this was written are skipped, as Anthropic asks.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageHead {
    usage: WireUsage,
}

#[derive(Deserialize)]
struct Message {
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockChange {
    TextDelta {
        text: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct DeltaUsage {
    #[serde(default)]
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Anthropic counts cache reads and writes apart from `input_tokens`; Chorus
    /// reports all prompt tokens as input, and the cache reads as cached.
    fn into_usage(self) -> Usage {
        crate::answer::usage_with_cache(
            self.input_tokens,
            self.output_tokens,
            self.cache_read_input_tokens,
            self.cache_creation_input_tokens,
        )
    }
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: String,
    message: String,
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}
