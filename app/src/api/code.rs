//! Server function behind the Run button on code blocks.

use super::ApiError;
#[cfg(feature = "ssr")]
use super::ssr;
#[cfg(feature = "ssr")]
use chorus_types::ConversationId;
use chorus_types::{CodeFileView, CodeRunView};
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

/// The files in a conversation's `/mnt/data` (uploads and what runs wrote).
#[server(prefix = "/api", endpoint = "code/files")]
pub async fn code_files(conversation: String) -> Result<Vec<CodeFileView>, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .code_files(&user.id, &ConversationId(conversation))
        .await?)
}

#[server(prefix = "/api", endpoint = "code/files/delete")]
pub async fn delete_code_file(conversation: String, file: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .delete_code_file(&user.id, &ConversationId(conversation), &file)
        .await?)
}
