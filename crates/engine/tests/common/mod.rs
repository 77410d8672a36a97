//! What the engine tests share: an engine over a local OpenAI-protocol
//! upstream, and a way to follow a job to its end.
#![allow(dead_code)] // each test file uses its own part

use chorus_engine::{Engine, SendRequest};
use chorus_gateway::Gateway;
use chorus_secrets::SecretBox;
use chorus_store::Store;
use chorus_streams::Streams;
use chorus_testkit::MockOpenAi;
use chorus_types::{ConversationId, JobEvent, SendResult, UserId};
use futures::StreamExt;
use std::path::Path;
use std::time::Duration;

pub async fn engine_for(mock: &MockOpenAi, title_convo: bool) -> (Engine, UserId) {
    // A port nobody listens on, for the "refused connection" case.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let yaml = format!(
        "endpoints:\n  custom:\n    - name: Mock\n      apiKey: sk-test\n      baseURL: {}\n      models: {{default: [mock-small]}}\n      titleConvo: {title_convo}\n    - name: WrongKey\n      apiKey: sk-wrong\n      baseURL: {}\n      models: {{default: [mock-small]}}\n    - name: Down\n      apiKey: k\n      baseURL: http://{closed}/v1\n      models: {{default: [mock-small]}}\n    - name: Own\n      apiKey: user_provided\n      baseURL: {}\n      models: {{default: [mock-small]}}\n    - name: OwnServer\n      apiKey: user_provided\n      baseURL: user_provided\n      models: {{default: [mock-small]}}\n",
        mock.base_url(),
        mock.base_url(),
        mock.base_url()
    );
    let config = chorus_config::load_str(&yaml, Path::new("test.yaml"), &|_| None)
        .unwrap()
        .config;
    let store = Store::memory().await.unwrap();
    let user = UserId(
        store
            .create_user("u@x.test", "U", "h", false)
            .await
            .unwrap()
            .id,
    );
    let engine = Engine::start(
        store,
        Gateway::from_config(&config),
        Streams::local(),
        SecretBox::ephemeral(),
    )
    .await
    .unwrap();
    (engine, user)
}

pub fn req(conversation: Option<ConversationId>, endpoint: &str, text: &str) -> SendRequest {
    SendRequest {
        conversation,
        parent: None,
        endpoint: endpoint.into(),
        model: "mock-small".into(),
        text: text.into(),
        tools: Vec::new(),
        files: Vec::new(),
        agent: None,
    }
}

/// Watches the job to its end; returns the streamed text and every event.
pub async fn watch_all(
    engine: &Engine,
    user: &UserId,
    sent: &SendResult,
) -> (String, Vec<JobEvent>) {
    let stream = engine
        .watch(user, &sent.job, 0)
        .await
        .expect("the owner can watch")
        .filter_map(|w| async move { w.event() });
    let events: Vec<JobEvent> =
        tokio::time::timeout(Duration::from_secs(20), stream.map(|e| e.event).collect())
            .await
            .expect("the job ends");
    let text = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    (text, events)
}

/// A second account on the same engine.
pub async fn another_user(engine: &Engine, email: &str) -> UserId {
    UserId(
        engine
            .store()
            .create_user(email, "Other", "h", false)
            .await
            .unwrap()
            .id,
    )
}
