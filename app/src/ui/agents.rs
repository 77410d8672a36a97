//! Agents: the marketplace (`/agents`: every agent the user may chat with, by
//! category, promoted first, searchable) and the builder (`/agents/new`,
//! `/agents/:id`: edit, versions, sharing, delete). No code: a form.

use crate::api::{
    agent_builder, agent_files, agent_grants, agent_versions, create_agent, delete_agent,
    delete_agent_file, list_agents, promote_agent, restore_agent_version, set_agent_public,
    share_agent, update_agent,
};
use crate::ui::ErrorText;
use crate::ui::layout::Drawer;
use chorus_types::agent::{AgentRole, AgentSpec, AgentView};
use chorus_types::{EndpointView, ToolOption};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

#[component]
fn PageHeader(title: String) -> impl IntoView {
    let drawer = expect_context::<Drawer>().0;
    view! {
        <header class="flex items-center gap-2 border-b border-zinc-200 dark:border-zinc-800 px-3 h-12 shrink-0">
            <button type="button" class="btn-ghost md:hidden" aria-label="Open conversations"
                on:click=move |_| drawer.set(true)>"☰"</button>
            <h1 class="truncate font-medium flex-1">{title}</h1>
        </header>
    }
}

#[component]
pub fn AgentsPage() -> impl IntoView {
    crate::ui::mark_interactive();
    let agents = Resource::new(|| (), |_| list_agents());
    let search = RwSignal::new(String::new());
    let category = RwSignal::new(None::<String>);
    view! {
        <PageHeader title="Agents".into()/>
        <div class="flex-1 overflow-y-auto">
            <div class="mx-auto max-w-4xl px-4 py-6 space-y-4">
                <div class="flex flex-wrap items-center gap-2">
                    <label class="sr-only" for="agent-search">"Search agents"</label>
                    <input id="agent-search" type="search" class="input flex-1 min-w-48" placeholder="Search agents…"
                        prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev))/>
                    <A href="/agents/new" attr:class="btn-primary">"Create agent"</A>
                </div>
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match agents.await {
                            Ok(list) => view! { <Marketplace list search category/> }.into_any(),
                            Err(e) => view! { <p role="alert" class="error-text">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </div>
        </div>
    }
}

