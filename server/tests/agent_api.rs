//! Agents as models of the OpenAI-compatible API (`model: "agent:<id>"`), as
//! an API client uses them: the agent's instructions, parameters and MCP tool
//! (a real MCP server, the Python-SDK toolbox over stdio) apply, the tool runs
//! on the server, and the client gets the answer written from its result,
//! streamed and not. Only those the agent is shared with can call it.

mod common;

use chorus_engine::Engine;
use chorus_testkit::{MockOpenAi, answer_from_tools};
use chorus_types::UserId;
use chorus_types::agent::{AgentRole, AgentSpec};
use futures::StreamExt;
use serde_json::{Value, json};
use std::path::Path;

struct Setup {
    base: String,
    engine: Engine,
    owner: (UserId, String),
    other_key: String,
    agent: String,
    mock: MockOpenAi,
    http: reqwest::Client,
}

const ADD: &str = "Add these: [[call:add_mcp_toolbox {\"a\": 2, \"b\": 40}]]";

async fn setup() -> Setup {
    let mock = common::fast_mock().await;
    let python = std::env::var("HOME").unwrap() + "/.cache/chorus/pyenv/bin/python";
    let toolbox =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tools/tests/servers/toolbox.py");
    let extra = format!(
        "mcpServers:\n  toolbox:\n    command: {python}\n    args: [\"{}\"]\n",
        toolbox.display()
    );
    let config = common::parse_config(&common::config_for(&mock, &extra));
    let store = chorus_store::Store::memory().await.unwrap();
    let owner = common::user_in(&store, "owner@example.com", "Owner").await;
    let other = common::user_in(&store, "other@example.com", "Other").await;
    let owner_key = store.create_api_key(&owner, "t").await.unwrap().secret;
    let other_key = store.create_api_key(&other, "t").await.unwrap().secret;
    let engine = common::engine_on(store, &config)
        .await
        .with_mcp(chorus_tools::Mcp::new(&config.mcp_servers));
    let agent = engine
        .create_agent(
            &owner,
            AgentSpec {
                name: "Adder".into(),
                instructions: "Add numbers with the tool.".into(),
                endpoint: "Mock".into(),
                model: "mock-small".into(),
                tools: vec!["mcp:toolbox".into()],
                temperature: Some(0.25),
                max_tokens: Some(300),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let base = common::serve(engine.clone(), &config).await;
    Setup {
        base: format!("{base}/v1"),
        engine,
        owner: (owner, owner_key),
        other_key,
        agent,
        mock,
        http: reqwest::Client::new(),
    }
}

/// The usage of both model turns, summed. The mock reports, per turn,
/// `prompt_len / 4 + 8` prompt tokens (the prompt being the user's message,
/// the same in both turns) and 20 completion tokens for a turn of tool calls,
/// one per chunk for an answer.
fn assert_both_turns(usage: &Value) {
    assert_eq!(usage["prompt_tokens"], 2 * (ADD.len() / 4 + 8), "{usage}");
    assert!(usage["completion_tokens"].as_u64().unwrap() > 20, "{usage}");
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
}

impl Setup {
    async fn post(&self, key: &str, body: Value) -> (u16, reqwest::Response) {
        let resp = self
            .http
            .post(format!("{}/chat/completions", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp)
    }

    async fn model_ids(&self, key: &str) -> Vec<String> {
        common::model_ids(&self.http, &self.base, key).await
    }

    fn model(&self) -> String {
        format!("agent:{}", self.agent)
    }
}

#[tokio::test]
async fn an_agent_answers_through_the_api_after_running_its_tool() {
    let s = setup().await;
    assert!(s.model_ids(&s.owner.1).await.contains(&s.model()));

    let (status, resp) = s
        .post(
            &s.owner.1,
            json!({"model": s.model(), "messages": [
                {"role": "system", "content": "Answer in English."},
                {"role": "user", "content": ADD}]}),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], s.model());
    let expected = answer_from_tools(&["2 + 40 = 42".to_string()]);
    assert_eq!(body["choices"][0]["message"]["content"], expected.as_str());
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // Two model turns: the usage the client pays is both, summed.
    assert_both_turns(&body["usage"]);
    let requests = s.mock.requests();
    assert_eq!(requests.len(), 2);

    // What the upstream got: the agent's model, parameters, instructions
    // before the caller's system prompt, and its tool.
    let first = &requests[0].body;
    assert_eq!(first["model"], "mock-small");
    assert_eq!(first["temperature"], 0.25);
    assert_eq!(first["max_tokens"], 300);
    assert_eq!(first["messages"][0]["role"], "system");
    assert_eq!(
        first["messages"][0]["content"],
        "Add numbers with the tool.\n\nAnswer in English."
    );
    let offered: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(offered.contains(&"add_mcp_toolbox"), "{offered:?}");
    // The second turn carries the call and the tool's real result.
    let second = requests[1].body["messages"].as_array().unwrap();
    let result = second.last().unwrap();
    assert_eq!(result["role"], "tool");
    assert_eq!(result["content"], "2 + 40 = 42");
    // An API call stores no conversation.
    assert!(s.engine.conversations(&s.owner.0).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_agent_streams_its_answer_as_chat_completion_chunks() {
    let s = setup().await;
    let (status, resp) = s
        .post(
            &s.owner.1,
            json!({"model": s.model(), "stream": true, "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": ADD}]}),
        )
        .await;
    assert_eq!(status, 200);
    let mut text = String::new();
    let mut finish = None;
    let mut usage = None;
    let mut done = false;
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    while let Some(chunk) = body.next().await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let frame = buf[..end].to_string();
            buf.drain(..end + 2);
            let data = frame.strip_prefix("data: ").unwrap();
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let chunk: Value = serde_json::from_str(data).unwrap();
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["model"], s.model());
            if let Some(choice) = chunk["choices"].get(0) {
                // Tool calls run on the server: the client sees none.
                assert!(choice["delta"].get("tool_calls").is_none(), "{chunk}");
                if let Some(t) = choice["delta"]["content"].as_str() {
                    text.push_str(t);
                }
                if let Some(f) = choice["finish_reason"].as_str() {
                    finish = Some(f.to_string());
                }
            }
            if !chunk["usage"].is_null() {
                usage = Some(chunk["usage"].clone());
            }
        }
    }
    assert!(done);
    assert_eq!(text, answer_from_tools(&["2 + 40 = 42".to_string()]));
    assert_eq!(finish.as_deref(), Some("stop"));
    assert_both_turns(&usage.expect("usage was asked for"));
}

#[tokio::test]
async fn only_those_the_agent_is_shared_with_can_call_it() {
    let s = setup().await;
    // Someone it is not shared with: it is not listed and does not exist.
    assert!(!s.model_ids(&s.other_key).await.contains(&s.model()));
    let ask = json!({"model": s.model(), "messages": [{"role": "user", "content": "hi"}]});
    let (status, resp) = s.post(&s.other_key, ask.clone()).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(s.mock.requests().is_empty());

    // Shared as a viewer: listed and usable.
    s.engine
        .share_agent(
            &s.owner.0,
            &s.agent,
            "other@example.com",
            Some(AgentRole::Viewer),
        )
        .await
        .unwrap();
    assert!(s.model_ids(&s.other_key).await.contains(&s.model()));
    let (status, resp) = s.post(&s.other_key, ask).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("You said: **hi**")
    );

    // Its tools are its own: a request bringing tools is refused.
    let (status, resp) = s
        .post(
            &s.owner.1,
            json!({"model": s.model(), "messages": [{"role": "user", "content": "hi"}],
                   "tools": [{"type": "function", "function": {"name": "f"}}]}),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "tools");
}
