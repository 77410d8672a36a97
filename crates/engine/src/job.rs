//! One generation: drives the provider, appends every event to the job's log,
//! and writes the outcome to the store. It runs on its own task, so closing
//! every tab changes nothing.

use crate::tools;
use crate::{Engine, title};
use chorus_gateway::{
    ChatMessage, ChatRequest, FinishReason, GatewayError, Part, Provider, Speaker, StreamEvent,
    ToolCall, ToolCalls, tokens,
};
use chorus_store::MessageUpdate;
use chorus_streams::JobWriter;
use chorus_types::{
    ConversationId, JobEvent, MessageId, MessageState, ToolStep, Usage, UserEvent, UserId,
};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// How often the partial answer is saved while it streams, so a crash loses at
/// most this much text.
const PERSIST_EVERY: Duration = Duration::from_secs(1);
/// How long the answer waits for its title before finishing without it.
const TITLE_WAIT: Duration = Duration::from_secs(15);
/// How many rounds of tool calls one answer may make before it is ended
/// (a model that keeps calling tools would otherwise never stop).
const MAX_TOOL_ROUNDS: usize = 10;

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

pub(crate) struct Outcome {
    pub text: String,
    pub reasoning: String,
    pub state: MessageState,
    pub error: Option<String>,
    pub usage: Option<Usage>,
    pub tools: Vec<ToolStep>,
}

/// How one model turn ended.
enum Turn {
    /// The answer is written (or failed, or was stopped): `out.state` says which.
    Ended,
    /// The model asked for these calls; `text` is what it wrote this turn.
    Calls { text: String, calls: Vec<ToolCall> },
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
    let mut out = Outcome {
        text: String::new(),
        reasoning: String::new(),
        state: MessageState::Failed,
        error: None,
        usage: None,
        tools: Vec::new(),
    };
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
    let (defs, tool_problems) = engine.tools().definitions(&spec.tools).await;
    let tool_specs: Vec<_> = defs.into_iter().map(tools::spec).collect();
    let title_task = spec.title_model.clone().map(|model| {
        let first = spec.context.last().map(|m| m.text()).unwrap_or_default();
        tokio::spawn(title::generate(provider.clone(), model, first))
    });
    let mut request = ChatRequest {
        model: spec.model.clone(),
        messages: spec.context.clone(),
        system: spec.system.clone(),
        tools: tool_specs,
        ..Default::default()
    };
    let mut rounds = 0;
    loop {
        let (text, calls) = match turn(engine, writer, spec, &mut out, &*provider, &request).await {
            Turn::Ended => break,
            Turn::Calls { text, calls } => (text, calls),
        };
        if rounds == MAX_TOOL_ROUNDS {
            out.state = MessageState::Complete;
            out.error = Some(format!(
                "The model was still calling tools after {MAX_TOOL_ROUNDS} rounds, so the answer was ended there."
            ));
            break;
        }
        rounds += 1;
        let results = tokio::select! {
            biased;
            _ = writer.cancelled() => None,
            results = tools::run_calls(engine, writer, spec, &mut out, &calls) => Some(results),
        };
        let Some(results) = results else {
            tools::mark_unfinished(&mut out.tools);
            out.state = MessageState::Stopped;
            break;
        };
        // The model sees its own turn (text and calls), then the results.
        let mut parts: Vec<Part> = Vec::new();
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        parts.extend(calls.into_iter().map(Part::ToolCall));
        request.messages.push(ChatMessage {
            speaker: Speaker::Assistant,
            parts,
        });
        request.messages.push(ChatMessage {
            speaker: Speaker::User,
            parts: results.into_iter().map(Part::ToolResult).collect(),
        });
        save_partial(engine, writer, spec, &out).await;
    }
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
    if !tool_problems.is_empty() {
        let note = tool_problems.join(" ");
        out.error = Some(match out.error.take() {
            Some(e) => format!("{e} {note}"),
            None => note,
        });
    }
    (out, title_task)
}

