//! The send → job → store flow against a local OpenAI-protocol upstream.

mod common;

use chorus_engine::EngineError;
use chorus_testkit::{MockOpenAi, MockOptions, answer_for, title_for};
use chorus_types::{JobEvent, MessageState, Role};
use common::{another_user, engine_for, req, watch_all};
use futures::StreamExt;

#[tokio::test]
async fn an_answer_streams_is_stored_and_titles_the_conversation() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user) = engine_for(&mock, true).await;
    let sent = engine
        .send(&user, req(None, "Mock", "What is the capital of France?"))
        .await
        .unwrap();
    let (text, events) = watch_all(&engine, &user, &sent).await;
    assert_eq!(text, answer_for("What is the capital of France?"));
    let title = title_for("What is the capital of France?");
    assert!(
        events.contains(&JobEvent::Title {
            title: title.clone()
        }),
        "{events:?}"
    );
    assert!(matches!(
        events.last(),
        Some(JobEvent::Done {
            state: MessageState::Complete,
            error: None
        })
    ));
    assert!(events.iter().any(|e| matches!(e, JobEvent::Usage { .. })));

    let convo = engine
        .conversation(&user, &sent.conversation)
        .await
        .unwrap();
    assert_eq!(convo.title, title);
    assert_eq!(convo.messages.len(), 2);
    assert_eq!(convo.messages[0].role, Role::User);
    assert_eq!(convo.messages[1].text, text);
    assert_eq!(convo.messages[1].state, MessageState::Complete);

    // A follow-up carries the history to the model.
    let next = engine
        .send(
            &user,
            req(Some(sent.conversation.clone()), "Mock", "And of Spain?"),
        )
        .await
        .unwrap();
    watch_all(&engine, &user, &next).await;
    let last = mock
        .requests()
        .into_iter()
        .filter(|r| r.body["stream"] == true)
        .last()
        .unwrap();
    let roles: Vec<&str> = last.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    let list = engine.conversations(&user).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        engine
            .conversation(&user, &sent.conversation)
            .await
            .unwrap()
            .messages
            .len(),
        4
    );
}

#[tokio::test]
async fn without_title_convo_the_first_message_is_the_title() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user) = engine_for(&mock, false).await;
    let sent = engine
        .send(&user, req(None, "Mock", "Tell me a joke\nabout cats"))
        .await
        .unwrap();
    let (_, events) = watch_all(&engine, &user, &sent).await;
    assert!(!events.iter().any(|e| matches!(e, JobEvent::Title { .. })));
    assert_eq!(
        engine
            .conversation(&user, &sent.conversation)
            .await
            .unwrap()
            .title,
        "Tell me a joke"
    );
}

#[tokio::test]
async fn upstream_errors_are_shown_and_stored_on_the_message() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user) = engine_for(&mock, false).await;
    let cases = [
        (
            "WrongKey",
            "hello",
            "The provider rejected the API key (HTTP 401)",
        ),
        (
            "Mock",
            "[[status:429]]",
            "The provider is rate limiting requests (HTTP 429)",
        ),
        (
            "Mock",
            "[[status:500]]",
            "The provider returned an error (HTTP 500)",
        ),
        (
            "Mock",
            "[[malformed]] hi",
            "The provider sent a response Chorus cannot read",
        ),
    ];
    for (endpoint, text, expected) in cases {
        let sent = engine.send(&user, req(None, endpoint, text)).await.unwrap();
        let (_, events) = watch_all(&engine, &user, &sent).await;
        let Some(JobEvent::Done {
            state: MessageState::Failed,
            error: Some(error),
        }) = events.last()
        else {
            panic!("{text}: expected a failure, got {events:?}");
        };
        assert!(error.starts_with(expected), "{text}: {error}");
        let stored = engine
            .conversation(&user, &sent.conversation)
            .await
            .unwrap()
            .messages;
        assert_eq!(stored[1].state, MessageState::Failed);
        assert_eq!(stored[1].error.as_deref(), Some(error.as_str()));
        assert_eq!(stored[0].text, text, "the user's message is kept");
    }
}

