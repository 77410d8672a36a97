//! The Files panel of a conversation: what is in its `/mnt/data` (files the user
//! uploaded for code to read, files runs wrote), with upload, download, delete.

use crate::api::{code_files, delete_code_file};
use crate::ui::code_block::human_size;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The header button that opens the panel; open at first after an upload
/// (the upload is a plain form post that comes back with `?files=open`).
#[component]
pub fn FilesToggle(open: RwSignal<bool>) -> impl IntoView {
    let query = use_query_map();
    // After hydration (an effect runs only in the browser): the panel's file
    // list loads on the client, so the server-rendered page never holds it.
    Effect::new(move |_| {
        if query.read_untracked().get("files").as_deref() == Some("open") {
            open.set(true);
        }
    });
    view! {
        <button type="button" class="btn-ghost text-sm" aria-expanded=move || open.get().to_string()
            data-testid="files-toggle" on:click=move |_| open.update(|o| *o = !*o)>
            "Files"
        </button>
    }
}

#[component]
pub fn FilesPanel(conversation: String) -> impl IntoView {
    let id = StoredValue::new(conversation.clone());
    let changed = RwSignal::new(0u32);
    let files = Resource::new(move || changed.get(), move |_| code_files(id.get_value()));
    let delete = Action::new(move |file: &String| {
        let file = file.clone();
        async move { delete_code_file(id.get_value(), file).await }
    });
    Effect::new(move |_| {
        if delete.value().get().is_some() {
            changed.update(|n| *n += 1);
        }
    });
    view! {
        <section class="border-b border-zinc-200 dark:border-zinc-800 px-4 py-3 text-sm space-y-2" data-testid="files-panel">
            <p class="muted">"Files in /mnt/data for this conversation's code: runs read them and write new ones here."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match files.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="no-files">"No files yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="space-y-1">
                                {list.into_iter().map(|f| {
                                    let file = f.id.clone();
                                    view! {
                                        <li class="flex items-center gap-2" data-testid="file-row">
                                            <a class="link" href=f.url.clone() download=f.name.clone()>{f.name.clone()}</a>
                                            <span class="muted text-xs">{human_size(f.size)}</span>
                                            <button type="button" class="btn-ghost text-xs"
                                                aria-label=format!("Delete {}", f.name)
                                                on:click=move |_| { delete.dispatch(file.clone()); }>"Delete"</button>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p role="alert" class="error-text">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <form method="post" enctype="multipart/form-data" action=format!("/api/code/upload/{conversation}")
                class="flex flex-wrap items-center gap-2">
                <label class="sr-only" for="code-files">"Files to add"</label>
                <input id="code-files" type="file" name="file" multiple required class="text-sm"/>
                <button type="submit" class="btn-secondary text-sm py-1">"Upload"</button>
            </form>
        </section>
    }
}
