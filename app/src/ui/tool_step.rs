//! Tool calls inside an answer: each shows where the model made it, between
//! the text before and after, with what it ran, its output and its files.

use crate::ui::code_block::{Markdown, OutputFile};
use chorus_types::ToolStep;
use leptos::prelude::*;

/// The answer's text cut at its tool calls, with each call in its place.
#[component]
pub fn ToolSteps(text: RwSignal<String>, tools: RwSignal<Vec<ToolStep>>) -> impl IntoView {
    move || {
        let text = text.get();
        let steps = tools.get();
        let mut views = Vec::new();
        let mut from = 0;
        for step in steps {
            let at = boundary(&text, step.at).max(from);
            views.push(piece(&text[from..at]));
            views.push(view! { <ToolStepView step/> }.into_any());
            from = at;
        }
        views.push(piece(&text[from..]));
        views
    }
}

fn piece(text: &str) -> AnyView {
    if text.trim().is_empty() {
        return ().into_any();
    }
    let text = Signal::stored(text.to_string());
    view! { <Markdown text/> }.into_any()
}

/// `at`, moved back onto a character boundary of `text` (a step recorded
/// against text that is not all here yet, or cut by an edit).
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[component]
fn ToolStepView(step: ToolStep) -> impl IntoView {
    let running = step.output.is_none();
    let code = (step.name == "execute_code").then(|| step.code()).flatten();
    // MCP tools are named `<tool>_mcp_<server>`.
    let tool = match step.name.rsplit_once("_mcp_") {
        Some((tool, server)) => format!("{tool} ({server})"),
        None => step.name.clone(),
    };
    let label = match (&code, running) {
        (Some((lang, _)), true) => format!("Running {lang} code…"),
        (Some((lang, _)), false) => format!("Ran {lang} code"),
        (None, true) => format!("Using {tool}…"),
        (None, false) => format!("Used {tool}"),
    };
    let failed = step.is_error;
    let shown = match code {
        Some((_, code)) => code,
        None => step.arguments.clone(),
    };
    view! {
        <div class="space-y-2" data-testid="tool-step" data-running=running.to_string() data-failed=failed.to_string()>
            <details class="tool-step">
                <summary>
                    <span class="font-medium">{label}</span>
                    {failed.then_some(view! { <span class="text-red-600 dark:text-red-400">" · failed"</span> })}
                    {running.then_some(view! { <span class="typing ml-2 align-middle" aria-hidden="true"></span> })}
                </summary>
                <div class="tool-body">
                    <pre data-testid="tool-input"><code>{shown}</code></pre>
                    {step.output.map(|output| view! {
                        <pre data-testid="tool-output" class:stderr=failed>{output}</pre>
                    })}
                </div>
            </details>
            {step.files.into_iter().map(|file| view! { <OutputFile file/> }).collect_view()}
        </div>
    }
}
