//! Agents, their versions and who they are shared with. Which user may do
//! what is decided by the engine from `AgentRow::role_of`; reads here return
//! only agents the user owns, was granted, or that are public.

use crate::{Result, Store, expect_touched, new_id, now_millis};
use chorus_types::UserId;
use chorus_types::agent::{AgentRole, AgentSpec};
use surrealdb::types::SurrealValue;

#[derive(Clone, Debug, SurrealValue)]
pub struct AgentRow {
    pub id: String,
    pub owner: String,
    pub author: String,
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub endpoint: String,
    pub model: String,
    pub tools: Vec<String>,
    pub starters: Vec<String>,
    pub category: String,
    pub public: bool,
    pub promoted: bool,
    pub version: i64,
    pub updated_at: i64,
    /// The acting user's grant, if any.
    pub granted: Option<String>,
}

impl AgentRow {
    pub fn spec(&self) -> AgentSpec {
        AgentSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            instructions: self.instructions.clone(),
            endpoint: self.endpoint.clone(),
            model: self.model.clone(),
            tools: self.tools.clone(),
            starters: self.starters.clone(),
            category: self.category.clone(),
        }
    }

    /// What `user` may do with it; `None`: nothing (it is not theirs to see).
    pub fn role_of(&self, user: &UserId) -> Option<AgentRole> {
        if self.owner == user.0 {
            return Some(AgentRole::Owner);
        }
        let granted = self.granted.as_deref().and_then(AgentRole::parse);
        let public = self.public.then_some(AgentRole::Viewer);
        granted.max(public)
    }
}

#[derive(SurrealValue)]
struct SpecRow {
    name: String,
    description: String,
    instructions: String,
    endpoint: String,
    model: String,
    tools: Vec<String>,
    starters: Vec<String>,
    category: String,
}

impl From<&AgentSpec> for SpecRow {
    fn from(s: &AgentSpec) -> Self {
        SpecRow {
            name: s.name.clone(),
            description: s.description.clone(),
            instructions: s.instructions.clone(),
            endpoint: s.endpoint.clone(),
            model: s.model.clone(),
            tools: s.tools.clone(),
            starters: s.starters.clone(),
            category: s.category.clone(),
        }
    }
}

#[derive(Clone, Debug, SurrealValue)]
pub struct AgentVersionRow {
    pub version: i64,
    pub spec: String,
    pub saved_at: i64,
}

#[derive(Clone, Debug, SurrealValue)]
pub struct AgentGrantRow {
    pub email: String,
    pub role: String,
}

/// The agent's fields as `AgentRow` reads them, with the acting user's grant.
const AGENT_FIELDS: &str = "record::id(id) AS id, record::id(owner) AS owner, owner.name AS author,
    name, description, instructions, endpoint, model, tools, starters, category, public,
    promoted, version, updated_at,
    (SELECT VALUE role FROM agent_grant WHERE agent = $parent.id AND user = $u LIMIT 1)[0] AS granted";

impl Store {
    /// A new agent owned by `owner`, version 1.
    pub async fn create_agent(&self, owner: &UserId, spec: &AgentSpec) -> Result<String> {
        let id = new_id();
        let snapshot = serde_json::to_string(spec).unwrap_or_default();
        self.query(
            "BEGIN TRANSACTION;
             LET $a = type::record('agent', $id);
             CREATE $a SET owner = type::record('user', $owner), name = $s.name,
                 description = $s.description, instructions = $s.instructions,
                 endpoint = $s.endpoint, model = $s.model, tools = $s.tools,
                 starters = $s.starters, category = $s.category, public = false,
                 promoted = false, version = 1, created_at = $now, updated_at = $now;
             CREATE agent_version SET agent = $a, version = 1, spec = $snapshot,
                 saved_at = $now, saved_by = type::record('user', $owner);
             COMMIT TRANSACTION;",
        )
        .bind(("id", id.clone()))
        .bind(("owner", owner.0.clone()))
        .bind(("s", SpecRow::from(spec)))
        .bind(("snapshot", snapshot))
        .bind(("now", now_millis()))
        .run()
        .await?;
        Ok(id)
    }

    /// One agent with `user`'s grant on it (the caller checks the role).
    pub async fn agent(&self, user: &UserId, id: &str) -> Result<Option<AgentRow>> {
        let mut res = self
            .query(format!(
                "LET $u = type::record('user', $user);
                 SELECT {AGENT_FIELDS} FROM type::record('agent', $id);"
            ))
            .bind(("user", user.0.clone()))
            .bind(("id", id.to_string()))
            .run()
            .await?;
        let mut rows: Vec<AgentRow> = res.take(1)?;
        Ok(rows.pop().filter(|row| row.role_of(user).is_some()))
    }

