//! The Chorus web UI. Server-rendered, then hydrated by `frontend` (wasm).
//! Server functions live in [`api`]; components in [`ui`].

pub mod api;
#[cfg(feature = "hydrate")]
mod attach;
#[cfg(feature = "hydrate")]
mod live;
#[cfg(feature = "hydrate")]
mod sync;
pub mod ui;

use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};

/// Applies the saved theme before first paint, so a dark-mode user never sees a
/// white flash. Tiny and static, so it is inlined.
const THEME_BOOT: &str = "try{var t=localStorage.getItem('theme');if(t==='dark'||(!t&&matchMedia('(prefers-color-scheme: dark)').matches))document.documentElement.classList.add('dark')}catch(e){}";

/// Registers the service worker (offline shell, installable PWA).
const SW_BOOT: &str = "if('serviceWorker' in navigator){addEventListener('load',function(){navigator.serviceWorker.register('/sw.js').catch(function(){})})}";

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover"/>
                <script>{THEME_BOOT}</script>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="bg-white text-zinc-900 dark:bg-zinc-950 dark:text-zinc-100 antialiased">
                <App/>
                <script>{SW_BOOT}</script>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/chorus.css"/>
        <Link rel="manifest" href="/manifest.webmanifest"/>
        <Link rel="icon" href="/icon.svg"/>
        <Meta name="theme-color" content="#4f46e5"/>
        <Meta name="description" content="Chorus: one chat for every model"/>
        <Title text="Chorus"/>
        <Router>
            <Routes fallback=|| view! { <ui::NotFound/> }>
                // Async SSR: data is resolved before the first byte, so a signed-out
                // visitor gets a real redirect and a reload shows the whole history
                // in the HTML, before any wasm runs.
                <Route path=path!("/login") view=ui::auth::LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/register") view=ui::auth::RegisterPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=ui::layout::ChatLayout ssr=SsrMode::Async>
                    <Route path=path!("/") view=ui::chat::ChatView/>
                    <Route path=path!("/c/:id") view=ui::chat::ChatView/>
                    <Route path=path!("/settings") view=ui::settings::SettingsPage/>
                    <Route path=path!("/agents") view=ui::agents::AgentsPage/>
                    <Route path=path!("/agents/new") view=ui::agents::AgentEditorPage/>
                    <Route path=path!("/agents/:id") view=ui::agents::AgentEditorPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
