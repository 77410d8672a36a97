//! The job log contract, checked on both backends: the in-process one and
//! Redis (a real `redis-server` per test).

use super::*;
use chorus_testkit::redis::RedisServer;
use chorus_types::MessageState;
use futures::StreamExt;

fn meta(owner: &str) -> JobMeta {
    JobMeta {
        owner: UserId(owner.into()),
        conversation: ConversationId("c1".into()),
    }
}

fn delta(t: &str) -> JobEvent {
    JobEvent::Delta { text: t.into() }
}

fn done() -> JobEvent {
    JobEvent::Done {
        state: MessageState::Complete,
        error: None,
    }
}

/// Job "j" of `owner`, just created.
async fn new_job(jobs: &Jobs, owner: &str) -> (JobId, JobWriter) {
    let id = JobId("j".into());
    let w = jobs
        .create(id.clone(), meta(owner), String::new())
        .await
        .unwrap();
    (id, w)
}

/// An instance on `redis`.
async fn on(redis: &RedisServer) -> Streams {
    Streams::redis(RedisConfig::new(redis.url())).await.unwrap()
}

/// Job "j" of user "u", created on `s` with one event written through.
async fn job_with_one_event(s: &Streams, text: &str) -> (JobId, UserId, JobWriter) {
    let (id, w) = new_job(&s.jobs, "u").await;
    let u = UserId("u".into());
    w.append(delta(text));
    w.flushed().await;
    (id, u, w)
}

/// The backends under test; the Redis server lives as long as the returned guard.
async fn backends() -> Vec<(&'static str, Jobs, Option<RedisServer>)> {
    let redis = RedisServer::start();
    let shared = on(&redis).await;
    vec![
        ("local", Jobs::new(), None),
        ("redis", shared.jobs, Some(redis)),
    ]
}

