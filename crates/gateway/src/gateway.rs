use crate::http::Connection;
use crate::{
    Anthropic, AnthropicTarget, GatewayError, Gemini, GeminiTarget, GoogleAuth, LocalModel,
    LocalSettings, OpenAiChat, Provider, RetryPolicy, Retrying, ServiceAccount, Target,
};
use chorus_config::{Config, Credential, Endpoint as EndpointConfig, Kind};
use chorus_types::EndpointView;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a fetched model list is reused before asking the endpoint again.
const MODELS_TTL: Duration = Duration::from_secs(10 * 60);

/// The configured endpoints, each with its provider and model list.
pub struct Gateway {
    http: reqwest::Client,
    retry: RetryPolicy,
    endpoints: Vec<Endpoint>,
}

/// A key and (where the endpoint allows it) a base URL that a user stored for an
/// endpoint configured with `user_provided`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserCredentials {
    pub api_key: Option<String>,
    pub base_url: Option<String>,
}

struct Endpoint {
    config: EndpointConfig,
    /// Built once when the endpoint has its own credentials; `None` when each
    /// user provides them; `Err` says why it cannot be used.
    provider: Option<Result<Arc<dyn Provider>, String>>,
    fetched_models: Mutex<Option<(Instant, Vec<String>)>>,
}

impl Gateway {
    pub fn from_config(config: &Config) -> Self {
        Self::with_retry(config, RetryPolicy::default())
    }

    pub fn with_retry(config: &Config, retry: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("chorus/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client has a valid static configuration");
        let endpoints = config
            .endpoints
            .all()
            .into_iter()
            .map(|(_, ep)| {
                let provider = (!ep.needs_user_credentials()).then(|| {
                    let key = ep
                        .api_key
                        .as_ref()
                        .and_then(Credential::value)
                        .unwrap_or("");
                    let url = ep
                        .base_url
                        .as_ref()
                        .and_then(Credential::value)
                        .unwrap_or("");
                    build(&http, ep, key, url).map(|p| wrap(p, retry))
                });
                match &provider {
                    Some(Err(reason)) => {
                        tracing::error!(endpoint = %ep.name, %reason, "endpoint unavailable");
                    }
                    Some(Ok(p)) => {
                        if let Some(reason) = p.unavailable() {
                            tracing::warn!(endpoint = %ep.name, %reason, "endpoint not available yet");
                        }
                    }
                    None => {}
                }
                Endpoint {
                    config: ep.clone(),
                    provider,
                    fetched_models: Mutex::new(None),
                }
            })
            .collect();
        Self {
            http,
            retry,
            endpoints,
        }
    }

    fn find(&self, name: &str) -> Result<&Endpoint, GatewayError> {
        self.endpoints
            .iter()
            .find(|e| e.config.name == name)
            .ok_or_else(|| GatewayError::UnknownEndpoint(name.to_string()))
    }

