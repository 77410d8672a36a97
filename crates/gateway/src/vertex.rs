//! Google OAuth for Vertex AI: a service-account key signs a JWT (RS256), which
//! the account's `token_uri` exchanges for an access token (RFC 7523). Tokens are
//! reused until a minute before they expire.

use crate::GatewayError;
use crate::http;
use serde::Deserialize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The fields of a service-account JSON key that the token exchange needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    pub token_uri: String,
    #[serde(default)]
    pub project_id: Option<String>,
}

impl ServiceAccount {
    /// Reads a key file, saying which file and what is wrong when it cannot.
    pub fn from_file(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the service-account file {path}: {e}"))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{path} is not a service-account JSON key: {e}"))
    }
}

pub struct GoogleAuth {
    account: ServiceAccount,
    cached: Mutex<Option<(String, Instant)>>,
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default = "an_hour")]
    expires_in: u64,
}

fn an_hour() -> u64 {
    3600
}

impl GoogleAuth {
    pub fn new(account: ServiceAccount) -> Self {
        Self {
            account,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token, fetched when the cached one is near expiry.
    pub async fn token(&self, client: &reqwest::Client) -> Result<String, GatewayError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let assertion = self.assertion()?;
        let req = client
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .timeout(Duration::from_secs(30));
        let resp = http::send(req, &self.account.token_uri, Duration::from_secs(30))
            .await
            .map_err(|e| match e {
                GatewayError::Upstream { message, .. }
                | GatewayError::Unauthorized { message, .. } => GatewayError::Unauthorized {
                    status: 401,
                    message: format!(
                        "Google refused the service account's token request: {message}"
                    ),
                },
                other => other,
            })?;
        let reply: TokenReply = http::json(resp, "Google's token reply").await?;
        let until = Instant::now() + Duration::from_secs(reply.expires_in.saturating_sub(60));
        *cached = Some((reply.access_token.clone(), until));
        Ok(reply.access_token)
    }

    fn assertion(&self) -> Result<String, GatewayError> {
        install_jwt_crypto();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iss: &self.account.client_email,
            scope: SCOPE,
            aud: &self.account.token_uri,
            iat: now,
            exp: now + 3600,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.account.private_key.as_bytes())
            .map_err(|e| GatewayError::Unauthorized {
                status: 401,
                message: format!("the service account's private_key is not a usable RSA key: {e}"),
            })?;
        jsonwebtoken::encode(&header, &claims, &key).map_err(|e| GatewayError::Unauthorized {
            status: 401,
            message: format!("signing the service-account token failed: {e}"),
        })
    }
}

/// jsonwebtoken picks its crypto backend from crate features, and panics when the
/// workspace turns on two (SurrealDB enables `aws_lc_rs`). Choosing one for the
/// process avoids that; a provider someone installed earlier is kept.
pub fn install_jwt_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        );
    });
}
