//! Real containers on the real rootfs (built by scripts/build-rootfs.sh, which the
//! test command runs and whose path it exports as CHORUS_SANDBOX_ROOTFS).
#![allow(dead_code)]

use std::path::PathBuf;

use chorus_sandbox::{
    ExecOutcome, ExecRequest, HelperCommand, Language, Limits, Sandbox, SandboxConfig,
};

pub fn rootfs() -> PathBuf {
    chorus_sandbox::rootfs_from_env()
}

pub async fn sandbox(limits: Limits) -> (Sandbox, tempfile::TempDir) {
    let work = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxConfig {
        rootfs: rootfs(),
        work_dir: work.path().to_path_buf(),
        helper: HelperCommand {
            program: env!("CARGO_BIN_EXE_chorus-sandbox-helper").into(),
            args: vec![],
        },
        concurrency: 8,
        limits,
    })
    .await
    .unwrap();
    let health = sandbox.health();
    assert!(health.available, "sandbox unavailable: {:?}", health.reason);
    (sandbox, work)
}

pub fn req(lang: Language, code: &str) -> ExecRequest {
    ExecRequest::new(lang, code)
}

pub async fn run(sandbox: &Sandbox, lang: Language, code: &str) -> ExecOutcome {
    sandbox.exec("alice", req(lang, code)).await.unwrap()
}

/// A session of alice's holding `name` with `content`.
pub async fn session_with(sandbox: &Sandbox, name: &str, content: &[u8]) -> String {
    let id = sandbox.sessions().create("alice").unwrap();
    sandbox
        .sessions()
        .put("alice", &id, name, content)
        .await
        .unwrap();
    id
}

/// The content of a file of the session, by name.
pub fn read(sandbox: &Sandbox, session: &str, name: &str) -> Vec<u8> {
    let entry = sandbox
        .sessions()
        .list("alice", session)
        .unwrap()
        .into_iter()
        .find(|f| f.name == name);
    let entry = entry.unwrap_or_else(|| panic!("{name} not in the session"));
    std::fs::read(
        sandbox
            .sessions()
            .file("alice", session, &entry.id)
            .unwrap()
            .1,
    )
    .unwrap()
}
