//! AWS Bedrock Converse (`POST /model/{id}/converse`) and ConverseStream
//! (`/converse-stream`, answered in AWS's binary event-stream framing). Requests
//! are signed with SigV4 (service `bedrock`) by the `aws-sigv4` crate; frames
//! are decoded by `aws-smithy-eventstream`.

use crate::anthropic::arguments_object;
use crate::http::{self, Connection, parse_event};
use crate::request::SamplingKeys;
use crate::{
    Answer, ChatRequest, FinishReason, GatewayError, Image, Part, Provider, StreamEvent, ToolCall,
};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Buf, BytesMut};
use chorus_types::Usage;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::{Duration, SystemTime};

#[derive(Clone)]
pub struct Bedrock {
    conn: Connection,
    /// `https://bedrock-runtime.{region}.amazonaws.com` unless configured.
    base_url: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Bedrock {
    pub fn new(
        conn: impl Into<Connection>,
        base_url: Option<&str>,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
    ) -> Self {
        let base_url = base_url
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
        Self {
            conn: conn.into(),
            base_url,
            region: region.to_string(),
            access_key_id: access_key_id.to_string(),
            secret_access_key: secret_access_key.to_string(),
            session_token: session_token.map(str::to_string),
        }
    }

    pub(crate) fn from_config(
        conn: Connection,
        ep: &chorus_config::Endpoint,
        base_url: &str,
    ) -> Result<Self, String> {
        let missing =
            |what: &str| format!("no {what}: set it in the bedrock section or the AWS_* variables");
        Ok(Self::new(
            conn,
            Some(base_url),
            ep.region.as_deref().ok_or_else(|| missing("region"))?,
            ep.access_key_id
                .as_deref()
                .ok_or_else(|| missing("access key"))?,
            ep.secret_access_key
                .as_deref()
                .ok_or_else(|| missing("secret key"))?,
            ep.session_token.as_deref(),
        ))
    }

    pub fn body(&self, request: &ChatRequest) -> Value {
        let mut body = Map::new();
        body.insert("messages".into(), Value::Array(messages(request)));
        if let Some(system) = &request.system {
            body.insert("system".into(), json!([{"text": system}]));
        }
        let mut config = Map::new();
        request.write_sampling(
            SamplingKeys {
                temperature: Some("temperature"),
                top_p: Some("topP"),
                max_tokens: Some("maxTokens"),
                stop: Some("stopSequences"),
            },
            &mut config,
        );
        if !config.is_empty() {
            body.insert("inferenceConfig".into(), Value::Object(config));
        }
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|t| json!({"toolSpec": {"name": t.name, "description": t.description, "inputSchema": {"json": t.parameters}}}))
                .collect();
            body.insert("toolConfig".into(), json!({"tools": tools}));
        }
        if let Some(r) = request.reasoning {
            // Claude on Bedrock takes Anthropic's thinking switch as a model field.
            body.insert(
                "additionalModelRequestFields".into(),
                json!({"thinking": {"type": "enabled", "budget_tokens": r.budget()}}),
            );
        }
        Value::Object(body)
    }

    async fn post(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, GatewayError> {
        let op = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        // The model id goes in the path percent-encoded (`:` in version suffixes).
        let model: String =
            url::form_urlencoded::byte_serialize(request.model.as_bytes()).collect();
        let url = format!("{}/model/{model}/{op}", self.base_url);
        let body = serde_json::to_vec(&self.body(request)).expect("a JSON value serializes");
        let signed = self.sign(&url, &body)?;
        let mut req = self
            .conn
            .client()
            .post(&url)
            .header("content-type", "application/json")
            .header(
                "accept",
                if stream {
                    "application/vnd.amazon.eventstream"
                } else {
                    "application/json"
                },
            );
        for (name, value) in signed {
            req = req.header(name, value);
        }
        self.conn.send(req.body(body), &self.base_url, stream).await
    }

    /// The SigV4 headers (`authorization`, `x-amz-date`, and the session token)
    /// for a POST of `body` to `url`.
    fn sign(&self, url: &str, body: &[u8]) -> Result<Vec<(String, String)>, GatewayError> {
        let failed = |e: &dyn std::fmt::Display| GatewayError::Unauthorized {
            status: 0,
            message: format!("signing the Bedrock request failed: {e}"),
        };
        let identity = Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "chorus-config",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("bedrock")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let headers = [("content-type", "application/json")];
        let signable =
            SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body))
                .map_err(|e| failed(&e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| failed(&e))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

fn messages(request: &ChatRequest) -> Vec<Value> {
    crate::request::role_messages(request, "assistant", "content", block)
}

fn block(part: &Part) -> Value {
    match part {
        Part::Text(t) => json!({"text": t}),
        Part::Image(Image::Base64 { media_type, data }) => json!({
            "image": {"format": media_type.trim_start_matches("image/"), "source": {"bytes": data}},
        }),
        // Converse takes image bytes only; say where the image was rather than drop it.
        Part::Image(Image::Url(url)) => json!({"text": format!("[image at {url}]")}),
        Part::ToolCall(c) => json!({
            "toolUse": {"toolUseId": c.id, "name": c.name, "input": arguments_object(&c.arguments)},
        }),
        Part::ToolResult(r) => json!({
            "toolResult": {
                "toolUseId": r.call_id,
                "content": [{"text": r.content}],
                "status": if r.is_error { "error" } else { "success" },
            },
        }),
    }
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// Turns ConverseStream events into stream events.
#[derive(Default)]
struct Reader {
    tool_blocks: Vec<u32>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl http::Reader<Message> for Reader {
    fn read(&mut self, message: Message, out: &mut Vec<StreamEvent>) -> Result<bool, GatewayError> {
        let message = &message;
        let payload = std::str::from_utf8(message.payload()).unwrap_or_default();
        if header(message, ":message-type") == Some("exception") {
            let kind = header(message, ":exception-type").unwrap_or("exception");
            let status = match kind {
                "throttlingException" => 429,
                "validationException" => 400,
                "accessDeniedException" => 403,
                "serviceUnavailableException" => 503,
                _ => 500,
            };
            let message = format!("{} ({kind})", http::error_message(payload));
            return Err(http::error_for_status(status, message, None));
        }
        let event_type = header(message, ":event-type").unwrap_or_default();
        match event_type {
            "contentBlockStart" => {
                let ev: BlockStart = parse_event(payload, format_args!("the {event_type} event"))?;
                if let Some(tool) = ev.start.tool_use {
                    self.tool_blocks.push(ev.content_block_index);
                    out.push(StreamEvent::ToolCallStart {
                        index: ev.content_block_index,
                        id: tool.tool_use_id,
                        name: tool.name,
                    });
                }
            }
            "contentBlockDelta" => {
                let ev: BlockDelta = parse_event(payload, format_args!("the {event_type} event"))?;
                let index = ev.content_block_index;
                if let Some(text) = ev.delta.text {
                    out.push(StreamEvent::Text(text));
                }
                if let Some(tool) = ev.delta.tool_use {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: tool.input,
                    });
                }
                if let Some(text) = ev.delta.reasoning_content.and_then(|r| r.text) {
                    out.push(StreamEvent::Reasoning(text));
                }
            }
            "contentBlockStop" => {
                let ev: BlockStop = parse_event(payload, format_args!("the {event_type} event"))?;
                if self.tool_blocks.contains(&ev.content_block_index) {
                    out.push(StreamEvent::ToolCallEnd {
                        index: ev.content_block_index,
                    });
                }
            }
            "messageStop" => {
                let ev: MessageStop = parse_event(payload, format_args!("the {event_type} event"))?;
                self.finish = Some(FinishReason::from_wire(&ev.stop_reason));
            }
            "metadata" => {
                let ev: Metadata = parse_event(payload, format_args!("the {event_type} event"))?;
                self.usage = ev.usage.map(Into::into);
            }
            _ => {} // messageStart, and event types added later
        }
        // ConverseStream has no end marker after `metadata`: it ends with the body.
        Ok(false)
    }

    fn end(self, out: &mut Vec<StreamEvent>) -> Result<(), GatewayError> {
        http::close(self.usage, self.finish, out)
    }
}

/// The event-stream frames of a reply, decoded as they arrive. A body that
/// ends inside a frame is cut off.
fn frames(
    resp: reqwest::Response,
    idle: Duration,
) -> BoxStream<'static, Result<Message, GatewayError>> {
    async_stream::stream! {
        let mut body = http::with_idle_timeout(resp.bytes_stream(), idle).boxed();
        let mut decoder = MessageFrameDecoder::new();
        let mut buf = BytesMut::new();
        // Bytes received that no complete frame has used yet (the decoder keeps
        // a frame's prelude to itself, so `buf` alone cannot tell).
        let mut pending = false;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    yield Err(GatewayError::Malformed(format!("the event stream broke: {}", http::root_cause(&e))));
                    return;
                }
                Err(e) => { yield Err(e); return; }
            };
            pending |= !chunk.is_empty();
            buf.extend_from_slice(&chunk);
            loop {
                match decoder.decode_frame(&mut buf) {
                    Ok(DecodedFrame::Complete(message)) => {
                        pending = buf.has_remaining();
                        yield Ok(message);
                    }
                    Ok(DecodedFrame::Incomplete) => break,
                    Err(e) => {
                        yield Err(GatewayError::Malformed(format!("an event-stream frame is invalid: {e}")));
                        return;
                    }
                }
            }
        }
        if pending {
            yield Err(http::cut_short());
        }
    }
    .boxed()
}

