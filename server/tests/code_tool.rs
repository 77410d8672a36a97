//! The model's `execute_code` tool: a scripted upstream speaking OpenAI's
//! tool-call protocol asks for code runs, real containers run them in the
//! conversation's session, the results go back to the model, and every step
//! is streamed and kept on the answer.

mod common;

use chorus_engine::{Engine, EngineError, Regenerate, SendRequest};
use chorus_testkit::{MockOpenAi, answer_from_tools};
use chorus_types::{
    ConversationId, JobEvent, MessageState, MessageView, SendResult, ToolStep, UserId,
};
use futures::StreamExt;
use std::time::Duration;

struct Setup {
    engine: Engine,
    user: UserId,
    mock: MockOpenAi,
    _work: tempfile::TempDir,
}

async fn setup(with_sandbox: bool) -> Setup {
    let mock = common::fast_mock().await;
    let config = common::parse_config(&common::config_for(&mock, ""));
    let store = chorus_store::Store::memory().await.unwrap();
    let user = common::user_in(&store, "ann@example.com", "Ann").await;
    let work = tempfile::tempdir().unwrap();
    let mut engine = common::engine_on(store, &config).await;
    if with_sandbox {
        engine = engine.with_sandbox(common::sandbox(work.path()).await);
    }
    Setup {
        engine,
        user,
        mock,
        _work: work,
    }
}

fn with_code(conversation: Option<ConversationId>, text: &str) -> SendRequest {
    SendRequest {
        conversation,
        parent: None,
        endpoint: "Mock".into(),
        model: "mock-small".into(),
        text: text.into(),
        tools: vec!["execute_code".into()],
        files: Vec::new(),
        agent: None,
    }
}

impl Setup {
    /// Sends with code execution on and follows the job to its end.
    async fn ask(
        &self,
        conversation: Option<ConversationId>,
        text: &str,
    ) -> (SendResult, Vec<JobEvent>) {
        let sent = self
            .engine
            .send(&self.user, with_code(conversation, text))
            .await
            .unwrap();
        let events = self.events(&sent).await;
        (sent, events)
    }

    async fn events(&self, sent: &SendResult) -> Vec<JobEvent> {
        common::job_log(&self.engine, &self.user, &sent.job).await
    }

    async fn answer(&self, sent: &SendResult) -> MessageView {
        let view = self
            .engine
            .conversation(&self.user, &sent.conversation)
            .await
            .unwrap();
        view.messages
            .into_iter()
            .find(|m| m.id == sent.assistant_message)
            .unwrap()
    }
}

fn done(events: &[JobEvent]) -> (MessageState, Option<String>) {
    match events.last() {
        Some(JobEvent::Done { state, error }) => (*state, error.clone()),
        other => panic!("the log ends with Done, not {other:?}"),
    }
}

fn outputs(steps: &[ToolStep]) -> Vec<String> {
    steps.iter().map(|s| s.output.clone().unwrap()).collect()
}

