//! The MCP client against real servers: `@modelcontextprotocol/server-everything`
//! from npm (stdio, streamable HTTP and the older HTTP+SSE),
//! `@modelcontextprotocol/server-memory` (stdio) and a small server written with the
//! official Python SDK (`tests/servers/toolbox.py`): listing and calling tools,
//! a server that crashes mid-call, a tool that hangs, a server that cannot
//! start, the tool list changing, what a stdio server may see of Chorus's
//! environment.

use chorus_config::McpServer;
use chorus_tools::{Mcp, ToolContext, Tools};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn everything_js() -> String {
    let path =
        repo().join("end2end/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        path.is_file(),
        "{} is missing: run `make test` (npm install in end2end)",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

/// The venv `make test` sets up with the `mcp` SDK.
fn python() -> String {
    let venv = std::env::var("HOME").unwrap() + "/.cache/chorus/pyenv/bin/python";
    assert!(
        std::path::Path::new(&venv).is_file(),
        "{venv} is missing: run `make test`"
    );
    venv
}

fn toolbox_py() -> String {
    repo()
        .join("crates/tools/tests/servers/toolbox.py")
        .to_string_lossy()
        .into_owned()
}

fn stdio(command: &str, args: &[&str]) -> McpServer {
    McpServer {
        command: Some(command.into()),
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    }
}

fn one(name: &str, server: McpServer) -> Mcp {
    Mcp::new(&BTreeMap::from([(name.to_string(), server)]))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// server-everything over HTTP (`streamableHttp` or `sse`) on a free port of
/// 127.0.0.1; stopped when the returned child is dropped.
fn everything_over_http(mode: &str) -> (Child, u16) {
    let port = free_port();
    let loopback = repo().join("crates/tools/tests/servers/loopback.cjs");
    let child = std::process::Command::new("node")
        .arg("--require")
        .arg(loopback)
        .args([everything_js().as_str(), mode])
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (Child(child), port)
}

async fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

async fn names(mcp: &Mcp, server: &str) -> Vec<String> {
    mcp.definitions(server)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect()
}

#[tokio::test]
async fn stdio_server_everything_lists_and_runs_its_tools() {
    let mcp = one("everything", stdio("node", &[&everything_js(), "stdio"]));
    let defs = mcp.definitions("everything").await.unwrap();
    let sum = defs
        .iter()
        .find(|d| d.name == "get-sum_mcp_everything")
        .expect("get-sum is listed");
    assert_eq!(sum.parameters["type"], "object");
    assert!(
        sum.parameters["properties"]["a"].is_object(),
        "{}",
        sum.parameters
    );
    assert!(defs.iter().any(|d| d.name == "echo_mcp_everything"));

    let out = mcp
        .call("get-sum_mcp_everything", r#"{"a": 2, "b": 3}"#)
        .await;
    assert!(!out.is_error, "{}", out.content);
    assert!(out.content.contains('5'), "{}", out.content);
    let out = mcp
        .call("echo_mcp_everything", r#"{"message": "hello there"}"#)
        .await;
    assert_eq!(out.content, "Echo: hello there");
    // Bad arguments come back as the tool's error, for the model to read.
    let out = mcp.call("get-sum_mcp_everything", r#"{"a": "two"}"#).await;
    assert!(out.is_error, "{}", out.content);
    let out = mcp.call("get-sum_mcp_everything", "[1, 2]").await;
    assert_eq!(
        out.content,
        "The arguments must be a JSON object matching the tool's schema."
    );
}

#[tokio::test]
async fn streamable_http_servers_answer_over_http() {
    let (_everything, port) = everything_over_http("streamableHttp");
    let py_port = free_port();
    let _toolbox = Child(
        std::process::Command::new(python())
            .args([&toolbox_py(), "http", &py_port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port).await;
    wait_for_port(py_port).await;
    let http = |url: String| McpServer {
        url: Some(url),
        ..Default::default()
    };
    let mcp = Mcp::new(&BTreeMap::from([
        (
            "everything".to_string(),
            http(format!("http://127.0.0.1:{port}/mcp")),
        ),
        (
            "toolbox".to_string(),
            http(format!("http://127.0.0.1:{py_port}/mcp")),
        ),
    ]));
    let out = mcp
        .call("get-sum_mcp_everything", r#"{"a": 20, "b": 22}"#)
        .await;
    assert!(out.content.contains("42"), "{}", out.content);
    let out = mcp.call("add_mcp_toolbox", r#"{"a": 1, "b": 2}"#).await;
    assert_eq!(out.content, "1 + 2 = 3");
}

#[tokio::test]
async fn an_older_http_sse_server_answers_over_its_event_stream() {
    let (_everything, port) = everything_over_http("sse");
    wait_for_port(port).await;
    let mcp = one(
        "legacy",
        McpServer {
            transport: Some(chorus_config::McpTransport::Sse),
            url: Some(format!("http://127.0.0.1:{port}/sse")),
            ..Default::default()
        },
    );
    assert!(
        names(&mcp, "legacy")
            .await
            .contains(&"get-sum_mcp_legacy".to_string())
    );
    let out = mcp.call("get-sum_mcp_legacy", r#"{"a": 40, "b": 2}"#).await;
    assert!(!out.is_error, "{}", out.content);
    assert!(out.content.contains("42"), "{}", out.content);
    // Calls at once are matched to their answers on the one stream.
    let (a, b) = tokio::join!(
        mcp.call("get-sum_mcp_legacy", r#"{"a": 1, "b": 1}"#),
        mcp.call("echo_mcp_legacy", r#"{"message": "over sse"}"#)
    );
    assert!(a.content.contains('2'), "{}", a.content);
    assert!(b.content.contains("over sse"), "{}", b.content);

    // Nothing listening: unavailable, with the reason.
    let gone = one(
        "gone",
        McpServer {
            transport: Some(chorus_config::McpTransport::Sse),
            url: Some(format!("http://127.0.0.1:{}/sse", free_port())),
            ..Default::default()
        },
    );
    let err = gone.definitions("gone").await.unwrap_err();
    assert!(
        err.starts_with("The MCP server \"gone\" could not be started: connecting to"),
        "{err}"
    );
}

#[tokio::test]
async fn server_memory_from_npm_remembers_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let memory_js =
        repo().join("end2end/node_modules/@modelcontextprotocol/server-memory/dist/index.js");
    assert!(
        memory_js.is_file(),
        "{} is missing: run `make test`",
        memory_js.display()
    );
    let file = dir.path().join("memory.jsonl");
    let server = McpServer {
        env: BTreeMap::from([(
            "MEMORY_FILE_PATH".to_string(),
            file.to_string_lossy().into_owned(),
        )]),
        ..stdio("node", &[&memory_js.to_string_lossy()])
    };
    let mcp = one("memory", server.clone());
    let tools = names(&mcp, "memory").await;
    for tool in [
        "create_entities_mcp_memory",
        "search_nodes_mcp_memory",
        "read_graph_mcp_memory",
    ] {
        assert!(tools.contains(&tool.to_string()), "{tools:?}");
    }
    let out = mcp
        .call(
            "create_entities_mcp_memory",
            r#"{"entities": [{"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]}]}"#,
        )
        .await;
    assert!(!out.is_error, "{}", out.content);
    // Another start (a new process) finds what the first one stored.
    drop(mcp);
    let again = one("memory", server);
    let out = again
        .call("search_nodes_mcp_memory", r#"{"query": "Ada"}"#)
        .await;
    assert!(!out.is_error, "{}", out.content);
    assert!(
        out.content.contains("wrote the first program"),
        "{}",
        out.content
    );
    let out = again
        .call("search_nodes_mcp_memory", r#"{"query": "Grace"}"#)
        .await;
    assert!(!out.content.contains("Ada"), "{}", out.content);
}

#[tokio::test]
async fn a_server_that_crashes_mid_call_is_reported_and_restarted() {
    let mcp = one("toolbox", stdio(&python(), &[&toolbox_py()]));
    let out = mcp.call("crash_mcp_toolbox", "{}").await;
    assert!(out.is_error);
    assert!(
        out.content
            .starts_with("The MCP server \"toolbox\" stopped while running crash"),
        "{}",
        out.content
    );
    // The next call starts it again.
    let out = mcp.call("add_mcp_toolbox", r#"{"a": 2, "b": 2}"#).await;
    assert_eq!(out.content, "2 + 2 = 4");
}

#[tokio::test]
async fn a_tool_that_hangs_is_given_up_on_at_the_timeout() {
    let mcp = one(
        "toolbox",
        McpServer {
            timeout: Some(500),
            ..stdio(&python(), &[&toolbox_py()])
        },
    );
    mcp.definitions("toolbox").await.unwrap();
    let started = Instant::now();
    let out = mcp.call("hang_mcp_toolbox", r#"{"seconds": 20}"#).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the call did not wait for the tool"
    );
    assert!(out.is_error);
    assert_eq!(
        out.content,
        "The tool hang did not finish within 0.5 s, so it was given up on."
    );
}

#[tokio::test]
async fn a_server_that_cannot_start_is_unavailable_with_its_reason_and_the_others_work() {
    let broken = stdio(
        &python(),
        &[
            "-c",
            "import sys; print('TOOLBOX_API_KEY is not set', file=sys.stderr); sys.exit(1)",
        ],
    );
    let mcp = Arc::new(Mcp::new(&BTreeMap::from([
        ("broken".to_string(), broken),
        ("missing".to_string(), stdio("/nonexistent/mcp-server", &[])),
        ("toolbox".to_string(), stdio(&python(), &[&toolbox_py()])),
    ])));
    let err = mcp.definitions("broken").await.unwrap_err();
    assert!(
        err.starts_with("The MCP server \"broken\" could not be started:"),
        "{err}"
    );
    assert!(
        err.contains("(it said: TOOLBOX_API_KEY is not set)"),
        "{err}"
    );
    let err = mcp.definitions("missing").await.unwrap_err();
    assert!(
        err.contains("running \"/nonexistent/mcp-server\" failed"),
        "{err}"
    );
    // The first retry is immediate; after a second failure it waits, and says so.
    mcp.definitions("missing").await.unwrap_err();
    let err = mcp.definitions("missing").await.unwrap_err();
    assert!(
        err.starts_with(
            "The MCP server \"missing\" is unavailable: running \"/nonexistent/mcp-server\" failed"
        ),
        "{err}"
    );
    assert!(err.contains("Chorus tries again in"), "{err}");

    // Through the registry: the working server's tools are offered, the
    // broken one is reported.
    let tools = Tools::new(None, mcp.clone());
    let ctx = ToolContext {
        user: "u".into(),
        ..Default::default()
    };
    let (defs, problems) = tools
        .definitions(&["mcp:toolbox".into(), "mcp:broken".into()], &ctx)
        .await;
    assert!(defs.iter().any(|d| d.name == "add_mcp_toolbox"));
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("\"broken\""), "{problems:?}");
    let out = tools
        .call(&ctx, "add_mcp_toolbox", r#"{"a": 5, "b": 5}"#)
        .await;
    assert_eq!(out.content, "5 + 5 = 10");
    assert_eq!(
        tools.check(&["mcp:nope".into()], &ToolContext::default()),
        Err("There is no MCP server named \"nope\" on this server.".into())
    );
}

#[tokio::test]
async fn a_changed_tool_list_is_seen_on_the_next_listing() {
    let mcp = one("toolbox", stdio(&python(), &[&toolbox_py()]));
    assert!(
        !names(&mcp, "toolbox")
            .await
            .contains(&"shout_mcp_toolbox".to_string())
    );
    let out = mcp.call("grow_mcp_toolbox", "{}").await;
    assert_eq!(out.content, "added shout");
    let mut seen = false;
    for _ in 0..50 {
        if names(&mcp, "toolbox")
            .await
            .contains(&"shout_mcp_toolbox".to_string())
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen,
        "the new tool is listed after notifications/tools/list_changed"
    );
    let out = mcp.call("shout_mcp_toolbox", r#"{"text": "quiet"}"#).await;
    assert_eq!(out.content, "QUIET");
}

#[tokio::test]
async fn a_stdio_server_gets_its_configured_environment_and_none_of_chorus_secrets() {
    let mcp = one(
        "toolbox",
        McpServer {
            env: BTreeMap::from([("TOOLBOX_GREETING".to_string(), "hello".to_string())]),
            ..stdio(&python(), &[&toolbox_py()])
        },
    );
    let out = mcp
        .call("env_mcp_toolbox", r#"{"name": "TOOLBOX_GREETING"}"#)
        .await;
    assert_eq!(out.content, "hello");
    // Cargo sets this in the test's environment; the server must not see it.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    let out = mcp
        .call("env_mcp_toolbox", r#"{"name": "CARGO_MANIFEST_DIR"}"#)
        .await;
    assert_eq!(out.content, "(unset)");
}
