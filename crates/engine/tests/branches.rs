//! Edit, regenerate, thread switching, delete and fork, end to end through
//! the engine against a local OpenAI-protocol upstream.

mod common;

use chorus_engine::{Engine, EngineError, Regenerate, Resubmit, SendRequest};
use chorus_testkit::{MockOpenAi, MockOptions, answer_for};
use chorus_types::{
    ConversationId, ConversationView, ForkOption, MessageId, MessageState, SendResult, Tree, UserId,
};
use common::{another_user, engine_for, req, watch_all};

/// The texts of the thread the conversation opens on.
fn thread(convo: &ConversationView) -> Vec<String> {
    Tree::new(&convo.messages)
        .thread(convo.leaf.as_ref())
        .into_iter()
        .map(|m| m.text.clone())
        .collect()
}

/// The contents of the messages the upstream was last sent.
fn last_upstream_turns(mock: &MockOpenAi) -> Vec<String> {
    let body = mock.requests().pop().unwrap().body;
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn send_to(
    engine: &Engine,
    user: &UserId,
    conversation: &ConversationId,
    parent: Option<&MessageId>,
    text: &str,
) -> SendResult {
    let sent = engine
        .send(
            user,
            SendRequest {
                parent: parent.cloned(),
                ..req(Some(conversation.clone()), "Mock", text)
            },
        )
        .await
        .unwrap();
    watch_all(engine, user, &sent).await;
    sent
}

/// An engine whose user has one conversation with one answered message, "one".
async fn one_turn(mock: &MockOpenAi) -> (Engine, UserId, SendResult) {
    let (engine, user) = engine_for(mock, false).await;
    let first = engine.send(&user, req(None, "Mock", "one")).await.unwrap();
    watch_all(&engine, &user, &first).await;
    (engine, user, first)
}

#[tokio::test]
async fn regenerate_and_edit_make_branches_and_the_model_sees_only_its_branch() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user, first) = one_turn(&mock).await;
    let conv = first.conversation.clone();
    let second = send_to(&engine, &user, &conv, None, "two").await;

    // Regenerate the second answer: a sibling, written from the same turns.
    let again = engine
        .regenerate(
            &user,
            Regenerate {
                conversation: conv.clone(),
                message: second.assistant_message.clone(),
                endpoint: None,
                model: None,
            },
        )
        .await
        .unwrap();
    watch_all(&engine, &user, &again).await;
    assert_eq!(again.user_message, second.user_message);
    assert_eq!(
        last_upstream_turns(&mock),
        ["one", &answer_for("one"), "two"]
    );
    let convo = engine.conversation(&user, &conv).await.unwrap();
    let tree = Tree::new(&convo.messages);
    let siblings: Vec<&MessageId> = tree
        .siblings(&again.assistant_message)
        .into_iter()
        .map(|m| &m.id)
        .collect();
    assert_eq!(
        siblings,
        [&second.assistant_message, &again.assistant_message]
    );
    assert_eq!(convo.leaf.as_ref(), Some(&again.assistant_message));

    // Edit "two" and submit: a sibling question with its own answer; the
    // model sees the edited text, not the old branch.
    let edited = engine
        .resubmit(
            &user,
            Resubmit {
                conversation: conv.clone(),
                message: second.user_message.clone(),
                text: "two, edited".into(),
                endpoint: "Mock".into(),
                model: "mock-small".into(),
            },
        )
        .await
        .unwrap();
    watch_all(&engine, &user, &edited).await;
    assert_eq!(
        last_upstream_turns(&mock),
        ["one", &answer_for("one"), "two, edited"]
    );
    let convo = engine.conversation(&user, &conv).await.unwrap();
    assert_eq!(convo.messages.len(), 7);
    assert_eq!(
        thread(&convo),
        [
            "one",
            &answer_for("one"),
            "two, edited",
            &answer_for("two, edited")
        ]
    );

    // Switch back to the first branch; a follow-up goes under what is shown.
    engine
        .show_thread(&user, &conv, &second.assistant_message)
        .await
        .unwrap();
    let convo = engine.conversation(&user, &conv).await.unwrap();
    assert_eq!(thread(&convo)[2], "two");
    let third = send_to(&engine, &user, &conv, None, "three").await;
    assert_eq!(
        last_upstream_turns(&mock),
        [
            "one",
            &answer_for("one"),
            "two",
            &answer_for("two"),
            "three"
        ]
    );
    let convo = engine.conversation(&user, &conv).await.unwrap();
    let tree = Tree::new(&convo.messages);
    assert_eq!(
        tree.get(&third.user_message).unwrap().parent.as_ref(),
        Some(&second.assistant_message)
    );
    // ... or under the message the client names.
    let branch = send_to(
        &engine,
        &user,
        &conv,
        Some(&first.assistant_message),
        "two, again",
    )
    .await;
    assert_eq!(
        last_upstream_turns(&mock),
        ["one", &answer_for("one"), "two, again"]
    );
    assert_eq!(
        engine
            .continue_answer(&user, &conv, &first.assistant_message)
            .await
            .unwrap_err()
            .to_string(),
        "Only the latest answer can be continued."
    );

    // Save without submitting changes the text only.
    engine
        .edit_message(&user, &conv, &first.user_message, "one!")
        .await
        .unwrap();
    engine
        .edit_message(&user, &conv, &branch.assistant_message, "my own answer")
        .await
        .unwrap();
    let convo = engine.conversation(&user, &conv).await.unwrap();
    assert_eq!(convo.messages.len(), 11);
    assert_eq!(
        thread(&convo),
        ["one!", &answer_for("one"), "two, again", "my own answer"]
    );
    assert!(matches!(
        engine
            .edit_message(&user, &conv, &first.user_message, "  ")
            .await,
        Err(EngineError::Invalid(_))
    ));
}

