//! The run loop of one answer, shared by chats (a job that logs and stores
//! every step) and by agents called through the OpenAI-compatible API (a
//! stream to the client): model turn → tool calls (one turn's calls at once)
//! → results → next turn, until an answer, a failure, a stop, or the round
//! limit. What happens is told to a [`Sink`]; the loop keeps the [`Outcome`].

use crate::code::file_view;
use crate::{Engine, EngineError};
use chorus_gateway::{
    ChatMessage, ChatRequest, FinishReason, GatewayError, Part, Provider, Speaker, StreamEvent,
    ToolCall, ToolCalls, ToolResult, ToolSpec,
};
use chorus_tools::{ToolContext, ToolDef, ToolOutput, Tools};
use chorus_types::{ConversationId, MessageState, ToolStep, Usage, UserId};
use futures::StreamExt;
use std::future::Future;

/// How many rounds of tool calls one answer may make before it is ended
/// (a model that keeps calling tools would otherwise never stop).
const MAX_TOOL_ROUNDS: usize = 10;

/// What the answer came to, so far or in the end.
pub(crate) struct Outcome {
    pub text: String,
    pub reasoning: String,
    pub state: MessageState,
    /// What the user reads about a failure or a cut.
    pub error: Option<String>,
    /// The provider's failure, for callers that pass it on as it is (the API).
    pub failure: Option<GatewayError>,
    /// How the last model turn ended.
    pub finish: Option<FinishReason>,
    pub usage: Option<Usage>,
    pub tools: Vec<ToolStep>,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            text: String::new(),
            reasoning: String::new(),
            state: MessageState::Failed,
            error: None,
            failure: None,
            finish: None,
            usage: None,
            tools: Vec::new(),
        }
    }
}

/// Who hears what the loop does, as it happens.
/// Its calls wait while the listener is slow (an API client reading slowly
/// holds the model back instead of piling text up in memory).
pub(crate) trait Sink: Send {
    fn text(&mut self, text: &str) -> impl Future<Output = ()> + Send;
    fn reasoning(&mut self, text: &str) -> impl Future<Output = ()> + Send;
    /// The usage of every turn so far, summed.
    fn usage(&mut self, total: Usage) -> impl Future<Output = ()> + Send;
    /// A call the model made, about to run.
    fn tool_call(&mut self, step: &ToolStep) -> impl Future<Output = ()> + Send;
    /// The same step with its output.
    fn tool_result(&mut self, step: &ToolStep) -> impl Future<Output = ()> + Send;
    /// After every event and every round of tools: a chance to save progress.
    fn progress(&mut self, out: &Outcome, round_done: bool) -> impl Future<Output = ()> + Send;
    /// Resolves when the answer is to stop (the user pressed Stop, the client left).
    fn cancelled(&self) -> impl Future<Output = ()> + Send + '_;
}

/// Where code the model runs keeps its files: the conversation's sandbox
/// session (its `/mnt/data`, shared with the Run button and the Files
/// panel) or, without one (an API call), a session of its own; either gets
/// the agent's files. Found on the first call that needs it and kept for
/// the rest of the answer.
#[derive(Clone, Default)]
pub(crate) struct Workspace {
    pub conversation: Option<ConversationId>,
    pub agent: Option<String>,
}

/// What the model is offered.
pub(crate) struct Offer {
    /// Who the tools run for (their own MCP servers and values).
    pub ctx: ToolContext,
    pub specs: Vec<ToolSpec>,
    /// Why a tool could not be offered (its MCP server is down): the answer
    /// goes on without it.
    pub problems: Vec<String>,
}

/// The definitions of `tools` for `user`'s answer.
pub(crate) async fn offer(engine: &Engine, user: &UserId, tools: &[String]) -> Offer {
    let ctx = engine.tool_context(user, tools).await;
    let (defs, problems) = engine.tools().definitions(tools, &ctx).await;
    Offer {
        ctx,
        specs: defs.into_iter().map(tool_spec).collect(),
        problems,
    }
}

/// How one model turn ended.
enum Turn {
    /// The answer is written (or failed, or was stopped): `out.state` says which.
    Ended,
    /// The model asked for these calls; `text` is what it wrote this turn.
    Calls { text: String, calls: Vec<ToolCall> },
}

fn tool_spec(def: ToolDef) -> ToolSpec {
    ToolSpec {
        name: def.name,
        description: def.description,
        parameters: def.parameters,
    }
}

