//! The OpenAI-compatible API over HTTP, as an OpenAI client uses it: bearer
//! keys, `/v1/models`, and `/v1/chat/completions` streamed and not, in front of
//! a local upstream speaking Chat Completions.

mod common;

use chorus_engine::Engine;
use chorus_store::Store;
use chorus_testkit::{MockOpenAi, MockOptions, answer_for, title_for};
use chorus_types::UserId;
use futures::StreamExt;
use serde_json::{Value, json};
use std::path::Path;

struct Api {
    base: String,
    key: String,
    engine: Engine,
    user: UserId,
    http: reqwest::Client,
    _mock: MockOpenAi,
}

async fn start() -> Api {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let yaml = format!(
        "endpoints:\n  custom:\n    - name: Mock\n      apiKey: sk-test\n      baseURL: {}\n      models: {{default: [mock-small, mock-large]}}\n    - name: Mine\n      apiKey: user_provided\n      baseURL: {}\n      models: {{default: [mock-large]}}\n",
        mock.base_url(),
        mock.base_url()
    );
    let config = chorus_config::load_str(&yaml, Path::new("test.yaml"), &|_| None)
        .unwrap()
        .config;
    let store = Store::memory().await.unwrap();
    let user = store
        .create_user("dev@example.com", "Dev", "h", false)
        .await
        .unwrap();
    let user = UserId(user.id);
    let key = store.create_api_key(&user, "test").await.unwrap().secret;
    let engine = common::engine_on(store, &config).await;
    let base = common::serve(engine.clone(), &config).await;
    Api {
        base: format!("{base}/v1"),
        key,
        engine,
        user,
        http: reqwest::Client::new(),
        _mock: mock,
    }
}

impl Api {
    async fn model_ids(&self, key: &str) -> Vec<String> {
        common::model_ids(&self.http, &self.base, key).await
    }

