//! A code block in an answer: the code, a Copy button, and, for languages the
//! sandbox runs, a Run button with the output, errors and files under it.

use crate::api::run_code;
use crate::ui::CopyButton;
use crate::ui::thread::OpenConversation;
use chorus_markdown::Block;
use chorus_types::code::Language;
use chorus_types::{CodeFileView, CodeRunView};
use leptos::prelude::*;

/// An answer's markdown: sanitized HTML with code blocks as components.
#[component]
pub fn Markdown(#[prop(into)] text: Signal<String>) -> impl IntoView {
    let blocks = Memo::new(move |_| chorus_markdown::render_blocks(&text.get()));
    view! {
        <div class="prose-chat">
            {move || {
                blocks
                    .get()
                    .into_iter()
                    .map(|block| match block {
                        Block::Html(html) => view! { <div class="contents" inner_html=html></div> }.into_any(),
                        Block::Code { lang, code } => view! { <CodeBlock lang code/> }.into_any(),
                    })
                    .collect_view()
            }}
        </div>
    }
}

#[component]
fn CodeBlock(lang: String, code: String) -> impl IntoView {
    let open = expect_context::<OpenConversation>();
    let runnable = Language::from_code(&lang).is_some();
    let class = format!("language-{lang}");
    let label = if lang.is_empty() {
        "code".to_string()
    } else {
        lang.clone()
    };
    let code_text = Signal::stored(code.clone());
    let run = Action::new(move |_: &()| {
        let (conversation, lang, code) = (open.id.get_value(), lang.clone(), code.clone());
        async move { run_code(conversation, lang, code).await }
    });
    view! {
        <div class="code-block" data-testid="code-block">
            <div class="code-head">
                <span class="muted text-xs">{label}</span>
                <span class="flex gap-1">
                    <CopyButton text=code_text class="btn-secondary text-xs py-0.5"/>
                    {runnable.then(|| view! {
                        <button type="button" class="btn-secondary text-xs py-0.5" data-testid="run-code"
                            disabled=move || run.pending().get()
                            title="Run this code in a sandbox (no network; files persist in this conversation)"
                            on:click=move |_| { run.dispatch(()); }>
                            {move || if run.pending().get() { "Running…" } else { "Run" }}
                        </button>
                    })}
                </span>
            </div>
            <pre><code class=class>{code_text.get_untracked()}</code></pre>
            {move || run.value().get().map(|result| match result {
                Ok(out) => view! { <RunOutput out/> }.into_any(),
                Err(e) => view! { <p role="alert" class="error-box" data-testid="code-error">{e.to_string()}</p> }.into_any(),
            })}
        </div>
    }
}

#[component]
fn RunOutput(out: CodeRunView) -> impl IntoView {
    let status = match (out.timed_out, out.exit_code) {
        (true, _) => "stopped at the time limit".to_string(),
        (false, Some(0)) => format!("exit 0 · {} ms", out.duration_ms),
        (false, Some(code)) => format!("exit {code} · {} ms", out.duration_ms),
        (false, None) => "killed".to_string(),
    };
    let failed = out.timed_out || out.exit_code != Some(0);
    view! {
        <div class="code-output" data-testid="code-output">
            <div class="text-xs" class:text-red-600=failed class:muted=!failed data-testid="code-status">{status}</div>
            {(!out.stdout.is_empty()).then(|| view! { <pre data-testid="code-stdout">{out.stdout.clone()}</pre> })}
            {(!out.stderr.is_empty()).then(|| view! { <pre class="stderr" data-testid="code-stderr">{out.stderr.clone()}</pre> })}
            {out.files.into_iter().map(|file| view! { <OutputFile file/> }).collect_view()}
        </div>
    }
}

#[component]
pub fn OutputFile(file: CodeFileView) -> impl IntoView {
    let size = human_size(file.size);
    view! {
        <div class="code-file" data-testid="code-file">
            {file.is_image.then(|| view! { <img src=file.url.clone() alt=file.name.clone() class="max-w-full rounded"/> })}
            <a href=file.url.clone() download=file.name.clone() class="link text-sm">{file.name.clone()}</a>
            <span class="muted text-xs">" "{size}</span>
        </div>
    }
}

/// A file size as people read it: bytes, KiB or MiB.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{} KiB", bytes / 1024),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}
