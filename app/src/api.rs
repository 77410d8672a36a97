//! Server functions: authenticate, call one `engine` (or `auth`) method, map the
//! error. Nothing else happens here.
//!
//! CSRF: these are POSTs that change state. The session cookie is `SameSite=Lax`
//! (a cross-site POST carries no cookie) and the server refuses any POST whose
//! `Origin` is another site (see `server/src/csrf.rs`).
#![allow(clippy::too_many_arguments)]

mod agents;
mod branches;
mod code;
mod mcp;
mod two_factor;
pub use agents::*;
pub use branches::*;
pub use code::*;
pub use mcp::*;
pub use two_factor::*;

use chorus_types::{
    ApiKeyView, ConversationSummary, ConversationView, CreatedApiKey, EndpointView,
    ProviderKeyView, SendResult, UserView,
};
use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What a server function can fail with, in words for the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    #[error("Your session has ended. Please sign in again.")]
    SignedOut,
    #[error("This conversation does not exist or is not yours.")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    /// Allowed to see it, not to do this.
    #[error("{0}")]
    Forbidden(String),
    /// Something other than a conversation that does not exist or is not
    /// the user's, named.
    #[error("{0}")]
    Missing(String),
    #[error("Something went wrong on the server: {0}")]
    Server(String),
    #[error("The server could not be reached. Check your connection and try again.")]
    Unreachable,
    /// The password was right and the account has two-factor authentication:
    /// the sign-in form asks for the code.
    #[error("Enter the 6-digit code from your authenticator app, or a backup code.")]
    CodeRequired,
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(e: ServerFnErrorErr) -> Self {
        match e {
            ServerFnErrorErr::Request(_) => ApiError::Unreachable,
            other => ApiError::Server(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! What the server functions need from the server.
    use super::ApiError;
    use chorus_auth::{AuthSession, RegistrationPolicy, SessionUser};
    use chorus_engine::{Engine, EngineError};

    /// Provided to every server function through Leptos context.
    #[derive(Clone)]
    pub struct AppState {
        pub engine: Engine,
        pub registration: RegistrationPolicy,
    }

    pub fn state() -> Result<AppState, ApiError> {
        leptos::prelude::use_context::<AppState>()
            .ok_or_else(|| ApiError::Server("application state missing".into()))
    }

    pub async fn session() -> Result<AuthSession, ApiError> {
        leptos_axum::extract::<AuthSession>()
            .await
            .map_err(|e| ApiError::Server(e.to_string()))
    }

    /// Starts a session for `user` and sends the browser to the chat.
    pub async fn sign_in(user: &SessionUser) -> Result<(), ApiError> {
        session()
            .await?
            .login(user)
            .await
            .map_err(|e| ApiError::Server(e.to_string()))?;
        leptos_axum::redirect("/");
        Ok(())
    }

    /// Two-factor settings, through the app's store and sealing key.
    pub fn two_factor(state: &AppState) -> chorus_auth::two_factor::TwoFactor<'_> {
        chorus_auth::two_factor::TwoFactor {
            store: state.engine.store(),
            secrets: state.engine.secrets(),
        }
    }

    /// Seconds since the Unix epoch, for TOTP.
    pub fn unix_now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// The signed-in user, or `SignedOut`.
    pub async fn user() -> Result<SessionUser, ApiError> {
        session().await?.user.ok_or(ApiError::SignedOut)
    }

    impl From<EngineError> for ApiError {
        fn from(e: EngineError) -> Self {
            match e {
                EngineError::NotFound => ApiError::NotFound,
                EngineError::Invalid(m) => ApiError::Invalid(m),
                EngineError::Unavailable(m) => ApiError::Server(m),
                EngineError::Forbidden(m) => ApiError::Forbidden(m),
                EngineError::Store(m) => {
                    tracing::error!(error = %m, "storage failed");
                    ApiError::Server("the database did not answer; your data is unchanged".into())
                }
            }
        }
    }

    impl From<chorus_auth::AuthError> for ApiError {
        fn from(e: chorus_auth::AuthError) -> Self {
            match e {
                chorus_auth::AuthError::Invalid(m) => ApiError::Invalid(m),
                chorus_auth::AuthError::Store(m) => {
                    tracing::error!(error = %m, "account storage failed");
                    ApiError::Server("the account database did not answer".into())
                }
            }
        }
    }
}

#[server(prefix = "/api", endpoint = "me")]
pub async fn current_user() -> Result<Option<UserView>, ApiError> {
    Ok(ssr::session().await?.user.map(|u| u.view()))
}

/// Whether this server lets people create their own accounts.
#[server(prefix = "/api", endpoint = "registration")]
pub async fn registration_open() -> Result<bool, ApiError> {
    Ok(ssr::state()?.registration.enabled)
}

#[server(prefix = "/api", endpoint = "register")]
pub async fn register(email: String, name: String, password: String) -> Result<(), ApiError> {
    let state = ssr::state()?;
    let user = chorus_auth::register(
        state.engine.store(),
        &state.registration,
        &email,
        &name,
        &password,
    )
    .await?;
    ssr::sign_in(&user).await
}

/// Signs in with email and password, and the two-factor code when the account
/// has it on (asked for with `CodeRequired` after the password checks out).
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(
    email: String,
    password: String,
    #[server(default)] code: Option<String>,
) -> Result<(), ApiError> {
    let state = ssr::state()?;
    let engine = &state.engine;
    let outcome = chorus_auth::sign_in(
        engine.store(),
        engine.secrets(),
        &email,
        password,
        code.as_deref(),
        ssr::unix_now(),
    )
    .await?;
    let chorus_auth::SignIn::Accepted(user) = outcome else {
        return Err(ApiError::CodeRequired);
    };
    ssr::sign_in(&user).await
}

#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    let mut session = ssr::session().await?;
    session
        .logout()
        .await
        .map_err(|e| ApiError::Server(e.to_string()))?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Ends every session of the signed-in user, on every device, this one too.
#[server(prefix = "/api", endpoint = "logout-everywhere")]
pub async fn logout_everywhere() -> Result<(), ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .store()
        .end_sessions(&user.id.0)
        .await
        .map_err(|e| ApiError::Server(e.to_string()))?;
    logout().await
}

