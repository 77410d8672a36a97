//! Raw storage for login sessions (the axum-login session store in `auth`
//! decides what goes in `data`).

use crate::{Result, Store, now_millis};

impl Store {
    pub async fn session_save(&self, id: &str, data: &str, expires_at_millis: i64) -> Result<()> {
        self.query("UPSERT type::record('session', $id) SET data = $data, expires_at = $exp")
            .bind(("id", id.to_string()))
            .bind(("data", data.to_string()))
            .bind(("exp", expires_at_millis))
            .run()
            .await?;
        Ok(())
    }

    /// The session's data, unless it has expired.
    pub async fn session_load(&self, id: &str) -> Result<Option<String>> {
        let mut res = self
            .query(
                "SELECT VALUE data FROM ONLY type::record('session', $id) WHERE expires_at > $now",
            )
            .bind(("id", id.to_string()))
            .bind(("now", now_millis()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }

    pub async fn session_delete(&self, id: &str) -> Result<()> {
        self.query("DELETE type::record('session', $id)")
            .bind(("id", id.to_string()))
            .run()
            .await?;
        Ok(())
    }

    pub async fn session_exists(&self, id: &str) -> Result<bool> {
        let mut res = self
            .query("RETURN record::exists(type::record('session', $id))")
            .bind(("id", id.to_string()))
            .run()
            .await?;
        Ok(res.take::<Option<bool>>(0)?.unwrap_or(false))
    }

    pub async fn sessions_delete_expired(&self) -> Result<()> {
        self.query("DELETE session WHERE expires_at <= $now")
            .bind(("now", now_millis()))
            .run()
            .await?;
        Ok(())
    }
}
