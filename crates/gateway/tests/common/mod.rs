//! Helpers shared by the adapter tests.
#![allow(dead_code)]

use chorus_gateway::{
    Answer, ChatMessage, ChatRequest, GatewayError, Image, Part, Provider, Speaker, StreamEvent,
    ToolCall, ToolResult, ToolSpec,
};
use futures::StreamExt;
use serde_json::json;

/// Everything a stream yielded, and the error that ended it, if any.
pub struct Run {
    pub events: Vec<StreamEvent>,
    pub error: Option<GatewayError>,
}

impl Run {
    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn reasoning(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Reasoning(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The answer these events add up to (fails if the stream failed).
    pub async fn answer(&self) -> Answer {
        assert_eq!(self.error, None, "the stream failed");
        Answer::collect(futures::stream::iter(
            self.events.clone().into_iter().map(Ok),
        ))
        .await
        .expect("a complete answer")
    }
}

pub async fn run(provider: &dyn Provider, request: ChatRequest) -> Run {
    let mut stream = provider.stream(request);
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => {
                assert!(stream.next().await.is_none(), "nothing may follow an error");
                return Run {
                    events,
                    error: Some(e),
                };
            }
        }
    }
    Run {
        events,
        error: None,
    }
}

pub fn simple(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        system: Some("You are terse.".into()),
        messages: vec![ChatMessage::user(text)],
        ..Default::default()
    }
}

pub const PNG_1PX: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

pub fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "Get the current weather in a given location".into(),
        parameters: json!({
            "type": "object",
            "properties": {"location": {"type": "string", "description": "The city and state"}},
            "required": ["location"]
        }),
    }
}

/// A conversation with everything an adapter must translate: an image, a
/// tool call the model made, and its result.
pub fn full_conversation(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        system: Some("You are a weather bot.".into()),
        messages: vec![
            ChatMessage {
                speaker: Speaker::User,
                parts: vec![
                    Part::Text("What is in this image, and what's the weather in Paris?".into()),
                    Part::Image(Image::Base64 {
                        media_type: "image/png".into(),
                        data: PNG_1PX.into(),
                    }),
                ],
            },
            ChatMessage {
                speaker: Speaker::Assistant,
                parts: vec![
                    Part::Text("A white pixel. Let me check the weather.".into()),
                    Part::ToolCall(ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"location":"Paris, France"}"#.into(),
                    }),
                ],
            },
            ChatMessage {
                speaker: Speaker::User,
                parts: vec![Part::ToolResult(ToolResult {
                    call_id: "call_1".into(),
                    name: "get_weather".into(),
                    content: "18°C, sunny".into(),
                    is_error: false,
                })],
            },
        ],
        tools: vec![weather_tool()],
        temperature: Some(0.3),
        top_p: Some(0.9),
        max_tokens: Some(300),
        stop: vec!["END".into()],
        reasoning: None,
    }
}

/// A port with nothing listening on it.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
