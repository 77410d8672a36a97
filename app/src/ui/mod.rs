//! Components. Small, one job each.

pub mod actions;
pub mod agents;
pub mod auth;
pub mod chat;
pub mod code_block;
pub mod code_files;
pub mod groups;
pub mod layout;
pub mod mcp_vars;
pub mod message;
pub mod settings;
pub mod thread;
pub mod tool_step;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="min-h-dvh grid place-items-center p-6">
            <div class="text-center space-y-3">
                <h1 class="text-2xl font-semibold">"Page not found"</h1>
                <a class="link" href="/">"Back to your chats"</a>
            </div>
        </main>
    }
}

/// Marks the page interactive once the calling component has hydrated (an
/// effect runs only in the browser, after hydration). Browser tests wait for it.
pub fn mark_interactive() {
    Effect::new(|_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

/// An error line, announced to screen readers.
#[component]
pub fn ErrorText(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    move || {
        message.get().map(|m| {
            view! { <p role="alert" class="error-text">{m}</p> }
        })
    }
}

/// The error of the last submission, in words.
pub fn action_error<T, S>(value: S) -> Signal<Option<String>>
where
    S: Get<Value = Option<Result<T, crate::api::ApiError>>> + Send + Sync + 'static,
{
    Signal::derive(move || value.get().and_then(|r| r.err()).map(|e| e.to_string()))
}

/// What a list's change actions do when they finish: on success, clear the
/// error and reload the list (`changed` is its resource's key); on failure,
/// say why.
pub fn reload_or_report(
    changed: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl Fn(Option<Result<(), crate::api::ApiError>>) + Copy + Send + Sync + 'static {
    move |r| match r {
        Some(Ok(())) => {
            error.set(None);
            changed.update(|v| *v += 1);
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    }
}

/// Copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(
    #[prop(into)] text: Signal<String>,
    #[prop(default = "btn-secondary text-sm")] class: &'static str,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let _ = window()
                .navigator()
                .clipboard()
                .write_text(&text.get_untracked());
            copied.set(true);
        }
        let _ = &text;
    };
    view! {
        <button type="button" class=class on:click=on_click>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}