    /// The agents `user` may use: theirs, shared with them, public.
    pub async fn agents(&self, user: &UserId) -> Result<Vec<AgentRow>> {
        let mut res = self
            .query(format!(
                "LET $u = type::record('user', $user);
                 LET $shared = SELECT VALUE agent FROM agent_grant WHERE user = $u;
                 SELECT {AGENT_FIELDS} FROM agent
                 WHERE owner = $u OR public = true OR id INSIDE $shared
                 ORDER BY promoted DESC, updated_at DESC;"
            ))
            .bind(("user", user.0.clone()))
            .run()
            .await?;
        Ok(res.take(2)?)
    }

    /// Saves a new version of the agent: its fields and a snapshot, in one
    /// transaction. Returns the new version number.
    pub async fn update_agent(&self, by: &UserId, id: &str, spec: &AgentSpec) -> Result<i64> {
        let snapshot = serde_json::to_string(spec).unwrap_or_default();
        let mut res = self
            .query(
                "BEGIN TRANSACTION;
                 LET $a = type::record('agent', $id);
                 LET $v = (UPDATE ONLY $a SET name = $s.name, description = $s.description,
                     instructions = $s.instructions, endpoint = $s.endpoint, model = $s.model,
                     tools = $s.tools, starters = $s.starters, category = $s.category,
                     version += 1, updated_at = $now RETURN VALUE version);
                 IF $v = NONE { THROW 'no such agent' };
                 CREATE agent_version SET agent = $a, version = $v, spec = $snapshot,
                     saved_at = $now, saved_by = type::record('user', $by);
                 COMMIT TRANSACTION;
                 SELECT VALUE version FROM ONLY type::record('agent', $id);",
            )
            .bind(("id", id.to_string()))
            .bind(("by", by.0.clone()))
            .bind(("s", SpecRow::from(spec)))
            .bind(("snapshot", snapshot))
            .bind(("now", now_millis()))
            .run()
            .await
            .map_err(crate::thrown_not_found)?;
        let version: Option<i64> = res.take(res.num_statements() - 1)?;
        version.ok_or(crate::StoreError::NotFound)
    }

    pub async fn agent_versions(&self, id: &str) -> Result<Vec<AgentVersionRow>> {
        let mut res = self
            .query(
                "SELECT version, spec, saved_at FROM agent_version
                 WHERE agent = type::record('agent', $id) ORDER BY version DESC",
            )
            .bind(("id", id.to_string()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }

    pub async fn delete_agent(&self, id: &str) -> Result<()> {
        self.query(
            "BEGIN TRANSACTION;
             LET $a = type::record('agent', $id);
             DELETE agent_version WHERE agent = $a;
             DELETE agent_grant WHERE agent = $a;
             DELETE $a;
             COMMIT TRANSACTION;",
        )
        .bind(("id", id.to_string()))
        .run()
        .await?;
        Ok(())
    }

    pub async fn set_agent_public(&self, id: &str, public: bool) -> Result<()> {
        let mut res = self
            .query("UPDATE type::record('agent', $id) SET public = $public RETURN VALUE record::id(id)")
            .bind(("id", id.to_string()))
            .bind(("public", public))
            .run()
            .await?;
        expect_touched(&mut res, 0)
    }

    /// Shares the agent with `user` as `role` (replacing an earlier grant), or
    /// stops sharing it with them (`None`).
    pub async fn set_agent_grant(
        &self,
        id: &str,
        user: &UserId,
        role: Option<AgentRole>,
    ) -> Result<()> {
        self.query(
            "BEGIN TRANSACTION;
             LET $a = type::record('agent', $id);
             LET $u = type::record('user', $user);
             DELETE agent_grant WHERE agent = $a AND user = $u;
             IF $role != NONE { CREATE agent_grant SET agent = $a, user = $u, role = $role };
             COMMIT TRANSACTION;",
        )
        .bind(("id", id.to_string()))
        .bind(("user", user.0.clone()))
        .bind(("role", role.map(|r| r.as_str().to_string())))
        .run()
        .await?;
        Ok(())
    }

    pub async fn agent_grants(&self, id: &str) -> Result<Vec<AgentGrantRow>> {
        let mut res = self
            .query(
                "SELECT user.email AS email, role FROM agent_grant
                 WHERE agent = type::record('agent', $id) ORDER BY email",
            )
            .bind(("id", id.to_string()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }
}
