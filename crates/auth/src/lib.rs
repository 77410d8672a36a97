//! Who is signed in: the axum-login backend for email + password accounts,
//! argon2 hashing, registration rules, and the SurrealDB session store.

mod backend;
mod password;
mod session_store;
mod sign_in;
pub mod throttle;
pub mod two_factor;

pub use backend::{AuthBackend, AuthError, Credentials, SessionUser};
pub use password::{hash_password, verify_password};
pub use session_store::SurrealSessionStore;
pub use sign_in::{SignIn, sign_in};

use chorus_store::{Store, StoreError};

/// The axum-login session type for Chorus.
pub type AuthSession = axum_login::AuthSession<AuthBackend>;

/// Who may create an account (from `registration` in `chorus.yaml`).
#[derive(Clone, Debug)]
pub struct RegistrationPolicy {
    pub enabled: bool,
    pub allowed_domains: Vec<String>,
}

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Checks the input and the policy, then creates the account. The first account
/// becomes admin. Errors are sentences a user can act on.
pub async fn register(
    store: &Store,
    policy: &RegistrationPolicy,
    email: &str,
    name: &str,
    password: &str,
) -> Result<SessionUser, AuthError> {
    if !policy.enabled {
        return Err(AuthError::Invalid(
            "Registration is turned off on this server. Ask an administrator for an account."
                .into(),
        ));
    }
    let email = email.trim();
    let domain = valid_email_domain(email).ok_or_else(|| {
        AuthError::Invalid("Enter a valid email address, like name@example.com.".into())
    })?;
    if !policy.allowed_domains.is_empty()
        && !policy
            .allowed_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    {
        return Err(AuthError::Invalid(format!(
            "Accounts on this server are limited to these domains: {}.",
            policy.allowed_domains.join(", ")
        )));
    }
    create_user(store, email, name, password, false).await
}

/// Creates an account without the registration policy (admin CLI).
pub async fn create_user(
    store: &Store,
    email: &str,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<SessionUser, AuthError> {
    if valid_email_domain(email.trim()).is_none() {
        return Err(AuthError::Invalid(
            "Enter a valid email address, like name@example.com.".into(),
        ));
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AuthError::Invalid(format!(
            "Choose a password of at least {MIN_PASSWORD_LEN} characters."
        )));
    }
    let name = if name.trim().is_empty() {
        email.split('@').next().unwrap_or(email).to_string()
    } else {
        name.trim().to_string()
    };
    let hash = hash_password(password.to_string()).await?;
    match store.create_user(email, &name, &hash, admin).await {
        Ok(record) => Ok(SessionUser::from(record)),
        Err(StoreError::EmailTaken) => Err(AuthError::Invalid(
            "An account with this email already exists. Sign in instead.".into(),
        )),
        Err(e) => Err(AuthError::Store(e.to_string())),
    }
}

/// The domain of a plausible email address (one `@`, a dot in the domain).
fn valid_email_domain(email: &str) -> Option<&str> {
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && email.len() <= 254;
    ok.then_some(domain)
}

#[cfg(test)]
mod tests;
