//! The code interpreter API over HTTP, sent the way LibreChat's code client sends
//! it (`X-API-Key`, `User-Id`, multipart uploads with `entity_id`), running real
//! containers through the `chorus sandbox-exec` helper.

mod common;

use chorus_store::Store;
use chorus_types::UserId;
use serde_json::{Value, json};
use std::path::Path;

struct Api {
    base: String,
    alice: String,
    bob: String,
    http: reqwest::Client,
    _work: tempfile::TempDir,
}

async fn start() -> Api {
    let config = chorus_config::load_str("", Path::new("test.yaml"), &|_| None)
        .unwrap()
        .config;
    let store = Store::memory().await.unwrap();
    let mut keys = Vec::new();
    for email in ["alice@example.com", "bob@example.com"] {
        let user = store.create_user(email, "", "h", false).await.unwrap();
        keys.push(
            store
                .create_api_key(&UserId(user.id), "code")
                .await
                .unwrap()
                .secret,
        );
    }
    let work = tempfile::tempdir().unwrap();
    let sandbox = common::sandbox(work.path()).await;
    let engine = common::engine_on(store, &config)
        .await
        .with_sandbox(sandbox);
    let base = common::serve(engine, &config).await;
    Api {
        base: format!("{base}/v1"),
        bob: keys.pop().unwrap(),
        alice: keys.pop().unwrap(),
        http: reqwest::Client::new(),
        _work: work,
    }
}

impl Api {
    async fn exec(&self, key: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/exec", self.base))
            .header("X-API-Key", key)
            .header("User-Agent", "LibreChat/1.0")
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("X-API-Key", key)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn librechat_uploads_runs_lists_and_downloads() {
    let api = start().await;
    let form = reqwest::multipart::Form::new()
        .text("entity_id", "agent_123")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"x,y\n1,2\n3,4\n".to_vec()).file_name("data.csv"),
        );
    let resp = api
        .http
        .post(format!("{}/upload", api.base))
        .header("X-API-Key", &api.alice)
        .header("User-Id", "librechat-user-1")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let uploaded: Value = resp.json().await.unwrap();
    assert_eq!(uploaded["message"], "success");
    let upload_session = uploaded["session_id"].as_str().unwrap().to_string();
    let file_id = uploaded["files"][0]["fileId"].as_str().unwrap().to_string();
    assert_eq!(uploaded["files"][0]["filename"], "data.csv");
    // LibreChat's backend accepts only 21-character nanoid-style ids.
    for id in [&upload_session, &file_id] {
        assert_eq!(id.len(), 21);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
    }

    // What LibreChat's execute_code tool posts: the files by reference, no session.
    let (status, out) = api
        .exec(
            &api.alice,
            json!({
                "lang": "py",
                "code": "import pandas as pd\ndf = pd.read_csv('data.csv')\nprint(df['y'].sum())\ndf.to_csv('doubled.csv', index=False)\nopen('doubled.csv','a').write('#done\\n')\n",
                "files": [{"id": file_id, "session_id": upload_session, "name": "data.csv"}],
            }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["stdout"], "6\n", "{out}");
    assert_eq!(out["stderr"], "");
    assert_eq!(out["run"]["code"], 0);
    let session = out["session_id"].as_str().unwrap().to_string();
    let files = out["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "only what the run wrote: {out}");
    assert_eq!(files[0]["name"], "doubled.csv");
    let out_id = files[0]["id"].as_str().unwrap();

    let download = api
        .get(&api.alice, &format!("/download/{session}/{out_id}"))
        .await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "text/csv");
    assert_eq!(download.text().await.unwrap(), "x,y\n1,2\n3,4\n#done\n");

    let listed: Value = api
        .get(&api.alice, &format!("/files/{session}?detail=full"))
        .await
        .json()
        .await
        .unwrap();
    let mut names: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["metadata"]["original-filename"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["data.csv", "doubled.csv"]);
    // LibreChat takes the id from the part after the session in `name`.
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == format!("{session}/{out_id}"))
    );

    // Another user sees none of it.
    assert_eq!(
        api.get(&api.bob, &format!("/download/{session}/{out_id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        api.get(&api.bob, &format!("/files/{session}"))
            .await
            .status(),
        404
    );
    let (status, _) = api
        .exec(
            &api.bob,
            json!({"lang": "bash", "code": "cat data.csv", "session_id": session}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .exec(
            &api.bob,
            json!({"lang": "bash", "code": "cat data.csv", "files": [{"id": file_id, "session_id": upload_session}]}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let api = start().await;
    let resp = api
        .http
        .post(format!("{}/exec", api.base))
        .json(&json!({"lang": "py", "code": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let (status, body) = api
        .exec(
            &api.alice,
            json!({"lang": "cobol", "code": "DISPLAY 'HI'."}),
        )
        .await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"cobol\"") && message.contains("py, js, ts"),
        "{message}"
    );

    let (status, body) = api.exec(&api.alice, json!({"code": "print(1)"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("lang"),
        "{body}"
    );

    let (status, _) = api
        .exec(
            &api.alice,
            json!({"lang": "py", "code": "1", "session_id": "not-a-session"}),
        )
        .await;
    assert_eq!(status, 404);

    let health: Value = api.get(&api.alice, "/health").await.json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["languages"].as_array().unwrap().len(), 11);
}

#[tokio::test]
async fn a_crash_is_reported_with_its_signal() {
    let api = start().await;
    let (status, out) = api
        .exec(
            &api.alice,
            json!({"lang": "c", "code": "int main(void) { int *p = 0; return *p; }"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(out["run"]["signal"], "SIGSEGV", "{out}");
    assert!(
        out["stderr"]
            .as_str()
            .unwrap()
            .contains("killed by SIGSEGV (signal 11)"),
        "{out}"
    );
}
