//! The real server over HTTP: embedded SurrealDB in a temp dir, a local upstream
//! speaking OpenAI's streaming protocol, and a cookie-keeping client.

mod common;

use chorus_testkit::{MockOpenAi, MockOptions, answer_for};
use chorus_types::{
    ConversationSummary, ConversationView, JobEvent, MessageState, SendResult, UserEvent,
};
use common::*;
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn a_user_chats_and_the_answer_streams_resumably() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &config_for(&mock, "")).await;
    let base = &server.base;
    let ann = client(base);

    // Signed out: nothing.
    let (status, _) = call(&ann, base, "conversations", &[]).await;
    assert_eq!(status, 500);
    register(&ann, base, "ann@example.com").await;
    let (_, me) = call(&ann, base, "me", &[]).await;
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["is_admin"], true, "the first account is admin");

    let sent = send(&ann, base, "Hello there").await;
    let url = format!("{base}/api/jobs/{}/events", sent.job);

    let all = events(&ann, &url, None).await;
    let seqs: Vec<u64> = all.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "ids are 1, 2, 3, … without gaps"
    );
    assert_eq!(text_of(&all), answer_for("Hello there"));
    assert!(matches!(
        all.last().unwrap().1,
        JobEvent::Done {
            state: MessageState::Complete,
            ..
        }
    ));

    // Resuming gives exactly what follows the given event.
    let after_3 = events(&ann, &url, Some(3)).await;
    assert_eq!(after_3, all[3..].to_vec());
    let resp = ann
        .get(format!("{url}?from=5"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        resp.starts_with("id: 6\ndata: {"),
        "raw SSE framing: {resp:.80}"
    );

    // Persisted: listed with its model-written title, with both messages.
    let (_, list) = call(&ann, base, "conversations", &[]).await;
    let list: Vec<ConversationSummary> = serde_json::from_value(list).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].title, "Chat about Hello there");
    let (_, convo) = call(&ann, base, "conversation", &[("id", &sent.conversation.0)]).await;
    let convo: ConversationView = serde_json::from_value(convo).unwrap();
    assert_eq!(convo.messages.len(), 2);
    assert_eq!(convo.messages[1].text, answer_for("Hello there"));

    // Another user cannot see or attach to any of it.
    let bob = client(base);
    register(&bob, base, "bob@example.com").await;
    assert_eq!(bob.get(&url).send().await.unwrap().status(), 404);
    let (status, body) = call(&bob, base, "conversation", &[("id", &sent.conversation.0)]).await;
    assert_eq!(status, 500);
    assert_eq!(body, serde_json::json!("NotFound"));
    let (_, bobs) = call(&bob, base, "conversations", &[]).await;
    assert_eq!(bobs, serde_json::json!([]));
    // Signed out: 401.
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 401);
}

#[tokio::test]
async fn every_tab_of_a_user_hears_what_changes_and_no_one_else_does() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &config_for(&mock, "")).await;
    let base = &server.base;
    assert_eq!(
        reqwest::get(format!("{base}/api/events"))
            .await
            .unwrap()
            .status(),
        401
    );
    let ann = client(base);
    register(&ann, base, "ann@example.com").await;
    let bob = client(base);
    register(&bob, base, "bob@example.com").await;
    let mut tab1 = user_events(&ann, base).await;
    let mut tab2 = user_events(&ann, base).await;
    let mut bobs = user_events(&bob, base).await;

    let sent = send(&ann, base, "Hi").await;
    let id = sent.conversation.clone();
    let expected = [
        UserEvent::ConversationCreated {
            conversation: id.clone(),
            title: "Hi".into(),
        },
        UserEvent::JobStarted {
            conversation: id.clone(),
            job: sent.job.clone(),
        },
        UserEvent::ConversationRenamed {
            conversation: id.clone(),
            title: "Chat about Hi".into(),
        },
        UserEvent::JobFinished {
            conversation: id.clone(),
            job: sent.job.clone(),
            state: MessageState::Complete,
        },
    ];
    for tab in [&mut tab1, &mut tab2] {
        for want in &expected {
            assert_eq!(&next_event(tab).await, want);
        }
    }

    let (status, _) = call(
        &ann,
        base,
        "conversation/rename",
        &[("id", &id.0), ("title", "  Trip   plans ")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        next_event(&mut tab1).await,
        UserEvent::ConversationRenamed {
            conversation: id.clone(),
            title: "Trip plans".into()
        }
    );
    let (status, body) = call(
        &ann,
        base,
        "conversation/rename",
        &[("id", &id.0), ("title", " ")],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            500,
            serde_json::json!({"Invalid": "A title cannot be empty."})
        )
    );

    // Bob can neither rename nor delete it, and hears nothing of Ann's.
    let (status, body) = call(&bob, base, "conversation/delete", &[("id", &id.0)]).await;
    assert_eq!((status, body), (500, serde_json::json!("NotFound")));
    let (status, _) = call(&ann, base, "conversation/delete", &[("id", &id.0)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        next_event(&mut tab1).await,
        UserEvent::ConversationDeleted {
            conversation: id.clone()
        }
    );
    let (_, list) = call(&ann, base, "conversations", &[]).await;
    assert_eq!(list, serde_json::json!([]));
    let (status, body) = call(&ann, base, "conversation", &[("id", &id.0)]).await;
    assert_eq!((status, body), (500, serde_json::json!("NotFound")));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), bobs.next())
            .await
            .is_err(),
        "Bob's stream stays silent"
    );
}

