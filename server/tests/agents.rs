//! Agents through the engine as the UI's server functions use them: create,
//! share as viewer then editor, chat with one (its model and instructions
//! reach the provider), versions and restore, public, delete; and who may do
//! what (NotFound for those it is not shared with, Forbidden for viewers).

mod common;

use chorus_engine::{Engine, EngineError, SendRequest};
use chorus_testkit::MockOpenAi;
use chorus_types::UserId;
use chorus_types::agent::{AgentRole, AgentSpec};

async fn setup() -> (Engine, [UserId; 3], MockOpenAi) {
    let mock = common::fast_mock().await;
    let yaml = common::config_for(&mock, "").replace(
        "models: {default: [mock-small]}",
        "models: {default: [mock-small, mock-large]}",
    );
    let config = common::parse_config(&yaml);
    let store = chorus_store::Store::memory().await.unwrap();
    let mut users = Vec::new();
    for (email, name) in [
        ("ann@example.com", "Ann"),
        ("bob@example.com", "Bob"),
        ("cy@example.com", "Cy"),
    ] {
        users.push(common::user_in(&store, email, name).await);
    }
    let engine = common::engine_on(store, &config).await;
    (engine, users.try_into().unwrap(), mock)
}

fn tutor() -> AgentSpec {
    AgentSpec {
        name: "  Tutor ".into(),
        description: "Explains things".into(),
        instructions: "You are a patient tutor.".into(),
        endpoint: "Mock".into(),
        model: "mock-large".into(),
        starters: vec!["Teach me fractions".into(), "  ".into()],
        category: "Education".into(),
        ..Default::default()
    }
}

fn chat_with(agent: &str, text: &str) -> SendRequest {
    SendRequest {
        conversation: None,
        parent: None,
        // What the composer happened to have; the agent's own are used.
        endpoint: "Mock".into(),
        model: "mock-small".into(),
        text: text.into(),
        tools: Vec::new(),
        files: Vec::new(),
        agent: Some(agent.into()),
    }
}

async fn finish(engine: &Engine, user: &UserId, job: &chorus_types::JobId) {
    common::job_log(engine, user, job).await;
}

