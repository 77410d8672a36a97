//! Agents: create, edit (every save a version; restore an old one), share with
//! users as viewer or editor or with everyone, delete; and what a chat with
//! one uses (its endpoint, model, instructions and tools).

use crate::{Engine, EngineError};
use chorus_store::AgentRow;
use chorus_types::UserId;
use chorus_types::agent::{AgentGrantView, AgentRole, AgentSpec, AgentVersionView, AgentView};

const MAX_NAME_CHARS: usize = 100;
const MAX_INSTRUCTIONS_CHARS: usize = 50_000;
/// An avatar is a small picture kept in the agent's record.
const MAX_AVATAR_BYTES: usize = 256 * 1024;
const AVATAR_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

fn view(row: &AgentRow, user: &UserId, admin: bool) -> AgentView {
    AgentView {
        id: row.id.clone(),
        spec: row.spec(),
        author: row.author.clone(),
        version: row.version as u32,
        public: row.public,
        promoted: row.promoted,
        role: row.role_of(user).unwrap_or(AgentRole::Viewer),
        can_promote: admin,
        updated_at: row.updated_at,
    }
}

impl Engine {
    pub async fn create_agent(
        &self,
        user: &UserId,
        spec: AgentSpec,
    ) -> Result<AgentView, EngineError> {
        let spec = self.checked_spec(user, spec).await?;
        let id = self.store.create_agent(user, &spec).await?;
        self.agent(user, &id).await
    }

    /// The agents `user` may chat with: theirs, shared with them, public;
    /// promoted ones first.
    pub async fn agents(&self, user: &UserId) -> Result<Vec<AgentView>, EngineError> {
        let rows = self.store.agents(user).await?;
        let admin = self.is_admin(user).await?;
        Ok(rows.iter().map(|r| view(r, user, admin)).collect())
    }

    pub async fn agent(&self, user: &UserId, id: &str) -> Result<AgentView, EngineError> {
        let row = self.agent_row(user, id, AgentRole::Viewer).await?;
        Ok(view(&row, user, self.is_admin(user).await?))
    }

    /// Shows the agent first in everyone's marketplace, or not (administrators).
    pub async fn set_agent_promoted(
        &self,
        user: &UserId,
        id: &str,
        promoted: bool,
    ) -> Result<(), EngineError> {
        self.require_admin(user, "promote agents").await?;
        // An administrator promotes what they can see (public or shared with them).
        self.agent_row(user, id, AgentRole::Viewer).await?;
        Ok(self.store.set_agent_promoted(id, promoted).await?)
    }

    /// The agent if `user` has at least `role` on it: someone who cannot see it
    /// gets NotFound, someone who can but may not do this gets Forbidden.
    pub(crate) async fn agent_row(
        &self,
        user: &UserId,
        id: &str,
        role: AgentRole,
    ) -> Result<AgentRow, EngineError> {
        let row = self
            .store
            .agent(user, id)
            .await?
            .ok_or(EngineError::NotFound)?;
        match row.role_of(user) {
            Some(r) if r >= role => Ok(row),
            _ => Err(EngineError::Forbidden(match role {
                AgentRole::Owner => "Only the agent's owner can do that.".into(),
                _ => "You can chat with this agent but not change it.".into(),
            })),
        }
    }

    /// Saves a new version.
    pub async fn update_agent(
        &self,
        user: &UserId,
        id: &str,
        spec: AgentSpec,
    ) -> Result<AgentView, EngineError> {
        self.agent_row(user, id, AgentRole::Editor).await?;
        let spec = self.checked_spec(user, spec).await?;
        self.store.update_agent(user, id, &spec).await?;
        self.agent(user, id).await
    }

