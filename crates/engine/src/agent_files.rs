//! Files an agent brings (LibreChat's code interpreter files on an agent):
//! kept in a sandbox session of the agent's own, copied into a chat's
//! `/mnt/data` when the chat's code first runs, and named to the model in
//! the agent's instructions. Only agents with Code have files.

use crate::code::file_view;
use crate::{Engine, EngineError};
use chorus_sandbox::Sandbox;
use chorus_tools::EXECUTE_CODE;
use chorus_types::agent::AgentRole;
use chorus_types::{CodeFileView, UserId};

/// The sessions' owner for an agent's files (not a user: no user can reach
/// them through the Files panel or the code API).
fn owner(agent: &str) -> String {
    format!("agent:{agent}")
}

impl Engine {
    fn agent_files_session(&self, agent: &str) -> Result<(&Sandbox, String), EngineError> {
        let sandbox = self.sandbox()?;
        let session = sandbox.sessions().for_key(&owner(agent), "files")?;
        Ok((sandbox, session))
    }

    pub async fn add_agent_file(
        &self,
        user: &UserId,
        agent: &str,
        name: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<CodeFileView, EngineError> {
        let row = self.agent_row(user, agent, AgentRole::Editor).await?;
        if !row.tools.iter().any(|t| t == EXECUTE_CODE) {
            return Err(EngineError::Invalid(
                "Turn on Code and save first: the agent reads its files with code.".into(),
            ));
        }
        let (sandbox, session) = self.agent_files_session(agent)?;
        let entry = sandbox
            .sessions()
            .put(&owner(agent), &session, name, bytes)
            .await?;
        Ok(file_view(&session, &entry))
    }

    pub async fn agent_files(
        &self,
        user: &UserId,
        agent: &str,
    ) -> Result<Vec<CodeFileView>, EngineError> {
        self.agent_row(user, agent, AgentRole::Viewer).await?;
        self.agent_file_list(agent)
    }

    pub async fn delete_agent_file(
        &self,
        user: &UserId,
        agent: &str,
        file: &str,
    ) -> Result<(), EngineError> {
        self.agent_row(user, agent, AgentRole::Editor).await?;
        let (sandbox, session) = self.agent_files_session(agent)?;
        Ok(sandbox
            .sessions()
            .delete_file(&owner(agent), &session, file)?)
    }

    /// The agent's files (none when this server has no sandbox).
    pub(crate) fn agent_file_list(&self, agent: &str) -> Result<Vec<CodeFileView>, EngineError> {
        let Ok((sandbox, session)) = self.agent_files_session(agent) else {
            return Ok(Vec::new());
        };
        let files = sandbox.sessions().list(&owner(agent), &session)?;
        Ok(files.iter().map(|f| file_view(&session, f)).collect())
    }

    /// Copies the agent's files into `user`'s session (a chat's `/mnt/data`),
    /// leaving any file of the same name there alone: the chat's code may
    /// have changed it.
    pub(crate) async fn copy_agent_files(
        &self,
        agent: &str,
        user: &UserId,
        session: &str,
    ) -> Result<(), EngineError> {
        let (sandbox, from) = self.agent_files_session(agent)?;
        let sessions = sandbox.sessions();
        let present: Vec<String> = sessions
            .list(&user.0, session)?
            .into_iter()
            .map(|f| f.name)
            .collect();
        for file in sessions.list(&owner(agent), &from)? {
            if present.contains(&file.name) {
                continue;
            }
            let (_, path) = sessions.file(&owner(agent), &from, &file.id)?;
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| EngineError::Unavailable(format!("reading {}: {e}", file.name)))?;
            sessions.put(&user.0, session, &file.name, bytes).await?;
        }
        Ok(())
    }
}