#[tokio::test]
async fn an_agent_is_built_shared_used_versioned_and_deleted() {
    let (engine, [ann, bob, cy], mock) = setup().await;
    let agent = engine.create_agent(&ann, tutor()).await.unwrap();
    assert_eq!(agent.spec.name, "Tutor");
    assert_eq!(agent.spec.category, "education");
    assert_eq!(agent.spec.starters, ["Teach me fractions"]);
    assert_eq!(
        (agent.version, agent.role, agent.author.as_str()),
        (1, AgentRole::Owner, "Ann")
    );

    // Not shared: Bob cannot see it, chat with it, or change it.
    assert!(matches!(
        engine.agent(&bob, &agent.id).await,
        Err(EngineError::NotFound)
    ));
    assert!(matches!(
        engine.send(&bob, chat_with(&agent.id, "hi")).await,
        Err(EngineError::NotFound)
    ));
    assert!(engine.agents(&bob).await.unwrap().is_empty());

    // Shared with Bob to chat: the agent's model and instructions are used.
    engine
        .share_agent(&ann, &agent.id, "bob@example.com", Some(AgentRole::Viewer))
        .await
        .unwrap();
    let sent = engine
        .send(&bob, chat_with(&agent.id, "What is a half?"))
        .await
        .unwrap();
    finish(&engine, &bob, &sent.job).await;
    let request = mock
        .requests()
        .into_iter()
        .find(|r| r.body["stream"] == true)
        .unwrap();
    assert_eq!(request.body["model"], "mock-large");
    assert_eq!(request.body["messages"][0]["role"], "system");
    assert_eq!(
        request.body["messages"][0]["content"],
        "You are a patient tutor."
    );
    let view = engine.conversation(&bob, &sent.conversation).await.unwrap();
    assert_eq!(
        view.agent.as_ref().map(|a| a.id.as_str()),
        Some(agent.id.as_str())
    );
    assert!(matches!(
        engine.update_agent(&bob, &agent.id, tutor()).await,
        Err(EngineError::Forbidden(_))
    ));
    assert!(matches!(
        engine
            .share_agent(&bob, &agent.id, "cy@example.com", Some(AgentRole::Viewer))
            .await,
        Err(EngineError::Forbidden(_))
    ));

    // As an editor Bob saves versions; an old one can be restored.
    engine
        .share_agent(&ann, &agent.id, "bob@example.com", Some(AgentRole::Editor))
        .await
        .unwrap();
    let v2 = engine
        .update_agent(
            &bob,
            &agent.id,
            AgentSpec {
                name: "Math tutor".into(),
                ..tutor()
            },
        )
        .await
        .unwrap();
    assert_eq!((v2.version, v2.spec.name.as_str()), (2, "Math tutor"));
    let versions = engine.agent_versions(&bob, &agent.id).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
    let v3 = engine
        .restore_agent_version(&bob, &agent.id, 1)
        .await
        .unwrap();
    assert_eq!((v3.version, v3.spec.name.as_str()), (3, "Tutor"));
    assert!(matches!(
        engine.delete_agent(&bob, &agent.id).await,
        Err(EngineError::Forbidden(_))
    ));
    let grants = engine.agent_grants(&ann, &agent.id).await.unwrap();
    assert_eq!(
        (grants[0].who.as_str(), grants[0].group, grants[0].role),
        ("bob@example.com", false, AgentRole::Editor)
    );

    // Unshared, Bob's conversation with it cannot go on.
    engine
        .share_agent(&ann, &agent.id, "bob@example.com", None)
        .await
        .unwrap();
    let next = engine
        .send(
            &bob,
            SendRequest {
                conversation: Some(sent.conversation.clone()),
                agent: None,
                ..chat_with("", "And a third?")
            },
        )
        .await;
    assert!(
        matches!(&next, Err(EngineError::Invalid(m)) if m == "The agent of this conversation is no longer shared with you."),
        "{next:?}"
    );

    // Public: everyone may chat with it (not edit it).
    engine
        .set_agent_public(&ann, &agent.id, true)
        .await
        .unwrap();
    let listed = engine.agents(&cy).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].role, AgentRole::Viewer);

    engine.delete_agent(&ann, &agent.id).await.unwrap();
    assert!(engine.agents(&cy).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_agent_needs_a_name_and_a_model_this_server_has() {
    let (engine, [ann, ..], _mock) = setup().await;
    let bad = |spec: AgentSpec| {
        let engine = engine.clone();
        let ann = ann.clone();
        async move { engine.create_agent(&ann, spec).await }
    };
    assert!(matches!(
        bad(AgentSpec { name: " ".into(), ..tutor() }).await,
        Err(EngineError::Invalid(m)) if m == "Give the agent a name."
    ));
    assert!(matches!(
        bad(AgentSpec { endpoint: "Nope".into(), ..tutor() }).await,
        Err(EngineError::Invalid(m)) if m.contains("no endpoint named \"Nope\"")
    ));
    assert!(matches!(
        bad(AgentSpec { tools: vec!["execute_code".into()], ..tutor() }).await,
        Err(EngineError::Invalid(m)) if m.contains("Code execution is not set up")
    ));
    assert!(engine.agents(&ann).await.unwrap().is_empty());
}

#[tokio::test]
async fn model_parameters_and_picture_are_checked_kept_and_used() {
    let (engine, [ann, ..], mock) = setup().await;
    let refused = |spec: AgentSpec| {
        let engine = engine.clone();
        let ann = ann.clone();
        async move {
            match engine.create_agent(&ann, spec).await {
                Err(EngineError::Invalid(m)) => m,
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    };
    assert_eq!(
        refused(AgentSpec {
            temperature: Some(2.5),
            ..tutor()
        })
        .await,
        "The temperature goes from 0 to 2."
    );
    assert!(
        refused(AgentSpec {
            max_tokens: Some(0),
            ..tutor()
        })
        .await
        .contains("at least 1 token")
    );
    // Only a small picture in a data: URL (an address could track who looks).
    assert_eq!(
        refused(AgentSpec {
            avatar: Some("https://example.com/a.png".into()),
            ..tutor()
        })
        .await,
        "The picture must be a PNG, JPEG, GIF or WebP image."
    );
    assert_eq!(
        refused(AgentSpec {
            avatar: Some("data:image/svg+xml;base64,PHN2Zz4=".into()),
            ..tutor()
        })
        .await,
        "The picture must be a PNG, JPEG, GIF or WebP image."
    );
    let huge = format!("data:image/png;base64,{}", "A".repeat(300 * 1024));
    assert!(
        refused(AgentSpec {
            avatar: Some(huge),
            ..tutor()
        })
        .await
        .starts_with("The picture is too large")
    );

    let avatar = "data:image/png;base64,iVBORw0KGgo=".to_string();
    let agent = engine
        .create_agent(
            &ann,
            AgentSpec {
                temperature: Some(0.5),
                max_tokens: Some(64),
                avatar: Some(avatar.clone()),
                ..tutor()
            },
        )
        .await
        .unwrap();
    let stored = engine.agent(&ann, &agent.id).await.unwrap().spec;
    assert_eq!(stored.temperature, Some(0.5));
    assert_eq!(stored.max_tokens, Some(64));
    assert_eq!(stored.avatar, Some(avatar));
    let sent = engine
        .send(&ann, chat_with(&agent.id, "Hello"))
        .await
        .unwrap();
    finish(&engine, &ann, &sent.job).await;
    // The answers' requests (titles are asked for without streaming).
    let answers = || {
        mock.requests()
            .into_iter()
            .filter(|r| r.body["stream"] == true)
            .map(|r| r.body)
            .collect::<Vec<_>>()
    };
    let request = &answers()[0];
    assert_eq!(request["temperature"], 0.5);
    assert_eq!(request["max_tokens"], 64);
    // Cleared again: the model's defaults, nothing sent.
    engine
        .update_agent(
            &ann,
            &agent.id,
            AgentSpec {
                temperature: None,
                max_tokens: None,
                ..stored
            },
        )
        .await
        .unwrap();
    let sent = engine
        .send(&ann, chat_with(&agent.id, "Again"))
        .await
        .unwrap();
    finish(&engine, &ann, &sent.job).await;
    let request = &answers()[1];
    assert!(
        request.get("temperature").is_none() && request.get("max_tokens").is_none(),
        "{request}"
    );
}

#[tokio::test]
async fn only_an_administrator_promotes_an_agent_and_it_is_listed_first() {
    // The first account is the administrator.
    let (engine, [admin, bob, cy], _mock) = setup().await;
    let first = engine
        .create_agent(
            &bob,
            AgentSpec {
                name: "First".into(),
                ..tutor()
            },
        )
        .await
        .unwrap();
    let second = engine
        .create_agent(
            &bob,
            AgentSpec {
                name: "Second".into(),
                ..tutor()
            },
        )
        .await
        .unwrap();
    engine
        .set_agent_public(&bob, &first.id, true)
        .await
        .unwrap();
    engine
        .set_agent_public(&bob, &second.id, true)
        .await
        .unwrap();
    let names = |list: Vec<chorus_types::agent::AgentView>| {
        list.into_iter().map(|a| a.spec.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(engine.agents(&cy).await.unwrap()),
        ["Second", "First"]
    );
    assert!(!engine.agents(&cy).await.unwrap()[0].can_promote);
    assert!(engine.agents(&admin).await.unwrap()[0].can_promote);

    // Not even its owner may promote it.
    for who in [&bob, &cy] {
        let refused = engine.set_agent_promoted(who, &first.id, true).await;
        assert!(
            matches!(&refused, Err(EngineError::Forbidden(m)) if m == "Only an administrator can promote agents."),
            "{refused:?}"
        );
    }
    engine
        .set_agent_promoted(&admin, &first.id, true)
        .await
        .unwrap();
    let listed = engine.agents(&cy).await.unwrap();
    assert_eq!(names(listed.clone()), ["First", "Second"]);
    assert!(listed[0].promoted);
    engine
        .set_agent_promoted(&admin, &first.id, false)
        .await
        .unwrap();
    assert_eq!(
        names(engine.agents(&cy).await.unwrap()),
        ["Second", "First"]
    );
    // An agent the administrator cannot see is not theirs to promote either.
    let private = engine.create_agent(&bob, tutor()).await.unwrap();
    assert!(matches!(
        engine.set_agent_promoted(&admin, &private.id, true).await,
        Err(EngineError::NotFound)
    ));
}

/// Who may do what, for every way of being given an agent: owner; editor or
/// viewer through a direct grant, through a group, or (viewer) because it is
/// public; and someone given nothing.
#[tokio::test]
async fn the_access_matrix_for_users_groups_and_public() {
    let (engine, [ann, bob, _], _mock) = setup().await;
    // Groups are managed by an administrator.
    let admin = UserId(
        engine
            .store()
            .create_user("admin@example.com", "Admin", "h", true)
            .await
            .unwrap()
            .id,
    );
    let team = engine.create_group(&admin, "team").await.unwrap();
    assert!(matches!(
        engine.create_group(&bob, "mine").await,
        Err(EngineError::Forbidden(_))
    ));
    assert!(matches!(
        engine.groups(&bob).await,
        Err(EngineError::Forbidden(_))
    ));

    #[derive(Debug, Clone, Copy)]
    enum Given {
        Owner,
        User(AgentRole),
        Group(AgentRole),
        Public,
        Nothing,
    }
    let cases = [
        Given::Owner,
        Given::User(AgentRole::Editor),
        Given::User(AgentRole::Viewer),
        Given::Group(AgentRole::Editor),
        Given::Group(AgentRole::Viewer),
        Given::Public,
        Given::Nothing,
    ];
    for (n, given) in cases.into_iter().enumerate() {
        let agent = engine.create_agent(&ann, tutor()).await.unwrap();
        let email = format!("u{n}@example.com");
        let who = UserId(
            engine
                .store()
                .create_user(&email, "U", "h", false)
                .await
                .unwrap()
                .id,
        );
        let who = match given {
            Given::Owner => ann.clone(),
            Given::User(role) => {
                engine
                    .share_agent(&ann, &agent.id, &email, Some(role))
                    .await
                    .unwrap();
                who
            }
            Given::Group(role) => {
                engine
                    .set_group_member(&admin, &team, &email, true)
                    .await
                    .unwrap();
                engine
                    .share_agent(&ann, &agent.id, "team", Some(role))
                    .await
                    .unwrap();
                who
            }
            Given::Public => {
                engine
                    .set_agent_public(&ann, &agent.id, true)
                    .await
                    .unwrap();
                who
            }
            Given::Nothing => who,
        };
        let (read, edit, own) = match given {
            Given::Owner => (true, true, true),
            Given::User(AgentRole::Editor) | Given::Group(AgentRole::Editor) => (true, true, false),
            Given::User(_) | Given::Group(_) | Given::Public => (true, false, false),
            Given::Nothing => (false, false, false),
        };
        let seen = engine.agent(&who, &agent.id).await;
        assert_eq!(seen.is_ok(), read, "{given:?}: read");
        assert_eq!(
            engine
                .agents(&who)
                .await
                .unwrap()
                .iter()
                .any(|a| a.id == agent.id),
            read,
            "{given:?}: listed"
        );
        let used = engine.send(&who, chat_with(&agent.id, "hello")).await;
        assert_eq!(used.is_ok(), read, "{given:?}: use");
        if let Ok(sent) = used {
            finish(&engine, &who, &sent.job).await;
        }
        let edited = engine.update_agent(&who, &agent.id, tutor()).await;
        assert_eq!(edited.is_ok(), edit, "{given:?}: edit");
        assert_eq!(
            engine.agent_versions(&who, &agent.id).await.is_ok(),
            edit,
            "{given:?}: versions"
        );
        let shared = engine
            .share_agent(&who, &agent.id, "cy@example.com", Some(AgentRole::Viewer))
            .await;
        assert_eq!(shared.is_ok(), own, "{given:?}: share");
        assert_eq!(
            engine
                .set_agent_public(&who, &agent.id, false)
                .await
                .is_ok(),
            own,
            "{given:?}: publish"
        );
        // Refusals say which: not there at all, or there but not allowed.
        let expected_refusal = |r: &Result<(), EngineError>| match r {
            Err(EngineError::NotFound) => !read,
            Err(EngineError::Forbidden(_)) => read,
            _ => false,
        };
        if !own {
            assert!(expected_refusal(&shared), "{given:?}: {shared:?}");
        }
        let deleted = engine.delete_agent(&who, &agent.id).await;
        assert_eq!(deleted.is_ok(), own, "{given:?}: delete");
        if !own {
            assert!(expected_refusal(&deleted), "{given:?}: {deleted:?}");
        }
        engine
            .set_group_member(&admin, &team, &email, false)
            .await
            .unwrap();
    }
}
