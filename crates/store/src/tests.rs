use super::*;
use chorus_types::{ConversationId, JobId, MessageId, MessageState, Role, Usage, UserId};

pub(crate) async fn user(store: &Store, email: &str) -> UserId {
    UserId(
        store
            .create_user(email, "N", "hash", false)
            .await
            .unwrap()
            .id,
    )
}

pub(crate) fn msg<'a>(conv: &'a ConversationId, role: Role, text: &'a str) -> NewMessage<'a> {
    NewMessage {
        conversation: conv,
        parent: None,
        role,
        text,
        state: MessageState::Complete,
        endpoint: None,
        model: None,
        job: None,
    }
}

/// A question and, linked under it, its answer in `state`: (question, answer).
async fn turn(
    store: &Store,
    owner: &UserId,
    conv: &ConversationId,
    answer_text: &str,
    state: MessageState,
) -> (MessageId, MessageId) {
    let q = store
        .add_message(owner, msg(conv, Role::User, "question"))
        .await
        .unwrap();
    let mut answer = msg(conv, Role::Assistant, answer_text);
    answer.parent = Some(&q);
    answer.state = state;
    let a = store.add_message(owner, answer).await.unwrap();
    (q, a)
}

#[tokio::test]
async fn first_user_is_admin_and_emails_are_unique_case_insensitively() {
    let store = Store::memory().await.unwrap();
    let first = store
        .create_user("Ann@Example.com ", "Ann", "h1", false)
        .await
        .unwrap();
    assert!(first.is_admin);
    assert_eq!(first.email, "ann@example.com");
    let second = store
        .create_user("bob@example.com", "Bob", "h2", false)
        .await
        .unwrap();
    assert!(!second.is_admin);
    let forced = store
        .create_user("carol@example.com", "Carol", "h3", true)
        .await
        .unwrap();
    assert!(forced.is_admin);
    assert!(matches!(
        store
            .create_user("ANN@example.com", "Imposter", "h", false)
            .await,
        Err(StoreError::EmailTaken)
    ));
    let found = store
        .user_by_email("ann@EXAMPLE.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, first);
    assert_eq!(store.user_by_id(&first.id).await.unwrap().unwrap(), first);
    assert_eq!(store.user_by_id("nobody").await.unwrap(), None);
}

#[tokio::test]
async fn conversations_are_listed_newest_first_and_only_to_their_owner() {
    let store = Store::memory().await.unwrap();
    let ann = user(&store, "ann@x.test").await;
    let bob = user(&store, "bob@x.test").await;
    let a1 = store
        .create_conversation(&ann, "first", "E", "m")
        .await
        .unwrap();
    let a2 = store
        .create_conversation(&ann, "second", "E", "m")
        .await
        .unwrap();
    store
        .create_conversation(&bob, "bob's", "E", "m")
        .await
        .unwrap();
    let titles: Vec<String> = store
        .list_conversations(&ann)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.title)
        .collect();
    assert_eq!(titles, ["second", "first"]);
    // Activity moves a conversation to the top.
    std::thread::sleep(std::time::Duration::from_millis(3));
    store
        .touch_conversation(&ann, &a1, "E2", "m2")
        .await
        .unwrap();
    let list = store.list_conversations(&ann).await.unwrap();
    assert_eq!(list[0].id, a1);
    let row = store.conversation(&ann, &a1).await.unwrap().unwrap();
    assert_eq!(
        (row.endpoint.as_deref(), row.model.as_deref()),
        (Some("E2"), Some("m2"))
    );
    // Bob sees neither Ann's conversation nor can he rename it.
    assert_eq!(store.conversation(&bob, &a2).await.unwrap(), None);
    assert!(matches!(
        store.set_conversation_title(&bob, &a2, "mine").await,
        Err(StoreError::NotFound)
    ));
    store
        .set_conversation_title(&ann, &a2, "renamed")
        .await
        .unwrap();
    assert_eq!(
        store.conversation(&ann, &a2).await.unwrap().unwrap().title,
        "renamed"
    );
}

