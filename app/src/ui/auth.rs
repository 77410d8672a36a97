//! Sign-in and registration. Plain forms that post to server functions, so they
//! also work before the wasm has loaded.

use crate::api::{Login, Register, current_user, registration_open};
use crate::ui::ErrorText;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::Redirect;

/// Sends a signed-in visitor on to the chat.
#[component]
fn RedirectIfSignedIn() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                matches!(user.await, Ok(Some(_))).then(|| view! { <Redirect path="/"/> })
            })}
        </Suspense>
    }
}

#[component]
fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <main class="min-h-dvh grid place-items-center p-4">
            <div class="w-full max-w-sm card space-y-6">
                <div class="space-y-1 text-center">
                    <img src="/icon.svg" alt="" class="mx-auto h-10 w-10"/>
                    <h1 class="text-2xl font-semibold">{title}</h1>
                </div>
                {children()}
            </div>
        </main>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    crate::ui::mark_interactive();
    let login = ServerAction::<Login>::new();
    let error = Signal::derive(move || {
        login
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    });
    let open = Resource::new(|| (), |_| registration_open());
    view! {
        <RedirectIfSignedIn/>
        <AuthCard title="Sign in to Chorus">
            <ActionForm action=login attr:class="space-y-4">
                <label class="field">
                    <span>"Email"</span>
                    <input type="email" name="email" autocomplete="username" required class="input"/>
                </label>
                <label class="field">
                    <span>"Password"</span>
                    <input type="password" name="password" autocomplete="current-password" required class="input"/>
                </label>
                <ErrorText message=error/>
                <button type="submit" class="btn-primary w-full" disabled=move || login.pending().get()>
                    {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            <Suspense>
                {move || Suspend::new(async move {
                    matches!(open.await, Ok(true)).then(|| view! {
                        <p class="text-center text-sm muted">
                            "No account? " <a class="link" href="/register">"Create one"</a>
                        </p>
                    })
                })}
            </Suspense>
        </AuthCard>
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    crate::ui::mark_interactive();
    let register = ServerAction::<Register>::new();
    let error = Signal::derive(move || {
        register
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    });
    view! {
        <RedirectIfSignedIn/>
        <AuthCard title="Create your account">
            <ActionForm action=register attr:class="space-y-4">
                <label class="field">
                    <span>"Name"</span>
                    <input type="text" name="name" autocomplete="name" class="input"/>
                </label>
                <label class="field">
                    <span>"Email"</span>
                    <input type="email" name="email" autocomplete="username" required class="input"/>
                </label>
                <label class="field">
                    <span>"Password"</span>
                    <input type="password" name="password" autocomplete="new-password" minlength="8" required class="input"/>
                    <small class="muted">"At least 8 characters."</small>
                </label>
                <ErrorText message=error/>
                <button type="submit" class="btn-primary w-full" disabled=move || register.pending().get()>
                    {move || if register.pending().get() { "Creating…" } else { "Create account" }}
                </button>
            </ActionForm>
            <p class="text-center text-sm muted">
                "Already have an account? " <a class="link" href="/login">"Sign in"</a>
            </p>
        </AuthCard>
    }
}
