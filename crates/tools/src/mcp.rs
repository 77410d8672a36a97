//! MCP servers from `mcpServers` (rmcp): each connected on first use, its
//! tools listed (rmcp's response cache keeps the list for `TOOL_LIST_TTL`
//! and drops it when the server sends `notifications/tools/list_changed`),
//! calls bounded by the server's
//! timeout. A server that fails to start or dies is reconnected on a later
//! use, after a pause that doubles with each failure in a row; until then its
//! tools are unavailable with the reason. One server's trouble never reaches
//! the others, or the app.

use crate::{ToolContext, ToolDef, ToolOutput};
use chorus_config::{McpServer, McpSettings, McpTransport, ServerInstructions};
use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientCacheConfig, RoleClient, ServiceExt};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tool names the model sees: `<tool>_mcp_<server>` (LibreChat's spelling).
pub const DELIMITER: &str = "_mcp_";
/// Longest pause before reconnecting a failing server.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a server's tool list is reused without asking again (servers
/// rarely say; one that announces changes is asked again at once). Without
/// it every call listed the tools first, to find the one the model meant.
const TOOL_LIST_TTL: Duration = Duration::from_secs(60);

type Client = RunningService<RoleClient, ()>;

/// Every configured MCP server, and the connections to servers users added.
#[derive(Default)]
pub struct Mcp {
    servers: BTreeMap<String, Entry>,
    settings: McpSettings,
    /// Users' own servers, by (user, server name).
    user_servers: Mutex<HashMap<(String, String), Arc<Server>>>,
}

/// A configured server: one connection shared by everyone, or (a server
/// reached with each user's own values or identity) one per user.
struct Entry {
    config: McpServer,
    shared: Option<Arc<Server>>,
    per_user: Mutex<HashMap<String, Arc<Server>>>,
}

/// A server as the tool picker shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct McpServerInfo {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
}

impl Mcp {
    pub fn new(config: &BTreeMap<String, McpServer>) -> Self {
        let servers = config
            .iter()
            .map(|(name, config)| {
                let entry = Entry {
                    config: config.clone(),
                    shared: (!config.is_per_user()).then(|| Server::new(name, config.clone())),
                    per_user: Mutex::default(),
                };
                (name.clone(), entry)
            })
            .collect();
        Mcp {
            servers,
            ..Default::default()
        }
    }

    /// With what users may add for themselves (`mcpSettings`).
    pub fn with_settings(mut self, settings: McpSettings) -> Self {
        self.settings = settings;
        self
    }

    pub fn settings(&self) -> &McpSettings {
        &self.settings
    }

    /// A server's configuration (what its users are asked for).
    pub fn config(&self, server: &str) -> Option<&McpServer> {
        self.servers.get(server).map(|e| &e.config)
    }

    pub fn servers(&self) -> Vec<McpServerInfo> {
        self.servers
            .iter()
            .map(|(name, e)| McpServerInfo {
                name: name.clone(),
                title: e.config.title.clone().unwrap_or_else(|| name.clone()),
                description: e.config.description.clone(),
            })
            .collect()
    }

    pub fn has(&self, server: &str) -> bool {
        self.servers.contains_key(server)
    }

    /// The tools of a server shared by everyone (see [`Mcp::definitions_as`]).
    pub async fn definitions(&self, server: &str) -> Result<Vec<ToolDef>, String> {
        self.definitions_as(server, &ToolContext::default()).await
    }

    /// Runs a tool of a server shared by everyone (see [`Mcp::call_as`]).
    pub async fn call(&self, model_tool: &str, arguments: &str) -> ToolOutput {
        self.call_as(model_tool, arguments, &ToolContext::default())
            .await
    }

    /// The tools of `server` as the model sees them, connecting first if needed.
    pub async fn definitions_as(
        &self,
        server: &str,
        ctx: &ToolContext,
    ) -> Result<Vec<ToolDef>, String> {
        let s = self.server(server, ctx)?;
        let (tools, instructions) = s.tools().await?;
        Ok(tools
            .iter()
            .map(|t| ToolDef {
                name: model_name(&t.name, server),
                description: describe(t, instructions.as_deref()),
                parameters: Value::Object((*t.input_schema).clone()),
            })
            .collect())
    }

