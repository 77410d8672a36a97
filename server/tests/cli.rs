//! The `chorus` binary: help, config checking, and account creation.

use std::process::Command;

fn chorus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chorus"))
}

#[test]
fn help_lists_the_subcommands() {
    let out = chorus().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for sub in ["serve", "check-config", "user"] {
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

#[test]
fn user_create_makes_an_admin_account() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = chorus()
        .args([
            "user",
            "create",
            "--email",
            "root@example.com",
            "--password",
            "a strong one",
            "--admin",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("root@example.com")
    );
    let again = chorus()
        .args([
            "user",
            "create",
            "--email",
            "root@example.com",
            "--password",
            "a strong one",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8(again.stderr)
            .unwrap()
            .contains("already exists")
    );
}
