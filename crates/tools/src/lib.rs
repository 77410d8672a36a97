//! Tools the model may call while it answers. The engine's run loop asks
//! [`Tools::definitions`] what to offer and [`Tools::call`] to run what the
//! model asked for; every failure comes back as an error *result* the model
//! reads (and may correct), never as a failed answer.

mod code;
mod guard;
pub mod mcp;
mod sse;

use chorus_sandbox::{FileEntry, Sandbox};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use chorus_types::ToolOption;
pub use code::EXECUTE_CODE;
pub use mcp::Mcp;

/// What the model is told about a tool.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// Who calls, and where: the acting user, the sandbox session of the
/// conversation (its `/mnt/data`), and what the user entered for MCP servers
/// that ask for their own values (`customUserVars`).
#[derive(Clone, Debug, Default)]
pub struct ToolContext {
    pub user: String,
    pub email: String,
    pub session: Option<String>,
    /// Server name → variable name → value.
    pub mcp_vars: BTreeMap<String, BTreeMap<String, String>>,
    /// The remote MCP servers this user added for themselves, by name.
    pub user_servers: BTreeMap<String, chorus_config::McpServer>,
}

/// What a call returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolOutput {
    /// What the model reads.
    pub content: String,
    pub is_error: bool,
    /// Files the tool wrote into the session (code execution).
    pub files: Vec<FileEntry>,
}

impl ToolOutput {
    pub fn error(message: impl Into<String>) -> Self {
        ToolOutput {
            content: message.into(),
            is_error: true,
            files: Vec::new(),
        }
    }
}

/// The tools this server can offer.
#[derive(Clone, Default)]
pub struct Tools {
    sandbox: Option<Arc<Sandbox>>,
    mcp: Arc<Mcp>,
}

/// What a user can turn on: `execute_code`, or all the tools of one MCP
/// server (`mcp:<server>`).
pub const MCP_PREFIX: &str = "mcp:";

impl Tools {
    pub fn new(sandbox: Option<Arc<Sandbox>>, mcp: Arc<Mcp>) -> Self {
        Tools { sandbox, mcp }
    }

    /// What `ctx`'s user may turn on: the server's tools and their own MCP servers.
    pub fn options_for(&self, ctx: &ToolContext) -> Vec<ToolOption> {
        let mut options = self.options();
        options.extend(ctx.user_servers.iter().map(|(name, s)| ToolOption {
            name: format!("{MCP_PREFIX}{name}"),
            label: s.title.clone().unwrap_or_else(|| name.clone()),
            description: Some("Your own MCP server".into()),
        }));
        options
    }

    /// What a user may turn on here, for the composer's tool picker.
    pub fn options(&self) -> Vec<ToolOption> {
        let mut options = Vec::new();
        if self.sandbox.is_some() {
            options.push(ToolOption {
                name: EXECUTE_CODE.into(),
                label: "Code".into(),
                description: Some(
                    "Let the model run code in a sandbox (no network; files persist in this conversation)"
                        .into(),
                ),
            });
        }
        options.extend(self.mcp.servers().into_iter().map(|s| ToolOption {
            name: format!("{MCP_PREFIX}{}", s.name),
            label: s.title,
            description: s.description,
        }));
        options
    }

    /// Whether every name is something this server offers `ctx`'s user
    /// (checked before a message is stored: the answer could only fail).
    pub fn check(&self, names: &[String], ctx: &ToolContext) -> Result<(), String> {
        for name in names {
            match name.strip_prefix(MCP_PREFIX) {
                Some(server) if self.mcp.has(server) || ctx.user_servers.contains_key(server) => {}
                Some(server) => {
                    return Err(format!(
                        "There is no MCP server named {server:?} on this server."
                    ));
                }
                None if name == EXECUTE_CODE && self.sandbox.is_some() => {}
                None if name == EXECUTE_CODE => {
                    return Err(
                        "Code execution is not set up on this server, so the model cannot run code."
                            .into(),
                    );
                }
                None => return Err(format!("There is no tool named {name:?} on this server.")),
            }
        }
        Ok(())
    }

    /// The definitions of the named tools for the model, and why any could
    /// not be offered (an MCP server that is down: the answer goes on without
    /// its tools).
    pub async fn definitions(
        &self,
        names: &[String],
        ctx: &ToolContext,
    ) -> (Vec<ToolDef>, Vec<String>) {
        let mut defs = Vec::new();
        let mut problems = Vec::new();
        for name in names {
            match name.strip_prefix(MCP_PREFIX) {
                Some(server) => match self.mcp.definitions_as(server, ctx).await {
                    Ok(tools) => defs.extend(tools),
                    Err(e) => problems.push(e),
                },
                None if name == EXECUTE_CODE && self.sandbox.is_some() => {
                    defs.push(code::definition())
                }
                None => problems.push(format!("The tool {name:?} is not available here.")),
            }
        }
        (defs, problems)
    }

    /// Whether calls of `name` need the conversation's sandbox session.
    pub fn needs_session(name: &str) -> bool {
        name == EXECUTE_CODE
    }

    /// Runs one call. `arguments` is the JSON text the model wrote.
    pub async fn call(&self, ctx: &ToolContext, name: &str, arguments: &str) -> ToolOutput {
        match (name, &self.sandbox) {
            (EXECUTE_CODE, Some(sandbox)) => code::call(sandbox, ctx, arguments).await,
            _ if name.contains(mcp::DELIMITER) => self.mcp.call_as(name, arguments, ctx).await,
            _ => ToolOutput::error(format!(
                "There is no tool named {name:?} here; use only the tools you were given."
            )),
        }
    }
}
