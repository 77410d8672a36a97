//! The tool half of an answer's run loop: what the model is offered, and
//! running the calls it makes (all of one turn at once), each step logged and
//! kept on the message.

use crate::Engine;
use crate::code::file_view;
use crate::job::{JobSpec, Outcome};
use chorus_gateway::{ToolCall, ToolResult, ToolSpec};
use chorus_streams::JobWriter;
use chorus_tools::{ToolContext, ToolDef, ToolOutput, Tools};
use chorus_types::{JobEvent, ToolStep};

pub(crate) fn spec(def: ToolDef) -> ToolSpec {
    ToolSpec {
        name: def.name,
        description: def.description,
        parameters: def.parameters,
    }
}

/// Runs one turn's calls in parallel. Each shows as running at once, and gets
/// its output when it ends; returns the results for the model, in call order.
pub(crate) async fn run_calls(
    engine: &Engine,
    writer: &JobWriter,
    spec: &JobSpec,
    out: &mut Outcome,
    calls: &[ToolCall],
) -> Vec<ToolResult> {
    let first = out.tools.len();
    for call in calls {
        let step = ToolStep {
            id: call.id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            at: out.text.len(),
            output: None,
            is_error: false,
            files: Vec::new(),
        };
        writer.append(JobEvent::ToolCall { step: step.clone() });
        out.tools.push(step);
    }
    // Code runs in the conversation's session, so files carry over between
    // runs (and the Files panel shows them).
    let session = if calls.iter().any(|c| Tools::needs_session(&c.name)) {
        match engine
            .conversation_session(&spec.user, &spec.conversation)
            .await
        {
            Ok((_, session)) => Ok(Some(session)),
            Err(e) => Err(format!("The tool could not be started: {e}.")),
        }
    } else {
        Ok(None)
    };
    let tools = engine.tools();
    let outputs: Vec<ToolOutput> = match &session {
        Ok(session) => {
            let ctx = ToolContext {
                user: spec.user.0.clone(),
                session: session.clone(),
            };
            let runs = calls
                .iter()
                .map(|call| tools.call(&ctx, &call.name, &call.arguments));
            futures::future::join_all(runs).await
        }
        Err(reason) => calls.iter().map(|_| ToolOutput::error(reason)).collect(),
    };
    let session = session.ok().flatten().unwrap_or_default();
    calls
        .iter()
        .zip(outputs)
        .zip(&mut out.tools[first..])
        .map(|((call, output), step)| {
            let files: Vec<_> = output
                .files
                .iter()
                .map(|f| file_view(&session, f))
                .collect();
            step.output = Some(output.content.clone());
            step.is_error = output.is_error;
            step.files = files.clone();
            writer.append(JobEvent::ToolResult {
                id: call.id.clone(),
                output: output.content.clone(),
                is_error: output.is_error,
                files,
            });
            ToolResult {
                call_id: call.id.clone(),
                name: call.name.clone(),
                content: output.content,
                is_error: output.is_error,
            }
        })
        .collect()
}

/// Calls still running when the answer was stopped: say so on each.
pub(crate) fn mark_unfinished(steps: &mut [ToolStep]) {
    for step in steps.iter_mut().filter(|s| s.output.is_none()) {
        step.output = Some("Stopped before the tool finished.".into());
        step.is_error = true;
    }
}
