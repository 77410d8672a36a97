use crate::job::{self, JobSpec};
use crate::{Engine, EngineError, title};
use chorus_gateway::ChatMessage;
use chorus_store::NewMessage;
use chorus_streams::{JobMeta, Notice};
use chorus_types::{
    ConversationId, ConversationSummary, ConversationView, JobId, MessageId, MessageState, Role,
    SendResult, SequencedEvent, UserEvent, UserId,
};
use futures::Stream;

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 100_000;
/// Longest conversation title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// A user's new message.
#[derive(Clone, Debug)]
pub struct SendRequest {
    /// `None` starts a new conversation.
    pub conversation: Option<ConversationId>,
    pub endpoint: String,
    pub model: String,
    pub text: String,
}

impl Engine {
    pub async fn conversations(
        &self,
        user: &UserId,
    ) -> Result<Vec<ConversationSummary>, EngineError> {
        Ok(self.store.list_conversations(user).await?)
    }

    pub async fn conversation(
        &self,
        user: &UserId,
        id: &ConversationId,
    ) -> Result<ConversationView, EngineError> {
        let row = self
            .store
            .conversation(user, id)
            .await?
            .ok_or(EngineError::NotFound)?;
        let messages = self.store.messages(user, id).await?;
        Ok(ConversationView {
            id: ConversationId(row.id),
            title: row.title,
            endpoint: row.endpoint,
            model: row.model,
            messages,
        })
    }

    /// Stores the user's message and an empty assistant message, starts the job
    /// that writes the answer, and returns at once. The job does not depend on
    /// the caller staying connected.
    pub async fn send(&self, user: &UserId, req: SendRequest) -> Result<SendResult, EngineError> {
        let text = req.text.trim();
        if text.is_empty() {
            return Err(EngineError::Invalid("Type a message first.".into()));
        }
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(EngineError::Invalid(format!(
                "This message is longer than {MAX_MESSAGE_CHARS} characters."
            )));
        }
        let endpoint = self.gateway.endpoint_config(&req.endpoint).map_err(|_| {
            EngineError::Invalid(format!(
                "There is no endpoint named {:?} on this server.",
                req.endpoint
            ))
        })?;
        if req.model.trim().is_empty() {
            return Err(EngineError::Invalid("Pick a model first.".into()));
        }
        // Refuse before anything is stored: the answer could only fail.
        self.require_user_key(user, &req.endpoint, endpoint).await?;
        let title_model = endpoint
            .title_convo
            .then(|| endpoint.title_model_for(&req.model).to_string());

        let (conversation, history, is_new) = match &req.conversation {
            Some(id) => {
                self.store
                    .conversation(user, id)
                    .await?
                    .ok_or(EngineError::NotFound)?;
                (id.clone(), self.store.messages(user, id).await?, false)
            }
            None => {
                let title = title::fallback(text);
                let id = self
                    .store
                    .create_conversation(user, &title, &req.endpoint, &req.model)
                    .await?;
                self.events.publish(
                    user,
                    UserEvent::ConversationCreated {
                        conversation: id.clone(),
                        title,
                    },
                );
                (id, Vec::new(), true)
            }
        };

        let user_message = self
            .store
            .add_message(
                user,
                NewMessage {
                    conversation: &conversation,
                    parent: history.last().map(|m| &m.id),
                    role: Role::User,
                    text,
                    state: MessageState::Complete,
                    endpoint: None,
                    model: None,
                    job: None,
                },
            )
            .await?;
        let job_id = JobId(chorus_store::new_id());
        let assistant_message = self
            .store
            .add_message(
                user,
                NewMessage {
                    conversation: &conversation,
                    parent: Some(&user_message),
                    role: Role::Assistant,
                    text: "",
                    state: MessageState::Streaming,
                    endpoint: Some(&req.endpoint),
                    model: Some(&req.model),
                    job: Some(&job_id),
                },
            )
            .await?;
        if !is_new {
            self.store
                .touch_conversation(user, &conversation, &req.endpoint, &req.model)
                .await?;
        }

        // The model sees the finished turns before this one, then the new message.
        let mut context = context_of(&history);
        context.push(ChatMessage::user(text));