#[tokio::test]
async fn messages_keep_order_tree_edges_and_updates() {
    let store = Store::memory().await.unwrap();
    let ann = user(&store, "ann@x.test").await;
    let bob = user(&store, "bob@x.test").await;
    let conv = store
        .create_conversation(&ann, "t", "E", "m")
        .await
        .unwrap();
    let (q, a) = turn(&store, &ann, &conv, "", MessageState::Streaming).await;
    // Bob cannot write into Ann's conversation or edit her messages.
    assert!(matches!(
        store.add_message(&bob, msg(&conv, Role::User, "x")).await,
        Err(StoreError::NotFound)
    ));
    let bob_edit = MessageUpdate {
        text: "hacked".into(),
        ..Default::default()
    };
    assert!(matches!(
        store.update_message(&bob, &a, bob_edit).await,
        Err(StoreError::NotFound)
    ));

    store
        .update_message(
            &ann,
            &a,
            MessageUpdate {
                text: "partial".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mid = store.messages(&ann, &conv).await.unwrap();
    assert_eq!(mid[1].text, "partial");
    assert_eq!(mid[1].state, MessageState::Streaming);

    let done = MessageUpdate {
        text: "the answer".into(),
        reasoning: Some("first, think".into()),
        state: Some(MessageState::Complete),
        error: None,
        usage: Some(Usage {
            input_tokens: 3,
            output_tokens: 2,
            ..Default::default()
        }),
        tools: Some(vec![chorus_types::ToolStep {
            id: "call_1".into(),
            name: "execute_code".into(),
            arguments: r#"{"lang":"py","code":"print(1)"}"#.into(),
            at: 3,
            output: Some("stdout:\n1\n".into()),
            is_error: false,
            files: Vec::new(),
        }]),
    };
    store.update_message(&ann, &a, done.clone()).await.unwrap();
    let all = store.messages(&ann, &conv).await.unwrap();
    assert_eq!(
        all.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["question", "the answer"]
    );
    assert_eq!(all[1].state, MessageState::Complete);
    assert_eq!(all[1].reasoning, "first, think");
    assert_eq!(all[0].reasoning, "");
    assert_eq!(
        Some(all[1].tools.clone()),
        done.tools,
        "tool steps read back"
    );
    assert!(all[0].tools.is_empty());
    assert!(store.messages(&bob, &conv).await.unwrap().is_empty());

    let mut res = store
        .db
        .query("SELECT VALUE record::id(id) FROM type::record('message', $q)->reply->message")
        .bind(("q", q.0.clone()))
        .await
        .unwrap();
    let children: Vec<String> = res.take(0).unwrap();
    assert_eq!(children, vec![a.0]);
}

/// What `Engine::start` does after a crash (a real kill and restart of the binary
/// is tested in `server/tests/http.rs`).
#[tokio::test]
async fn interrupted_generations_are_marked_interrupted() {
    let store = Store::memory().await.unwrap();
    let ann = user(&store, "ann@x.test").await;
    let conv = store
        .create_conversation(&ann, "t", "E", "m")
        .await
        .unwrap();
    let dead_job = JobId("dead".into());
    let mut m = msg(&conv, Role::Assistant, "half an ans");
    m.state = MessageState::Streaming;
    m.job = Some(&dead_job);
    store.add_message(&ann, m).await.unwrap();
    store
        .add_message(&ann, msg(&conv, Role::Assistant, "done"))
        .await
        .unwrap();
    // Another instance (sharing the database through Redis) still writes this one.
    let live_job = JobId("live".into());
    let mut m = msg(&conv, Role::Assistant, "being written");
    m.state = MessageState::Streaming;
    m.job = Some(&live_job);
    store.add_message(&ann, m).await.unwrap();
    let mut streaming = store.streaming_jobs().await.unwrap();
    streaming.sort();
    assert_eq!(streaming, [dead_job, live_job.clone()]);
    assert_eq!(
        store
            .mark_interrupted_messages("server restarted", &[live_job])
            .await
            .unwrap(),
        1
    );
    let msgs = store.messages(&ann, &conv).await.unwrap();
    assert_eq!(msgs[0].state, MessageState::Interrupted);
    assert_eq!(msgs[0].text, "half an ans");
    assert_eq!(msgs[0].error.as_deref(), Some("server restarted"));
    assert_eq!(msgs[2].state, MessageState::Streaming);
    assert_eq!(msgs[1].state, MessageState::Complete);
}

#[tokio::test]
async fn the_embedded_database_persists_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let ann = user(&store, "ann@x.test").await;
    store
        .create_conversation(&ann, "kept", "E", "m")
        .await
        .unwrap();
    assert!(dir.path().join("chorus.db").exists());
    assert_eq!(
        store.list_conversations(&ann).await.unwrap()[0].title,
        "kept"
    );
}

#[tokio::test]
async fn sessions_expire() {
    let store = Store::memory().await.unwrap();
    store
        .session_save("s1", "{\"a\":1}", now_millis() + 60_000)
        .await
        .unwrap();
    store
        .session_save("s2", "{}", now_millis() - 1)
        .await
        .unwrap();
    assert_eq!(
        store.session_load("s1").await.unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    assert_eq!(store.session_load("s2").await.unwrap(), None);
    assert!(store.session_exists("s1").await.unwrap());
    store.sessions_delete_expired().await.unwrap();
    assert!(!store.session_exists("s2").await.unwrap());
    store.session_delete("s1").await.unwrap();
    assert_eq!(store.session_load("s1").await.unwrap(), None);
}

#[tokio::test]
async fn api_keys_are_hashed_owner_scoped_and_revocable() {
    let store = Store::memory().await.unwrap();
    let ann = store
        .create_user("ann@example.com", "Ann", "h", false)
        .await
        .unwrap();
    let bob = store
        .create_user("bob@example.com", "Bob", "h", false)
        .await
        .unwrap();
    let (ann, bob) = (UserId(ann.id), UserId(bob.id));
    let key = store.create_api_key(&ann, "laptop").await.unwrap();
    assert!(
        key.secret.starts_with("chorus-") && key.secret.len() == 71,
        "{}",
        key.secret
    );
    assert!(key.secret.starts_with(&key.info.prefix));
    assert_eq!(
        store.user_for_api_key(&key.secret).await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(store.user_for_api_key("chorus-wrong").await.unwrap(), None);
    let listed = store.api_keys(&ann).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some(), "using a key records when");
    // Within the minute, using it again does not write.
    store.user_for_api_key(&key.secret).await.unwrap();
    assert_eq!(
        store.api_keys(&ann).await.unwrap()[0].last_used_at,
        listed[0].last_used_at
    );
    assert!(store.api_keys(&bob).await.unwrap().is_empty());
    // Bob cannot revoke Ann's key; Ann can.
    assert!(!store.revoke_api_key(&bob, &key.info.id).await.unwrap());
    assert_eq!(
        store.user_for_api_key(&key.secret).await.unwrap(),
        Some(ann.clone())
    );
    assert!(store.revoke_api_key(&ann, &key.info.id).await.unwrap());
    assert_eq!(store.user_for_api_key(&key.secret).await.unwrap(), None);
}

#[tokio::test]
async fn user_keys_are_one_per_endpoint_owner_scoped_and_deletable() {
    let store = Store::memory().await.unwrap();
    let ann = user(&store, "ann@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    store
        .set_user_key(&ann, "groq", Some("sealed-1".into()), None)
        .await
        .unwrap();
    // Saving again replaces the entry rather than adding one.
    store
        .set_user_key(
            &ann,
            "groq",
            Some("sealed-2".into()),
            Some("sealed-url".into()),
        )
        .await
        .unwrap();
    store
        .set_user_key(&ann, "openrouter", Some("sealed-3".into()), None)
        .await
        .unwrap();
    let stored = store.user_key(&ann, "groq").await.unwrap().unwrap();
    assert_eq!(stored.api_key.as_deref(), Some("sealed-2"));
    assert_eq!(stored.base_url.as_deref(), Some("sealed-url"));
    let endpoints: Vec<String> = store
        .user_keys(&ann)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.endpoint)
        .collect();
    assert_eq!(endpoints, ["groq", "openrouter"]);
    // Bob sees none of Ann's, and cannot delete them.
    assert_eq!(store.user_key(&bob, "groq").await.unwrap(), None);
    assert!(store.user_keys(&bob).await.unwrap().is_empty());
    assert!(!store.delete_user_key(&bob, "groq").await.unwrap());
    assert!(store.user_key(&ann, "groq").await.unwrap().is_some());
    assert!(store.delete_user_key(&ann, "groq").await.unwrap());
    assert_eq!(store.user_key(&ann, "groq").await.unwrap(), None);
    assert!(!store.delete_user_key(&ann, "groq").await.unwrap());
}

#[tokio::test]
async fn deleting_a_conversation_takes_its_messages_and_links_and_nothing_else() {
    let store = Store::memory().await.unwrap();
    let alice = user(&store, "alice@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let gone = store
        .create_conversation(&alice, "Gone", "e", "m")
        .await
        .unwrap();
    let kept = store
        .create_conversation(&alice, "Kept", "e", "m")
        .await
        .unwrap();
    for conv in [&gone, &kept] {
        turn(&store, &alice, conv, "a", MessageState::Complete).await;
    }

    // Someone else's id looks like a missing one and changes nothing.
    assert!(matches!(
        store.delete_conversation(&bob, &gone).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.messages(&alice, &gone).await.unwrap().len(), 2);

    store.delete_conversation(&alice, &gone).await.unwrap();
    let titles: Vec<String> = store
        .list_conversations(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.title)
        .collect();
    assert_eq!(titles, ["Kept"]);
    assert!(store.conversation(&alice, &gone).await.unwrap().is_none());
    assert_eq!(store.messages(&alice, &kept).await.unwrap().len(), 2);
    let mut counts = store
        .db
        .query("RETURN [array::len((SELECT VALUE id FROM message)), array::len((SELECT VALUE id FROM reply))]")
        .await
        .unwrap();
    let counts: Vec<i64> = counts.take(0).unwrap();
    assert_eq!(
        counts,
        [2, 1],
        "only the kept conversation's messages and link remain"
    );
    assert!(matches!(
        store.delete_conversation(&alice, &gone).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn only_a_stopped_or_failed_answer_of_the_owner_can_be_continued_and_only_once() {
    let store = Store::memory().await.unwrap();
    let alice = user(&store, "alice@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let conv = store
        .create_conversation(&alice, "C", "e", "m")
        .await
        .unwrap();
    let (question, answer) =
        turn(&store, &alice, &conv, "half an ans", MessageState::Stopped).await;
    store
        .update_message(
            &alice,
            &answer,
            MessageUpdate {
                text: "half an ans".into(),
                error: Some("old error".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let job = JobId("j1".into());

    assert!(!store.start_continuing(&bob, &answer, &job).await.unwrap());
    assert!(
        !store
            .start_continuing(&alice, &question, &job)
            .await
            .unwrap()
    );
    assert!(store.start_continuing(&alice, &answer, &job).await.unwrap());
    assert!(
        !store.start_continuing(&alice, &answer, &job).await.unwrap(),
        "a second continue of a streaming answer is refused"
    );
    let stored = store.messages(&alice, &conv).await.unwrap().pop().unwrap();
    assert_eq!(stored.state, MessageState::Streaming);
    assert_eq!(stored.job, Some(job));
    assert_eq!(stored.error, None);
    assert_eq!(stored.text, "half an ans");
}

#[tokio::test]
async fn agents_are_seen_by_their_owner_those_they_are_shared_with_and_everyone_once_public() {
    use chorus_types::agent::{AgentRole, AgentSpec};
    let store = Store::memory().await.unwrap();
    let (ann, bob, cy) = (
        user(&store, "ann@example.com").await,
        user(&store, "bob@example.com").await,
        user(&store, "cy@example.com").await,
    );
    let spec = AgentSpec {
        name: "Tutor".into(),
        instructions: "Explain step by step.".into(),
        endpoint: "Mock".into(),
        model: "mock-small".into(),
        tools: vec!["execute_code".into()],
        starters: vec!["Teach me fractions".into()],
        category: "education".into(),
        ..Default::default()
    };
    let id = store.create_agent(&ann, &spec).await.unwrap();
    let mine = store.agent(&ann, &id).await.unwrap().unwrap();
    assert_eq!(
        (mine.spec(), mine.version, mine.author.as_str()),
        (spec.clone(), 1, "N")
    );
    assert_eq!(mine.role_of(&ann), Some(AgentRole::Owner));
    assert!(store.agent(&bob, &id).await.unwrap().is_none());
    assert!(store.agents(&bob).await.unwrap().is_empty());

    store
        .set_agent_grant(&id, &bob, Some(AgentRole::Editor))
        .await
        .unwrap();
    let shared = store.agent(&bob, &id).await.unwrap().unwrap();
    assert_eq!(shared.role_of(&bob), Some(AgentRole::Editor));
    assert_eq!(store.agents(&bob).await.unwrap().len(), 1);
    assert!(store.agent(&cy, &id).await.unwrap().is_none());
    let grants = store.agent_grants(&id).await.unwrap();
    assert_eq!(
        (grants[0].email.as_deref(), grants[0].role.as_str()),
        (Some("bob@example.com"), "editor")
    );

    store.set_agent_public(&id, true).await.unwrap();
    assert_eq!(
        store.agent(&cy, &id).await.unwrap().unwrap().role_of(&cy),
        Some(AgentRole::Viewer)
    );
    store.set_agent_grant(&id, &bob, None).await.unwrap();
    assert_eq!(
        store.agent(&bob, &id).await.unwrap().unwrap().role_of(&bob),
        Some(AgentRole::Viewer),
        "public, no longer an editor"
    );

    let renamed = AgentSpec {
        name: "Math tutor".into(),
        ..spec.clone()
    };
    assert_eq!(store.update_agent(&bob, &id, &renamed).await.unwrap(), 2);
    let versions = store.agent_versions(&id).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
    let first: AgentSpec = serde_json::from_str(&versions[1].spec).unwrap();
    assert_eq!(first, spec);
    assert!(matches!(
        store.update_agent(&ann, "nope", &spec).await,
        Err(StoreError::NotFound)
    ));

    store.delete_agent(&id).await.unwrap();
    assert!(store.agent(&ann, &id).await.unwrap().is_none());
    assert!(store.agent_versions(&id).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_agent_shared_with_a_group_is_seen_by_its_members_only() {
    use chorus_types::agent::{AgentRole, AgentSpec};
    let store = Store::memory().await.unwrap();
    let (ann, bob, cy) = (
        user(&store, "ann@example.com").await,
        user(&store, "bob@example.com").await,
        user(&store, "cy@example.com").await,
    );
    let spec = AgentSpec {
        name: "Helper".into(),
        endpoint: "Mock".into(),
        model: "m".into(),
        ..Default::default()
    };
    let id = store.create_agent(&ann, &spec).await.unwrap();
    let team = store.create_group("research").await.unwrap();
    assert_eq!(
        store.group_by_name("research").await.unwrap(),
        Some(team.clone())
    );
    store.set_group_member(&team, &bob, true).await.unwrap();
    store
        .set_agent_group_grant(&id, &team, Some(AgentRole::Editor))
        .await
        .unwrap();
    // A direct grant and a group grant: the larger role counts.
    store
        .set_agent_grant(&id, &bob, Some(AgentRole::Viewer))
        .await
        .unwrap();
    assert_eq!(
        store.agent(&bob, &id).await.unwrap().unwrap().role_of(&bob),
        Some(AgentRole::Editor)
    );
    assert_eq!(store.agents(&bob).await.unwrap().len(), 1);
    assert!(store.agent(&cy, &id).await.unwrap().is_none());
    assert!(store.agents(&cy).await.unwrap().is_empty());
    let groups = store.groups().await.unwrap();
    assert_eq!(
        (groups[0].name.as_str(), groups[0].members.clone()),
        ("research", vec!["bob@example.com".to_string()])
    );
    let grants = store.agent_grants(&id).await.unwrap();
    assert!(
        grants
            .iter()
            .any(|g| g.group.as_deref() == Some("research") && g.role == "editor")
    );

    store.set_agent_grant(&id, &bob, None).await.unwrap();
    store.set_group_member(&team, &bob, false).await.unwrap();
    assert!(store.agent(&bob, &id).await.unwrap().is_none());
    store.set_group_member(&team, &cy, true).await.unwrap();
    assert!(store.agent(&cy, &id).await.unwrap().is_some());
    store.delete_group(&team).await.unwrap();
    assert!(store.agent(&cy, &id).await.unwrap().is_none());
    assert!(store.agent_grants(&id).await.unwrap().is_empty());
    assert!(matches!(
        store.set_group_member(&team, &cy, true).await,
        Err(StoreError::NotFound)
    ));
}
