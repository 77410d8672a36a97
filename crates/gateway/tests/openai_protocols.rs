//! OpenAI's protocols beyond plain text: Chat Completions tool calls split over
//! chunks, reasoning deltas, images; the Responses API's typed events; Azure's
//! deployment URLs and `api-key` header; and retries before the first event.

mod common;

use chorus_gateway::{
    Effort, FinishReason, GatewayError, OpenAiChat, OpenAiResponses, Provider, Reasoning,
    RetryPolicy, Retrying, StreamEvent, Target,
};
use chorus_testkit::upstream::{FakeUpstream, Received, Reply};
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "sk-test";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn openai_error(status: u16, message: &str, kind: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    )
}

fn bearer_ok(req: &Received) -> bool {
    req.header("authorization") == Some(&format!("Bearer {KEY}"))
}

#[tokio::test]
async fn chat_tool_calls_split_across_chunks_become_whole_calls() {
    let up = FakeUpstream::start(|req| {
        if !bearer_ok(req) {
            return openai_error(401, "Incorrect API key provided.", "invalid_request_error");
        }
        Reply::sse(fixture("chat_tools.sse")).in_chunks(23, Duration::ZERO)
    })
    .await;
    let p = OpenAiChat::new(reqwest::Client::new(), &format!("{}/v1", up.url()), KEY);
    let run = run(&p, full_conversation("gpt-4o")).await;
    assert_eq!(run.error, None);
    let answer = run.answer().await;
    let calls: Vec<(String, Value)> = answer
        .tool_calls
        .iter()
        .map(|c| (c.id.clone(), serde_json::from_str(&c.arguments).unwrap()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "call_DdmO9pD3xa9XTPNJ32zg2hcA".to_string(),
                json!({"location": "Paris, France"})
            ),
            ("call_2".to_string(), json!({"location": "Rome"})),
        ]
    );
    assert_eq!(answer.finish, FinishReason::ToolCalls);
    let u = answer.usage.unwrap();
    assert_eq!(
        (
            u.input_tokens,
            u.cached_tokens,
            u.output_tokens,
            u.reasoning_tokens
        ),
        (82, 64, 40, 16)
    );

    // The conversation went out in Chat Completions' shape.
    let body = up.only().json();
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(
        msgs[0],
        json!({"role": "system", "content": "You are a weather bot."})
    );
    assert_eq!(
        msgs[1]["content"][1],
        json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_1PX}")}})
    );
    assert_eq!(
        msgs[2]["tool_calls"][0],
        json!({"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}})
    );
    assert_eq!(
        msgs[3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "18°C, sunny"})
    );
    assert_eq!(
        msgs.len(),
        4,
        "a user turn holding only tool results adds no empty user message"
    );
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["top_p"], json!(0.9f32));
}

#[tokio::test]
async fn chat_reasoning_content_is_reasoning() {
    let up = FakeUpstream::start(|_| Reply::sse(fixture("chat_reasoning.sse"))).await;
    let p = OpenAiChat::new(reqwest::Client::new(), &up.url(), KEY);
    let mut req = simple("deepseek-reasoner", "2+2?");
    req.reasoning = Some(Reasoning::Effort(Effort::High));
    let run = run(&p, req).await;
    assert_eq!(
        (run.reasoning().as_str(), run.text().as_str()),
        ("Hmm, 2+2.", "4")
    );
    assert_eq!(up.only().json()["reasoning_effort"], "high");
}

#[tokio::test]
async fn azure_uses_the_deployment_url_api_version_and_api_key_header() {
    let up = FakeUpstream::start(|req| {
        if req.header("api-key") != Some("az-key") {
            return openai_error(
                401,
                "Access denied due to invalid subscription key or wrong API endpoint.",
                "invalid_request_error",
            );
        }
        if req.uri != "/openai/deployments/acme-gpt4o/chat/completions?api-version=2024-10-21" {
            return openai_error(
                404,
                "The API deployment for this resource does not exist.",
                "invalid_request_error",
            );
        }
        Reply::sse(fixture("chat_reasoning.sse"))
    })
    .await;
    let p = OpenAiChat::with_target(
        reqwest::Client::new(),
        Target::Azure {
            base_url: up.url(),
            api_key: "az-key".into(),
            api_version: "2024-10-21".into(),
            deployments: BTreeMap::from([("gpt-4o".into(), "acme-gpt4o".into())]),
        },
    );
    let run = run(&p, simple("gpt-4o", "hi")).await;
    assert_eq!(run.error, None);
    assert_eq!(run.text(), "4");
    let sent = up.only();
    assert!(
        sent.json().get("model").is_none(),
        "Azure takes the model from the deployment"
    );
    assert!(sent.header("authorization").is_none());
    assert_eq!(p.list_models().await.unwrap(), ["gpt-4o"]);
}

