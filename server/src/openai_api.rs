//! The OpenAI-compatible API: `GET /v1/models` and `POST /v1/chat/completions`
//! (streaming and not), authenticated by per-user API keys. Requests are
//! validated up front; every failure is an OpenAI-shaped error with a 4xx/5xx
//! status, never a 200.

use crate::ServerState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chorus_engine::ApiModelError;
use chorus_gateway::{
    Answer, ChatMessage, ChatRequest, Effort, GatewayError, Image, Part, Reasoning, Speaker,
    StreamEvent, ToolCall, ToolResult, ToolSpec,
};
use chorus_types::{Usage, UserId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An error in OpenAI's shape.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let kind = if status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        };
        Self {
            status,
            message: message.into(),
            kind,
            code: None,
            param: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>, param: Option<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            code: None,
            param,
        }
    }

    fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// How an upstream failure looks to an API client: the gateway's own key and
/// network trouble are the server's problem (502/504), a 4xx the upstream gave
/// about the request is passed on, and rate limits stay 429.
impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        let (status, kind) = match &e {
            GatewayError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
            GatewayError::Upstream { status, .. }
                if (400..500).contains(status) && *status != 401 && *status != 403 =>
            {
                (
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
                    "invalid_request_error",
                )
            }
            GatewayError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_error"),
            GatewayError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
            GatewayError::UnknownEndpoint(_) | GatewayError::NeedsUserKey(_) => {
                (StatusCode::BAD_REQUEST, "invalid_request_error")
            }
            _ => (StatusCode::BAD_GATEWAY, "upstream_error"),
        };
        Self {
            status,
            message: e.to_string(),
            kind,
            code: None,
            param: None,
        }
    }
}

/// The user whose API key came as `Authorization: Bearer <key>` (OpenAI's SDKs)
/// or `X-API-Key: <key>` (LibreChat's code API client).
async fn authenticate(state: &ServerState, headers: &HeaderMap) -> Result<UserId, ApiError> {
    let unauthorized = |message: &str| ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: message.into(),
        kind: "invalid_request_error",
        code: Some("invalid_api_key"),
        param: None,
    };
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .ok_or_else(|| unauthorized("You didn't provide an API key. Send it as `Authorization: Bearer <key>`; an administrator creates one with `chorus api-key create --email <your email>`."))?;
    match state.app.engine.user_for_api_key(key).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(unauthorized("Incorrect API key provided.")),
        Err(e) => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("The key store is unavailable: {e}"),
            kind: "server_error",
            code: None,
            param: None,
        }),
    }
}

/// The user whose API key is on the request, as an extractor: a handler that
/// takes it never runs for a missing or wrong key (the 401 is answered for it).
pub(crate) struct ApiUser(pub UserId);

impl axum::extract::FromRequestParts<ServerState> for ApiUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers)
            .await
            .map(ApiUser)
            .map_err(IntoResponse::into_response)
    }
}

pub async fn models(ApiUser(user): ApiUser, State(state): State<ServerState>) -> Response {
    let data: Vec<Value> = state
        .app
        .engine
        .api_models(&user)
        .await
        .into_iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.endpoint}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

