//! Two-factor authentication records: one per user, holding the sealed TOTP
//! seed, whether enrolment was confirmed, the hashes of the unused backup
//! codes, and the last time step a code was accepted for (a code works once).

use crate::{Result, Store, now_millis};
use surrealdb::types::SurrealValue;

#[derive(Clone, Debug, PartialEq, SurrealValue)]
pub struct TwoFactorRecord {
    /// The TOTP seed, sealed by the caller (never stored in the clear).
    pub sealed_secret: String,
    /// Confirmed with a code from the user's app; until then login ignores it.
    pub enabled: bool,
    /// SHA-256 hashes of the backup codes not used yet.
    pub backup_hashes: Vec<String>,
    /// The TOTP time step of the last accepted code.
    pub last_step: i64,
}

const FIELDS: &str = "sealed_secret, enabled, backup_hashes, last_step";

impl Store {
    pub async fn two_factor(&self, user: &str) -> Result<Option<TwoFactorRecord>> {
        let mut res = self
            .query(format!(
                "SELECT {FIELDS} FROM two_factor WHERE owner = type::record('user', $user) LIMIT 1"
            ))
            .bind(("user", user.to_string()))
            .run()
            .await?;
        let mut rows: Vec<TwoFactorRecord> = res.take(0)?;
        Ok(rows.pop())
    }

    /// Starts (or restarts) enrolment with a new sealed seed, not yet enabled.
    /// Refused (false) while two-factor is on: it must be disabled first.
    pub async fn begin_two_factor(&self, user: &str, sealed_secret: &str) -> Result<bool> {
        let mut res = self
            .query(
                "BEGIN TRANSACTION;
                 LET $on = (SELECT VALUE enabled FROM two_factor WHERE owner = type::record('user', $user))[0] ?? false;
                 IF !$on {
                     DELETE two_factor WHERE owner = type::record('user', $user);
                     CREATE two_factor SET owner = type::record('user', $user), sealed_secret = $secret,
                         enabled = false, backup_hashes = [], last_step = 0, created_at = $now;
                 };
                 COMMIT TRANSACTION;
                 RETURN !$on;",
            )
            .bind(("user", user.to_string()))
            .bind(("secret", sealed_secret.to_string()))
            .bind(("now", now_millis()))
            .run()
            .await?;
        let last = res.num_statements() - 1;
        let started: Option<bool> = res.take(last)?;
        Ok(started.unwrap_or(false))
    }

    /// Confirms enrolment: two-factor is on from now, with these backup codes,
    /// and the confirming code's step counts as used.
    pub async fn enable_two_factor(
        &self,
        user: &str,
        backup_hashes: Vec<String>,
        step: i64,
    ) -> Result<bool> {
        let mut res = self
            .query(
                "UPDATE two_factor SET enabled = true, backup_hashes = $hashes, last_step = $step
                 WHERE owner = type::record('user', $user) AND enabled = false RETURN VALUE true",
            )
            .bind(("user", user.to_string()))
            .bind(("hashes", backup_hashes))
            .bind(("step", step))
            .run()
            .await?;
        let done: Vec<bool> = res.take(0)?;
        Ok(!done.is_empty())
    }

    pub async fn disable_two_factor(&self, user: &str) -> Result<()> {
        self.query("DELETE two_factor WHERE owner = type::record('user', $user)")
            .bind(("user", user.to_string()))
            .run()
            .await?;
        Ok(())
    }

    /// Records that a code of time step `step` was accepted; false when that
    /// step (or a later one) was already used, so a seen code cannot be replayed.
    pub async fn use_two_factor_step(&self, user: &str, step: i64) -> Result<bool> {
        let mut res = self
            .query(
                "UPDATE two_factor SET last_step = $step
                 WHERE owner = type::record('user', $user) AND enabled = true AND last_step < $step
                 RETURN VALUE true",
            )
            .bind(("user", user.to_string()))
            .bind(("step", step))
            .run()
            .await?;
        let done: Vec<bool> = res.take(0)?;
        Ok(!done.is_empty())
    }

    /// Spends a backup code (by its hash); false when it is not one of the
    /// unused ones. Check and removal are one statement, so it works once.
    pub async fn use_backup_code(&self, user: &str, hash: &str) -> Result<bool> {
        let mut res = self
            .query(
                "UPDATE two_factor SET backup_hashes -= $hash
                 WHERE owner = type::record('user', $user) AND enabled = true AND backup_hashes CONTAINS $hash
                 RETURN VALUE true",
            )
            .bind(("user", user.to_string()))
            .bind(("hash", hash.to_string()))
            .run()
            .await?;
        let done: Vec<bool> = res.take(0)?;
        Ok(!done.is_empty())
    }
}