#[component]
fn Marketplace(
    list: Vec<AgentView>,
    search: RwSignal<String>,
    category: RwSignal<Option<String>>,
) -> impl IntoView {
    let mut categories: Vec<String> = list
        .iter()
        .map(|a| a.spec.category.clone())
        .filter(|c| !c.is_empty())
        .collect();
    categories.sort();
    categories.dedup();
    let list = StoredValue::new(list);
    let shown = move || {
        let needle = search.get().to_lowercase();
        let wanted = category.get();
        list.with_value(|all| {
            all.iter()
                .filter(|a| wanted.as_ref().is_none_or(|c| &a.spec.category == c))
                .filter(|a| {
                    needle.is_empty()
                        || a.spec.name.to_lowercase().contains(&needle)
                        || a.spec.description.to_lowercase().contains(&needle)
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        {(!categories.is_empty()).then(|| view! {
            <div class="flex flex-wrap gap-2" role="group" aria-label="Categories">
                <button type="button" class="chip" class:chip-on=move || category.get().is_none()
                    on:click=move |_| category.set(None)>"All"</button>
                {categories.into_iter().map(|c| {
                    let (value, label) = (c.clone(), c.clone());
                    view! {
                        <button type="button" class="chip" class:chip-on=move || category.get().as_deref() == Some(value.as_str())
                            on:click=move |_| category.set(Some(c.clone()))>{label}</button>
                    }
                }).collect_view()}
            </div>
        })}
        {move || {
            let agents = shown();
            if agents.is_empty() {
                return view! { <p class="muted">"No agents here yet. Create one, or ask someone to share theirs."</p> }.into_any();
            }
            view! {
                <ul class="grid gap-3 sm:grid-cols-2" data-testid="agent-list">
                    {agents.into_iter().map(|agent| view! { <AgentCard agent/> }).collect_view()}
                </ul>
            }.into_any()
        }}
    }
}

/// The agent's picture, or the first letter of its name.
#[component]
pub fn AgentAvatar(
    name: String,
    avatar: Option<String>,
    #[prop(default = "size-8")] size: &'static str,
) -> impl IntoView {
    match avatar {
        Some(src) => view! { <img src=src alt="" class=format!("{size} rounded-full object-cover shrink-0") data-testid="agent-avatar"/> }.into_any(),
        None => {
            let initial = name.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default();
            view! {
                <span aria-hidden="true" class=format!("{size} rounded-full bg-zinc-200 dark:bg-zinc-700 grid place-items-center font-semibold shrink-0")>{initial}</span>
            }.into_any()
        }
    }
}

#[component]
fn AgentCard(agent: AgentView) -> impl IntoView {
    let can_edit = agent.role >= AgentRole::Editor;
    let promoted = RwSignal::new(agent.promoted);
    let id = StoredValue::new(agent.id.clone());
    let promote = Action::new(move |on: &bool| {
        let on = *on;
        async move {
            let done = promote_agent(id.get_value(), on).await;
            if done.is_ok() {
                promoted.set(on);
            }
            done
        }
    });
    view! {
        <li class="rounded-xl border border-zinc-200 dark:border-zinc-800 p-4 space-y-2" data-testid="agent-card">
            <div class="flex items-center justify-between gap-2">
                <AgentAvatar name=agent.spec.name.clone() avatar=agent.spec.avatar.clone()/>
                <h2 class="font-semibold truncate flex-1">{agent.spec.name.clone()}</h2>
                <Show when=move || promoted.get()>
                    <span class="chip text-xs">"Promoted"</span>
                </Show>
            </div>
            <p class="text-sm muted line-clamp-3">{agent.spec.description.clone()}</p>
            <p class="text-xs muted">
                "by "{agent.author.clone()}
                {(!agent.spec.category.is_empty()).then(|| format!(" · {}", agent.spec.category))}
            </p>
            <div class="flex gap-2">
                <A href=format!("/?agent={}", agent.id) attr:class="btn-primary py-1 text-sm">"Chat"</A>
                {can_edit.then(|| view! { <A href=format!("/agents/{}", agent.id) attr:class="btn-secondary py-1 text-sm">"Edit"</A> })}
                {agent.can_promote.then(|| view! {
                    <button type="button" class="btn-ghost py-1 text-sm" disabled=move || promote.pending().get()
                        on:click=move |_| { promote.dispatch(!promoted.get_untracked()); }>
                        {move || if promoted.get() { "Unpromote" } else { "Promote" }}
                    </button>
                })}
            </div>
            {move || promote.value().get().and_then(Result::err).map(|e| view! { <p role="alert" class="error-text text-sm">{e.to_string()}</p> })}
        </li>
    }
}

/// The builder: a new agent (`/agents/new`) or an existing one.
#[component]
pub fn AgentEditorPage() -> impl IntoView {
    crate::ui::mark_interactive();
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id"));
    // Bumped after a save or restore, to show the new version.
    let version = RwSignal::new(0u32);
    let data = Resource::new(
        move || (id.get(), version.get()),
        |(id, _)| agent_builder(id),
    );
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    // The test chat beside the form (a chat with the saved version).
    let testing = RwSignal::new(false);
    view! {
        <PageHeader title="Agent builder".into()/>
        <div class="flex-1 flex min-h-0">
        <div class="flex-1 overflow-y-auto">
            <div class="mx-auto max-w-3xl px-4 py-6 space-y-10">
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match data.await {
                            Ok((agent, endpoints, tools)) => view! {
                                <AgentForm agent=agent.clone() endpoints tools version testing/>
                                // Loaded once the page is live: their lists did not
                                // hydrate when rendered inside this one on the server.
                                <Show when=move || mounted.get()>
                                    {agent.clone().filter(|a| a.role >= AgentRole::Editor).map(|a| view! { <Versions id=a.id.clone() version/> })}
                                    {agent.clone().filter(|a| a.role >= AgentRole::Editor).map(|a| view! { <AgentFiles id=a.id.clone()/> })}
                                    {agent.clone().filter(|a| a.role == AgentRole::Owner).map(|a| view! { <Sharing agent=a/> })}
                                </Show>
                            }.into_any(),
                            Err(e) => view! { <p role="alert" class="error-text">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </div>
        </div>
        <Show when=move || testing.get() && id.get().is_some()>
            <TestChat id=id.get().unwrap_or_default() version testing/>
        </Show>
        </div>
    }
}

/// A chat with the agent beside its form: the chat page in a frame (phone
/// width), opened again after each save so it always runs the saved version.
#[component]
fn TestChat(id: String, version: RwSignal<u32>, testing: RwSignal<bool>) -> impl IntoView {
    let src = move || format!("/?agent={id}&v={}", version.get());
    view! {
        <aside class="w-full max-w-[420px] shrink-0 border-l border-zinc-200 dark:border-zinc-800 flex flex-col" aria-label="Test chat">
            <div class="flex items-center justify-between px-3 h-10 border-b border-zinc-200 dark:border-zinc-800">
                <span class="text-sm font-medium">"Test chat (saved version)"</span>
                <button type="button" class="btn-ghost py-1 text-sm" on:click=move |_| testing.set(false)>"Close"</button>
            </div>
            <iframe title="Test chat" class="flex-1 w-full" src=src></iframe>
        </aside>
    }
}

#[component]
fn AgentForm(
    agent: Option<AgentView>,
    endpoints: Vec<EndpointView>,
    tools: Vec<ToolOption>,
    version: RwSignal<u32>,
    testing: RwSignal<bool>,
) -> impl IntoView {
    let navigate = use_navigate();
    let existing = agent.as_ref().map(|a| a.id.clone());
    let start = agent
        .as_ref()
        .map(|a| a.spec.clone())
        .unwrap_or_else(|| AgentSpec {
            endpoint: endpoints
                .first()
                .map(|e| e.name.clone())
                .unwrap_or_default(),
            model: endpoints
                .first()
                .and_then(|e| e.default_model.clone())
                .unwrap_or_default(),
            ..Default::default()
        });
    let name = RwSignal::new(start.name.clone());
    let description = RwSignal::new(start.description.clone());
    let instructions = RwSignal::new(start.instructions.clone());
    let category = RwSignal::new(start.category.clone());
    let endpoint = RwSignal::new(start.endpoint.clone());
    let model = RwSignal::new(start.model.clone());
    let chosen = RwSignal::new(start.tools.clone());
    let starters = RwSignal::new(start.starters.join("\n"));
    let temperature = RwSignal::new(start.temperature.map(|t| t.to_string()).unwrap_or_default());
    let max_tokens = RwSignal::new(start.max_tokens.map(|t| t.to_string()).unwrap_or_default());
    let avatar = RwSignal::new(start.avatar.clone());
    let endpoints = StoredValue::new(endpoints);
    let models = move || {
        endpoints.with_value(|eps| {
            eps.iter()
                .find(|e| e.name == endpoint.get())
                .map(|e| e.models.clone())
                .unwrap_or_default()
        })
    };
    let save = Action::new(move |spec: &AgentSpec| {
        let (spec, existing) = (spec.clone(), existing.clone());
        async move {
            match existing {
                Some(id) => update_agent(id, spec).await,
                None => create_agent(spec).await,
            }
        }
    });
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let is_new = agent.is_none();
    Effect::new(move |_| match save.value().get() {
        Some(Ok(agent)) => {
            error.set(None);
            saved.set(true);
            if is_new {
                navigate(&format!("/agents/{}", agent.id), Default::default());
            } else {
                version.update(|v| *v += 1);
            }
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // Empty means the model's default; anything else must be a number.
        let temperature = match temperature.get_untracked().trim() {
            "" => None,
            t => match t.parse::<f32>() {
                Ok(t) => Some(t),
                Err(_) => {
                    return error.set(Some("The temperature must be a number from 0 to 2.".into()));
                }
            },
        };
        let max_tokens = match max_tokens.get_untracked().trim() {
            "" => None,
            t => match t.parse::<u32>() {
                Ok(t) => Some(t),
                Err(_) => {
                    return error.set(Some(
                        "The longest answer must be a whole number of tokens.".into(),
                    ));
                }
            },
        };
        save.dispatch(AgentSpec {
            temperature,
            max_tokens,
            avatar: avatar.get_untracked(),
            name: name.get_untracked(),
            description: description.get_untracked(),
            instructions: instructions.get_untracked(),
            endpoint: endpoint.get_untracked(),
            model: model.get_untracked(),
            tools: chosen.get_untracked(),
            starters: starters.get_untracked().lines().map(String::from).collect(),
            category: category.get_untracked(),
        });
    };
    let read_only = agent.as_ref().is_some_and(|a| a.role < AgentRole::Editor);
    let heading = match &agent {
        Some(a) => format!("{} (version {})", a.spec.name, a.version),
        None => "New agent".to_string(),
    };
    view! {
        <form class="space-y-4" on:submit=submit data-testid="agent-form">
            <div class="flex items-center justify-between gap-2">
                <h2 class="text-lg font-semibold" data-testid="agent-heading">{heading}</h2>
                // Try it beside the builder, or in a tab of its own.
                {agent.as_ref().map(|a| view! {
                    <div class="flex gap-2">
                        <button type="button" class="btn-secondary py-1 text-sm" aria-pressed=move || testing.get().to_string()
                            on:click=move |_| testing.update(|t| *t = !*t)>"Test chat"</button>
                        <a href=format!("/?agent={}", a.id) target="_blank" class="btn-ghost py-1 text-sm">"New tab"</a>
                    </div>
                })}
            </div>
            <label class="field">"Name"
                <input class="input" name="name" required value=name.get_untracked() prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
            </label>
            <label class="field">"Description"
                <input class="input" name="description" value=description.get_untracked() prop:value=move || description.get() on:input=move |ev| description.set(event_target_value(&ev))/>
            </label>
            <label class="field">"Category"
                <input class="input" name="category" placeholder="e.g. coding, writing, education" value=category.get_untracked() prop:value=move || category.get() on:input=move |ev| category.set(event_target_value(&ev))/>
            </label>
            <label class="field">"Instructions"
                <textarea class="input min-h-32" name="instructions" placeholder="What the agent should do and how (its system prompt)"
                    prop:value=move || instructions.get() on:input=move |ev| instructions.set(event_target_value(&ev))>{instructions.get_untracked()}</textarea>
            </label>
            <div class="flex flex-wrap gap-3">
                <label class="field">"Endpoint"
                    <select class="select" name="endpoint" prop:value=move || endpoint.get()
                        on:change=move |ev| {
                            let name = event_target_value(&ev);
                            let default = endpoints.with_value(|eps| eps.iter().find(|e| e.name == name).and_then(|e| e.default_model.clone()));
                            endpoint.set(name);
                            model.set(default.unwrap_or_default());
                        }>
                        {endpoints.with_value(|eps| eps.iter().map(|e| view! { <option value=e.name.clone() selected=e.name == endpoint.get_untracked()>{e.label.clone()}</option> }).collect_view())}
                    </select>
                </label>
                <label class="field">"Model"
                    <select class="select" name="model" prop:value=move || model.get() on:change=move |ev| model.set(event_target_value(&ev))>
                        {move || models().into_iter().map(|m| view! { <option value=m.clone() selected=m == model.get_untracked()>{m.clone()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <fieldset class="space-y-1">
                <legend class="text-sm font-medium">"Tools"</legend>
                {(tools.is_empty()).then_some(view! { <p class="muted text-sm">"This server offers no tools."</p> })}
                {tools.into_iter().map(|t| {
                    let name = t.name.clone();
                    let checked = { let name = name.clone(); move || chosen.read().contains(&name) };
                    view! {
                        <label class="flex items-center gap-2 text-sm">
                            <input type="checkbox" prop:checked=checked
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    chosen.update(|c| {
                                        c.retain(|n| *n != name);
                                        if on { c.push(name.clone()); }
                                    });
                                }/>
                            {t.label.clone()}
                            {t.description.map(|d| view! { <span class="muted">" — "{d}</span> })}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <div class="flex flex-wrap gap-3">
                <label class="field">"Temperature"
                    <input class="input w-32" name="temperature" inputmode="decimal" placeholder="model default"
                        value=temperature.get_untracked() prop:value=move || temperature.get() on:input=move |ev| temperature.set(event_target_value(&ev))/>
                </label>
                <label class="field">"Longest answer (tokens)"
                    <input class="input w-40" name="max_tokens" inputmode="numeric" placeholder="model default"
                        value=max_tokens.get_untracked() prop:value=move || max_tokens.get() on:input=move |ev| max_tokens.set(event_target_value(&ev))/>
                </label>
            </div>
            <AvatarPicker name avatar error/>
            <label class="field">"Conversation starters (one per line)"
                <textarea class="input min-h-20" name="starters" prop:value=move || starters.get() on:input=move |ev| starters.set(event_target_value(&ev))>{starters.get_untracked()}</textarea>
            </label>
            <div class="flex items-center gap-3">
                <button type="submit" class="btn-primary" disabled=move || read_only || save.pending().get()>
                    {if is_new { "Create" } else { "Save" }}
                </button>
                <Show when=move || saved.get() && save.value().with(|v| matches!(v, Some(Ok(_))))>
                    <span role="status" class="text-sm muted">"Saved."</span>
                </Show>
            </div>
            <ErrorText message=error/>
        </form>
        {agent.filter(|a| a.role == AgentRole::Owner).map(|a| view! { <DeleteAgent id=a.id/> })}
    }
}

#[component]
fn Versions(id: String, version: RwSignal<u32>) -> impl IntoView {
    let versions = {
        let id = id.clone();
        Resource::new(move || version.get(), move |_| agent_versions(id.clone()))
    };
    let restore = Action::new(move |v: &u32| {
        let (id, v) = (id.clone(), *v);
        async move { restore_agent_version(id, v).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = restore.value().get() {
            version.update(|v| *v += 1);
        }
    });
    view! {
        <section class="space-y-2" aria-labelledby="versions">
            <h2 id="versions" class="text-lg font-semibold">"Versions"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = versions.await.unwrap_or_default();
                    let latest = list.first().map(|v| v.version).unwrap_or(0);
                    view! {
                        <ul class="space-y-1 text-sm" data-testid="agent-versions">
                            {list.into_iter().map(|v| view! {
                                <li class="flex items-center gap-2" data-testid="agent-version">
                                    <span class="font-medium">{format!("Version {}", v.version)}</span>
                                    <span class="muted truncate">{v.spec.name.clone()}</span>
                                    {(v.version != latest).then(|| view! {
                                        <button type="button" class="btn-ghost text-sm"
                                            on:click=move |_| { restore.dispatch(v.version); }>"Restore"</button>
                                    })}
                                </li>
                            }).collect_view()}
                        </ul>
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Sharing(agent: AgentView) -> impl IntoView {
    let id = StoredValue::new(agent.id.clone());
    let public = RwSignal::new(agent.public);
    let changed = RwSignal::new(0u32);
    let grants = Resource::new(move || changed.get(), move |_| agent_grants(id.get_value()));
    let set_public = Action::new(move |on: &bool| {
        let on = *on;
        async move { set_agent_public(id.get_value(), on).await }
    });
    let share = Action::new(move |(email, role): &(String, String)| {
        let (email, role) = (email.clone(), role.clone());
        async move { share_agent(id.get_value(), email, role).await }
    });
    let error = RwSignal::new(None::<String>);
    let done = crate::ui::reload_or_report(changed, error);
    Effect::new(move |_| done(share.value().get()));
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("viewer".to_string());
    view! {
        <section class="space-y-3" aria-labelledby="sharing">
            <h2 id="sharing" class="text-lg font-semibold">"Sharing"</h2>
            <label class="flex items-center gap-2 text-sm">
                <input type="checkbox" name="public" prop:checked=move || public.get()
                    on:change=move |ev| { let on = event_target_checked(&ev); public.set(on); set_public.dispatch(on); }/>
                "Everyone on this server can chat with it (it is listed in their Agents)"
            </label>
            <form class="flex flex-wrap items-end gap-2" on:submit=move |ev| {
                ev.prevent_default();
                share.dispatch((email.get_untracked(), role.get_untracked()));
            }>
                <label class="field flex-1 min-w-48">"Share with (email or group name)"
                    <input class="input" name="who" required prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev))/>
                </label>
                <label class="field">"Role"
                    <select class="select" name="role" prop:value=move || role.get() on:change=move |ev| role.set(event_target_value(&ev))>
                        <option value="viewer">"Can chat"</option>
                        <option value="editor">"Can edit"</option>
                    </select>
                </label>
                <button type="submit" class="btn-secondary">"Share"</button>
            </form>
            <ErrorText message=error/>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = grants.await.unwrap_or_default();
                    view! {
                        <ul class="space-y-1 text-sm" data-testid="agent-grants">
                            {list.into_iter().map(|g| {
                                let who = g.who.clone();
                                view! {
                                    <li class="flex items-center gap-2" data-testid="agent-grant">
                                        <span>{g.who.clone()}</span>
                                        {g.group.then_some(view! { <span class="chip text-xs">"group"</span> })}
                                        <span class="muted">{if g.role == AgentRole::Editor { "can edit" } else { "can chat" }}</span>
                                        <button type="button" class="btn-ghost text-sm" aria-label=format!("Stop sharing with {}", g.who)
                                            on:click=move |_| { share.dispatch((who.clone(), "none".into())); }>"Remove"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn DeleteAgent(id: String) -> impl IntoView {
    let navigate = use_navigate();
    let confirm = RwSignal::new(false);
    let delete = Action::new(move |_: &()| {
        let id = id.clone();
        async move { delete_agent(id).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/agents", Default::default());
        }
    });
    view! {
        <div class="flex items-center gap-2">
            <Show when=move || confirm.get() fallback=move || view! {
                <button type="button" class="btn-ghost text-sm text-red-600" on:click=move |_| confirm.set(true)>"Delete agent"</button>
            }>
                <span class="text-sm">"Delete this agent for everyone it is shared with?"</span>
                <button type="button" class="btn-danger text-sm" on:click=move |_| { delete.dispatch(()); }>"Delete"</button>
                <button type="button" class="btn-ghost text-sm" on:click=move |_| confirm.set(false)>"Cancel"</button>
            </Show>
        </div>
    }
}

/// Choose a picture for the agent (kept in its record, so it must be small).
#[component]
fn AvatarPicker(
    name: RwSignal<String>,
    avatar: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let pick = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            let Some((input, files)) = crate::attach::chosen_files(&ev) else {
                return;
            };
            let Some(file) = files.get(0) else { return };
            input.set_value("");
            leptos::task::spawn_local(async move {
                match crate::attach::data_url(&file).await {
                    Ok(url) => {
                        error.set(None);
                        avatar.set(Some(url));
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, error);
    };
    view! {
        <div class="flex items-center gap-3">
            {move || view! { <AgentAvatar name=name.get() avatar=avatar.get() size="size-12"/> }}
            <label class="btn-secondary py-1 text-sm cursor-pointer">"Choose picture"
                <input type="file" name="avatar" accept="image/png,image/jpeg,image/gif,image/webp" class="sr-only" on:change=pick/>
            </label>
            <Show when=move || avatar.read().is_some()>
                <button type="button" class="btn-ghost py-1 text-sm" on:click=move |_| avatar.set(None)>"Remove picture"</button>
            </Show>
        </div>
    }
}

/// Files the agent's code can read in every chat with it (Code must be on).
#[component]
fn AgentFiles(id: String) -> impl IntoView {
    let id = StoredValue::new(id);
    let changed = RwSignal::new(0u32);
    let files = Resource::new(move || changed.get(), move |_| agent_files(id.get_value()));
    let error = RwSignal::new(None::<String>);
    let remove = Action::new(move |file: &String| {
        let file = file.clone();
        async move { delete_agent_file(id.get_value(), file).await }
    });
    let done = crate::ui::reload_or_report(changed, error);
    Effect::new(move |_| done(remove.value().get()));
    let pick = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            let Some((input, list)) = crate::attach::chosen_files(&ev) else {
                return;
            };
            let upload =
                crate::attach::upload_to(format!("/api/agents/{}/files", id.get_value()), &list);
            input.set_value("");
            leptos::task::spawn_local(async move {
                match upload.await {
                    Ok(_) => {
                        error.set(None);
                        changed.update(|v| *v += 1);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <section class="space-y-2" aria-labelledby="agent-files">
            <h2 id="agent-files" class="text-lg font-semibold">"Files"</h2>
            <p class="muted text-sm">"Its code can read these in /mnt/data in every chat with it (Code must be on)."</p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = files.await.unwrap_or_default();
                    view! {
                        <ul class="space-y-1 text-sm" data-testid="agent-files">
                            {list.into_iter().map(|f| {
                                let file = f.id.clone();
                                view! {
                                    <li class="flex items-center gap-2" data-testid="agent-file">
                                        <span class="flex-1 truncate">{f.name.clone()}</span>
                                        <button type="button" class="btn-ghost py-1 text-sm" aria-label=format!("Remove {}", f.name)
                                            on:click=move |_| { remove.dispatch(file.clone()); }>"Remove"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }
                })}
            </Transition>
            <label class="btn-secondary py-1 text-sm cursor-pointer inline-block">"Add files"
                <input type="file" multiple name="agent-files" class="sr-only" on:change=pick/>
            </label>
            <ErrorText message=error/>
        </section>
    }
}
