//! Server functions for the conversation tree: edit, regenerate, switch the
//! thread shown, delete a message, fork.

use super::ApiError;
#[cfg(feature = "ssr")]
use super::ssr;
#[cfg(feature = "ssr")]
use chorus_types::{ConversationId, MessageId};
use chorus_types::{ForkOption, SendResult};
use leptos::prelude::*;

/// Changes a message's text; no new answer.
#[server(prefix = "/api", endpoint = "message/edit")]
pub async fn edit_message(
    conversation: String,
    message: String,
    text: String,
) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .edit_message(
            &user.id,
            &ConversationId(conversation),
            &MessageId(message),
            &text,
        )
        .await?)
}

/// Sends an edited version of one of the user's messages as a new branch.
#[server(prefix = "/api", endpoint = "message/resubmit")]
pub async fn resubmit_message(
    conversation: String,
    message: String,
    text: String,
    endpoint: String,
    model: String,
) -> Result<SendResult, ApiError> {
    let user = ssr::user().await?;
    let request = chorus_engine::Resubmit {
        conversation: ConversationId(conversation),
        message: MessageId(message),
        text,
        endpoint,
        model,
    };
    Ok(ssr::state()?.engine.resubmit(&user.id, request).await?)
}

/// A new answer beside an old one, by the model named or the same one.
#[server(prefix = "/api", endpoint = "message/regenerate")]
pub async fn regenerate_answer(
    conversation: String,
    message: String,
    endpoint: Option<String>,
    model: Option<String>,
) -> Result<SendResult, ApiError> {
    let user = ssr::user().await?;
    let request = chorus_engine::Regenerate {
        conversation: ConversationId(conversation),
        message: MessageId(message),
        endpoint: endpoint.filter(|e| !e.is_empty()),
        model: model.filter(|m| !m.is_empty()),
    };
    Ok(ssr::state()?.engine.regenerate(&user.id, request).await?)
}

/// Deletes a message and what follows it; returns how many went.
#[server(prefix = "/api", endpoint = "message/delete")]
pub async fn delete_message(conversation: String, message: String) -> Result<usize, ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .delete_message(&user.id, &ConversationId(conversation), &MessageId(message))
        .await?)
}

/// Remembers the thread the user switched to.
#[server(prefix = "/api", endpoint = "conversation/thread")]
pub async fn show_thread(conversation: String, leaf: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    Ok(ssr::state()?
        .engine
        .show_thread(&user.id, &ConversationId(conversation), &MessageId(leaf))
        .await?)
}

/// Copies part of a conversation into a new one; returns its id.
#[server(prefix = "/api", endpoint = "conversation/fork")]
pub async fn fork_conversation(
    conversation: String,
    message: String,
    option: ForkOption,
    start_here: bool,
) -> Result<String, ApiError> {
    let user = ssr::user().await?;
    let id = ssr::state()?
        .engine
        .fork(
            &user.id,
            &ConversationId(conversation),
            &MessageId(message),
            option,
            start_here,
        )
        .await?;
    Ok(id.0)
}
