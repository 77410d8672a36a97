//! Jobs adopted from an instance that died mid-answer (Redis backend): this
//! instance continues the generation from the text the log already holds, on
//! the same job and log, so subscribers see one uninterrupted stream.

use crate::Engine;
use crate::chat::context_of;
use crate::job::{self, JobSpec, Resume};
use chorus_gateway::ChatMessage;
use chorus_streams::Orphan;
use chorus_types::{JobEvent, MessageId, MessageState, ToolStep, Tree};
use tokio::sync::mpsc;

pub(crate) fn spawn(engine: Engine, mut orphans: mpsc::UnboundedReceiver<Orphan>) {
    tokio::spawn(async move {
        while let Some(orphan) = orphans.recv().await {
            let job = orphan.writer.id().clone();
            if let Err(reason) = adopt(&engine, orphan).await {
                tracing::warn!(job = %job.0, %reason, "an adopted job could not be continued");
            }
        }
    });
}

async fn adopt(engine: &Engine, orphan: Orphan) -> Result<(), String> {
    let Orphan {
        writer,
        meta,
        spec,
        events,
    } = orphan;
    let (user, conversation, message) = (meta.owner, meta.conversation, MessageId(spec));
    let (mut text, mut reasoning) = (String::new(), String::new());
    let mut tools: Vec<ToolStep> = Vec::new();
    for event in &events {
        match event {
            JobEvent::Delta { text: t } => text.push_str(t),
            JobEvent::Reasoning { text: t } => reasoning.push_str(t),
            JobEvent::ToolCall { step } => tools.push(step.clone()),
            JobEvent::ToolResult {
                id,
                output,
                is_error,
                files,
            } => {
                if let Some(step) = tools.iter_mut().find(|s| &s.id == id) {
                    step.output = Some(output.clone());
                    step.is_error = *is_error;
                    step.files = files.clone();
                }
            }
            _ => {}
        }
    }
    // A call the dead instance never finished is not run again (it may have
    // had effects); the model is told it did not finish.
    crate::run_loop::mark_unfinished(&mut tools);
    let messages = engine
        .store
        .messages(&user, &conversation)
        .await
        .map_err(|e| e.to_string())?;
    let tree = Tree::new(&messages);
    let path = tree.path_to(&message);
    let answer = match path.split_last() {
        Some((answer, before)) if answer.state == MessageState::Streaming => Some((answer, before)),
        _ => None,
    };
    let Some((answer, before)) = answer else {
        // Deleted, or finished after all: end the log so subscribers stop waiting.
        writer.append(JobEvent::Done {
            state: MessageState::Failed,
            error: Some("This answer is no longer being written.".into()),
        });
        return Ok(());
    };
    let (Some(endpoint), Some(model)) = (answer.endpoint.clone(), answer.model.clone()) else {
        return Err("the answer does not say which model writes it".into());
    };
    // The model carries on from the text streamed so far.
    let mut context = context_of(before.iter().copied());
    if !text.is_empty() {
        context.push(ChatMessage::assistant(text.clone()));
    }
    let setup = engine
        .conversation_setup(&user, &conversation)
        .await
        .map_err(|e| e.to_string())?;
    job::spawn(
        engine.clone(),
        writer,
        JobSpec {
            user,
            conversation,
            message,
            endpoint,
            model,
            context,
            tools: setup.tools,
            system: setup.system,
            agent: setup.agent.clone(),
            sampling: setup.sampling,
            title_model: None,
            resume: Some(Resume {
                text,
                reasoning,
                tools,
                logged: true,
            }),
        },
    );
    Ok(())
}