    /// Runs a tool by the name the model used (`<tool>_mcp_<server>`).
    pub async fn call_as(
        &self,
        model_tool: &str,
        arguments: &str,
        ctx: &ToolContext,
    ) -> ToolOutput {
        let Some((tool, server)) = model_tool.rsplit_once(DELIMITER) else {
            return ToolOutput::error(format!("There is no tool named {model_tool:?}."));
        };
        let s = match self.server(server, ctx) {
            Ok(s) => s,
            Err(e) => return ToolOutput::error(e),
        };
        let arguments = match serde_json::from_str::<Value>(if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        }) {
            Ok(Value::Object(map)) => map,
            Ok(_) | Err(_) => {
                return ToolOutput::error(
                    "The arguments must be a JSON object matching the tool's schema.",
                );
            }
        };
        s.call(tool, arguments).await
    }

    /// The connection `ctx`'s user goes through: the shared one, or their
    /// own, made again when their values changed.
    fn server(&self, name: &str, ctx: &ToolContext) -> Result<Arc<Server>, String> {
        let Some(entry) = self.servers.get(name) else {
            return self.user_server(name, ctx);
        };
        if let Some(shared) = &entry.shared {
            return Ok(shared.clone());
        }
        let config = for_user(name, &entry.config, ctx)?;
        let mut per_user = entry.per_user.lock().unwrap();
        match per_user.get(&ctx.user) {
            Some(s) if s.config == config => Ok(s.clone()),
            _ => {
                let s = Server::new(name, config);
                per_user.insert(ctx.user.clone(), s.clone());
                Ok(s)
            }
        }
    }
}

impl Mcp {
    /// The connection to a server `ctx`'s user added, made again when they
    /// changed it. Only remote transports: a user never runs a command here.
    fn user_server(&self, name: &str, ctx: &ToolContext) -> Result<Arc<Server>, String> {
        let config = ctx
            .user_servers
            .get(name)
            .filter(|_| self.settings.user_servers)
            .ok_or_else(|| format!("There is no MCP server named {name:?} on this server."))?;
        if config.transport() == Some(McpTransport::Stdio) {
            return Err(format!(
                "The MCP server {name:?} must be reached over HTTP."
            ));
        }
        let key = (ctx.user.clone(), name.to_string());
        let mut servers = self.user_servers.lock().unwrap();
        match servers.get(&key) {
            Some(s) if s.config == *config => Ok(s.clone()),
            _ => {
                let guard = Some(self.settings.allowed_domains.clone());
                let s = Server::with_guard(name, config.clone(), guard);
                servers.insert(key, s.clone());
                Ok(s)
            }
        }
    }
}

/// The server's config with `{{NAME}}` filled in for `ctx`'s user: their
/// entered values and their identity. A value they have not entered makes
/// the server unavailable to them, saying where to enter it.
fn for_user(name: &str, config: &McpServer, ctx: &ToolContext) -> Result<McpServer, String> {
    let entered = ctx.mcp_vars.get(name);
    let missing: Vec<String> = config
        .custom_user_vars
        .iter()
        .filter(|(var, _)| {
            entered
                .and_then(|v| v.get(*var))
                .is_none_or(|v| v.is_empty())
        })
        .map(|(var, about)| about.title.clone().unwrap_or_else(|| var.clone()))
        .collect();
    if !missing.is_empty() {
        let title = config.title.as_deref().unwrap_or(name);
        return Err(format!(
            "The MCP server {title:?} needs your {} first: enter it in Settings → MCP servers.",
            missing.join(", ")
        ));
    }
    let fill = |text: &String| -> String {
        let mut out = text.clone();
        for p in chorus_config::placeholders(text) {
            let value = match p {
                "LIBRECHAT_USER_ID" | "CHORUS_USER_ID" => ctx.user.clone(),
                "LIBRECHAT_USER_EMAIL" | "CHORUS_USER_EMAIL" => ctx.email.clone(),
                var => entered
                    .and_then(|v| v.get(var))
                    .cloned()
                    .unwrap_or_default(),
            };
            out = out.replace(&format!("{{{{{p}}}}}"), &value);
        }
        out
    };
    let mut config = config.clone();
    config.args = config.args.iter().map(fill).collect();
    config.url = config.url.as_ref().map(fill);
    for v in config.env.values_mut().chain(config.headers.values_mut()) {
        *v = fill(v);
    }
    Ok(config)
}

/// Starts the MCP session over `transport`, its tool list cached.
async fn start<T, E, A>(transport: T) -> Result<Client, String>
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let client = ().serve(transport).await.map_err(|e| e.to_string())?;
    client
        .set_response_cache_config(ClientCacheConfig::default().with_default_ttl(TOOL_LIST_TTL))
        .await;
    Ok(client)
}

