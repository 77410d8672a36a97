//! The Run button and the Files panel as the browser uses them: server
//! functions and a form upload with the session cookie, real containers.

mod common;

use chorus_testkit::{MockOpenAi, MockOptions};
use common::*;

#[tokio::test]
async fn a_conversations_code_and_files_are_its_owners_only() {
    let mock = MockOpenAi::start(MockOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &config_for(&mock, "")).await;
    let base = &server.base;
    let alice = client(base);
    register(&alice, base, "alice@example.com").await;
    let sent = send(&alice, base, "hello").await;
    let conversation = sent.conversation.0.clone();

    let upload = |c: &reqwest::Client, conversation: &str| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"41".to_vec()).file_name("n.txt"),
        );
        c.post(format!("{base}/api/code/upload/{conversation}"))
            .header("origin", base.as_str())
            .multipart(form)
            .send()
    };
    let resp = upload(
        &reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap(),
        &conversation,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 401, "anonymous upload");

    let resp = upload(&alice, &conversation).await.unwrap();
    assert!(
        resp.url()
            .as_str()
            .ends_with(&format!("/c/{conversation}?files=open")),
        "{}",
        resp.url()
    );

    let (status, out) = call(
        &alice,
        base,
        "code/run",
        &[
            ("conversation", &conversation),
            ("lang", "py"),
            (
                "code",
                "n = int(open('n.txt').read()); print(n + 1); open('out.txt', 'w').write('x')",
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["stdout"], "42\n", "{out}");
    let url = out["files"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(
        alice
            .get(format!("{base}{url}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "x"
    );

    let (_, files) = call(
        &alice,
        base,
        "code/files",
        &[("conversation", &conversation)],
    )
    .await;
    let names: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["n.txt", "out.txt"]);

    // Bob gets nothing of Alice's: not her files, not her conversation's session.
    let bob = client(base);
    register(&bob, base, "bob@example.com").await;
    assert_eq!(
        bob.get(format!("{base}{url}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Server functions answer errors as Leptos does (500 with the error's name).
    let (_, body) = call(&bob, base, "code/files", &[("conversation", &conversation)]).await;
    assert_eq!(body, serde_json::json!("NotFound"));
    let (_, body) = call(
        &bob,
        base,
        "code/run",
        &[
            ("conversation", &conversation),
            ("lang", "bash"),
            ("code", "cat n.txt"),
        ],
    )
    .await;
    assert_eq!(body, serde_json::json!("NotFound"));
    assert_eq!(upload(&bob, &conversation).await.unwrap().status(), 404);
    assert_eq!(
        reqwest::get(format!("{base}{url}")).await.unwrap().status(),
        401
    );

    // An unknown language is a clear error, not a silent nothing.
    let (status, body) = call(
        &alice,
        base,
        "code/run",
        &[
            ("conversation", &conversation),
            ("lang", "cobol"),
            ("code", "x"),
        ],
    )
    .await;
    assert_eq!(status, 500, "{body}");
    let message = body["Invalid"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"cobol\" cannot run here; supported: py, js"),
        "{body}"
    );
}
