//! The signed-in frame: sidebar with conversations, header, offline banner.

use crate::api::{
    ApiError, Logout, current_user, delete_conversation, list_conversations, rename_conversation,
};
use crate::ui::ErrorText;
use chorus_types::{ConversationSummary, UserEvent, UserView};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::{use_navigate, use_params_map};

/// Bumped to make views refetch after something changed.
#[derive(Clone, Copy)]
pub struct Refresh {
    pub sidebar: RwSignal<u32>,
}

impl Refresh {
    pub fn sidebar(&self) {
        self.sidebar.update(|n| *n += 1);
    }
}

/// Something changed elsewhere (another tab, another device).
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Event(UserEvent),
    /// Some changes were missed (a reconnect); reload what is shown.
    Missed,
}

/// Changes heard on `/api/events` and not yet handled, oldest first. A queue,
/// not a single slot, because several events can arrive before the view that
/// handles them runs (an answer's end and the title it gave, for example).
#[derive(Clone, Copy, Default)]
pub struct Changes(RwSignal<Vec<Change>>);

impl Changes {
    /// More unhandled changes than this and the view is told to reload
    /// instead (nothing consumes them while no conversation is open).
    const LIMIT: usize = 100;

    pub fn push(&self, change: Change) {
        self.0.try_update(|queue| {
            if queue.len() >= Self::LIMIT {
                queue.clear();
                queue.push(Change::Missed);
            } else {
                queue.push(change);
            }
        });
    }

    /// Subscribes the calling effect and hands it everything queued so far.
    pub fn take(&self) -> Vec<Change> {
        self.0.track();
        self.0
            .try_update_untracked(std::mem::take)
            .unwrap_or_default()
    }
}

/// Whether the sidebar drawer is open (phones).
#[derive(Clone, Copy)]
pub struct Drawer(pub RwSignal<bool>);

