//! Running code: the Run button under code blocks (one sandbox session per
//! conversation, so files persist between runs) and the LibreChat-compatible
//! code API (`/v1/exec` and friends), both through `chorus-sandbox`.

use chorus_sandbox::{ExecOutcome, ExecRequest, FileEntry, Language, Sandbox, SandboxError};
use chorus_types::{CodeFileView, CodeRunView, ConversationId, MessageId, UserId};
use std::sync::Arc;

use crate::{Engine, EngineError};

impl From<SandboxError> for EngineError {
    fn from(e: SandboxError) -> Self {
        match e {
            SandboxError::NotFound => EngineError::NotFound,
            SandboxError::BadRequest(m) => EngineError::Invalid(m),
            SandboxError::Unavailable(m) => EngineError::Unavailable(m),
            other => EngineError::Unavailable(other.to_string()),
        }
    }
}

/// Where the browser downloads a file a run wrote (session cookie, not API key).
pub fn code_file_url(session: &str, file: &str) -> String {
    format!("/api/code/files/{session}/{file}")
}

pub fn is_image(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

impl Engine {
    /// The code sandbox, or why code cannot run on this server.
    pub fn sandbox(&self) -> Result<&Sandbox, EngineError> {
        self.sandbox.get().map(Arc::as_ref).ok_or_else(|| {
            EngineError::Unavailable("code execution is not set up on this server".into())
        })
    }

    pub fn parse_language(code: &str) -> Result<Language, EngineError> {
        Language::from_code(code).ok_or_else(|| {
            EngineError::Invalid(format!(
                "the language {code:?} cannot run here; supported: {}",
                chorus_types::code::supported_codes()
            ))
        })
    }

    /// The sandbox session of one of the user's conversations (its `/mnt/data`),
    /// created on first use.
    pub(crate) async fn conversation_session(
        &self,
        user: &UserId,
        conversation: &ConversationId,
    ) -> Result<(&Sandbox, String), EngineError> {
        let sandbox = self.sandbox()?;
        if self.store.conversation(user, conversation).await?.is_none() {
            return Err(EngineError::NotFound);
        }
        let session = sandbox
            .sessions()
            .for_key(&user.0, &format!("conversation:{}", conversation.0))?;
        Ok((sandbox, session))
    }

    /// The files in a conversation's `/mnt/data`.
    pub async fn code_files(
        &self,
        user: &UserId,
        conversation: &ConversationId,
    ) -> Result<Vec<CodeFileView>, EngineError> {
        let (sandbox, session) = self.conversation_session(user, conversation).await?;
        let files = sandbox.sessions().list(&user.0, &session)?;
        Ok(files.iter().map(|f| file_view(&session, f)).collect())
    }

    /// Puts a file the user uploaded into a conversation's `/mnt/data`.
    pub async fn add_code_file(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        name: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<CodeFileView, EngineError> {
        let (sandbox, session) = self.conversation_session(user, conversation).await?;
        let entry = sandbox
            .sessions()
            .put(&user.0, &session, name, bytes)
            .await?;
        Ok(file_view(&session, &entry))
    }

    pub async fn delete_code_file(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        file: &str,
    ) -> Result<(), EngineError> {
        let (sandbox, session) = self.conversation_session(user, conversation).await?;
        Ok(sandbox.sessions().delete_file(&user.0, &session, file)?)
    }

    /// Runs a code block of one of the user's conversations in that
    /// conversation's session.
    pub async fn run_code_block(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        language: &str,
        code: &str,
    ) -> Result<CodeRunView, EngineError> {
        let lang = Self::parse_language(language)?;
        let (_, session) = self.conversation_session(user, conversation).await?;
        let outcome = self
            .exec_code(
                user,
                ExecRequest {
                    session_id: Some(session),
                    ..ExecRequest::new(lang, code)
                },
            )
            .await?;
        Ok(run_view(outcome))
    }

    /// Keeps a file the user attached to the message they are writing, until
    /// they send it (it then moves to the conversation's `/mnt/data`).
    pub async fn attach_file(
        &self,
        user: &UserId,
        name: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<CodeFileView, EngineError> {
        let (sandbox, session) = self.attachments(user)?;
        let entry = sandbox
            .sessions()
            .put(&user.0, &session, name, bytes)
            .await?;
        Ok(file_view(&session, &entry))
    }

    /// Drops a file attached to a message not sent yet.
    pub fn remove_attachment(&self, user: &UserId, file: &str) -> Result<(), EngineError> {
        let (sandbox, session) = self.attachments(user)?;
        Ok(sandbox.sessions().delete_file(&user.0, &session, file)?)
    }

    /// The session holding a user's attachments until their message is sent.
    fn attachments(&self, user: &UserId) -> Result<(&Sandbox, String), EngineError> {
        let sandbox = self.sandbox()?;
        let session = sandbox.sessions().for_key(&user.0, "attachments")?;
        Ok((sandbox, session))
    }

    /// Refuses a message whose attachments are not (or no longer) waiting:
    /// checked before anything of the message is stored.
    pub(crate) fn check_attachments(
        &self,
        user: &UserId,
        ids: &[String],
    ) -> Result<(), EngineError> {
        if ids.is_empty() {
            return Ok(());
        }
        let (sandbox, session) = self.attachments(user)?;
        let waiting = sandbox.sessions().list(&user.0, &session)?;
        match ids.iter().find(|id| !waiting.iter().any(|f| &&f.id == id)) {
            Some(_) => Err(EngineError::Invalid(
                "An attached file is no longer there; attach it again.".into(),
            )),
            None => Ok(()),
        }
    }

    /// Moves the attachments `ids` into the conversation's `/mnt/data` and
    /// records them on the message they came with.
    pub(crate) async fn take_attachments(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        message: &MessageId,
        ids: &[String],
    ) -> Result<Vec<CodeFileView>, EngineError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (sandbox, pending) = self.attachments(user)?;
        let (_, session) = self.conversation_session(user, conversation).await?;
        let mut files = Vec::new();
        for id in ids {
            let entry = sandbox
                .sessions()
                .move_file(&user.0, &pending, id, &session)?;
            files.push(file_view(&session, &entry));
        }
        self.store.set_message_files(user, message, &files).await?;
        Ok(files)
    }

    pub async fn exec_code(
        &self,
        user: &UserId,
        request: ExecRequest,
    ) -> Result<ExecOutcome, EngineError> {
        Ok(self.sandbox()?.exec(&user.0, request).await?)
    }
}

pub(crate) fn file_view(session: &str, f: &FileEntry) -> CodeFileView {
    CodeFileView {
        id: f.id.clone(),
        url: code_file_url(session, &f.id),
        is_image: is_image(&f.name),
        name: f.name.clone(),
        size: f.size,
    }
}

fn run_view(outcome: ExecOutcome) -> CodeRunView {
    let files = outcome
        .files
        .iter()
        .map(|f| file_view(&outcome.session_id, f))
        .collect();
    CodeRunView {
        stdout: outcome.stdout,
        stderr: outcome.stderr,
        exit_code: outcome.exit_code,
        timed_out: outcome.timed_out,
        files,
        duration_ms: outcome.duration_ms,
    }
}
