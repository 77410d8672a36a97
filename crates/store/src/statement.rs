//! Every query goes through `Statement`, which runs it again when SurrealDB
//! reports a write conflict. Optimistic transactions (surrealkv, and TiKV
//! behind a SurrealDB cluster) fail one of two concurrent writers to the same
//! record with "this transaction can be retried"; without a retry a user's
//! message could fail to save because a job was setting the title at the same
//! moment.

use crate::{Result, Store, StoreError};
use std::time::Duration;
use surrealdb::IndexedResults;
use surrealdb::types::{Object, SurrealValue, Variables};

/// How many times a conflicting statement is tried in all.
const ATTEMPTS: u32 = 10;

/// What SurrealDB reports for the other statements of a transaction in which
/// one failed; the failure itself is the interesting error.
const CONSEQUENCES: [&str; 2] = ["was not executed due to", "aborted due to a prior error"];

pub(crate) struct Statement<'s> {
    store: &'s Store,
    sql: String,
    vars: Variables,
}

impl Store {
    /// A statement (or a `BEGIN … COMMIT` script) to bind and `run`.
    pub(crate) fn query(&self, sql: impl Into<String>) -> Statement<'_> {
        Statement {
            store: self,
            sql: sql.into(),
            vars: Variables::new(),
        }
    }
}

impl Statement<'_> {
    pub(crate) fn bind(mut self, (name, value): (&str, impl SurrealValue)) -> Self {
        self.vars.insert(name, value);
        self
    }

    /// Runs the statement; a write conflict is retried with a short, growing
    /// pause. Any other error, or a conflict that outlasts the attempts, is
    /// returned: the one of the statement that failed, not the "was not
    /// executed" of the statements its transaction cancelled.
    pub(crate) async fn run(self) -> Result<IndexedResults> {
        let mut attempt = 1;
        loop {
            let mut res = self
                .store
                .db
                .query(self.sql.as_str())
                .bind(Object::from(self.vars.clone()))
                .await?;
            let mut errors: Vec<(usize, String)> = res
                .take_errors()
                .into_iter()
                .map(|(at, e)| (at, e.to_string()))
                .collect();
            errors.sort();
            let errors: Vec<String> = errors.into_iter().map(|(_, e)| e).collect();
            if errors.is_empty() {
                return Ok(res);
            }
            if attempt < ATTEMPTS && errors.iter().any(|e| e.contains("can be retried")) {
                tracing::debug!(attempt, "write conflict, retrying");
                pause(attempt).await;
                attempt += 1;
                continue;
            }
            let cause = errors
                .iter()
                .find(|e| !CONSEQUENCES.iter().any(|c| e.contains(c)))
                .unwrap_or(&errors[0]);
            return Err(StoreError::Db(cause.clone()));
        }
    }
}

/// 1, 2, 4 … ms, plus up to as much again at random so that writers that
/// collided do not collide again.
async fn pause(attempt: u32) {
    let base = 1u64 << (attempt - 1).min(6);
    let jitter = rand::random::<u64>() % (base + 1);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}
