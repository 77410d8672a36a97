//! Agents: a saved model setup (instructions, endpoint and model, tools,
//! conversation starters) that users chat with and share.

use serde::{Deserialize, Serialize};

/// What an agent is; every save of it is a version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The system prompt.
    #[serde(default)]
    pub instructions: String,
    pub endpoint: String,
    pub model: String,
    /// Tool names, as in the composer (`execute_code`, `mcp:<server>`).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Messages offered to start a chat with.
    #[serde(default)]
    pub starters: Vec<String>,
    #[serde(default)]
    pub category: String,
    /// Sampling temperature; `None`: the model's default.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Longest answer in tokens; `None`: the model's default.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// A small picture (a `data:image/…` URL); `None`: the name's initial.
    #[serde(default)]
    pub avatar: Option<String>,
}

/// What a user may do with an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    /// Chat with it.
    Viewer,
    /// Also change it.
    Editor,
    /// Also share and delete it.
    Owner,
}

impl AgentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentRole::Viewer => "viewer",
            AgentRole::Editor => "editor",
            AgentRole::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(AgentRole::Viewer),
            "editor" => Some(AgentRole::Editor),
            "owner" => Some(AgentRole::Owner),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub id: String,
    pub spec: AgentSpec,
    /// The owner's name.
    pub author: String,
    pub version: u32,
    /// Every user may chat with it.
    pub public: bool,
    /// Shown first in the marketplace (set by an admin).
    pub promoted: bool,
    /// What the viewing user may do.
    pub role: AgentRole,
    /// The viewing user may promote it (an administrator).
    #[serde(default)]
    pub can_promote: bool,
    pub updated_at: i64,
}

/// A user or group an agent is shared with (shown to its owner).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentGrantView {
    /// The user's email, or the group's name.
    pub who: String,
    pub group: bool,
    pub role: AgentRole,
}

/// A group of users (for sharing), as admins manage it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    /// Members' emails.
    pub members: Vec<String>,
}

/// One saved version of an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentVersionView {
    pub version: u32,
    pub spec: AgentSpec,
    pub saved_at: i64,
}
