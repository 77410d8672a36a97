use super::*;
use crate::StoreError;
use crate::tests::{msg, user};
use chorus_types::{ForkOption, Role, Tree};
use std::collections::BTreeSet;

/// A conversation built from (label, parent label) pairs in order; returns the
/// conversation and each label's message id.
async fn build(
    store: &Store,
    owner: &UserId,
    spec: &[(&str, Option<&str>)],
) -> (ConversationId, HashMap<String, MessageId>) {
    let conv = store
        .create_conversation(owner, "Source", "e", "m")
        .await
        .unwrap();
    let mut ids: HashMap<String, MessageId> = HashMap::new();
    for (label, parent) in spec {
        let mut m = msg(&conv, Role::User, label);
        m.parent = parent.map(|p| &ids[p]);
        let id = store.add_message(owner, m).await.unwrap();
        ids.insert(label.to_string(), id);
    }
    (conv, ids)
}

/// ```text
/// a ─┬─ b ── c ── d
///    └─ e ── f ── g
/// h ── i
/// ```
const SPEC: &[(&str, Option<&str>)] = &[
    ("a", None),
    ("b", Some("a")),
    ("c", Some("b")),
    ("d", Some("c")),
    ("e", Some("a")),
    ("f", Some("e")),
    ("g", Some("f")),
    ("h", None),
    ("i", Some("h")),
];

/// The conversation as "label<parent" strings (messages' text is their label).
async fn shape(store: &Store, owner: &UserId, conv: &ConversationId) -> BTreeSet<String> {
    let messages = store.messages(owner, conv).await.unwrap();
    let label = |id: &MessageId| {
        messages
            .iter()
            .find(|m| &m.id == id)
            .map(|m| m.text.clone())
            .unwrap()
    };
    messages
        .iter()
        .map(|m| match &m.parent {
            Some(p) => format!("{}<{}", m.text, label(p)),
            None => m.text.clone(),
        })
        .collect()
}

