//! Several real `chorus` processes sharing a real Redis (`redis-server`) and a
//! real SurrealDB server (`chorus-surreal`): any instance serves any client,
//! a stop on one reaches a job on another, and a job whose instance is killed
//! finishes on another one with no gap or duplicate in what the client reads.

mod common;

use chorus_testkit::redis::RedisServer;
use chorus_testkit::surreal::{self, SurrealServer};
use chorus_testkit::{MockOpenAi, MockOptions, answer_for};
use chorus_types::{ConversationView, JobEvent, MessageState, UserEvent};
use common::*;
use std::time::Duration;

/// Redis, a database server, and a config every instance reads.
struct Cluster {
    _redis: RedisServer,
    _db: SurrealServer,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Cluster {
    fn start(mock: &MockOpenAi) -> Self {
        let redis = RedisServer::start();
        let db = SurrealServer::start();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("chorus.yaml");
        let extra = format!(
            "database:\n  url: {}\n  user: {}\n  password: {}\nstreams:\n  backend: redis\n  redis:\n    url: {}\n",
            db.url(),
            surreal::USER,
            surreal::PASSWORD,
            redis.url()
        );
        std::fs::write(&config, config_for(mock, &extra)).unwrap();
        Self {
            _redis: redis,
            _db: db,
            dir,
            config,
        }
    }

    /// A cluster with two instances, and a browser signed in as a new user.
    async fn with_two(mock: &MockOpenAi) -> (Self, Process, Process, reqwest::Client) {
        let cluster = Self::start(mock);
        let a = cluster.instance(1).await;
        let b = cluster.instance(2).await;
        // One browser; a load balancer would send its requests to either
        // instance (one cookie for both: sessions live in the shared database).
        let c = client(&a.base);
        register(&c, &a.base, "ann@example.com").await;
        (cluster, a, b, c)
    }

    /// Instance `n` (its own data directory, which holds nothing shared).
    /// Instances that share a database share the key that seals secrets.
    async fn instance(&self, n: u32) -> Process {
        let data = self.dir.path().join(format!("data{n}"));
        spawn_binary_with(&data, &self.config, &[("CHORUS_SECRET_KEY", SECRET_KEY)]).await
    }
}

const SECRET_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn seqs(events: &[(u64, JobEvent)]) -> Vec<u64> {
    events.iter().map(|(s, _)| *s).collect()
}

async fn conversation(c: &reqwest::Client, base: &str, id: &str) -> ConversationView {
    let (status, convo) = call(c, base, "conversation", &[("id", id)]).await;
    assert_eq!(status, 200, "{convo}");
    serde_json::from_value(convo).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_redis_and_a_database_serve_any_client() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (_cluster, a, b, c) = Cluster::with_two(&mock).await;
    let (status, me) = call(&c, &b.base, "me", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "ann@example.com", "{me}");

    // B hears what happens on A.
    let mut notices = user_events(&c, &b.base).await;
    let sent = send(&c, &a.base, "[[slow]] a story").await;
    let job = sent.job.0.clone();
    assert!(matches!(
        next_event(&mut notices).await,
        UserEvent::ConversationCreated { .. }
    ));
    assert!(matches!(
        next_event(&mut notices).await,
        UserEvent::JobStarted { .. }
    ));

    // One reader follows the whole answer on B; another hops between the
    // instances every 3 events, resuming with Last-Event-ID each time.
    let whole = tokio::spawn({
        let (c, base, job) = (c.clone(), b.base.clone(), job.clone());
        async move { job_events(&c, &base, &job, 0, None).await }
    });
    let mut hopped = Vec::new();
    let bases = [&a.base, &b.base];
    let mut hop = 0;
    loop {
        let after = hopped.last().map_or(0, |(s, _)| *s);
        let got = job_events(&c, bases[hop % 2], &job, after, Some(3)).await;
        hop += 1;
        let done = got.last().is_some_and(|(_, e)| e.is_terminal());
        hopped.extend(got);
        if done {
            break;
        }
    }
    let whole = whole.await.unwrap();
    assert!(hop > 4, "the answer spanned several reconnects ({hop})");
    assert_eq!(seqs(&whole), (1..=whole.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        hopped, whole,
        "reassembled across instances = uninterrupted"
    );
    assert_eq!(text_of(&whole), answer_for("[[slow]] a story"));
    assert!(matches!(
        whole.last().unwrap().1,
        JobEvent::Done {
            state: MessageState::Complete,
            ..
        }
    ));

    // Stop on B a job running on A: the partial answer is kept, marked stopped.
    let sent = send(&c, &a.base, "[[slow]] stop me").await;
    let first = job_events(&c, &b.base, &sent.job.0, 0, Some(2)).await;
    let (status, stopped) = call(&c, &b.base, "stop", &[("job", &sent.job.0)]).await;
    assert_eq!((status, stopped), (200, serde_json::json!(true)));
    let rest = job_events(&c, &b.base, &sent.job.0, 2, None).await;
    assert!(
        matches!(
            rest.last().unwrap().1,
            JobEvent::Done {
                state: MessageState::Stopped,
                ..
            }
        ),
        "{rest:?}"
    );
    let convo = conversation(&c, &b.base, &sent.conversation.0).await;
    let answer = convo.messages.last().unwrap();
    assert_eq!(answer.state, MessageState::Stopped);
    let streamed = text_of(&first) + &text_of(&rest);
    assert_eq!(answer.text, streamed);
    assert!(answer_for("[[slow]] stop me").starts_with(&answer.text));
    assert!(answer.text.len() < answer_for("[[slow]] stop me").len());

    // A rename on B reaches the notice stream on B that A's events came through too.
    let (status, _) = call(
        &c,
        &b.base,
        "conversation/rename",
        &[("id", &sent.conversation.0), ("title", "Renamed on B")],
    )
    .await;
    assert_eq!(status, 200);
    loop {
        if let UserEvent::ConversationRenamed { title, .. } = next_event(&mut notices).await
            && title == "Renamed on B"
        {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_instance_is_killed_finishes_on_another_without_gap_or_duplicate() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (_cluster, a, b, c) = Cluster::with_two(&mock).await;
    let sent = send(&c, &a.base, "[[slow]] survive this").await;
    // The client follows on B while A writes the answer.
    let reader = tokio::spawn({
        let (c, base, job) = (c.clone(), b.base.clone(), sent.job.0.clone());
        async move { job_events(&c, &base, &job, 0, None).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGKILL (what dropping a `Process` sends): no chance to hand anything over.
    drop(a);
    let events = reader.await.unwrap();
    assert_eq!(
        seqs(&events),
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "one stream, no gap, no duplicate"
    );
    assert!(
        matches!(
            events.last().unwrap().1,
            JobEvent::Done {
                state: MessageState::Complete,
                error: None
            }
        ),
        "{events:?}"
    );
    let streamed = text_of(&events);
    let before = answer_for("[[slow]] survive this");
    let convo = conversation(&c, &b.base, &sent.conversation.0).await;
    let answer = convo.messages.last().unwrap();
    assert_eq!(answer.state, MessageState::Complete);
    assert_eq!(
        answer.text, streamed,
        "the stored answer is what the client read"
    );
    // Part of it came from A before the kill, the rest from B carrying on.
    assert!(streamed.len() > before.len(), "B continued after A's part");
    let continued = mock.requests().pop().unwrap().body;
    let last = continued["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "assistant", "B asks the model to carry on");
    let partial = last["content"].as_str().unwrap();
    assert!(!partial.is_empty() && before.starts_with(partial));
    assert!(streamed.starts_with(partial));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_local_backend_works_and_the_redis_backend_says_what_is_missing() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let nowhere = format!("redis://127.0.0.1:{}/0", chorus_testkit::redis::free_port());

    // `local` with a Redis URL left in the file: Redis is never asked.
    let config = dir.path().join("local.yaml");
    let extra = format!("streams:\n  backend: local\n  redis:\n    url: {nowhere}\n");
    std::fs::write(&config, config_for(&mock, &extra)).unwrap();
    let server = spawn_binary(&dir.path().join("data-local"), &config).await;
    let c = client(&server.base);
    register(&c, &server.base, "ann@example.com").await;
    let sent = send(&c, &server.base, "hello").await;
    let got = job_events(&c, &server.base, &sent.job.0, 0, None).await;
    assert_eq!(text_of(&got), answer_for("hello"));
    drop(server);

    // `redis` with Redis down: the server refuses to start and says why.
    let config = dir.path().join("redis.yaml");
    let extra = format!("streams:\n  backend: redis\n  redis:\n    url: {nowhere}\n");
    std::fs::write(&config, config_for(&mock, &extra)).unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_chorus"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data-redis"))
            .arg("--config")
            .arg(&config)
            .output(),
    )
    .await
    .expect("the server gives up on an unreachable Redis within a minute")
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("streams.backend: redis"), "{stderr}");
    assert!(stderr.contains(&nowhere[..nowhere.len() - 2]), "{stderr}");
}
