//! The whole sign-in decision: the throttle, the password, and the two-factor
//! code when the account has it on. The web layer only starts the session.

use crate::two_factor::TwoFactor;
use crate::{AuthBackend, AuthError, Credentials, SessionUser, throttle};
use axum_login::AuthnBackend;
use chorus_secrets::SecretBox;
use chorus_store::Store;

pub enum SignIn {
    /// Start a session for this user.
    Accepted(SessionUser),
    /// The password is right; the account needs its two-factor code too.
    CodeRequired,
}

/// Checks an attempt to sign in as `email` at `now` (Unix seconds). Wrong
/// passwords and wrong codes count towards the account's lockout.
pub async fn sign_in(
    store: &Store,
    secrets: &SecretBox,
    email: &str,
    password: String,
    code: Option<&str>,
    now: u64,
) -> Result<SignIn, AuthError> {
    let earlier_failures = throttle::check(store, email).await?;
    let creds = Credentials {
        email: email.to_string(),
        password,
    };
    let Some(user) = AuthBackend::new(store.clone()).authenticate(creds).await? else {
        throttle::failed(store, email).await?;
        // Same words whether the email exists or not.
        return Err(AuthError::Invalid("Wrong email or password.".into()));
    };
    let two_factor = TwoFactor { store, secrets };
    if let Some(seed) = two_factor.required(&user.id.0).await? {
        let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
            return Ok(SignIn::CodeRequired);
        };
        if !two_factor.accept(&user.id.0, &seed, code, now).await? {
            throttle::failed(store, email).await?;
            return Err(AuthError::Invalid(
                "That code is not right, or was already used.".into(),
            ));
        }
    }
    if earlier_failures > 0 {
        throttle::succeeded(store, email).await?;
    }
    Ok(SignIn::Accepted(user))
}
