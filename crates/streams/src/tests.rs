use super::*;
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

#[tokio::test]
async fn replay_then_live_without_gap_or_duplicate() {
    let jobs = Jobs::new();
    let id = JobId("j".into());
    let w = jobs.create(id.clone(), meta("alice"));
    w.append(delta("a"));
    w.append(delta("b"));
    let alice = UserId("alice".into());
    // A client that already has event 1 reconnects.
    let mut sub = Box::pin(jobs.subscribe(&id, &alice, 1).unwrap());
    assert_eq!(
        sub.next().await.unwrap(),
        SequencedEvent {
            seq: 2,
            event: delta("b")
        }
    );
    let producer = tokio::spawn(async move {
        for t in ["c", "d", "e"] {
            tokio::task::yield_now().await;
            w.append(delta(t));
        }
        w.append(done());
        w.append(delta("after the end is ignored"));
    });
    let rest: Vec<_> = sub.collect().await;
    producer.await.unwrap();
    let seqs: Vec<u64> = rest.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3, 4, 5, 6]);
    assert_eq!(rest.last().unwrap().event, done());
}

#[tokio::test]
async fn many_subscribers_at_random_points_see_the_same_log() {
    let jobs = Jobs::new();
    let id = JobId("j".into());
    let w = jobs.create(id.clone(), meta("u"));
    let user = UserId("u".into());
    let mut subs = Vec::new();
    for i in 0..200u64 {
        if i % 2 == 0 {
            w.append(delta(&i.to_string()));
        }
        let after = i / 4;
        subs.push((
            after,
            tokio::spawn(
                jobs.subscribe(&id, &user, after)
                    .unwrap()
                    .collect::<Vec<_>>(),
            ),
        ));
    }
    w.append(done());
    for (after, sub) in subs {
        let got = sub.await.unwrap();
        let expected: Vec<u64> = (after + 1..=101).collect();
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);
    }
}

#[tokio::test]
async fn strangers_cannot_attach_or_abort() {
    let jobs = Jobs::new();
    let id = JobId("j".into());
    let w = jobs.create(id.clone(), meta("alice"));
    let mallory = UserId("mallory".into());
    assert!(jobs.subscribe(&id, &mallory, 0).is_none());
    assert!(!jobs.abort(&id, &mallory));
    assert!(!w.is_cancelled());
    assert!(jobs.abort(&id, &UserId("alice".into())));
    assert!(w.is_cancelled());
}

#[tokio::test]
async fn finished_jobs_are_swept_after_retention() {
    let jobs = Jobs::new();
    let running = jobs.create(JobId("r".into()), meta("u"));
    let finished = jobs.create(JobId("f".into()), meta("u"));
    running.append(delta("x"));
    finished.append(done());
    assert_eq!(jobs.sweep(Duration::from_secs(3600)), 0);
    assert_eq!(jobs.sweep(Duration::ZERO), 1);
    let u = UserId("u".into());
    assert!(jobs.meta(&JobId("f".into()), &u).is_none());
    assert!(jobs.meta(&JobId("r".into()), &u).is_some());
}
