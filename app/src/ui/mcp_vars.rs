//! Settings → MCP servers: what each server that asks users for values
//! (their own token) needs, entered here (never shown again, only that they
//! are set; clearing forgets them); and the remote servers a user adds for
//! themselves (offered only to them, as chips in the composer).

use crate::api::{
    add_user_mcp_server, clear_mcp_vars, delete_user_mcp_server, mcp_var_forms, set_mcp_vars,
    user_mcp_servers,
};
use crate::ui::ErrorText;
use chorus_types::{McpVarsView, UserMcpServerSpec};
use leptos::prelude::*;
use std::collections::BTreeMap;

#[component]
pub fn McpVars() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let forms = Resource::new(move || changed.get(), |_| mcp_var_forms());
    view! {
        <section class="space-y-3" aria-labelledby="mcp-vars">
            <h2 id="mcp-vars" class="text-lg font-semibold">"MCP servers"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = forms.await.unwrap_or_default();
                    (!list.is_empty()).then(|| view! {
                        <p class="muted text-sm">"These tool servers act on your behalf with your own credentials. They are stored encrypted and never shown again."</p>
                        {list.into_iter().map(|form| view! { <ServerVars form changed/> }).collect_view()}
                    })
                })}
            </Transition>
            <MyServers/>
        </section>
    }
}

/// The remote MCP servers the user added: listed with Remove, and a form to add one.
#[component]
fn MyServers() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let servers = Resource::new(move || changed.get(), |_| user_mcp_servers());
    let error = RwSignal::new(None::<String>);
    let add = Action::new(move |spec: &UserMcpServerSpec| {
        let spec = spec.clone();
        async move { add_user_mcp_server(spec).await }
    });
    let remove = Action::new(move |name: &String| {
        let name = name.clone();
        async move { delete_user_mcp_server(name).await }
    });
    let done = crate::ui::reload_or_report(changed, error);
    let (name, title, url, transport, authorization) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new("streamable-http".to_string()),
        RwSignal::new(String::new()),
    );
    Effect::new(move |_| {
        let added = add.value().get();
        // Added: the form is ready for the next one.
        if matches!(added, Some(Ok(()))) {
            for field in [name, title, url, authorization] {
                field.set(String::new());
            }
        }
        done(added)
    });
    Effect::new(move |_| done(remove.value().get()));
    view! {
        <h3 class="font-medium">"Your own servers"</h3>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list = servers.await.unwrap_or_default();
                view! {
                    <ul class="space-y-1 text-sm" data-testid="my-mcp-servers">
                        {list.into_iter().map(|s| {
                            let name = s.name.clone();
                            view! {
                                <li class="flex items-center gap-2" data-testid="my-mcp-server">
                                    <span class="font-medium">{s.title.clone()}</span>
                                    <span class="muted truncate flex-1">{format!("{} ({})", s.url, s.transport)}</span>
                                    <button type="button" class="btn-ghost py-1 text-sm" aria-label=format!("Remove {}", s.name)
                                        on:click=move |_| { remove.dispatch(name.clone()); }>"Remove"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }
            })}
        </Transition>
        <form class="grid gap-2 sm:grid-cols-2" data-testid="add-mcp-server" on:submit=move |ev| {
            ev.prevent_default();
            add.dispatch(UserMcpServerSpec {
                name: name.get_untracked(),
                title: title.get_untracked(),
                url: url.get_untracked(),
                transport: transport.get_untracked(),
                authorization: authorization.get_untracked(),
            });
        }>
            <label class="field">"Name (letters, digits, - and _)"
                <input class="input" name="name" required prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
            </label>
            <label class="field">"Title"
                <input class="input" name="title" prop:value=move || title.get() on:input=move |ev| title.set(event_target_value(&ev))/>
            </label>
            <label class="field">"URL"
                <input class="input" name="url" type="url" required placeholder="https://example.com/mcp" prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))/>
            </label>
            <label class="field">"Transport"
                <select class="select" name="transport" prop:value=move || transport.get() on:change=move |ev| transport.set(event_target_value(&ev))>
                    <option value="streamable-http">"Streamable HTTP"</option>
                    <option value="sse">"HTTP + SSE (older servers)"</option>
                </select>
            </label>
            <label class="field sm:col-span-2">"Authorization header (optional, stored encrypted)"
                <input class="input" name="authorization" type="password" autocomplete="off" placeholder="Bearer …" prop:value=move || authorization.get() on:input=move |ev| authorization.set(event_target_value(&ev))/>
            </label>
            <div class="sm:col-span-2">
                <button type="submit" class="btn-primary py-1 text-sm" disabled=move || add.pending().get()>"Add server"</button>
            </div>
        </form>
        <ErrorText message=error/>
    }
}

#[component]
fn ServerVars(form: McpVarsView, changed: RwSignal<u32>) -> impl IntoView {
    let server = StoredValue::new(form.server.clone());
    let inputs: Vec<(String, RwSignal<String>)> = form
        .vars
        .iter()
        .map(|v| (v.name.clone(), RwSignal::new(String::new())))
        .collect();
    let inputs = StoredValue::new(inputs);
    let error = RwSignal::new(None::<String>);
    let save = Action::new(move |values: &BTreeMap<String, String>| {
        let values = values.clone();
        async move { set_mcp_vars(server.get_value(), values).await }
    });
    let clear = Action::new(move |_: &()| async move { clear_mcp_vars(server.get_value()).await });
    let done = crate::ui::reload_or_report(changed, error);
    Effect::new(move |_| done(save.value().get()));
    Effect::new(move |_| done(clear.value().get()));
    let all_set = form.vars.iter().all(|v| v.set);
    let any_set = form.vars.iter().any(|v| v.set);
    view! {
        <form class="space-y-2 rounded-xl border border-zinc-200 dark:border-zinc-800 p-4" data-testid="mcp-vars-form"
            on:submit=move |ev| {
                ev.prevent_default();
                let values = inputs.with_value(|i| i.iter().map(|(n, s)| (n.clone(), s.get_untracked())).collect());
                save.dispatch(values);
            }>
            <div class="flex items-center gap-2">
                <h3 class="font-medium flex-1">{form.title.clone()}</h3>
                <span class="chip text-xs" data-testid="mcp-vars-state">{if all_set { "Ready" } else { "Needs your values" }}</span>
            </div>
            {form.vars.into_iter().zip(inputs.get_value()).map(|(v, (_, value))| view! {
                <label class="field">{v.title.clone()}
                    <input class="input" type="password" autocomplete="off" name=v.name.clone()
                        placeholder=if v.set { "Entered (type to replace)" } else { "Not entered" }
                        prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                    {v.description.map(|d| view! { <span class="muted text-xs">{d}</span> })}
                </label>
            }).collect_view()}
            <div class="flex gap-2">
                <button type="submit" class="btn-primary py-1 text-sm" disabled=move || save.pending().get()>"Save"</button>
                {any_set.then(|| view! {
                    <button type="button" class="btn-ghost py-1 text-sm" on:click=move |_| { clear.dispatch(()); }>"Clear"</button>
                })}
            </div>
            <ErrorText message=error/>
        </form>
    }
}
