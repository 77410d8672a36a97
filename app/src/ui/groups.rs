//! Settings → Groups (administrators): create groups, add and remove members,
//! delete a group. Agents are shared with groups by name.

use crate::api::{create_group, delete_group, list_groups, set_group_member};
use crate::ui::ErrorText;
use chorus_types::agent::GroupView;
use leptos::prelude::*;

/// Shown only to administrators (for anyone else the list is refused).
#[component]
pub fn Groups() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let groups = Resource::new(move || changed.get(), |_| list_groups());
    let error = RwSignal::new(None::<String>);
    let done = crate::ui::reload_or_report(changed, error);
    let create = Action::new(move |name: &String| {
        let name = name.clone();
        async move { create_group(name).await.map(|_| ()) }
    });
    Effect::new(move |_| done(create.value().get()));
    let name = RwSignal::new(String::new());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let Ok(list) = groups.await else { return ().into_any() };
                view! {
                    <section class="space-y-3" aria-labelledby="groups">
                        <div>
                            <h2 id="groups" class="text-lg font-semibold">"Groups"</h2>
                            <p class="muted text-sm">"Agents can be shared with a group by its name. Only administrators see this."</p>
                        </div>
                        <form class="flex gap-2" on:submit=move |ev| { ev.prevent_default(); create.dispatch(name.get_untracked()); }>
                            <label class="sr-only" for="group-name">"New group name"</label>
                            <input id="group-name" class="input flex-1" placeholder="New group name" required
                                prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                            <button type="submit" class="btn-secondary">"Create group"</button>
                        </form>
                        <ErrorText message=error/>
                        <ul class="space-y-3">
                            {list.into_iter().map(|group| view! { <GroupItem group changed error/> }).collect_view()}
                        </ul>
                    </section>
                }.into_any()
            })}
        </Transition>
    }
}

#[component]
fn GroupItem(
    group: GroupView,
    changed: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let id = StoredValue::new(group.id.clone());
    let member = Action::new(move |(email, on): &(String, bool)| {
        let (email, on) = (email.clone(), *on);
        async move { set_group_member(id.get_value(), email, on).await }
    });
    let remove = Action::new(move |_: &()| async move { delete_group(id.get_value()).await });
    let after = crate::ui::reload_or_report(changed, error);
    Effect::new(move |_| after(member.value().get()));
    Effect::new(move |_| after(remove.value().get()));
    let email = RwSignal::new(String::new());
    let label = format!("Add a member to {}", group.name);
    view! {
        <li class="rounded-xl border border-zinc-200 dark:border-zinc-800 p-3 space-y-2" data-testid="group">
            <div class="flex items-center justify-between">
                <h3 class="font-medium">{group.name.clone()}</h3>
                <button type="button" class="btn-ghost text-sm text-red-600" on:click=move |_| { remove.dispatch(()); }>"Delete group"</button>
            </div>
            <ul class="text-sm space-y-1">
                {group.members.into_iter().map(|m| {
                    let who = m.clone();
                    view! {
                        <li class="flex items-center gap-2" data-testid="group-member">
                            <span>{m.clone()}</span>
                            <button type="button" class="btn-ghost text-sm" aria-label=format!("Remove {m}")
                                on:click=move |_| { member.dispatch((who.clone(), false)); }>"Remove"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            <form class="flex gap-2" on:submit=move |ev| { ev.prevent_default(); member.dispatch((email.get_untracked(), true)); }>
                <input class="input flex-1" type="email" required placeholder="member@example.com" aria-label=label
                    prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev))/>
                <button type="submit" class="btn-secondary">"Add"</button>
            </form>
        </li>
    }
}