#[tokio::test]
async fn stopping_keeps_the_partial_answer() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user) = engine_for(&mock, false).await;
    let sent = engine
        .send(&user, req(None, "Mock", "[[slow]] a long story"))
        .await
        .unwrap();
    let mut stream = engine
        .watch(&user, &sent.job, 0)
        .await
        .unwrap()
        .filter_map(|w| async move { w.event() })
        .boxed();
    // Wait for some text, then stop.
    let first = stream.next().await.unwrap();
    assert!(matches!(first.event, JobEvent::Delta { .. }));
    assert!(engine.stop(&user, &sent.job).await);
    let rest: Vec<_> = stream.map(|e| e.event).collect().await;
    assert!(
        matches!(
            rest.last(),
            Some(JobEvent::Done {
                state: MessageState::Stopped,
                ..
            })
        ),
        "{rest:?}"
    );
    let stored = engine
        .conversation(&user, &sent.conversation)
        .await
        .unwrap()
        .messages;
    assert_eq!(stored[1].state, MessageState::Stopped);
    assert!(!stored[1].text.is_empty());
    assert!(answer_for("[[slow]] a long story").starts_with(&stored[1].text));
    assert!(stored[1].text.len() < answer_for("[[slow]] a long story").len());
    // The provider never reported usage for the cut answer: it is counted.
    let usage = rest
        .iter()
        .find_map(|e| match e {
            JobEvent::Usage { usage } => Some(*usage),
            _ => None,
        })
        .expect("a stopped answer still reports what it used");
    assert!(usage.estimated);
    assert_eq!(
        usage.output_tokens,
        chorus_gateway::tokens::count(&stored[1].text)
    );
    assert!(usage.input_tokens > 0);
}

#[tokio::test]
async fn strangers_get_not_found() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user) = engine_for(&mock, false).await;
    let sent = engine
        .send(&user, req(None, "Mock", "secret plans"))
        .await
        .unwrap();
    let mallory = another_user(&engine, "m@x.test").await;
    assert!(engine.watch(&mallory, &sent.job, 0).await.is_none());
    assert!(!engine.stop(&mallory, &sent.job).await);
    assert!(matches!(
        engine.conversation(&mallory, &sent.conversation).await,
        Err(EngineError::NotFound)
    ));
    assert!(matches!(
        engine
            .send(&mallory, req(Some(sent.conversation.clone()), "Mock", "hi"))
            .await,
        Err(EngineError::NotFound)
    ));
    assert!(engine.conversations(&mallory).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_is_refused_with_a_reason() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user) = engine_for(&mock, false).await;
    let err = engine
        .send(&user, req(None, "Mock", "   "))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Type a message first.");
    let err = engine
        .send(&user, req(None, "Nope", "hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "There is no endpoint named \"Nope\" on this server."
    );
    assert!(
        engine.conversations(&user).await.unwrap().is_empty(),
        "nothing half-created"
    );
}

#[tokio::test]
async fn a_failed_answer_keeps_the_first_message_title() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user) = engine_for(&mock, true).await;
    let sent = engine
        .send(&user, req(None, "Mock", "[[status:500]] Plan my week"))
        .await
        .unwrap();
    let (_, events) = watch_all(&engine, &user, &sent).await;
    assert!(
        !events.iter().any(|e| matches!(e, JobEvent::Title { .. })),
        "{events:?}"
    );
    assert!(matches!(
        events.last(),
        Some(JobEvent::Done {
            state: MessageState::Failed,
            ..
        })
    ));
    let convo = engine
        .conversation(&user, &sent.conversation)
        .await
        .unwrap();
    assert_eq!(convo.title, "[[status:500]] Plan my week");
}

