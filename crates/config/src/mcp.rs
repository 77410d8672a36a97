//! `mcpServers`: MCP servers whose tools the model may call, in LibreChat's
//! shape (a map from the server's name to how to reach it).

use serde::Deserialize;
use std::collections::BTreeMap;

/// How Chorus talks to an MCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum McpTransport {
    /// A child process speaking JSON-RPC on stdin/stdout.
    Stdio,
    /// Streamable HTTP (MCP 2025-03-26 and later); `http` is accepted too.
    #[serde(alias = "http", alias = "streamableHttp")]
    StreamableHttp,
    /// The older HTTP+SSE transport (MCP 2024-11-05).
    Sse,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpServer {
    /// Inferred when left out: `stdio` with a `command`, `streamable-http`
    /// with a `url`.
    #[serde(rename = "type", default)]
    pub transport: Option<McpTransport>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How long one tool call may take, in milliseconds.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// How long connecting (start and handshake) may take, in milliseconds.
    #[serde(default)]
    pub init_timeout: Option<u64>,
    /// `true` passes the server's own instructions to the model; a string
    /// replaces them.
    #[serde(default)]
    pub server_instructions: Option<ServerInstructions>,
    /// What the user sees in the tool picker.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Values each user enters in their settings (their own token for the
    /// server), used as `{{NAME}}` in `args`, `env`, `url` and `headers`.
    #[serde(default)]
    pub custom_user_vars: BTreeMap<String, UserVar>,
}

/// `mcpSettings`: the remote MCP servers users add for themselves in
/// Settings (their tools are offered to them only).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct McpSettings {
    pub user_servers: bool,
    /// Hosts users' servers may reach although they are local or private
    /// addresses (`intranet.example`, `*.corp.example`, `127.0.0.1`); any
    /// other host must resolve to public addresses only.
    pub allowed_domains: Vec<String>,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            user_servers: true,
            allowed_domains: Vec::new(),
        }
    }
}

/// One value a user provides for a server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserVar {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// Placeholders filled with the acting user's id and email (LibreChat's names
/// and Chorus' own).
pub const USER_PLACEHOLDERS: [&str; 4] = [
    "LIBRECHAT_USER_ID",
    "LIBRECHAT_USER_EMAIL",
    "CHORUS_USER_ID",
    "CHORUS_USER_EMAIL",
];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ServerInstructions {
    Use(bool),
    Text(String),
}

/// A tool call's limit when `timeout` is not set.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 60_000;
/// Connecting's limit when `initTimeout` is not set.
pub const DEFAULT_INIT_TIMEOUT_MS: u64 = 30_000;

impl McpServer {
    /// The transport, given or inferred (`None` when neither `command` nor `url` says).
    pub fn transport(&self) -> Option<McpTransport> {
        self.transport.or(match (&self.command, &self.url) {
            (Some(_), _) => Some(McpTransport::Stdio),
            (None, Some(_)) => Some(McpTransport::StreamableHttp),
            (None, None) => None,
        })
    }

    /// Every text a `{{NAME}}` placeholder may appear in.
    pub fn templated(&self) -> impl Iterator<Item = &str> {
        self.args
            .iter()
            .chain(self.env.values())
            .chain(self.url.iter())
            .chain(self.headers.values())
            .map(String::as_str)
    }

    /// Whether each user gets a connection of their own (their values, or
    /// their identity, go into how it is reached).
    pub fn is_per_user(&self) -> bool {
        !self.custom_user_vars.is_empty()
            || self
                .templated()
                .flat_map(placeholders)
                .any(|p| USER_PLACEHOLDERS.contains(&p))
    }

    pub fn call_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout.unwrap_or(DEFAULT_CALL_TIMEOUT_MS))
    }

    pub fn init_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.init_timeout.unwrap_or(DEFAULT_INIT_TIMEOUT_MS))
    }
}

/// The names of the `{{NAME}}` placeholders in `text`.
pub fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split("{{").skip(1).filter_map(|rest| {
        let (name, _) = rest.split_once("}}")?;
        (!name.is_empty()).then_some(name)
    })
}

/// Problems serde cannot see, as (key path, expected).
pub(crate) fn validate(servers: &BTreeMap<String, McpServer>, errors: &mut Vec<(String, String)>) {
    for (name, server) in servers {
        let path = format!("mcpServers.{name}");
        let mut err = |key: &str, msg: &str| {
            let at = if key.is_empty() {
                path.clone()
            } else {
                format!("{path}.{key}")
            };
            errors.push((at, msg.to_string()));
        };
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            err(
                "",
                "expected a server name of letters, digits, '-' and '_' (it becomes part of tool names)",
            );
        }
        match server.transport() {
            None => err(
                "",
                "expected either `command` (a local server run over stdio) or `url` (a remote server)",
            ),
            Some(McpTransport::Stdio) => {
                if server
                    .command
                    .as_deref()
                    .is_none_or(|c| c.trim().is_empty())
                {
                    err(
                        "command",
                        "expected the command that starts the server, because type is stdio",
                    );
                }
            }
            Some(McpTransport::StreamableHttp | McpTransport::Sse) => match &server.url {
                None => err("url", "expected the server's http:// or https:// URL"),
                Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                    err("url", "expected an http:// or https:// URL")
                }
                _ => {}
            },
        }
        for var in server.custom_user_vars.keys() {
            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                err(
                    &format!("customUserVars.{var}"),
                    "expected a name of letters, digits and '_' (it is used as {{NAME}})",
                );
            }
        }
        for p in server.templated().flat_map(placeholders) {
            if !server.custom_user_vars.contains_key(p) && !USER_PLACEHOLDERS.contains(&p) {
                err(
                    "",
                    &format!(
                        "uses {{{{{p}}}}}, which `customUserVars` does not declare (expected one of its names, or {})",
                        USER_PLACEHOLDERS.join(", ")
                    ),
                );
            }
        }
        if server.timeout == Some(0) {
            err("timeout", "expected milliseconds greater than 0");
        }
        if server.init_timeout == Some(0) {
            err("initTimeout", "expected milliseconds greater than 0");
        }
    }
}