fn expect(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn fork(
    store: &Store,
    owner: &UserId,
    conv: &ConversationId,
    target: &MessageId,
    option: ForkOption,
    start_here: bool,
) -> ConversationId {
    let all = store.messages(owner, conv).await.unwrap();
    let tree = Tree::new(&all);
    let picked = tree.fork_selection(target, option, start_here);
    store
        .copy_fork(
            owner,
            ForkCopy {
                source: conv,
                target,
                title: "Fork",
                endpoint: Some("e"),
                model: Some("m"),
                messages: &picked,
                leaf: target,
            },
        )
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn messages_come_with_their_parents_and_the_newest_is_the_leaf() {
    let store = Store::memory().await.unwrap();
    let alice = user(&store, "alice@example.com").await;
    let (conv, ids) = build(&store, &alice, SPEC).await;
    assert_eq!(
        shape(&store, &alice, &conv).await,
        expect(&["a", "b<a", "c<b", "d<c", "e<a", "f<e", "g<f", "h", "i<h"])
    );
    let row = store.conversation(&alice, &conv).await.unwrap().unwrap();
    assert_eq!(row.leaf.as_deref(), Some(ids["i"].as_str()));
    assert_eq!(row.forked_from(), None);

    // A parent from another conversation is refused.
    let other = store
        .create_conversation(&alice, "Other", "e", "m")
        .await
        .unwrap();
    let mut stray = msg(&other, Role::User, "stray");
    stray.parent = Some(&ids["a"]);
    assert!(matches!(
        store.add_message(&alice, stray).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn the_leaf_and_edits_are_the_owners_alone() {
    let store = Store::memory().await.unwrap();
    let alice = user(&store, "alice@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let (conv, ids) = build(&store, &alice, SPEC).await;
    let (bobs, bob_ids) = build(&store, &bob, &[("x", None)]).await;

    store.set_leaf(&alice, &conv, &ids["d"]).await.unwrap();
    let row = store.conversation(&alice, &conv).await.unwrap().unwrap();
    assert_eq!(row.leaf.as_deref(), Some(ids["d"].as_str()));
    for (owner, c, m) in [
        (&bob, &conv, &ids["b"]),       // someone else's conversation
        (&alice, &conv, &bob_ids["x"]), // someone else's message
        (&bob, &bobs, &ids["b"]),       // a message from elsewhere
    ] {
        assert!(matches!(
            store.set_leaf(owner, c, m).await,
            Err(StoreError::NotFound)
        ));
    }

    store
        .edit_text(&alice, &ids["b"], "b edited")
        .await
        .unwrap();
    assert!(matches!(
        store.edit_text(&bob, &ids["c"], "mine now").await,
        Err(StoreError::NotFound)
    ));
    let texts: Vec<String> = store
        .messages(&alice, &conv)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["a", "b edited", "c", "d", "e", "f", "g", "h", "i"]);

    // An answer being written cannot be edited under the job's feet.
    let mut streaming = msg(&conv, Role::Assistant, "so far");
    streaming.state = MessageState::Streaming;
    let s = store.add_message(&alice, streaming).await.unwrap();
    assert!(matches!(
        store.edit_text(&alice, &s, "x").await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn deleting_a_branch_takes_its_subtree_and_links_only() {
    let store = Store::memory().await.unwrap();
    let alice = user(&store, "alice@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let (conv, ids) = build(&store, &alice, SPEC).await;
    let all = store.messages(&alice, &conv).await.unwrap();
    let branch: Vec<MessageId> = Tree::new(&all)
        .subtree(&ids["b"])
        .into_iter()
        .map(|m| m.id.clone())
        .collect();

    let r = store
        .delete_messages(&bob, &conv, &branch, Some(&ids["a"]))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let deleted = store
        .delete_messages(&alice, &conv, &branch, Some(&ids["a"]))
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    assert_eq!(
        shape(&store, &alice, &conv).await,
        expect(&["a", "e<a", "f<e", "g<f", "h", "i<h"])
    );
    let row = store.conversation(&alice, &conv).await.unwrap().unwrap();
    assert_eq!(row.leaf.as_deref(), Some(ids["a"].as_str()));
    let mut links = store
        .db
        .query("RETURN array::len((SELECT VALUE id FROM reply))")
        .await
        .unwrap();
    let links: Option<i64> = links.take(0).unwrap();
    assert_eq!(links, Some(4), "a-e, e-f, f-g, h-i");
}

#[tokio::test]
async fn each_fork_option_copies_the_written_set_and_the_copy_is_independent() {
    let store = Store::memory().await.unwrap();
    let alice = user(&store, "alice@example.com").await;
    let (conv, ids) = build(&store, &alice, SPEC).await;
    let cases: [(ForkOption, bool, &str, &[&str]); 5] = [
        (ForkOption::DirectPath, false, "c", &["a", "b<a", "c<b"]),
        (
            ForkOption::IncludeBranches,
            false,
            "c",
            &["a", "b<a", "c<b", "e<a", "f<e", "g<f", "h", "i<h"],
        ),
        (
            ForkOption::TargetLevel,
            false,
            "c",
            &["a", "b<a", "c<b", "e<a", "f<e", "h", "i<h"],
        ),
        (ForkOption::DirectPath, true, "e", &["e", "f<e", "g<f"]),
        (ForkOption::TargetLevel, false, "h", &["a", "h"]),
    ];
    for (option, start_here, target, expected) in cases {
        let copy = fork(&store, &alice, &conv, &ids[target], option, start_here).await;
        assert_eq!(
            shape(&store, &alice, &copy).await,
            expect(expected),
            "{option:?}, start here: {start_here}, at {target}"
        );
        let row = store.conversation(&alice, &copy).await.unwrap().unwrap();
        let origin = row.forked_from().unwrap();
        assert_eq!(
            (origin.conversation, origin.message),
            (conv.clone(), ids[target].clone())
        );
        // The fork opens on the copy of the target.
        let copied = store.messages(&alice, &copy).await.unwrap();
        let leaf = copied
            .iter()
            .find(|m| Some(m.id.as_str()) == row.leaf.as_deref());
        assert_eq!(leaf.map(|m| m.text.as_str()), Some(target));
        assert!(
            copied.iter().all(|m| !ids.values().any(|id| id == &m.id)),
            "new ids"
        );
    }

    // Editing or deleting the copy leaves the source as it was.
    let copy = fork(
        &store,
        &alice,
        &conv,
        &ids["d"],
        ForkOption::DirectPath,
        false,
    )
    .await;
    let copied = store.messages(&alice, &copy).await.unwrap();
    store
        .edit_text(&alice, &copied[0].id, "changed")
        .await
        .unwrap();
    store.delete_conversation(&alice, &copy).await.unwrap();
    assert_eq!(
        shape(&store, &alice, &conv).await,
        expect(&["a", "b<a", "c<b", "d<c", "e<a", "f<e", "g<f", "h", "i<h"])
    );
}

/// A job titling the conversation while the user sends the next message (and
/// another tab switches threads) must not lose the message: SurrealDB's write
/// conflicts are retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_to_one_conversation_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let alice = user(&store, "alice@example.com").await;
    let (conv, _) = build(&store, &alice, &[("a", None)]).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (store, alice, conv) = (store.clone(), alice.clone(), conv.clone());
        tasks.push(tokio::spawn(async move {
            let text = format!("m{i}");
            let added = store
                .add_message(&alice, msg(&conv, Role::User, &text))
                .await;
            let titled = store.set_conversation_title(&alice, &conv, &text).await;
            let touched = store.touch_conversation(&alice, &conv, "e", "m").await;
            let shown = match &added {
                Ok(id) => store.set_leaf(&alice, &conv, id).await,
                Err(_) => Ok(()),
            };
            (added.map(drop), titled, touched.and(shown))
        }));
    }
    for t in tasks {
        let (added, titled, touched) = t.await.unwrap();
        added.unwrap();
        titled.unwrap();
        touched.unwrap();
    }
    assert_eq!(store.messages(&alice, &conv).await.unwrap().len(), 21);
}
