//! Server functions for the values users enter for MCP servers that ask for
//! them (Settings → MCP servers). Values go in; only "entered or not" comes out.

use super::ApiError;
#[cfg(feature = "ssr")]
use super::ssr;
use chorus_types::McpVarsView;
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
