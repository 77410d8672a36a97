//! Running code: the Run button under code blocks (one sandbox session per
//! conversation, so files persist between runs) and the LibreChat-compatible
//! code API (`/v1/exec` and friends), both through `chorus-sandbox`.

use chorus_sandbox::{ExecOutcome, ExecRequest, Language, Sandbox, SandboxError};
use chorus_types::{CodeFileView, CodeRunView, ConversationId, UserId};

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
        self.sandbox.as_deref().ok_or_else(|| {
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

    /// Runs a code block of one of the user's conversations in that
    /// conversation's session.
    pub async fn run_code_block(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        language: &str,
        code: &str,
    ) -> Result<CodeRunView, EngineError> {
        let sandbox = self.sandbox()?;
        let lang = Self::parse_language(language)?;
        if self.store.conversation(user, conversation).await?.is_none() {
            return Err(EngineError::NotFound);
        }
        let session = sandbox
            .sessions()
            .for_key(&user.0, &format!("conversation:{}", conversation.0))?;
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

    pub async fn exec_code(
        &self,
        user: &UserId,
        request: ExecRequest,
    ) -> Result<ExecOutcome, EngineError> {
        Ok(self.sandbox()?.exec(&user.0, request).await?)
    }
}

fn run_view(outcome: ExecOutcome) -> CodeRunView {
    let files = outcome
        .files
        .iter()
        .map(|f| CodeFileView {
            url: code_file_url(&outcome.session_id, &f.id),
            is_image: is_image(&f.name),
            name: f.name.clone(),
            size: f.size,
        })
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
