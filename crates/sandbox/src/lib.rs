//! Code execution in youki (`libcontainer`) OCI containers.
//!
//! [`Sandbox`] is what the server holds: it keeps sessions of files, writes each
//! execution's bundle (program + `config.json`), and runs it through the helper
//! process ([`helper`]) with at most `concurrency` executions at once. The rootfs
//! is built by `scripts/build-rootfs.sh`; without it the sandbox says so instead
//! of running anything.

mod files;
pub mod helper;
pub mod lang;
pub mod sessions;
pub mod spec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

pub use lang::{Language, Run};
pub use sessions::{FileEntry, Sessions};
pub use spec::Limits;

/// The rootfs version this code expects (`/etc/chorus-rootfs-version`); equal to
/// `VERSION` in scripts/build-rootfs.sh.
pub const ROOTFS_VERSION: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// The sandbox cannot run anything here (no rootfs, not root, …); says why.
    #[error("code execution is unavailable: {0}")]
    Unavailable(String),
    #[error("the sandbox failed: {0}")]
    Failed(String),
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
}

/// How to start the helper: the server passes its own executable and
/// `sandbox-exec`; tests pass the crate's `chorus-sandbox-helper`.
#[derive(Debug, Clone)]
pub struct HelperCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub rootfs: PathBuf,
    /// Sessions, bundles and container state live here.
    pub work_dir: PathBuf,
    pub helper: HelperCommand,
    pub concurrency: usize,
    pub limits: Limits,
}

/// A file from an earlier session to place in `/mnt/data` (LibreChat's `files`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRef {
    pub session_id: String,
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub lang: Language,
    pub code: String,
    pub args: Vec<String>,
    /// Run in this session's `/mnt/data` (created when absent).
    pub session_id: Option<String>,
    pub files: Vec<FileRef>,
}

