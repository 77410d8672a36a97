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
    pub temperature: Option<f64>,
    pub max_tokens: Option<i64>,
    pub avatar: Option<String>,
    pub public: bool,
    pub promoted: bool,
    pub version: i64,
    pub updated_at: i64,
    /// The roles granted to the acting user, directly or through a group.
    pub granted: Vec<String>,
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
            temperature: self.temperature.map(|t| t as f32),
            max_tokens: self.max_tokens.and_then(|t| u32::try_from(t).ok()),
            avatar: self.avatar.clone(),
        }
    }

    /// What `user` may do with it; `None`: nothing (it is not theirs to see).
    pub fn role_of(&self, user: &UserId) -> Option<AgentRole> {
        if self.owner == user.0 {
            return Some(AgentRole::Owner);
        }
        let granted = self
            .granted
            .iter()
            .filter_map(|r| AgentRole::parse(r))
            .max();
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
    temperature: Option<f64>,
    max_tokens: Option<i64>,
    avatar: Option<String>,
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
            temperature: s.temperature.map(f64::from),
            max_tokens: s.max_tokens.map(i64::from),
            avatar: s.avatar.clone(),
        }
    }
}

#[derive(Clone, Debug, SurrealValue)]
pub struct AgentVersionRow {
    pub version: i64,
    pub spec: String,
    pub saved_at: i64,
}

/// A grant to a user (their email) or a group (its name).
#[derive(Clone, Debug, SurrealValue)]
pub struct AgentGrantRow {
    pub email: Option<String>,
    pub group: Option<String>,
    pub role: String,
}

#[derive(Clone, Debug, SurrealValue)]
pub struct GroupRow {
    pub id: String,
    pub name: String,
    /// Members' emails.
    pub members: Vec<String>,
}

/// `$u` (the acting user) and `$teams` (their groups), which the agent
/// queries use.
const WHO: &str = "LET $u = type::record('user', $user);
    LET $teams = SELECT VALUE team FROM group_member WHERE user = $u;";

