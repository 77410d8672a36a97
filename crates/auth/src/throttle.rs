//! Sign-in throttling per account: after five failed attempts (a wrong password
//! or a wrong two-factor code) within fifteen minutes, the account refuses
//! sign-ins until the oldest of them is fifteen minutes old. Counted in the
//! database, so every instance agrees, and by normalised email whether or not
//! the account exists, so the lockout says nothing about which emails do.
//! Without it a 6-digit code could be guessed by trying them all.

use crate::AuthError;
use chorus_store::{Store, normalize_email, now_millis};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW_MILLIS: i64 = 15 * 60 * 1000;

fn store_error(e: chorus_store::StoreError) -> AuthError {
    AuthError::Store(e.to_string())
}

/// Refuses with a message saying when to try again if `email` is locked out;
/// otherwise returns how many recent failures it has.
pub async fn check(store: &Store, email: &str) -> Result<usize, AuthError> {
    let now = now_millis();
    let (failures, oldest) = store
        .login_failures_since(&normalize_email(email), now - WINDOW_MILLIS)
        .await
        .map_err(store_error)?;
    if failures < MAX_FAILURES {
        return Ok(failures);
    }
    let free_at = oldest.unwrap_or(now) + WINDOW_MILLIS;
    let minutes = ((free_at - now).max(0) + 59_999) / 60_000;
    Err(AuthError::Invalid(format!(
        "Too many failed sign-in attempts for this account. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    )))
}

/// Counts a failed attempt against `email`.
pub async fn failed(store: &Store, email: &str) -> Result<(), AuthError> {
    store
        .record_login_failure(&normalize_email(email), now_millis() - WINDOW_MILLIS)
        .await
        .map_err(store_error)
}

/// A successful sign-in clears the count.
pub async fn succeeded(store: &Store, email: &str) -> Result<(), AuthError> {
    store
        .clear_login_failures(&normalize_email(email))
        .await
        .map_err(store_error)
}
