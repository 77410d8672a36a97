//! What users entered for MCP servers that ask each user for values
//! (`customUserVars`: their own token for the server). This crate only stores
//! them: the values arrive sealed by the engine and leave the same way.

use crate::{Result, Store, now_millis};
use chorus_types::UserId;

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
}
