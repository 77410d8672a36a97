//! One message. An answer that is still being written attaches to its job's
//! event stream and grows in place.

use crate::api::continue_answer;
use crate::ui::actions::{ConfirmDelete, EditBox, ForkPanel, MessageActions, Panel};
use crate::ui::code_block::{Markdown, OutputFile};
use crate::ui::thread::{OpenConversation, SiblingSwitch};
use crate::ui::tool_step::ToolSteps;
use chorus_types::{MessageState, MessageView, Role, ToolStep};
use leptos::prelude::*;

/// The job currently writing an answer in this view (for the Stop button).
#[derive(Clone, Copy)]
pub struct ActiveJob(pub RwSignal<Option<String>>);

/// Live state of one message, updated by the job stream.
#[derive(Clone, Copy)]
pub struct LiveMessage {
    pub text: RwSignal<String>,
    pub reasoning: RwSignal<String>,
    pub state: RwSignal<MessageState>,
    pub error: RwSignal<Option<String>>,
    /// The tools the model called, in order (outputs arrive as they finish).
    pub tools: RwSignal<Vec<ToolStep>>,
}

#[component]
pub fn MessageItem(message: MessageView, on_title: Callback<String>) -> AnyView {
    let open = expect_context::<OpenConversation>();
    // Only an answer nothing follows can be continued.
    let last = !open.has_children(&message.id);
    let panel = RwSignal::new(Panel::None);
    let live = LiveMessage {
        text: RwSignal::new(message.text.clone()),
        reasoning: RwSignal::new(message.reasoning.clone()),
        state: RwSignal::new(message.state),
        error: RwSignal::new(message.error.clone()),
        tools: RwSignal::new(message.tools.clone()),
    };
    let active = expect_context::<ActiveJob>().0;
    if message.state == MessageState::Streaming
        && let Some(job) = message.job.clone()
    {
        active.set(Some(job.0.clone()));
        #[cfg(feature = "hydrate")]
        crate::live::attach(job, live, on_title, move || active.set(None));
        #[cfg(not(feature = "hydrate"))]
        let _ = on_title;
    }
    let is_user = message.role == Role::User;
    let state_name = move || live.state.get().as_str();
    let who = if is_user { "You" } else { "Assistant" };
    let model = message
        .model
        .clone()
        .map(|m| format!(" · {m}"))
        .unwrap_or_default();
    view! {
        <article
            class="message"
            class:from-user=is_user
            data-role=message.role.as_str()
            data-state=state_name
            data-testid="message"
        >
            <div class="text-xs muted mb-1">{who}{model}</div>
            <Thoughts live/>
            {
                let (id, role, text) = (message.id.clone(), message.role, message.text.clone());
                move || match (panel.get() == Panel::Edit, is_user) {
                    (true, _) => view! { <EditBox id=id.clone() role original=live.text.get_untracked() panel/> }.into_any(),
                    (false, true) => view! { <div class="whitespace-pre-wrap break-words">{text.clone()}</div> }.into_any(),
                    (false, false) => view! { <AnswerBody live/> }.into_any(),
                }
            }
            {(!message.files.is_empty()).then(|| view! {
                <div class="mt-2 space-y-1" data-testid="message-files">
                    {message.files.clone().into_iter().map(|file| view! { <OutputFile file/> }).collect_view()}
                </div>
            })}
            <Show when=move || live.state.get() == MessageState::Streaming>
                <span class="typing" aria-label="Writing…"></span>
            </Show>
            <Show when=move || live.state.get() == MessageState::Stopped>
                <p class="text-xs muted mt-1">"Stopped."</p>
            </Show>
            {move || live.error.get().map(|e| view! { <p role="alert" class="error-box" data-testid="message-error">{e}</p> })}
            {(!is_user && last).then(|| view! { <ContinueButton message=message.id.0.clone() live active/> })}
            <div class="flex flex-wrap items-center gap-1 mt-2">
                <SiblingSwitch id=message.id.clone()/>
                <MessageActions id=message.id.clone() role=message.role text=live.text state=live.state panel/>
            </div>
            {
                let id = message.id.clone();
                move || match panel.get() {
                    Panel::Fork => Some(view! { <ForkPanel id=id.clone() panel/> }.into_any()),
                    Panel::ConfirmDelete => Some(view! { <ConfirmDelete id=id.clone() panel/> }.into_any()),
                    _ => None,
                }
            }
        </article>
    }
    .into_any()
}

/// Shown under an answer that stopped with some text (stopped by the user, cut
/// by an error, interrupted by a restart): asks the model to go on from there.
#[component]
fn ContinueButton(
    message: String,
    live: LiveMessage,
    active: RwSignal<Option<String>>,
) -> impl IntoView {
    let open = expect_context::<OpenConversation>();
    let reload = open.reload;
    let continued = Action::new(move |_: &()| {
        let (conversation, message) = (open.id.get_value(), message.clone());
        async move { continue_answer(conversation, message).await }
    });
    Effect::new(move |_| match continued.value().get() {
        // The reloaded conversation shows the answer streaming again.
        Some(Ok(_)) => reload.update(|v| *v += 1),
        Some(Err(e)) => live.error.set(Some(e.to_string())),
        None => {}
    });
    // `active` is the view's, and a newly rendered answer sets it while this
    // (replaced) one is being disposed: look at it first, and at this
    // message's own signals only if they still exist.
    let can_continue = move || {
        active.get().is_none()
            && live.state.try_get().is_some_and(|s| {
                matches!(
                    s,
                    MessageState::Stopped | MessageState::Failed | MessageState::Interrupted
                )
            })
            && live
                .text
                .try_with(|t| !t.trim().is_empty())
                .unwrap_or(false)
    };
    view! {
        <Show when=can_continue>
            <button type="button" class="btn-secondary mt-2 text-sm py-1"
                disabled=move || continued.pending().get()
                title="Ask the model to go on from where this answer stopped"
                on:click=move |_| { continued.dispatch(()); }>
                "Continue"
            </button>
        </Show>
    }
}

/// An answer's text; with the tool calls it made shown where it made them.
#[component]
fn AnswerBody(live: LiveMessage) -> impl IntoView {
    view! {
        <Show when=move || !live.tools.read().is_empty() fallback=move || view! { <Markdown text=live.text/> }>
            <ToolSteps text=live.text tools=live.tools/>
        </Show>
    }
}

/// What a reasoning model showed of its thinking: folded away once the answer
/// starts, open while it is all there is.
#[component]
fn Thoughts(live: LiveMessage) -> AnyView {
    let thinking =
        move || live.state.get() == MessageState::Streaming && live.text.read().is_empty();
    view! {
        <Show when=move || !live.reasoning.read().is_empty()>
            <details class="thoughts" data-testid="reasoning" prop:open=thinking>
                <summary class="cursor-pointer text-sm muted">
                    {move || if thinking() { "Thinking…" } else { "Thoughts" }}
                </summary>
                <div class="mt-1 whitespace-pre-wrap text-sm muted border-l-2 border-zinc-300 dark:border-zinc-700 pl-3">
                    {move || live.reasoning.get()}
                </div>
            </details>
        </Show>
    }
    // Type-erased: the message's view type is deep enough already for the
    // release (non-erased) wasm build.
    .into_any()
}