#[tokio::test]
async fn the_model_runs_code_in_the_conversation_and_answers_from_the_output() {
    let s = setup(true).await;
    let (sent, events) = s
        .ask(
            None,
            "What is six times seven?\n```py\nprint(6 * 7)\nopen('/mnt/data/answer.txt', 'w').write('42')\n```",
        )
        .await;
    assert_eq!(done(&events), (MessageState::Complete, None));

    // The log shows the call as it starts, then its result, then the answer.
    let call = events
        .iter()
        .position(|e| matches!(e, JobEvent::ToolCall { step } if step.name == "execute_code" && step.output.is_none()))
        .expect("the call is streamed");
    let result = events
        .iter()
        .position(|e| {
            matches!(
                e,
                JobEvent::ToolResult {
                    is_error: false,
                    ..
                }
            )
        })
        .expect("its result is streamed");
    let first_text = events
        .iter()
        .position(|e| matches!(e, JobEvent::Delta { .. }))
        .unwrap();
    assert!(call < result && result < first_text);

    // Kept on the message: a reload shows the same.
    let answer = s.answer(&sent).await;
    assert_eq!(answer.tools.len(), 1);
    let step = &answer.tools[0];
    assert_eq!(
        step.code(),
        Some((
            "py".into(),
            "print(6 * 7)\nopen('/mnt/data/answer.txt', 'w').write('42')\n".into()
        ))
    );
    let output = step.output.clone().unwrap();
    assert!(output.starts_with("stdout:\n42\n"), "{output}");
    assert!(
        output.contains("- /mnt/data/answer.txt (2 bytes)"),
        "{output}"
    );
    assert!(!step.is_error);
    assert_eq!(step.at, 0, "called before any text");
    assert_eq!(
        step.files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["answer.txt"]
    );
    assert_eq!(
        answer.text,
        answer_from_tools(std::slice::from_ref(&output))
    );
    assert_eq!(answer.state, MessageState::Complete);

    // The model got the tool, then its own call and the result.
    let requests: Vec<_> = s
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.body["stream"] == true)
        .collect();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].body["tools"][0]["function"]["name"],
        "execute_code"
    );
    let messages = requests[1].body["messages"].as_array().unwrap();
    let n = messages.len();
    assert_eq!(messages[n - 2]["role"], "assistant");
    assert_eq!(messages[n - 2]["tool_calls"][0]["id"], "call_mock0");
    assert_eq!(messages[n - 1]["role"], "tool");
    assert_eq!(messages[n - 1]["tool_call_id"], "call_mock0");
    assert_eq!(messages[n - 1]["content"], output.as_str());

    // The file is in the conversation's session (its Files panel) ...
    let files = s
        .engine
        .code_files(&s.user, &sent.conversation)
        .await
        .unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "answer.txt");
    let view = s
        .engine
        .conversation(&s.user, &sent.conversation)
        .await
        .unwrap();
    assert_eq!(
        view.tools,
        ["execute_code"],
        "the conversation remembers the tool"
    );

    // ... where the next run finds it.
    let (next, events) = s
        .ask(
            Some(sent.conversation.clone()),
            "```py\nprint(open('/mnt/data/answer.txt').read() + '!')\n```",
        )
        .await;
    assert_eq!(done(&events).0, MessageState::Complete);
    let answer = s.answer(&next).await;
    assert!(outputs(&answer.tools)[0].starts_with("stdout:\n42!\n"));

    // Regenerating offers the tool again (the conversation's choice).
    let again = s
        .engine
        .regenerate(
            &s.user,
            Regenerate {
                conversation: next.conversation.clone(),
                message: next.assistant_message.clone(),
                endpoint: None,
                model: None,
            },
        )
        .await
        .unwrap();
    s.events(&again).await;
    let regenerated = s.answer(&again).await;
    assert_eq!(outputs(&regenerated.tools), outputs(&answer.tools));
}

#[tokio::test]
async fn several_calls_run_and_errors_go_back_to_the_model() {
    let s = setup(true).await;
    let (sent, events) = s
        .ask(
            None,
            "Two things:\n```bash\necho one\n```\n```cobol\nDISPLAY 'two'.\n```\n```c\nint main(void) { return 3; }\n```",
        )
        .await;
    assert_eq!(done(&events).0, MessageState::Complete);
    let answer = s.answer(&sent).await;
    let steps = &answer.tools;
    assert_eq!(
        steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["call_mock0", "call_mock1", "call_mock2"]
    );
    assert_eq!(steps[0].output.as_deref(), Some("stdout:\none\n"));
    assert!(!steps[0].is_error);
    let cobol = steps[1].output.as_deref().unwrap();
    assert!(
        cobol.starts_with("The language \"cobol\" cannot run here; use one of: py,"),
        "{cobol}"
    );
    assert!(steps[1].is_error);
    assert_eq!(steps[2].output.as_deref(), Some("exit code: 3\n"));
    assert!(steps[2].is_error);
    // The model read every result, in call order, and answered.
    assert_eq!(answer.text, answer_from_tools(&outputs(steps)));
}

