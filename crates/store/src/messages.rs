use crate::{Result, Store, expect_touched, new_id, now_millis, thrown_not_found};
use chorus_types::{
    CodeFileView, ConversationId, JobId, MessageId, MessageState, MessageView, Role, ToolStep,
    Usage, UserId,
};
use std::collections::HashMap;
use surrealdb::types::SurrealValue;

/// What to store for a new message.
#[derive(Clone, Debug)]
pub struct NewMessage<'a> {
    pub conversation: &'a ConversationId,
    /// The message this one answers or follows (`parent->reply->child`).
    pub parent: Option<&'a MessageId>,
    pub role: Role,
    pub text: &'a str,
    pub state: MessageState,
    pub endpoint: Option<&'a str>,
    pub model: Option<&'a str>,
    pub job: Option<&'a JobId>,
}

/// The outcome of a generation, written when its job ends (and as partial
/// progress while it runs).
#[derive(Clone, Debug, Default)]
pub struct MessageUpdate {
    pub text: String,
    /// `None` keeps what is stored.
    pub reasoning: Option<String>,
    pub state: Option<MessageState>,
    pub error: Option<String>,
    pub usage: Option<Usage>,
    /// `None` keeps what is stored.
    pub tools: Option<Vec<ToolStep>>,
}

#[derive(SurrealValue)]
struct MessageRow {
    id: String,
    role: String,
    text: String,
    reasoning: Option<String>,
    state: String,
    error: Option<String>,
    endpoint: Option<String>,
    model: Option<String>,
    job: Option<String>,
    created_at: i64,
    tools: Option<String>,
    files: Option<String>,
}

#[derive(SurrealValue)]
struct EdgeRow {
    parent: String,
    child: String,
}

#[derive(SurrealValue)]
struct NewMessageRow {
    id: String,
    owner: String,
    conversation: String,
    parent: Option<String>,
    role: String,
    text: String,
    state: String,
    endpoint: Option<String>,
    model: Option<String>,
    job: Option<String>,
    now: i64,
}

#[derive(SurrealValue)]
struct UpdateRow {
    id: String,
    owner: String,
    text: String,
    reasoning: Option<String>,
    state: Option<String>,
    error: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    tools: Option<String>,
}

impl Store {
    /// Stores a message in `conversation` (which must belong to `owner`) and links
    /// it under its parent.
    pub async fn add_message(&self, owner: &UserId, m: NewMessage<'_>) -> Result<MessageId> {
        let id = new_id();
        let row = NewMessageRow {
            id: id.clone(),
            owner: owner.0.clone(),
            conversation: m.conversation.0.clone(),
            parent: m.parent.map(|p| p.0.clone()),
            role: m.role.as_str().into(),
            text: m.text.into(),
            state: m.state.as_str().into(),
            endpoint: m.endpoint.map(Into::into),
            model: m.model.map(Into::into),
            job: m.job.map(|j| j.0.clone()),
            now: now_millis(),
        };
        self.query(
            "BEGIN TRANSACTION;
                 LET $conv = type::record('conversation', $m.conversation);
                 IF $conv.owner != type::record('user', $m.owner) { THROW 'no such conversation' };
                 LET $msg = CREATE ONLY type::record('message', $m.id) SET owner = $conv.owner,
                     conversation = $conv, role = $m.role, text = $m.text, state = $m.state,
                     endpoint = $m.endpoint, model = $m.model, job = $m.job, created_at = $m.now;
                 IF $m.parent != NONE {
                     LET $parent = type::record('message', $m.parent);
                     IF $parent.conversation != $conv { THROW 'no such conversation' };
                     LET $child = $msg.id;
                     RELATE $parent->reply->$child SET conversation = $conv;
                 };
                 UPDATE $conv SET leaf = $m.id;
                 COMMIT TRANSACTION;",
        )
        .bind(("m", row))
        .run()
        .await
        .map_err(thrown_not_found)?;
        Ok(MessageId(id))
    }

    /// Writes the text (and optionally state, error, usage) of `owner`'s message.
    pub async fn update_message(
        &self,
        owner: &UserId,
        id: &MessageId,
        update: MessageUpdate,
    ) -> Result<()> {
        let row = UpdateRow {
            id: id.0.clone(),
            owner: owner.0.clone(),
            text: update.text,
            reasoning: update.reasoning,
            state: update.state.map(|s| s.as_str().into()),
            error: update.error,
            input_tokens: update.usage.map(|u| u.input_tokens as i64),
            output_tokens: update.usage.map(|u| u.output_tokens as i64),
            tools: update.tools.as_deref().and_then(list_json),
        };
        let mut res = self
            .query(
                "UPDATE type::record('message', $u.id) SET text = $u.text,
                     reasoning = $u.reasoning ?? reasoning,
                     state = $u.state ?? state, error = $u.error ?? error,
                     input_tokens = $u.input_tokens ?? input_tokens,
                     output_tokens = $u.output_tokens ?? output_tokens,
                     tools = $u.tools ?? tools
                 WHERE owner = type::record('user', $u.owner) RETURN VALUE record::id(id)",
            )
            .bind(("u", row))
            .run()
            .await?;
        expect_touched(&mut res, 0)
    }

