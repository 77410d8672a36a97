//! The Anthropic adapter against a local upstream that checks requests the way
//! the Messages API does and answers with its documented SSE events.

mod common;

use chorus_gateway::{
    ANTHROPIC_VERSION, Anthropic, AnthropicTarget, Effort, FinishReason, GatewayError, Provider,
    Reasoning, StreamEvent,
};
use chorus_testkit::upstream::{FakeUpstream, Received, Reply};
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "sk-ant-test";

fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}),
    )
}

/// What the Messages API refuses, in the order it checks.
fn check(req: &Received) -> Result<Value, Reply> {
    if req.method != "POST" || req.uri != "/v1/messages" {
        return Err(error(404, "not_found_error", "Not found"));
    }
    let bearer = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    if req.header("x-api-key").or(bearer) != Some(KEY) {
        return Err(error(401, "authentication_error", "invalid x-api-key"));
    }
    if req.header("anthropic-version").is_none() {
        return Err(error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        ));
    }
    let body = req.json();
    if !body.is_object() {
        return Err(error(
            400,
            "invalid_request_error",
            "There was an issue with the request body",
        ));
    }
    if !body["model"].is_string() {
        return Err(error(400, "invalid_request_error", "model: Field required"));
    }
    if !body["max_tokens"].is_u64() {
        return Err(error(
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        ));
    }
    let Some(messages) = body["messages"].as_array() else {
        return Err(error(
            400,
            "invalid_request_error",
            "messages: Field required",
        ));
    };
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(error(
                400,
                "invalid_request_error",
                &format!("messages.{i}.role: Input should be 'user' or 'assistant'"),
            ));
        }
        for (j, block) in m["content"].as_array().into_iter().flatten().enumerate() {
            let ok = match block["type"].as_str() {
                Some("text") => block["text"].is_string(),
                Some("image") => {
                    block["source"]["type"] == "base64"
                        && block["source"]["media_type"].is_string()
                        && block["source"]["data"].is_string()
                        || block["source"]["type"] == "url"
                }
                Some("tool_use") => {
                    block["id"].is_string()
                        && block["name"].is_string()
                        && block["input"].is_object()
                }
                Some("tool_result") => block["tool_use_id"].is_string(),
                _ => false,
            };
            if !ok {
                return Err(error(
                    400,
                    "invalid_request_error",
                    &format!("messages.{i}.content.{j}: invalid content block"),
                ));
            }
        }
    }
    if let Some(thinking) = body.get("thinking")
        && thinking["budget_tokens"].as_u64().unwrap_or(0)
            >= body["max_tokens"].as_u64().unwrap_or(0)
    {
        return Err(error(
            400,
            "invalid_request_error",
            "max_tokens must be greater than thinking.budget_tokens",
        ));
    }
    Ok(body)
}

async fn upstream(fixture: &'static str) -> FakeUpstream {
    FakeUpstream::start(move |req| match check(req) {
        Err(reply) => reply,
        Ok(body) if body["stream"] == true => {
            // Split at odd byte counts so events straddle network reads.
            Reply::sse(
                std::fs::read(format!(
                    "{}/tests/fixtures/{fixture}",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap(),
            )
            .in_chunks(37, Duration::ZERO)
        }
        Ok(_) => Reply::json(
            200,
            &json!({
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": "Hi! My name is Claude."}],
                "model": "claude-sonnet-4-5", "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 2095, "output_tokens": 503}
            }),
        ),
    })
    .await
}

fn provider(up: &FakeUpstream, key: &str) -> Anthropic {
    Anthropic::new(
        reqwest::Client::new(),
        AnthropicTarget::Direct {
            base_url: up.url(),
            api_key: key.into(),
        },
    )
}

#[tokio::test]
async fn streams_text_with_usage_including_cache_reads() {
    let up = upstream("anthropic_text.sse").await;
    let run = run(&provider(&up, KEY), simple("claude-sonnet-4-5", "Hello")).await;
    assert_eq!(run.error, None);
    assert_eq!(run.text(), "Hello! How can I help?");
    let usage = run.answer().await.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.cached_tokens, usage.output_tokens),
        (35, 10, 15)
    );
    assert_eq!(
        run.events.last(),
        Some(&StreamEvent::Finish(FinishReason::Stop))
    );

    let sent = up.only();
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some(ANTHROPIC_VERSION));
    let body = sent.json();
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Hello"}]}])
    );
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn tool_use_and_thinking_arrive_in_order() {
    let up = upstream("anthropic_tool_thinking.sse").await;
    let mut request = full_conversation("claude-sonnet-4-5");
    request.reasoning = Some(Reasoning::Effort(Effort::Low));
    request.max_tokens = Some(4000);
    let run = run(&provider(&up, KEY), request).await;
    assert_eq!(run.error, None);
    assert_eq!(
        run.reasoning(),
        "The user wants the weather in San Francisco."
    );
    assert_eq!(run.text(), "Okay, let me check.");
    let answer = run.answer().await;
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_eq!(answer.tool_calls[0].name, "get_weather");
    let args: Value = serde_json::from_str(&answer.tool_calls[0].arguments).unwrap();
    assert_eq!(args, json!({"location": "San Francisco, CA"}));
    assert_eq!(answer.finish, FinishReason::ToolCalls);
    // The end of the call comes before the finish.
    let end = run
        .events
        .iter()
        .position(|e| matches!(e, StreamEvent::ToolCallEnd { index: 2 }))
        .unwrap();
    let finish = run
        .events
        .iter()
        .position(|e| matches!(e, StreamEvent::Finish(_)))
        .unwrap();
    assert!(end < finish);

    // What was sent: image block, tool_use with an object input, tool_result, tools, thinking.
    let body = up.only().json();
    let blocks = &body["messages"][0]["content"];
    assert_eq!(
        blocks[1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX}})
    );
    assert_eq!(
        body["messages"][1]["content"][1],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris, France"}})
    );
    assert_eq!(
        body["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": "18°C, sunny", "is_error": false})
    );
    assert_eq!(
        body["tools"][0]["input_schema"]["required"],
        json!(["location"])
    );
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert!(
        body.get("temperature").is_none(),
        "thinking rules out temperature"
    );
}

