use crate::job::{self, JobSpec, Resume};
use crate::{Engine, EngineError, title};
use chorus_gateway::ChatMessage;
use chorus_store::{AgentRow, ConversationRow, NewMessage};
use chorus_streams::{JobMeta, Notice, Watched};
use chorus_types::agent::AgentRole;
use chorus_types::{
    CodeFileView, ConversationId, ConversationSummary, ConversationView, JobId, MessageId,
    MessageState, MessageView, Role, SendResult, Tree, UserEvent, UserId,
};
use futures::Stream;
use futures::stream::BoxStream;

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 100_000;
/// Longest conversation title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// A user's new message.
#[derive(Clone, Debug)]
pub struct SendRequest {
    /// `None` starts a new conversation.
    pub conversation: Option<ConversationId>,
    /// The message this one follows (the end of the thread on screen); `None`
    /// follows the thread the user last looked at.
    pub parent: Option<MessageId>,
    pub endpoint: String,
    pub model: String,
    pub text: String,
    /// The tools the model may call for this answer (`execute_code`…); kept
    /// on the conversation for the next message, regenerations and
    /// continuations.
    pub tools: Vec<String>,
    /// Files the user attached (ids from `Engine::attach_file`); they move to
    /// the conversation's `/mnt/data`.
    pub files: Vec<String>,
    /// Start the new conversation with this agent: its endpoint, model,
    /// instructions and tools are used (the request's are ignored).
    pub agent: Option<String>,
}

/// What a conversation gives the model besides its messages.
pub(crate) struct Setup {
    pub tools: Vec<String>,
    /// The agent's instructions (the system prompt).
    pub system: Option<String>,
    /// The agent the conversation is with.
    pub agent: Option<String>,
    pub sampling: Sampling,
}

/// Model parameters an agent sets (the model's defaults otherwise).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sampling {
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// An answer to write: under which question, by which model, from what.
pub(crate) struct Answer {
    pub conversation: ConversationId,
    pub question: MessageId,
    pub endpoint: String,
    pub model: String,
    pub context: Vec<ChatMessage>,
    pub title_model: Option<String>,
    /// Mark the conversation active with this endpoint and model.
    pub touch: bool,
    /// The tools to offer; `None` offers those the conversation offered last.
    pub tools: Option<Vec<String>>,
}

