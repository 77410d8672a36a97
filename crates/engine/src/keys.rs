//! Credentials users manage themselves: their own provider keys for endpoints
//! configured `user_provided` (sealed at rest, never returned), and their keys
//! for the OpenAI-compatible API.

use crate::{Engine, EngineError};
use chorus_gateway::{GatewayError, Provider, UserCredentials};
use chorus_types::{ApiKeyView, CreatedApiKey, EndpointView, ProviderKeyView, UserId};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest key or URL accepted; real ones are far shorter.
const MAX_CREDENTIAL_CHARS: usize = 4_096;
const MAX_KEY_NAME_CHARS: usize = 100;

/// How long a verified API key is trusted without asking the database again.
/// A key revoked on another instance keeps working this long there.
const KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// Beyond this many cached keys, the cache starts over (bounded memory).
const KEY_CACHE_MAX: usize = 10_000;

/// API keys verified recently, by SHA-256 of the key. Every request of the
/// OpenAI-compatible API presents one; checking each against the database
/// put a query on the hot path of every completion.
pub(crate) struct KeyCache {
    verified: Mutex<HashMap<[u8; 32], (UserId, Instant)>>,
    /// Bounds the database lookups of keys not in the cache: a burst of new
    /// connections (or of bad keys) becomes a short queue, not hundreds of
    /// concurrent transactions, which embedded SurrealDB handles badly.
    lookups: tokio::sync::Semaphore,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            verified: Mutex::default(),
            lookups: tokio::sync::Semaphore::new(4),
        }
    }
}

impl KeyCache {
    fn get(&self, digest: &[u8; 32]) -> Option<UserId> {
        let verified = self.verified.lock().unwrap();
        verified
            .get(digest)
            .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(user, _)| user.clone())
    }

    fn put(&self, digest: [u8; 32], user: UserId) {
        let mut verified = self.verified.lock().unwrap();
        if verified.len() >= KEY_CACHE_MAX {
            verified.clear();
        }
        verified.insert(digest, (user, Instant::now()));
    }

    fn clear(&self) {
        self.verified.lock().unwrap().clear();
    }
}

/// What a sealed value is bound to: the owner, the endpoint and the field, so
/// a value moved to another row or field does not decrypt.
fn seal_context(user: &UserId, endpoint: &str, field: &str) -> String {
    format!("user_key/{}/{endpoint}/{field}", user.0)
}

impl Engine {
    /// The endpoints `user` can pick, marking those still waiting for their key.
    pub async fn endpoints(&self, user: &UserId) -> Result<Vec<EndpointView>, EngineError> {
        let mut endpoints = self.gateway.endpoints().await;
        if endpoints.iter().any(|e| self.is_user_provided(&e.name)) {
            let stored: Vec<String> = self
                .store
                .user_keys(user)
                .await?
                .into_iter()
                .map(|k| k.endpoint)
                .collect();
            for e in &mut endpoints {
                e.needs_user_key = self.is_user_provided(&e.name) && !stored.contains(&e.name);
            }
        }
        Ok(endpoints)
    }

    fn is_user_provided(&self, endpoint: &str) -> bool {
        self.gateway
            .endpoint_config(endpoint)
            .is_ok_and(|c| c.needs_user_credentials())
    }

    /// Every endpoint that runs on each user's own credentials, with what
    /// `user` stored for it (never the key).
    pub async fn provider_keys(&self, user: &UserId) -> Result<Vec<ProviderKeyView>, EngineError> {
        let stored = self.store.user_keys(user).await?;
        let mut out = Vec::new();
        for ep in self.gateway.endpoint_configs() {
            if !ep.needs_user_credentials() {
                continue;
            }
            let (wants_key, wants_base_url) = (ep.user_provides_key(), ep.user_provides_base_url());
            let mine = stored.iter().find(|k| k.endpoint == ep.name);
            let base_url = mine.and_then(|k| k.base_url.as_ref()).and_then(|sealed| {
                self.secrets
                    .open(sealed, &seal_context(user, &ep.name, "base_url"))
                    .ok()
            });
            out.push(ProviderKeyView {
                endpoint: ep.name.clone(),
                label: ep.label().to_string(),
                wants_key,
                wants_base_url,
                has_key: mine.is_some_and(|k| k.api_key.is_some()),
                base_url,
                updated_at: mine.map(|k| k.updated_at),
            });
        }
        Ok(out)
    }

