//! A fresh install with no endpoint configured: the built-in local model is
//! offered, says how to fetch its file while it is missing, and answers once
//! the file is in the data directory, with no restart.

mod common;

use chorus_types::{EndpointView, JobEvent, MessageState};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_chats_with_the_built_in_model_once_its_file_is_there() {
    let dir = tempfile::tempdir().unwrap();
    // No endpoints at all: what `chorus serve` runs with when there is no config file.
    let server = start(dir.path(), NO_ENDPOINTS).await;
    let c = client(&server.base);
    register(&c, &server.base, "ann@example.com").await;

    let endpoints = |c: reqwest::Client, base: String| async move {
        let (status, list) = call(&c, &base, "endpoints", &[]).await;
        assert_eq!(status, 200, "{list}");
        serde_json::from_value::<Vec<EndpointView>>(list).unwrap()
    };
    let listed = endpoints(c.clone(), server.base.clone()).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let local = &listed[0];
    assert_eq!(local.name, "Local");
    assert!(local.label.contains("SmolLM2"), "{}", local.label);
    let reason = local.unavailable.as_deref().expect("missing file reported");
    assert!(reason.contains("scripts/fetch-model.sh"), "{reason}");

    // Sending anyway: the answer fails with that reason, nothing is lost.
    let ask = || {
        send_to(
            &c,
            &server.base,
            "Local",
            "SmolLM2-135M-Instruct",
            "What is the capital of France?",
        )
    };
    let sent = ask().await;
    let got = job_events(&c, &server.base, &sent.job.0, 0, None).await;
    match &got.last().unwrap().1 {
        JobEvent::Done {
            state: MessageState::Failed,
            error: Some(e),
        } => assert!(e.contains("fetch-model.sh"), "{e}"),
        other => panic!("{other:?}"),
    }

    // The file arrives (what `make run` does before starting the server).
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(
        chorus_testkit::test_model(),
        models.join("SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
    .unwrap();
    let listed = endpoints(c.clone(), server.base.clone()).await;
    assert_eq!(listed[0].unavailable, None);
    let sent = ask().await;
    let got = job_events(&c, &server.base, &sent.job.0, 0, None).await;
    assert!(
        matches!(
            got.last().unwrap().1,
            JobEvent::Done {
                state: MessageState::Complete,
                error: None
            }
        ),
        "{got:?}"
    );
    // Greedy by default, so the tiny model gives its best answer every time.
    let answer = text_of(&got);
    assert!(answer.contains("Paris"), "{answer:?}");
}