        self.start_job(
            job_id.clone(),
            JobSpec {
                user: user.clone(),
                conversation: conversation.clone(),
                message: assistant_message.clone(),
                endpoint: req.endpoint.clone(),
                model: req.model.clone(),
                context,
                title_model: if is_new { title_model } else { None },
                resume: None,
            },
        );
        Ok(SendResult {
            conversation,
            user_message,
            assistant_message,
            job: job_id,
        })
    }

    /// Continues an answer that stopped (by the user, an error, or a restart):
    /// a new job asks the model to go on from the text so far and appends to
    /// the same message. Returns the job to follow.
    pub async fn continue_answer(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        message: &MessageId,
    ) -> Result<JobId, EngineError> {
        let history = self.store.messages(user, conversation).await?;
        let at = history
            .iter()
            .position(|m| m.id == *message)
            .ok_or(EngineError::NotFound)?;
        let answer = &history[at];
        // Later turns were written after (and from) this answer as it stood.
        if at + 1 != history.len() {
            return Err(EngineError::Invalid(
                "Only the latest answer can be continued.".into(),
            ));
        }
        if answer.role != Role::Assistant
            || !matches!(answer.state, MessageState::Stopped | MessageState::Failed)
        {
            return Err(EngineError::Invalid(
                "Only an answer that stopped can be continued.".into(),
            ));
        }
        if answer.text.trim().is_empty() {
            return Err(EngineError::Invalid(
                "This answer has no text to continue from; send your message again.".into(),
            ));
        }
        let (Some(endpoint), Some(model)) = (answer.endpoint.clone(), answer.model.clone()) else {
            return Err(EngineError::Invalid(
                "This answer does not say which model wrote it, so it cannot be continued; send your message again.".into(),
            ));
        };
        let Ok(config) = self.gateway.endpoint_config(&endpoint) else {
            return Err(EngineError::Invalid(format!(
                "The endpoint {endpoint:?} that wrote this answer is no longer configured; send your message again with another model."
            )));
        };
        self.require_user_key(user, &endpoint, config).await?;
        // The turns before the answer, then the answer so far, which the model
        // carries on from.
        let mut context = context_of(&history[..at]);
        context.push(ChatMessage::assistant(answer.text.clone()));

        let job_id = JobId(chorus_store::new_id());
        if !self.store.start_continuing(user, message, &job_id).await? {
            return Err(EngineError::Invalid(
                "This answer is already being written.".into(),
            ));
        }
        self.start_job(
            job_id.clone(),
            JobSpec {
                user: user.clone(),
                conversation: conversation.clone(),
                message: message.clone(),
                endpoint,
                model,
                context,
                title_model: None,
                resume: Some((answer.text.clone(), answer.reasoning.clone())),
            },
        );
        Ok(job_id)
    }

    /// Refuses when `endpoint` runs on the user's own key and they stored none:
    /// the answer could only fail.
    async fn require_user_key(
        &self,
        user: &UserId,
        name: &str,
        endpoint: &chorus_config::Endpoint,
    ) -> Result<(), EngineError> {
        if endpoint.needs_user_credentials() && self.store.user_key(user, name).await?.is_none() {
            return Err(EngineError::Invalid(format!(
                "{} runs on your own API key. Add it in Settings under Provider keys, then try again.",
                endpoint.label()
            )));
        }
        Ok(())
    }

    /// Registers job `id`'s log, runs it on its own task and tells the user's
    /// open tabs that it started.
    fn start_job(&self, id: JobId, spec: JobSpec) {
        let writer = self.jobs.create(
            id.clone(),
            JobMeta {
                owner: spec.user.clone(),
                conversation: spec.conversation.clone(),
            },
        );
        let (user, conversation) = (spec.user.clone(), spec.conversation.clone());
        job::spawn(self.clone(), writer, spec);
        self.events.publish(
            &user,
            UserEvent::JobStarted {
                conversation,
                job: id,
            },
        );
    }

    /// The job's events after `after`, then live ones. `None` when `user` has no
    /// such job (finished long ago, never existed, or someone else's).
    pub fn watch(
        &self,
        user: &UserId,
        job: &JobId,
        after: u64,
    ) -> Option<impl Stream<Item = SequencedEvent> + Send + 'static> {
        self.jobs.subscribe(job, user, after)
    }

    /// Renames one of `user`'s conversations; every open tab hears of it.
    /// Returns the title as saved (runs of whitespace become one space).
    pub async fn rename_conversation(
        &self,
        user: &UserId,
        id: &ConversationId,
        title: &str,
    ) -> Result<String, EngineError> {
        let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
        if title.is_empty() {
            return Err(EngineError::Invalid("A title cannot be empty.".into()));
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(EngineError::Invalid(format!(
                "A title can be at most {MAX_TITLE_CHARS} characters."
            )));
        }
        self.store.set_conversation_title(user, id, &title).await?;
        self.events.publish(
            user,
            UserEvent::ConversationRenamed {
                conversation: id.clone(),
                title: title.clone(),
            },
        );
        Ok(title)
    }

    /// Deletes one of `user`'s conversations with all its messages. An answer
    /// still being written there is stopped first.
    pub async fn delete_conversation(
        &self,
        user: &UserId,
        id: &ConversationId,
    ) -> Result<(), EngineError> {
        self.jobs.abort_conversation(user, id);
        self.store.delete_conversation(user, id).await?;
        self.events.publish(
            user,
            UserEvent::ConversationDeleted {
                conversation: id.clone(),
            },
        );
        Ok(())
    }

    /// What changes in `user`'s conversations from now on (every tab holds one).
    pub fn notices(&self, user: &UserId) -> impl Stream<Item = Notice> + Send + 'static {
        self.events.subscribe(user)
    }

    /// Asks `user`'s running job to stop; the partial answer is kept.
    pub fn stop(&self, user: &UserId, job: &JobId) -> bool {
        self.jobs.abort(job, user)
    }
}

/// What the model is shown of earlier turns: the user's messages and the answers
/// that finished or were stopped (failed ones are left out), without empty ones.
fn context_of(history: &[chorus_types::MessageView]) -> Vec<ChatMessage> {
    history
        .iter()
        .filter(|m| {
            m.role == Role::User
                || matches!(m.state, MessageState::Complete | MessageState::Stopped)
        })
        .filter(|m| !m.text.is_empty())
        .map(|m| match m.role {
            Role::Assistant => ChatMessage::assistant(m.text.clone()),
            _ => ChatMessage::user(m.text.clone()),
        })
        .collect()
}
