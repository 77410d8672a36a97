//! The `chorus` binary: help, config checking, and account creation.

use std::process::Command;

fn chorus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chorus"))
}

#[test]
fn help_lists_the_subcommands() {
    let out = chorus().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for sub in ["serve", "check-config", "user", "api-key", "group"] {
        assert!(help.contains(sub), "{help}");
    }
    let serve =
        String::from_utf8(chorus().args(["serve", "--help"]).output().unwrap().stdout).unwrap();
    for flag in [
        "--addr",
        "--data-dir",
        "--config",
        "CHORUS_ADDR",
        "CHORUS_DATA_DIR",
        "CHORUS_CONFIG",
    ] {
        assert!(serve.contains(flag), "{serve}");
    }
}

#[test]
fn invalid_config_stops_start_up_naming_file_path_and_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chorus.yaml");
    std::fs::write(&file, "endpoints:\n  custom:\n    - name: A\n      apiKey: k\n      baseURL: not a url\n      models: {default: [m]}\n").unwrap();
    for args in [
        vec!["check-config", file.to_str().unwrap()],
        vec![
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--config",
            file.to_str().unwrap(),
        ],
    ] {
        let out = chorus()
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains(&format!(
                "{}: endpoints.custom[0].baseURL: expected an http(s) URL",
                file.display()
            )),
            "{err}"
        );
    }
    std::fs::write(&file, "endpoints:\n  custom: []\n").unwrap();
    let out = chorus()
        .args(["check-config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
}

fn create_user(data: &std::path::Path, admin: bool) -> std::process::Output {
    let mut cmd = chorus();
    cmd.args([
        "user",
        "create",
        "--email",
        "root@example.com",
        "--password",
        "a strong one",
    ]);
    if admin {
        cmd.arg("--admin");
    }
    cmd.arg("--data-dir").arg(data).output().unwrap()
}

#[test]
fn user_create_makes_an_admin_account() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = create_user(&data, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("root@example.com") && stdout.contains("administrator"),
        "{stdout}"
    );
    let again = create_user(&data, false);
    assert!(!again.status.success());
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert!(
        stderr.contains("An account with this email already exists"),
        "{stderr}"
    );
}

#[test]
fn group_commands_create_fill_list_and_delete_groups() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(create_user(&data, false).status.success());
    let group = |args: &[&str]| {
        let out = chorus()
            .arg("group")
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, _, err) = group(&["create", "Research team"]);
    assert!(ok, "{err}");
    let (ok, _, err) = group(&["create", "Research team"]);
    assert!(!ok);
    assert!(
        err.contains("There is a group named \"Research team\" already"),
        "{err}"
    );
    let (ok, _, err) = group(&["create", "a@b"]);
    assert!(!ok);
    assert!(err.contains("without '@'"), "{err}");

    let (ok, out, err) = group(&["add", "Research team", "root@example.com"]);
    assert!(ok, "{err}");
    assert!(out.contains("added root@example.com"), "{out}");
    let (ok, _, err) = group(&["add", "Research team", "nobody@example.com"]);
    assert!(!ok);
    assert!(
        err.contains("No account uses \"nobody@example.com\""),
        "{err}"
    );
    let (ok, _, err) = group(&["add", "Nope", "root@example.com"]);
    assert!(!ok);
    assert!(err.contains("there is no group named \"Nope\""), "{err}");

    let (_, out, _) = group(&["list"]);
    assert_eq!(out.trim(), "Research team\troot@example.com");
    let (ok, _, err) = group(&["remove", "Research team", "root@example.com"]);
    assert!(ok, "{err}");
    let (_, out, _) = group(&["list"]);
    assert_eq!(out.trim(), "Research team");
    let (ok, _, err) = group(&["delete", "Research team"]);
    assert!(ok, "{err}");
    let (_, out, _) = group(&["list"]);
    assert_eq!(out.trim(), "");
}
