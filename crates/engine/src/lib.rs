//! The use cases. `app`'s server functions and `server`'s routes call these; this
//! crate composes `store`, `gateway` and `streams` and owns the rules between them.

mod adopt;
mod agent_files;
mod agents;
mod api;
mod branches;
mod chat;
mod code;
pub mod groups;
mod job;
mod keys;
mod mcp_vars;
mod run_loop;
mod title;
mod user_mcp;

pub use api::{AGENT_MODEL_PREFIX, ApiModel, ApiModelError};
pub use branches::{Regenerate, Resubmit};
pub use chat::SendRequest;
pub use code::{code_file_url, is_image};

use chorus_gateway::Gateway;
use chorus_secrets::SecretBox;
use chorus_store::Store;
use chorus_streams::{Jobs, Streams, UserEvents};
use std::sync::{Arc, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Missing, or not the acting user's (the two look the same on purpose).
    #[error("not found")]
    NotFound,
    /// Bad input; the message is for the user.
    #[error("{0}")]
    Invalid(String),
    #[error("storage failed: {0}")]
    Store(String),
    /// A part this server does not have or cannot use right now (the code
    /// sandbox); the message says which and why.
    #[error("{0}")]
    Unavailable(String),
    /// The user can see it but may not do this (an agent they may only use).
    #[error("{0}")]
    Forbidden(String),
}

impl From<chorus_store::StoreError> for EngineError {
    fn from(e: chorus_store::StoreError) -> Self {
        match e {
            chorus_store::StoreError::NotFound => EngineError::NotFound,
            other => EngineError::Store(other.to_string()),
        }
    }
}

/// Everything the use cases need; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    gateway: Arc<Gateway>,
    jobs: Jobs,
    /// Tells a user's open tabs and devices what changed.
    events: UserEvents,
    /// Seals what users store for use on their behalf (their provider keys).
    secrets: Arc<SecretBox>,
    api_key_cache: Arc<keys::KeyCache>,
    /// Code execution; empty when this server does not offer it. Shared by
    /// every clone, the adopter of orphaned jobs (made at start) included.
    sandbox: Arc<OnceLock<Arc<chorus_sandbox::Sandbox>>>,
    /// MCP servers from the config, shared the same way.
    mcp: Arc<OnceLock<Arc<chorus_tools::Mcp>>>,
}

impl Engine {
    /// Wires the parts together and repairs what a previous process left behind:
    /// answers whose job died with it are marked failed, unless the job still
    /// runs elsewhere (Redis backend; an instance adopts jobs whose owner died).
    pub async fn start(
        store: Store,
        gateway: Gateway,
        streams: Streams,
        secrets: SecretBox,
    ) -> Result<Self, EngineError> {
        let Streams {
            jobs,
            events,
            orphans,
        } = streams;
        let streaming = store.streaming_jobs().await?;
        let running = jobs
            .running(&streaming)
            .await
            .map_err(EngineError::Invalid)?;
        let interrupted = store
            .mark_interrupted_messages(
                "The server stopped while this answer was being written. The text above is what was saved.",
                &running,
            )
            .await?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "marked answers cut off by a restart as interrupted"
            );
        }
        jobs.spawn_sweeper();
        let engine = Self {
            store,
            gateway: Arc::new(gateway),
            jobs,
            events,
            secrets: Arc::new(secrets),
            api_key_cache: Arc::default(),
            sandbox: Arc::default(),
            mcp: Arc::default(),
        };
        adopt::spawn(engine.clone(), orphans);
        Ok(engine)
    }

    /// Offers code execution through this sandbox.
    pub fn with_sandbox(self, sandbox: chorus_sandbox::Sandbox) -> Self {
        if self.sandbox.set(Arc::new(sandbox)).is_err() {
            tracing::warn!("a second sandbox was given to the engine and ignored");
        }
        self
    }

    /// Offers the tools of these MCP servers.
    pub fn with_mcp(self, mcp: chorus_tools::Mcp) -> Self {
        if self.mcp.set(Arc::new(mcp)).is_err() {
            tracing::warn!("a second set of MCP servers was given to the engine and ignored");
        }
        self
    }

    /// The tools the model can be offered on this server.
    pub fn tools(&self) -> chorus_tools::Tools {
        chorus_tools::Tools::new(
            self.sandbox.get().cloned(),
            self.mcp.get().cloned().unwrap_or_default(),
        )
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The key that seals what users store (provider keys, two-factor seeds).
    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }
}