#[tokio::test]
async fn an_error_event_mid_stream_keeps_the_text_and_is_typed() {
    let up = upstream("anthropic_overloaded.sse").await;
    let run = run(&provider(&up, KEY), simple("claude-sonnet-4-5", "hi")).await;
    assert_eq!(run.text(), "Partial");
    let err = run.error.unwrap();
    assert!(
        matches!(err, GatewayError::Upstream { status: 529, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(
        err.to_string().contains("Overloaded (overloaded_error)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_with_anthropics_message() {
    let up = upstream("anthropic_text.sse").await;
    let run = run(
        &provider(&up, "sk-ant-wrong"),
        simple("claude-sonnet-4-5", "hi"),
    )
    .await;
    assert_eq!(
        run.error,
        Some(GatewayError::Unauthorized {
            status: 401,
            message: "invalid x-api-key (authentication_error)".into()
        })
    );
    assert!(run.events.is_empty());
}

#[tokio::test]
async fn a_cut_stream_is_an_error_after_the_text_so_far() {
    let fixture = std::fs::read(format!(
        "{}/tests/fixtures/anthropic_text.sse",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let cut_at = String::from_utf8_lossy(&fixture)
        .find("event: content_block_stop")
        .unwrap();
    let up = FakeUpstream::start(move |_| {
        Reply::sse(fixture.clone())
            .in_chunks(64, Duration::from_millis(1))
            .cut_after(cut_at)
    })
    .await;
    let run = run(&provider(&up, KEY), simple("claude-sonnet-4-5", "hi")).await;
    assert_eq!(run.text(), "Hello! How can I help?");
    assert!(
        matches!(run.error, Some(GatewayError::Malformed(_))),
        "{:?}",
        run.error
    );
}

#[tokio::test]
async fn an_empty_stream_is_an_error() {
    let up = FakeUpstream::start(|_| Reply::sse("")).await;
    let run = run(&provider(&up, KEY), simple("claude-sonnet-4-5", "hi")).await;
    assert!(run.events.is_empty());
    assert_eq!(
        run.error,
        Some(GatewayError::Malformed(
            "the stream ended before the answer was complete".into()
        ))
    );
}

#[tokio::test]
async fn non_streamed_message_and_rate_limit() {
    let up = upstream("anthropic_text.sse").await;
    let answer = provider(&up, KEY)
        .complete(simple("claude-sonnet-4-5", "hi"))
        .await
        .unwrap();
    assert_eq!(answer.text, "Hi! My name is Claude.");
    assert_eq!(answer.usage.unwrap().output_tokens, 503);
    assert!(up.only().json().get("stream").is_none());

    let limited = FakeUpstream::start(|_| {
        error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        )
        .header("retry-after", "7")
    })
    .await;
    let err = provider(&limited, KEY)
        .complete(simple("claude-sonnet-4-5", "hi"))
        .await
        .unwrap_err();
    match err {
        GatewayError::RateLimited {
            retry_after,
            message,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(message.ends_with("(rate_limit_error)"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
