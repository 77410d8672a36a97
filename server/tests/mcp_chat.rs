//! MCP tools in chat: a scripted upstream (OpenAI's tool-call protocol) calls a
//! tool of a real MCP server (the Python-SDK toolbox, over stdio), the result
//! goes back to it, and the step is kept on the answer; a server that cannot
//! start leaves the answer standing and says why.

mod common;

use chorus_engine::{Engine, SendRequest};
use chorus_testkit::{MockOpenAi, answer_from_tools};
use chorus_types::{JobEvent, MessageState, MessageView, SendResult, UserId};
use std::path::Path;

async fn setup() -> (Engine, UserId, MockOpenAi) {
    let mock = common::fast_mock().await;
    let python = std::env::var("HOME").unwrap() + "/.cache/chorus/pyenv/bin/python";
    let toolbox =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tools/tests/servers/toolbox.py");
    let extra = format!(
        "mcpServers:\n  toolbox:\n    command: {python}\n    args: [\"{}\"]\n    title: Toolbox\n  broken:\n    command: /nonexistent/server\n  personal:\n    command: {python}\n    args: [\"{}\"]\n    env: {{TOKEN: \"{{{{TOKEN}}}}\", WHO: \"{{{{CHORUS_USER_EMAIL}}}}\"}}\n    customUserVars:\n      TOKEN: {{title: Personal token, description: From your account page}}\nmcpSettings:\n  allowedDomains: [\"127.0.0.1\"]\n",
        toolbox.display(),
        toolbox.display()
    );
    let config = common::parse_config(&common::config_for(&mock, &extra));
    let store = chorus_store::Store::memory().await.unwrap();
    let user = common::user_in(&store, "mo@example.com", "Mo").await;
    let engine = common::engine_on(store, &config).await.with_mcp(
        chorus_tools::Mcp::new(&config.mcp_servers).with_settings(config.mcp_settings.clone()),
    );
    (engine, user, mock)
}

/// A new chat's message with `tools` on, to the mock model.
fn request(tools: Vec<String>, text: impl Into<String>) -> SendRequest {
    SendRequest {
        conversation: None,
        parent: None,
        endpoint: "Mock".into(),
        model: "mock-small".into(),
        text: text.into(),
        tools,
        files: Vec::new(),
        agent: None,
    }
}

async fn ask(
    engine: &Engine,
    user: &UserId,
    tools: &[&str],
    text: &str,
) -> (SendResult, MessageView) {
    let sent = engine
        .send(
            user,
            request(tools.iter().map(|t| t.to_string()).collect(), text),
        )
        .await
        .unwrap();
    let events = common::job_log(engine, user, &sent.job).await;
    assert!(matches!(events.last(), Some(JobEvent::Done { .. })));
    let view = engine.conversation(user, &sent.conversation).await.unwrap();
    let answer = view
        .messages
        .into_iter()
        .find(|m| m.id == sent.assistant_message)
        .unwrap();
    (sent, answer)
}

#[tokio::test]
async fn the_model_calls_an_mcp_tool_and_answers_from_its_result() {
    let (engine, user, mock) = setup().await;
    let options = engine.tools().options();
    let toolbox = options
        .iter()
        .find(|o| o.name == "mcp:toolbox")
        .expect("offered");
    assert_eq!(toolbox.label, "Toolbox");

    let (_, answer) = ask(
        &engine,
        &user,
        &["mcp:toolbox"],
        "Add these: [[call:add_mcp_toolbox {\"a\": 2, \"b\": 40}]]",
    )
    .await;
    assert_eq!(answer.state, MessageState::Complete);
    assert_eq!(answer.error, None);
    assert_eq!(answer.tools.len(), 1);
    let step = &answer.tools[0];
    assert_eq!(step.name, "add_mcp_toolbox");
    assert_eq!(step.output.as_deref(), Some("2 + 40 = 42"));
    assert!(!step.is_error);
    assert_eq!(answer.text, answer_from_tools(&["2 + 40 = 42".to_string()]));
    // The model was offered the server's tools, described, with their schemas.
    let first = &mock.requests()[0].body;
    let add = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "add_mcp_toolbox")
        .unwrap();
    assert_eq!(add["function"]["description"], "Adds two integers.");
    assert_eq!(
        add["function"]["parameters"]["required"],
        serde_json::json!(["a", "b"])
    );
}

#[tokio::test]
async fn a_server_that_cannot_start_leaves_the_answer_standing_and_says_why() {
    let (engine, user, _mock) = setup().await;
    let (_, answer) = ask(&engine, &user, &["mcp:broken"], "Hello there").await;
    assert_eq!(answer.state, MessageState::Complete);
    assert!(answer.text.starts_with("You said: **Hello there**"));
    let error = answer.error.unwrap();
    assert!(
        error.starts_with(
            "The MCP server \"broken\" could not be started: running \"/nonexistent/server\" failed"
        ),
        "{error}"
    );
    // An unknown server is refused before anything is stored.
    let refused = engine
        .send(&user, request(vec!["mcp:nope".into()], "hi"))
        .await;
    assert!(refused.is_err());
    assert_eq!(engine.conversations(&user).await.unwrap().len(), 1);
}