/// The configured headers (values with `${ENV}` and `{{NAME}}` filled in).
fn headers(c: &McpServer) -> Result<http::HeaderMap, String> {
    let mut headers = http::HeaderMap::new();
    for (k, v) in &c.headers {
        let name = http::HeaderName::try_from(k.as_str())
            .map_err(|e| format!("the header name {k:?} is not valid: {e}"))?;
        let value = http::HeaderValue::try_from(v.as_str())
            .map_err(|e| format!("the value of header {k:?} is not valid: {e}"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// What the model is told about a tool: its description, and the server's
/// instructions when the config asks for them.
fn describe(tool: &Tool, instructions: Option<&str>) -> String {
    let mut text = tool
        .description
        .as_deref()
        .or(tool.title.as_deref())
        .unwrap_or_default()
        .to_string();
    if let Some(i) = instructions {
        text.push_str("\n\nServer instructions: ");
        text.push_str(i);
    }
    text
}

/// `<tool>_mcp_<server>`, with characters providers refuse in tool names
/// replaced (OpenAI allows `[A-Za-z0-9_-]`, at most 64).
pub fn model_name(tool: &str, server: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let suffix = format!("{DELIMITER}{server}");
    let keep = 64usize.saturating_sub(suffix.len()).max(1);
    format!("{}{suffix}", &clean[..clean.len().min(keep)])
}

struct Server {
    name: String,
    config: McpServer,
    /// A server a user added: the hosts it may reach although they are not
    /// public (everything else must resolve to public addresses).
    guard: Option<Vec<String>>,
    state: tokio::sync::Mutex<State>,
    /// The last lines the server wrote to stderr (stdio servers), which often
    /// say why it failed.
    stderr: Arc<Mutex<Vec<String>>>,
    /// The task reading them, so a failure can wait for the last words.
    stderr_reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    client: Option<Arc<Client>>,
    /// Failures in a row, and when the next attempt may start.
    failures: u32,
    retry_at: Option<Instant>,
    reason: Option<String>,
}

impl Server {
    fn new(name: &str, config: McpServer) -> Arc<Self> {
        Self::with_guard(name, config, None)
    }

    fn with_guard(name: &str, config: McpServer, guard: Option<Vec<String>>) -> Arc<Self> {
        Arc::new(Server {
            name: name.to_string(),
            config,
            guard,
            state: tokio::sync::Mutex::new(State::default()),
            stderr: Arc::default(),
            stderr_reader: Mutex::default(),
        })
    }

    /// The connected client, connecting when there is none (and the pause
    /// after failures is over).
    async fn client(&self) -> Result<Arc<Client>, String> {
        let mut state = self.state.lock().await;
        if let Some(client) = &state.client {
            if !client.is_closed() {
                return Ok(client.clone());
            }
            self.settle_stderr().await;
            let reason = format!("it stopped{}", self.stderr_tail());
            self.failed(&mut state, reason);
        }
        if let Some(at) = state.retry_at
            && Instant::now() < at
        {
            let wait = at.saturating_duration_since(Instant::now()).as_secs() + 1;
            return Err(format!(
                "The MCP server {:?} is unavailable: {}. Chorus tries again in {wait} s.",
                self.name,
                state.reason.as_deref().unwrap_or("it failed")
            ));
        }
        match tokio::time::timeout(self.config.init_timeout(), self.connect()).await {
            Ok(Ok(client)) => {
                let client = Arc::new(client);
                state.client = Some(client.clone());
                state.failures = 0;
                state.retry_at = None;
                state.reason = None;
                Ok(client)
            }
            Ok(Err(reason)) => {
                self.settle_stderr().await;
                let reason = format!("{reason}{}", self.stderr_tail());
                self.failed(&mut state, reason.clone());
                Err(format!(
                    "The MCP server {:?} could not be started: {reason}.",
                    self.name
                ))
            }
            Err(_) => {
                let reason = format!(
                    "it did not finish starting within {} ms{}",
                    self.config.init_timeout().as_millis(),
                    self.stderr_tail()
                );
                self.failed(&mut state, reason.clone());
                Err(format!(
                    "The MCP server {:?} could not be started: {reason}.",
                    self.name
                ))
            }
        }
    }

    /// Forgets the connection (dropping it ends a stdio server's process) and
    /// sets when to try again.
    fn failed(&self, state: &mut State, reason: String) {
        tracing::warn!(server = %self.name, %reason, "MCP server failed");
        state.client = None;
        state.failures += 1;
        // The first retry is immediate (a server that crashed once is simply
        // restarted); then 1 s, 2 s, 4 s … up to MAX_BACKOFF.
        let pause = match state.failures {
            1 => Duration::ZERO,
            n => Duration::from_secs(1 << (n - 2).min(5)).min(MAX_BACKOFF),
        };
        state.retry_at = Some(Instant::now() + pause);
        state.reason = Some(reason);
    }

    async fn connect(&self) -> Result<Client, String> {
        let c = &self.config;
        // A user's server: checked now (addresses in the URL itself), and its
        // client resolves names to public addresses only.
        let http = match &self.guard {
            Some(allowed) => {
                crate::guard::check_url(c.url.as_deref().unwrap_or_default(), allowed).await?;
                crate::guard::client(allowed)
            }
            None => reqwest::Client::new(),
        };
        match c.transport() {
            Some(McpTransport::Stdio) => {
                let mut cmd = tokio::process::Command::new(c.command.as_deref().unwrap_or(""));
                cmd.args(&c.args);
                // Only what a program needs to run, then the configured variables:
                // the server's own secrets (CHORUS_SECRET_KEY…) stay here.
                cmd.env_clear();
                for key in ["PATH", "HOME", "LANG", "TMPDIR", "USER"] {
                    if let Some(v) = std::env::var_os(key) {
                        cmd.env(key, v);
                    }
                }
                cmd.envs(&c.env);
                let (transport, stderr) = TokioChildProcess::builder(cmd)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| {
                        format!(
                            "running {:?} failed: {e}",
                            c.command.as_deref().unwrap_or("")
                        )
                    })?;
                if let Some(stderr) = stderr {
                    self.keep_stderr(stderr);
                }
                start(transport).await
            }
            Some(McpTransport::StreamableHttp) => {
                let headers: HashMap<_, _> = headers(c)?
                    .into_iter()
                    .filter_map(|(k, v)| Some((k?, v)))
                    .collect();
                let config = StreamableHttpClientTransportConfig::with_uri(
                    c.url.clone().unwrap_or_default(),
                )
                .custom_headers(headers);
                let transport = StreamableHttpClientTransport::with_client(http, config);
                start(transport).await
            }
            Some(McpTransport::Sse) => {
                let transport =
                    crate::sse::connect(http, c.url.as_deref().unwrap_or_default(), headers(c)?)
                        .await?;
                start(transport).await
            }
            None => Err("neither a command nor a url is configured".into()),
        }
    }

    fn keep_stderr(&self, stderr: tokio::process::ChildStderr) {
        use tokio::io::AsyncBufReadExt;
        let (name, lines) = (self.name.clone(), self.stderr.clone());
        lines.lock().unwrap().clear();
        let reader = tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                tracing::debug!(server = %name, "{line}");
                let mut lines = lines.lock().unwrap();
                if lines.len() == 5 {
                    lines.remove(0);
                }
                lines.push(line);
            }
        });
        *self.stderr_reader.lock().unwrap() = Some(reader);
    }

    /// Waits (briefly) for the reader to take in what a server that just
    /// failed wrote before it exited.
    async fn settle_stderr(&self) {
        let reader = self.stderr_reader.lock().unwrap().take();
        if let Some(reader) = reader {
            let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
        }
    }

    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap();
        match lines.last() {
            Some(last) => format!(" (it said: {last})"),
            None => String::new(),
        }
    }

    /// The server's tools and the instructions to pass on with them.
    async fn tools(&self) -> Result<(Vec<Tool>, Option<String>), String> {
        let client = self.client().await?;
        let listed =
            tokio::time::timeout(self.config.call_timeout(), client.list_all_tools()).await;
        let tools = match listed {
            Ok(Ok(tools)) => tools,
            Ok(Err(e)) => {
                let mut state = self.state.lock().await;
                self.failed(&mut state, format!("listing its tools failed: {e}"));
                return Err(format!(
                    "The MCP server {:?} could not list its tools: {e}.",
                    self.name
                ));
            }
            Err(_) => {
                return Err(format!(
                    "The MCP server {:?} did not list its tools within {} ms.",
                    self.name,
                    self.config.call_timeout().as_millis()
                ));
            }
        };
        let instructions = match &self.config.server_instructions {
            Some(ServerInstructions::Text(text)) => Some(text.clone()),
            Some(ServerInstructions::Use(true)) => client
                .peer_info()
                .and_then(|info| info.instructions.clone()),
            _ => None,
        };
        Ok((tools, instructions))
    }

    async fn call(
        &self,
        model_tool: &str,
        arguments: serde_json::Map<String, Value>,
    ) -> ToolOutput {
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => return ToolOutput::error(e),
        };
        // The model saw cleaned names: find the tool it means.
        let tools = match client.list_all_tools().await {
            Ok(tools) => tools,
            Err(e) => {
                return ToolOutput::error(format!("The MCP server {:?} failed: {e}.", self.name));
            }
        };
        let Some(tool) = tools.iter().find(|t| {
            model_name(&t.name, &self.name) == format!("{model_tool}{DELIMITER}{}", self.name)
        }) else {
            return ToolOutput::error(format!(
                "The MCP server {:?} has no tool {model_tool:?} (any more).",
                self.name
            ));
        };
        let request = CallToolRequestParams::new(tool.name.to_string()).with_arguments(arguments);
        let timeout = self.config.call_timeout();
        match tokio::time::timeout(timeout, client.call_tool(request)).await {
            Ok(Ok(result)) => {
                let value = serde_json::to_value(&result).unwrap_or_default();
                ToolOutput {
                    content: content_text(&value),
                    is_error: result.is_error.unwrap_or(false),
                    files: Vec::new(),
                }
            }
            Ok(Err(e)) => {
                // The service may not have noticed the closed pipe yet.
                let closed = client.is_closed()
                    || matches!(
                        e,
                        ServiceError::TransportClosed | ServiceError::TransportSend(_)
                    );
                drop(client);
                if closed {
                    self.settle_stderr().await;
                    let mut state = self.state.lock().await;
                    let reason = format!("it stopped during a call{}", self.stderr_tail());
                    self.failed(&mut state, reason.clone());
                    return ToolOutput::error(format!(
                        "The MCP server {:?} stopped while running {}: {e}. It will be restarted on the next call.",
                        self.name, tool.name
                    ));
                }
                ToolOutput::error(format!("The tool {} failed: {e}.", tool.name))
            }
            Err(_) => ToolOutput::error(format!(
                "The tool {} did not finish within {} s, so it was given up on.",
                tool.name,
                timeout.as_secs_f32()
            )),
        }
    }
}

