//! The local provider with a real model (SmolLM2-135M-Instruct on llama.cpp):
//! it answers, counts, stops where asked, gives way when a client leaves, and
//! serves waiting requests one after another in arrival order.

use chorus_gateway::{
    ChatMessage, ChatRequest, FinishReason, GatewayError, LocalModel, LocalSettings, Provider,
    StreamEvent,
};
use chorus_testkit::test_model;
use futures::StreamExt;

fn model() -> LocalModel {
    LocalModel::start("Local", LocalSettings::new(test_model()))
}

fn ask(text: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        model: "SmolLM2-135M-Instruct".into(),
        messages: vec![ChatMessage::user(text)],
        max_tokens: Some(max_tokens),
        // Greedy: the same answer every run.
        temperature: Some(0.0),
        ..ChatRequest::default()
    }
}

async fn collect(model: &LocalModel, request: ChatRequest) -> Vec<StreamEvent> {
    model
        .stream(request)
        .map(|e| e.expect("no error"))
        .collect()
        .await
}

fn text(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn usage(events: &[StreamEvent]) -> chorus_types::Usage {
    events
        .iter()
        .find_map(|e| match e {
            StreamEvent::Usage(u) => Some(*u),
            _ => None,
        })
        .expect("a usage event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_answers_a_question_and_reports_usage() {
    let model = model();
    let events = collect(&model, ask("What is the capital of France?", 32)).await;
    let answer = text(&events);
    assert!(answer.contains("Paris"), "{answer:?}");
    assert!(matches!(
        events.last(),
        Some(StreamEvent::Finish(FinishReason::Stop))
    ));
    let usage = usage(&events);
    assert!(usage.input_tokens > 10, "{usage:?}");
    assert!((1..=32).contains(&usage.output_tokens), "{usage:?}");
    assert!(!usage.estimated);
    assert_eq!(model.tokens_generated(), usage.output_tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_and_stop_sequences_end_the_answer() {
    let model = model();
    let events = collect(&model, ask("Write a long poem about the sea.", 5)).await;
    assert_eq!(usage(&events).output_tokens, 5);
    assert!(matches!(
        events.last(),
        Some(StreamEvent::Finish(FinishReason::Length))
    ));

    // The greedy answer to this question names Paris; stopping at "Paris"
    // keeps what came before it and nothing of it.
    let full = text(&collect(&model, ask("What is the capital of France?", 32)).await);
    let before = &full[..full.find("Paris").expect("Paris in the answer")];
    let mut request = ask("What is the capital of France?", 32);
    request.stop = vec!["Paris".into()];
    let events = collect(&model, request).await;
    assert_eq!(text(&events), before);
    assert!(matches!(
        events.last(),
        Some(StreamEvent::Finish(FinishReason::Stop))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_stops_the_generation_and_the_next_request_runs() {
    let model = model();
    let mut long = model.stream(ask("Write a very long story about a dragon.", 400));
    for _ in 0..3 {
        assert!(matches!(long.next().await, Some(Ok(StreamEvent::Text(_)))));
    }
    drop(long);
    let events = collect(&model, ask("What is the capital of France?", 32)).await;
    assert!(text(&events).contains("Paris"));
    // The story stopped within a token or two of the drop instead of running
    // on to its 400 tokens.
    let after_story = model.tokens_generated() - usage(&events).output_tokens;
    assert!(after_story < 10, "{after_story} story tokens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_requests_are_served_in_arrival_order_one_at_a_time() {
    let model = model();
    let first = model
        .stream(ask("Count from one to ten.", 24))
        .map(|e| (1, e));
    let second = model
        .stream(ask("What is the capital of France?", 24))
        .map(|e| (2, e));
    let order: Vec<(i32, StreamEvent)> = futures::stream::select(first, second)
        .map(|(n, e)| (n, e.expect("no error")))
        .collect()
        .await;
    let first_done = order
        .iter()
        .position(|(n, e)| *n == 1 && matches!(e, StreamEvent::Finish(_)))
        .expect("the first finishes");
    let second_starts = order
        .iter()
        .position(|(n, _)| *n == 2)
        .expect("the second runs");
    assert!(
        first_done < second_starts,
        "the second answer began before the first ended"
    );
    let second: Vec<StreamEvent> = order
        .into_iter()
        .filter(|(n, _)| *n == 2)
        .map(|(_, e)| e)
        .collect();
    assert!(text(&second).contains("Paris"));
}

#[tokio::test]
async fn a_missing_model_file_says_how_to_fetch_it() {
    let model = LocalModel::start("Local", LocalSettings::new("/nonexistent/model.gguf"));
    let reason = model.unavailable().expect("unavailable");
    assert!(reason.contains("scripts/fetch-model.sh"), "{reason}");
    let events: Vec<_> = model.stream(ask("hi", 4)).collect().await;
    match &events[..] {
        [Err(GatewayError::Unavailable { endpoint, reason })] => {
            assert_eq!(endpoint, "Local");
            assert!(reason.contains("/nonexistent/model.gguf"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