/// One model call of the answer: streams its text into `out` and the log,
/// and returns the tool calls it ends with, if any.
async fn turn(
    engine: &Engine,
    writer: &JobWriter,
    spec: &JobSpec,
    out: &mut Outcome,
    provider: &dyn Provider,
    request: &ChatRequest,
) -> Turn {
    let mut stream = provider.stream(request.clone());
    let mut last_save = Instant::now();
    let mut text = String::new();
    let mut calls = ToolCalls::default();
    let mut finished = false;
    loop {
        let item = tokio::select! {
            biased;
            _ = writer.cancelled() => {
                out.state = MessageState::Stopped;
                return Turn::Ended;
            }
            item = stream.next() => item,
        };
        if last_save.elapsed() >= PERSIST_EVERY {
            last_save = Instant::now();
            save_partial(engine, writer, spec, out).await;
        }
        match item {
            Some(Ok(StreamEvent::Text(t))) => {
                out.text.push_str(&t);
                text.push_str(&t);
                writer.append(JobEvent::Delta { text: t });
            }
            Some(Ok(StreamEvent::Reasoning(t))) => {
                out.reasoning.push_str(&t);
                writer.append(JobEvent::Reasoning { text: t });
            }
            Some(Ok(StreamEvent::Usage(u))) => {
                let total = add_usage(out.usage, u);
                out.usage = Some(total);
                writer.append(JobEvent::Usage { usage: total });
            }
            Some(Ok(StreamEvent::Finish(reason))) => {
                finished = true;
                if reason == FinishReason::Length {
                    out.error =
                        Some("The answer reached the model's length limit and was cut off.".into());
                }
                // Keep reading: OpenAI sends usage after the finish reason.
            }
            Some(Ok(StreamEvent::ToolCallStart { index, id, name })) => {
                calls.start(index, id, name)
            }
            Some(Ok(StreamEvent::ToolCallDelta { index, arguments })) => {
                calls.extend(index, &arguments)
            }
            Some(Ok(StreamEvent::ToolCallEnd { .. })) => {}
            Some(Err(e)) => {
                out.state = MessageState::Failed;
                out.error = Some(user_message(&e));
                return Turn::Ended;
            }
            None => break,
        }
    }
    if !finished {
        out.state = MessageState::Failed;
        out.error =
            Some("The provider closed the connection before the answer was complete.".into());
        return Turn::Ended;
    }
    // Some providers finish a turn of calls with "stop" (Gemini): the calls decide.
    if calls.is_empty() || request.tools.is_empty() {
        out.state = MessageState::Complete;
        return Turn::Ended;
    }
    let calls = calls
        .finish()
        .into_iter()
        .enumerate()
        .map(|(n, mut call)| {
            // Results are matched to calls by id: every call needs one.
            if call.id.is_empty() {
                call.id = format!("call_{}_{n}", out.tools.len());
            }
            call
        })
        .collect();
    Turn::Calls { text, calls }
}

fn add_usage(total: Option<Usage>, u: Usage) -> Usage {
    let Some(t) = total else { return u };
    Usage {
        input_tokens: t.input_tokens + u.input_tokens,
        output_tokens: t.output_tokens + u.output_tokens,
        cached_tokens: t.cached_tokens + u.cached_tokens,
        reasoning_tokens: t.reasoning_tokens + u.reasoning_tokens,
        estimated: t.estimated || u.estimated,
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

/// What the user reads when a provider call fails: what happened, and what to do.
fn user_message(e: &GatewayError) -> String {
    let hint = match e {
        GatewayError::Unauthorized { .. } => " Check the endpoint's API key.",
        GatewayError::RateLimited { .. } => " Wait a moment, then send again.",
        GatewayError::Upstream { status, .. } if *status >= 500 => {
            " The provider may be having trouble; try again shortly."
        }
        GatewayError::Connect { .. } | GatewayError::Timeout(_) => {
            " Check that the endpoint is running and reachable from the server."
        }
        GatewayError::Unavailable { .. } => {
            " An administrator can fix this in the server's configuration; the server log has the same message."
        }
        _ => "",
    };
    let mut msg = e.to_string();
    if let Some(first) = msg.get(..1) {
        msg = first.to_uppercase() + &msg[1..];
    }
    format!("{msg}.{hint}").replace("..", ".")
}