/// What a tool of the per-user server says `user`'s environment holds.
async fn env_of(engine: &Engine, user: &UserId, name: &str) -> MessageView {
    let (_, answer) = ask(
        engine,
        user,
        &["mcp:personal"],
        &format!("[[call:env_mcp_personal {{\"name\": \"{name}\"}}]]"),
    )
    .await;
    answer
}

#[tokio::test]
async fn each_user_reaches_a_server_with_the_values_they_entered() {
    let (engine, mo, _mock) = setup().await;
    let zed = common::user_in(engine.store(), "zed@example.com", "Zed").await;

    // Nothing entered: the server is unavailable to them, and they are told where to go.
    let answer = env_of(&engine, &mo, "TOKEN").await;
    assert_eq!(answer.state, MessageState::Complete);
    assert!(answer.tools.is_empty());
    assert_eq!(
        answer.error.as_deref(),
        Some(
            "The MCP server \"personal\" needs your Personal token first: enter it in Settings → MCP servers."
        )
    );
    let forms = engine.mcp_var_forms(&mo).await.unwrap();
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0].server, "personal");
    assert_eq!(forms[0].vars[0].title, "Personal token");
    assert_eq!(
        forms[0].vars[0].description.as_deref(),
        Some("From your account page")
    );
    assert!(!forms[0].vars[0].set);

    let values = |v: &str| [("TOKEN".to_string(), v.to_string())].into();
    engine
        .set_mcp_vars(&mo, "personal", values(" alpha "))
        .await
        .unwrap();
    engine
        .set_mcp_vars(&zed, "personal", values("beta"))
        .await
        .unwrap();
    assert!(engine.mcp_var_forms(&mo).await.unwrap()[0].vars[0].set);
    // Sealed at rest.
    let stored = engine
        .store()
        .mcp_vars(&mo, "personal")
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.contains("alpha"), "{stored}");

    // Each user's calls see their own value and identity.
    for (user, token, email) in [
        (&mo, "alpha", "mo@example.com"),
        (&zed, "beta", "zed@example.com"),
    ] {
        let answer = env_of(&engine, user, "TOKEN").await;
        assert_eq!(answer.tools[0].output.as_deref(), Some(token), "{answer:?}");
        let answer = env_of(&engine, user, "WHO").await;
        assert_eq!(answer.tools[0].output.as_deref(), Some(email));
    }
    // An empty value keeps what was entered; a new one replaces it (and the
    // connection is made again with it).
    engine
        .set_mcp_vars(&mo, "personal", values(""))
        .await
        .unwrap();
    assert_eq!(
        env_of(&engine, &mo, "TOKEN").await.tools[0]
            .output
            .as_deref(),
        Some("alpha")
    );
    engine
        .set_mcp_vars(&mo, "personal", values("gamma"))
        .await
        .unwrap();
    assert_eq!(
        env_of(&engine, &mo, "TOKEN").await.tools[0]
            .output
            .as_deref(),
        Some("gamma")
    );

    // Only what the server asks for, and only servers that ask.
    let unknown = [("OTHER".to_string(), "x".to_string())].into();
    assert!(matches!(
        engine.set_mcp_vars(&mo, "personal", unknown).await,
        Err(chorus_engine::EngineError::Invalid(m)) if m == "The MCP server \"personal\" does not ask for \"OTHER\"."
    ));
    assert!(matches!(
        engine.set_mcp_vars(&mo, "toolbox", values("x")).await,
        Err(chorus_engine::EngineError::NotFound)
    ));

    // Cleared: unavailable again, for them only.
    engine.clear_mcp_vars(&mo, "personal").await.unwrap();
    assert!(!engine.mcp_var_forms(&mo).await.unwrap()[0].vars[0].set);
    assert!(
        env_of(&engine, &mo, "TOKEN")
            .await
            .error
            .unwrap()
            .contains("needs your Personal token")
    );
    assert_eq!(
        env_of(&engine, &zed, "TOKEN").await.tools[0]
            .output
            .as_deref(),
        Some("beta")
    );
}

/// The Python toolbox over streamable HTTP on a free port, stopped when dropped.
struct HttpToolbox {
    child: std::process::Child,
    port: u16,
}

