//! Keys for the OpenAI-compatible API (`Authorization: Bearer chorus-…`).

use crate::{Result, Store, new_id, now_millis};
use chorus_types::UserId;
use sha2::{Digest, Sha256};
use surrealdb::types::SurrealValue;

/// What a user sees of one of their keys (never the key itself after creation).
#[derive(Clone, Debug, PartialEq, SurrealValue)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    /// The first characters, so a user can tell keys apart.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A key as created: `secret` is shown once and stored only hashed.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub info: ApiKeyInfo,
    pub secret: String,
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// How precisely `last_used_at` is kept.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

#[derive(SurrealValue)]
struct KeyUse {
    id: String,
    owner: String,
    last_used_at: Option<i64>,
}

const KEY_FIELDS: &str = "record::id(id) AS id, name, prefix, created_at, last_used_at";

impl Store {
    /// Creates a key for `owner`.
    pub async fn create_api_key(&self, owner: &UserId, name: &str) -> Result<NewApiKey> {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let secret = format!("chorus-{}", hex::encode(bytes));
        let id = new_id();
        let prefix = secret[..14].to_string();
        let mut res = self
            .query(format!(
                "CREATE type::record('api_key', $id) SET owner = type::record('user', $owner),
                     name = $name, prefix = $prefix, hash = $hash, created_at = $now;
                 SELECT {KEY_FIELDS} FROM ONLY type::record('api_key', $id);"
            ))
            .bind(("id", id))
            .bind(("owner", owner.0.clone()))
            .bind(("name", name.trim().to_string()))
            .bind(("prefix", prefix))
            .bind(("hash", digest(&secret)))
            .bind(("now", now_millis()))
            .run()
            .await?;
        let info: Option<ApiKeyInfo> = res.take(1)?;
        Ok(NewApiKey {
            info: info.expect("the key was just created"),
            secret,
        })
    }

    /// `owner`'s keys, newest first.
    pub async fn api_keys(&self, owner: &UserId) -> Result<Vec<ApiKeyInfo>> {
        let mut res = self
            .query(format!(
                "SELECT {KEY_FIELDS} FROM api_key WHERE owner = type::record('user', $owner) ORDER BY created_at DESC"
            ))
            .bind(("owner", owner.0.clone()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }

    /// Deletes one of `owner`'s keys; `false` when they have no such key.
    pub async fn revoke_api_key(&self, owner: &UserId, id: &str) -> Result<bool> {
        let mut res = self
            .query("DELETE type::record('api_key', $id) WHERE owner = type::record('user', $owner) RETURN BEFORE")
            .bind(("id", id.to_string()))
            .bind(("owner", owner.0.clone()))
            .run()
            .await?;
        let deleted: Vec<surrealdb::types::Value> = res.take(0)?;
        Ok(!deleted.is_empty())
    }

    /// The user a presented key belongs to. Marks the key used, at most once
    /// a minute: this runs on every API request, which should not all write.
    pub async fn user_for_api_key(&self, secret: &str) -> Result<Option<UserId>> {
        let now = now_millis();
        let mut res = self
            .query(
                "SELECT record::id(id) AS id, record::id(owner) AS owner, last_used_at
                 FROM api_key WHERE hash = $hash",
            )
            .bind(("hash", digest(secret)))
            .run()
            .await?;
        let found: Vec<KeyUse> = res.take(0)?;
        let Some(key) = found.into_iter().next() else {
            return Ok(None);
        };
        if key
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USED_GRANULARITY_MS)
        {
            self.query("UPDATE type::record('api_key', $id) SET last_used_at = $now")
                .bind(("id", key.id))
                .bind(("now", now))
                .run()
                .await?;
        }
        Ok(Some(UserId(key.owner)))
    }
}
