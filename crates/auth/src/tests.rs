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
    let err = register(&store, &closed, "a@b.co", "", "longenough")
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("Registration is turned off"),
        "{err}"
    );
    let err = register(&store, &open(), "not-an-email", "", "longenough")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Enter a valid email address, like name@example.com."
    );
    let err = register(&store, &open(), "a@b.co", "", "short")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Choose a password of at least 8 characters."
    );
    let only_acme = RegistrationPolicy {
        enabled: true,
        allowed_domains: vec!["acme.test".into()],
    };
    let err = register(&store, &only_acme, "a@b.co", "", "longenough")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Accounts on this server are limited to these domains: acme.test."
    );
    register(&store, &only_acme, "a@ACME.test", "", "longenough")
        .await
        .unwrap();
    let err = register(&store, &open(), "A@acme.test", "", "longenough")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("An account with this email already exists"),
        "{err}"
    );
}