    /// The provider behind endpoint `name`, for endpoints with their own credentials.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>, GatewayError> {
        self.provider_for(name, None)
    }

    /// The provider behind endpoint `name`, using `user`'s stored credentials
    /// when the endpoint is `user_provided`.
    pub fn provider_for(
        &self,
        name: &str,
        user: Option<&UserCredentials>,
    ) -> Result<Arc<dyn Provider>, GatewayError> {
        let ep = self.find(name)?;
        match &ep.provider {
            Some(Ok(p)) => Ok(p.clone()),
            Some(Err(reason)) => Err(GatewayError::Unavailable {
                endpoint: name.to_string(),
                reason: reason.clone(),
            }),
            None => {
                let pick =
                    |configured: &Option<Credential>, given: Option<&String>| match configured {
                        Some(Credential::Value(v)) => Some(v.clone()),
                        Some(Credential::UserProvided) => given.filter(|v| !v.is_empty()).cloned(),
                        None => Some(String::new()),
                    };
                let user = user.cloned().unwrap_or_default();
                let key = pick(&ep.config.api_key, user.api_key.as_ref());
                let url = pick(&ep.config.base_url, user.base_url.as_ref());
                let (Some(key), Some(url)) = (key, url) else {
                    return Err(GatewayError::NeedsUserKey(name.to_string()));
                };
                build(&self.http, &ep.config, &key, &url)
                    .map(|p| wrap(p, self.retry))
                    .map_err(|reason| GatewayError::Unavailable {
                        endpoint: name.to_string(),
                        reason,
                    })
            }
        }
    }

    /// The endpoint's settings from `chorus.yaml`.
    pub fn endpoint_config(&self, name: &str) -> Result<&EndpointConfig, GatewayError> {
        self.find(name).map(|e| &e.config)
    }

    /// Every endpoint's settings, in configured order.
    pub fn endpoint_configs(&self) -> impl Iterator<Item = &EndpointConfig> {
        self.endpoints.iter().map(|e| &e.config)
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
                needs_user_key: false,
                unavailable: match &ep.provider {
                    Some(Ok(p)) => p.unavailable(),
                    _ => None,
                },
            });
        }
        out
    }

    async fn models_of(&self, ep: &Endpoint) -> Vec<String> {
        let mut fallback = ep.config.models.default.clone();
        if fallback.is_empty() && ep.config.kind == Kind::Azure {
            fallback = ep.config.deployments.keys().cloned().collect();
        }
        let Some(Ok(provider)) = ep.provider.as_ref().filter(|_| ep.config.models.fetch) else {
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

/// Every adapter is retried before its first event, and its answers always
/// carry usage (counted when the provider reports none).
fn wrap(p: Arc<dyn Provider>, retry: RetryPolicy) -> Arc<dyn Provider> {
    Arc::new(crate::tokens::Metered::new(Arc::new(Retrying::new(
        p, retry,
    ))))
}

/// How an `endpoints.local[]` entry runs (its path already made absolute by
/// whoever knows the data directory).
fn local_settings(ep: &EndpointConfig) -> LocalSettings {
    let defaults = LocalSettings::new(ep.path.clone().unwrap_or_default());
    LocalSettings {
        threads: ep.threads.unwrap_or(defaults.threads),
        context_size: ep.context_size.unwrap_or(defaults.context_size),
        models: ep.models.default.clone(),
        temperature: ep
            .add_params
            .get("temperature")
            .and_then(|t| t.as_f64())
            .map_or(defaults.temperature, |t| t as f32),
        ..defaults
    }
}

/// The adapter for one endpoint, given its resolved key and base URL.
fn build(
    http: &reqwest::Client,
    ep: &EndpointConfig,
    api_key: &str,
    base_url: &str,
) -> Result<Arc<dyn Provider>, String> {
    let conn = Connection::from(http.clone()).with_headers(ep.headers.clone());
    let base_url = base_url.trim_end_matches('/').to_string();
    let api_key = api_key.to_string();
    let chat = |target| {
        OpenAiChat::with_target(conn.clone(), target)
            .with_params(ep.add_params.clone(), ep.drop_params.clone())
    };
    Ok(match ep.kind {
        Kind::OpenAi if ep.api.as_deref() != Some("chat") => {
            Arc::new(crate::OpenAiResponses::new(conn, &base_url, &api_key))
        }
        Kind::Custom | Kind::OpenAi => Arc::new(chat(Target::OpenAi { base_url, api_key })),
        Kind::Azure => Arc::new(chat(Target::Azure {
            base_url,
            api_key,
            api_version: ep.api_version.clone().unwrap_or_default(),
            deployments: ep.deployments.clone(),
        })),
        Kind::Anthropic => Arc::new(Anthropic::new(
            conn,
            AnthropicTarget::Direct { base_url, api_key },
        )),
        Kind::Google => Arc::new(Gemini::new(conn, GeminiTarget::Api { base_url, api_key })),
        Kind::Vertex => {
            let file = ep.service_account_file.as_deref().unwrap_or_default();
            let account = ServiceAccount::from_file(file)?;
            let project = ep
                .project_id
                .clone()
                .or_else(|| account.project_id.clone())
                .ok_or_else(|| format!("{file} names no project_id; set projectId"))?;
            let region = ep.region.clone().unwrap_or_else(|| "us-central1".into());
            let host = if base_url.is_empty() {
                format!("https://{region}-aiplatform.googleapis.com/v1")
            } else {
                base_url
            };
            let base = format!("{host}/projects/{project}/locations/{region}");
            let auth = Arc::new(GoogleAuth::new(account));
            Arc::new(VertexRouter {
                gemini: Gemini::new(
                    conn.clone(),
                    GeminiTarget::Vertex {
                        base_url: base.clone(),
                        auth: auth.clone(),
                    },
                ),
                claude: Anthropic::new(
                    conn,
                    AnthropicTarget::Vertex {
                        base_url: base,
                        auth,
                    },
                ),
            })
        }
        Kind::Bedrock => Arc::new(crate::Bedrock::from_config(conn, ep, &base_url)?),
        Kind::Local => Arc::new(LocalModel::start(&ep.name, local_settings(ep))),
    })
}

/// Vertex AI serves Google's models and Anthropic's with different protocols;
/// the model name picks one.
struct VertexRouter {
    gemini: Gemini,
    claude: Anthropic,
}

impl VertexRouter {
    fn pick(&self, model: &str) -> &dyn Provider {
        if model.starts_with("claude") {
            &self.claude
        } else {
            &self.gemini
        }
    }
}

impl Provider for VertexRouter {
    fn stream(
        &self,
        request: crate::ChatRequest,
    ) -> futures::stream::BoxStream<'static, Result<crate::StreamEvent, GatewayError>> {
        self.pick(&request.model).stream(request)
    }

    fn complete(
        &self,
        request: crate::ChatRequest,
    ) -> futures::future::BoxFuture<'static, Result<crate::Answer, GatewayError>> {
        self.pick(&request.model).complete(request)
    }
}