impl ExecRequest {
    /// `code` in `lang`, in a new session, with no arguments or files.
    pub fn new(lang: Language, code: impl Into<String>) -> Self {
        ExecRequest {
            lang,
            code: code.into(),
            args: Vec::new(),
            session_id: None,
            files: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecOutcome {
    pub session_id: String,
    pub stdout: String,
    /// The program's stderr, followed by what the sandbox has to say (killed for
    /// time or memory, output cut) so that a reader of stderr alone learns it.
    pub stderr: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub oom_killed: bool,
    pub pids_limited: bool,
    pub output_truncated: bool,
    pub session_full: bool,
    /// Files the program created or changed.
    pub files: Vec<FileEntry>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub available: bool,
    pub reason: Option<String>,
    pub languages: Vec<&'static str>,
}

pub struct Sandbox {
    config: SandboxConfig,
    sessions: Sessions,
    permits: Arc<Semaphore>,
    /// One execution at a time per session: two copying back into one directory
    /// would lose each other's files.
    session_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    unavailable: Option<String>,
}

impl Sandbox {
    /// Prepares the work directory and removes containers left by a crash. A
    /// missing rootfs or a non-root process does not fail start-up: the sandbox
    /// reports itself unavailable with the reason.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        for dir in ["sessions", "runs", "state"] {
            tokio::fs::create_dir_all(config.work_dir.join(dir)).await?;
        }
        let unavailable = check_host(&config.rootfs);
        if unavailable.is_none() {
            cleanup(&config).await;
        }
        Ok(Sandbox {
            sessions: Sessions::new(config.work_dir.join("sessions")),
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            session_locks: Mutex::new(HashMap::new()),
            unavailable,
            config,
        })
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub fn health(&self) -> Health {
        Health {
            available: self.unavailable.is_none(),
            reason: self.unavailable.clone(),
            languages: Language::ALL.iter().map(|l| l.code()).collect(),
        }
    }

    pub async fn exec(&self, owner: &str, req: ExecRequest) -> Result<ExecOutcome, SandboxError> {
        if let Some(reason) = &self.unavailable {
            return Err(SandboxError::Unavailable(reason.clone()));
        }
        let session = match &req.session_id {
            Some(id) => id.clone(),
            None => self.sessions.create(owner)?,
        };
        // Checks that the session is the owner's, too.
        let session_dir = self.sessions.dir(owner, &session)?;
        for file in &req.files {
            if file.session_id == session {
                continue;
            }
            let (entry, path) = self.sessions.file(owner, &file.session_id, &file.id)?;
            let name = file.name.clone().unwrap_or(entry.name);
            self.sessions
                .put(owner, &session, &name, tokio::fs::read(path).await?)
                .await?;
        }

        let lock = self.session_lock(&session);
        let permits = self.permits.clone();
        let config = self.config.clone();
        // The run finishes in its own task: a caller that goes away (a closed HTTP
        // connection drops its future) must not kill the helper midway and leave
        // a running container that nobody times out or deletes.
        let run = tokio::spawn(async move {
            let _session_guard = lock.lock_owned().await;
            let _permit = permits.acquire_owned().await.expect("never closed");
            let run_id = sessions::new_id()
                .to_ascii_lowercase()
                .replace(['_', '-'], "0");
            let run_dir = config.work_dir.join("runs").join(&run_id);
            let report = run(&config, &run_id, &run_dir, &session_dir, &req).await;
            let _ = tokio::fs::remove_dir_all(&run_dir).await;
            report
        });
        let report = run
            .await
            .map_err(|e| SandboxError::Failed(format!("the run's task failed: {e}")))??;
        if let Some(e) = &report.cleanup_error {
            tracing::warn!(
                "a sandbox container could not be deleted (the next start removes it): {e}"
            );
        }

        let listed = self.sessions.list(owner, &session)?;
        let files = listed
            .into_iter()
            .filter(|f| report.changed.contains(&f.name))
            .collect();
        Ok(outcome(session, report, files, &self.config.limits))
    }

    fn session_lock(&self, session: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.session_locks.lock().unwrap();
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(session.to_string()).or_default().clone()
    }
}

/// Writes the bundle of one execution and runs it through the helper.
async fn run(
    config: &SandboxConfig,
    run_id: &str,
    run_dir: &Path,
    session_dir: &Path,
    req: &ExecRequest,
) -> Result<helper::HelperReport, SandboxError> {
    let code_dir = run_dir.join("code");
    tokio::fs::create_dir_all(&code_dir).await?;
    tokio::fs::create_dir_all(run_dir.join("data")).await?;
    tokio::fs::write(code_dir.join(req.lang.file_name()), &req.code).await?;
    set_mode(&code_dir, 0o755).await?;
    set_mode(&code_dir.join(req.lang.file_name()), 0o644).await?;
    let container_id = format!("chorus-{run_id}");
    let cgroup_path = format!("{}/{container_id}", cgroup_group(&config.work_dir));
    let spec = spec::config(
        &cgroup_path,
        &config.rootfs,
        run_dir,
        &req.lang.command(&req.args),
        &config.limits,
    );
    tokio::fs::write(run_dir.join("config.json"), spec.to_string()).await?;

    let request = helper::HelperRequest {
        container_id,
        cgroup_path,
        state_root: config.work_dir.join("state"),
        run_dir: run_dir.to_path_buf(),
        session_dir: session_dir.to_path_buf(),
        limits: config.limits.clone(),
    };
    run_helper(
        &config.helper,
        &serde_json::to_vec(&request).expect("serializes"),
    )
    .await?
    .map_err(SandboxError::Failed)
}

impl Drop for Sandbox {
    /// Removes this sandbox's (by now empty) cgroup parents, so tests and restarts
    /// with a new work directory leave nothing behind in /sys/fs/cgroup.
    fn drop(&mut self) {
        let group = cgroup_group(&self.config.work_dir);
        let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for hierarchy in hierarchies.flatten() {
            let _ = std::fs::remove_dir(hierarchy.path().join(&group));
        }
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&group));
    }
}

async fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await
}

