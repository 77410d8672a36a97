//! What a user can do to one message: copy, edit (save, or save and send as
//! a new branch), regenerate, fork, delete with what follows it.

use crate::api::{
    delete_message, edit_message, fork_conversation, regenerate_answer, resubmit_message,
};
use crate::ui::layout::Refresh;
use crate::ui::thread::{ModelChoice, OpenConversation};
use crate::ui::{CopyButton, action_error};
use chorus_types::{ForkOption, MessageId, MessageState, Role};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// Which panel is open under the message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Panel {
    None,
    Edit,
    Fork,
    ConfirmDelete,
}

/// The row of actions under a message.
#[component]
pub fn MessageActions(
    id: MessageId,
    role: Role,
    #[prop(into)] text: Signal<String>,
    #[prop(into)] state: Signal<MessageState>,
    panel: RwSignal<Panel>,
) -> AnyView {
    let open = expect_context::<OpenConversation>();
    let choice = expect_context::<ModelChoice>();
    let busy = move || state.get() == MessageState::Streaming;
    let id = StoredValue::new(id);
    let regenerate = Action::new(move |_: &()| {
        let (conversation, message) = (open.id.get_value(), id.get_value().0);
        let (endpoint, model) = (
            choice.endpoint.get_untracked(),
            choice.model.get_untracked(),
        );
        async move { regenerate_answer(conversation, message, Some(endpoint), Some(model)).await }
    });
    reload_after(regenerate);
    let toggle =
        move |p: Panel| move |_| panel.update(|now| *now = if *now == p { Panel::None } else { p });
    view! {
        <div class="msg-actions" data-testid="message-actions">
            <CopyButton text class="msg-action"/>
            <button type="button" class="msg-action" disabled=busy on:click=toggle(Panel::Edit)>"Edit"</button>
            {(role == Role::Assistant).then(|| view! {
                <button type="button" class="msg-action" title="Write this answer again with the model picked below"
                    disabled=move || busy() || regenerate.pending().get()
                    on:click=move |_| { regenerate.dispatch(()); }>"Regenerate"</button>
            })}
            <button type="button" class="msg-action" on:click=toggle(Panel::Fork)>"Fork"</button>
            <button type="button" class="msg-action" on:click=toggle(Panel::ConfirmDelete)>"Delete"</button>
        </div>
        <crate::ui::ErrorText message=action_error(regenerate.value())/>
    }
    .into_any()
}

/// Loads the conversation again once `action` succeeded (the server changed
/// its shape: a new branch, a deleted one, an edited text).
fn reload_after<I: 'static, T: Send + Sync + 'static>(
    action: Action<I, Result<T, crate::api::ApiError>>,
) {
    let open = expect_context::<OpenConversation>();
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            open.reload();
        }
    });
}

/// Edits a message in place. A question can also be sent again as a new
/// branch ("Save & submit"); the original stays one `‹ ›` away.
#[component]
pub fn EditBox(
    id: MessageId,
    role: Role,
    original: String,
    panel: RwSignal<Panel>,
) -> impl IntoView {
    let open = expect_context::<OpenConversation>();
    let choice = expect_context::<ModelChoice>();
    let draft = RwSignal::new(original);
    let id = StoredValue::new(id.0);
    let save = Action::new(move |_: &()| {
        let (conversation, message, text) =
            (open.id.get_value(), id.get_value(), draft.get_untracked());
        async move { edit_message(conversation, message, text).await }
    });
    let submit = Action::new(move |_: &()| {
        let (conversation, message, text) =
            (open.id.get_value(), id.get_value(), draft.get_untracked());
        let (endpoint, model) = (
            choice.endpoint.get_untracked(),
            choice.model.get_untracked(),
        );
        async move {
            resubmit_message(conversation, message, text, endpoint, model)
                .await
                .map(drop)
        }
    });
    reload_after(save);
    reload_after(submit);
    let pending = move || save.pending().get() || submit.pending().get();
    let error = Signal::derive(move || {
        action_error(save.value())
            .get()
            .or_else(|| action_error(submit.value()).get())
    });
    view! {
        <form class="space-y-2" on:submit=move |ev| { ev.prevent_default(); save.dispatch(()); }>
            <label class="sr-only" for=format!("edit-{}", id.get_value())>"Edit message"</label>
            <textarea id=format!("edit-{}", id.get_value()) class="input w-full min-h-24" prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))></textarea>
            <div class="flex flex-wrap gap-2">
                {(role == Role::User).then(|| view! {
                    <button type="button" class="btn-primary text-sm py-1" disabled=pending
                        on:click=move |_| { submit.dispatch(()); }>"Save & submit"</button>
                })}
                <button type="submit" class="btn-secondary text-sm py-1" disabled=pending>"Save"</button>
                <button type="button" class="btn-ghost text-sm py-1" on:click=move |_| panel.set(Panel::None)>"Cancel"</button>
            </div>
            <crate::ui::ErrorText message=error/>
        </form>
    }
}