fn responses_upstream(fixture_name: &'static str) -> impl Fn(&Received) -> Reply {
    move |req| {
        if !bearer_ok(req) {
            return openai_error(401, "Incorrect API key provided.", "invalid_request_error");
        }
        let body = req.json();
        if req.uri != "/v1/responses" || !body["model"].is_string() || !body["input"].is_array() {
            return openai_error(
                400,
                "Missing required parameter: 'input'.",
                "invalid_request_error",
            );
        }
        if body.get("messages").is_some() {
            return openai_error(
                400,
                "Unsupported parameter: 'messages'. In the Responses API, this parameter has moved to 'input'.",
                "invalid_request_error",
            );
        }
        if body["stream"] == true {
            Reply::sse(fixture(fixture_name)).in_chunks(41, Duration::ZERO)
        } else {
            Reply::json(
                200,
                &json!({
                    "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-4.1",
                    "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                                "content": [{"type": "output_text", "text": "Hello there.", "annotations": []}]}],
                    "usage": {"input_tokens": 10, "output_tokens": 3, "total_tokens": 13}
                }),
            )
        }
    }
}

#[tokio::test]
async fn responses_api_streams_reasoning_text_and_calls() {
    let up = FakeUpstream::start(responses_upstream("responses_tool.sse")).await;
    let p = OpenAiResponses::new(reqwest::Client::new(), &format!("{}/v1", up.url()), KEY);
    let mut req = full_conversation("gpt-4.1");
    req.reasoning = Some(Reasoning::Budget(20_000));
    let run = run(&p, req).await;
    assert_eq!(run.error, None);
    assert_eq!(run.reasoning(), "Weather needs a lookup.");
    assert_eq!(run.text(), "Let me check.");
    let answer = run.answer().await;
    assert_eq!(answer.tool_calls[0].id, "call_Ta9XWQv5");
    assert_eq!(
        answer.tool_calls[0].arguments,
        r#"{"location":"Paris, France"}"#
    );
    assert_eq!(answer.finish, FinishReason::ToolCalls);
    let u = answer.usage.unwrap();
    assert_eq!(
        (
            u.input_tokens,
            u.cached_tokens,
            u.output_tokens,
            u.reasoning_tokens
        ),
        (328, 128, 52, 30)
    );

    let body = up.only().json();
    assert_eq!(body["instructions"], "You are a weather bot.");
    assert_eq!(body["store"], false);
    assert_eq!(
        body["reasoning"],
        json!({"effort": "high", "summary": "auto"})
    );
    let input = body["input"].as_array().unwrap();
    assert_eq!(
        input[0]["content"][1],
        json!({"type": "input_image", "image_url": format!("data:image/png;base64,{PNG_1PX}")})
    );
    assert_eq!(
        input[1],
        json!({"role": "assistant", "content": [{"type": "output_text", "text": "A white pixel. Let me check the weather."}]})
    );
    assert_eq!(input[2]["type"], "function_call");
    assert_eq!(
        input[3],
        json!({"type": "function_call_output", "call_id": "call_1", "output": "18°C, sunny"})
    );
    assert_eq!(
        body["tools"][0],
        json!({"type": "function", "name": "get_weather", "description": "Get the current weather in a given location", "parameters": weather_tool().parameters})
    );
    assert_eq!(body["max_output_tokens"], 300);
}

#[tokio::test]
async fn responses_api_error_event_and_non_streamed_reply() {
    let up = FakeUpstream::start(responses_upstream("responses_error.sse")).await;
    let p = OpenAiResponses::new(reqwest::Client::new(), &format!("{}/v1", up.url()), KEY);
    let run = run(&p, simple("gpt-4.1", "hi")).await;
    assert_eq!(
        run.error,
        Some(GatewayError::Upstream {
            status: 500,
            message: "The server had an error while processing your request. (server_error)".into()
        })
    );
    let answer = p.complete(simple("gpt-4.1", "hi")).await.unwrap();
    assert_eq!(answer.text, "Hello there.");
    assert_eq!(answer.usage.unwrap().input_tokens, 10);
}

