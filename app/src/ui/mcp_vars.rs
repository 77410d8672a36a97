//! Settings → MCP servers: what each server that asks users for values
//! (their own token) needs, entered here. Entered values are never shown
//! again, only that they are set; clearing forgets them.

use crate::api::{clear_mcp_vars, mcp_var_forms, set_mcp_vars};
use crate::ui::ErrorText;
use chorus_types::McpVarsView;
use leptos::prelude::*;
use std::collections::BTreeMap;

#[component]
pub fn McpVars() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let forms = Resource::new(move || changed.get(), |_| mcp_var_forms());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list = forms.await.unwrap_or_default();
                (!list.is_empty()).then(|| view! {
                    <section class="space-y-3" aria-labelledby="mcp-vars">
                        <h2 id="mcp-vars" class="text-lg font-semibold">"MCP servers"</h2>
                        <p class="muted text-sm">"These tool servers act on your behalf with your own credentials. They are stored encrypted and never shown again."</p>
                        {list.into_iter().map(|form| view! { <ServerVars form changed/> }).collect_view()}
                    </section>
                })
            })}
        </Transition>
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
    let done = move |r: Option<Result<(), crate::api::ApiError>>| match r {
        Some(Ok(())) => {
            error.set(None);
            changed.update(|v| *v += 1);
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    };
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