    pub async fn agent_versions(
        &self,
        user: &UserId,
        id: &str,
    ) -> Result<Vec<AgentVersionView>, EngineError> {
        self.agent_row(user, id, AgentRole::Editor).await?;
        let rows = self.store.agent_versions(id).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(AgentVersionView {
                    version: r.version as u32,
                    spec: serde_json::from_str(&r.spec).ok()?,
                    saved_at: r.saved_at,
                })
            })
            .collect())
    }

    /// Makes an old version current again (as a new version: nothing is lost).
    pub async fn restore_agent_version(
        &self,
        user: &UserId,
        id: &str,
        version: u32,
    ) -> Result<AgentView, EngineError> {
        let old = self
            .agent_versions(user, id)
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or(EngineError::NotFound)?;
        self.store.update_agent(user, id, &old.spec).await?;
        self.agent(user, id).await
    }

    pub async fn delete_agent(&self, user: &UserId, id: &str) -> Result<(), EngineError> {
        self.agent_row(user, id, AgentRole::Owner).await?;
        Ok(self.store.delete_agent(id).await?)
    }

    pub async fn set_agent_public(
        &self,
        user: &UserId,
        id: &str,
        public: bool,
    ) -> Result<(), EngineError> {
        self.agent_row(user, id, AgentRole::Owner).await?;
        Ok(self.store.set_agent_public(id, public).await?)
    }

    /// Shares the agent with an account (by email) or a group (by name) as
    /// viewer or editor, or stops sharing it with them (`None`).
    pub async fn share_agent(
        &self,
        user: &UserId,
        id: &str,
        who: &str,
        role: Option<AgentRole>,
    ) -> Result<(), EngineError> {
        self.agent_row(user, id, AgentRole::Owner).await?;
        if role == Some(AgentRole::Owner) {
            return Err(EngineError::Invalid("Share as viewer or editor.".into()));
        }
        let who = who.trim();
        if !who.contains('@') {
            let group = self.store.group_by_name(who).await?.ok_or_else(|| {
                EngineError::Invalid(format!("There is no account or group {who:?}."))
            })?;
            return Ok(self.store.set_agent_group_grant(id, &group, role).await?);
        }
        let other = self
            .store
            .user_by_email(who)
            .await?
            .ok_or_else(|| EngineError::Invalid(format!("No account uses {who:?}.")))?;
        if other.id == user.0 {
            return Err(EngineError::Invalid("You own this agent already.".into()));
        }
        Ok(self
            .store
            .set_agent_grant(id, &UserId(other.id), role)
            .await?)
    }

    pub async fn agent_grants(
        &self,
        user: &UserId,
        id: &str,
    ) -> Result<Vec<AgentGrantView>, EngineError> {
        self.agent_row(user, id, AgentRole::Owner).await?;
        let rows = self.store.agent_grants(id).await?;
        Ok(rows
            .into_iter()
            .filter_map(|g| {
                let group = g.group.is_some();
                Some(AgentGrantView {
                    who: g.group.or(g.email)?,
                    group,
                    role: AgentRole::parse(&g.role)?,
                })
            })
            .collect())
    }

    /// The spec trimmed, or what is wrong with it.
    async fn checked_spec(
        &self,
        user: &UserId,
        mut spec: AgentSpec,
    ) -> Result<AgentSpec, EngineError> {
        spec.name = spec.name.trim().to_string();
        spec.category = spec.category.trim().to_lowercase();
        spec.starters = spec
            .starters
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if spec.name.is_empty() {
            return Err(EngineError::Invalid("Give the agent a name.".into()));
        }
        if spec.name.chars().count() > MAX_NAME_CHARS {
            return Err(EngineError::Invalid(format!(
                "An agent's name can be at most {MAX_NAME_CHARS} characters."
            )));
        }
        if spec.instructions.chars().count() > MAX_INSTRUCTIONS_CHARS {
            return Err(EngineError::Invalid(format!(
                "Instructions can be at most {MAX_INSTRUCTIONS_CHARS} characters."
            )));
        }
        if let Some(t) = spec.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(EngineError::Invalid(
                "The temperature goes from 0 to 2.".into(),
            ));
        }
        if spec.max_tokens == Some(0) {
            return Err(EngineError::Invalid(
                "The longest answer must be at least 1 token (leave it empty for the model's default)."
                    .into(),
            ));
        }
        if let Some(avatar) = &spec.avatar {
            check_avatar(avatar)?;
        }
        self.model_choice(user, &spec.endpoint, &spec.model).await?;
        // An agent is shared: only the server's tools, never a user's own servers.
        if let Err(e) = self
            .tools()
            .check(&spec.tools, &chorus_tools::ToolContext::default())
        {
            let own = self.user_mcp_configs(user).await;
            let mine = spec
                .tools
                .iter()
                .filter_map(|t| t.strip_prefix(chorus_tools::MCP_PREFIX))
                .find(|name| own.contains_key(*name));
            return Err(EngineError::Invalid(match mine {
                Some(name) => format!(
                    "{name:?} is your own MCP server; agents are shared, so they can use only the MCP servers this server offers."
                ),
                None => e,
            }));
        }
        Ok(spec)
    }
}

/// An avatar must be a small picture in a `data:` URL (it is shown as an
/// `<img>`; anything else could be a tracking pixel or a script).
fn check_avatar(avatar: &str) -> Result<(), EngineError> {
    let kind = avatar
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
        .map(|(kind, _)| kind);
    if !kind.is_some_and(|k| AVATAR_TYPES.contains(&k)) {
        return Err(EngineError::Invalid(
            "The picture must be a PNG, JPEG, GIF or WebP image.".into(),
        ));
    }
    if avatar.len() > MAX_AVATAR_BYTES {
        return Err(EngineError::Invalid(format!(
            "The picture is too large: at most {} KB.",
            MAX_AVATAR_BYTES / 1024 * 3 / 4
        )));
    }
    Ok(())
}
