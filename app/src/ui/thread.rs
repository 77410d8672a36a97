//! The open conversation as a tree in the browser: which thread is shown,
//! the `‹ 2 / 3 ›` switch between sibling messages, and the model picked for
//! new answers. Switching threads is instant (the page holds every branch);
//! the choice is saved in the background so a reload or another device opens
//! the same thread.

use crate::api::show_thread;
use chorus_types::{EndpointView, MessageId, MessageView, Tree};
use leptos::prelude::*;
use std::collections::HashMap;

/// The open conversation, provided to everything inside it. Its reads use
/// `try_` accessors: an event can reach a view that a reload is replacing.
#[derive(Clone, Copy)]
pub struct OpenConversation {
    pub id: StoredValue<String>,
    /// Bump to load the conversation again (after a change on the server).
    pub reload: RwSignal<u32>,
    /// Every message of every branch, as loaded.
    all: StoredValue<Vec<MessageView>>,
    /// Who follows whom, indexed once: every message asks (siblings, whether
    /// anything follows it), and a long conversation has thousands.
    shape: StoredValue<Shape>,
    /// Where the shown thread ends.
    leaf: RwSignal<Option<MessageId>>,
    save_leaf: Action<(String, String), ()>,
}

impl OpenConversation {
    pub fn new(
        id: String,
        messages: Vec<MessageView>,
        leaf: Option<MessageId>,
        reload: RwSignal<u32>,
    ) -> Self {
        let save_leaf = Action::new(|(conversation, leaf): &(String, String)| {
            let (conversation, leaf) = (conversation.clone(), leaf.clone());
            // Only a preference: if it is lost, the next load shows the
            // newest thread instead.
            async move {
                let _ = show_thread(conversation, leaf).await;
            }
        });
        Self {
            id: StoredValue::new(id),
            reload,
            shape: StoredValue::new(Shape::new(&messages)),
            all: StoredValue::new(messages),
            leaf: RwSignal::new(leaf),
            save_leaf,
        }
    }

    pub fn reload(&self) {
        self.reload.update(|v| *v += 1);
    }

    /// The messages shown, top to bottom.
    pub fn thread(&self) -> Memo<Vec<MessageView>> {
        let (all, leaf) = (self.all, self.leaf);
        Memo::new(move |_| {
            let leaf = leaf.get();
            all.try_with_value(|messages| {
                Tree::new(messages)
                    .thread(leaf.as_ref())
                    .into_iter()
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
        })
    }

    /// `id` and its siblings, oldest first.
    pub fn siblings(&self, id: &MessageId) -> Vec<MessageId> {
        self.shape
            .try_with_value(|shape| shape.siblings(id).to_vec())
            .unwrap_or_default()
    }

    /// Whether anything follows `id` (in any branch).
    pub fn has_children(&self, id: &MessageId) -> bool {
        self.shape
            .try_with_value(|shape| shape.children.contains_key(&Some(id.clone())))
            .unwrap_or(false)
    }

    /// Shows the thread through `id` (down its newest branch).
    pub fn switch_to(&self, id: &MessageId) {
        let leaf = self
            .all
            .with_value(|messages| Tree::new(messages).leaf_below(id).map(|m| m.id.clone()));
        if let Some(leaf) = leaf {
            self.leaf.set(Some(leaf.clone()));
            self.save_leaf.dispatch((self.id.get_value(), leaf.0));
        }
    }
}

/// Each message's parent and each parent's children (`None`: the top level),
/// oldest first.
struct Shape {
    parent: HashMap<MessageId, Option<MessageId>>,
    children: HashMap<Option<MessageId>, Vec<MessageId>>,
}

impl Shape {
    fn new(messages: &[MessageView]) -> Self {
        let mut shape = Shape {
            parent: HashMap::with_capacity(messages.len()),
            children: HashMap::new(),
        };
        for m in messages {
            shape.parent.insert(m.id.clone(), m.parent.clone());
            shape
                .children
                .entry(m.parent.clone())
                .or_default()
                .push(m.id.clone());
        }
        shape
    }

    fn siblings(&self, id: &MessageId) -> &[MessageId] {
        self.parent
            .get(id)
            .and_then(|p| self.children.get(p))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The endpoint and model picked in the composer; new answers (sent,
/// regenerated, resubmitted) use them.
#[derive(Clone, Copy)]
pub struct ModelChoice {
    pub endpoint: RwSignal<String>,
    pub model: RwSignal<String>,
}

impl ModelChoice {
    /// The conversation's endpoint and model while they still exist, else the
    /// first endpoint's default.
    pub fn new(
        endpoints: &[EndpointView],
        endpoint: Option<String>,
        model: Option<String>,
    ) -> Self {
        let start = endpoint
            .and_then(|name| endpoints.iter().find(|e| e.name == name))
            .or_else(|| endpoints.first());
        let model = model
            .filter(|m| start.is_some_and(|e| e.models.contains(m)))
            .or_else(|| start.and_then(|e| e.default_model.clone()))
            .unwrap_or_default();
        Self {
            endpoint: RwSignal::new(start.map(|e| e.name.clone()).unwrap_or_default()),
            model: RwSignal::new(model),
        }
    }
}

/// `‹ 2 / 3 ›` under a message that has siblings (edits of a question, other
/// answers to it).
#[component]
pub fn SiblingSwitch(id: MessageId) -> impl IntoView {
    let open = expect_context::<OpenConversation>();
    let siblings = open.siblings(&id);
    let count = siblings.len();
    let at = siblings.iter().position(|s| *s == id).unwrap_or(0);
    let go = move |to: usize| {
        let target = siblings[to].clone();
        move |_| open.switch_to(&target)
    };
    (count > 1).then(|| {
        view! {
            <span class="sibling-switch" data-testid="sibling-switch">
                <button type="button" class="msg-action" aria-label="Previous version"
                    disabled=at == 0 on:click=go(at.saturating_sub(1))>"‹"</button>
                <span data-testid="sibling-position">{format!("{} / {count}", at + 1)}</span>
                <button type="button" class="msg-action" aria-label="Next version"
                    disabled=at + 1 == count on:click=go((at + 1).min(count - 1))>"›"</button>
            </span>
        }
    })
}