impl Provider for Bedrock {
    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxStream<'static, Result<StreamEvent, GatewayError>> {
        let this = self.clone();
        let post = async move { this.post(&request, true).await };
        http::stream(post, frames, self.conn.idle(), Reader::default())
    }

    fn complete(&self, request: ChatRequest) -> BoxFuture<'static, Result<Answer, GatewayError>> {
        let this = self.clone();
        async move {
            let resp = this.post(&request, false).await?;
            let reply: ConverseReply = http::json(resp, "the Converse reply").await?;
            let mut answer = Answer {
                finish: FinishReason::from_wire(&reply.stop_reason),
                usage: reply.usage.map(Into::into),
                ..Default::default()
            };
            for block in reply.output.message.content {
                if let Some(text) = block.text {
                    answer.text.push_str(&text);
                }
                if let Some(r) = block.reasoning_content.and_then(|r| r.reasoning_text) {
                    answer.reasoning.push_str(&r.text);
                }
                if let Some(t) = block.tool_use {
                    answer.tool_calls.push(ToolCall {
                        id: t.tool_use_id,
                        name: t.name,
                        arguments: t.input.to_string(),
                    });
                }
            }
            Ok(answer)
        }
        .boxed()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart {
    content_block_index: u32,
    start: StartBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    #[serde(default)]
    tool_use: Option<ToolUseStart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseStart {
    tool_use_id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta {
    content_block_index: u32,
    delta: DeltaBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaBody {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_use: Option<ToolUseDelta>,
    #[serde(default)]
    reasoning_content: Option<ReasoningDelta>,
}

#[derive(Deserialize)]
struct ToolUseDelta {
    input: String,
}

#[derive(Deserialize)]
struct ReasoningDelta {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStop {
    content_block_index: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    stop_reason: String,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_write_input_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        crate::answer::usage_with_cache(
            u.input_tokens,
            u.output_tokens,
            u.cache_read_input_tokens,
            u.cache_write_input_tokens,
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseReply {
    output: ConverseOutput,
    stop_reason: String,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ConverseOutput {
    message: ConverseMessage,
}

#[derive(Deserialize)]
struct ConverseMessage {
    #[serde(default)]
    content: Vec<ContentBlock>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContentBlock {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_use: Option<ToolUseWhole>,
    #[serde(default)]
    reasoning_content: Option<ReasoningWhole>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseWhole {
    tool_use_id: String,
    name: String,
    #[serde(default)]
    input: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningWhole {
    #[serde(default)]
    reasoning_text: Option<ReasoningText>,
}

#[derive(Deserialize)]
struct ReasoningText {
    text: String,
}
