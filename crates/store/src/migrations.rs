//! Versioned schema changes, applied in order at start. A migration never
//! changes once released; new ones go at the end.

use crate::Result;
use surrealdb::Surreal;
use surrealdb::engine::any::Any;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
    DEFINE TABLE user SCHEMAFULL;
    DEFINE FIELD email ON user TYPE string;
    DEFINE FIELD name ON user TYPE string;
    DEFINE FIELD password_hash ON user TYPE string;
    DEFINE FIELD is_admin ON user TYPE bool;
    DEFINE FIELD created_at ON user TYPE int;
    DEFINE INDEX user_email ON user FIELDS email UNIQUE;

    DEFINE TABLE session SCHEMAFULL;
    DEFINE FIELD data ON session TYPE string;
    DEFINE FIELD expires_at ON session TYPE int;
    DEFINE INDEX session_expiry ON session FIELDS expires_at;

    DEFINE TABLE conversation SCHEMAFULL;
    DEFINE FIELD owner ON conversation TYPE record<user>;
    DEFINE FIELD title ON conversation TYPE string;
    DEFINE FIELD endpoint ON conversation TYPE option<string>;
    DEFINE FIELD model ON conversation TYPE option<string>;
    DEFINE FIELD created_at ON conversation TYPE int;
    DEFINE FIELD updated_at ON conversation TYPE int;
    DEFINE INDEX conversation_owner ON conversation FIELDS owner, updated_at;

    DEFINE TABLE message SCHEMAFULL;
    DEFINE FIELD owner ON message TYPE record<user>;
    DEFINE FIELD conversation ON message TYPE record<conversation>;
    DEFINE FIELD role ON message TYPE string ASSERT $value IN ['user', 'assistant', 'system'];
    DEFINE FIELD text ON message TYPE string;
    DEFINE FIELD state ON message TYPE string ASSERT $value IN ['streaming', 'complete', 'stopped', 'failed'];
    DEFINE FIELD error ON message TYPE option<string>;
    DEFINE FIELD endpoint ON message TYPE option<string>;
    DEFINE FIELD model ON message TYPE option<string>;
    DEFINE FIELD job ON message TYPE option<string>;
    DEFINE FIELD input_tokens ON message TYPE option<int>;
    DEFINE FIELD output_tokens ON message TYPE option<int>;
    DEFINE FIELD created_at ON message TYPE int;
    DEFINE INDEX message_conversation ON message FIELDS conversation;

    -- parent->reply->child: the conversation tree.
    DEFINE TABLE reply TYPE RELATION FROM message TO message;
    "#,
    ),
    (
        2,
        r#"
    -- Keys for the OpenAI-compatible API. Only a SHA-256 of the key is kept:
    -- keys are 256-bit random, so a fast hash is safe and lookups are indexed.
    DEFINE TABLE api_key SCHEMAFULL;
    DEFINE FIELD owner ON api_key TYPE record<user>;
    DEFINE FIELD name ON api_key TYPE string;
    DEFINE FIELD prefix ON api_key TYPE string;
    DEFINE FIELD hash ON api_key TYPE string;
    DEFINE FIELD created_at ON api_key TYPE int;
    DEFINE FIELD last_used_at ON api_key TYPE option<int>;
    DEFINE INDEX api_key_hash ON api_key FIELDS hash UNIQUE;
    DEFINE INDEX api_key_owner ON api_key FIELDS owner;
    "#,
    ),
    (
        3,
        r#"
    -- A user's own credentials for endpoints configured `user_provided`. Both
    -- values are sealed (AES-256-GCM, see crates/secrets) before they get here.
    DEFINE TABLE user_key SCHEMAFULL;
    DEFINE FIELD owner ON user_key TYPE record<user>;
    DEFINE FIELD endpoint ON user_key TYPE string;
    DEFINE FIELD api_key ON user_key TYPE option<string>;
    DEFINE FIELD base_url ON user_key TYPE option<string>;
    DEFINE FIELD updated_at ON user_key TYPE int;
    DEFINE INDEX user_key_owner_endpoint ON user_key FIELDS owner, endpoint UNIQUE;
    "#,
    ),
    (
        4,
        r#"
    -- What a reasoning model showed of its thinking, kept beside the answer.
    DEFINE FIELD reasoning ON message TYPE option<string>;
    "#,
    ),
    (
        5,
        r#"
    -- The conversation tree: the message whose thread the user last looked at,
    -- and where a fork came from (ids, not links: the source may go away).
    DEFINE FIELD leaf ON conversation TYPE option<string>;
    DEFINE FIELD forked_from_conversation ON conversation TYPE option<string>;
    DEFINE FIELD forked_from_message ON conversation TYPE option<string>;
    -- Each edge names its conversation, so a conversation's whole tree is one
    -- indexed read of `reply` (walking `<-reply` from every message cost 14 us
    -- a message, three times the rest of the load).
    UPDATE reply SET conversation = out.conversation;
    DEFINE INDEX reply_conversation ON reply FIELDS conversation;
    "#,
    ),
    (
        6,
        r#"
    -- Answers cut off by a server stopping are `interrupted`, not `failed`.
    DEFINE FIELD OVERWRITE state ON message TYPE string
        ASSERT $value IN ['streaming', 'complete', 'stopped', 'failed', 'interrupted'];
    UPDATE message SET state = 'interrupted'
        WHERE state = 'failed' AND string::starts_with(error ?? '', 'The server stopped while');
    "#,
    ),
    (
        7,
        r#"
    -- Two-factor authentication: one row per user (see two_factor.rs).
    DEFINE TABLE two_factor SCHEMAFULL;
    DEFINE FIELD owner ON two_factor TYPE record<user>;
    DEFINE FIELD sealed_secret ON two_factor TYPE string;
    DEFINE FIELD enabled ON two_factor TYPE bool;
    DEFINE FIELD backup_hashes ON two_factor TYPE array<string>;
    DEFINE FIELD last_step ON two_factor TYPE int;
    DEFINE FIELD created_at ON two_factor TYPE int;
    DEFINE INDEX two_factor_owner ON two_factor FIELDS owner UNIQUE;
    "#,
    ),
    (
        8,
        r#"
    -- Failed sign-ins per account (normalised email), for the login throttle.
    DEFINE TABLE login_failure SCHEMAFULL;
    DEFINE FIELD account ON login_failure TYPE string;
    DEFINE FIELD at ON login_failure TYPE int;
    DEFINE INDEX login_failure_account ON login_failure FIELDS account;
    "#,
    ),
    (
        9,
        r#"
    -- The tool calls made while writing an answer (chorus_types::ToolStep as
    -- JSON: the steps are read and written whole, never queried into), and the
    -- tools a conversation offers the model.
    DEFINE FIELD tools ON message TYPE option<string>;
    DEFINE FIELD tools ON conversation TYPE option<array<string>>;
    -- Files the user attached to a message (chorus_types::CodeFileView as JSON).
    DEFINE FIELD files ON message TYPE option<string>;
    "#,
    ),
    (
        10,
        r#"
    -- Agents (see agents.rs): the current fields, every saved version, and
    -- who else may use or edit each one.
    DEFINE TABLE agent SCHEMAFULL;
    DEFINE FIELD owner ON agent TYPE record<user>;
    DEFINE FIELD name ON agent TYPE string;
    DEFINE FIELD description ON agent TYPE string;
    DEFINE FIELD instructions ON agent TYPE string;
    DEFINE FIELD endpoint ON agent TYPE string;
    DEFINE FIELD model ON agent TYPE string;
    DEFINE FIELD tools ON agent TYPE array<string>;
    DEFINE FIELD starters ON agent TYPE array<string>;
    DEFINE FIELD category ON agent TYPE string;
    DEFINE FIELD public ON agent TYPE bool;
    DEFINE FIELD promoted ON agent TYPE bool;
    DEFINE FIELD version ON agent TYPE int;
    DEFINE FIELD created_at ON agent TYPE int;
    DEFINE FIELD updated_at ON agent TYPE int;
    DEFINE INDEX agent_owner ON agent FIELDS owner;
    DEFINE INDEX agent_public ON agent FIELDS public;

    DEFINE TABLE agent_version SCHEMAFULL;
    DEFINE FIELD agent ON agent_version TYPE record<agent>;
    DEFINE FIELD version ON agent_version TYPE int;
    DEFINE FIELD spec ON agent_version TYPE string;
    DEFINE FIELD saved_at ON agent_version TYPE int;
    DEFINE FIELD saved_by ON agent_version TYPE record<user>;
    DEFINE INDEX agent_version_agent ON agent_version FIELDS agent, version UNIQUE;

    -- Groups of users (admins manage them; LDAP/OIDC will fill them too).
    DEFINE TABLE user_group SCHEMAFULL;
    DEFINE FIELD name ON user_group TYPE string;
    DEFINE FIELD created_at ON user_group TYPE int;
    DEFINE INDEX user_group_name ON user_group FIELDS name UNIQUE;
    DEFINE TABLE group_member SCHEMAFULL;
    DEFINE FIELD team ON group_member TYPE record<user_group>;
    DEFINE FIELD user ON group_member TYPE record<user>;
    DEFINE INDEX group_member_pair ON group_member FIELDS team, user UNIQUE;
    DEFINE INDEX group_member_user ON group_member FIELDS user;

    -- A grant names a user or a group (one of the two).
    DEFINE TABLE agent_grant SCHEMAFULL;
    DEFINE FIELD agent ON agent_grant TYPE record<agent>;
    DEFINE FIELD user ON agent_grant TYPE option<record<user>>;
    DEFINE FIELD team ON agent_grant TYPE option<record<user_group>>;
    DEFINE FIELD role ON agent_grant TYPE string ASSERT $value IN ['viewer', 'editor'];
    DEFINE INDEX agent_grant_agent ON agent_grant FIELDS agent;
    DEFINE INDEX agent_grant_user ON agent_grant FIELDS user;
    DEFINE INDEX agent_grant_team ON agent_grant FIELDS team;

    -- The agent a conversation is with.
    DEFINE FIELD agent ON conversation TYPE option<string>;
    "#,
    ),
    (
        11,
        r#"
    -- An agent's model parameters and picture.
    DEFINE FIELD temperature ON agent TYPE option<float>;
    DEFINE FIELD max_tokens ON agent TYPE option<int>;
    DEFINE FIELD avatar ON agent TYPE option<string>;
    "#,
    ),
    (
        12,
        r#"
    -- What a user entered for an MCP server's `customUserVars` (one sealed
    -- JSON object per user and server; see mcp_vars.rs).
    DEFINE TABLE user_mcp_vars SCHEMAFULL;
    DEFINE FIELD owner ON user_mcp_vars TYPE record<user>;
    DEFINE FIELD server ON user_mcp_vars TYPE string;
    DEFINE FIELD sealed ON user_mcp_vars TYPE string;
    DEFINE FIELD updated_at ON user_mcp_vars TYPE int;
    DEFINE INDEX user_mcp_vars_owner ON user_mcp_vars FIELDS owner;

    -- Remote MCP servers users add for themselves: how to reach one (url,
    -- transport, headers) is sealed JSON, since headers carry tokens.
    DEFINE TABLE user_mcp_server SCHEMAFULL;
    DEFINE FIELD owner ON user_mcp_server TYPE record<user>;
    DEFINE FIELD name ON user_mcp_server TYPE string;
    DEFINE FIELD title ON user_mcp_server TYPE string;
    DEFINE FIELD sealed ON user_mcp_server TYPE string;
    DEFINE FIELD created_at ON user_mcp_server TYPE int;
    DEFINE INDEX user_mcp_server_owner ON user_mcp_server FIELDS owner;
    "#,
    ),
    (
        13,
        r#"
    -- Bumped to end every session of the user at once ("sign out
    -- everywhere"): sessions carry a hash that includes it.
    DEFINE FIELD session_epoch ON user TYPE int DEFAULT 0;
    UPDATE user SET session_epoch = 0 WHERE session_epoch = NONE;
    "#,
    ),
];

pub async fn apply(db: &Surreal<Any>) -> Result<()> {
    db.query("DEFINE TABLE IF NOT EXISTS migration SCHEMALESS")
        .await?
        .check()?;
    let mut res = db
        .query("SELECT VALUE version FROM migration ORDER BY version")
        .await?
        .check()?;
    let applied: Vec<i64> = res.take(0)?;
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, "applying database migration");
        let script = format!(
            "BEGIN TRANSACTION;\n{sql}\nCREATE migration SET version = {version}, applied_at = time::now();\nCOMMIT TRANSACTION;"
        );
        db.query(script).await?.check()?;
    }
    Ok(())
}
