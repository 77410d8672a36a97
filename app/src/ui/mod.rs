//! Components. Small, one job each.

pub mod auth;
pub mod chat;
pub mod layout;
pub mod message;

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
