//! A user's own credentials for endpoints configured `apiKey: user_provided` /
//! `baseURL: user_provided`. This crate only stores them: the values arrive
//! sealed by the engine (`chorus-secrets`) and leave the same way.

use crate::{Result, Store, now_millis};
use chorus_types::UserId;
use surrealdb::types::SurrealValue;

/// One stored entry, values still sealed.
#[derive(Clone, Debug, PartialEq, SurrealValue)]
pub struct SealedUserKey {
    pub endpoint: String,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub updated_at: i64,
}

const FIELDS: &str = "endpoint, api_key, base_url, updated_at";

impl Store {
    /// Stores (or replaces) `owner`'s credentials for `endpoint`. The record id
    /// is the pair, so there is at most one entry per user and endpoint.
    pub async fn set_user_key(
        &self,
        owner: &UserId,
        endpoint: &str,
        api_key: Option<String>,
        base_url: Option<String>,
    ) -> Result<()> {
        self.query(
            "UPSERT type::record('user_key', [$owner, $endpoint]) SET
                     owner = type::record('user', $owner), endpoint = $endpoint,
                     api_key = $api_key, base_url = $base_url, updated_at = $now",
        )
        .bind(("owner", owner.0.clone()))
        .bind(("endpoint", endpoint.to_string()))
        .bind(("api_key", api_key))
        .bind(("base_url", base_url))
        .bind(("now", now_millis()))
        .run()
        .await?;
        Ok(())
    }

    /// `owner`'s credentials for `endpoint`, if they stored any.
    pub async fn user_key(&self, owner: &UserId, endpoint: &str) -> Result<Option<SealedUserKey>> {
        let mut res = self
            .query(format!(
                "SELECT {FIELDS} FROM ONLY type::record('user_key', [$owner, $endpoint])
                 WHERE owner = type::record('user', $owner)"
            ))
            .bind(("owner", owner.0.clone()))
            .bind(("endpoint", endpoint.to_string()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }

    /// Every endpoint `owner` stored credentials for.
    pub async fn user_keys(&self, owner: &UserId) -> Result<Vec<SealedUserKey>> {
        let mut res = self
            .query(format!(
                "SELECT {FIELDS} FROM user_key WHERE owner = type::record('user', $owner) ORDER BY endpoint"
            ))
            .bind(("owner", owner.0.clone()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }

    /// Forgets `owner`'s credentials for `endpoint`; `false` when there were none.
    pub async fn delete_user_key(&self, owner: &UserId, endpoint: &str) -> Result<bool> {
        let mut res = self
            .query(
                "DELETE type::record('user_key', [$owner, $endpoint])
                 WHERE owner = type::record('user', $owner) RETURN BEFORE",
            )
            .bind(("owner", owner.0.clone()))
            .bind(("endpoint", endpoint.to_string()))
            .run()
            .await?;
        let deleted: Vec<surrealdb::types::Value> = res.take(0)?;
        Ok(!deleted.is_empty())
    }
}
