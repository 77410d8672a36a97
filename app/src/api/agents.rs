//! Server functions for agents: the marketplace, the builder, sharing and
//! versions. Each checks what the signed-in user may do in the engine.

use super::ApiError;
#[cfg(feature = "ssr")]
use super::ssr;
#[cfg(feature = "ssr")]
use chorus_types::agent::AgentRole;
use chorus_types::agent::{AgentGrantView, AgentSpec, AgentVersionView, AgentView, GroupView};
use chorus_types::{EndpointView, ToolOption};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// The engine's error, with "not found" naming what was not found (the
/// default speaks of conversations).
#[cfg(feature = "ssr")]
fn missing(what: &'static str) -> impl Fn(chorus_engine::EngineError) -> ApiError {
    move |e| match e {
        chorus_engine::EngineError::NotFound => ApiError::Missing(format!(
            "This {what} does not exist, or is not shared with you."
        )),
        other => other.into(),
    }
}

/// The agents the user may chat with (theirs, shared with them, public).
#[server(prefix = "/api", endpoint = "agents")]
pub async fn list_agents() -> Result<Vec<AgentView>, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .agents(&user.id)
        .await
        .map_err(missing("agent"))
}

/// What the builder shows: the agent (none for a new one), the endpoints
/// and the tools to choose from. One call, so the page's render asks the
/// request for the user once (later calls in one render lost the request).
#[server(prefix = "/api", endpoint = "agents/builder")]
pub async fn agent_builder(
    id: Option<String>,
) -> Result<(Option<AgentView>, Vec<EndpointView>, Vec<ToolOption>), ApiError> {
    let user = ssr::user().await?;
    let engine = &ssr::state()?.engine;
    let agent = match id {
        Some(id) => Some(
            engine
                .agent(&user.id, &id)
                .await
                .map_err(missing("agent"))?,
        ),
        None => None,
    };
    Ok((
        agent,
        engine.endpoints(&user.id).await?,
        engine.tools().options(),
    ))
}

#[server(prefix = "/api", endpoint = "agents/get")]
pub async fn get_agent(id: String) -> Result<AgentView, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .agent(&user.id, &id)
        .await
        .map_err(missing("agent"))
}

#[server(prefix = "/api", endpoint = "agents/create", input = Json)]
pub async fn create_agent(spec: AgentSpec) -> Result<AgentView, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .create_agent(&user.id, spec)
        .await
        .map_err(missing("agent"))
}

/// Saves a new version of the agent.
#[server(prefix = "/api", endpoint = "agents/update", input = Json)]
pub async fn update_agent(id: String, spec: AgentSpec) -> Result<AgentView, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .update_agent(&user.id, &id, spec)
        .await
        .map_err(missing("agent"))
}

#[server(prefix = "/api", endpoint = "agents/delete")]
pub async fn delete_agent(id: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .delete_agent(&user.id, &id)
        .await
        .map_err(missing("agent"))
}

#[server(prefix = "/api", endpoint = "agents/versions")]
pub async fn agent_versions(id: String) -> Result<Vec<AgentVersionView>, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .agent_versions(&user.id, &id)
        .await
        .map_err(missing("agent"))
}

#[server(prefix = "/api", endpoint = "agents/restore")]
pub async fn restore_agent_version(id: String, version: u32) -> Result<AgentView, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .restore_agent_version(&user.id, &id, version)
        .await
        .map_err(missing("agent"))
}

/// Who the agent is shared with (its owner only).
#[server(prefix = "/api", endpoint = "agents/grants")]
pub async fn agent_grants(id: String) -> Result<Vec<AgentGrantView>, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .agent_grants(&user.id, &id)
        .await
        .map_err(missing("agent"))
}

/// Shares the agent with an account as `viewer` or `editor`; `none` stops sharing.
#[server(prefix = "/api", endpoint = "agents/share")]
pub async fn share_agent(id: String, email: String, role: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    let role = match role.as_str() {
        "none" => None,
        other => Some(
            AgentRole::parse(other)
                .ok_or_else(|| ApiError::Invalid("Pick viewer or editor.".into()))?,
        ),
    };
    ssr::state()?
        .engine
        .share_agent(&user.id, &id, &email, role)
        .await
        .map_err(missing("agent"))
}

/// Lets every user chat with the agent, or only those it is shared with.
#[server(prefix = "/api", endpoint = "agents/public")]
pub async fn set_agent_public(id: String, public: bool) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .set_agent_public(&user.id, &id, public)
        .await
        .map_err(missing("agent"))
}

/// Shows the agent first in everyone's marketplace (administrators only).
#[server(prefix = "/api", endpoint = "agents/promote")]
pub async fn promote_agent(id: String, promoted: bool) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .set_agent_promoted(&user.id, &id, promoted)
        .await
        .map_err(missing("agent"))
}

/// The files an agent's code can read in every chat with it.
#[server(prefix = "/api", endpoint = "agents/files")]
pub async fn agent_files(id: String) -> Result<Vec<chorus_types::CodeFileView>, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .agent_files(&user.id, &id)
        .await
        .map_err(missing("agent"))
}

#[server(prefix = "/api", endpoint = "agents/files/delete")]
pub async fn delete_agent_file(id: String, file: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .delete_agent_file(&user.id, &id, &file)
        .await
        .map_err(missing("agent"))
}

/// Every group with its members (administrators only).
#[server(prefix = "/api", endpoint = "groups")]
pub async fn list_groups() -> Result<Vec<GroupView>, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .groups(&user.id)
        .await
        .map_err(missing("group"))
}

#[server(prefix = "/api", endpoint = "groups/create")]
pub async fn create_group(name: String) -> Result<String, ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .create_group(&user.id, &name)
        .await
        .map_err(missing("group"))
}

/// Adds an account to a group (`member` true) or removes it.
#[server(prefix = "/api", endpoint = "groups/member")]
pub async fn set_group_member(group: String, email: String, member: bool) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .set_group_member(&user.id, &group, &email, member)
        .await
        .map_err(missing("group"))
}

#[server(prefix = "/api", endpoint = "groups/delete")]
pub async fn delete_group(id: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    ssr::state()?
        .engine
        .delete_group(&user.id, &id)
        .await
        .map_err(missing("group"))
}
