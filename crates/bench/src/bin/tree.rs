//! `chorus-bench-tree`: the conversation tree's numbers on this machine.
//!
//! Builds, in the embedded on-disk database (`surrealkv`, as `chorus serve`
//! uses it), a conversation with a 1,000-message thread and 50 side branches
//! hanging off it, then times what the server does for:
//!
//! - opening it: the conversation row, every message with its parent (one
//!   query), and the thread to show;
//! - a fork with each option at a message deep in the thread (read, select,
//!   copy in one transaction);
//! - a sibling switch: the browser recomputes the thread (no round trip) and
//!   the server saves the new leaf.

use chorus_store::{ForkCopy, NewMessage, Store};
use chorus_types::{
    ConversationId, ForkOption, MessageId, MessageState, MessageView, Role, Tree, UserId,
};
use clap::Parser;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Conversation tree benchmark: load, fork, sibling switch")]
struct Args {
    /// Messages in the main thread.
    #[arg(long, default_value_t = 1000)]
    thread: usize,
    /// Side branches hanging off the thread.
    #[arg(long, default_value_t = 50)]
    branches: usize,
    /// Messages per side branch.
    #[arg(long, default_value_t = 4)]
    branch_len: usize,
    /// Timed repetitions of each operation.
    #[arg(long, default_value_t = 30)]
    runs: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let store = Store::open_dir(dir.path()).await?;
    let owner = UserId(
        store
            .create_user("bench@example.com", "Bench", "h", false)
            .await?
            .id,
    );
    let conv = store.create_conversation(&owner, "Bench", "e", "m").await?;

    let t0 = Instant::now();
    let mut thread: Vec<MessageId> = Vec::with_capacity(args.thread);
    let every = (args.thread / args.branches.max(1)).max(1);
    for i in 0..args.thread {
        let parent = thread.last().cloned();
        thread.push(add(&store, &owner, &conv, parent.as_ref(), i).await?);
        // A side branch: another version of message i, with what followed it.
        if i % every == every - 1 && i / every < args.branches {
            let mut at = parent;
            for j in 0..args.branch_len {
                let id = add(&store, &owner, &conv, at.as_ref(), i + j).await?;
                at = Some(id);
            }
        }
    }
    let leaf = thread.last().unwrap().clone();
    store.set_leaf(&owner, &conv, &leaf).await?;
    let total = store.messages(&owner, &conv).await?.len();
    println!(
        "built: {total} messages ({} in the thread, {} branches of {}) in {:.1} s",
        args.thread,
        args.branches,
        args.branch_len,
        t0.elapsed().as_secs_f64()
    );

    let (load, _) = time(args.runs, || async {
        let row = store.conversation(&owner, &conv).await?.unwrap();
        let messages = store.messages(&owner, &conv).await?;
        let shown = Tree::new(&messages)
            .thread(row.leaf.map(MessageId).as_ref())
            .len();
        anyhow::ensure!(shown == args.thread, "thread of {shown}");
        Ok(())
    })
    .await?;
    report("open the conversation (row + all messages + thread)", &load);
    let (messages_only, _) = time(args.runs, || async {
        Ok(store.messages(&owner, &conv).await?.len())
    })
    .await?;
    report("  of which reading the messages", &messages_only);

    let target = thread[args.thread * 9 / 10].clone();
    for (option, start_here) in ForkOption::ALL
        .into_iter()
        .map(|o| (o, false))
        .chain([(ForkOption::DirectPath, true)])
    {
        let (times, copied) = time(args.runs, || async {
            let row = store.conversation(&owner, &conv).await?.unwrap();
            let messages = store.messages(&owner, &conv).await?;
            let tree = Tree::new(&messages);
            let picked = tree.fork_selection(&target, option, start_here);
            store
                .copy_fork(
                    &owner,
                    ForkCopy {
                        source: &conv,
                        target: &target,
                        title: &row.title,
                        endpoint: None,
                        model: None,
                        messages: &picked,
                        leaf: &target,
                    },
                )
                .await?;
            Ok(picked.len())
        })
        .await?;
        let name = if start_here {
            "start fork here".to_string()
        } else {
            option.label().to_lowercase()
        };
        report(&format!("fork, {name} ({copied} messages copied)"), &times);
    }

    // A sibling switch at the first side branch: the browser's part.
    let messages: Vec<MessageView> = store.messages(&owner, &conv).await?;
    let tree = Tree::new(&messages);
    let switch_at = thread[every - 1].clone();
    let siblings = tree.siblings(&switch_at);
    anyhow::ensure!(siblings.len() == 2, "a message with a sibling");
    let other = siblings[1].id.clone();
    let mut browser = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let t = Instant::now();
        let tree = Tree::new(&messages);
        let leaf = tree.leaf_below(&other).unwrap().id.clone();
        std::hint::black_box(tree.thread(Some(&leaf)).len());
        browser.push(t.elapsed());
    }
    report(
        "sibling switch, thread recomputed (browser side, native)",
        &browser,
    );
    let leaf_below = tree.leaf_below(&other).unwrap().id.clone();
    let (save, _) = time(args.runs, || async {
        store.set_leaf(&owner, &conv, &leaf_below).await?;
        Ok(())
    })
    .await?;
    report("sibling switch, leaf saved (server side)", &save);
    Ok(())
}

async fn add(
    store: &Store,
    owner: &UserId,
    conv: &ConversationId,
    parent: Option<&MessageId>,
    i: usize,
) -> anyhow::Result<MessageId> {
    let role = if i.is_multiple_of(2) {
        Role::User
    } else {
        Role::Assistant
    };
    let text = format!("message {i}: {}", "lorem ipsum dolor sit amet ".repeat(8));
    Ok(store
        .add_message(
            owner,
            NewMessage {
                conversation: conv,
                parent,
                role,
                text: &text,
                state: MessageState::Complete,
                endpoint: None,
                model: None,
                job: None,
            },
        )
        .await?)
}

/// Runs `op` once to warm up, then `runs` times timed; returns the times and
/// what the last run returned.
async fn time<T, F, Fut>(runs: usize, mut op: F) -> anyhow::Result<(Vec<Duration>, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut last = op().await?;
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        last = op().await?;
        out.push(t.elapsed());
    }
    Ok((out, last))
}

fn report(what: &str, times: &[Duration]) {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms ({} runs)",
        at(0.5),
        at(0.99),
        ms.len()
    );
}