    /// Records the files `owner` attached to their message `id`.
    pub async fn set_message_files(
        &self,
        owner: &UserId,
        id: &MessageId,
        files: &[CodeFileView],
    ) -> Result<()> {
        let mut res = self
            .query(
                "UPDATE type::record('message', $id) SET files = $files
                 WHERE owner = type::record('user', $owner) RETURN VALUE record::id(id)",
            )
            .bind(("id", id.0.clone()))
            .bind(("owner", owner.0.clone()))
            .bind(("files", list_json(files)))
            .run()
            .await?;
        expect_touched(&mut res, 0)
    }

    /// Hands a stopped or failed answer of `owner` to `job`, which continues it:
    /// the state goes back to streaming and the old error is cleared. `false`
    /// when there is no such answer in that state (another tab was quicker).
    pub async fn start_continuing(
        &self,
        owner: &UserId,
        id: &MessageId,
        job: &JobId,
    ) -> Result<bool> {
        let mut res = self
            .query(
                "UPDATE type::record('message', $id) SET state = 'streaming', job = $job, error = NONE
                 WHERE owner = type::record('user', $owner) AND role = 'assistant'
                 AND state IN ['stopped', 'failed', 'interrupted'] RETURN VALUE record::id(id)",
            )
            .bind(("id", id.0.clone()))
            .bind(("owner", owner.0.clone()))
            .bind(("job", job.0.clone()))
            .run()
            .await?;
        let updated: Vec<String> = res.take(0)?;
        Ok(!updated.is_empty())
    }

    /// The messages of `owner`'s conversation, every branch, in the order they
    /// were written, each with its parent: one round trip, the messages and the
    /// conversation's `reply` edges.
    pub async fn messages(
        &self,
        owner: &UserId,
        conversation: &ConversationId,
    ) -> Result<Vec<MessageView>> {
        let mut res = self
            .query(
                "LET $c = type::record('conversation', $conv);
                 SELECT record::id(id) AS id, role, text, reasoning, state, error, endpoint, model, job, created_at, tools, files
                 FROM message WHERE conversation = $c AND owner = type::record('user', $owner) ORDER BY id;
                 SELECT record::id(in) AS parent, record::id(out) AS child FROM reply WHERE conversation = $c;",
            )
            .bind(("conv", conversation.0.clone()))
            .bind(("owner", owner.0.clone()))
            .run()
            .await?;
        let rows: Vec<MessageRow> = res.take(1)?;
        let edges: Vec<EdgeRow> = res.take(2)?;
        let mut parents: HashMap<String, String> =
            edges.into_iter().map(|e| (e.child, e.parent)).collect();
        Ok(rows
            .into_iter()
            .map(|r| MessageView {
                parent: parents.remove(&r.id).map(MessageId),
                id: MessageId(r.id),
                // The schema asserts both fields; an unknown value would be a bug.
                role: Role::parse(&r.role).unwrap_or(Role::User),
                text: r.text,
                reasoning: r.reasoning.unwrap_or_default(),
                state: MessageState::parse(&r.state).unwrap_or(MessageState::Failed),
                error: r.error,
                endpoint: r.endpoint,
                model: r.model,
                job: r.job.map(JobId),
                created_at: r.created_at,
                tools: parse_json(r.tools.as_deref()),
                files: parse_json(r.files.as_deref()),
            })
            .collect())
    }

    /// The jobs of every message still marked streaming (any user's: this is
    /// the server repairing itself at start).
    pub async fn streaming_jobs(&self) -> Result<Vec<JobId>> {
        let mut res = self
            .query("SELECT VALUE job FROM message WHERE state = 'streaming' AND job != NONE")
            .run()
            .await?;
        let jobs: Vec<String> = res.take(0)?;
        Ok(jobs.into_iter().map(JobId).collect())
    }

    /// Marks messages still streaming as interrupted with `reason`, except those
    /// whose job is in `running` (another instance, or this one after adopting
    /// it, is still writing them). Returns how many were marked.
    pub async fn mark_interrupted_messages(
        &self,
        reason: &str,
        running: &[JobId],
    ) -> Result<usize> {
        let running: Vec<String> = running.iter().map(|j| j.0.clone()).collect();
        let mut res = self
            .query(
                "UPDATE message SET state = 'interrupted', error = $reason
                 WHERE state = 'streaming' AND (job = NONE OR job NOTINSIDE $running)
                 RETURN VALUE record::id(id)",
            )
            .bind(("reason", reason.to_string()))
            .bind(("running", running))
            .run()
            .await?;
        let ids: Vec<String> = res.take(0)?;
        Ok(ids.len())
    }
}

/// A message's tool steps or files as stored (JSON text; `None` for none, so
/// most messages carry nothing).
pub(crate) fn list_json<T: serde::Serialize>(items: &[T]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).unwrap_or_default())
}

/// Stored tool steps or files; an unreadable value (written by a newer
/// version) shows as none rather than failing the whole conversation.
fn parse_json<T: serde::de::DeserializeOwned>(json: Option<&str>) -> Vec<T> {
    json.and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}
