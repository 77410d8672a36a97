//! Remote MCP servers users add for themselves (Settings → MCP servers):
//! offered to them only, reached over HTTP (never a command on this
//! machine), at public addresses unless `mcpSettings.allowedDomains` allows
//! the host. How to reach one is sealed at rest (its header carries a token).

use crate::{Engine, EngineError};
use chorus_config::{McpServer, McpTransport};
use chorus_tools::ToolContext;
use chorus_types::{ToolOption, UserId, UserMcpServerSpec, UserMcpServerView};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MAX_SERVERS: usize = 20;
const MAX_NAME_CHARS: usize = 40;

/// What is sealed: how to reach the server.
#[derive(Serialize, Deserialize)]
struct Reach {
    url: String,
    transport: String,
    #[serde(default)]
    authorization: Option<String>,
}

fn seal_context(user: &UserId, name: &str) -> String {
    format!("user-mcp-server:{}:{name}", user.0)
}

impl Reach {
    fn config(&self, title: &str) -> McpServer {
        McpServer {
            transport: Some(if self.transport == "sse" {
                McpTransport::Sse
            } else {
                McpTransport::StreamableHttp
            }),
            url: Some(self.url.clone()),
            headers: self
                .authorization
                .iter()
                .map(|a| ("Authorization".to_string(), a.clone()))
                .collect(),
            title: Some(title.to_string()),
            ..Default::default()
        }
    }
}

impl Engine {
    /// `user`'s own servers, opened (one that no longer opens is left out).
    async fn user_reaches(
        &self,
        user: &UserId,
    ) -> Result<Vec<(String, String, Reach)>, EngineError> {
        let rows = self.store.user_mcp_servers(user).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let plain = self
                    .secrets
                    .open(&row.sealed, &seal_context(user, &row.name))
                    .map_err(|e| tracing::warn!(error = %e, server = %row.name, "a user's MCP server does not open"))
                    .ok()?;
                let reach = serde_json::from_str(&plain).ok()?;
                Some((row.name, row.title, reach))
            })
            .collect())
    }

    pub async fn user_mcp_servers(
        &self,
        user: &UserId,
    ) -> Result<Vec<UserMcpServerView>, EngineError> {
        Ok(self
            .user_reaches(user)
            .await?
            .into_iter()
            .map(|(name, title, reach)| UserMcpServerView {
                name,
                title,
                url: reach.url,
                transport: reach.transport,
                has_authorization: reach.authorization.is_some(),
            })
            .collect())
    }

    /// The configs of `user`'s own servers, by name, for their tool calls.
    pub(crate) async fn user_mcp_configs(&self, user: &UserId) -> BTreeMap<String, McpServer> {
        match self.user_reaches(user).await {
            Ok(list) => list
                .into_iter()
                .map(|(name, title, reach)| {
                    let config = reach.config(&title);
                    (name, config)
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading a user's MCP servers failed");
                BTreeMap::new()
            }
        }
    }

    /// Adds a server (or replaces the one with that name).
    pub async fn add_user_mcp_server(
        &self,
        user: &UserId,
        spec: UserMcpServerSpec,
    ) -> Result<(), EngineError> {
        let mcp = self.mcp();
        if !mcp.is_some_and(|m| m.settings().user_servers) {
            return Err(EngineError::Invalid(
                "Adding your own MCP servers is turned off on this server.".into(),
            ));
        }
        let name = spec.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(EngineError::Invalid(format!(
                "A server's name is 1 to {MAX_NAME_CHARS} letters, digits, '-' or '_' (it becomes part of tool names)."
            )));
        }
        if mcp.is_some_and(|m| m.has(name)) {
            return Err(EngineError::Invalid(format!(
                "This server already has an MCP server named {name:?}; choose another name."
            )));
        }
        let url = spec.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url::Url::parse(url).is_err()
        {
            return Err(EngineError::Invalid(
                "The URL must be an http:// or https:// address.".into(),
            ));
        }
        let transport = match spec.transport.trim() {
            "" | "streamable-http" => "streamable-http",
            "sse" => "sse",
            other => {
                return Err(EngineError::Invalid(format!(
                    "Unknown transport {other:?}: choose streamable-http or sse."
                )));
            }
        };
        let authorization = spec.authorization.trim();
        if !header_value_ok(authorization) {
            return Err(EngineError::Invalid(
                "The authorization header must be one line of text.".into(),
            ));
        }
        let existing = self.store.user_mcp_servers(user).await?;
        if existing.len() >= MAX_SERVERS && !existing.iter().any(|s| s.name == name) {
            return Err(EngineError::Invalid(format!(
                "You can add at most {MAX_SERVERS} servers."
            )));
        }
        let reach = Reach {
            url: url.to_string(),
            transport: transport.to_string(),
            authorization: (!authorization.is_empty()).then(|| authorization.to_string()),
        };
        let plain = serde_json::to_string(&reach).expect("plain strings serialize");
        let sealed = self.secrets.seal(&plain, &seal_context(user, name));
        let title = match spec.title.trim() {
            "" => name,
            t => t,
        };
        Ok(self
            .store
            .set_user_mcp_server(user, name, title, sealed)
            .await?)
    }

    pub async fn delete_user_mcp_server(
        &self,
        user: &UserId,
        name: &str,
    ) -> Result<(), EngineError> {
        Ok(self.store.delete_user_mcp_server(user, name).await?)
    }

    /// What `user` may turn on in the composer: the server's tools and their own servers.
    pub async fn tool_options(&self, user: &UserId) -> Vec<ToolOption> {
        let ctx = ToolContext {
            user: user.0.clone(),
            user_servers: self.user_mcp_configs(user).await,
            ..Default::default()
        };
        self.tools().options_for(&ctx)
    }
}

/// A header value is visible ASCII and spaces (no line breaks).
fn header_value_ok(value: &str) -> bool {
    value
        .chars()
        .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
}
