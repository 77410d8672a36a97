use crate::{Result, Store, StoreError, new_id, now_millis};
use surrealdb::types::SurrealValue;

/// A stored account. `password_hash` is an argon2 PHC string.
#[derive(Clone, Debug, PartialEq, SurrealValue)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: i64,
    /// Bumped to end all of the user's sessions.
    pub session_epoch: i64,
}

const USER_FIELDS: &str =
    "record::id(id) AS id, email, name, password_hash, is_admin, created_at, session_epoch";

/// Emails compare case-insensitively.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Store {
    /// Creates an account. The first account ever created is an admin; `admin`
    /// forces admin rights for later ones (the `user create --admin` CLI).
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        admin: bool,
    ) -> Result<UserRecord> {
        let email = normalize_email(email);
        if self.user_by_email(&email).await?.is_some() {
            return Err(StoreError::EmailTaken);
        }
        let id = new_id();
        // Counting and creating in one transaction: two simultaneous first
        // sign-ups cannot both become admin.
        let sql = format!(
            "BEGIN TRANSACTION;
             LET $first = count(SELECT id FROM user LIMIT 1) = 0;
             CREATE type::record('user', $id) SET email = $email, name = $name,
                 password_hash = $hash, is_admin = $admin OR $first, created_at = $now;
             COMMIT TRANSACTION;
             SELECT {USER_FIELDS} FROM ONLY type::record('user', $id);"
        );
        let res = self
            .query(sql)
            .bind(("id", id))
            .bind(("email", email))
            .bind(("name", name.trim().to_string()))
            .bind(("hash", password_hash.to_string()))
            .bind(("admin", admin))
            .bind(("now", now_millis()))
            .run()
            .await;
        let mut res = match res {
            Ok(r) => r,
            // The unique index catches a race the lookup above missed.
            Err(StoreError::Db(e)) if e.contains("user_email") => {
                return Err(StoreError::EmailTaken);
            }
            Err(e) => return Err(e),
        };
        let last = res.num_statements() - 1;
        let user: Option<UserRecord> = res.take(last)?;
        user.ok_or(StoreError::NotFound)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        let mut res = self
            .query(format!(
                "SELECT {USER_FIELDS} FROM user WHERE email = $email LIMIT 1"
            ))
            .bind(("email", normalize_email(email)))
            .run()
            .await?;
        let mut users: Vec<UserRecord> = res.take(0)?;
        Ok(users.pop())
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        let mut res = self
            .query(format!(
                "SELECT {USER_FIELDS} FROM ONLY type::record('user', $id)"
            ))
            .bind(("id", id.to_string()))
            .run()
            .await?;
        Ok(res.take(0)?)
    }

    /// Ends every session of the user (each carries a hash of the epoch).
    pub async fn end_sessions(&self, id: &str) -> Result<()> {
        self.query("UPDATE type::record('user', $id) SET session_epoch += 1")
            .bind(("id", id.to_string()))
            .run()
            .await?;
        Ok(())
    }
}
