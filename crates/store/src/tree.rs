//! Changes to the shape of a conversation: which thread is shown, editing a
//! message in place, deleting a branch, and copying part of a tree into a new
//! conversation (a fork). Which messages an operation touches is decided by
//! `chorus_types::Tree`; these functions apply it in one transaction, scoped
//! to the owner.

use crate::{Result, Store, expect_touched, new_id, now_millis, thrown_not_found};
use chorus_types::{ConversationId, MessageId, MessageState, MessageView, UserId};
use std::collections::HashMap;
use surrealdb::types::{RecordId, SurrealValue};

/// A new conversation made of copies of another's messages.
pub struct ForkCopy<'a> {
    pub source: &'a ConversationId,
    pub target: &'a MessageId,
    pub title: &'a str,
    pub endpoint: Option<&'a str>,
    pub model: Option<&'a str>,
    /// Parents before children (as `Tree::fork_selection` returns them).
    pub messages: &'a [&'a MessageView],
    /// The copied message whose thread the fork opens on.
    pub leaf: &'a MessageId,
}

#[derive(SurrealValue)]
struct CopiedMessage {
    id: RecordId,
    owner: RecordId,
    conversation: RecordId,
    role: String,
    text: String,
    reasoning: Option<String>,
    state: String,
    error: Option<String>,
    endpoint: Option<String>,
    model: Option<String>,
    created_at: i64,
    tools: Option<String>,
    files: Option<String>,
}

#[derive(SurrealValue)]
struct Edge {
    #[surreal(rename = "in")]
    parent: RecordId,
    #[surreal(rename = "out")]
    child: RecordId,
    conversation: RecordId,
}

#[derive(SurrealValue)]
struct NewFork {
    id: RecordId,
    owner: RecordId,
    title: String,
    endpoint: Option<String>,
    model: Option<String>,
    leaf: Option<String>,
    forked_from_conversation: String,
    forked_from_message: String,
    now: i64,
}

fn message(id: &str) -> RecordId {
    RecordId::new("message", id)
}

impl Store {
    /// Remembers `leaf` as the end of the thread the user looks at in
    /// `conversation`. `NotFound` unless both are the owner's and the message
    /// is in that conversation.
    pub async fn set_leaf(
        &self,
        owner: &UserId,
        conversation: &ConversationId,
        leaf: &MessageId,
    ) -> Result<()> {
        let mut res = self
            .query(
                "LET $m = type::record('message', $leaf);
                 UPDATE type::record('conversation', $conv) SET leaf = $leaf
                 WHERE owner = type::record('user', $owner) AND $m.conversation = id
                 AND $m.owner = owner RETURN VALUE record::id(id)",
            )
            .bind(("leaf", leaf.0.clone()))
            .bind(("conv", conversation.0.clone()))
            .bind(("owner", owner.0.clone()))
            .run()
            .await?;
        expect_touched(&mut res, 1)
    }

    /// Replaces the text of one of `owner`'s messages that is not being
    /// written. `NotFound` otherwise.
    pub async fn edit_text(&self, owner: &UserId, id: &MessageId, text: &str) -> Result<()> {
        let mut res = self
            .query(
                "UPDATE type::record('message', $id) SET text = $text
                 WHERE owner = type::record('user', $owner) AND state != 'streaming'
                 RETURN VALUE record::id(id)",
            )
            .bind(("id", id.0.clone()))
            .bind(("owner", owner.0.clone()))
            .bind(("text", text.to_string()))
            .run()
            .await?;
        expect_touched(&mut res, 0)
    }

