use super::*;
use axum_login::AuthnBackend;

fn open() -> RegistrationPolicy {
    RegistrationPolicy {
        enabled: true,
        allowed_domains: vec![],
    }
}

#[tokio::test]
async fn register_then_authenticate_with_argon2() {
    let store = Store::memory().await.unwrap();
    let ann = register(&store, &open(), "ann@example.com", "Ann", "correct horse")
        .await
        .unwrap();
    assert!(ann.is_admin, "the first account is admin");
    let stored = store
        .user_by_email("ann@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.password_hash.starts_with("$argon2id$"),
        "{}",
        stored.password_hash
    );
    assert!(!stored.password_hash.contains("correct horse"));

    let backend = AuthBackend::new(store.clone());
    let ok = backend
        .authenticate(Credentials {
            email: "ANN@example.com".into(),
            password: "correct horse".into(),
        })
        .await
        .unwrap();
    assert_eq!(ok.map(|u| u.id), Some(ann.id.clone()));
    let wrong = backend
        .authenticate(Credentials {
            email: "ann@example.com".into(),
            password: "wrong horse".into(),
        })
        .await
        .unwrap();
    assert!(wrong.is_none());
    let unknown = backend
        .authenticate(Credentials {
            email: "nobody@example.com".into(),
            password: "correct horse".into(),
        })
        .await
        .unwrap();
    assert!(unknown.is_none());

    let bob = register(&store, &open(), "bob@example.com", "", "12345678")
        .await
        .unwrap();
    assert!(!bob.is_admin);
    assert_eq!(bob.name, "bob");
}

#[tokio::test]
async fn registration_rules_give_actionable_messages() {
    let store = Store::memory().await.unwrap();
    let closed = RegistrationPolicy {
        enabled: false,
        allowed_domains: vec![],
    };
    let only_acme = RegistrationPolicy {
        enabled: true,
        allowed_domains: vec!["acme.test".into()],
    };
    let refused = [
        (
            &closed,
            "a@b.co",
            "longenough",
            "Registration is turned off on this server. Ask an administrator for an account.",
        ),
        (
            &open(),
            "not-an-email",
            "longenough",
            "Enter a valid email address, like name@example.com.",
        ),
        (
            &open(),
            "a@b.co",
            "short",
            "Choose a password of at least 8 characters.",
        ),
        (
            &only_acme,
            "a@b.co",
            "longenough",
            "Accounts on this server are limited to these domains: acme.test.",
        ),
    ];
    for (policy, email, password, expected) in refused {
        let err = register(&store, policy, email, "", password)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), expected, "{email} / {password}");
    }
    register(&store, &only_acme, "a@ACME.test", "", "longenough")
        .await
        .unwrap();
    let err = register(&store, &open(), "A@acme.test", "", "longenough")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "An account with this email already exists. Sign in instead."
    );
}