async fn events(
    jobs: &Jobs,
    id: &JobId,
    user: &UserId,
    after: u64,
) -> BoxStream<'static, SequencedEvent> {
    jobs.subscribe(id, user, after)
        .await
        .expect("the owner may subscribe")
        .filter_map(|w| async move { w.event() })
        .boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_then_live_without_gap_or_duplicate() {
    for (name, jobs, _redis) in backends().await {
        let (id, w) = new_job(&jobs, "alice").await;
        w.append(delta("a"));
        w.append(delta("b"));
        w.flushed().await;
        let alice = UserId("alice".into());
        // A client that already has event 1 reconnects.
        let mut sub = events(&jobs, &id, &alice, 1).await;
        assert_eq!(
            sub.next().await.unwrap(),
            SequencedEvent {
                seq: 2,
                event: delta("b")
            },
            "{name}"
        );
        let producer = tokio::spawn(async move {
            for t in ["c", "d", "e"] {
                tokio::task::yield_now().await;
                w.append(delta(t));
            }
            w.append(done());
            w.append(delta("after the end is ignored"));
            w.flushed().await;
        });
        let rest: Vec<_> = sub.collect().await;
        producer.await.unwrap();
        let seqs: Vec<u64> = rest.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 4, 5, 6], "{name}");
        assert_eq!(rest.last().unwrap().event, done(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_subscribers_at_random_points_see_the_same_log() {
    for (name, jobs, _redis) in backends().await {
        let (id, w) = new_job(&jobs, "u").await;
        let user = UserId("u".into());
        let mut subs = Vec::new();
        for i in 0..200u64 {
            if i % 2 == 0 {
                w.append(delta(&i.to_string()));
            }
            let after = i / 4;
            let sub = events(&jobs, &id, &user, after).await;
            subs.push((after, tokio::spawn(sub.collect::<Vec<_>>())));
        }
        w.append(done());
        for (after, sub) in subs {
            let got = sub.await.unwrap();
            let expected: Vec<u64> = (after + 1..=101).collect();
            assert_eq!(
                got.iter().map(|e| e.seq).collect::<Vec<_>>(),
                expected,
                "{name}"
            );
            assert_eq!(got[0].event, delta(&(after * 2).to_string()), "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_cannot_attach_or_abort() {
    for (name, jobs, _redis) in backends().await {
        let (id, w) = new_job(&jobs, "alice").await;
        let mallory = UserId("mallory".into());
        assert!(jobs.subscribe(&id, &mallory, 0).await.is_none(), "{name}");
        assert!(!jobs.abort(&id, &mallory).await, "{name}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!w.is_cancelled(), "{name}");
        assert!(jobs.abort(&id, &UserId("alice".into())).await, "{name}");
        tokio::time::timeout(Duration::from_secs(5), w.cancelled())
            .await
            .unwrap_or_else(|_| panic!("{name}: the owner's abort reaches the job"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_conversation_stops_only_its_jobs() {
    for (name, jobs, _redis) in backends().await {
        let here = jobs
            .create(JobId("a".into()), meta("u"), String::new())
            .await
            .unwrap();
        let other_conversation = JobMeta {
            owner: UserId("u".into()),
            conversation: ConversationId("c2".into()),
        };
        let there = jobs
            .create(JobId("b".into()), other_conversation, String::new())
            .await
            .unwrap();
        jobs.abort_conversation(&UserId("u".into()), &ConversationId("c1".into()))
            .await;
        tokio::time::timeout(Duration::from_secs(5), here.cancelled())
            .await
            .unwrap_or_else(|_| panic!("{name}: the job in the deleted conversation stops"));
        assert!(!there.is_cancelled(), "{name}");
    }
}

#[tokio::test]
async fn finished_jobs_are_swept_after_retention() {
    let jobs = Jobs::new();
    let running = jobs
        .create(JobId("r".into()), meta("u"), String::new())
        .await
        .unwrap();
    let finished = jobs
        .create(JobId("f".into()), meta("u"), String::new())
        .await
        .unwrap();
    running.append(delta("x"));
    finished.append(done());
    assert_eq!(jobs.sweep(Duration::from_secs(3600)), 0);
    assert_eq!(jobs.sweep(Duration::ZERO), 1);
    let u = UserId("u".into());
    assert!(jobs.meta(&JobId("f".into()), &u).await.is_none());
    assert!(jobs.meta(&JobId("r".into()), &u).await.is_some());
}

/// Two instances on one Redis: a subscriber on B follows a job written on A,
/// B's abort reaches A, and user notices published on A reach B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_redis_serve_each_others_jobs() {
    let redis = RedisServer::start();
    let a = on(&redis).await;
    let b = on(&redis).await;
    let (id, u, w) = job_with_one_event(&a, "one ").await;
    let mut sub = events(&b.jobs, &id, &u, 0).await;
    assert_eq!(sub.next().await.unwrap().event, delta("one "));
    w.append(delta("two"));
    assert_eq!(sub.next().await.unwrap().event, delta("two"));

    let mut notices = Box::pin(b.events.subscribe(&u));
    let renamed = chorus_types::UserEvent::ConversationRenamed {
        conversation: ConversationId("c1".into()),
        title: "t".into(),
    };
    a.events.publish(&u, renamed.clone());
    assert_eq!(notices.next().await, Some(Notice::Event(renamed)));

    assert!(b.jobs.abort(&id, &u).await);
    tokio::time::timeout(Duration::from_secs(5), w.cancelled())
        .await
        .expect("an abort on B stops the job running on A");
    w.append(JobEvent::Done {
        state: MessageState::Stopped,
        error: None,
    });
    assert!(matches!(
        sub.next().await.unwrap().event,
        JobEvent::Done { .. }
    ));
    assert!(sub.next().await.is_none());
}

/// The instance running a job disappears (its writer is gone and its lease
/// runs out): another instance adopts the job with its log so far and
/// continues the same log; a subscriber sees one stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_instance_died_is_adopted_and_continues_the_same_log() {
    let redis = RedisServer::start();
    let (id, u) = (JobId("j".into()), UserId("u".into()));
    let a = on(&redis).await;
    let w = a
        .jobs
        .create(id.clone(), meta("u"), "how to continue".into())
        .await
        .unwrap();
    w.append(delta("before "));
    w.flushed().await;
    let mut b = on(&redis).await;
    let mut sub = events(&b.jobs, &id, &u, 0).await;
    assert_eq!(sub.next().await.unwrap().event, delta("before "));
    // Instance A dies: nothing renews its lease any more.
    drop(w);
    drop(a);
    let orphan = tokio::time::timeout(Duration::from_secs(10), b.orphans.recv())
        .await
        .expect("B adopts the job once A's lease runs out")
        .unwrap();
    assert_eq!(orphan.meta, meta("u"));
    assert_eq!(orphan.spec, "how to continue");
    assert_eq!(orphan.events, [delta("before ")]);
    orphan.writer.append(delta("after"));
    orphan.writer.append(done());
    let rest: Vec<_> = sub.collect().await;
    assert_eq!(
        rest.iter()
            .map(|e| (e.seq, e.event.clone()))
            .collect::<Vec<_>>(),
        [(2, delta("after")), (3, done())]
    );
}

/// Redis goes away while a job streams: the subscriber is told, the writer
/// keeps its events, and when Redis is back (empty, as after a restart
/// without persistence) nothing crashes and the notice subscriber reloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_is_reported_and_recovered_from() {
    let mut redis = RedisServer::start();
    let s = on(&redis).await;
    let (id, u, w) = job_with_one_event(&s, "a").await;
    let mut sub = s.jobs.subscribe(&id, &u, 0).await.unwrap();
    let mut notices = Box::pin(s.events.subscribe(&u));
    assert!(matches!(sub.next().await, Some(Watched::Event(_))));
    redis.kill();
    let told = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("the subscriber hears of the outage");
    assert!(
        matches!(&told, Some(Watched::Interrupted(m)) if m.contains("Redis")),
        "{told:?}"
    );
    w.append(delta("b"));
    redis.resume();
    let missed = tokio::time::timeout(Duration::from_secs(10), notices.next())
        .await
        .expect("notice subscribers are told to reload after the outage");
    assert_eq!(missed, Some(Notice::Missed));
    // The writer delivers what it kept once Redis answers again, and records
    // the job again (this Redis restarted empty): the owner can attach anew.
    tokio::time::timeout(Duration::from_secs(10), w.flushed())
        .await
        .expect("the kept events reach Redis after it returns");
    assert_eq!(s.jobs.meta(&id, &u).await, Some(meta("u")));
    let mut again = events(&s.jobs, &id, &u, 1).await;
    assert_eq!(again.next().await.unwrap().event, delta("b"));
    // The first subscriber resumes too, where it was.
    w.append(done());
    let resumed: Vec<_> = sub.filter_map(|w| async move { w.event() }).collect().await;
    assert_eq!(
        resumed.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 3],
        "{resumed:?}"
    );
}
