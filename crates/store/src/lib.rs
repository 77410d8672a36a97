//! SurrealDB persistence: schema, migrations, and repositories.
//!
//! Embedded (`surrealkv://<dir>`) by default, `mem://` in tests, `ws://host:port`
//! for a shared server. Every function that reads or writes a user's data takes
//! the acting user and filters by `owner`, so one user can never reach another's
//! records through this crate.

mod agents;
mod api_keys;
mod conversations;
mod error;
mod login_failures;
mod mcp_vars;
mod messages;
mod migrations;
mod sessions;
mod statement;
mod tree;
mod two_factor;
mod user_keys;
mod users;

pub use agents::{AgentGrantRow, AgentRow, AgentVersionRow, GroupRow};
pub use api_keys::{ApiKeyInfo, NewApiKey};
pub use conversations::ConversationRow;
pub use error::StoreError;
pub use mcp_vars::UserMcpServerRow;
pub use messages::{MessageUpdate, NewMessage};
pub use tree::ForkCopy;
pub use two_factor::TwoFactorRecord;
pub use user_keys::SealedUserKey;
pub use users::{UserRecord, normalize_email};

use std::path::Path;
use std::sync::{Arc, Mutex};
use surrealdb::Surreal;
use surrealdb::engine::any::Any;

pub type Result<T> = std::result::Result<T, StoreError>;

/// A script's `THROW 'no such …'` (an ownership or existence check) as `NotFound`.
fn thrown_not_found(e: StoreError) -> StoreError {
    match e {
        StoreError::Db(m)
            if m.contains("no such conversation")
                || m.contains("no such agent")
                || m.contains("no such group") =>
        {
            StoreError::NotFound
        }
        other => other,
    }
}

/// For writes that `RETURN VALUE record::id(id)`: `NotFound` when statement
/// `index` touched nothing (missing, or not the owner's: the same to callers).
fn expect_touched(res: &mut surrealdb::IndexedResults, index: usize) -> Result<()> {
    let touched: Vec<String> = res.take(index)?;
    if touched.is_empty() {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A handle to the database; cheap to clone.
///
/// The SDK handle sits behind an `Arc` on purpose: cloning a `Surreal` opens a
/// new database session (three concurrent maps with per-thread tables, about
/// 20 KB), and its drop is only a best-effort message to the engine. Cloning the
/// store per request leaked sessions under load (1 GB after 1,000 API calls).
#[derive(Clone)]
pub struct Store {
    db: Arc<Surreal<Any>>,
}

impl Store {
    /// Connects to `url` (`mem://`, `surrealkv://path`, `ws://host:port`) and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_as(url, None).await
    }

    /// A SurrealDB server (`ws://host:port`) that several instances share,
    /// signed in as its root user.
    pub async fn open_server(url: &str, user: &str, password: &str) -> Result<Self> {
        Self::connect_as(url, Some((user, password))).await
    }

    async fn connect_as(url: &str, root: Option<(&str, &str)>) -> Result<Self> {
        let db = surrealdb::engine::any::connect(url)
            .await
            .map_err(|e| StoreError::Connect(format!("{url}: {e}")))?;
        if let Some((username, password)) = root {
            db.signin(surrealdb::opt::auth::Root {
                username: username.to_string(),
                password: password.to_string(),
            })
            .await
            .map_err(|e| StoreError::Connect(format!("signing in to {url} as {username}: {e}")))?;
        }
        db.use_ns("chorus").use_db("main").await?;
        let store = Self { db: Arc::new(db) };
        migrations::apply(&store.db).await?;
        Ok(store)
    }

    /// The embedded database under `data_dir` (created when missing).
    pub async fn open_dir(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Connect(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join("chorus.db");
        Self::connect(&format!("surrealkv://{}", path.display())).await
    }

    /// A fresh in-memory database (tests).
    pub async fn memory() -> Result<Self> {
        Self::connect("mem://").await
    }

    /// Answers when the database answers a trivial query (readiness probe).
    pub async fn ping(&self) -> Result<()> {
        self.db.query("RETURN 1").await?.check()?;
        Ok(())
    }
}

/// Milliseconds since the epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new record key: ULIDs sort by creation time, and the generator keeps ids
/// made in the same millisecond in order, so `ORDER BY id` is creation order.
pub fn new_id() -> String {
    static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);
    let mut guard = GENERATOR.lock().unwrap();
    let generator = guard.get_or_insert_with(ulid::Generator::new);
    match generator.generate() {
        Ok(id) => id.to_string().to_lowercase(),
        // Overflow within one millisecond (2^80 ids): fall back to a random one.
        Err(_) => ulid::Ulid::new().to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests;