/// The agent's fields as `AgentRow` reads them, with the acting user's grant.
const AGENT_FIELDS: &str = "record::id(id) AS id, record::id(owner) AS owner, owner.name AS author,
    name, description, instructions, endpoint, model, tools, starters, category, temperature,
    max_tokens, avatar, public,
    promoted, version, updated_at,
    (SELECT VALUE role FROM agent_grant WHERE agent = $parent.id
        AND (user = $u OR team INSIDE $teams)) AS granted";

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
                 starters = $s.starters, category = $s.category, temperature = $s.temperature,
                 max_tokens = $s.max_tokens, avatar = $s.avatar, public = false,
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
                "{WHO}
                 SELECT {AGENT_FIELDS} FROM type::record('agent', $id);"
            ))
            .bind(("user", user.0.clone()))
            .bind(("id", id.to_string()))
            .run()
            .await?;
        let mut rows: Vec<AgentRow> = res.take(2)?;
        Ok(rows.pop().filter(|row| row.role_of(user).is_some()))
    }

    /// The agents `user` may use: theirs, shared with them, public.
    pub async fn agents(&self, user: &UserId) -> Result<Vec<AgentRow>> {
        let mut res = self
            .query(format!(
                "{WHO}
                 LET $shared = SELECT VALUE agent FROM agent_grant WHERE user = $u OR team INSIDE $teams;
                 SELECT {AGENT_FIELDS} FROM agent
                 WHERE owner = $u OR public = true OR id INSIDE $shared
                 ORDER BY promoted DESC, updated_at DESC;"
            ))
            .bind(("user", user.0.clone()))
            .run()
            .await?;
        Ok(res.take(3)?)
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
                     temperature = $s.temperature, max_tokens = $s.max_tokens, avatar = $s.avatar,
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
        self.set_agent_flag(id, "public", public).await
    }

    pub async fn set_agent_promoted(&self, id: &str, promoted: bool) -> Result<()> {
        self.set_agent_flag(id, "promoted", promoted).await
    }

    /// Sets one of the agent's switches (`field` is one of ours, never input).
    async fn set_agent_flag(&self, id: &str, field: &'static str, on: bool) -> Result<()> {
        let mut res = self
            .query(format!(
                "UPDATE type::record('agent', $id) SET {field} = $on RETURN VALUE record::id(id)"
            ))
            .bind(("id", id.to_string()))
            .bind(("on", on))
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
        self.set_grant(id, "user", "user", &user.0, role).await
    }

    /// The same for a group: every member gets `role`.
    pub async fn set_agent_group_grant(
        &self,
        id: &str,
        group: &str,
        role: Option<AgentRole>,
    ) -> Result<()> {
        self.set_grant(id, "team", "user_group", group, role).await
    }

    async fn set_grant(
        &self,
        id: &str,
        field: &str,
        table: &str,
        principal: &str,
        role: Option<AgentRole>,
    ) -> Result<()> {
        self.query(format!(
            "BEGIN TRANSACTION;
             LET $a = type::record('agent', $id);
             LET $p = type::record('{table}', $principal);
             DELETE agent_grant WHERE agent = $a AND {field} = $p;
             IF $role != NONE {{ CREATE agent_grant SET agent = $a, {field} = $p, role = $role }};
             COMMIT TRANSACTION;"
        ))
        .bind(("id", id.to_string()))
        .bind(("principal", principal.to_string()))
        .bind(("role", role.map(|r| r.as_str().to_string())))
        .run()
        .await?;
        Ok(())
    }

    pub async fn agent_grants(&self, id: &str) -> Result<Vec<AgentGrantRow>> {
        let mut res = self
            .query(
                "SELECT user.email AS email, team.name AS group, role FROM agent_grant
                 WHERE agent = type::record('agent', $id) ORDER BY group, email",
            )
            .bind(("id", id.to_string()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }
}

impl Store {
    pub async fn create_group(&self, name: &str) -> Result<String> {
        let id = new_id();
        self.query("CREATE type::record('user_group', $id) SET name = $name, created_at = $now")
            .bind(("id", id.clone()))
            .bind(("name", name.to_string()))
            .bind(("now", now_millis()))
            .run()
            .await?;
        Ok(id)
    }

    /// Every group with its members.
    pub async fn groups(&self) -> Result<Vec<GroupRow>> {
        let mut res = self
            .query(
                "SELECT record::id(id) AS id, name,
                     (SELECT VALUE user.email FROM group_member WHERE team = $parent.id) AS members
                 FROM user_group ORDER BY name",
            )
            .run()
            .await?;
        let mut groups: Vec<GroupRow> = res.take(0)?;
        for g in &mut groups {
            g.members.sort();
        }
        Ok(groups)
    }

    pub async fn group_by_name(&self, name: &str) -> Result<Option<String>> {
        let mut res = self
            .query("SELECT VALUE record::id(id) FROM user_group WHERE name = $name")
            .bind(("name", name.to_string()))
            .run()
            .await?;
        let mut ids: Vec<String> = res.take(0)?;
        Ok(ids.pop())
    }

    /// Adds (`true`) or removes a member.
    pub async fn set_group_member(&self, group: &str, user: &UserId, member: bool) -> Result<()> {
        self.query(
            "BEGIN TRANSACTION;
             LET $g = type::record('user_group', $group);
             LET $u = type::record('user', $user);
             IF $g.name = NONE { THROW 'no such group' };
             DELETE group_member WHERE team = $g AND user = $u;
             IF $member { CREATE group_member SET team = $g, user = $u };
             COMMIT TRANSACTION;",
        )
        .bind(("group", group.to_string()))
        .bind(("user", user.0.clone()))
        .bind(("member", member))
        .run()
        .await
        .map_err(crate::thrown_not_found)?;
        Ok(())
    }

    /// Deletes a group, its memberships and what was shared with it.
    pub async fn delete_group(&self, group: &str) -> Result<()> {
        self.query(
            "BEGIN TRANSACTION;
             LET $g = type::record('user_group', $group);
             DELETE group_member WHERE team = $g;
             DELETE agent_grant WHERE team = $g;
             DELETE $g;
             COMMIT TRANSACTION;",
        )
        .bind(("group", group.to_string()))
        .run()
        .await?;
        Ok(())
    }
}
