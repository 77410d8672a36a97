use crate::password::verify_password;
use axum_login::{AuthUser, AuthnBackend};
use chorus_store::{Store, UserRecord};
use chorus_types::{UserId, UserView};
use serde::Deserialize;

/// The signed-in user, as kept for a request.
#[derive(Clone)]
pub struct SessionUser {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    /// The password hash and the session epoch: a change to either ends
    /// every session made before it.
    session_key: String,
}

impl std::fmt::Debug for SessionUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the hash.
        f.debug_struct("SessionUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish()
    }
}

impl From<UserRecord> for SessionUser {
    fn from(r: UserRecord) -> Self {
        Self {
            id: UserId(r.id),
            email: r.email,
            name: r.name,
            is_admin: r.is_admin,
            session_key: format!("{}#{}", r.password_hash, r.session_epoch),
        }
    }
}

impl SessionUser {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            is_admin: self.is_admin,
        }
    }
}

impl AuthUser for SessionUser {
    type Id = String;

    fn id(&self) -> String {
        self.id.0.clone()
    }

    /// Changing the password, or signing out everywhere, changes the hash,
    /// which ends the sessions made before.
    fn session_auth_hash(&self) -> &[u8] {
        self.session_key.as_bytes()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Input or policy problem; the message is for the user.
    #[error("{0}")]
    Invalid(String),
    #[error("storage failed: {0}")]
    Store(String),
}

/// Email + password accounts stored in SurrealDB.
#[derive(Clone)]
pub struct AuthBackend {
    store: Store,
}

impl AuthBackend {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl AuthnBackend for AuthBackend {
    type User = SessionUser;
    type Credentials = Credentials;
    type Error = AuthError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<SessionUser>, AuthError> {
        let user = self
            .store
            .user_by_email(&creds.email)
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        if verify_password(creds.password, hash).await {
            Ok(user.map(SessionUser::from))
        } else {
            Ok(None)
        }
    }

    async fn get_user(&self, id: &String) -> Result<Option<SessionUser>, AuthError> {
        self.store
            .user_by_id(id)
            .await
            .map(|u| u.map(SessionUser::from))
            .map_err(|e| AuthError::Store(e.to_string()))
    }
}