/// An upstream that fails `failures` times with `status`, then answers.
async fn flaky(
    failures: usize,
    status: u16,
    retry_after: Option<&'static str>,
) -> (FakeUpstream, Arc<Mutex<Vec<Instant>>>) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let seen = times.clone();
    let up = FakeUpstream::start(move |_| {
        let mut t = seen.lock().unwrap();
        t.push(Instant::now());
        if t.len() <= failures {
            let reply = openai_error(status, "Rate limit reached for requests", "requests");
            match retry_after {
                Some(v) => reply.header("retry-after", v),
                None => reply,
            }
        } else {
            Reply::sse(fixture("chat_reasoning.sse"))
        }
    })
    .await;
    (up, times)
}

fn retrying(up: &FakeUpstream) -> Retrying {
    let inner = Arc::new(OpenAiChat::new(reqwest::Client::new(), &up.url(), KEY));
    Retrying::new(
        inner,
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(40),
            max_delay: Duration::from_secs(5),
        },
    )
}

#[tokio::test]
async fn retries_429_honouring_retry_after_then_streams_once() {
    let (up, times) = flaky(1, 429, Some("0.3")).await;
    let run = run(&retrying(&up), simple("m", "hi")).await;
    assert_eq!(run.error, None);
    assert_eq!(run.text(), "4");
    let t = times.lock().unwrap();
    assert_eq!(t.len(), 2);
    assert!(
        t[1] - t[0] >= Duration::from_millis(300),
        "waited {:?}",
        t[1] - t[0]
    );
}

#[tokio::test]
async fn retries_5xx_with_backoff_and_gives_up_after_the_last_attempt() {
    let (up, times) = flaky(5, 503, None).await;
    let run = run(&retrying(&up), simple("m", "hi")).await;
    assert!(
        matches!(run.error, Some(GatewayError::Upstream { status: 503, .. })),
        "{:?}",
        run.error
    );
    let t = times.lock().unwrap();
    assert_eq!(t.len(), 3, "three attempts in all");
    assert!(
        t[2] - t[1] >= 2 * (t[1] - t[0]) - Duration::from_millis(20),
        "the wait doubles"
    );
}

#[tokio::test]
async fn never_retries_once_text_has_streamed_or_for_a_bad_key() {
    let calls = Arc::new(Mutex::new(0));
    let seen = calls.clone();
    let up = FakeUpstream::start(move |_| {
        *seen.lock().unwrap() += 1;
        let body = fixture("chat_reasoning.sse");
        let cut = String::from_utf8_lossy(&body)
            .find(r#""content":"4""#)
            .unwrap();
        Reply::sse(body)
            .in_chunks(64, Duration::from_millis(1))
            .cut_after(cut)
    })
    .await;
    let run = run(&retrying(&up), simple("m", "hi")).await;
    assert!(!run.events.is_empty());
    assert!(run.error.is_some());
    assert_eq!(
        *calls.lock().unwrap(),
        1,
        "an error after the first event is final"
    );

    let (up, times) = flaky(5, 401, None).await;
    let run = common::run(&retrying(&up), simple("m", "hi")).await;
    assert!(matches!(run.error, Some(GatewayError::Unauthorized { .. })));
    assert_eq!(times.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let up = FakeUpstream::start(move |_| {
        let _ = tx.lock().unwrap().send(());
        // A long, slow answer.
        let body = fixture("chat_reasoning.sse").repeat(50);
        Reply::sse(body).in_chunks(16, Duration::from_millis(20))
    })
    .await;
    let p = OpenAiChat::new(reqwest::Client::new(), &up.url(), KEY);
    let mut stream = p.stream(simple("m", "hi"));
    use futures::StreamExt;
    let first = stream.next().await.unwrap().unwrap();
    assert!(matches!(first, StreamEvent::Reasoning(_)));
    rx.recv().unwrap();
    drop(stream);
    // The upstream notices: its connection count drops to zero.
    let deadline = Instant::now() + Duration::from_secs(5);
    while up.open_connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "the upstream connection stayed open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