#[tokio::test]
async fn a_user_provided_endpoint_runs_on_that_users_sealed_key() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, ann) = engine_for(&mock, false).await;
    let bob = another_user(&engine, "bob@x.test").await;
    let needs_key = |eps: Vec<chorus_types::EndpointView>, name: &str| {
        eps.into_iter()
            .find(|e| e.name == name)
            .unwrap()
            .needs_user_key
    };
    assert!(needs_key(engine.endpoints(&ann).await.unwrap(), "Own"));
    assert!(!needs_key(engine.endpoints(&ann).await.unwrap(), "Mock"));

    // Without a key, sending is refused before anything is stored.
    let Err(EngineError::Invalid(message)) = engine.send(&ann, req(None, "Own", "hi")).await else {
        panic!("sending without a key must be refused");
    };
    assert!(message.contains("Settings"), "{message}");
    assert!(engine.conversations(&ann).await.unwrap().is_empty());

    // Bad input names what is wrong and stores nothing.
    let Err(EngineError::Invalid(message)) = engine.save_provider_key(&ann, "Own", "   ", "").await
    else {
        panic!("an empty key must be refused");
    };
    assert_eq!(message, "Enter your API key.");
    let Err(EngineError::Invalid(message)) = engine
        .save_provider_key(&ann, "OwnServer", "sk-test", "localhost:8080")
        .await
    else {
        panic!("a base URL without a scheme must be refused");
    };
    assert!(message.contains("not a web address"), "{message}");
    // An endpoint with the server's key takes none from users.
    let Err(EngineError::Invalid(message)) =
        engine.save_provider_key(&ann, "Mock", "sk-test", "").await
    else {
        panic!("a key for a server-keyed endpoint must be refused");
    };
    assert_eq!(
        message,
        "The endpoint \"Mock\" does not take keys from users."
    );

    engine
        .save_provider_key(&ann, "Own", "sk-test", "")
        .await
        .unwrap();
    // At rest the key is sealed, and the settings view never carries it.
    let stored = engine.store().user_key(&ann, "Own").await.unwrap().unwrap();
    let sealed = stored.api_key.unwrap();
    assert!(
        sealed.starts_with("v1.") && !sealed.contains("sk-test"),
        "{sealed}"
    );
    let views = engine.provider_keys(&ann).await.unwrap();
    let own = views.iter().find(|v| v.endpoint == "Own").unwrap();
    assert!(own.has_key && own.wants_key && !own.wants_base_url);
    assert!(!format!("{views:?}").contains("sk-test"));
    assert!(!needs_key(engine.endpoints(&ann).await.unwrap(), "Own"));

    let sent = engine.send(&ann, req(None, "Own", "hello")).await.unwrap();
    let (text, _) = watch_all(&engine, &ann, &sent).await;
    assert_eq!(text, answer_for("hello"));
    let last = mock.requests().into_iter().last().unwrap();
    assert_eq!(
        last.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer sk-test")
    );

    // Bob has stored nothing: Ann's key is not his.
    assert!(needs_key(engine.endpoints(&bob).await.unwrap(), "Own"));
    let Err(EngineError::Invalid(message)) = engine.send(&bob, req(None, "Own", "hi")).await else {
        panic!("Bob has no key of his own");
    };
    assert!(message.contains("your own API key"), "{message}");

    // Both values of an endpoint where the user supplies the server too; a
    // later save with a blank key keeps the stored key.
    engine
        .save_provider_key(&ann, "OwnServer", "sk-test", &mock.base_url())
        .await
        .unwrap();
    engine
        .save_provider_key(&ann, "OwnServer", "", &mock.base_url())
        .await
        .unwrap();
    let view = engine.provider_keys(&ann).await.unwrap();
    let own_server = view.iter().find(|v| v.endpoint == "OwnServer").unwrap();
    assert!(own_server.has_key);
    assert_eq!(
        own_server.base_url.as_deref(),
        Some(mock.base_url().as_str())
    );
    let sent = engine
        .send(&ann, req(None, "OwnServer", "second"))
        .await
        .unwrap();
    assert_eq!(
        watch_all(&engine, &ann, &sent).await.0,
        answer_for("second")
    );

    // Deleted: the endpoint asks for a key again.
    engine.delete_provider_key(&ann, "Own").await.unwrap();
    assert!(needs_key(engine.endpoints(&ann).await.unwrap(), "Own"));
    let Err(EngineError::Invalid(message)) = engine.delete_provider_key(&ann, "Own").await else {
        panic!("deleting twice must say there is nothing to delete");
    };
    assert_eq!(message, "No key of yours is stored for that endpoint.");
}

#[tokio::test]
async fn reasoning_streams_apart_from_the_answer_and_is_stored() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user) = engine_for(&mock, false).await;
    let prompt = "[[think]] why is the sky blue";
    let sent = engine.send(&user, req(None, "Mock", prompt)).await.unwrap();
    let (text, events) = watch_all(&engine, &user, &sent).await;
    assert_eq!(text, answer_for(prompt));
    let thoughts: String = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Reasoning { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(thoughts, chorus_testkit::reasoning_for(prompt));
    let stored = engine
        .conversation(&user, &sent.conversation)
        .await
        .unwrap()
        .messages;
    assert_eq!(stored[1].reasoning, thoughts);
    assert_eq!(stored[1].text, text);
    assert_eq!(stored[0].reasoning, "");
}