#[derive(Deserialize)]
struct CompletionRequest {
    model: String,
    messages: Vec<WireMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    tools: Vec<WireTool>,
    #[serde(default)]
    reasoning_effort: Option<String>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct WireTool {
    #[serde(rename = "type")]
    kind: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum WireMessage {
    System {
        content: Content,
    },
    Developer {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        tool_calls: Vec<WireToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: Content,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Deserialize)]
struct ImageUrl {
    url: String,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireCall,
}

#[derive(Deserialize)]
struct WireCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

impl Content {
    fn into_parts(self) -> Vec<Part> {
        match self {
            Content::Text(t) => vec![Part::Text(t)],
            Content::Parts(parts) => parts
                .into_iter()
                .map(|p| match p {
                    ContentPart::Text { text } => Part::Text(text),
                    ContentPart::ImageUrl { image_url } => Part::Image(image(&image_url.url)),
                })
                .collect(),
        }
    }

    fn text(self) -> String {
        self.into_parts()
            .into_iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `data:image/png;base64,…` becomes inline bytes; anything else stays a URL.
fn image(url: &str) -> Image {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((media_type, data)) = rest.split_once(";base64,")
    {
        return Image::Base64 {
            media_type: media_type.to_string(),
            data: data.to_string(),
        };
    }
    Image::Url(url.to_string())
}

impl CompletionRequest {
    /// The gateway's request, or what is wrong with this one.
    fn into_chat(self, model: String) -> Result<ChatRequest, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::invalid(
                "[] is too short - 'messages'",
                Some("messages".into()),
            ));
        }
        let mut system: Vec<String> = Vec::new();
        let mut messages: Vec<ChatMessage> = Vec::new();
        // Tool results need the called function's name (Gemini matches by it).
        let mut call_names: Vec<(String, String)> = Vec::new();
        for m in self.messages {
            match m {
                WireMessage::System { content } | WireMessage::Developer { content } => {
                    system.push(content.text())
                }
                WireMessage::User { content } => messages.push(ChatMessage {
                    speaker: Speaker::User,
                    parts: content.into_parts(),
                }),
                WireMessage::Assistant {
                    content,
                    tool_calls,
                } => {
                    let mut parts = content.map(Content::into_parts).unwrap_or_default();
                    for c in tool_calls {
                        call_names.push((c.id.clone(), c.function.name.clone()));
                        parts.push(Part::ToolCall(ToolCall {
                            id: c.id,
                            name: c.function.name,
                            arguments: c.function.arguments,
                        }));
                    }
                    messages.push(ChatMessage {
                        speaker: Speaker::Assistant,
                        parts,
                    });
                }
                WireMessage::Tool {
                    tool_call_id,
                    content,
                } => {
                    let name = call_names
                        .iter()
                        .find(|(id, _)| *id == tool_call_id)
                        .map(|(_, n)| n.clone())
                        .ok_or_else(|| {
                            ApiError::invalid(
                                format!("Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls' (no call has id {tool_call_id:?})."),
                                Some("messages".into()),
                            )
                        })?;
                    let result = Part::ToolResult(ToolResult {
                        call_id: tool_call_id,
                        name,
                        content: content.text(),
                        is_error: false,
                    });
                    // Consecutive tool results form one user turn.
                    match messages.last_mut() {
                        Some(last)
                            if last.speaker == Speaker::User
                                && last.parts.iter().all(|p| matches!(p, Part::ToolResult(_))) =>
                        {
                            last.parts.push(result)
                        }
                        _ => messages.push(ChatMessage {
                            speaker: Speaker::User,
                            parts: vec![result],
                        }),
                    }
                }
            }
        }
        let mut tools = Vec::new();
        for (i, t) in self.tools.into_iter().enumerate() {
            if t.kind != "function" {
                return Err(ApiError::invalid(
                    format!(
                        "Invalid value: '{}'. Supported values are: 'function'.",
                        t.kind
                    ),
                    Some(format!("tools[{i}].type")),
                ));
            }
            tools.push(ToolSpec {
                name: t.function.name,
                description: t.function.description,
                parameters: t
                    .function
                    .parameters
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            });
        }
        let reasoning = match self.reasoning_effort.as_deref() {
            None => None,
            Some(e) => Some(Reasoning::Effort(Effort::parse(e).ok_or_else(|| {
                ApiError::invalid(
                    format!(
                        "Invalid value: '{e}'. Supported values are: 'low', 'medium', and 'high'."
                    ),
                    Some("reasoning_effort".into()),
                )
            })?)),
        };
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(ApiError::invalid(
                format!(
                    "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got {t} instead."
                ),
                Some("temperature".into()),
            ));
        }
        Ok(ChatRequest {
            model,
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            messages,
            tools,
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            stop: match self.stop {
                None => Vec::new(),
                Some(Stop::One(s)) => vec![s],
                Some(Stop::Many(v)) => v,
            },
            reasoning,
        })
    }
}

fn parse(body: &[u8]) -> Result<CompletionRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            format!("We could not parse the JSON body of your request. ({e})"),
            None,
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::invalid(
            "The request body must be a JSON object.",
            None,
        ));
    }
    for required in ["model", "messages"] {
        if value.get(required).is_none() {
            return Err(ApiError::invalid(
                format!("Missing required parameter: '{required}'."),
                Some(required.into()),
            ));
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid(
            format!("Invalid value for '{path}': {}", e.inner()),
            Some(path),
        )
    })
}

