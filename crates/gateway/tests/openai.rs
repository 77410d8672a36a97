//! The OpenAI adapter against a local upstream speaking the same wire protocol.

use chorus_gateway::{
    ChatMessage, ChatRequest, Connection, GatewayError, OpenAiChat, Provider, StreamEvent,
};
use chorus_testkit::{MockOpenAi, MockOptions, answer_for};
use futures::StreamExt;
use serde_json::json;
use std::collections::BTreeMap;

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        model: "mock-small".into(),
        system: Some("You are terse.".into()),
        messages: vec![ChatMessage::user(text)],
        ..Default::default()
    }
}

async fn collect(p: &OpenAiChat, text: &str) -> (String, Vec<StreamEvent>, Option<GatewayError>) {
    let mut s = p.stream(request(text));
    let (mut out, mut events) = (String::new(), Vec::new());
    while let Some(item) = s.next().await {
        match item {
            Ok(StreamEvent::Text(t)) => out.push_str(&t),
            Ok(ev) => events.push(ev),
            Err(e) => return (out, events, Some(e)),
        }
    }
    (out, events, None)
}

fn provider(mock: &MockOpenAi, key: &str) -> OpenAiChat {
    OpenAiChat::new(
        reqwest::Client::new(),
        &format!("{}/", mock.base_url()),
        key,
    )
}

#[tokio::test]
async fn streams_text_usage_and_finish() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (text, events, err) = collect(&provider(&mock, "sk-test"), "hello there").await;
    assert_eq!(err, None);
    assert_eq!(text, answer_for("hello there"));
    let usage = events.iter().find_map(|e| match e {
        StreamEvent::Usage(u) => Some(*u),
        _ => None,
    });
    let usage = usage.expect("include_usage yields a usage event");
    assert!(
        usage.output_tokens > 5 && usage.input_tokens > 0,
        "{usage:?}"
    );
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Finish(chorus_gateway::FinishReason::Stop))
    );

    let sent = &mock.requests()[0];
    assert_eq!(sent.headers["authorization"], "Bearer sk-test");
    assert_eq!(sent.body["stream"], json!(true));
    assert_eq!(sent.body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(
        sent.body["messages"][1],
        json!({"role": "user", "content": "hello there"})
    );
}

#[tokio::test]
async fn overrides_add_drop_and_headers() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let conn = Connection::from(reqwest::Client::new())
        .with_headers(BTreeMap::from([("X-Org".to_string(), "acme".to_string())]));
    let p = OpenAiChat::new(conn, &mock.base_url(), "sk-test").with_params(
        BTreeMap::from([("safe_prompt".to_string(), json!(true))]),
        vec!["stream_options".into(), "temperature".into()],
    );
    let mut req = request("hi");
    req.temperature = Some(0.5);
    let mut s = p.stream(req);
    while s.next().await.is_some() {}
    let sent = &mock.requests()[0];
    assert_eq!(sent.headers["x-org"], "acme");
    assert_eq!(sent.body["safe_prompt"], json!(true));
    assert!(sent.body.get("stream_options").is_none());
    assert!(sent.body.get("temperature").is_none());
}

#[tokio::test]
async fn wrong_key_is_unauthorized_with_the_upstream_message() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (text, _, err) = collect(&provider(&mock, "sk-wrong"), "hi").await;
    assert_eq!(text, "");
    match err {
        Some(GatewayError::Unauthorized {
            status: 401,
            message,
        }) => {
            assert!(
                message.starts_with("Incorrect API key provided: sk-wrong."),
                "{message}"
            );
            assert!(message.ends_with("(invalid_request_error)"), "{message}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn rate_limit_carries_retry_after() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (_, _, err) = collect(&provider(&mock, "sk-test"), "[[status:429]]").await;
    match err {
        Some(e @ GatewayError::RateLimited { .. }) => {
            assert!(e.is_retryable());
            let GatewayError::RateLimited {
                retry_after,
                message,
            } = e
            else {
                unreachable!()
            };
            assert_eq!(retry_after, Some(std::time::Duration::from_secs(1)));
            assert!(message.contains("Rate limit reached"), "{message}");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn server_error_is_upstream_500() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (_, _, err) = collect(&provider(&mock, "sk-test"), "[[status:500]]").await;
    let err = err.expect("an error");
    assert!(
        matches!(err, GatewayError::Upstream { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("The server had an error"), "{err}");
}

#[tokio::test]
async fn refused_connection_names_the_url() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = OpenAiChat::new(
        reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}/v1"),
        "k",
    );
    let (_, _, err) = collect(&p, "hi").await;
    match err {
        Some(GatewayError::Connect { url, reason }) => {
            assert_eq!(url, format!("http://127.0.0.1:{port}/v1"));
            assert!(reason.to_lowercase().contains("refused"), "{reason}");
        }
        other => panic!("expected Connect, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_chunk_is_reported_after_the_text_so_far() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (text, _, err) = collect(&provider(&mock, "sk-test"), "[[malformed]] x").await;
    assert!(!text.is_empty(), "text before the bad chunk is kept");
    assert!(
        matches!(err, Some(GatewayError::Malformed(ref m)) if m.contains("not valid JSON")),
        "{err:?}"
    );
}

#[tokio::test]
async fn stream_cut_short_is_an_error_not_a_finish() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (text, events, err) = collect(&provider(&mock, "sk-test"), "[[cut]] please").await;
    assert!(!text.is_empty());
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::Finish(_))));
    assert_eq!(
        err,
        Some(GatewayError::Malformed(
            "the stream ended before the answer was complete".into()
        ))
    );
}

#[tokio::test]
async fn unknown_model_is_a_clear_404() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let mut req = request("hi");
    req.model = "gpt-nope".into();
    let err = provider(&mock, "sk-test").complete(req).await.unwrap_err();
    assert!(
        matches!(err, GatewayError::Upstream { status: 404, ref message } if message.contains("`gpt-nope` does not exist")),
        "{err:?}"
    );
}

#[tokio::test]
async fn models_and_non_streaming_completion() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let p = provider(&mock, "sk-test");
    assert_eq!(p.list_models().await.unwrap(), ["mock-small", "mock-large"]);
    let title = p
        .complete(request("User: tell me about rust"))
        .await
        .unwrap();
    assert_eq!(title.text, "Chat about tell me about");
    assert_eq!(mock.requests()[0].body["stream"], json!(false));
}

#[tokio::test]
async fn a_silent_stream_times_out() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let idle = std::time::Duration::from_millis(60);
    let conn = Connection::from(reqwest::Client::new()).with_idle_timeout(idle);
    let p = OpenAiChat::new(conn, &mock.base_url(), "sk-test");
    let (_, _, err) = collect(&p, "[[slow]] hi").await;
    assert_eq!(err, Some(GatewayError::Timeout(idle)));
}
