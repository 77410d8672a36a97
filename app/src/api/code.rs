//! Server function behind the Run button on code blocks.

use super::ApiError;
#[cfg(feature = "ssr")]
use super::ssr;
use chorus_types::CodeRunView;
#[cfg(feature = "ssr")]
use chorus_types::ConversationId;
use leptos::prelude::*;

/// Runs a code block of one of the user's conversations in the code sandbox.
/// Runs of one conversation share `/mnt/data`, so files persist between them.
#[server(prefix = "/api", endpoint = "code/run")]
pub async fn run_code(
    conversation: String,
    lang: String,
    code: String,
) -> Result<CodeRunView, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .run_code_block(&user.id, &ConversationId(conversation), &lang, &code)
        .await?)
}