    /// Deletes `ids` (a message and its subtree) from `owner`'s conversation
    /// and points the conversation at `leaf`, in one transaction. SurrealDB
    /// drops the edges of deleted messages. Returns how many were deleted.
    pub async fn delete_messages(
        &self,
        owner: &UserId,
        conversation: &ConversationId,
        ids: &[MessageId],
        leaf: Option<&MessageId>,
    ) -> Result<usize> {
        let records: Vec<RecordId> = ids.iter().map(|m| message(&m.0)).collect();
        let mut res = self
            .query(
                "BEGIN TRANSACTION;
                 LET $c = type::record('conversation', $conv);
                 IF $c.owner != type::record('user', $owner) { THROW 'no such conversation' };
                 LET $gone = (DELETE message WHERE id IN $ids AND conversation = $c RETURN BEFORE);
                 UPDATE $c SET leaf = $leaf;
                 RETURN array::len($gone);
                 COMMIT TRANSACTION;",
            )
            .bind(("conv", conversation.0.clone()))
            .bind(("owner", owner.0.clone()))
            .bind(("ids", records))
            .bind(("leaf", leaf.map(|l| l.0.clone())))
            .run()
            .await
            .map_err(thrown_not_found)?;
        let returned = res.num_statements() - 2;
        let deleted: Option<i64> = res.take(returned)?;
        Ok(deleted.unwrap_or(0) as usize)
    }

    /// Creates a conversation for `owner` holding copies of `fork.messages`
    /// (new ids, same parent links among the copies, same texts and times;
    /// an answer still being written is copied as stopped), in one
    /// transaction. The caller has read the messages from `owner`'s own
    /// conversation. Returns the new conversation and the copy of each id.
    pub async fn copy_fork(
        &self,
        owner: &UserId,
        fork: ForkCopy<'_>,
    ) -> Result<(ConversationId, HashMap<MessageId, MessageId>)> {
        let conversation = new_id();
        let conv_record = RecordId::new("conversation", conversation.as_str());
        let owner_record = RecordId::new("user", owner.0.as_str());
        let copies: HashMap<MessageId, MessageId> = fork
            .messages
            .iter()
            .map(|m| (m.id.clone(), MessageId(new_id())))
            .collect();
        let rows: Vec<CopiedMessage> = fork
            .messages
            .iter()
            .map(|m| CopiedMessage {
                id: message(&copies[&m.id].0),
                owner: owner_record.clone(),
                conversation: conv_record.clone(),
                role: m.role.as_str().into(),
                text: m.text.clone(),
                reasoning: (!m.reasoning.is_empty()).then(|| m.reasoning.clone()),
                state: match m.state {
                    MessageState::Streaming => "stopped".into(),
                    other => other.as_str().into(),
                },
                error: m.error.clone(),
                endpoint: m.endpoint.clone(),
                model: m.model.clone(),
                created_at: m.created_at,
                tools: crate::messages::list_json(&m.tools),
                files: crate::messages::list_json(&m.files),
            })
            .collect();
        let edges: Vec<Edge> = fork
            .messages
            .iter()
            .filter_map(|m| {
                let parent = copies.get(m.parent.as_ref()?)?;
                Some(Edge {
                    parent: message(&parent.0),
                    child: message(&copies[&m.id].0),
                    conversation: conv_record.clone(),
                })
            })
            .collect();
        let new = NewFork {
            id: conv_record,
            owner: owner_record,
            title: fork.title.to_string(),
            endpoint: fork.endpoint.map(Into::into),
            model: fork.model.map(Into::into),
            leaf: copies.get(fork.leaf).map(|l| l.0.clone()),
            forked_from_conversation: fork.source.0.clone(),
            forked_from_message: fork.target.0.clone(),
            now: now_millis(),
        };
        self.query(
            "BEGIN TRANSACTION;
                 CREATE $c.id SET owner = $c.owner, title = $c.title, endpoint = $c.endpoint,
                     model = $c.model, leaf = $c.leaf, created_at = $c.now, updated_at = $c.now,
                     forked_from_conversation = $c.forked_from_conversation,
                     forked_from_message = $c.forked_from_message RETURN NONE;
                 INSERT INTO message $rows RETURN NONE;
                 INSERT RELATION INTO reply $edges RETURN NONE;
                 COMMIT TRANSACTION;",
        )
        .bind(("c", new))
        .bind(("rows", rows))
        .bind(("edges", edges))
        .run()
        .await?;
        Ok((ConversationId(conversation), copies))
    }
}

#[cfg(test)]
mod tests;
