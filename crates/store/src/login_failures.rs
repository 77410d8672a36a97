//! Failed sign-ins per account, kept in the database so every instance sees
//! the same count (the throttle in `auth` reads it).

use crate::{Result, Store, now_millis};

impl Store {
    /// Failed sign-ins for `account` since `since_millis`, and the time of the
    /// oldest of them (when the window starts to free up).
    pub async fn login_failures_since(
        &self,
        account: &str,
        since_millis: i64,
    ) -> Result<(usize, Option<i64>)> {
        let mut res = self
            .query("SELECT VALUE at FROM login_failure WHERE account = $account AND at > $since ORDER BY at")
            .bind(("account", account.to_string()))
            .bind(("since", since_millis))
            .run()
            .await?;
        let times: Vec<i64> = res.take(0)?;
        Ok((times.len(), times.first().copied()))
    }

    /// Counts one failed sign-in; forgets this account's failures older than
    /// `forget_before_millis`.
    pub async fn record_login_failure(
        &self,
        account: &str,
        forget_before_millis: i64,
    ) -> Result<()> {
        self.query(
            "DELETE login_failure WHERE account = $account AND at <= $old;
             CREATE login_failure SET account = $account, at = $now;",
        )
        .bind(("account", account.to_string()))
        .bind(("old", forget_before_millis))
        .bind(("now", now_millis()))
        .run()
        .await?;
        Ok(())
    }

    /// A successful sign-in wipes the slate.
    pub async fn clear_login_failures(&self, account: &str) -> Result<()> {
        self.query("DELETE login_failure WHERE account = $account")
            .bind(("account", account.to_string()))
            .run()
            .await?;
        Ok(())
    }
}