/// Fork at this message into a new conversation, with LibreChat's options.
#[component]
pub fn ForkPanel(id: MessageId, panel: RwSignal<Panel>) -> impl IntoView {
    let open = expect_context::<OpenConversation>();
    let refresh = expect_context::<Refresh>();
    let navigate = use_navigate();
    let option = RwSignal::new(ForkOption::DirectPath);
    let start_here = RwSignal::new(false);
    let id = StoredValue::new(id.0);
    let fork = Action::new(move |_: &()| {
        let (conversation, message) = (open.id.get_value(), id.get_value());
        let (option, start_here) = (option.get_untracked(), start_here.get_untracked());
        async move { fork_conversation(conversation, message, option, start_here).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(new)) = fork.value().get() {
            refresh.sidebar();
            navigate(&format!("/c/{new}"), Default::default());
        }
    });
    view! {
        <fieldset class="fork-panel" aria-label="Fork conversation">
            <legend class="text-sm font-medium">"Fork into a new conversation"</legend>
            {ForkOption::ALL.into_iter().map(|o| view! {
                <label class="flex items-center gap-2 text-sm">
                    <input type="radio" name=format!("fork-{}", id.get_value()) prop:checked=move || option.get() == o
                        disabled=move || start_here.get() on:change=move |_| option.set(o)/>
                    {o.label()}
                </label>
            }).collect_view()}
            <label class="flex items-center gap-2 text-sm">
                <input type="checkbox" prop:checked=move || start_here.get()
                    on:change=move |ev| start_here.set(event_target_checked(&ev))/>
                "Start fork here (this message and what follows)"
            </label>
            <div class="flex gap-2">
                <button type="button" class="btn-primary text-sm py-1" disabled=move || fork.pending().get()
                    on:click=move |_| { fork.dispatch(()); }>"Fork"</button>
                <button type="button" class="btn-ghost text-sm py-1" on:click=move |_| panel.set(Panel::None)>"Cancel"</button>
            </div>
            <crate::ui::ErrorText message=action_error(fork.value())/>
        </fieldset>
    }
}

/// Asks before deleting a message and everything that follows it.
#[component]
pub fn ConfirmDelete(id: MessageId, panel: RwSignal<Panel>) -> impl IntoView {
    let open = expect_context::<OpenConversation>();
    let followers = open.has_children(&id);
    let id = StoredValue::new(id.0);
    let delete = Action::new(move |_: &()| {
        let (conversation, message) = (open.id.get_value(), id.get_value());
        async move { delete_message(conversation, message).await }
    });
    reload_after(delete);
    view! {
        <div role="alertdialog" aria-label="Delete message" class="text-sm space-y-2">
            <p>{if followers { "Delete this message and every message that follows it?" } else { "Delete this message?" }}</p>
            <div class="flex gap-2">
                <button type="button" class="btn-danger text-sm py-1" disabled=move || delete.pending().get()
                    on:click=move |_| { delete.dispatch(()); }>"Delete"</button>
                <button type="button" class="btn-ghost text-sm py-1" on:click=move |_| panel.set(Panel::None)>"Cancel"</button>
            </div>
            <crate::ui::ErrorText message=action_error(delete.value())/>
        </div>
    }
}