    async fn post(&self, body: Value) -> (u16, String) {
        let resp = self
            .http
            .post(format!("{}/chat/completions", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

#[tokio::test]
async fn keys_gate_the_api_and_models_are_listed_per_endpoint() {
    let api = start().await;
    let resp = api
        .http
        .get(format!("{}/models", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");

    let resp = api
        .http
        .get(format!("{}/models", api.base))
        .bearer_auth("chorus-nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let body: Value = api
        .http
        .get(format!("{}/models", api.base))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    // `Mine` runs on each user's own key, and this user stored none.
    assert_eq!(ids, ["Mock/mock-small", "Mock/mock-large"]);
    assert_eq!(body["data"][0]["owned_by"], "Mock");
}

#[tokio::test]
async fn a_non_streamed_completion_comes_back_whole() {
    let api = start().await;
    let (status, text) = api
        .post(json!({"model": "Mock/mock-small", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]}))
        .await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "Mock/mock-small");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // The mock answers non-streamed calls with a title: it must come through intact.
    assert_eq!(
        body["choices"][0]["message"]["content"],
        title_for("hello there")
    );
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let sent = &api._mock.requests()[0];
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent.body["model"], "mock-small");
}

impl Api {
    /// Streams a completion and returns its chunks (checking the `[DONE]` end).
    async fn stream_chunks(&self, body: Value) -> Vec<Value> {
        let resp = self
            .http
            .post(format!("{}/chat/completions", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let mut raw = String::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            raw.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        let datas: Vec<&str> = raw
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .collect();
        assert_eq!(datas.last(), Some(&"[DONE]"));
        datas[..datas.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }
}

fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn a_streamed_completion_is_openai_chunks_ending_in_done() {
    let api = start().await;
    let chunks = api
        .stream_chunks(
            json!({"model": "mock-small", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "stream me"}]}),
        )
        .await;
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(streamed_text(&chunks), answer_for("stream me"));
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn usage_is_counted_when_the_upstream_reports_none() {
    let api = start().await;
    let prompt = "[[no-usage]] count me";
    let chunks = api
        .stream_chunks(
            json!({"model": "mock-small", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": prompt}]}),
        )
        .await;
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]), "{chunks:?}");
    assert_eq!(
        usage["usage"]["completion_tokens"].as_u64().unwrap(),
        chorus_gateway::tokens::count(&answer_for(prompt))
    );
    assert!(usage["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn bad_requests_get_openai_shaped_4xx_errors() {
    let api = start().await;
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            400,
            "Missing required parameter: 'model'.",
        ),
        (
            json!({"model": "Mock/mock-small"}),
            400,
            "Missing required parameter: 'messages'.",
        ),
        (
            json!({"model": "Mock/mock-small", "messages": []}),
            400,
            "[] is too short - 'messages'",
        ),
        (
            json!({"model": "Mock/mock-small", "messages": [{"role": "wizard", "content": "x"}]}),
            400,
            "Invalid value for 'messages[0].role': unknown variant `wizard`",
        ),
        (
            json!({"model": "Mock/mock-small", "messages": [{"role": "user", "content": "x"}], "temperature": 9}),
            400,
            "Invalid 'temperature'",
        ),
        (
            json!({"model": "Nope/gpt", "messages": [{"role": "user", "content": "x"}]}),
            404,
            "The model `Nope/gpt` does not exist",
        ),
        (
            json!({"model": "Mock/mock-small", "messages": [{"role": "tool", "tool_call_id": "c1", "content": "x"}]}),
            400,
            "Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls'",
        ),
    ];
    for (body, status, message) in cases {
        let (got, text) = api.post(body.clone()).await;
        assert_eq!(got, status, "{body} -> {text}");
        let err: Value = serde_json::from_str(&text).unwrap();
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(message), "{body}: {msg}");
        assert!(err["error"]["type"].is_string());
    }
    let resp = api
        .http
        .post(format!("{}/chat/completions", api.base))
        .bearer_auth(&api.key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn upstream_failures_before_output_are_http_errors() {
    let api = start().await;
    let (status, text) = api
        .post(json!({"model": "Mock/mock-small", "stream": true, "messages": [{"role": "user", "content": "[[status:401]]"}]}))
        .await;
    assert_eq!(
        status, 502,
        "the gateway's own upstream key failing is a bad gateway: {text}"
    );
    assert!(text.contains("rejected the API key"), "{text}");
}

#[tokio::test]
async fn a_user_provided_endpoint_runs_on_the_key_that_user_stored() {
    let api = start().await;
    let other = api
        .engine
        .store()
        .create_user("other@example.com", "Other", "h", false)
        .await
        .unwrap();
    let other_key = api
        .engine
        .create_api_key(&UserId(other.id), "other")
        .await
        .unwrap()
        .secret;

    // No key stored: refused with words that say where to add one.
    let (status, text) = api
        .post(json!({"model": "Mine/mock-large", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 400, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Provider keys"), "{message}");

    // A wrong key reaches the provider; its refusal comes back as an upstream
    // error (the Chorus key itself was fine).
    api.engine
        .save_provider_key(&api.user, "Mine", "sk-wrong", "")
        .await
        .unwrap();
    let (status, text) = api
        .post(json!({"model": "Mine/mock-large", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("rejected the API key"), "{text}");

    // The right key: the endpoint is listed and answers.
    api.engine
        .save_provider_key(&api.user, "Mine", "sk-test", "")
        .await
        .unwrap();
    assert!(
        api.model_ids(&api.key)
            .await
            .contains(&"Mine/mock-large".to_string())
    );
    let (status, text) = api
        .post(json!({"model": "Mine/mock-large", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]}))
        .await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        title_for("hello there")
    );

    // Another user's API key does not get the first user's provider key.
    assert_eq!(
        api.model_ids(&other_key).await,
        ["Mock/mock-small", "Mock/mock-large"]
    );
}

/// The Python interpreter with the `openai` SDK that `scripts/setup.sh test`
/// installs (or `CHORUS_PYTHON`).
fn sdk_python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("CHORUS_PYTHON") {
        return p.into();
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let python = Path::new(&home).join(".cache/chorus/pyenv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/setup.sh test` (make test does) to install the openai SDK",
        python.display()
    );
    python
}

#[tokio::test]
async fn the_official_openai_python_sdk_works_against_chorus() {
    let api = start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_sdk.py");
    let output = tokio::process::Command::new(sdk_python())
        .arg(&script)
        .env("OPENAI_BASE_URL", &api.base)
        .env("OPENAI_API_KEY", &api.key)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the SDK script failed:\n{stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(
        seen["models"],
        json!(["Mock/mock-small", "Mock/mock-large"])
    );
    assert_eq!(
        seen["complete"],
        json!({"content": title_for("hello from python"), "finish_reason": "stop", "prompt_tokens": 20, "completion_tokens": 4})
    );
    assert_eq!(seen["stream"]["content"], answer_for("stream to python"));
    assert!(seen["stream"]["chunks"].as_u64().unwrap() > 1, "{seen}");
    assert_eq!(seen["stream"]["finish_reason"], "stop");
    assert!(
        seen["stream"]["completion_tokens"].as_u64().unwrap() > 0,
        "{seen}"
    );
    assert_eq!(
        seen["unknown_model"],
        json!({"status": 404, "code": "model_not_found"})
    );
    assert_eq!(seen["bad_key"], json!({"status": 401}));
}
