//! What users entered for MCP servers that ask each user for values
//! (`customUserVars`: their own token for the server), and the remote MCP
//! servers users add for themselves. This crate only stores them: what is
//! secret arrives sealed by the engine and leaves the same way.

use crate::{Result, Store, now_millis};
use chorus_types::UserId;
use surrealdb::types::SurrealValue;

/// A server a user added; how to reach it still sealed.
#[derive(Clone, Debug, SurrealValue)]
pub struct UserMcpServerRow {
    pub name: String,
    pub title: String,
    pub sealed: String,
}

impl Store {
    /// Stores (or replaces) `owner`'s sealed values for `server`. The record
    /// id is the pair: at most one entry per user and server.
    pub async fn set_mcp_vars(&self, owner: &UserId, server: &str, sealed: String) -> Result<()> {
        self.query(
            "UPSERT type::record('user_mcp_vars', [$owner, $server]) SET
                 owner = type::record('user', $owner), server = $server,
                 sealed = $sealed, updated_at = $now",
        )
        .bind(("owner", owner.0.clone()))
        .bind(("server", server.to_string()))
        .bind(("sealed", sealed))
        .bind(("now", now_millis()))
        .run()
        .await?;
        Ok(())
    }

    /// `owner`'s sealed values for `server`, if they entered any.
    pub async fn mcp_vars(&self, owner: &UserId, server: &str) -> Result<Option<String>> {
        let mut res = self
            .query(
                "SELECT VALUE sealed FROM ONLY type::record('user_mcp_vars', [$owner, $server])
                 WHERE owner = type::record('user', $owner)",
            )
            .bind(("owner", owner.0.clone()))
            .bind(("server", server.to_string()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }

    pub async fn delete_mcp_vars(&self, owner: &UserId, server: &str) -> Result<()> {
        self.query("DELETE type::record('user_mcp_vars', [$owner, $server])")
            .bind(("owner", owner.0.clone()))
            .bind(("server", server.to_string()))
            .run()
            .await?;
        Ok(())
    }

    /// Adds (or replaces) `owner`'s server `name`.
    pub async fn set_user_mcp_server(
        &self,
        owner: &UserId,
        name: &str,
        title: &str,
        sealed: String,
    ) -> Result<()> {
        self.query(
            "UPSERT type::record('user_mcp_server', [$owner, $name]) SET
                 owner = type::record('user', $owner), name = $name, title = $title,
                 sealed = $sealed, created_at = $now",
        )
        .bind(("owner", owner.0.clone()))
        .bind(("name", name.to_string()))
        .bind(("title", title.to_string()))
        .bind(("sealed", sealed))
        .bind(("now", now_millis()))
        .run()
        .await?;
        Ok(())
    }

    /// `owner`'s own servers, by name.
    pub async fn user_mcp_servers(&self, owner: &UserId) -> Result<Vec<UserMcpServerRow>> {
        let mut res = self
            .query(
                "SELECT name, title, sealed FROM user_mcp_server
                 WHERE owner = type::record('user', $owner) ORDER BY name",
            )
            .bind(("owner", owner.0.clone()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }

    pub async fn delete_user_mcp_server(&self, owner: &UserId, name: &str) -> Result<()> {
        self.query("DELETE type::record('user_mcp_server', [$owner, $name])")
            .bind(("owner", owner.0.clone()))
            .bind(("name", name.to_string()))
            .run()
            .await?;
        Ok(())
    }
}