#[component]
pub fn ChatLayout() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    provide_context(Refresh {
        sidebar: RwSignal::new(0),
    });
    provide_context(Drawer(RwSignal::new(false)));
    provide_context(Changes::default());
    view! {
        <Suspense fallback=|| view! { <div class="h-dvh grid place-items-center muted">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) => view! { <Frame user/> }.into_any(),
                    Ok(None) | Err(ApiError::SignedOut) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(e) => view! { <p role="alert" class="error-text p-6">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Frame(user: UserView) -> impl IntoView {
    let drawer = expect_context::<Drawer>().0;
    #[cfg(feature = "hydrate")]
    crate::sync::listen(expect_context::<Changes>(), expect_context::<Refresh>());
    view! {
        <div class="flex h-dvh overflow-hidden">
            // Phones: the sidebar is a drawer over the chat, closed by the backdrop.
            <div
                class="fixed inset-0 z-30 bg-black/40 md:hidden"
                class:hidden=move || !drawer.get()
                on:click=move |_| drawer.set(false)
            ></div>
            <aside
                class="sidebar fixed inset-y-0 left-0 z-40 w-72 -translate-x-full transition-transform md:static md:translate-x-0"
                class:translate-x-0=move || drawer.get()
                aria-label="Conversations"
            >
                <Sidebar user/>
            </aside>
            <div class="flex-1 flex flex-col min-w-0">
                <OfflineBanner/>
                <Outlet/>
            </div>
        </div>
    }
}

#[component]
fn Sidebar(user: UserView) -> impl IntoView {
    let refresh = expect_context::<Refresh>();
    let drawer = expect_context::<Drawer>().0;
    let conversations = Resource::new(move || refresh.sidebar.get(), |_| list_conversations());
    let params = use_params_map();
    let current = move || params.read().get("id");
    let logout = ServerAction::<Logout>::new();
    view! {
        <div class="flex h-full flex-col gap-2 p-3">
            <div class="flex items-center gap-2 px-1 py-1">
                <img src="/icon.svg" alt="" class="h-7 w-7"/>
                <span class="text-lg font-semibold">"Chorus"</span>
            </div>
            <A href="/" attr:class="btn-secondary w-full justify-start" on:click=move |_| drawer.set(false)>
                "+ New chat"
            </A>
            <A href="/agents" attr:class="btn-ghost w-full justify-start text-sm" on:click=move |_| drawer.set(false)>
                "Agents"
            </A>
            <nav class="flex-1 overflow-y-auto -mx-1" aria-label="Conversation list">
                <Transition fallback=|| view! { <p class="muted px-2 text-sm">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match conversations.await {
                            Ok(list) if list.is_empty() => view! {
                                <p class="muted px-2 text-sm">"No conversations yet."</p>
                            }.into_any(),
                            Ok(list) => view! {
                                <ul class="space-y-0.5" data-testid="conversation-list">
                                    {list.into_iter().map(|c| {
                                        let id = c.id.0.clone();
                                        let active = Signal::derive(move || current().as_deref() == Some(id.as_str()));
                                        view! { <ConversationItem conversation=c active/> }
                                    }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => view! { <p role="alert" class="error-text px-2">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </nav>
            <div class="border-t border-zinc-200 dark:border-zinc-800 pt-2 flex items-center gap-2">
                <div class="min-w-0 flex-1">
                    <p class="truncate text-sm font-medium" data-testid="user-name">{user.name.clone()}</p>
                    <p class="truncate text-xs muted">{user.email.clone()}</p>
                </div>
                <ThemeToggle/>
                <A href="/settings" attr:class="btn-ghost text-sm" attr:title="Settings: provider keys and API keys"
                    on:click=move |_| drawer.set(false)>"Settings"</A>
                <ActionForm action=logout>
                    <button type="submit" class="btn-ghost text-sm">"Sign out"</button>
                </ActionForm>
            </div>
        </div>
    }
}

/// One conversation in the sidebar, with its menu: rename in place, delete
/// after a confirmation. `active` belongs to the list, which a refresh
/// replaces (and disposes) while this item may still react once: read it
/// with `try_`.
#[component]
fn ConversationItem(conversation: ConversationSummary, active: Signal<bool>) -> impl IntoView {
    let drawer = expect_context::<Drawer>().0;
    let refresh = expect_context::<Refresh>();
    let navigate = use_navigate();
    let id = StoredValue::new(conversation.id.0.clone());
    let title = RwSignal::new(conversation.title.clone());
    let href = format!("/c/{}", conversation.id.0);
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Show,
        Menu,
        Rename,
        ConfirmDelete,
    }
    let mode = RwSignal::new(Mode::Show);
    let draft = RwSignal::new(String::new());
    let rename = Action::new(move |new_title: &String| {
        let new_title = new_title.clone();
        async move { rename_conversation(id.get_value(), new_title).await }
    });
    let delete =
        Action::new(move |_: &()| async move { delete_conversation(id.get_value()).await });
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| match rename.value().get() {
        Some(Ok(saved)) => {
            error.set(None);
            title.set(saved);
            mode.set(Mode::Show);
            refresh.sidebar();
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    Effect::new(move |_| match delete.value().get() {
        Some(Ok(())) => {
            if active.try_get_untracked().unwrap_or(false) {
                navigate("/", Default::default());
            }
            refresh.sidebar();
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    let save = move || {
        if !draft.get_untracked().trim().is_empty() {
            rename.dispatch(draft.get_untracked());
        }
    };
    view! {
        <li class="convo-item" data-testid="conversation-item">
            {move || match mode.get() {
                Mode::Rename => view! {
                    <form class="px-1" on:submit=move |ev| { ev.prevent_default(); save(); }>
                        <label class="sr-only" for="rename">"New title"</label>
                        <input id="rename" class="input w-full py-1 text-sm" prop:value=move || draft.get()
                            autofocus maxlength="200"
                            on:input=move |ev| draft.set(event_target_value(&ev))
                            on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { mode.set(Mode::Show); }/>
                        <div class="flex gap-1 mt-1">
                            <button type="submit" class="btn-primary text-xs py-1">"Save"</button>
                            <button type="button" class="btn-ghost text-xs py-1" on:click=move |_| mode.set(Mode::Show)>"Cancel"</button>
                        </div>
                    </form>
                }.into_any(),
                Mode::ConfirmDelete => view! {
                    <div class="px-2 py-1 text-sm space-y-1" role="alertdialog" aria-label="Delete conversation">
                        <p>"Delete “" {move || title.get()} "” and all its messages?"</p>
                        <div class="flex gap-1">
                            <button type="button" class="btn-danger text-xs py-1" on:click=move |_| { delete.dispatch(()); }>"Delete"</button>
                            <button type="button" class="btn-ghost text-xs py-1" on:click=move |_| mode.set(Mode::Show)>"Cancel"</button>
                        </div>
                    </div>
                }.into_any(),
                shown => view! {
                    <div class="flex items-center group">
                        <a href=href.clone() class="convo-link flex-1 min-w-0" class:active=move || active.try_get().unwrap_or(false)
                            on:click=move |_| drawer.set(false) title=move || title.get()>
                            {move || title.get()}
                        </a>
                        <button type="button" class="convo-menu-button" aria-label="Conversation options"
                            aria-haspopup="menu" aria-expanded=move || (shown == Mode::Menu).to_string()
                            on:click=move |_| mode.set(if shown == Mode::Menu { Mode::Show } else { Mode::Menu })>
                            "⋯"
                        </button>
                    </div>
                    {(shown == Mode::Menu).then(|| view! {
                        <div role="menu" class="convo-menu">
                            <button type="button" role="menuitem" class="convo-menu-item"
                                on:click=move |_| { draft.set(title.get_untracked()); mode.set(Mode::Rename); }>"Rename"</button>
                            <button type="button" role="menuitem" class="convo-menu-item text-red-600 dark:text-red-400"
                                on:click=move |_| mode.set(Mode::ConfirmDelete)>"Delete"</button>
                        </div>
                    })}
                }.into_any(),
            }}
            <ErrorText message=error/>
        </li>
    }
}

/// Light/dark switch; the choice is kept in localStorage.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let toggle = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let root = document().document_element().expect("a document element");
            let dark = root.class_list().toggle("dark").unwrap_or(false);
            if let Ok(Some(storage)) = window().local_storage() {
                let _ = storage.set_item("theme", if dark { "dark" } else { "light" });
            }
        }
    };
    view! {
        <button type="button" class="btn-ghost" on:click=toggle aria-label="Switch light or dark theme" title="Theme">
            <span class="dark:hidden">"☾"</span>
            <span class="hidden dark:inline">"☀"</span>
        </button>
    }
}

/// Says so when the browser loses its connection.
#[component]
fn OfflineBanner() -> impl IntoView {
    let online = RwSignal::new(true);
    #[cfg(feature = "hydrate")]
    {
        online.set(window().navigator().on_line());
        let on = window_event_listener_untyped("online", move |_| online.set(true));
        let off = window_event_listener_untyped("offline", move |_| online.set(false));
        on_cleanup(move || {
            on.remove();
            off.remove();
        });
    }
    view! {
        <Show when=move || !online.get()>
            <div role="status" class="bg-amber-100 text-amber-900 dark:bg-amber-900/40 dark:text-amber-100 px-4 py-2 text-sm">
                "You are offline. Answers keep being written on the server and appear when you reconnect."
            </div>
        </Show>
    }
}
