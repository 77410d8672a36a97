use super::*;
use crate::{MessageState, Role};
use proptest::prelude::*;

fn message(id: &str, parent: Option<&str>) -> MessageView {
    MessageView {
        id: MessageId(id.into()),
        parent: parent.map(|p| MessageId(p.into())),
        role: Role::User,
        text: id.into(),
        reasoning: String::new(),
        state: MessageState::Complete,
        error: None,
        endpoint: None,
        model: None,
        job: None,
        created_at: 0,
        tools: Vec::new(),
        files: Vec::new(),
    }
}

/// (id, parent) in the order written.
fn build(spec: &[(&str, Option<&str>)]) -> Vec<MessageView> {
    spec.iter().map(|(id, p)| message(id, *p)).collect()
}

fn ids(views: Vec<&MessageView>) -> Vec<&str> {
    views.into_iter().map(|m| m.id.as_str()).collect()
}

fn id(s: &str) -> MessageId {
    MessageId(s.into())
}

/// ```text
/// a ─┬─ b ─┬─ c ── d
///    │     └─ e ── f
///    └─ g ── h
/// i ── j              (i: a second top-level message, an edit of a)
/// ```
fn nested() -> Vec<MessageView> {
    build(&[
        ("a", None),
        ("b", Some("a")),
        ("c", Some("b")),
        ("d", Some("c")),
        ("e", Some("b")),
        ("f", Some("e")),
        ("g", Some("a")),
        ("h", Some("g")),
        ("i", None),
        ("j", Some("i")),
    ])
}

#[test]
fn thread_follows_the_leaf_and_then_the_newest_children() {
    let messages = nested();
    let tree = Tree::new(&messages);
    assert_eq!(ids(tree.thread(Some(&id("d")))), ["a", "b", "c", "d"]);
    // From an inner message on, the newest child at each step.
    assert_eq!(ids(tree.thread(Some(&id("b")))), ["a", "b", "e", "f"]);
    assert_eq!(ids(tree.thread(Some(&id("a")))), ["a", "g", "h"]);
    // No leaf, or one that is gone: the newest branch.
    assert_eq!(ids(tree.thread(None)), ["i", "j"]);
    assert_eq!(ids(tree.thread(Some(&id("zz")))), ["i", "j"]);
    assert!(Tree::new(&[]).thread(None).is_empty());
}

#[test]
fn siblings_are_the_children_of_one_parent_and_the_top_level() {
    let messages = nested();
    let tree = Tree::new(&messages);
    assert_eq!(ids(tree.siblings(&id("e"))), ["c", "e"]);
    assert_eq!(ids(tree.siblings(&id("g"))), ["b", "g"]);
    assert_eq!(ids(tree.siblings(&id("i"))), ["a", "i"]);
    assert_eq!(ids(tree.siblings(&id("d"))), ["d"]);
    assert_eq!(tree.leaf_below(&id("b")).unwrap().id, id("f"));
    assert_eq!(ids(tree.subtree(&id("b"))), ["b", "c", "d", "e", "f"]);
    assert_eq!(ids(tree.path_to(&id("f"))), ["a", "b", "e", "f"]);
    assert!(tree.has_children(&id("e")) && !tree.has_children(&id("f")));
}

#[test]
fn each_fork_option_copies_exactly_what_it_says() {
    let messages = nested();
    let tree = Tree::new(&messages);
    let fork = |target: &str, option, here| ids(tree.fork_selection(&id(target), option, here));
    // Visible messages only: the path.
    assert_eq!(fork("c", ForkOption::DirectPath, false), ["a", "b", "c"]);
    // Related branches: the path and whole branches leaving it above the
    // target (e-f off b, g-h off a, i-j at the top), not d below the target.
    assert_eq!(
        fork("c", ForkOption::IncludeBranches, false),
        ["a", "b", "c", "e", "f", "g", "h", "i", "j"]
    );
    // All to/from here: every branch down to the target's depth (3 levels).
    assert_eq!(
        fork("c", ForkOption::TargetLevel, false),
        ["a", "b", "c", "e", "g", "h", "i", "j"]
    );
    // Start here: the target and what follows it, whatever the option.
    for option in ForkOption::ALL {
        assert_eq!(fork("b", option, true), ["b", "c", "d", "e", "f"]);
    }
    assert_eq!(fork("i", ForkOption::DirectPath, false), ["i"]);
    assert_eq!(
        fork("i", ForkOption::TargetLevel, false),
        ["a", "i"],
        "depth 1: the top level"
    );
    assert!(fork("nope", ForkOption::DirectPath, false).is_empty());
}