#[server(prefix = "/api", endpoint = "endpoints")]
pub async fn list_endpoints() -> Result<Vec<EndpointView>, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.endpoints(&user.id).await?)
}

/// The endpoints that run on each user's own key, with what this user stored.
#[server(prefix = "/api", endpoint = "provider-keys")]
pub async fn list_provider_keys() -> Result<Vec<ProviderKeyView>, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.provider_keys(&user.id).await?)
}

/// Stores the user's key and/or base URL for an endpoint (blank keeps the old one).
#[server(prefix = "/api", endpoint = "provider-key/save")]
pub async fn save_provider_key(
    endpoint: String,
    api_key: Option<String>,
    base_url: Option<String>,
) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .save_provider_key(
            &user.id,
            &endpoint,
            api_key.as_deref().unwrap_or_default(),
            base_url.as_deref().unwrap_or_default(),
        )
        .await?)
}

#[server(prefix = "/api", endpoint = "provider-key/delete")]
pub async fn delete_provider_key(endpoint: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .delete_provider_key(&user.id, &endpoint)
        .await?)
}

#[server(prefix = "/api", endpoint = "api-keys")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.api_keys(&user.id).await?)
}

/// Creates a key for the OpenAI-compatible API; the only time its secret is sent.
#[server(prefix = "/api", endpoint = "api-keys/create")]
pub async fn create_api_key(name: String) -> Result<CreatedApiKey, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.create_api_key(&user.id, &name).await?)
}

#[server(prefix = "/api", endpoint = "api-keys/revoke")]
pub async fn revoke_api_key(id: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.revoke_api_key(&user.id, &id).await?)
}

#[server(prefix = "/api", endpoint = "conversations")]
pub async fn list_conversations() -> Result<Vec<ConversationSummary>, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.conversations(&user.id).await?)
}

#[server(prefix = "/api", endpoint = "conversation")]
pub async fn get_conversation(id: String) -> Result<ConversationView, ApiError> {
    let user = ssr::user().await?;
    let id = chorus_types::ConversationId(id);
    Ok(ssr::state()?.engine.conversation(&user.id, &id).await?)
}

#[server(prefix = "/api", endpoint = "conversation/rename")]
/// Returns the title as saved.
pub async fn rename_conversation(id: String, title: String) -> Result<String, ApiError> {
    let user = ssr::user().await?;
    let id = chorus_types::ConversationId(id);
    Ok(ssr::state()?
        .engine
        .rename_conversation(&user.id, &id, &title)
        .await?)
}

#[server(prefix = "/api", endpoint = "conversation/delete")]
pub async fn delete_conversation(id: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    let id = chorus_types::ConversationId(id);
    Ok(ssr::state()?
        .engine
        .delete_conversation(&user.id, &id)
        .await?)
}

// Each argument is a field of the form the endpoint takes (tests and scripts
// post it as `application/x-www-form-urlencoded`), so they stay separate (the
// lint is allowed for this file: the macro's browser-side copy gets no attributes).
#[server(prefix = "/api", endpoint = "send")]
pub async fn send_message(
    conversation: Option<String>,
    /// The message this one follows (the end of the thread on screen).
    parent: Option<String>,
    endpoint: String,
    model: String,
    text: String,
    /// The tools the model may call (`execute_code`).
    #[server(default)]
    tools: Vec<String>,
    /// Files attached to the message (ids from `/api/attachments`).
    #[server(default)]
    files: Vec<String>,
    /// Start the new conversation with this agent.
    #[server(default)]
    agent: Option<String>,
) -> Result<SendResult, ApiError> {
    let user = ssr::user().await?;
    let request = chorus_engine::SendRequest {
        conversation: conversation
            .filter(|c| !c.is_empty())
            .map(chorus_types::ConversationId),
        parent: parent
            .filter(|p| !p.is_empty())
            .map(chorus_types::MessageId),
        endpoint,
        model,
        text,
        tools,
        files,
        agent: agent.filter(|a| !a.is_empty()),
    };
    Ok(ssr::state()?.engine.send(&user.id, request).await?)
}

/// Drops a file attached to a message that was not sent.
#[server(prefix = "/api", endpoint = "attachments/remove")]
pub async fn remove_attachment(id: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.remove_attachment(&user.id, &id)?)
}

/// The tools a user may turn on for the model here (`execute_code` when the
/// server can run code).
#[server(prefix = "/api", endpoint = "tools")]
pub async fn available_tools() -> Result<Vec<chorus_types::ToolOption>, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.tool_options(&user.id).await)
}

#[server(prefix = "/api", endpoint = "continue")]
pub async fn continue_answer(conversation: String, message: String) -> Result<String, ApiError> {
    let user = ssr::user().await?;
    let job = ssr::state()?
        .engine
        .continue_answer(
            &user.id,
            &chorus_types::ConversationId(conversation),
            &chorus_types::MessageId(message),
        )
        .await?;
    Ok(job.0)
}

#[server(prefix = "/api", endpoint = "stop")]
pub async fn stop_job(job: String) -> Result<bool, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .stop(&user.id, &chorus_types::JobId(job))
        .await)
}
