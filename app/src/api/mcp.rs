//! Server functions for Settings → MCP servers: the values users enter for
//! servers that ask for them (values go in; only "entered or not" comes out),
//! and the remote servers users add for themselves.

use super::ApiError;
#[cfg(feature = "ssr")]
use super::ssr;
use chorus_types::{McpVarsView, UserMcpServerSpec, UserMcpServerView};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use std::collections::BTreeMap;

#[server(prefix = "/api", endpoint = "mcp/vars")]
pub async fn mcp_var_forms() -> Result<Vec<McpVarsView>, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.mcp_var_forms(&user.id).await?)
}

/// Stores the values; one left empty keeps what was entered before.
#[server(prefix = "/api", endpoint = "mcp/vars/set", input = Json)]
pub async fn set_mcp_vars(
    server: String,
    values: BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .set_mcp_vars(&user.id, &server, values)
        .await?)
}

#[server(prefix = "/api", endpoint = "mcp/vars/clear")]
pub async fn clear_mcp_vars(server: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .clear_mcp_vars(&user.id, &server)
        .await?)
}

#[server(prefix = "/api", endpoint = "mcp/servers")]
pub async fn user_mcp_servers() -> Result<Vec<UserMcpServerView>, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?.engine.user_mcp_servers(&user.id).await?)
}

#[server(prefix = "/api", endpoint = "mcp/servers/add", input = Json)]
pub async fn add_user_mcp_server(spec: UserMcpServerSpec) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .add_user_mcp_server(&user.id, spec)
        .await?)
}

#[server(prefix = "/api", endpoint = "mcp/servers/delete")]
pub async fn delete_user_mcp_server(name: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .delete_user_mcp_server(&user.id, &name)
        .await?)
}
