//! The signed-in frame: sidebar with conversations, header, offline banner.

use crate::api::{ApiError, Logout, current_user, list_conversations};
use chorus_types::UserView;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_params_map;

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
                                        let href = format!("/c/{id}");
                                        let active = move || current().as_deref() == Some(id.as_str());
                                        view! {
                                            <li>
                                                <a href=href class="convo-link" class:active=active
                                                    on:click=move |_| drawer.set(false) title=c.title.clone()>
                                                    {c.title.clone()}
                                                </a>
                                            </li>
                                        }
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
