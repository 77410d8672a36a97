use crate::{GatewayError, OpenAiChat, Provider};
use chorus_config::{Config, CustomEndpoint};
use chorus_types::EndpointView;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a fetched model list is reused before asking the endpoint again.
const MODELS_TTL: Duration = Duration::from_secs(10 * 60);

/// The configured endpoints, each with its provider and model list.
pub struct Gateway {
    endpoints: Vec<Endpoint>,
}

struct Endpoint {
    config: CustomEndpoint,
    /// `None` when the key or URL is `user_provided`.
    provider: Option<Arc<OpenAiChat>>,
    fetched_models: Mutex<Option<(Instant, Vec<String>)>>,
}

impl Gateway {
    pub fn from_config(config: &Config) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("chorus/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client has a valid static configuration");
        let endpoints = config
            .endpoints
            .custom
            .iter()
            .map(|ep| {
                let provider = match (ep.base_url.value(), ep.api_key.value()) {
                    (Some(url), Some(key)) => Some(Arc::new(
                        OpenAiChat::new(http.clone(), url, key).with_overrides(
                            ep.headers.clone(),
                            ep.add_params.clone(),
                            ep.drop_params.clone(),
                        ),
                    )),
                    _ => None,
                };
                Endpoint {
                    config: ep.clone(),
                    provider,
                    fetched_models: Mutex::new(None),
                }
            })
            .collect();
        Self { endpoints }
    }

    fn find(&self, name: &str) -> Result<&Endpoint, GatewayError> {
        self.endpoints
            .iter()
            .find(|e| e.config.name == name)
            .ok_or_else(|| GatewayError::UnknownEndpoint(name.to_string()))
    }

    /// The provider behind endpoint `name`.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>, GatewayError> {
        let ep = self.find(name)?;
        match &ep.provider {
            Some(p) => Ok(p.clone() as Arc<dyn Provider>),
            None => Err(GatewayError::NeedsUserKey(name.to_string())),
        }
    }

    /// The endpoint's settings from `chorus.yaml`.
    pub fn endpoint_config(&self, name: &str) -> Result<&CustomEndpoint, GatewayError> {
        self.find(name).map(|e| &e.config)
    }

    /// Every endpoint with its models. With `models.fetch`, asks the endpoint
    /// (cached for ten minutes) and falls back to `models.default` when it fails.
    pub async fn endpoints(&self) -> Vec<EndpointView> {
        let mut out = Vec::with_capacity(self.endpoints.len());
        for ep in &self.endpoints {
            let models = self.models_of(ep).await;
            out.push(EndpointView {
                name: ep.config.name.clone(),
                label: ep.config.label().to_string(),
                default_model: models.first().cloned(),
                models,
            });
        }
        out
    }

    async fn models_of(&self, ep: &Endpoint) -> Vec<String> {
        let fallback = ep.config.models.default.clone();
        let Some(provider) = ep.provider.as_ref().filter(|_| ep.config.models.fetch) else {
            return fallback;
        };
        if let Some((at, models)) = ep.fetched_models.lock().unwrap().as_ref()
            && at.elapsed() < MODELS_TTL
        {
            return models.clone();
        }
        match provider.list_models().await {
            Ok(mut models) if !models.is_empty() => {
                // Configured defaults first, so the preferred model is preselected.
                models.sort();
                let mut ordered: Vec<String> = fallback
                    .iter()
                    .filter(|m| models.contains(m))
                    .cloned()
                    .collect();
                ordered.extend(models.into_iter().filter(|m| !fallback.contains(m)));
                *ep.fetched_models.lock().unwrap() = Some((Instant::now(), ordered.clone()));
                ordered
            }
            Ok(_) => fallback,
            Err(e) => {
                tracing::warn!(endpoint = %ep.config.name, error = %e, "fetching the model list failed; using models.default");
                fallback
            }
        }
    }
}
