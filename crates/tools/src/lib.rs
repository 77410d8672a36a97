//! Tools the model may call while it answers. The engine's run loop asks
//! [`Tools::definitions`] what to offer and [`Tools::call`] to run what the
//! model asked for; every failure comes back as an error *result* the model
//! reads (and may correct), never as a failed answer.

mod code;

use chorus_sandbox::{FileEntry, Sandbox};
use serde_json::Value;
use std::sync::Arc;

pub use code::EXECUTE_CODE;

/// What the model is told about a tool.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// Who calls, and where: the acting user and the sandbox session of the
/// conversation (its `/mnt/data`).
#[derive(Clone, Debug)]
pub struct ToolContext {
    pub user: String,
    pub session: Option<String>,
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
}

impl Tools {
    pub fn new(sandbox: Option<Arc<Sandbox>>) -> Self {
        Tools { sandbox }
    }

    /// The names of the tools a user may turn on here.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.sandbox.is_some() {
            names.push(EXECUTE_CODE);
        }
        names
    }

    /// The definitions of the named tools, or what is wrong with a name.
    pub fn definitions(&self, names: &[String]) -> Result<Vec<ToolDef>, String> {
        names
            .iter()
            .map(|name| match name.as_str() {
                EXECUTE_CODE if self.sandbox.is_some() => Ok(code::definition()),
                EXECUTE_CODE => Err(
                    "Code execution is not set up on this server, so the model cannot run code."
                        .to_string(),
                ),
                other => Err(format!("There is no tool named {other:?} on this server.")),
            })
            .collect()
    }

    /// Whether calls of `name` need the conversation's sandbox session.
    pub fn needs_session(name: &str) -> bool {
        name == EXECUTE_CODE
    }

    /// Runs one call. `arguments` is the JSON text the model wrote.
    pub async fn call(&self, ctx: &ToolContext, name: &str, arguments: &str) -> ToolOutput {
        match (name, &self.sandbox) {
            (EXECUTE_CODE, Some(sandbox)) => code::call(sandbox, ctx, arguments).await,
            _ => ToolOutput::error(format!(
                "There is no tool named {name:?} here; use only the tools you were given."
            )),
        }
    }
}
