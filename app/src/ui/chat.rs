//! A conversation (or a new one): header, messages, composer.

use crate::api::{
    available_tools, get_agent, get_conversation, list_endpoints, remove_attachment, send_message,
    stop_job,
};
use crate::ui::ErrorText;
use crate::ui::code_block::human_size;
use crate::ui::code_files::{FilesPanel, FilesToggle};
use crate::ui::layout::{Change, Changes, Drawer, Refresh, ThemeToggle};
use crate::ui::message::{ActiveJob, MessageItem};
use crate::ui::thread::{ModelChoice, OpenConversation};
use chorus_types::agent::AgentView;
use chorus_types::{
    CodeFileView, ConversationView, EndpointView, MessageView, ToolOption, UserEvent,
};

/// The code tool's name (`chorus_tools::EXECUTE_CODE`, which the browser build cannot link).
const EXECUTE_CODE: &str = "execute_code";
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

#[component]
pub fn ChatView() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id"));
    // `/?agent=ID` starts a chat with that agent.
    let query = use_query_map();
    let new_agent = Memo::new(move |_| query.read().get("agent"));
    // Bumped after a message is sent to an existing conversation.
    let version = RwSignal::new(0u32);
    let conversation = Resource::new(
        move || (id.get(), version.get()),
        |(id, _)| async move {
            match id {
                Some(id) => get_conversation(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let agent = Resource::new(
        move || (id.get(), new_agent.get()),
        |(id, agent)| async move {
            match (id, agent) {
                (None, Some(agent)) => get_agent(agent).await.map(Some),
                _ => Ok(None),
            }
        },
    );
    let endpoints = Resource::new(|| (), |_| list_endpoints());
    let tools = Resource::new(|| (), |_| available_tools());
    // A title that changed while the page is open, with the conversation it
    // belongs to: a late one for a conversation left behind never shows.
    let live_title = RwSignal::new(None::<(String, String)>);
    let active = ActiveJob(RwSignal::new(None));
    provide_context(active);
    // The unsent text lives here, outside the part that re-renders when the
    // conversation reloads, so a reload caused by another tab keeps a draft.
    let draft = RwSignal::new(String::new());
    // Files attached to the draft, kept the same way.
    let attached = RwSignal::new(Vec::<CodeFileView>::new());
    // The draft is cleared only when there is something to clear: a set
    // notifies every reader, and the view being replaced may still hold some.
    Effect::new(move |_| {
        id.track();
        if draft.with_untracked(|d| !d.is_empty()) {
            draft.set(String::new());
        }
        if attached.with_untracked(|a| !a.is_empty()) {
            attached.set(Vec::new());
        }
    });
    follow_other_tabs(id, version, live_title, active);

    view! {
        <Transition fallback=|| view! { <div class="flex-1 grid place-items-center muted">"Loading…"</div> }>
            {move || Suspend::new(async move {
                let conversation = conversation.await;
                let endpoints = endpoints.await;
                let agent = agent.await;
                // Without the list the chat still works, with no tools to offer.
                let tools = tools.await.unwrap_or_default();
                match (conversation, endpoints, agent) {
                    (Ok(conversation), Ok(endpoints), Ok(agent)) => {
                        // The conversation's agent, or the one a new chat starts with.
                        let agent = conversation.as_ref().and_then(|c| c.agent.clone()).or(agent);
                        view! { <Chat conversation endpoints tools agent live_title version draft attached/> }.into_any()
                    }
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => view! {
                        <Header title=Signal::stored("Chorus".to_string()) conversation=None/>
                        <div class="flex-1 grid place-items-center p-6">
                            <p role="alert" class="error-text">{e.to_string()}</p>
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Keeps the open conversation in step with what other tabs and devices do to
/// it: an answer started elsewhere appears and streams here, a rename shows,
/// a deletion leaves.
fn follow_other_tabs(
    id: Memo<Option<String>>,
    version: RwSignal<u32>,
    live_title: RwSignal<Option<(String, String)>>,
    active: ActiveJob,
) {
    let changes = expect_context::<Changes>();
    let navigate = use_navigate();
    Effect::new(move |_| {
        for change in changes.take() {
            let Some(open) = id.get_untracked() else {
                return;
            };
            let event = match change {
                Change::Missed => {
                    version.update(|v| *v += 1);
                    continue;
                }
                Change::Event(event) if event.conversation().0 == open => event,
                Change::Event(_) => continue,
            };
            match event {
                // This view already follows that job when it started it.
                UserEvent::JobStarted { job, .. }
                    if active.0.get_untracked().as_deref() != Some(job.0.as_str()) =>
                {
                    version.update(|v| *v += 1)
                }
                UserEvent::ConversationRenamed {
                    conversation,
                    title,
                } => live_title.set(Some((conversation.0, title))),
                UserEvent::ConversationDeleted { .. } => navigate("/", Default::default()),
                _ => {}
            }
        }
    });
}

#[component]
fn Header(
    #[prop(into)] title: Signal<String>,
    /// The open conversation, for its Files panel (none for a new chat).
    conversation: Option<String>,
) -> impl IntoView {
    let drawer = expect_context::<Drawer>().0;
    let files_open = RwSignal::new(false);
    let has_files = conversation.is_some();
    view! {
        <header class="flex items-center gap-2 border-b border-zinc-200 dark:border-zinc-800 px-3 h-12 shrink-0">
            <button type="button" class="btn-ghost md:hidden" aria-label="Open conversations"
                on:click=move |_| drawer.set(true)>"☰"</button>
            <h1 class="truncate font-medium flex-1" data-testid="conversation-title">{title}</h1>
            {has_files.then(|| view! { <FilesToggle open=files_open/> })}
            <span class="md:hidden"><ThemeToggle/></span>
        </header>
        {move || match (&conversation, files_open.get()) {
            (Some(id), true) => Some(view! { <FilesPanel conversation=id.clone()/> }),
            _ => None,
        }}
    }
}

#[component]
fn Chat(
    conversation: Option<ConversationView>,
    endpoints: Vec<EndpointView>,
    /// The tools this server can offer the model.
    tools: Vec<ToolOption>,
    /// The agent this chat is with.
    agent: Option<AgentView>,
    live_title: RwSignal<Option<(String, String)>>,
    version: RwSignal<u32>,
    draft: RwSignal<String>,
    attached: RwSignal<Vec<CodeFileView>>,
) -> impl IntoView {
    let stored_title = conversation
        .as_ref()
        .map(|c| c.title.clone())
        .or_else(|| agent.as_ref().map(|a| a.spec.name.clone()))
        .unwrap_or_else(|| "New chat".into());
    let this = conversation.as_ref().map(|c| c.id.0.clone());
    let title = Signal::derive(move || {
        live_title
            .get()
            .filter(|(of, _)| this.as_ref() == Some(of))
            .map(|(_, t)| t)
            .unwrap_or_else(|| stored_title.clone())
    });
    let id = conversation.as_ref().map(|c| c.id.0.clone());
    let choice = ModelChoice::new(
        &endpoints,
        conversation.as_ref().and_then(|c| c.endpoint.clone()),
        conversation.as_ref().and_then(|c| c.model.clone()),
    );
    provide_context(choice);
    let forked_from = conversation.as_ref().and_then(|c| c.forked_from.clone());
    // The tools the conversation offered last are offered again.
    let offered = conversation
        .as_ref()
        .map(|c| c.tools.clone())
        .unwrap_or_default();
    let enabled = RwSignal::new(
        offered
            .into_iter()
            .filter(|name| tools.iter().any(|t| &t.name == name))
            .collect::<Vec<_>>(),
    );
    let picker = ToolPicker {
        options: StoredValue::new(tools),
        enabled,
    };
    let (messages, leaf) = conversation
        .map(|c| (c.messages, c.leaf))
        .unwrap_or_default();
    let empty = messages.is_empty();
    let open = OpenConversation::new(id.clone().unwrap_or_default(), messages, leaf, version);
    provide_context(open);
    let thread = open.thread();
    // A new message follows the end of the thread on screen.
    let parent = Signal::derive(move || thread.with(|t| t.last().map(|m| m.id.0.clone())));
    let window = Window::new(thread);
    let list = NodeRef::<leptos::html::Section>::new();
    // Open at the latest message, as chat apps do.
    Effect::new(move |_| {
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });
    let refresh = expect_context::<Refresh>();
    let title_of = id.clone();
    let on_title = Callback::new(move |t: String| {
        if let Some(id) = &title_of {
            live_title.set(Some((id.clone(), t)));
        }
        refresh.sidebar();
    });
    view! {
        <Header title conversation=id.clone()/>
        <section class="flex-1 overflow-y-auto" data-testid="messages" node_ref=list
            on:scroll=move |_| if let Some(list) = list.get_untracked() { window.near_top(list.scroll_top()) }>
            <div class="mx-auto max-w-3xl px-4 py-6 space-y-6">
                {empty.then(|| match agent.clone() {
                    Some(agent) => view! { <AgentIntro agent draft/> }.into_any(),
                    None => view! {
                        <div class="pt-16 text-center space-y-2">
                            <h2 class="text-2xl font-semibold">"How can I help?"</h2>
                            <p class="muted">"Pick a model below and send a message."</p>
                        </div>
                    }.into_any(),
                })}
                {forked_from.map(|f| view! {
                    <p class="text-xs muted" data-testid="forked-from">
                        "Forked from "<a class="link" href=format!("/c/{}", f.conversation)>"another conversation"</a>
                    </p>
                })}
                <Show when=move || { window.hidden() > 0 }>
                    <button type="button" class="btn-ghost text-sm muted mx-auto block" on:click=move |_| window.more()>
                        {move || format!("Show {} earlier messages", window.hidden())}
                    </button>
                </Show>
                <For each=move || window.visible() key=|m| m.id.clone() let:message>
                    <MessageItem message on_title/>
                </For>
            </div>
        </section>
        <Composer conversation=id endpoints choice parent version text=draft picker attached agent/>
    }
}

/// Only the end of a long thread is rendered at first; earlier messages are
/// added a few at a time as the reader scrolls up (the browser keeps what
/// is on screen in place), so a conversation of thousands of messages opens
/// as fast as a short one.
#[derive(Clone, Copy)]
struct Window {
    thread: Memo<Vec<MessageView>>,
    shown: RwSignal<usize>,
}

impl Window {
    /// Rendered at first: more than a screen of the latest messages.
    const FIRST: usize = 40;
    /// Added at a time while scrolling up: few, so that rendering them (their
    /// markdown especially) fits in a frame or two.
    const BATCH: usize = 12;
    /// Scrolled this close to the top (px), the next batch is added.
    const NEAR_TOP: i32 = 800;

    fn new(thread: Memo<Vec<MessageView>>) -> Self {
        Self {
            thread,
            shown: RwSignal::new(Self::FIRST),
        }
    }

    fn hidden(&self) -> usize {
        self.thread
            .with(|t| t.len())
            .saturating_sub(self.shown.get())
    }

    fn visible(&self) -> Vec<MessageView> {
        let shown = self.shown.get();
        self.thread
            .with(|t| t[t.len().saturating_sub(shown)..].to_vec())
    }

    fn more(&self) {
        self.shown.try_update(|n| *n += Self::BATCH);
    }

    fn near_top(&self, scroll_top: i32) {
        if scroll_top < Self::NEAR_TOP && self.hidden() > 0 {
            self.more();
        }
    }
}

#[component]
fn Composer(
    conversation: Option<String>,
    endpoints: Vec<EndpointView>,
    choice: ModelChoice,
    /// The message a new one follows.
    parent: Signal<Option<String>>,
    version: RwSignal<u32>,
    /// The message being typed.
    text: RwSignal<String>,
    /// The tools the model may call.
    picker: ToolPicker,
    /// Files attached to the message being typed.
    attached: RwSignal<Vec<CodeFileView>>,
    /// The agent this chat is with: its model and tools are used.
    agent: Option<AgentView>,
) -> AnyView {
    crate::ui::mark_interactive();
    let refresh = expect_context::<Refresh>();
    let active = expect_context::<ActiveJob>().0;
    let navigate = use_navigate();
    let has_endpoints = !endpoints.is_empty();
    let ModelChoice { endpoint, model } = choice;
    let endpoints = StoredValue::new(endpoints);
    let needs_key = move || {
        endpoints.with_value(|eps| {
            eps.iter()
                .find(|e| e.name == endpoint.get())
                .is_some_and(|e| e.needs_user_key)
        })
    };
    let unavailable = move || {
        endpoints.with_value(|eps| {
            eps.iter()
                .find(|e| e.name == endpoint.get())
                .and_then(|e| e.unavailable.clone())
        })
    };
    let models = move || {
        endpoints.with_value(|eps| {
            eps.iter()
                .find(|e| e.name == endpoint.get())
                .map(|e| e.models.clone())
                .unwrap_or_default()
        })
    };

    let conversation = StoredValue::new(conversation);
    let agent_id = StoredValue::new(agent.as_ref().map(|a| a.id.clone()));
    let is_agent = agent.is_some();
    let agent_label = agent
        .map(|a| format!("Agent: {}", a.spec.name))
        .unwrap_or_default();
    let send = Action::new(move |input: &(String, String, String)| {
        let (endpoint, model, text) = input.clone();
        let conversation = conversation.get_value();
        let parent = parent.get_untracked();
        let tools = picker.enabled.get_untracked();
        let files = attached.with_untracked(|a| a.iter().map(|f| f.id.clone()).collect());
        let agent = agent_id.get_value();
        async move {
            send_message(
                conversation,
                parent,
                endpoint,
                model,
                text,
                tools,
                files,
                agent,
            )
            .await
        }
    });
    // Read through `try_get`: a new chat's composer is replaced when the
    // conversation it created opens, and must not panic if read once more.
    let sending = send.pending();
    let is_sending = move || sending.try_get().unwrap_or(false);
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| match send.value().get() {
        Some(Ok(result)) => {
            error.set(None);
            text.set(String::new());
            attached.set(Vec::new());
            refresh.sidebar();
            if conversation.get_value().is_none() {
                navigate(&format!("/c/{}", result.conversation.0), Default::default());
            } else {
                version.update(|v| *v += 1);
            }
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    let submit = move || {
        let message = text.get_untracked();
        if message.trim().is_empty() || sending.get_untracked() || active.get_untracked().is_some()
        {
            return;
        }
        send.dispatch((endpoint.get_untracked(), model.get_untracked(), message));
    };
    let stop = Action::new(move |job: &String| {
        let job = job.clone();
        async move { stop_job(job).await }
    });

    view! {
        <div class="border-t border-zinc-200 dark:border-zinc-800 px-3 pt-3 pb-[max(0.75rem,env(safe-area-inset-bottom))]">
            <form class="mx-auto max-w-3xl space-y-2" on:submit=move |ev| { ev.prevent_default(); submit(); }>
                {(!has_endpoints).then(|| view! {
                    <p role="alert" class="error-text">
                        "No model endpoints are configured on this server. Add one under endpoints.custom in config/chorus.yaml (see config/chorus.example.yaml)."
                    </p>
                })}
                <div class="flex flex-wrap gap-2 text-sm">
                    // An agent brings its own model and tools.
                    <Show when=move || !is_agent fallback=move || view! {
                        <span class="chip chip-on" data-testid="agent-badge">{agent_label.clone()}</span>
                    }>
                    <label class="sr-only" for="endpoint">"Endpoint"</label>
                    <select id="endpoint" name="endpoint" class="select" prop:value=move || endpoint.get()
                        on:change=move |ev| {
                            let name = event_target_value(&ev);
                            let default = endpoints.with_value(|eps| eps.iter().find(|e| e.name == name).and_then(|e| e.default_model.clone()));
                            endpoint.set(name);
                            model.set(default.unwrap_or_default());
                        }>
                        {endpoints.with_value(|eps| eps.iter().map(|e| view! {
                            <option value=e.name.clone()>
                                {e.label.clone()}{e.unavailable.is_some().then_some(" (unavailable)")}
                            </option>
                        }).collect_view())}
                    </select>
                    <label class="sr-only" for="model">"Model"</label>
                    <select id="model" name="model" class="select" prop:value=move || model.get()
                        on:change=move |ev| model.set(event_target_value(&ev))>
                        {move || models().into_iter().map(|m| view! { <option value=m.clone()>{m.clone()}</option> }).collect_view()}
                    </select>
                    <ToolChips picker/>
                    </Show>
                    {picker.offers(EXECUTE_CODE).then(|| view! { <AttachButton attached picker error/> })}
                </div>
                <Attachments attached error/>
                <Show when=needs_key>
                    <p role="status" class="text-sm" data-testid="needs-key">
                        "This endpoint runs on your own API key. "
                        <a href="/settings" class="link">"Add it in Settings"</a>
                        " first."
                    </p>
                </Show>
                {move || unavailable().map(|reason| view! {
                    <p role="status" class="text-sm" data-testid="endpoint-unavailable">
                        "This endpoint cannot answer yet: " {reason}
                    </p>
                })}
                <div class="flex items-end gap-2">
                    <label class="sr-only" for="prompt">"Message"</label>
                    <textarea id="prompt" name="text" rows="1" class="input flex-1 resize-none max-h-48"
                        placeholder="Send a message…" prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev))
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                            if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                                ev.prevent_default();
                                submit();
                            }
                        }
                    ></textarea>
                    {move || match active.get() {
                        Some(job) => view! {
                            <button type="button" class="btn-secondary" on:click=move |_| { stop.dispatch(job.clone()); }>
                                "Stop"
                            </button>
                        }.into_any(),
                        None => view! {
                            <button type="submit" class="btn-primary"
                                disabled=move || !has_endpoints || is_sending() || text.get().trim().is_empty()>
                                {move || if is_sending() { "Sending…" } else { "Send" }}
                            </button>
                        }.into_any(),
                    }}
                </div>
                <ErrorText message=error/>
            </form>
        </div>
    }
    .into_any()
}

/// The tools this server offers and those turned on for the next message.
#[derive(Clone, Copy)]
struct ToolPicker {
    options: StoredValue<Vec<ToolOption>>,
    enabled: RwSignal<Vec<String>>,
}

impl ToolPicker {
    fn offers(&self, name: &str) -> bool {
        self.options
            .with_value(|o| o.iter().any(|t| t.name == name))
    }

    // Only the browser attaches files (which turns Code on).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn turn_on(&self, name: &str) {
        if !self.enabled.with_untracked(|e| e.iter().any(|n| n == name)) {
            self.enabled.update(|e| e.push(name.to_string()));
        }
    }
}

/// One chip per tool (LibreChat's Code Interpreter badge and MCP server
/// picker): pressed ones are offered to the model with the next message.
#[component]
fn ToolChips(picker: ToolPicker) -> impl IntoView {
    picker.options.with_value(|options| {
        options
            .iter()
            .map(|option| {
                let name = option.name.clone();
                let on = {
                    let name = name.clone();
                    move || picker.enabled.read().contains(&name)
                };
                let testid = if name == EXECUTE_CODE {
                    "code-tool".to_string()
                } else {
                    format!("tool-{name}")
                };
                let toggle = move |_| {
                    picker
                        .enabled
                        .update(|e| match e.iter().position(|n| *n == name) {
                            Some(i) => {
                                e.remove(i);
                            }
                            None => e.push(name.clone()),
                        })
                };
                view! {
                    <button type="button" class="chip" data-testid=testid
                        class:chip-on=on.clone()
                        aria-pressed=move || on().to_string()
                        title=option.description.clone().unwrap_or_default()
                        on:click=toggle>
                        {option.label.clone()}
                    </button>
                }
            })
            .collect_view()
    })
}

/// Attaches files to the message being typed; they go to the conversation's
/// `/mnt/data` when it is sent, so the model's code can read them (which is
/// why attaching turns Code on).
#[component]
fn AttachButton(
    attached: RwSignal<Vec<CodeFileView>>,
    picker: ToolPicker,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let uploading = RwSignal::new(false);
    let on_change = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            let Some((input, files)) = crate::attach::chosen_files(&ev) else {
                return;
            };
            let upload = crate::attach::upload(&files);
            input.set_value("");
            uploading.set(true);
            picker.turn_on(EXECUTE_CODE);
            leptos::task::spawn_local(async move {
                match upload.await {
                    Ok(files) => attached.update(|a| a.extend(files)),
                    Err(e) => error.set(Some(e)),
                }
                uploading.set(false);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, attached, picker, error);
    };
    view! {
        <label class="chip cursor-pointer" data-testid="attach"
            title="Attach files for the model's code (they appear in /mnt/data)">
            {move || if uploading.get() { "Uploading…" } else { "Attach" }}
            <input type="file" multiple class="sr-only" aria-label="Attach files" on:change=on_change/>
        </label>
    }
}

/// The files attached to the message being typed, each removable.
#[component]
fn Attachments(
    attached: RwSignal<Vec<CodeFileView>>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let remove = Action::new(move |id: &String| {
        let id = id.clone();
        async move { (remove_attachment(id.clone()).await, id) }
    });
    Effect::new(move |_| match remove.value().get() {
        Some((Ok(()), id)) => attached.update(|a| a.retain(|f| f.id != id)),
        Some((Err(e), _)) => error.set(Some(e.to_string())),
        None => {}
    });
    view! {
        <Show when=move || !attached.read().is_empty()>
            <ul class="flex flex-wrap gap-2" aria-label="Attached files">
                {move || attached.get().into_iter().map(|f| {
                    let (id, label) = (f.id.clone(), format!("Remove {}", f.name));
                    view! {
                        <li class="chip gap-2" data-testid="attachment">
                            <span>{f.name.clone()}</span>
                            <span class="muted text-xs">{human_size(f.size)}</span>
                            <button type="button" class="muted" aria-label=label
                                on:click=move |_| { remove.dispatch(id.clone()); }>"×"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </Show>
    }
}

/// A new chat with an agent: who it is, and its conversation starters (a
/// click puts one in the composer).
#[component]
fn AgentIntro(agent: AgentView, draft: RwSignal<String>) -> impl IntoView {
    view! {
        <div class="pt-12 text-center space-y-3" data-testid="agent-intro">
            <div class="flex justify-center">
                <crate::ui::agents::AgentAvatar name=agent.spec.name.clone() avatar=agent.spec.avatar.clone() size="size-16"/>
            </div>
            <h2 class="text-2xl font-semibold">{agent.spec.name.clone()}</h2>
            <p class="muted">{agent.spec.description.clone()}</p>
            <div class="flex flex-wrap justify-center gap-2">
                {agent.spec.starters.into_iter().map(|starter| {
                    let text = starter.clone();
                    view! {
                        <button type="button" class="chip" data-testid="starter"
                            on:click=move |_| draft.set(text.clone())>{starter}</button>
                    }
                }).collect_view()}
            </div>
        </div>
    }
}