/// A message's text, trimmed, or why it cannot be sent.
pub(crate) fn message_text(text: &str) -> Result<&str, EngineError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(EngineError::Invalid("Type a message first.".into()));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(EngineError::Invalid(format!(
            "This message is longer than {MAX_MESSAGE_CHARS} characters."
        )));
    }
    Ok(text)
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
        let (row, messages) = self.load(user, id).await?;
        let forked_from = row.forked_from();
        Ok(ConversationView {
            id: ConversationId(row.id),
            title: row.title,
            endpoint: row.endpoint,
            model: row.model,
            messages,
            leaf: row.leaf.map(MessageId),
            forked_from,
            tools: row.tools.unwrap_or_default(),
            agent: match &row.agent {
                Some(agent) => self.agent(user, agent).await.ok(),
                None => None,
            },
        })
    }

    /// One of `user`'s conversations with all its messages (every branch);
    /// `NotFound` when it is not theirs.
    pub(crate) async fn load(
        &self,
        user: &UserId,
        id: &ConversationId,
    ) -> Result<(ConversationRow, Vec<MessageView>), EngineError> {
        let row = self
            .store
            .conversation(user, id)
            .await?
            .ok_or(EngineError::NotFound)?;
        Ok((row, self.store.messages(user, id).await?))
    }

    /// Stores the user's message and an empty assistant message, starts the job
    /// that writes the answer, and returns at once. The job does not depend on
    /// the caller staying connected.
    pub async fn send(
        &self,
        user: &UserId,
        mut req: SendRequest,
    ) -> Result<SendResult, EngineError> {
        let text = message_text(&req.text)?;
        // A new chat with an agent runs on the agent's endpoint and model.
        let agent = match (&req.agent, &req.conversation) {
            (Some(id), None) => {
                let agent = self.agent_row(user, id, AgentRole::Viewer).await?;
                req.endpoint = agent.endpoint.clone();
                req.model = agent.model.clone();
                req.tools = agent.tools.clone();
                Some(agent.id)
            }
            _ => None,
        };
        let endpoint = self.model_choice(user, &req.endpoint, &req.model).await?;
        // Refused before anything is stored: the answer could only fail.
        let tool_ctx = self.tool_context(user, &req.tools).await;
        self.tools()
            .check(&req.tools, &tool_ctx)
            .map_err(EngineError::Invalid)?;
        self.check_attachments(user, &req.files)?;
        let title_model = endpoint
            .title_convo
            .then(|| endpoint.title_model_for(&req.model).to_string());

        let (conversation, history, is_new) = match &req.conversation {
            Some(id) => {
                let (row, messages) = self.load(user, id).await?;
                let tree = Tree::new(&messages);
                // What the new message follows: the one the client names, or
                // the end of the thread the user last looked at.
                let path = match &req.parent {
                    Some(parent) => tree.path_to(parent),
                    None => tree.thread(row.leaf.map(MessageId).as_ref()),
                };
                if req.parent.is_some() && path.is_empty() {
                    return Err(EngineError::NotFound);
                }
                let path: Vec<MessageView> = path.into_iter().cloned().collect();
                (id.clone(), path, false)
            }
            None => {
                let title = title::fallback(text);
                let id = self
                    .store
                    .create_conversation(user, &title, &req.endpoint, &req.model)
                    .await?;
                if let Some(agent) = &agent {
                    self.store.set_conversation_agent(user, &id, agent).await?;
                }
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

        let question = self
            .add_question(user, &conversation, history.last().map(|m| &m.id), text)
            .await?;
        let files = self
            .take_attachments(user, &conversation, &question, &req.files)
            .await?;
        // The model sees the turns on the path to this one, then the new message.
        let mut context = context_of(&history);
        context.push(ChatMessage::user(with_files_note(text, &files)));
        self.answer(
            user,
            Answer {
                conversation,
                question,
                endpoint: req.endpoint,
                model: req.model,
                context,
                title_model: if is_new { title_model } else { None },
                touch: !is_new,
                tools: Some(req.tools),
            },
        )
        .await
    }

    /// Stores the user's message `text` under `parent`.
    pub(crate) async fn add_question(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        parent: Option<&MessageId>,
        text: &str,
    ) -> Result<MessageId, EngineError> {
        Ok(self
            .store
            .add_message(
                user,
                NewMessage {
                    conversation,
                    parent,
                    role: Role::User,
                    text,
                    state: MessageState::Complete,
                    endpoint: None,
                    model: None,
                    job: None,
                },
            )
            .await?)
    }

    /// Checks that `endpoint` exists, a model is picked, and the user can use
    /// it; refuses before anything is stored, as the answer could only fail.
    pub(crate) async fn model_choice(
        &self,
        user: &UserId,
        endpoint: &str,
        model: &str,
    ) -> Result<&chorus_config::Endpoint, EngineError> {
        let config = self.gateway.endpoint_config(endpoint).map_err(|_| {
            EngineError::Invalid(format!(
                "There is no endpoint named {endpoint:?} on this server."
            ))
        })?;
        if model.trim().is_empty() {
            return Err(EngineError::Invalid("Pick a model first.".into()));
        }
        self.require_user_key(user, endpoint, config).await?;
        Ok(config)
    }

    /// Stores an empty answer under `a.question` and starts the job that
    /// writes it.
    pub(crate) async fn answer(&self, user: &UserId, a: Answer) -> Result<SendResult, EngineError> {
        let job_id = JobId(chorus_store::new_id());
        let assistant_message = self
            .store
            .add_message(
                user,
                NewMessage {
                    conversation: &a.conversation,
                    parent: Some(&a.question),
                    role: Role::Assistant,
                    text: "",
                    state: MessageState::Streaming,
                    endpoint: Some(&a.endpoint),
                    model: Some(&a.model),
                    job: Some(&job_id),
                },
            )
            .await?;
        if a.touch {
            self.store
                .touch_conversation(user, &a.conversation, &a.endpoint, &a.model)
                .await?;
        }
        let setup = self.conversation_setup(user, &a.conversation).await?;
        let tools = match (a.tools, setup.agent.is_some()) {
            // An agent's conversation offers the agent's tools.
            (_, true) => setup.tools,
            (Some(tools), false) => {
                self.store
                    .set_conversation_tools(user, &a.conversation, &tools)
                    .await?;
                tools
            }
            (None, false) => setup.tools,
        };
        self.start_job(
            job_id.clone(),
            JobSpec {
                user: user.clone(),
                conversation: a.conversation.clone(),
                message: assistant_message.clone(),
                endpoint: a.endpoint,
                model: a.model,
                context: a.context,
                tools,
                system: setup.system,
                agent: setup.agent.clone(),
                sampling: setup.sampling,
                title_model: a.title_model,
                resume: None,
            },
        )
        .await?;
        Ok(SendResult {
            conversation: a.conversation,
            user_message: a.question,
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
        let messages = self.store.messages(user, conversation).await?;
        let tree = Tree::new(&messages);
        let path = tree.path_to(message);
        let Some((answer, before)) = path.split_last() else {
            return Err(EngineError::NotFound);
        };
        // Later turns were written after (and from) this answer as it stood.
        if tree.has_children(message) {
            return Err(EngineError::Invalid(
                "Only the latest answer can be continued.".into(),
            ));
        }
        if answer.role != Role::Assistant
            || !matches!(
                answer.state,
                MessageState::Stopped | MessageState::Failed | MessageState::Interrupted
            )
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
        let setup = self.conversation_setup(user, conversation).await?;
        let Ok(config) = self.gateway.endpoint_config(&endpoint) else {
            return Err(EngineError::Invalid(format!(
                "The endpoint {endpoint:?} that wrote this answer is no longer configured; send your message again with another model."
            )));
        };
        self.require_user_key(user, &endpoint, config).await?;
        // The turns before the answer, then the answer so far, which the model
        // carries on from.
        let mut context = context_of(before.iter().copied());
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
                tools: setup.tools,
                system: setup.system,
                agent: setup.agent.clone(),
                sampling: setup.sampling,
                title_model: None,
                resume: Some(Resume {
                    text: answer.text.clone(),
                    reasoning: answer.reasoning.clone(),
                    tools: answer.tools.clone(),
                    logged: false,
                }),
            },
        )
        .await?;
        Ok(job_id)
    }

    /// What the model is given in a conversation: its agent's instructions
    /// and tools, or the tools the user offered at the last message.
    pub(crate) async fn conversation_setup(
        &self,
        user: &UserId,
        conversation: &ConversationId,
    ) -> Result<Setup, EngineError> {
        let row = self
            .store
            .conversation(user, conversation)
            .await?
            .ok_or(EngineError::NotFound)?;
        let Some(agent) = &row.agent else {
            return Ok(Setup {
                tools: row.tools.unwrap_or_default(),
                system: None,
                agent: None,
                sampling: Sampling::default(),
            });
        };
        let agent = self
            .agent_row(user, agent, AgentRole::Viewer)
            .await
            .map_err(|_| {
                EngineError::Invalid(
                    "The agent of this conversation is no longer shared with you.".into(),
                )
            })?;
        Ok(self.agent_setup(&agent))
    }

    /// What an agent gives the model, in a chat or through the API: its
    /// instructions (and the files its code can read), tools and parameters.
    pub(crate) fn agent_setup(&self, agent: &AgentRow) -> Setup {
        let spec = agent.spec();
        let mut system = spec.instructions.trim().to_string();
        // The model learns what files its code can read.
        // Unreadable, they are left unnamed; copying them says why when code runs.
        let files = self.agent_file_list(&agent.id).unwrap_or_else(|e| {
            tracing::warn!(error = %e, agent = %agent.id, "listing an agent's files failed");
            Vec::new()
        });
        if !files.is_empty() && spec.tools.iter().any(|t| t == chorus_tools::EXECUTE_CODE) {
            let names: Vec<String> = files
                .iter()
                .map(|f| format!("/mnt/data/{}", f.name))
                .collect();
            system.push_str(&format!(
                "\n\nFiles your code can read: {}.",
                names.join(", ")
            ));
        }
        let system = system.trim().to_string();
        Setup {
            system: (!system.is_empty()).then_some(system),
            tools: spec.tools,
            agent: Some(agent.id.clone()),
            sampling: Sampling {
                temperature: spec.temperature,
                max_tokens: spec.max_tokens,
            },
        }
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
    /// open tabs that it started. When the log cannot be created (Redis is
    /// unreachable) the answer is marked failed with the reason.
    async fn start_job(&self, id: JobId, spec: JobSpec) -> Result<(), EngineError> {
        let meta = JobMeta {
            owner: spec.user.clone(),
            conversation: spec.conversation.clone(),
        };
        // An instance that adopts this job after a crash finds the rest in the store.
        let writer = match self
            .jobs
            .create(id.clone(), meta, spec.message.0.clone())
            .await
        {
            Ok(writer) => writer,
            Err(e) => {
                let error = format!("The answer could not be started: {e}.");
                let failed = chorus_store::MessageUpdate {
                    state: Some(MessageState::Failed),
                    error: Some(error.clone()),
                    ..Default::default()
                };
                self.store
                    .update_message(&spec.user, &spec.message, failed)
                    .await?;
                return Err(EngineError::Invalid(error));
            }
        };
        let (user, conversation) = (spec.user.clone(), spec.conversation.clone());
        job::spawn(self.clone(), writer, spec);
        self.events.publish(
            &user,
            UserEvent::JobStarted {
                conversation,
                job: id,
            },
        );
        Ok(())
    }

    /// The job's events after `after`, then live ones. `None` when `user` has no
    /// such job (finished long ago, never existed, or someone else's).
    pub async fn watch(
        &self,
        user: &UserId,
        job: &JobId,
        after: u64,
    ) -> Option<BoxStream<'static, Watched>> {
        self.jobs.subscribe(job, user, after).await
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
        self.jobs.abort_conversation(user, id).await;
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
    pub async fn stop(&self, user: &UserId, job: &JobId) -> bool {
        self.jobs.abort(job, user).await
    }
}

/// What the model is shown of earlier turns: the user's messages and the answers
/// that finished, were stopped or were cut off by a restart (failed ones are left
/// out), without empty ones.
pub(crate) fn context_of<'a>(path: impl IntoIterator<Item = &'a MessageView>) -> Vec<ChatMessage> {
    path.into_iter()
        .filter(|m| {
            m.role == Role::User
                || matches!(
                    m.state,
                    MessageState::Complete | MessageState::Stopped | MessageState::Interrupted
                )
        })
        .filter(|m| !m.text.is_empty())
        .map(|m| match m.role {
            Role::Assistant => ChatMessage::assistant(m.text.clone()),
            _ => ChatMessage::user(with_files_note(&m.text, &m.files)),
        })
        .collect()
}

/// A user message as the model reads it: the text, then which files came
/// with it (the model finds them in `/mnt/data` when it runs code).
pub(crate) fn with_files_note(text: &str, files: &[CodeFileView]) -> String {
    if files.is_empty() {
        return text.to_string();
    }
    let names: Vec<String> = files
        .iter()
        .map(|f| format!("/mnt/data/{}", f.name))
        .collect();
    format!("{text}\n\n(Attached files: {})", names.join(", "))
}
