use std::time::Duration;

/// Why a provider call failed, typed so the engine can decide to retry and the
/// user can be told what to do.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GatewayError {
    #[error("the provider rejected the API key (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("the provider is rate limiting requests (HTTP 429): {message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("the provider returned an error (HTTP {status}): {message}")]
    Upstream { status: u16, message: String },
    #[error("could not reach the provider at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the provider stopped responding for {0:?}")]
    Timeout(Duration),
    #[error("the provider sent a response Chorus cannot read: {0}")]
    Malformed(String),
    #[error("no endpoint named {0:?} is configured")]
    UnknownEndpoint(String),
    #[error(
        "the endpoint {0:?} runs on your own API key, and you have not stored one; add it in Settings under Provider keys"
    )]
    NeedsUserKey(String),
    #[error("the endpoint {endpoint:?} cannot be used: {reason}")]
    Unavailable { endpoint: String, reason: String },
}

impl GatewayError {
    /// Worth retrying before any token reached the user.
    pub fn is_retryable(&self) -> bool {
        match self {
            GatewayError::RateLimited { .. } | GatewayError::Connect { .. } => true,
            GatewayError::Upstream { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