#[tokio::test]
async fn stopping_while_code_runs_keeps_the_call_and_says_it_did_not_finish() {
    let s = setup(true).await;
    let sent = s
        .engine
        .send(
            &s.user,
            with_code(None, "```py\nimport time\ntime.sleep(25)\n```"),
        )
        .await
        .unwrap();
    let mut stream = Box::pin(
        s.engine
            .watch(&s.user, &sent.job, 0)
            .await
            .unwrap()
            .filter_map(|w| async move { w.event() })
            .map(|e| e.event),
    );
    let started = std::time::Instant::now();
    while let Some(event) = stream.next().await {
        if matches!(event, JobEvent::ToolCall { .. }) {
            assert!(s.engine.stop(&s.user, &sent.job).await);
        }
        if let JobEvent::Done { state, .. } = event {
            assert_eq!(state, MessageState::Stopped);
            break;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the answer stops without waiting for the code"
    );
    let answer = s.answer(&sent).await;
    assert_eq!(answer.state, MessageState::Stopped);
    assert_eq!(
        answer.tools[0].output.as_deref(),
        Some("Stopped before the tool finished.")
    );
    assert!(answer.tools[0].is_error);
}

#[tokio::test]
async fn without_a_sandbox_asking_for_code_is_refused_before_anything_is_stored() {
    let s = setup(false).await;
    let refused = s
        .engine
        .send(&s.user, with_code(None, "```py\nprint(1)\n```"))
        .await;
    match refused {
        Err(EngineError::Invalid(m)) => assert_eq!(
            m,
            "Code execution is not set up on this server, so the model cannot run code."
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(s.engine.conversations(&s.user).await.unwrap().is_empty());
    assert!(s.engine.tools().options().is_empty());
    assert!(s.mock.requests().is_empty());
}

#[tokio::test]
async fn files_attached_to_a_message_are_in_mnt_data_for_the_model_and_shown_on_the_message() {
    let s = setup(true).await;
    let file = s
        .engine
        .attach_file(&s.user, "data.csv", b"x,y\n1,2\n3,4\n".to_vec())
        .await
        .unwrap();
    let sent = s
        .engine
        .send(
            &s.user,
            SendRequest {
                files: vec![file.id.clone()],
                ..with_code(
                    None,
                    "Sum y:\n```py\nimport pandas as pd\nprint(pd.read_csv('/mnt/data/data.csv')['y'].sum())\n```",
                )
            },
        )
        .await
        .unwrap();
    assert_eq!(done(&s.events(&sent).await).0, MessageState::Complete);
    let answer = s.answer(&sent).await;
    assert!(outputs(&answer.tools)[0].starts_with("stdout:\n6\n"));

    // The message shows the file, downloadable from the conversation's session.
    let view = s
        .engine
        .conversation(&s.user, &sent.conversation)
        .await
        .unwrap();
    let question = view
        .messages
        .iter()
        .find(|m| m.id == sent.user_message)
        .unwrap();
    let in_chat = s
        .engine
        .code_files(&s.user, &sent.conversation)
        .await
        .unwrap();
    assert_eq!(question.files, in_chat);
    assert_eq!(in_chat[0].name, "data.csv");
    // The model was told where it is.
    let first = &s.mock.requests()[0].body["messages"];
    let last = first.as_array().unwrap().last().unwrap();
    assert!(
        last["content"]
            .as_str()
            .unwrap()
            .ends_with("\n\n(Attached files: /mnt/data/data.csv)"),
        "{last}"
    );
    // It is no longer waiting to be attached: sending it again is refused.
    let again = s
        .engine
        .send(
            &s.user,
            SendRequest {
                files: vec![file.id.clone()],
                ..with_code(Some(sent.conversation.clone()), "once more")
            },
        )
        .await;
    assert!(
        matches!(&again, Err(EngineError::Invalid(m)) if m == "An attached file is no longer there; attach it again."),
        "{again:?}"
    );
}

#[tokio::test]
async fn someone_elses_attachment_cannot_be_sent_or_removed() {
    let s = setup(true).await;
    let file = s
        .engine
        .attach_file(&s.user, "secret.txt", b"mine".to_vec())
        .await
        .unwrap();
    let bob = UserId(
        s.engine
            .store()
            .create_user("bob@example.com", "Bob", "h", false)
            .await
            .unwrap()
            .id,
    );
    let sent = s
        .engine
        .send(
            &bob,
            SendRequest {
                files: vec![file.id.clone()],
                ..with_code(None, "```bash\ncat /mnt/data/secret.txt\n```")
            },
        )
        .await;
    assert!(matches!(sent, Err(EngineError::Invalid(_))), "{sent:?}");
    assert!(s.engine.conversations(&bob).await.unwrap().is_empty());
    assert!(matches!(
        s.engine.remove_attachment(&bob, &file.id),
        Err(EngineError::NotFound)
    ));
    // Still Ann's to remove.
    s.engine.remove_attachment(&s.user, &file.id).unwrap();
}

#[tokio::test]
async fn an_agents_files_reach_the_code_of_every_chat_with_it() {
    let s = setup(true).await;
    let viewer = common::user_in(s.engine.store(), "vi@example.com", "Vi").await;
    let analyst = chorus_types::agent::AgentSpec {
        name: "Analyst".into(),
        instructions: "Analyse the data.".into(),
        endpoint: "Mock".into(),
        model: "mock-small".into(),
        tools: vec!["execute_code".into()],
        ..Default::default()
    };
    let agent = s
        .engine
        .create_agent(&s.user, analyst.clone())
        .await
        .unwrap();
    s.engine
        .add_agent_file(&s.user, &agent.id, "data.csv", "x,y\n1,2\n3,4\n")
        .await
        .unwrap();
    let names = |files: Vec<chorus_types::CodeFileView>| {
        files.into_iter().map(|f| f.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(s.engine.agent_files(&s.user, &agent.id).await.unwrap()),
        ["data.csv"]
    );

    // Someone it is shared with to chat may not change its files.
    s.engine
        .share_agent(
            &s.user,
            &agent.id,
            "vi@example.com",
            Some(chorus_types::agent::AgentRole::Viewer),
        )
        .await
        .unwrap();
    assert!(matches!(
        s.engine
            .add_agent_file(&viewer, &agent.id, "x.txt", "x")
            .await,
        Err(EngineError::Forbidden(_))
    ));
    let file = &s.engine.agent_files(&viewer, &agent.id).await.unwrap()[0];
    assert!(matches!(
        s.engine
            .delete_agent_file(&viewer, &agent.id, &file.id)
            .await,
        Err(EngineError::Forbidden(_))
    ));

    // Their chat's code reads it, and the model was told it is there.
    let sent = s
        .engine
        .send(
            &viewer,
            SendRequest {
                tools: Vec::new(),
                agent: Some(agent.id.clone()),
                ..with_code(
                    None,
                    "Sum y.\n```py\nimport pandas as pd\nprint(pd.read_csv('/mnt/data/data.csv')['y'].sum())\n```",
                )
            },
        )
        .await
        .unwrap();
    common::job_log(&s.engine, &viewer, &sent.job).await;
    let view = s
        .engine
        .conversation(&viewer, &sent.conversation)
        .await
        .unwrap();
    let answer = view
        .messages
        .iter()
        .find(|m| m.id == sent.assistant_message)
        .unwrap();
    let output = answer.tools[0].output.as_deref().unwrap();
    assert!(output.starts_with("stdout:\n6\n"), "{output}");
    let first = s
        .mock
        .requests()
        .into_iter()
        .find(|r| r.body["stream"] == true)
        .unwrap()
        .body;
    assert_eq!(
        first["messages"][0]["content"],
        "Analyse the data.\n\nFiles your code can read: /mnt/data/data.csv."
    );
    // The chat has its own copy (its code may change it; the agent's stays).
    assert!(
        names(
            s.engine
                .code_files(&viewer, &sent.conversation)
                .await
                .unwrap()
        )
        .contains(&"data.csv".to_string())
    );

    // Through the API too: the call's code runs in a session of its own,
    // which gets the agent's files.
    let (provider, model) = s
        .engine
        .api_provider(&viewer, &format!("agent:{}", agent.id))
        .await
        .unwrap();
    let answer = provider
        .complete(chorus_gateway::ChatRequest {
            model,
            messages: vec![chorus_gateway::ChatMessage::user(
                "Sum y again.\n```py\nimport pandas as pd\nprint(pd.read_csv('/mnt/data/data.csv')['y'].sum())\n```",
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(answer.text.contains("stdout:\n6\n"), "{}", answer.text);

    // An agent without Code has no files.
    let plain = s
        .engine
        .create_agent(
            &s.user,
            chorus_types::agent::AgentSpec {
                tools: Vec::new(),
                ..analyst
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        s.engine.add_agent_file(&s.user, &plain.id, "data.csv", "x").await,
        Err(EngineError::Invalid(m)) if m.contains("Turn on Code")
    ));
}
