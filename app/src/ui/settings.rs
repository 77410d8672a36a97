//! Settings: the user's own provider keys, their keys for the
//! OpenAI-compatible API, two-factor sign-in, their values for MCP servers,
//! and (administrators) groups.

use crate::api::{
    BeginTwoFactor, ConfirmTwoFactor, CreateApiKey, DeleteProviderKey, DisableTwoFactor,
    LogoutEverywhere, RevokeApiKey, SaveProviderKey, list_api_keys, list_provider_keys,
    two_factor_enabled,
};
use crate::ui::layout::Drawer;
use crate::ui::{CopyButton, ErrorText, action_error};
use chorus_types::{ApiKeyView, ProviderKeyView};
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn SettingsPage() -> impl IntoView {
    crate::ui::mark_interactive();
    let drawer = expect_context::<Drawer>().0;
    view! {
        <header class="flex items-center gap-2 border-b border-zinc-200 dark:border-zinc-800 px-3 h-12 shrink-0">
            <button type="button" class="btn-ghost md:hidden" aria-label="Open conversations"
                on:click=move |_| drawer.set(true)>"☰"</button>
            <h1 class="truncate font-medium flex-1">"Settings"</h1>
        </header>
        <div class="flex-1 overflow-y-auto">
            <div class="mx-auto max-w-3xl px-4 py-6 space-y-10">
                <ProviderKeys/>
                <ApiKeys/>
                <TwoFactor/>
                <Sessions/>
                <crate::ui::mcp_vars::McpVars/>
                <crate::ui::groups::Groups/>
            </div>
        </div>
    }
}

