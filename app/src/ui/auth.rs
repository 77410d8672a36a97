//! Sign-in and registration. Plain forms that post to server functions, so they
//! also work before the wasm has loaded.

use crate::api::{ApiError, Login, Register, current_user, registration_open};
use crate::ui::{ErrorText, action_error};
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

/// A labelled input.
#[component]
fn Field(
    label: &'static str,
    name: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    #[prop(optional)] required: bool,
    #[prop(optional)] minlength: Option<&'static str>,
    #[prop(optional)] hint: Option<&'static str>,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input type=kind name=name autocomplete=autocomplete required=required minlength=minlength class="input"/>
            {hint.map(|h| view! { <small class="muted">{h}</small> })}
        </label>
    }
}

/// The submit button, which says when it is busy.
#[component]
fn Submit(idle: &'static str, busy: &'static str, pending: Memo<bool>) -> impl IntoView {
    view! {
        <button type="submit" class="btn-primary w-full" disabled=move || pending.get()>
            {move || if pending.get() { busy } else { idle }}
        </button>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    crate::ui::mark_interactive();
    let login = ServerAction::<Login>::new();
    let open = Resource::new(|| (), |_| registration_open());
    let pending = Memo::new(move |_| login.pending().get());
    // Asked for once the password checked out on an account with two-factor
    // authentication; the same form is sent again with it.
    let needs_code = RwSignal::new(false);
    Effect::new(move |_| {
        if matches!(login.value().get(), Some(Err(ApiError::CodeRequired))) {
            needs_code.set(true);
        }
    });
    view! {
        <RedirectIfSignedIn/>
        <AuthCard title="Sign in to Chorus">
            <ActionForm action=login attr:class="space-y-4">
                <Field label="Email" name="email" kind="email" autocomplete="username" required=true/>
                <Field label="Password" name="password" kind="password" autocomplete="current-password" required=true/>
                <Show when=move || needs_code.get()>
                    <label class="field">
                        <span>"Authentication code"</span>
                        <input type="text" name="code" autocomplete="one-time-code" inputmode="text"
                            required class="input" autofocus/>
                        <small class="muted">"From your authenticator app, or one of your backup codes."</small>
                    </label>
                </Show>
                <ErrorText message=action_error(login.value())/>
                <Submit idle="Sign in" busy="Signing in…" pending/>
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
    let pending = Memo::new(move |_| register.pending().get());
    view! {
        <RedirectIfSignedIn/>
        <AuthCard title="Create your account">
            <ActionForm action=register attr:class="space-y-4">
                <Field label="Name" name="name" kind="text" autocomplete="name"/>
                <Field label="Email" name="email" kind="email" autocomplete="username" required=true/>
                <Field label="Password" name="password" kind="password" autocomplete="new-password"
                    required=true minlength="8" hint="At least 8 characters."/>
                <ErrorText message=action_error(register.value())/>
                <Submit idle="Create account" busy="Creating…" pending/>
            </ActionForm>
            <p class="text-center text-sm muted">
                "Already have an account? " <a class="link" href="/login">"Sign in"</a>
            </p>
        </AuthCard>
    }
}