/// Runs the helper with a request on stdin and parses its report.
async fn run_helper(
    helper: &HelperCommand,
    input: &[u8],
) -> Result<Result<helper::HelperReport, String>, SandboxError> {
    let mut child = tokio::process::Command::new(&helper.program)
        .args(&helper.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SandboxError::Failed(format!("starting {}: {e}", helper.program.display())))?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(input).await?;
    drop(stdin);
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_end(&mut stdout)
        .await?;
    let output = child.wait_with_output().await?;
    serde_json::from_slice(&stdout).map_err(|_| {
        SandboxError::Failed(format!(
            "the helper ended with {} and no report: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    })
}

/// Why the sandbox cannot run here, if it cannot.
fn check_host(rootfs: &Path) -> Option<String> {
    let version_file = rootfs.join("etc/chorus-rootfs-version");
    match std::fs::read_to_string(&version_file) {
        Err(_) => {
            return Some(format!(
                "the sandbox root filesystem is missing at {} (build it with scripts/build-rootfs.sh)",
                rootfs.display()
            ));
        }
        Ok(v) if v.trim() != ROOTFS_VERSION => {
            return Some(format!(
                "the sandbox root filesystem at {} is version {}, this Chorus needs version {ROOTFS_VERSION} (rebuild it with scripts/build-rootfs.sh)",
                rootfs.display(),
                v.trim()
            ));
        }
        Ok(_) => {}
    }
    if !nix::unistd::Uid::effective().is_root() {
        return Some(
            "containers need Chorus to run as root (cgroup v1 has no rootless mode)".into(),
        );
    }
    None
}

/// This sandbox's cgroup parent: one per work directory, so that two instances on
/// one host (or parallel tests) never clean up each other's containers.
fn cgroup_group(work_dir: &Path) -> String {
    format!(
        "{}/{}",
        spec::CGROUP_PARENT,
        stable_hash(&[work_dir.as_os_str().as_encoded_bytes()])
    )
}

/// A short name for `parts` that stays the same across restarts and Rust
/// releases (unlike `DefaultHasher`): it names cgroups and files on disk.
pub(crate) fn stable_hash(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Where scripts/build-rootfs.sh puts the rootfs by default.
pub fn default_rootfs() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(format!(".cache/chorus/rootfs/v{ROOTFS_VERSION}"))
}

/// `CHORUS_SANDBOX_ROOTFS` (what the test command exports), else the default.
pub fn rootfs_from_env() -> PathBuf {
    std::env::var_os("CHORUS_SANDBOX_ROOTFS").map_or_else(default_rootfs, PathBuf::from)
}

/// A signal's name (`SIGSEGV`), or its number when it has none.
pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map_or_else(|_| signal.to_string(), |s| s.as_str().to_string())
}

async fn cleanup(config: &SandboxConfig) {
    let state = config.work_dir.join("state");
    let mut cmd = tokio::process::Command::new(&config.helper.program);
    cmd.args(&config.helper.args)
        .arg(helper::CLEANUP_FLAG)
        .arg(&state)
        .arg(cgroup_group(&config.work_dir));
    match cmd.output().await {
        Ok(out) if out.status.success() => {
            let n = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u32>()
                .unwrap_or(0);
            if n > 0 {
                tracing::warn!("removed {n} sandbox containers left by an earlier run");
            }
        }
        Ok(out) => tracing::warn!(
            "sandbox cleanup failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => tracing::warn!("sandbox cleanup could not start: {e}"),
    }
    let _ = tokio::fs::remove_dir_all(config.work_dir.join("runs")).await;
    let _ = tokio::fs::create_dir_all(config.work_dir.join("runs")).await;
}

fn outcome(
    session_id: String,
    r: helper::HelperReport,
    files: Vec<FileEntry>,
    limits: &Limits,
) -> ExecOutcome {
    let mut stderr = r.stderr;
    let mut note = |text: String| {
        if !stderr.is_empty() && !stderr.ends_with('\n') {
            stderr.push('\n');
        }
        stderr.push_str(&format!("[sandbox] {text}\n"));
    };
    if r.timed_out {
        note(format!(
            "killed: the time limit of {} s was reached",
            limits.timeout.as_secs_f64()
        ));
    } else if r.oom_killed {
        note(format!(
            "killed: out of memory (the limit is {} MiB)",
            limits.memory_bytes >> 20
        ));
    } else if let Some(sig) = r.signal {
        note(format!("killed by {} (signal {sig})", signal_name(sig)));
    }
    if r.pids_limited {
        note(format!(
            "the process limit ({}) was reached: new processes could not start",
            limits.pids
        ));
    }
    if r.stdout_dropped > 0 {
        note(format!(
            "stdout was cut at {} KiB ({} more bytes dropped)",
            limits.output_bytes >> 10,
            r.stdout_dropped
        ));
    }
    if r.stderr_dropped > 0 {
        note(format!(
            "stderr was cut at {} KiB ({} more bytes dropped)",
            limits.output_bytes >> 10,
            r.stderr_dropped
        ));
    }
    if r.session_full {
        note(format!(
            "/mnt/data is full (the session limit is {} MiB)",
            limits.session_bytes >> 20
        ));
    }
    ExecOutcome {
        session_id,
        stdout: r.stdout,
        stderr,
        exit_code: r.exit_code,
        signal: r.signal,
        timed_out: r.timed_out,
        oom_killed: r.oom_killed,
        pids_limited: r.pids_limited,
        output_truncated: r.stdout_dropped > 0 || r.stderr_dropped > 0,
        session_full: r.session_full,
        files,
        duration_ms: r.duration_ms,
    }
}
