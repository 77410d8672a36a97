//! One generation: drives the provider, appends every event to the job's log,
//! and writes the outcome to the store. It runs on its own task, so closing
//! every tab changes nothing.

use crate::chat::Sampling;
use crate::run_loop::{self, Outcome, Sink, Workspace, user_message};
use crate::{Engine, title};
use chorus_gateway::{ChatMessage, ChatRequest, tokens};
use chorus_store::MessageUpdate;
use chorus_streams::JobWriter;
use chorus_types::{
    ConversationId, JobEvent, MessageId, MessageState, ToolStep, Usage, UserEvent, UserId,
};
use std::future::Future;
use std::time::{Duration, Instant};

/// How often the partial answer is saved while it streams, so a crash loses at
/// most this much text.
const PERSIST_EVERY: Duration = Duration::from_secs(1);
/// How long the answer waits for its title before finishing without it.
const TITLE_WAIT: Duration = Duration::from_secs(15);

pub(crate) struct JobSpec {
    pub user: UserId,
    pub conversation: ConversationId,
    pub message: MessageId,
    pub endpoint: String,
    pub model: String,
    pub context: Vec<ChatMessage>,
    /// The tools the model is offered (names, see `chorus_tools`).
    pub tools: Vec<String>,
    /// The system prompt (an agent's instructions).
    pub system: Option<String>,
    /// The agent the conversation is with (its files go to the chat's code).
    pub agent: Option<String>,
    pub sampling: Sampling,
    /// Set when this is the first answer of a conversation whose endpoint asks
    /// for model-written titles.
    pub title_model: Option<String>,
    /// What the answer already says when this job continues it.
    pub resume: Option<Resume>,
}

/// The start of an answer that a job carries on from.
pub(crate) struct Resume {
    pub text: String,
    pub reasoning: String,
    pub tools: Vec<ToolStep>,
    /// Whether the job's log already holds it (a job adopted from an instance
    /// that died); otherwise the log starts with it.
    pub logged: bool,
}

pub(crate) fn spawn(engine: Engine, writer: JobWriter, spec: JobSpec) {
    tokio::spawn(async move {
        let outcome = run(&engine, &writer, &spec).await;
        finish(&engine, &writer, &spec, outcome).await;
    });
}

async fn run(
    engine: &Engine,
    writer: &JobWriter,
    spec: &JobSpec,
) -> (Outcome, Option<tokio::task::JoinHandle<Option<String>>>) {
    let mut out = Outcome::default();
    // A continued answer's log starts with what was already there, so the log
    // alone always reproduces the whole message (reloads, other tabs).
    if let Some(resume) = &spec.resume {
        out.reasoning.push_str(&resume.reasoning);
        out.text.push_str(&resume.text);
        out.tools.extend(resume.tools.iter().cloned());
        if !resume.logged {
            if !resume.reasoning.is_empty() {
                writer.append(JobEvent::Reasoning {
                    text: resume.reasoning.clone(),
                });
            }
            writer.append(JobEvent::Delta {
                text: resume.text.clone(),
            });
            for step in &resume.tools {
                writer.append(JobEvent::ToolCall { step: step.clone() });
            }
        }
    }
    let provider = match engine.provider_for(&spec.user, &spec.endpoint).await {
        Ok(p) => p,
        Err(e) => {
            out.error = Some(user_message(&e));
            return (out, None);
        }
    };
    // A tool that cannot be offered (its MCP server is down) is left out; the
    // answer goes on and says so at the end.
    let offer = run_loop::offer(engine, &spec.user, &spec.tools).await;
    let title_task = spec.title_model.clone().map(|model| {
        let first = spec.context.last().map(|m| m.text()).unwrap_or_default();
        tokio::spawn(title::generate(provider.clone(), model, first))
    });
    let mut request = ChatRequest {
        model: spec.model.clone(),
        messages: spec.context.clone(),
        system: spec.system.clone(),
        tools: offer.specs,
        temperature: spec.sampling.temperature,
        max_tokens: spec.sampling.max_tokens,
        ..Default::default()
    };
    let mut sink = JobSink {
        engine,
        writer,
        spec,
        last_save: Instant::now(),
    };
    let workspace = Workspace {
        conversation: Some(spec.conversation.clone()),
        agent: spec.agent.clone(),
    };
    run_loop::run(
        engine,
        &offer.ctx,
        &workspace,
        &*provider,
        &mut request,
        &mut out,
        &mut sink,
    )
    .await;
    // A stopped or cut answer was still paid for; the provider never got to
    // say how much, so count it.
    if out.usage.is_none() && !(out.text.is_empty() && out.reasoning.is_empty()) {
        // Only what this job produced (a continued answer's start was paid for before).
        let (text_before, reasoning_before) = spec
            .resume
            .as_ref()
            .map_or((0, 0), |r| (r.text.len(), r.reasoning.len()));
        let output = out.reasoning[reasoning_before..].to_string() + &out.text[text_before..];
        if let Some(usage) = tokens::estimate_off_thread(request, output).await {
            out.usage = Some(usage);
            writer.append(JobEvent::Usage { usage });
        }
    }
    if !offer.problems.is_empty() {
        let note = offer.problems.join(" ");
        out.error = Some(match out.error.take() {
            Some(e) => format!("{e} {note}"),
            None => note,
        });
    }
    (out, title_task)
}