impl HttpToolbox {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let python = std::env::var("HOME").unwrap() + "/.cache/chorus/pyenv/bin/python";
        let toolbox =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tools/tests/servers/toolbox.py");
        // Held at once, so it is stopped (and waited for) even if it never listens.
        let toolbox = HttpToolbox {
            child: std::process::Command::new(python)
                .arg(toolbox)
                .args(["http", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
            port,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return toolbox;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the toolbox did not start on {port}");
    }
}

impl Drop for HttpToolbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_spec(name: &str, url: &str) -> chorus_types::UserMcpServerSpec {
    chorus_types::UserMcpServerSpec {
        name: name.into(),
        url: url.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_user_adds_their_own_server_and_only_they_can_use_it() {
    let (engine, mo, _mock) = setup().await;
    let zed = common::user_in(engine.store(), "zed@example.com", "Zed").await;
    let toolbox = HttpToolbox::start().await;
    let url = format!("http://127.0.0.1:{}/mcp", toolbox.port);
    engine
        .add_user_mcp_server(
            &mo,
            chorus_types::UserMcpServerSpec {
                title: "My toolbox".into(),
                authorization: "Bearer mo-secret".into(),
                ..server_spec("mine", &url)
            },
        )
        .await
        .unwrap();
    let listed = engine.user_mcp_servers(&mo).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].title.as_str(), listed[0].url.as_str()),
        ("My toolbox", url.as_str())
    );
    assert_eq!(listed[0].transport, "streamable-http");
    assert!(listed[0].has_authorization);
    assert!(engine.user_mcp_servers(&zed).await.unwrap().is_empty());
    // How to reach it (with its token) is sealed at rest.
    let rows = engine.store().user_mcp_servers(&mo).await.unwrap();
    assert!(!rows[0].sealed.contains("mo-secret") && !rows[0].sealed.contains("127.0.0.1"));

    // A chip for them, not for anyone else.
    let mine = |options: Vec<chorus_types::ToolOption>| {
        options
            .iter()
            .any(|o| o.name == "mcp:mine" && o.label == "My toolbox")
    };
    assert!(mine(engine.tool_options(&mo).await));
    assert!(!mine(engine.tool_options(&zed).await));

    let (_, answer) = ask(
        &engine,
        &mo,
        &["mcp:mine"],
        "[[call:add_mcp_mine {\"a\": 3, \"b\": 4}]]",
    )
    .await;
    assert_eq!(answer.error, None);
    assert_eq!(answer.tools[0].output.as_deref(), Some("3 + 4 = 7"));

    // Someone else naming it gets nothing, before anything is stored.
    let refused = engine
        .send(&zed, request(vec!["mcp:mine".into()], "hi"))
        .await;
    assert!(
        matches!(refused, Err(chorus_engine::EngineError::Invalid(m)) if m.contains("no MCP server named \"mine\""))
    );
    assert!(engine.conversations(&zed).await.unwrap().is_empty());
    // Agents are shared, so they use only the server's own MCP servers.
    let agent = engine
        .create_agent(
            &mo,
            chorus_types::agent::AgentSpec {
                name: "Mine".into(),
                endpoint: "Mock".into(),
                model: "mock-small".into(),
                tools: vec!["mcp:mine".into()],
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(
        agent,
        Err(chorus_engine::EngineError::Invalid(m)) if m == "\"mine\" is your own MCP server; agents are shared, so they can use only the MCP servers this server offers."
    ));

    // A host that is this machine, not allowed by the config: refused when used.
    engine
        .add_user_mcp_server(
            &mo,
            server_spec("local", &format!("http://localhost:{}/mcp", toolbox.port)),
        )
        .await
        .unwrap();
    let (_, answer) = ask(
        &engine,
        &mo,
        &["mcp:local"],
        "[[call:add_mcp_local {\"a\": 1, \"b\": 1}]]",
    )
    .await;
    let error = answer.error.unwrap();
    assert!(
        error.contains("localhost is a local or private address"),
        "{error}"
    );
    assert!(answer.tools.is_empty());

    // Bad input is named.
    for (spec, expected) in [
        (
            server_spec("toolbox", &url),
            "already has an MCP server named \"toolbox\"",
        ),
        (
            server_spec("my server", &url),
            "letters, digits, '-' or '_'",
        ),
        (
            server_spec("ftp", "ftp://example.com/mcp"),
            "http:// or https://",
        ),
        (
            chorus_types::UserMcpServerSpec {
                transport: "websocket".into(),
                ..server_spec("ws", &url)
            },
            "Unknown transport \"websocket\"",
        ),
    ] {
        let err = engine.add_user_mcp_server(&mo, spec).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }

    // Removed: no chip, no tool.
    engine.delete_user_mcp_server(&mo, "mine").await.unwrap();
    assert!(!mine(engine.tool_options(&mo).await));
    assert_eq!(engine.user_mcp_servers(&mo).await.unwrap().len(), 1);
}