    /// Stores `user`'s key and/or base URL for `endpoint`. A blank field keeps
    /// what was stored before, so changing the URL does not mean retyping the key.
    pub async fn save_provider_key(
        &self,
        user: &UserId,
        endpoint: &str,
        api_key: &str,
        base_url: &str,
    ) -> Result<(), EngineError> {
        let ep = self
            .gateway
            .endpoint_config(endpoint)
            .ok()
            .filter(|c| c.needs_user_credentials())
            .ok_or_else(|| {
                EngineError::Invalid(format!(
                    "The endpoint {endpoint:?} does not take keys from users."
                ))
            })?;
        let (wants_key, wants_base_url) = (ep.user_provides_key(), ep.user_provides_base_url());
        let (api_key, base_url) = (api_key.trim(), base_url.trim());
        if api_key.chars().count() > MAX_CREDENTIAL_CHARS
            || base_url.chars().count() > MAX_CREDENTIAL_CHARS
        {
            return Err(EngineError::Invalid(
                "That key or URL is too long to be real.".into(),
            ));
        }
        if !base_url.is_empty() {
            let parsed = url::Url::parse(base_url).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                return Err(EngineError::Invalid(format!(
                    "{base_url:?} is not a web address; enter the endpoint's base URL, like https://api.example.com/v1."
                )));
            }
        }
        let previous = self.store.user_key(user, endpoint).await?;
        let keep = |new: &str, field: &str, old: Option<String>| -> Option<String> {
            if new.is_empty() {
                old
            } else {
                Some(self.secrets.seal(new, &seal_context(user, endpoint, field)))
            }
        };
        let sealed_key = wants_key
            .then(|| {
                keep(
                    api_key,
                    "api_key",
                    previous.as_ref().and_then(|p| p.api_key.clone()),
                )
            })
            .flatten();
        let sealed_url = wants_base_url
            .then(|| keep(base_url, "base_url", previous.and_then(|p| p.base_url)))
            .flatten();
        if wants_key && sealed_key.is_none() {
            return Err(EngineError::Invalid("Enter your API key.".into()));
        }
        if wants_base_url && sealed_url.is_none() {
            return Err(EngineError::Invalid("Enter the base URL.".into()));
        }
        self.store
            .set_user_key(user, endpoint, sealed_key, sealed_url)
            .await?;
        Ok(())
    }

    /// Forgets `user`'s credentials for `endpoint`.
    pub async fn delete_provider_key(
        &self,
        user: &UserId,
        endpoint: &str,
    ) -> Result<(), EngineError> {
        if self.store.delete_user_key(user, endpoint).await? {
            Ok(())
        } else {
            Err(EngineError::Invalid(
                "No key of yours is stored for that endpoint.".into(),
            ))
        }
    }

    /// The provider for `endpoint` as `user` may use it: the server's own
    /// credentials, or the ones `user` stored when the endpoint is `user_provided`.
    pub(crate) async fn provider_for(
        &self,
        user: &UserId,
        endpoint: &str,
    ) -> Result<Arc<dyn Provider>, GatewayError> {
        if !self.is_user_provided(endpoint) {
            return self.gateway.provider(endpoint);
        }
        let stored =
            self.store
                .user_key(user, endpoint)
                .await
                .map_err(|e| GatewayError::Unavailable {
                    endpoint: endpoint.to_string(),
                    reason: format!("your stored key could not be read: {e}"),
                })?;
        let Some(stored) = stored else {
            return Err(GatewayError::NeedsUserKey(endpoint.to_string()));
        };
        let open = |sealed: Option<String>, field: &str| {
            sealed
                .map(|s| self.secrets.open(&s, &seal_context(user, endpoint, field)))
                .transpose()
                .map_err(|e| GatewayError::Unavailable {
                    endpoint: endpoint.to_string(),
                    reason: format!("{e}; enter your key again in Settings"),
                })
        };
        let credentials = UserCredentials {
            api_key: open(stored.api_key, "api_key")?,
            base_url: open(stored.base_url, "base_url")?,
        };
        self.gateway.provider_for(endpoint, Some(&credentials))
    }

    /// `user`'s keys for the OpenAI-compatible API, newest first.
    pub async fn api_keys(&self, user: &UserId) -> Result<Vec<ApiKeyView>, EngineError> {
        Ok(self
            .store
            .api_keys(user)
            .await?
            .into_iter()
            .map(api_key_view)
            .collect())
    }

    /// A new key for `user`; the secret is in the result and nowhere else.
    pub async fn create_api_key(
        &self,
        user: &UserId,
        name: &str,
    ) -> Result<CreatedApiKey, EngineError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(EngineError::Invalid(
                "Give the key a name, such as the app that will use it.".into(),
            ));
        }
        if name.chars().count() > MAX_KEY_NAME_CHARS {
            return Err(EngineError::Invalid(format!(
                "Key names are at most {MAX_KEY_NAME_CHARS} characters."
            )));
        }
        let created = self.store.create_api_key(user, name).await?;
        Ok(CreatedApiKey {
            key: api_key_view(created.info),
            secret: created.secret,
        })
    }

    /// The user an API key belongs to, or `None` for an unknown or revoked key.
    pub async fn user_for_api_key(&self, secret: &str) -> Result<Option<UserId>, EngineError> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(user) = self.api_key_cache.get(&digest) {
            return Ok(Some(user));
        }
        let _turn = self.api_key_cache.lookups.acquire().await;
        // Another request may have verified the same key while this one waited.
        if let Some(user) = self.api_key_cache.get(&digest) {
            return Ok(Some(user));
        }
        let user = self.store.user_for_api_key(secret).await?;
        if let Some(user) = &user {
            self.api_key_cache.put(digest, user.clone());
        }
        Ok(user)
    }

    /// Revokes one of `user`'s keys at once.
    pub async fn revoke_api_key(&self, user: &UserId, id: &str) -> Result<(), EngineError> {
        // Revocation is rare: forgetting every cached key is simplest and safe.
        self.api_key_cache.clear();
        if self.store.revoke_api_key(user, id).await? {
            Ok(())
        } else {
            Err(EngineError::Invalid(
                "That key does not exist or was already revoked.".into(),
            ))
        }
    }
}

fn api_key_view(k: chorus_store::ApiKeyInfo) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
    }
}
