//! The provider-neutral request every adapter translates into its wire format.

use serde_json::{Map, Value, json};

/// One model call: the conversation so far plus generation settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub system: Option<String>,
    pub messages: Vec<ChatMessage>,
    /// Functions the model may call.
    pub tools: Vec<ToolSpec>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    /// How hard a reasoning model should think, where the provider supports it.
    pub reasoning: Option<Reasoning>,
}

/// Who said it. Tool results travel in a `User` message (as Anthropic, Gemini and
/// Bedrock model them); the OpenAI adapters split them into `tool` messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessage {
    pub speaker: Speaker,
    pub parts: Vec<Part>,
}

/// A piece of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    /// The model asked for a function call (in an assistant message).
    ToolCall(ToolCall),
    /// The answer to a tool call (in a user message).
    ToolResult(ToolResult),
}

/// An image given to a vision model.
#[derive(Clone, Debug, PartialEq)]
pub enum Image {
    /// Inline bytes, base64-encoded, with their media type (`image/png`, …).
    Base64 { media_type: String, data: String },
    /// A URL the provider fetches itself.
    Url(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: a JSON object in text form.
    pub arguments: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// The called function's name (Gemini matches results by name).
    pub name: String,
    pub content: String,
    pub is_error: bool,
}

/// Reasoning control: OpenAI-style effort, or Anthropic/Gemini-style token budget.
/// Each adapter maps whichever is given onto what its provider understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reasoning {
    Effort(Effort),
    Budget(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    Low,
    Medium,
    High,
}

impl Effort {
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" | "minimal" => Some(Effort::Low),
            "medium" => Some(Effort::Medium),
            "high" => Some(Effort::High),
            _ => None,
        }
    }
}

impl Reasoning {
    /// A thinking budget in tokens, for providers that take one.
    pub fn budget(self) -> u32 {
        match self {
            Reasoning::Budget(n) => n,
            Reasoning::Effort(Effort::Low) => 1024,
            Reasoning::Effort(Effort::Medium) => 4096,
            Reasoning::Effort(Effort::High) => 16384,
        }
    }

    /// An effort level, for providers that take one.
    pub fn effort(self) -> Effort {
        match self {
            Reasoning::Effort(e) => e,
            Reasoning::Budget(n) if n < 2048 => Effort::Low,
            Reasoning::Budget(n) if n < 8192 => Effort::Medium,
            Reasoning::Budget(_) => Effort::High,
        }
    }
}

impl ChatMessage {
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            speaker: Speaker::User,
            parts: vec![Part::Text(text.into())],
        }
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            speaker: Speaker::Assistant,
            parts: vec![Part::Text(text.into())],
        }
    }

    /// The message's text parts joined (images and tool traffic left out).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            if let Part::Text(t) = p {
                out.push_str(t);
            }
        }
        out
    }
}

/// What a streaming answer yields, in order. Tool calls are announced with
/// `ToolCallStart`, their JSON arguments arrive in pieces, and `ToolCallEnd`
/// closes each one before `Finish`.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    Text(String),
    /// The model's visible thinking (Anthropic thinking blocks, Gemini thoughts,
    /// OpenAI reasoning summaries, `reasoning_content` of compatible servers).
    Reasoning(String),
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    ToolCallDelta {
        index: u32,
        arguments: String,
    },
    ToolCallEnd {
        index: u32,
    },
    Usage(chorus_types::Usage),
    /// Why the model stopped. The last event of a successful stream.
    Finish(FinishReason),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    Other(String),
}

impl FinishReason {
    /// Maps every provider's spelling onto one set.
    pub fn from_wire(s: &str) -> Self {
        match s {
            "stop" | "end_turn" | "STOP" | "stop_sequence" | "completed" => FinishReason::Stop,
            "length" | "max_tokens" | "MAX_TOKENS" | "max_output_tokens" | "incomplete" => {
                FinishReason::Length
            }
            "tool_calls" | "tool_use" | "function_call" => FinishReason::ToolCalls,
            "content_filter"
            | "SAFETY"
            | "RECITATION"
            | "refusal"
            | "guardrail_intervened"
            | "content_filtered"
            | "PROHIBITED_CONTENT"
            | "BLOCKLIST"
            | "SPII" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_string()),
        }
    }

    /// OpenAI's spelling (what `/v1/chat/completions` returns).
    pub fn as_openai(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(s) => s,
        }
    }
}

/// Messages as `{"role": …, <parts_key>: [...]}` objects, the shape Anthropic,
/// Gemini and Bedrock share; each names the assistant and the parts differently.
pub(crate) fn role_messages(
    request: &ChatRequest,
    assistant_role: &str,
    parts_key: &str,
    part: fn(&Part) -> Value,
) -> Vec<Value> {
    request
        .messages
        .iter()
        .map(|m| {
            let role = match m.speaker {
                Speaker::User => "user",
                Speaker::Assistant => assistant_role,
            };
            let parts: Vec<Value> = m.parts.iter().map(part).collect();
            serde_json::json!({"role": role, parts_key: parts})
        })
        .collect()
}

/// The names one protocol gives the sampling settings; `None` where it has no
/// such field (or, as Anthropic with thinking on, must not be sent).
pub(crate) struct SamplingKeys {
    pub temperature: Option<&'static str>,
    pub top_p: Option<&'static str>,
    pub max_tokens: Option<&'static str>,
    pub stop: Option<&'static str>,
}

impl ChatRequest {
    /// Writes the settings the request has under the protocol's names.
    pub(crate) fn write_sampling(&self, keys: SamplingKeys, out: &mut Map<String, Value>) {
        let mut put = |key: Option<&str>, value: Option<Value>| {
            if let (Some(k), Some(v)) = (key, value) {
                out.insert(k.to_string(), v);
            }
        };
        put(keys.temperature, self.temperature.map(|t| json!(t)));
        put(keys.top_p, self.top_p.map(|p| json!(p)));
        put(keys.max_tokens, self.max_tokens.map(|n| json!(n)));
        put(keys.stop, (!self.stop.is_empty()).then(|| json!(self.stop)));
    }
}
