//! Two-factor authentication through the server functions the settings page
//! and the sign-in form use: set up, confirm with a code, sign in with a code
//! or a backup code (each works once), turn off with a code.

mod common;

use chorus_auth::two_factor::code_at;
use common::*;
use serde_json::{Value, json};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn login_with(c: &reqwest::Client, base: &str, code: Option<&str>) -> (u16, Value) {
    let mut form = vec![("email", "ann@example.com"), ("password", "long enough pw")];
    if let Some(code) = code {
        form.push(("code", code));
    }
    call(c, base, "login", &form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_needs_a_code_once_two_factor_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), NO_ENDPOINTS).await;
    let base = &server.base;
    let c = client(base);
    register(&c, base, "ann@example.com").await;
    assert_eq!(
        call(&c, base, "two-factor/status", &[]).await.1,
        json!(false)
    );

    let (status, setup) = call(&c, base, "two-factor/begin", &[]).await;
    assert_eq!(status, 200, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));
    // Not on until a code made from the seed comes back.
    assert_eq!(
        call(&c, base, "two-factor/status", &[]).await.1,
        json!(false)
    );
    let (status, wrong) = call(&c, base, "two-factor/confirm", &[("code", "000000")]).await;
    assert_ne!(status, 200);
    assert!(
        wrong["Invalid"].as_str().unwrap().contains("not right"),
        "{wrong}"
    );
    let code = code_at(&secret, now()).unwrap();
    let (status, backup) = call(&c, base, "two-factor/confirm", &[("code", &code)]).await;
    assert_eq!(status, 200, "{backup}");
    let backup: Vec<String> = serde_json::from_value(backup).unwrap();
    assert_eq!(backup.len(), 10);
    assert_eq!(
        call(&c, base, "two-factor/status", &[]).await.1,
        json!(true)
    );

    // Sign out; the password alone is not enough now.
    call(&c, base, "logout", &[]).await;
    let (status, asked) = login_with(&c, base, None).await;
    assert_ne!(status, 200);
    assert_eq!(asked, json!("CodeRequired"));
    assert_eq!(call(&c, base, "me", &[]).await.1, Value::Null);
    // The code that turned it on was used: it cannot sign in again.
    let (_, replay) = login_with(&c, base, Some(&code)).await;
    assert!(
        replay["Invalid"].as_str().unwrap().contains("already used"),
        "{replay}"
    );
    // A wrong password with a right-looking code still says only that.
    let (_, wrong_pw) = call(
        &c,
        base,
        "login",
        &[
            ("email", "ann@example.com"),
            ("password", "nope nope"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(wrong_pw, json!({"Invalid": "Wrong email or password."}));

    // A backup code signs in once.
    let (status, _) = login_with(&c, base, Some(&backup[0].to_uppercase())).await;
    assert_eq!(status, 200);
    assert_eq!(
        call(&c, base, "me", &[]).await.1["email"],
        "ann@example.com"
    );
    call(&c, base, "logout", &[]).await;
    let (_, reused) = login_with(&c, base, Some(&backup[0])).await;
    assert!(reused["Invalid"].is_string(), "{reused}");

    // The next time step's code signs in (what the app shows 30 s later).
    let next = code_at(&secret, now() + 30).unwrap();
    let (status, body) = login_with(&c, base, Some(&next)).await;
    assert_eq!(status, 200, "{body}");

    // Turning it off takes a code too.
    let (status, _) = call(&c, base, "two-factor/disable", &[("code", "123456")]).await;
    assert_ne!(status, 200);
    assert_eq!(
        call(&c, base, "two-factor/status", &[]).await.1,
        json!(true)
    );
    let (status, body) = call(&c, base, "two-factor/disable", &[("code", &backup[1])]).await;
    assert_eq!(status, 200, "{body}");
    call(&c, base, "logout", &[]).await;
    let (status, _) = login_with(&c, base, None).await;
    assert_eq!(status, 200, "password alone again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failed_sign_ins_lock_the_account_whether_or_not_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), NO_ENDPOINTS).await;
    let base = &server.base;
    let c = client(base);
    register(&c, base, "bob@example.com").await;
    register(&client(base), base, "ann@example.com").await;
    call(&c, base, "logout", &[]).await;

    for email in ["ann@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            let (_, wrong) = login(&c, base, email, "nope nope").await;
            assert_eq!(wrong, json!({"Invalid": "Wrong email or password."}));
        }
        // Now even the right password is refused, with when to try again; an
        // unknown email gets the same answer.
        let (status, locked) = login(&c, base, email, "long enough pw").await;
        assert_ne!(status, 200);
        assert_eq!(
            locked,
            json!({"Invalid": "Too many failed sign-in attempts for this account. Try again in 15 minutes."}),
            "{email}"
        );
    }
    assert_eq!(call(&c, base, "me", &[]).await.1, Value::Null);
    // Other accounts are not affected, and success clears a partial count.
    login(&c, base, "bob@example.com", "nope nope").await;
    let (status, _) = login(&c, base, "bob@example.com", "long enough pw").await;
    assert_eq!(status, 200);
}
