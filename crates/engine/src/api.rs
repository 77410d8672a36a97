//! The OpenAI-compatible API's use cases: which models a key may call, and
//! which provider serves a model id. Model ids are `{endpoint}/{model}`, so
//! every configured endpoint is reachable.

use crate::Engine;
use chorus_gateway::{GatewayError, Provider};
use chorus_types::UserId;
use std::sync::Arc;

/// One entry of `GET /v1/models`.
pub struct ApiModel {
    pub id: String,
    pub endpoint: String,
}

/// Why a model id cannot be served.
#[derive(Debug)]
pub enum ApiModelError {
    /// No endpoint offers it; the message says how model ids look.
    Unknown(String),
    /// Its endpoint exists but cannot be used (no key for it, bad credentials file).
    Unusable(GatewayError),
}

impl Engine {
    /// The models of every endpoint `user` can use through the API: endpoints
    /// with the server's credentials, and `user_provided` ones they stored a
    /// key for. Endpoints that cannot work are left out.
    pub async fn api_models(&self, user: &UserId) -> Vec<ApiModel> {
        let mut out = Vec::new();
        for ep in self.gateway.endpoints().await {
            if self.provider_for(user, &ep.name).await.is_err() {
                continue;
            }
            for m in ep.models {
                out.push(ApiModel {
                    id: format!("{}/{m}", ep.name),
                    endpoint: ep.name.clone(),
                });
            }
        }
        out
    }

    /// The provider and upstream model for a `{endpoint}/{model}` id; a bare
    /// model name works when exactly one endpoint lists it.
    pub async fn api_provider(
        &self,
        user: &UserId,
        model_id: &str,
    ) -> Result<(Arc<dyn Provider>, String), ApiModelError> {
        let endpoints = self.gateway.endpoints().await;
        let by_prefix = model_id.split_once('/').and_then(|(ep, model)| {
            endpoints
                .iter()
                .find(|e| e.name == ep)
                .map(|e| (e.name.clone(), model.to_string()))
        });
        let (endpoint, model) = match by_prefix {
            Some(found) => found,
            None => {
                let mut listing = endpoints
                    .iter()
                    .filter(|e| e.models.iter().any(|m| m == model_id));
                match (listing.next(), listing.next()) {
                    (Some(e), None) => (e.name.clone(), model_id.to_string()),
                    _ => {
                        return Err(ApiModelError::Unknown(format!(
                            "The model `{model_id}` does not exist. GET /v1/models lists the models this server offers, as \"endpoint/model\"."
                        )));
                    }
                }
            }
        };
        let provider = self
            .provider_for(user, &endpoint)
            .await
            .map_err(ApiModelError::Unusable)?;
        Ok((provider, model))
    }
}
