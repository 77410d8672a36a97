//! Values users enter for MCP servers that ask for them (`customUserVars`):
//! sealed at rest, bound to the user and server, never shown again; and the
//! tool context a user's calls run with.

use crate::{Engine, EngineError};
use chorus_tools::{MCP_PREFIX, ToolContext};
use chorus_types::{McpVarView, McpVarsView, UserId};
use std::collections::BTreeMap;

const MAX_VALUE_CHARS: usize = 4096;

/// What a sealed entry is bound to: a copy moved to another user or server
/// does not open.
fn seal_context(user: &UserId, server: &str) -> String {
    format!("mcp-vars:{}:{server}", user.0)
}

impl Engine {
    pub(crate) fn mcp(&self) -> Option<&chorus_tools::Mcp> {
        self.mcp.get().map(|m| m.as_ref())
    }

    /// What `user` has entered for `server`, opened.
    async fn entered_vars(
        &self,
        user: &UserId,
        server: &str,
    ) -> Result<BTreeMap<String, String>, EngineError> {
        let Some(sealed) = self.store.mcp_vars(user, server).await? else {
            return Ok(BTreeMap::new());
        };
        let opened = self
            .secrets
            .open(&sealed, &seal_context(user, server))
            .map_err(|e| EngineError::Store(format!("your values for {server:?}: {e}")))?;
        Ok(serde_json::from_str(&opened).unwrap_or_default())
    }

    /// Every server that asks users for values, with what `user` has entered.
    pub async fn mcp_var_forms(&self, user: &UserId) -> Result<Vec<McpVarsView>, EngineError> {
        let Some(mcp) = self.mcp() else {
            return Ok(Vec::new());
        };
        let mut forms = Vec::new();
        for info in mcp.servers() {
            let Some(config) = mcp.config(&info.name) else {
                continue;
            };
            if config.custom_user_vars.is_empty() {
                continue;
            }
            let entered = self.entered_vars(user, &info.name).await?;
            forms.push(McpVarsView {
                vars: config
                    .custom_user_vars
                    .iter()
                    .map(|(name, about)| McpVarView {
                        name: name.clone(),
                        title: about.title.clone().unwrap_or_else(|| name.clone()),
                        description: about.description.clone(),
                        set: entered.get(name).is_some_and(|v| !v.is_empty()),
                    })
                    .collect(),
                server: info.name,
                title: info.title,
            });
        }
        Ok(forms)
    }

    /// Stores `user`'s values for `server`. A value left empty keeps what was
    /// entered before, so one token can be changed alone.
    pub async fn set_mcp_vars(
        &self,
        user: &UserId,
        server: &str,
        values: BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        let config = self
            .mcp()
            .and_then(|m| m.config(server))
            .filter(|c| !c.custom_user_vars.is_empty())
            .ok_or(EngineError::NotFound)?;
        let mut entered = self.entered_vars(user, server).await?;
        for (name, value) in values {
            if !config.custom_user_vars.contains_key(&name) {
                return Err(EngineError::Invalid(format!(
                    "The MCP server {server:?} does not ask for {name:?}."
                )));
            }
            let value = value.trim();
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(EngineError::Invalid(format!(
                    "A value can be at most {MAX_VALUE_CHARS} characters."
                )));
            }
            if !value.is_empty() {
                entered.insert(name, value.to_string());
            }
        }
        let plain = serde_json::to_string(&entered).expect("a map of strings serializes");
        let sealed = self.secrets.seal(&plain, &seal_context(user, server));
        Ok(self.store.set_mcp_vars(user, server, sealed).await?)
    }

    /// Forgets everything `user` entered for `server`.
    pub async fn clear_mcp_vars(&self, user: &UserId, server: &str) -> Result<(), EngineError> {
        Ok(self.store.delete_mcp_vars(user, server).await?)
    }

    /// The context `user`'s tool calls run with: who they are, their own
    /// servers (when `tools` names one), and their values for the MCP servers
    /// among `tools` that ask for them.
    pub(crate) async fn tool_context(&self, user: &UserId, tools: &[String]) -> ToolContext {
        let mut ctx = ToolContext {
            user: user.0.clone(),
            ..Default::default()
        };
        let configured = |name: &str| self.mcp().is_some_and(|m| m.has(name));
        if tools
            .iter()
            .filter_map(|t| t.strip_prefix(MCP_PREFIX))
            .any(|s| !configured(s))
        {
            ctx.user_servers = self.user_mcp_configs(user).await;
        }
        let per_user = |name: &&str| {
            self.mcp()
                .and_then(|m| m.config(name))
                .is_some_and(|c| c.is_per_user())
        };
        let servers: Vec<&str> = tools
            .iter()
            .filter_map(|t| t.strip_prefix(MCP_PREFIX))
            .filter(per_user)
            .collect();
        if servers.is_empty() {
            return ctx;
        }
        match self.store.user_by_id(&user.0).await {
            Ok(Some(u)) => ctx.email = u.email,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading the user for MCP placeholders failed"),
        }
        for server in servers {
            match self.entered_vars(user, server).await {
                Ok(vars) => {
                    ctx.mcp_vars.insert(server.to_string(), vars);
                }
                // The server then says which values are missing.
                Err(e) => tracing::warn!(error = %e, server, "opening a user's MCP values failed"),
            }
        }
        ctx
    }
}