/// A chat's answer: every step goes to the job's log (live tabs, reloads,
/// other instances) and the text is saved as it grows.
struct JobSink<'a> {
    engine: &'a Engine,
    writer: &'a JobWriter,
    spec: &'a JobSpec,
    last_save: Instant,
}

impl Sink for JobSink<'_> {
    async fn text(&mut self, text: &str) {
        self.writer.append(JobEvent::Delta { text: text.into() });
    }

    async fn reasoning(&mut self, text: &str) {
        self.writer
            .append(JobEvent::Reasoning { text: text.into() });
    }

    async fn usage(&mut self, total: Usage) {
        self.writer.append(JobEvent::Usage { usage: total });
    }

    async fn tool_call(&mut self, step: &ToolStep) {
        self.writer
            .append(JobEvent::ToolCall { step: step.clone() });
    }

    async fn tool_result(&mut self, step: &ToolStep) {
        self.writer.append(JobEvent::ToolResult {
            id: step.id.clone(),
            output: step.output.clone().unwrap_or_default(),
            is_error: step.is_error,
            files: step.files.clone(),
        });
    }

    async fn progress(&mut self, out: &Outcome, round_done: bool) {
        if round_done || self.last_save.elapsed() >= PERSIST_EVERY {
            self.last_save = Instant::now();
            save_partial(self.engine, self.writer, self.spec, out).await;
        }
    }

    fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        self.writer.cancelled()
    }
}

/// Saves the text so far, so a crash loses at most `PERSIST_EVERY` of it.
async fn save_partial(engine: &Engine, writer: &JobWriter, spec: &JobSpec, out: &Outcome) {
    if writer.is_fenced() {
        return;
    }
    let partial = MessageUpdate {
        text: out.text.clone(),
        reasoning: Some(out.reasoning.clone()),
        tools: (!out.tools.is_empty()).then(|| out.tools.clone()),
        ..Default::default()
    };
    if let Err(e) = engine
        .store
        .update_message(&spec.user, &spec.message, partial)
        .await
    {
        tracing::warn!(error = %e, "saving the partial answer failed");
    }
}

async fn finish(
    engine: &Engine,
    writer: &JobWriter,
    spec: &JobSpec,
    (outcome, title_task): (Outcome, Option<tokio::task::JoinHandle<Option<String>>>),
) {
    // Another instance took this job over while this one stalled: the answer
    // is theirs to finish.
    if writer.is_fenced() {
        return;
    }
    let update = MessageUpdate {
        text: outcome.text,
        reasoning: Some(outcome.reasoning),
        state: Some(outcome.state),
        error: outcome.error.clone(),
        usage: outcome.usage,
        tools: (!outcome.tools.is_empty()).then_some(outcome.tools),
    };
    // The answer is the one thing that must not be lost: retry a store hiccup.
    for attempt in 1..=5u32 {
        match engine
            .store
            .update_message(&spec.user, &spec.message, update.clone())
            .await
        {
            Ok(()) => break,
            // The conversation was deleted while its answer was being written.
            Err(chorus_store::StoreError::NotFound) => break,
            Err(e) if attempt < 5 => {
                tracing::warn!(error = %e, attempt, "saving the answer failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => {
                tracing::error!(error = %e, message = %spec.message, "saving the answer failed")
            }
        }
    }
    // A title is worth waiting for only when there is an answer; otherwise the
    // first-message title stays and the user learns at once what went wrong.
    let title_task = title_task.and_then(|task| {
        if outcome.state == MessageState::Complete {
            Some(task)
        } else {
            task.abort();
            None
        }
    });
    if let Some(task) = title_task
        && let Ok(Ok(Some(title))) = tokio::time::timeout(TITLE_WAIT, task).await
    {
        match engine
            .store
            .set_conversation_title(&spec.user, &spec.conversation, &title)
            .await
        {
            Ok(()) => {
                writer.append(JobEvent::Title {
                    title: title.clone(),
                });
                engine.events.publish(
                    &spec.user,
                    UserEvent::ConversationRenamed {
                        conversation: spec.conversation.clone(),
                        title,
                    },
                );
            }
            Err(e) => tracing::warn!(error = %e, "saving the title failed"),
        }
    }
    writer.append(JobEvent::Done {
        state: outcome.state,
        error: outcome.error,
    });
    engine.events.publish(
        &spec.user,
        UserEvent::JobFinished {
            conversation: spec.conversation.clone(),
            job: writer.id().clone(),
            state: outcome.state,
        },
    );
}
