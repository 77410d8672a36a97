//! Real containers on the real rootfs (scripts/build-rootfs.sh; the test command
//! exports CHORUS_SANDBOX_ROOTFS).

use std::path::PathBuf;
use std::time::Duration;

use chorus_sandbox::{ExecRequest, HelperCommand, Language, Limits, Sandbox, SandboxConfig};

async fn sandbox(limits: Limits) -> (Sandbox, tempfile::TempDir) {
    let rootfs = std::env::var("CHORUS_SANDBOX_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/chorus/rootfs/v1"));
    let work = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxConfig {
        rootfs,
        work_dir: work.path().to_path_buf(),
        helper: HelperCommand {
            program: env!("CARGO_BIN_EXE_chorus-sandbox-helper").into(),
            args: vec![],
        },
        concurrency: 4,
        limits,
    })
    .await
    .unwrap();
    let health = sandbox.health();
    assert!(health.available, "sandbox unavailable: {:?}", health.reason);
    (sandbox, work)
}

fn req(lang: Language, code: &str) -> ExecRequest {
    ExecRequest { lang, code: code.into(), args: vec![], session_id: None, files: vec![] }
}

#[tokio::test]
async fn python_prints_hello() {
    let (sandbox, _work) = sandbox(Limits::default()).await;
    let out = sandbox.exec("alice", req(Language::Py, "print('hello from python')")).await.unwrap();
    assert_eq!(out.stdout, "hello from python\n", "{out:?}");
    assert_eq!(out.exit_code, Some(0));
    let _ = Duration::from_secs(1);
}