pub async fn chat_completions(
    ApiUser(user): ApiUser,
    State(state): State<ServerState>,
    body: Bytes,
) -> Response {
    match complete(state, user, body).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn complete(state: ServerState, user: UserId, body: Bytes) -> Result<Response, ApiError> {
    let req = parse(&body)?;
    let model_id = req.model.clone();
    if model_id.starts_with(chorus_engine::AGENT_MODEL_PREFIX) && !req.tools.is_empty() {
        return Err(ApiError::invalid(
            "An agent brings its own tools, which run on the server; send the request without `tools`.",
            Some("tools".into()),
        ));
    }
    let (provider, model) = state
        .app
        .engine
        .api_provider(&user, &model_id)
        .await
        .map_err(|e| match e {
            ApiModelError::Unknown(message) => ApiError {
                status: StatusCode::NOT_FOUND,
                message,
                kind: "invalid_request_error",
                code: Some("model_not_found"),
                param: Some("model".into()),
            },
            ApiModelError::Unusable(e) => e.into(),
        })?;
    let stream = req.stream;
    let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let chat = req.into_chat(model)?;
    let id = format!("chatcmpl-{}", ulid::Ulid::new());
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if !stream {
        let answer = provider.complete(chat).await?;
        return Ok(axum::Json(completion(&id, created, &model_id, answer)).into_response());
    }
    // Wait for the first event, so a failure before any output is a real HTTP
    // error (and the gateway's retries happen before the client sees a 200).
    let mut events = provider.stream(chat);
    let first = match events.next().await {
        Some(Ok(ev)) => ev,
        Some(Err(e)) => return Err(e.into()),
        None => return Err(GatewayError::Malformed("the upstream sent nothing".into()).into()),
    };
    let chunks = ChunkWriter {
        id,
        created,
        model: model_id,
        include_usage,
    };
    let body = async_stream::stream! {
        yield Ok::<_, std::convert::Infallible>(chunks.chunk(json!({"role": "assistant", "content": ""}), None));
        let mut next = Some(Ok(first));
        // OpenAI sends usage after the finish chunk; providers may report it
        // before, and counted usage comes last.
        let mut usage = None;
        let mut finished = false;
        loop {
            match next {
                Some(Ok(StreamEvent::Usage(u))) if finished => {
                    if let Some(bytes) = chunks.event(StreamEvent::Usage(u)) {
                        yield Ok(bytes);
                    }
                }
                Some(Ok(StreamEvent::Usage(u))) => usage = Some(u),
                Some(Ok(ev)) => {
                    finished |= matches!(ev, StreamEvent::Finish(_));
                    if let Some(bytes) = chunks.event(ev) {
                        yield Ok(bytes);
                    }
                    if finished && let Some(u) = usage.take() && let Some(bytes) = chunks.event(StreamEvent::Usage(u)) {
                        yield Ok(bytes);
                    }
                }
                Some(Err(e)) => {
                    // Mid-stream, the status is already 200: OpenAI's way is an
                    // error object in the stream.
                    let err = ApiError::from(e);
                    yield Ok(Bytes::from(format!("data: {}\n\n", err.body())));
                    break;
                }
                None => break,
            }
            next = events.next().await;
        }
        yield Ok(Bytes::from_static(b"data: [DONE]\n\n"));
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .expect("static headers are valid"))
}

struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

/// One `chat.completion.chunk`, borrowing what every chunk of a stream
/// repeats (this runs once per forwarded token).
#[derive(Serialize)]
struct WireChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [WireChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Value>,
}

#[derive(Serialize)]
struct WireChoice<'a> {
    index: u32,
    delta: Value,
    /// Always `null`: Chorus does not pass log probabilities on.
    logprobs: (),
    finish_reason: Option<&'a str>,
}

impl ChunkWriter {
    fn frame(&self, choices: &[WireChoice<'_>], usage: Option<Value>) -> Bytes {
        let chunk = WireChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        let mut out = b"data: ".to_vec();
        serde_json::to_writer(&mut out, &chunk).expect("a chunk always serializes");
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        let choice = WireChoice {
            index: 0,
            delta,
            logprobs: (),
            finish_reason: finish,
        };
        self.frame(std::slice::from_ref(&choice), None)
    }

    fn event(&self, ev: StreamEvent) -> Option<Bytes> {
        Some(match ev {
            StreamEvent::Text(t) => self.chunk(json!({"content": t}), None),
            StreamEvent::Reasoning(t) => self.chunk(json!({"reasoning_content": t}), None),
            StreamEvent::ToolCallStart { index, id, name } => self.chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                None,
            ),
            StreamEvent::ToolCallDelta { index, arguments } => self.chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}),
                None,
            ),
            StreamEvent::ToolCallEnd { .. } => return None,
            StreamEvent::Usage(u) if self.include_usage => self.frame(&[], Some(usage(&u))),
            StreamEvent::Usage(_) => return None,
            StreamEvent::Finish(reason) => self.chunk(json!({}), Some(reason.as_openai())),
        })
    }
}

fn usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

fn completion(id: &str, created: u64, model: &str, answer: Answer) -> Value {
    let mut message = json!({"role": "assistant", "content": answer.text, "refusal": null});
    if !answer.reasoning.is_empty() {
        message["reasoning_content"] = json!(answer.reasoning);
    }
    if !answer.tool_calls.is_empty() {
        message["tool_calls"] = answer
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
    }
    let mut out = json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": answer.finish.as_openai()}],
    });
    if let Some(u) = &answer.usage {
        out["usage"] = usage(u);
    }
    out
}
