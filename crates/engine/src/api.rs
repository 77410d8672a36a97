//! The OpenAI-compatible API's use cases: which models a key may call, and
//! which provider serves a model id. Model ids are `{endpoint}/{model}`, so
//! every configured endpoint is reachable, and `agent:<id>` for the agents the
//! user may chat with: those run the same loop as a chat with the agent (its
//! instructions, parameters and tools, run on the server), streamed back as
//! one answer.

use crate::Engine;
use crate::chat::Setup;
use crate::run_loop::{self, Outcome, Sink, Workspace};
use chorus_gateway::{ChatRequest, GatewayError, Provider, StreamEvent};
use chorus_types::agent::AgentRole;
use chorus_types::{ToolStep, Usage, UserId};
use futures::stream::BoxStream;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The model id prefix of agents.
pub const AGENT_MODEL_PREFIX: &str = "agent:";

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
        match self.agents(user).await {
            Ok(agents) => out.extend(agents.into_iter().map(|a| ApiModel {
                id: format!("{AGENT_MODEL_PREFIX}{}", a.id),
                endpoint: "agent".into(),
            })),
            Err(e) => tracing::warn!(error = %e, "listing agents for the API failed"),
        }
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
        if let Some(agent) = model_id.strip_prefix(AGENT_MODEL_PREFIX) {
            return self.agent_provider(user, agent).await;
        }
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

impl Engine {
    async fn agent_provider(
        &self,
        user: &UserId,
        agent: &str,
    ) -> Result<(Arc<dyn Provider>, String), ApiModelError> {
        let unknown = || {
            ApiModelError::Unknown(format!(
                "The model `{AGENT_MODEL_PREFIX}{agent}` does not exist, or its agent is not shared with you."
            ))
        };
        let row = self
            .agent_row(user, agent, AgentRole::Viewer)
            .await
            .map_err(|_| unknown())?;
        let base = self
            .provider_for(user, &row.endpoint)
            .await
            .map_err(ApiModelError::Unusable)?;
        let setup = self.agent_setup(&row);
        let provider = AgentProvider {
            engine: self.clone(),
            user: user.clone(),
            base,
            setup,
        };
        Ok((Arc::new(provider), row.model))
    }
}

/// An agent as a provider: each request runs the agent's loop on the server
/// and streams the text of every turn as one answer.
struct AgentProvider {
    engine: Engine,
    user: UserId,
    base: Arc<dyn Provider>,
    setup: Setup,
}

impl Provider for AgentProvider {
    fn stream(
        &self,
        mut request: ChatRequest,
    ) -> BoxStream<'static, Result<StreamEvent, GatewayError>> {
        // The agent's instructions come first; the caller's system prompt adds to them.
        request.system = match (self.setup.system.clone(), request.system.take()) {
            (Some(a), Some(b)) => Some(format!("{a}\n\n{b}")),
            (a, b) => a.or(b),
        };
        request.temperature = request.temperature.or(self.setup.sampling.temperature);
        request.max_tokens = request.max_tokens.or(self.setup.sampling.max_tokens);
        let (tx, rx) = mpsc::channel(64);
        let engine = self.engine.clone();
        let user = self.user.clone();
        let base = self.base.clone();
        let tools = self.setup.tools.clone();
        let workspace = Workspace {
            conversation: None,
            agent: self.setup.agent.clone(),
        };
        tokio::spawn(async move {
            let offer = run_loop::offer(&engine, &user, &tools).await;
            if !offer.problems.is_empty() {
                tracing::warn!(problems = %offer.problems.join(" "), "an agent's tools are partly unavailable");
            }
            request.tools = offer.specs;
            let mut out = Outcome::default();
            let mut sink = ChannelSink { tx: tx.clone() };
            run_loop::run(
                &engine,
                &offer.ctx,
                &workspace,
                &*base,
                &mut request,
                &mut out,
                &mut sink,
            )
            .await;
            if let Some(usage) = out.usage {
                let _ = tx.send(Ok(StreamEvent::Usage(usage))).await;
            }
            let last = match (out.failure, out.finish) {
                (Some(e), _) => Err(e),
                (None, Some(reason)) => Ok(StreamEvent::Finish(reason)),
                // Stopped: the client is gone, nobody reads this.
                (None, None) => return,
            };
            let _ = tx.send(last).await;
        });
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        }))
    }
}

/// Sends the answer's text to the API client as it comes; tool steps run on
/// the server and are not part of an OpenAI answer.
struct ChannelSink {
    tx: mpsc::Sender<Result<StreamEvent, GatewayError>>,
}

impl Sink for ChannelSink {
    async fn text(&mut self, text: &str) {
        self.forward(StreamEvent::Text(text.into())).await;
    }

    async fn reasoning(&mut self, text: &str) {
        self.forward(StreamEvent::Reasoning(text.into())).await;
    }

    /// Sent once, summed, at the end.
    async fn usage(&mut self, _total: Usage) {}

    async fn tool_call(&mut self, _step: &ToolStep) {}

    async fn tool_result(&mut self, _step: &ToolStep) {}

    async fn progress(&mut self, _out: &Outcome, _round_done: bool) {}

    fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        self.tx.closed()
    }
}

impl ChannelSink {
    async fn forward(&mut self, event: StreamEvent) {
        // A client that left is noticed by `cancelled`.
        let _ = self.tx.send(Ok(event)).await;
    }
}