/// A tool result's content as the model reads it: text as is, other blocks
/// described (an image by its type, a resource by its URI and any text).
fn content_text(result: &Value) -> String {
    let mut parts = Vec::new();
    for block in result["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => parts.push(block["text"].as_str().unwrap_or_default().to_string()),
            Some("image") | Some("audio") => parts.push(format!(
                "[{} ({})]",
                block["type"].as_str().unwrap_or_default(),
                block["mimeType"].as_str().unwrap_or("unknown type")
            )),
            Some("resource") => {
                let r = &block["resource"];
                let text = r["text"].as_str().unwrap_or_default();
                parts.push(format!(
                    "[resource {}]\n{text}",
                    r["uri"].as_str().unwrap_or_default()
                ));
            }
            Some("resource_link") => parts.push(format!(
                "[resource link {}]",
                block["uri"].as_str().unwrap_or_default()
            )),
            _ => parts.push(block.to_string()),
        }
    }
    if parts.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        return structured.to_string();
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_safe_for_every_provider() {
        assert_eq!(
            model_name("get-sum", "everything"),
            "get-sum_mcp_everything"
        );
        assert_eq!(model_name("read file.v2", "fs"), "read_file_v2_mcp_fs");
        let long = model_name(&"x".repeat(100), "server");
        assert_eq!(long.len(), 64);
        assert!(long.ends_with("_mcp_server"));
    }

    #[test]
    fn content_blocks_become_text() {
        let result = serde_json::json!({"content": [
            {"type": "text", "text": "The sum of 2 and 3 is 5."},
            {"type": "image", "data": "AAAA", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "test://static/1", "text": "hello"}}
        ]});
        assert_eq!(
            content_text(&result),
            "The sum of 2 and 3 is 5.\n[image (image/png)]\n[resource test://static/1]\nhello"
        );
        let structured = serde_json::json!({"content": [], "structuredContent": {"a": 1}});
        assert_eq!(content_text(&structured), "{\"a\":1}");
    }
}