#[test]
fn deep_chains_and_wide_fans() {
    let names: Vec<String> = (0..2000).map(|i| format!("m{i:05}")).collect();
    let chain: Vec<MessageView> = names
        .iter()
        .enumerate()
        .map(|(i, n)| message(n, i.checked_sub(1).map(|p| names[p].as_str())))
        .collect();
    let tree = Tree::new(&chain);
    assert_eq!(tree.thread(None).len(), 2000);
    assert_eq!(
        tree.fork_selection(&id("m01000"), ForkOption::IncludeBranches, false)
            .len(),
        1001
    );
    assert_eq!(
        tree.fork_selection(&id("m01000"), ForkOption::DirectPath, true)
            .len(),
        1000
    );

    let mut fan = vec![message("root", None)];
    fan.extend(names.iter().map(|n| message(n, Some("root"))));
    let tree = Tree::new(&fan);
    assert_eq!(tree.siblings(&id("m00007")).len(), 2000);
    assert_eq!(ids(tree.thread(None)), ["root", "m01999"]);
    assert_eq!(
        tree.fork_selection(&id("m00007"), ForkOption::TargetLevel, false)
            .len(),
        2001
    );
    assert_eq!(
        tree.fork_selection(&id("m00007"), ForkOption::IncludeBranches, false)
            .len(),
        2001
    );
}

#[test]
fn fork_options_round_trip_by_name() {
    for option in ForkOption::ALL {
        assert_eq!(ForkOption::parse(option.as_str()), Some(option));
        assert_eq!(
            serde_json::to_value(option).unwrap(),
            serde_json::Value::String(option.as_str().into())
        );
    }
    assert_eq!(ForkOption::parse("everything"), None);
}

/// Random trees: message `i` hangs under one of the messages before it, or
/// at the top.
fn random_tree() -> impl Strategy<Value = Vec<MessageView>> {
    prop::collection::vec(any::<prop::sample::Index>(), 1..60).prop_map(|picks| {
        let mut out: Vec<MessageView> = Vec::new();
        for (i, pick) in picks.iter().enumerate() {
            // One in (i + 1) chances of a new top-level message.
            let slot = pick.index(i + 1);
            let parent = (slot < i).then(|| format!("m{slot:03}"));
            out.push(message(&format!("m{i:03}"), parent.as_deref()));
        }
        out
    })
}

/// Every copied message's parent is copied too, except the fork's first.
fn closed_under_parents(tree: &Tree, picked: &[&MessageView], start: Option<&MessageId>) -> bool {
    let set: std::collections::HashSet<&str> = picked.iter().map(|m| m.id.as_str()).collect();
    picked.iter().all(|m| {
        Some(&m.id) == start
            || m.parent
                .as_ref()
                .is_none_or(|p| set.contains(p.as_str()) || tree.get(p).is_none())
    })
}

proptest! {
    #[test]
    fn threads_are_unbroken_paths_from_the_top_to_a_leaf(messages in random_tree(), pick in any::<prop::sample::Index>()) {
        let tree = Tree::new(&messages);
        let leaf = &messages[pick.index(messages.len())].id;
        let thread = tree.thread(Some(leaf));
        prop_assert!(thread[0].parent.is_none());
        for pair in thread.windows(2) {
            prop_assert_eq!(pair[1].parent.as_ref(), Some(&pair[0].id));
        }
        prop_assert!(!tree.has_children(&thread.last().unwrap().id));
        prop_assert!(thread.iter().any(|m| &m.id == leaf));
    }

    #[test]
    fn every_message_is_reached_from_the_top_exactly_once(messages in random_tree()) {
        let tree = Tree::new(&messages);
        let tops: Vec<&MessageView> = messages.iter().filter(|m| m.parent.is_none()).collect();
        let mut reached: Vec<&str> = tops
            .iter()
            .flat_map(|t| tree.subtree(&t.id))
            .map(|m| m.id.as_str())
            .collect();
        reached.sort_unstable();
        let all: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
        prop_assert_eq!(reached, all);
    }

    #[test]
    fn forks_hold_whole_paths(messages in random_tree(), pick in any::<prop::sample::Index>()) {
        let tree = Tree::new(&messages);
        let target = &messages[pick.index(messages.len())].id;
        let path = tree.path_to(target);
        for option in ForkOption::ALL {
            let picked = tree.fork_selection(target, option, false);
            prop_assert!(closed_under_parents(&tree, &picked, None));
            prop_assert!(path.iter().all(|m| picked.contains(m)), "the path is always copied");
            prop_assert!(
                tree.subtree(target).iter().skip(1).all(|m| !picked.contains(m)),
                "nothing below the target unless the fork starts there"
            );
        }
        let here = tree.fork_selection(target, ForkOption::DirectPath, true);
        prop_assert!(closed_under_parents(&tree, &here, Some(target)));
        prop_assert_eq!(here, tree.subtree(target));
        // Direct path ⊆ all to/from here, and ⊆ related branches.
        let direct = tree.fork_selection(target, ForkOption::DirectPath, false);
        for option in [ForkOption::IncludeBranches, ForkOption::TargetLevel] {
            let wider = tree.fork_selection(target, option, false);
            prop_assert!(direct.iter().all(|m| wider.contains(m)));
        }
    }
}
