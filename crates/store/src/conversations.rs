use crate::{Result, Store, StoreError, expect_touched, new_id, now_millis};
use chorus_types::{ConversationId, ConversationSummary, ForkOrigin, MessageId, UserId};
use surrealdb::types::SurrealValue;

#[derive(SurrealValue)]
struct Touch {
    endpoint: String,
    model: String,
    at: i64,
}

#[derive(SurrealValue)]
struct SummaryRow {
    id: String,
    title: String,
    updated_at: i64,
}

/// A conversation's own fields (its messages come from `messages`).
#[derive(Clone, Debug, PartialEq, SurrealValue)]
pub struct ConversationRow {
    pub id: String,
    pub title: String,
    pub endpoint: Option<String>,
    pub model: Option<String>,
    pub updated_at: i64,
    pub leaf: Option<String>,
    pub forked_from_conversation: Option<String>,
    pub forked_from_message: Option<String>,
    /// The tools offered to the model at the last message.
    pub tools: Option<Vec<String>>,
    /// The agent the conversation is with.
    pub agent: Option<String>,
}

impl ConversationRow {
    pub fn forked_from(&self) -> Option<ForkOrigin> {
        Some(ForkOrigin {
            conversation: ConversationId(self.forked_from_conversation.clone()?),
            message: MessageId(self.forked_from_message.clone()?),
        })
    }
}

impl Store {
    pub async fn create_conversation(
        &self,
        owner: &UserId,
        title: &str,
        endpoint: &str,
        model: &str,
    ) -> Result<ConversationId> {
        let id = new_id();
        let now = now_millis();
        self
            .query(
                "CREATE type::record('conversation', $id) SET owner = type::record('user', $owner),
                 title = $title, endpoint = $endpoint, model = $model, created_at = $now, updated_at = $now",
            )
            .bind(("id", id.clone()))
            .bind(("owner", owner.0.clone()))
            .bind(("title", title.to_string()))
            .bind(("endpoint", endpoint.to_string()))
            .bind(("model", model.to_string()))
            .bind(("now", now))
            .run()
            .await?;
        Ok(ConversationId(id))
    }

    /// The user's conversations, most recently active first.
    pub async fn list_conversations(&self, owner: &UserId) -> Result<Vec<ConversationSummary>> {
        let mut res = self
            .query(
                "SELECT record::id(id) AS id, title, updated_at FROM conversation
                 WHERE owner = type::record('user', $owner) ORDER BY updated_at DESC, id DESC",
            )
            .bind(("owner", owner.0.clone()))
            .run()
            .await?;
        let rows: Vec<SummaryRow> = res.take(0)?;
        Ok(rows
            .into_iter()
            .map(|r| ConversationSummary {
                id: ConversationId(r.id),
                title: r.title,
                updated_at: r.updated_at,
            })
            .collect())
    }

    pub async fn conversation(
        &self,
        owner: &UserId,
        id: &ConversationId,
    ) -> Result<Option<ConversationRow>> {
        let mut res = self
            .query(
                "SELECT record::id(id) AS id, title, endpoint, model, updated_at, leaf,
                 forked_from_conversation, forked_from_message, tools, agent FROM conversation
                 WHERE id = type::record('conversation', $id) AND owner = type::record('user', $owner)",
            )
            .bind(("id", id.0.clone()))
            .bind(("owner", owner.0.clone()))
            .run()
            .await?;
        let mut rows: Vec<ConversationRow> = res.take(0)?;
        Ok(rows.pop())
    }

    pub async fn set_conversation_title(
        &self,
        owner: &UserId,
        id: &ConversationId,
        title: &str,
    ) -> Result<()> {
        self.update_conversation(owner, id, "title = $title", ("title", title.to_string()))
            .await
    }

    /// Marks the conversation active now with the endpoint and model last used.
    pub async fn touch_conversation(
        &self,
        owner: &UserId,
        id: &ConversationId,
        endpoint: &str,
        model: &str,
    ) -> Result<()> {
        self.update_conversation(
            owner,
            id,
            "endpoint = $value.endpoint, model = $value.model, updated_at = $value.at",
            (
                "value",
                Touch {
                    endpoint: endpoint.to_string(),
                    model: model.to_string(),
                    at: now_millis(),
                },
            ),
        )
        .await
    }

    /// Makes the conversation one with `agent`.
    pub async fn set_conversation_agent(
        &self,
        owner: &UserId,
        id: &ConversationId,
        agent: &str,
    ) -> Result<()> {
        self.update_conversation(owner, id, "agent = $agent", ("agent", agent.to_string()))
            .await
    }

    /// Remembers the tools offered to the model at the conversation's last
    /// message, so the next one offers them again.
    pub async fn set_conversation_tools(
        &self,
        owner: &UserId,
        id: &ConversationId,
        tools: &[String],
    ) -> Result<()> {
        self.update_conversation(owner, id, "tools = $tools", ("tools", tools.to_vec()))
            .await
    }

    /// Deletes the conversation with all its messages, in one transaction: the
    /// ownership-checked delete of the conversation decides, its messages go
    /// with it or not at all. SurrealDB removes the `reply` edges of deleted
    /// messages itself. `NotFound` when `owner` has no such conversation.
    pub async fn delete_conversation(&self, owner: &UserId, id: &ConversationId) -> Result<()> {
        let mut res = self
            .query(
                "BEGIN TRANSACTION;
                 LET $c = type::record('conversation', $id);
                 LET $deleted = (DELETE $c WHERE owner = type::record('user', $owner) RETURN BEFORE);
                 IF array::len($deleted) > 0 {
                     DELETE message WHERE conversation = $c;
                 };
                 RETURN array::len($deleted);
                 COMMIT TRANSACTION;",
            )
            .bind(("id", id.0.clone()))
            .bind(("owner", owner.0.clone()))
            .run()
            .await?;
        // BEGIN and COMMIT have result slots too: the RETURN is second to last.
        let returned = res.num_statements() - 2;
        let deleted: Option<i64> = res.take(returned)?;
        if deleted.unwrap_or(0) == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn update_conversation(
        &self,
        owner: &UserId,
        id: &ConversationId,
        set: &str,
        var: (&'static str, impl SurrealValue + 'static),
    ) -> Result<()> {
        let mut res = self
            .query(format!(
                "UPDATE type::record('conversation', $id) SET {set}
                 WHERE owner = type::record('user', $owner) RETURN VALUE record::id(id)"
            ))
            .bind(("id", id.0.clone()))
            .bind(("owner", owner.0.clone()))
            .bind(var)
            .run()
            .await?;
        expect_touched(&mut res, 0)
    }
}