#[tokio::test]
async fn deleting_a_message_takes_its_branch_and_shows_a_neighbour() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user, first) = one_turn(&mock).await;
    let conv = first.conversation.clone();
    let kept = send_to(&engine, &user, &conv, None, "kept").await;
    let gone = send_to(
        &engine,
        &user,
        &conv,
        Some(&first.assistant_message),
        "gone",
    )
    .await;
    send_to(&engine, &user, &conv, None, "gone too").await;

    let deleted = engine
        .delete_message(&user, &conv, &gone.user_message)
        .await
        .unwrap();
    assert_eq!(deleted, 4);
    let convo = engine.conversation(&user, &conv).await.unwrap();
    assert_eq!(convo.messages.len(), 4);
    assert_eq!(
        thread(&convo),
        ["one", &answer_for("one"), "kept", &answer_for("kept")]
    );
    assert!(
        Tree::new(&convo.messages)
            .get(&kept.assistant_message)
            .is_some()
    );
}

#[tokio::test]
async fn a_fork_is_a_new_independent_conversation_that_remembers_its_source() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user, first) = one_turn(&mock).await;
    let conv = first.conversation.clone();
    let second = send_to(&engine, &user, &conv, None, "two").await;

    let fork = engine
        .fork(
            &user,
            &conv,
            &first.assistant_message,
            ForkOption::DirectPath,
            false,
        )
        .await
        .unwrap();
    let copy = engine.conversation(&user, &fork).await.unwrap();
    assert_eq!(thread(&copy), ["one", &answer_for("one")]);
    let origin = copy.forked_from.clone().unwrap();
    assert_eq!(
        (origin.conversation, origin.message),
        (conv.clone(), first.assistant_message.clone())
    );
    let listed = engine.conversations(&user).await.unwrap();
    assert!(listed.iter().any(|c| c.id == fork));

    // The fork goes on by itself; the source does not change.
    send_to(&engine, &user, &fork, None, "only in the fork").await;
    let source = engine.conversation(&user, &conv).await.unwrap();
    assert_eq!(source.messages.len(), 4);
    assert_eq!(thread(&source)[2], "two");
    let copy = engine.conversation(&user, &fork).await.unwrap();
    assert_eq!(copy.messages.len(), 4);
    assert!(
        copy.messages
            .iter()
            .all(|m| m.state == MessageState::Complete)
    );

    // Start here: the fork begins at the target.
    let tail = engine
        .fork(
            &user,
            &conv,
            &second.user_message,
            ForkOption::DirectPath,
            true,
        )
        .await
        .unwrap();
    let tail = engine.conversation(&user, &tail).await.unwrap();
    assert_eq!(thread(&tail), ["two", &answer_for("two")]);
}

#[tokio::test]
async fn another_users_messages_are_not_found() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let (engine, user, first) = one_turn(&mock).await;
    let conv = first.conversation.clone();
    let bob = another_user(&engine, "bob@x.test").await;
    let msg = &first.assistant_message;
    let regenerate = Regenerate {
        conversation: conv.clone(),
        message: msg.clone(),
        endpoint: None,
        model: None,
    };
    let resubmit = Resubmit {
        conversation: conv.clone(),
        message: first.user_message.clone(),
        text: "x".into(),
        endpoint: "Mock".into(),
        model: "mock-small".into(),
    };
    let not_found =
        |r: Result<(), EngineError>| assert!(matches!(r, Err(EngineError::NotFound)), "{r:?}");
    not_found(engine.edit_message(&bob, &conv, msg, "mine").await);
    not_found(engine.regenerate(&bob, regenerate).await.map(drop));
    not_found(engine.resubmit(&bob, resubmit).await.map(drop));
    not_found(engine.show_thread(&bob, &conv, msg).await);
    not_found(engine.delete_message(&bob, &conv, msg).await.map(drop));
    not_found(
        engine
            .fork(&bob, &conv, msg, ForkOption::TargetLevel, false)
            .await
            .map(drop),
    );
    let convo = engine.conversation(&user, &conv).await.unwrap();
    assert_eq!(thread(&convo), ["one", &answer_for("one")]);
}
