//! OpenAI's Responses API (`POST {baseURL}/responses`): typed input items and
//! typed SSE events (`response.output_text.delta`, `response.completed`, …).

use super::chat::image_url;
use crate::http::{self, Connection, parse_event};
use crate::request::SamplingKeys;
use crate::{
    Answer, ChatRequest, FinishReason, GatewayError, Part, Provider, Speaker, StreamEvent, ToolCall,
};
use chorus_types::Usage;
use eventsource_stream::Event;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Clone)]
pub struct OpenAiResponses {
    conn: Connection,
    base_url: String,
    api_key: String,
}

impl OpenAiResponses {
    pub fn new(conn: impl Into<Connection>, base_url: &str, api_key: &str) -> Self {
        Self {
            conn: conn.into(),
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
        }
    }

    pub fn body(&self, request: &ChatRequest, stream: bool) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(request.model));
        body.insert("input".into(), Value::Array(input(request)));
        // Chorus keeps the conversation itself; nothing needs storing upstream.
        body.insert("store".into(), json!(false));
        if let Some(system) = &request.system {
            body.insert("instructions".into(), json!(system));
        }
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|t| json!({"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}))
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        // The Responses API has no stop sequences.
        request.write_sampling(
            SamplingKeys {
                temperature: Some("temperature"),
                top_p: Some("top_p"),
                max_tokens: Some("max_output_tokens"),
                stop: None,
            },
            &mut body,
        );
        if let Some(r) = request.reasoning {
            body.insert(
                "reasoning".into(),
                json!({"effort": r.effort().as_str(), "summary": "auto"}),
            );
        }
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
        let req = self
            .conn
            .client()
            .post(format!("{}/responses", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&self.body(request, stream));
        self.conn.send(req, &self.base_url, stream).await
    }
}

fn input(request: &ChatRequest) -> Vec<Value> {
    let mut out = Vec::new();
    for m in &request.messages {
        let mut content = Vec::new();
        for p in &m.parts {
            match (m.speaker, p) {
                (Speaker::User, Part::Text(t)) => {
                    content.push(json!({"type": "input_text", "text": t}))
                }
                (Speaker::Assistant, Part::Text(t)) => {
                    content.push(json!({"type": "output_text", "text": t}))
                }
                (_, Part::Image(img)) => {
                    content.push(json!({"type": "input_image", "image_url": image_url(img)}))
                }
                (_, Part::ToolCall(c)) => flush(
                    &mut out,
                    m.speaker,
                    &mut content,
                    json!({
                        "type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments,
                    }),
                ),
                (_, Part::ToolResult(r)) => flush(
                    &mut out,
                    m.speaker,
                    &mut content,
                    json!({
                        "type": "function_call_output", "call_id": r.call_id, "output": r.content,
                    }),
                ),
            }
        }
        flush(&mut out, m.speaker, &mut content, Value::Null);
    }
    out
}

/// Appends the message content gathered so far (input items keep the order in
/// which text and calls were written), then `item` unless it is null.
fn flush(out: &mut Vec<Value>, speaker: Speaker, content: &mut Vec<Value>, item: Value) {
    if !content.is_empty() {
        let role = match speaker {
            Speaker::User => "user",
            Speaker::Assistant => "assistant",
        };
        out.push(json!({"role": role, "content": std::mem::take(content)}));
    }
    if !item.is_null() {
        out.push(item);
    }
}

/// Reads the typed events up to `response.completed` (or `.incomplete`).
#[derive(Default)]
struct Reader {
    /// Output indexes of function calls started.
    calls: Vec<u32>,
}

impl http::Reader<Event> for Reader {
    fn read(&mut self, event: Event, out: &mut Vec<StreamEvent>) -> Result<bool, GatewayError> {
        let ev: WireEvent = parse_event(&event.data, format_args!("the {:?} event", event.event))?;
        match ev {
            WireEvent::OutputTextDelta { delta } => out.push(StreamEvent::Text(delta)),
            WireEvent::ReasoningSummaryTextDelta { delta }
            | WireEvent::ReasoningTextDelta { delta } => out.push(StreamEvent::Reasoning(delta)),
            WireEvent::OutputItemAdded {
                output_index,
                item: Item::FunctionCall { call_id, name, .. },
            } => {
                self.calls.push(output_index);
                out.push(StreamEvent::ToolCallStart {
                    index: output_index,
                    id: call_id,
                    name,
                });
            }
            WireEvent::FunctionCallArgumentsDelta {
                output_index,
                delta,
            } => out.push(StreamEvent::ToolCallDelta {
                index: output_index,
                arguments: delta,
            }),
            WireEvent::OutputItemDone {
                output_index,
                item: Item::FunctionCall { .. },
            } => out.push(StreamEvent::ToolCallEnd {
                index: output_index,
            }),
            WireEvent::Completed { response } | WireEvent::Incomplete { response } => {
                let finish = response.finish(!self.calls.is_empty());
                out.extend(response.usage.map(|u| StreamEvent::Usage(u.into())));
                out.push(StreamEvent::Finish(finish));
                return Ok(true);
            }
            WireEvent::Failed { response } => {
                let e = response.error.unwrap_or_default();
                return Err(GatewayError::Upstream {
                    status: 500,
                    message: e.describe(),
                });
            }
            WireEvent::Error(e) => {
                let status = match e.code.as_deref() {
                    Some("rate_limit_exceeded") => 429,
                    Some("server_error") => 500,
                    _ => 400,
                };
                return Err(http::error_for_status(status, e.describe(), None));
            }
            _ => {}
        }
        Ok(false)
    }
}

impl Provider for OpenAiResponses {
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
            let response: ResponseObject = http::json(resp, "the response").await?;
            if let Some(e) = response.error.clone() {
                return Err(GatewayError::Upstream {
                    status: 500,
                    message: e.describe(),
                });
            }
            let mut answer = Answer::default();
            for item in &response.output {
                match item {
                    Item::Message { content } => {
                        for c in content {
                            if let Content::OutputText { text } = c {
                                answer.text.push_str(text);
                            }
                        }
                    }
                    Item::Reasoning { summary } => {
                        for s in summary {
                            answer.reasoning.push_str(&s.text);
                        }
                    }
                    Item::FunctionCall {
                        call_id,
                        name,
                        arguments,
                    } => answer.tool_calls.push(ToolCall {
                        id: call_id.clone(),
                        name: name.clone(),
                        arguments: arguments.clone(),
                    }),
                    Item::Other => {}
                }
            }
            answer.finish = response.finish(!answer.tool_calls.is_empty());
            answer.usage = response.usage.map(Into::into);
            Ok(answer)
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'static, Result<Vec<String>, GatewayError>> {
        // Same `/models` as Chat Completions.
        super::OpenAiChat::new(self.conn.clone(), &self.base_url, &self.api_key).list_models()
    }
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum WireEvent {
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta { delta: String },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta { delta: String },
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningTextDelta { delta: String },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded { output_index: u32, item: Item },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone { output_index: u32, item: Item },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta { output_index: u32, delta: String },
    #[serde(rename = "response.completed")]
    Completed { response: ResponseObject },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: ResponseObject },
    #[serde(rename = "response.failed")]
    Failed { response: ResponseObject },
    #[serde(rename = "error")]
    Error(WireError),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item {
    Message {
        #[serde(default)]
        content: Vec<Content>,
    },
    FunctionCall {
        call_id: String,
        name: String,
        #[serde(default)]
        arguments: String,
    },
    Reasoning {
        #[serde(default)]
        summary: Vec<Summary>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Content {
    OutputText {
        text: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Summary {
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct ResponseObject {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    output: Vec<Item>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
    #[serde(default)]
    incomplete_details: Option<IncompleteDetails>,
}

impl ResponseObject {
    fn finish(&self, called_tools: bool) -> FinishReason {
        match self.status.as_deref() {
            Some("incomplete") => match self.incomplete_details.as_ref().map(|d| d.reason.as_str())
            {
                Some("content_filter") => FinishReason::ContentFilter,
                _ => FinishReason::Length,
            },
            _ if called_tools => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        }
    }
}

#[derive(Deserialize)]
struct IncompleteDetails {
    #[serde(default)]
    reason: String,
}

#[derive(Clone, Default, Deserialize)]
struct WireError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: String,
}

impl WireError {
    fn describe(&self) -> String {
        match &self.code {
            Some(code) => format!("{} ({code})", self.message),
            None => self.message.clone(),
        }
    }
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Deserialize)]
struct InputDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Deserialize)]
struct OutputDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cached_tokens: u.input_tokens_details.map_or(0, |d| d.cached_tokens),
            reasoning_tokens: u.output_tokens_details.map_or(0, |d| d.reasoning_tokens),
            estimated: false,
        }
    }
}