/// The date part of a timestamp (UTC), the same on server and browser.
fn day(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(millis / 1000)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

#[component]
fn ProviderKeys() -> impl IntoView {
    let save = ServerAction::<SaveProviderKey>::new();
    let delete = ServerAction::<DeleteProviderKey>::new();
    let keys = Resource::new(
        move || (save.version().get(), delete.version().get()),
        |_| list_provider_keys(),
    );
    let save_error = action_error(save.value());
    let delete_error = action_error(delete.value());
    view! {
        <section class="space-y-3" aria-labelledby="provider-keys">
            <div>
                <h2 id="provider-keys" class="text-lg font-semibold">"Provider keys"</h2>
                <p class="muted text-sm">
                    "Some endpoints run on your own account with the provider. Your key is encrypted on the server, used only for your requests, and never shown again."
                </p>
            </div>
            <Transition fallback=|| view! { <p class="muted text-sm">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted text-sm">"No endpoint on this server takes keys from users."</p>
                        }.into_any(),
                        Ok(list) => list.into_iter().map(|k| view! {
                            <ProviderKeyCard key=k save delete/>
                        }).collect_view().into_any(),
                        Err(e) => view! { <p role="alert" class="error-text">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <ErrorText message=save_error/>
            <ErrorText message=delete_error/>
        </section>
    }
}

#[component]
fn ProviderKeyCard(
    key: ProviderKeyView,
    save: ServerAction<SaveProviderKey>,
    delete: ServerAction<DeleteProviderKey>,
) -> impl IntoView {
    let ProviderKeyView {
        endpoint,
        label,
        wants_key,
        wants_base_url,
        has_key,
        base_url,
        updated_at,
    } = key;
    let status = match updated_at {
        Some(at) if has_key || base_url.is_some() => format!("Saved {}", day(at)),
        _ => "Not set".to_string(),
    };
    let stored = updated_at.is_some();
    let key_placeholder = if has_key {
        "Saved. Type a new key to replace it."
    } else {
        "Paste your API key"
    };
    let url_required = base_url.is_none();
    let url_value = base_url.unwrap_or_default();
    let (card_endpoint, save_endpoint) = (endpoint.clone(), endpoint.clone());
    view! {
        <div class="card space-y-3" data-testid="provider-key" data-endpoint=card_endpoint>
            <div class="flex items-baseline justify-between gap-2">
                <h3 class="font-medium">{label}</h3>
                <span class="muted text-sm" data-testid="provider-key-status">{status}</span>
            </div>
            <ActionForm action=save attr:class="space-y-3">
                <input type="hidden" name="endpoint" value=save_endpoint/>
                {wants_key.then(|| view! {
                    <label class="field">
                        <span>"API key"</span>
                        <input type="password" name="api_key" autocomplete="off" class="input"
                            placeholder=key_placeholder required=!has_key/>
                    </label>
                })}
                {wants_base_url.then(|| view! {
                    <label class="field">
                        <span>"Base URL"</span>
                        <input type="url" name="base_url" class="input" placeholder="https://api.example.com/v1"
                            value=url_value required=url_required/>
                    </label>
                })}
                <div class="flex gap-2">
                    <button type="submit" class="btn-primary" disabled=move || save.pending().get()>"Save"</button>
                </div>
            </ActionForm>
            {stored.then(|| view! {
                <ActionForm action=delete>
                    <input type="hidden" name="endpoint" value=endpoint/>
                    <button type="submit" class="btn-secondary text-sm">"Delete my key"</button>
                </ActionForm>
            })}
        </div>
    }
}

#[component]
fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    // Known only in the browser; the server renders the path alone.
    let origin = RwSignal::new(String::new());
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Ok(o) = window().location().origin() {
            origin.set(o);
        }
    });
    let created = move || create.value().get().and_then(|r| r.ok());
    view! {
        <section class="space-y-3" aria-labelledby="api-keys">
            <div>
                <h2 id="api-keys" class="text-lg font-semibold">"API keys"</h2>
                <p class="muted text-sm">
                    "Use Chorus from any OpenAI client: base URL "
                    <code data-testid="api-base">{move || format!("{}/v1", origin.get())}</code>
                    ", model ids as listed by /v1/models (endpoint/model)."
                </p>
            </div>
            <ActionForm action=create attr:class="flex flex-wrap items-end gap-2">
                <label class="field flex-1 min-w-48">
                    <span>"New key name"</span>
                    <input type="text" name="name" class="input" placeholder="e.g. laptop scripts" required maxlength="100"/>
                </label>
                <button type="submit" class="btn-primary" disabled=move || create.pending().get()>"Create key"</button>
            </ActionForm>
            <ErrorText message=action_error(create.value())/>
            {move || created().map(|c| view! {
                <div role="status" class="card space-y-2 border-indigo-400" data-testid="new-api-key">
                    <p class="text-sm font-medium">
                        {format!("Key \u{201c}{}\u{201d} created. Copy it now: it will not be shown again.", c.key.name)}
                    </p>
                    <code class="block break-all rounded-lg bg-zinc-100 p-2 text-sm dark:bg-zinc-800" data-testid="new-api-key-secret">
                        {c.secret.clone()}
                    </code>
                    <CopyButton text=c.secret.clone()/>
                </div>
            })}
            <Transition fallback=|| view! { <p class="muted text-sm">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted text-sm">"You have no API keys."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="divide-y divide-zinc-200 dark:divide-zinc-800" data-testid="api-key-list">
                                {list.into_iter().map(|k| view! { <ApiKeyRow key=k revoke/> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p role="alert" class="error-text">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <ErrorText message=action_error(revoke.value())/>
        </section>
    }
}

#[component]
fn ApiKeyRow(key: ApiKeyView, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    let used = key
        .last_used_at
        .map(|t| format!("last used {}", day(t)))
        .unwrap_or_else(|| "never used".into());
    let id = key.id.clone();
    let name = key.name.clone();
    let on_revoke = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let question = format!(
                "Revoke the key \u{201c}{name}\u{201d}? Apps using it stop working at once."
            );
            if !window().confirm_with_message(&question).unwrap_or(false) {
                return;
            }
        }
        let _ = &name;
        revoke.dispatch(RevokeApiKey { id: id.clone() });
    };
    view! {
        <li class="flex items-center gap-3 py-2" data-testid="api-key">
            <div class="min-w-0 flex-1">
                <p class="truncate font-medium">{key.name.clone()}</p>
                <p class="muted text-xs">
                    <code>{format!("{}…", key.prefix)}</code>
                    {format!(" · created {} · {used}", day(key.created_at))}
                </p>
            </div>
            <button type="button" class="btn-secondary text-sm" on:click=on_revoke>"Revoke"</button>
        </li>
    }
}

/// Two-factor authentication: set up with an authenticator app (QR code or the
/// seed typed in), confirmed with a first code, which shows the backup codes
/// once; turned off with a code.
#[component]
fn TwoFactor() -> impl IntoView {
    let begin = ServerAction::<BeginTwoFactor>::new();
    let confirm = ServerAction::<ConfirmTwoFactor>::new();
    let disable = ServerAction::<DisableTwoFactor>::new();
    let enabled = Resource::new(
        move || (confirm.version().get(), disable.version().get()),
        |_| two_factor_enabled(),
    );
    let setup = move || begin.value().get().and_then(|r| r.ok());
    let backup_codes = move || confirm.value().get().and_then(|r| r.ok());
    view! {
        <section class="space-y-3" aria-labelledby="two-factor">
            <div>
                <h2 id="two-factor" class="text-lg font-semibold">"Two-factor authentication"</h2>
                <p class="muted text-sm">
                    "Sign-in also asks for a code from an authenticator app (Aegis, Google Authenticator, 1Password…)."
                </p>
            </div>
            {move || backup_codes().map(|codes| view! {
                <div role="status" class="card space-y-2 border-indigo-400" data-testid="backup-codes">
                    <p class="text-sm font-medium">
                        "Two-factor authentication is on. Keep these backup codes somewhere safe: each signs you in once if you lose your device. They will not be shown again."
                    </p>
                    <ul class="grid grid-cols-2 gap-1 font-mono text-sm">
                        {codes.iter().map(|c| view! { <li data-testid="backup-code">{c.clone()}</li> }).collect_view()}
                    </ul>
                    <CopyButton text=codes.join("\n")/>
                </div>
            })}
            <Transition fallback=|| view! { <p class="muted text-sm">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match enabled.await {
                        Ok(true) => view! {
                            <p class="text-sm" data-testid="two-factor-state">"On."</p>
                            <ActionForm action=disable attr:class="flex flex-wrap items-end gap-2">
                                <label class="field">
                                    <span>"Code to turn it off"</span>
                                    <input type="text" name="code" autocomplete="one-time-code" class="input" required/>
                                </label>
                                <button type="submit" class="btn-secondary">"Turn off"</button>
                            </ActionForm>
                        }.into_any(),
                        Ok(false) => view! {
                            <p class="text-sm" data-testid="two-factor-state">"Off."</p>
                            <button type="button" class="btn-secondary"
                                on:click=move |_| { begin.dispatch(BeginTwoFactor {}); }>
                                "Set up two-factor authentication"
                            </button>
                            {move || setup().map(|s| view! {
                                <div class="card space-y-3" data-testid="two-factor-setup">
                                    <p class="text-sm">"Scan this with your authenticator app, or enter the key by hand."</p>
                                    // Our own SVG, drawn by the qrcode crate from the otpauth URL.
                                    <div class="w-48 bg-white p-2 rounded" inner_html=s.qr_svg.clone()></div>
                                    <code class="block break-all text-sm" data-testid="two-factor-secret">{s.secret.clone()}</code>
                                    <ActionForm action=confirm attr:class="flex flex-wrap items-end gap-2">
                                        <label class="field">
                                            <span>"Code from the app"</span>
                                            <input type="text" name="code" autocomplete="one-time-code" inputmode="numeric" class="input" required/>
                                        </label>
                                        <button type="submit" class="btn-primary">"Turn on"</button>
                                    </ActionForm>
                                </div>
                            })}
                        }.into_any(),
                        Err(e) => view! { <p role="alert" class="error-text">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <ErrorText message=action_error(begin.value())/>
            <ErrorText message=action_error(confirm.value())/>
            <ErrorText message=action_error(disable.value())/>
        </section>
    }
}

/// Ends the user's sessions on every device (a lost phone, a shared computer).
#[component]
fn Sessions() -> impl IntoView {
    let everywhere = ServerAction::<LogoutEverywhere>::new();
    view! {
        <section class="space-y-3" aria-labelledby="sessions">
            <h2 id="sessions" class="text-lg font-semibold">"Sessions"</h2>
            <p class="muted text-sm">"Signs you out on every device and browser, this one too."</p>
            <ActionForm action=everywhere>
                <button type="submit" class="btn-secondary">"Sign out everywhere"</button>
            </ActionForm>
            <ErrorText message=action_error(everywhere.value())/>
        </section>
    }
}