/// Runs the answer to its end. `request` holds the tools offered and, after
/// the loop, every turn the model was sent; `ctx` is who the tools run for.
pub(crate) async fn run<S: Sink>(
    engine: &Engine,
    ctx: &ToolContext,
    workspace: &Workspace,
    provider: &dyn Provider,
    request: &mut ChatRequest,
    out: &mut Outcome,
    sink: &mut S,
) {
    let user = UserId(ctx.user.clone());
    let mut session = None;
    let mut rounds = 0;
    loop {
        let (text, calls) = match turn(sink, out, provider, request).await {
            Turn::Ended => return,
            Turn::Calls { text, calls } => (text, calls),
        };
        if rounds == MAX_TOOL_ROUNDS {
            out.state = MessageState::Complete;
            // Cut by a limit (not "call these tools", which the caller cannot).
            out.finish = Some(FinishReason::Length);
            out.error = Some(format!(
                "The model was still calling tools after {MAX_TOOL_ROUNDS} rounds, so the answer was ended there."
            ));
            return;
        }
        rounds += 1;
        let first = out.tools.len();
        for call in &calls {
            let step = ToolStep {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                at: out.text.len(),
                output: None,
                is_error: false,
                files: Vec::new(),
            };
            sink.tool_call(&step).await;
            out.tools.push(step);
        }
        let outputs = tokio::select! {
            biased;
            _ = sink.cancelled() => None,
            outputs = run_calls(engine, &user, ctx, workspace, &mut session, &calls) => Some(outputs),
        };
        let Some(outputs) = outputs else {
            mark_unfinished(&mut out.tools);
            out.state = MessageState::Stopped;
            return;
        };
        let mut results = Vec::with_capacity(calls.len());
        for ((call, output), step) in calls.iter().zip(outputs).zip(&mut out.tools[first..]) {
            step.files = output
                .files
                .iter()
                .map(|f| file_view(session.as_deref().unwrap_or_default(), f))
                .collect();
            step.output = Some(output.content.clone());
            step.is_error = output.is_error;
            sink.tool_result(step).await;
            results.push(ToolResult {
                call_id: call.id.clone(),
                name: call.name.clone(),
                content: output.content,
                is_error: output.is_error,
            });
        }
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
        sink.progress(out, true).await;
    }
}

/// One model call of the answer: streams its text into `out` and the sink,
/// and returns the tool calls it ends with, if any.
async fn turn<S: Sink>(
    sink: &mut S,
    out: &mut Outcome,
    provider: &dyn Provider,
    request: &ChatRequest,
) -> Turn {
    let mut stream = provider.stream(request.clone());
    let mut text = String::new();
    let mut calls = ToolCalls::default();
    let mut finish = None;
    loop {
        let item = tokio::select! {
            biased;
            _ = sink.cancelled() => {
                out.state = MessageState::Stopped;
                return Turn::Ended;
            }
            item = stream.next() => item,
        };
        sink.progress(out, false).await;
        match item {
            Some(Ok(StreamEvent::Text(t))) => {
                out.text.push_str(&t);
                text.push_str(&t);
                sink.text(&t).await;
            }
            Some(Ok(StreamEvent::Reasoning(t))) => {
                out.reasoning.push_str(&t);
                sink.reasoning(&t).await;
            }
            Some(Ok(StreamEvent::Usage(u))) => {
                let total = add_usage(out.usage, u);
                out.usage = Some(total);
                sink.usage(total).await;
            }
            Some(Ok(StreamEvent::Finish(reason))) => {
                if reason == FinishReason::Length {
                    out.error =
                        Some("The answer reached the model's length limit and was cut off.".into());
                }
                finish = Some(reason);
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
                out.failure = Some(e);
                return Turn::Ended;
            }
            None => break,
        }
    }
    let finished = finish.is_some();
    out.finish = finish;
    if !finished {
        let e = GatewayError::Malformed("the stream ended without a finish reason".into());
        out.state = MessageState::Failed;
        out.error =
            Some("The provider closed the connection before the answer was complete.".into());
        out.failure = Some(e);
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

/// Runs one turn's calls in parallel, in the workspace's session when one
/// needs it (`session` keeps it for the answer's later rounds); returns
/// their outputs in call order.
async fn run_calls(
    engine: &Engine,
    user: &UserId,
    ctx: &ToolContext,
    workspace: &Workspace,
    session: &mut Option<String>,
    calls: &[ToolCall],
) -> Vec<ToolOutput> {
    if session.is_none() && calls.iter().any(|c| Tools::needs_session(&c.name)) {
        match session_for(engine, user, workspace).await {
            Ok(s) => *session = Some(s),
            Err(reason) => return calls.iter().map(|_| ToolOutput::error(&reason)).collect(),
        }
    }
    let tools = engine.tools();
    let ctx = ToolContext {
        session: session.clone(),
        ..ctx.clone()
    };
    let runs = calls
        .iter()
        .map(|call| tools.call(&ctx, &call.name, &call.arguments));
    futures::future::join_all(runs).await
}

/// The workspace's sandbox session, with the agent's files in it.
async fn session_for(
    engine: &Engine,
    user: &UserId,
    workspace: &Workspace,
) -> Result<String, String> {
    let started = async {
        let session = match &workspace.conversation {
            Some(conversation) => engine.conversation_session(user, conversation).await?.1,
            None => engine.sandbox()?.sessions().create(&user.0)?,
        };
        if let Some(agent) = &workspace.agent {
            engine.copy_agent_files(agent, user, &session).await?;
        }
        Ok::<_, EngineError>(session)
    };
    started
        .await
        .map_err(|e| format!("The tool could not be started: {e}."))
}

/// Calls still running when the answer was stopped: say so on each.
pub(crate) fn mark_unfinished(steps: &mut [ToolStep]) {
    for step in steps.iter_mut().filter(|s| s.output.is_none()) {
        step.output = Some("Stopped before the tool finished.".into());
        step.is_error = true;
    }
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

/// What the user reads when a provider call fails: what happened, and what to do.
pub(crate) fn user_message(e: &GatewayError) -> String {
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
