//! Usage when the provider reports none: many OpenAI-compatible servers stream
//! without a usage chunk. The gateway then counts the prompt and the answer
//! with OpenAI's tokenizer and marks the figures estimated.

mod common;

use chorus_gateway::{Gateway, StreamEvent, tokens};
use chorus_testkit::upstream::{FakeUpstream, Reply};
use common::*;
use std::path::Path;

/// A Chat Completions stream of `pieces`, with or without OpenAI's usage chunk.
fn chat_stream(pieces: &[&str], usage: bool) -> Reply {
    let mut body = String::new();
    for p in pieces {
        body.push_str(&format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
            serde_json::to_string(p).unwrap()
        ));
    }
    body.push_str("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    if usage {
        body.push_str("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}\n\n");
    }
    body.push_str("data: [DONE]\n\n");
    Reply::sse(body)
}

fn gateway(url: &str) -> Gateway {
    let yaml = format!(
        "endpoints:\n  custom:\n    - name: Local\n      apiKey: k\n      baseURL: {url}/v1\n      models: {{default: [m]}}\n"
    );
    let config = chorus_config::load_str(&yaml, Path::new("t.yaml"), &|_| None)
        .unwrap()
        .config;
    Gateway::from_config(&config)
}

fn usages(run: &Run) -> Vec<chorus_types::Usage> {
    run.events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Usage(u) => Some(*u),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_stream_without_usage_gets_counted_usage_at_the_end() {
    let up = FakeUpstream::start(|req| {
        if req.json()["stream"] == true {
            chat_stream(&["Paris is ", "the capital ", "of France."], false)
        } else {
            // A non-streamed reply without a `usage` object, as some servers send.
            Reply::json(
                200,
                &serde_json::json!({"id": "c2", "object": "chat.completion", "created": 1, "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris is the capital of France."}, "finish_reason": "stop"}]}),
            )
        }
    })
    .await;
    let provider = gateway(&up.url()).provider("Local").unwrap();
    let request = simple("m", "What is the capital of France?");
    let run = run(provider.as_ref(), request.clone()).await;
    assert_eq!(run.error, None);
    assert_eq!(run.text(), "Paris is the capital of France.");
    let counted = usages(&run);
    assert_eq!(counted.len(), 1, "{:?}", run.events);
    assert!(matches!(run.events.last(), Some(StreamEvent::Usage(_))));
    let usage = counted[0];
    assert!(usage.estimated);
    assert_eq!(
        usage.output_tokens,
        tokens::count("Paris is the capital of France.")
    );
    assert_eq!(usage.output_tokens, 7);
    assert_eq!(usage.input_tokens, tokens::count_request(&request));
    // system + user message with their framing: more than the words alone.
    assert!(usage.input_tokens > tokens::count("You are terse.What is the capital of France?"));

    // The non-streamed path counts the same way.
    let answer = provider.complete(request).await.unwrap();
    assert_eq!(answer.usage, Some(usage));
}

#[tokio::test]
async fn reported_usage_is_passed_on_untouched() {
    let up = FakeUpstream::start(|_| chat_stream(&["Hi."], true)).await;
    let provider = gateway(&up.url()).provider("Local").unwrap();
    let run = run(provider.as_ref(), simple("m", "hello")).await;
    let reported = usages(&run);
    assert_eq!(reported.len(), 1);
    assert_eq!(
        (reported[0].input_tokens, reported[0].output_tokens),
        (11, 7)
    );
    assert!(!reported[0].estimated);
}

#[tokio::test]
async fn a_failed_stream_gets_no_invented_usage() {
    let up = FakeUpstream::start(|_| chat_stream(&["Half an ans"], false).cut_after(150)).await;
    let provider = gateway(&up.url()).provider("Local").unwrap();
    let run = run(provider.as_ref(), simple("m", "hello")).await;
    assert!(run.error.is_some());
    assert!(usages(&run).is_empty());
}