#[tokio::test]
async fn login_logout_and_wrong_password() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &config_for(&mock, "")).await;
    let base = &server.base;
    let c = client(base);
    register(&c, base, "ann@example.com").await;
    let (status, _) = call(&c, base, "logout", &[]).await;
    assert_eq!(status, 200);
    let (_, me) = call(&c, base, "me", &[]).await;
    assert_eq!(me, Value::Null);

    let (_, wrong) = login(&c, base, "ann@example.com", "nope nope").await;
    let (_, unknown) = login(&c, base, "who@example.com", "nope nope").await;
    assert_eq!(
        wrong,
        serde_json::json!({"Invalid": "Wrong email or password."})
    );
    assert_eq!(unknown, wrong, "no hint whether the email exists");

    let (status, _) = login(&c, base, "ANN@example.com", "long enough pw").await;
    assert_eq!(status, 200);
    let (_, me) = call(&c, base, "me", &[]).await;
    assert_eq!(me["email"], "ann@example.com");
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &config_for(&mock, "")).await;
    let evil = reqwest::Client::new();
    let resp = evil
        .post(format!("{}/api/register", server.base))
        .header("origin", "https://evil.example")
        .form(&[
            ("email", "x@example.com"),
            ("name", ""),
            ("password", "long enough pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn a_killed_server_loses_no_stored_message_and_says_what_happened() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = (dir.path().join("data"), dir.path().join("chorus.yaml"));
    std::fs::write(&config, config_for(&mock, "")).unwrap();
    let server = spawn_binary(&data, &config).await;
    let c = client(&server.base);
    register(&c, &server.base, "ann@example.com").await;
    let sent = send(&c, &server.base, "[[slow]] remember me").await;
    // Let the job write (and save) part of the answer, then kill the process.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(server);

    std::fs::write(
        &config,
        config_for(&mock, "registration:\n  enabled: false"),
    )
    .unwrap();
    let server = spawn_binary(&data, &config).await;
    let c = client(&server.base);
    let form = [
        ("email", "new@example.com"),
        ("name", ""),
        ("password", "long enough pw"),
    ];
    let (_, refused) = call(&c, &server.base, "register", &form).await;
    assert!(
        refused["Invalid"]
            .as_str()
            .unwrap()
            .starts_with("Registration is turned off"),
        "{refused}"
    );
    let (status, _) = login(&c, &server.base, "ann@example.com", "long enough pw").await;
    assert_eq!(status, 200);
    let (_, convo) = call(
        &c,
        &server.base,
        "conversation",
        &[("id", &sent.conversation.0)],
    )
    .await;
    let convo: ConversationView = serde_json::from_value(convo).unwrap();
    assert_eq!(convo.messages[0].text, "[[slow]] remember me");
    let answer = &convo.messages[1];
    assert_eq!(answer.state, MessageState::Interrupted);
    assert!(
        answer
            .error
            .as_deref()
            .unwrap()
            .starts_with("The server stopped while this answer was being written")
    );
    assert!(
        !answer.text.is_empty(),
        "the saved part of the answer is kept"
    );
    assert!(answer_for("[[slow]] remember me").starts_with(&answer.text));

    // Continue: the model is asked to go on from the saved text, and the new
    // text is appended to the same message.
    let partial = answer.text.clone();
    let (status, job) = continue_answer(&c, &server.base, &sent, &answer.id).await;
    assert_eq!(status, 200, "{job}");
    let url = format!("{}/api/jobs/{}/events", server.base, job.as_str().unwrap());
    let log = events(&c, &url, None).await;
    assert_eq!(
        log[0].1,
        JobEvent::Delta {
            text: partial.clone()
        },
        "the log starts with the text so far"
    );
    assert!(matches!(
        log.last().unwrap().1,
        JobEvent::Done {
            state: MessageState::Complete,
            error: None
        }
    ));
    let upstream = mock.requests().pop().unwrap().body;
    let wire = upstream["messages"].as_array().unwrap();
    assert_eq!(
        wire.last().unwrap(),
        &serde_json::json!({"role": "assistant", "content": partial}),
        "the upstream gets the answer so far as the last turn"
    );
    assert_eq!(wire[wire.len() - 2]["content"], "[[slow]] remember me");
    let (_, convo) = call(
        &c,
        &server.base,
        "conversation",
        &[("id", &sent.conversation.0)],
    )
    .await;
    let convo: ConversationView = serde_json::from_value(convo).unwrap();
    assert_eq!(convo.messages.len(), 2, "no new message");
    let continued = &convo.messages[1];
    assert_eq!(continued.state, MessageState::Complete);
    assert_eq!(continued.error, None);
    assert_eq!(continued.text, format!("{partial}{}", text_of(&log[1..])));
    assert!(continued.text.len() > partial.len());
    // Continuing a complete answer is refused.
    let (status, body) = continue_answer(&c, &server.base, &sent, &answer.id).await;
    assert_eq!(
        (status, body),
        (
            500,
            serde_json::json!({"Invalid": "Only an answer that stopped can be continued."})
        )
    );
    // Once the conversation has moved on, that answer is no longer the latest.
    let form = [
        ("conversation", sent.conversation.0.as_str()),
        ("endpoint", "Mock"),
        ("model", "mock-small"),
        ("text", "and then?"),
    ];
    let (status, next) = call(&c, &server.base, "send", &form).await;
    assert_eq!(status, 200, "{next}");
    let next: SendResult = serde_json::from_value(next).unwrap();
    events(
        &c,
        &format!("{}/api/jobs/{}/events", server.base, next.job.0),
        None,
    )
    .await;
    let (status, body) = continue_answer(&c, &server.base, &sent, &answer.id).await;
    assert_eq!(
        (status, body),
        (
            500,
            serde_json::json!({"Invalid": "Only the latest answer can be continued."})
        )
    );
}

#[tokio::test]
async fn pages_may_be_framed_only_by_chorus_itself() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), NO_ENDPOINTS).await;
    for path in ["/login", "/", "/healthz"] {
        let resp = reqwest::get(format!("{}{path}", server.base))
            .await
            .unwrap();
        let headers = resp.headers();
        assert_eq!(headers["x-frame-options"], "SAMEORIGIN", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_user_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), NO_ENDPOINTS).await;
    let base = &server.base;
    let laptop = client(base);
    register(&laptop, base, "ann@example.com").await;
    let phone = client(base);
    let (status, _) = login(&phone, base, "ann@example.com", "long enough pw").await;
    assert_eq!(status, 200);
    let other = client(base);
    register(&other, base, "bob@example.com").await;
    for c in [&laptop, &phone, &other] {
        assert_eq!(call(c, base, "conversations", &[]).await.0, 200);
    }

    let (status, body) = call(&phone, base, "logout-everywhere", &[]).await;
    assert_eq!(status, 200, "{body}");
    // Both of Ann's sessions are over; Bob's is not.
    assert_ne!(call(&laptop, base, "conversations", &[]).await.0, 200);
    assert_ne!(call(&phone, base, "conversations", &[]).await.0, 200);
    assert_eq!(call(&other, base, "conversations", &[]).await.0, 200);
    // Signing in again works.
    let (status, _) = login(&laptop, base, "ann@example.com", "long enough pw").await;
    assert_eq!(status, 200);
    assert_eq!(call(&laptop, base, "conversations", &[]).await.0, 200);
}
