//! A conversation as a tree: every message has at most one parent (the
//! message it answers or follows); messages with the same parent are
//! siblings, oldest first. Messages without a parent are the top level,
//! siblings of each other (editing the first message adds one).
//!
//! The same code decides what the browser shows (the thread down to a leaf,
//! the `‹ 2 / 3 ›` sibling switch) and what the server sends a model or copies
//! into a fork, so the two can never disagree.

use crate::{MessageId, MessageView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which messages a fork copies (LibreChat's fork options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForkOption {
    /// Visible messages only: the path from the top to the target.
    #[default]
    DirectPath,
    /// The path and every branch hanging off it (whole branches), but nothing
    /// below the target.
    IncludeBranches,
    /// Everything up to the target's depth, in every branch.
    TargetLevel,
}

impl ForkOption {
    pub const ALL: [ForkOption; 3] = [
        ForkOption::DirectPath,
        ForkOption::IncludeBranches,
        ForkOption::TargetLevel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ForkOption::DirectPath => "direct_path",
            ForkOption::IncludeBranches => "include_branches",
            ForkOption::TargetLevel => "target_level",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// How the fork dialog names it.
    pub fn label(self) -> &'static str {
        match self {
            ForkOption::DirectPath => "Visible messages only",
            ForkOption::IncludeBranches => "Include related branches",
            ForkOption::TargetLevel => "Include all to/from here",
        }
    }
}

/// Messages indexed by id, with their children. Built from a conversation's
/// messages in the order they were written; a message whose parent is not in
/// the list counts as top level, so a partial list still forms a tree.
pub struct Tree<'a> {
    messages: &'a [MessageView],
    index: HashMap<&'a str, usize>,
    parent: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
    top: Vec<usize>,
}

impl<'a> Tree<'a> {
    pub fn new(messages: &'a [MessageView]) -> Self {
        let index: HashMap<&str, usize> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.as_str(), i))
            .collect();
        let mut parent = vec![None; messages.len()];
        let mut children = vec![Vec::new(); messages.len()];
        let mut top = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            // A parent written after its child would be a cycle risk; the
            // store never does that, and ids are time-ordered.
            match m.parent.as_ref().and_then(|p| index.get(p.as_str())) {
                Some(&p) if p < i => {
                    parent[i] = Some(p);
                    children[p].push(i);
                }
                _ => top.push(i),
            }
        }
        Self {
            messages,
            index,
            parent,
            children,
            top,
        }
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn get(&self, id: &MessageId) -> Option<&'a MessageView> {
        self.find(id).map(|i| &self.messages[i])
    }

    fn find(&self, id: &MessageId) -> Option<usize> {
        self.index.get(id.as_str()).copied()
    }

    fn views(&self, indexes: impl IntoIterator<Item = usize>) -> Vec<&'a MessageView> {
        indexes.into_iter().map(|i| &self.messages[i]).collect()
    }

    /// The messages answering or following `id`, oldest first.
    pub fn children(&self, id: &MessageId) -> Vec<&'a MessageView> {
        self.find(id)
            .map(|i| self.views(self.children[i].iter().copied()))
            .unwrap_or_default()
    }

    pub fn has_children(&self, id: &MessageId) -> bool {
        self.find(id).is_some_and(|i| !self.children[i].is_empty())
    }

    /// `id` and its siblings, oldest first (empty for an unknown id).
    pub fn siblings(&self, id: &MessageId) -> Vec<&'a MessageView> {
        match self.find(id) {
            Some(i) => self.views(self.sibling_indexes(i).iter().copied()),
            None => Vec::new(),
        }
    }

    fn sibling_indexes(&self, i: usize) -> &[usize] {
        match self.parent[i] {
            Some(p) => &self.children[p],
            None => &self.top,
        }
    }

    fn path_indexes(&self, i: usize) -> Vec<usize> {
        let mut path = vec![i];
        let mut at = i;
        while let Some(p) = self.parent[at] {
            path.push(p);
            at = p;
        }
        path.reverse();
        path
    }

    /// From the top down to `id`, both included (empty for an unknown id).
    pub fn path_to(&self, id: &MessageId) -> Vec<&'a MessageView> {
        self.find(id)
            .map(|i| self.views(self.path_indexes(i)))
            .unwrap_or_default()
    }

    /// The leaf reached from `i` by always taking the newest child.
    fn newest_leaf(&self, mut i: usize) -> usize {
        while let Some(&last) = self.children[i].last() {
            i = last;
        }
        i
    }

    /// The thread the user sees: the path down to `leaf` and on through the
    /// newest children below it. With no (known) leaf, the newest branch.
    pub fn thread(&self, leaf: Option<&MessageId>) -> Vec<&'a MessageView> {
        let start = leaf
            .and_then(|l| self.find(l))
            .or_else(|| self.top.last().copied());
        match start {
            Some(i) => self.views(self.path_indexes(self.newest_leaf(i))),
            None => Vec::new(),
        }
    }

    /// Where the thread ends after switching to the sibling `id`: the newest
    /// leaf below it.
    pub fn leaf_below(&self, id: &MessageId) -> Option<&'a MessageView> {
        self.find(id).map(|i| &self.messages[self.newest_leaf(i)])
    }

    fn subtree_indexes(&self, i: usize, into: &mut Vec<usize>) {
        let mut stack = vec![i];
        while let Some(at) = stack.pop() {
            into.push(at);
            stack.extend(self.children[at].iter().rev());
        }
    }

    /// `id` and everything below it.
    pub fn subtree(&self, id: &MessageId) -> Vec<&'a MessageView> {
        let mut out = Vec::new();
        if let Some(i) = self.find(id) {
            self.subtree_indexes(i, &mut out);
        }
        out.sort_unstable();
        self.views(out)
    }

    /// The messages a fork at `target` copies, in the order they were written
    /// (so parents come before children). `start_here` makes the fork begin at
    /// the target and take everything below it; `option` is then moot.
    pub fn fork_selection(
        &self,
        target: &MessageId,
        option: ForkOption,
        start_here: bool,
    ) -> Vec<&'a MessageView> {
        let Some(t) = self.find(target) else {
            return Vec::new();
        };
        let mut picked = Vec::new();
        if start_here {
            self.subtree_indexes(t, &mut picked);
        } else {
            let path = self.path_indexes(t);
            match option {
                ForkOption::DirectPath => picked = path,
                ForkOption::IncludeBranches => {
                    let on_path = |i: &usize| path.contains(i);
                    // Whole branches leaving the path above the target, the
                    // top level included.
                    let mut off = self
                        .top
                        .iter()
                        .copied()
                        .filter(|i| !on_path(i))
                        .collect::<Vec<_>>();
                    for &p in &path[..path.len() - 1] {
                        off.extend(self.children[p].iter().copied().filter(|i| !on_path(i)));
                    }
                    for i in off {
                        self.subtree_indexes(i, &mut picked);
                    }
                    picked.extend(path.iter().copied());
                }
                ForkOption::TargetLevel => {
                    let depth = path.len();
                    let mut level = self.top.clone();
                    for _ in 0..depth {
                        let next = level
                            .iter()
                            .flat_map(|&i| self.children[i].iter().copied())
                            .collect();
                        picked.append(&mut level);
                        level = next;
                    }
                }
            }
        }
        picked.sort_unstable();
        self.views(picked)
    }
}

#[cfg(test)]
mod tests;
