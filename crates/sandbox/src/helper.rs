//! The helper process: runs one container and reports what happened.
//!
//! libcontainer must never run inside the multi-threaded server: it forks with raw
//! `clone3` (a child can deadlock on a malloc lock another thread held), calls the
//! process-wide `chdir()`, and makes the caller non-dumpable. So the server spawns
//! this small single-threaded program per execution (`chorus sandbox-exec`), writes
//! a [`HelperRequest`] as JSON to its stdin and reads a [`HelperReport`] from its
//! stdout.
//!
//! `/mnt/data` is a size-limited tmpfs mounted in the helper's own private mount
//! namespace: the session's files are copied in, the program runs, and what it wrote
//! is copied back. A file bomb hits the tmpfs size, never the host's disk, and the
//! mount vanishes with the helper even if it is killed.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::mount::{MsFlags, mount};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Gid, Pid, Uid, chown};
use serde::{Deserialize, Serialize};

use crate::spec::{Limits, SANDBOX_UID};

#[derive(Debug, Serialize, Deserialize)]
pub struct HelperRequest {
    pub container_id: String,
    /// The container's cgroup, relative to each hierarchy's root.
    pub cgroup_path: String,
    /// libcontainer's state directory.
    pub state_root: PathBuf,
    /// The bundle: `config.json`, `code/` (the program), `data/` (mount point).
    pub run_dir: PathBuf,
    /// The session's files, the persistent content of `/mnt/data`.
    pub session_dir: PathBuf,
    pub limits: Limits,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HelperReport {
    pub stdout: String,
    pub stderr: String,
    /// Bytes beyond the output limit, counted and dropped.
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub oom_killed: bool,
    pub pids_limited: bool,
    /// `/mnt/data` was full when the program ended.
    pub session_full: bool,
    /// Paths (relative to `/mnt/data`) the program created or changed.
    pub changed: Vec<String>,
    pub duration_ms: u64,
    /// The container could not be deleted (the next start's cleanup will).
    pub cleanup_error: Option<String>,
}

/// The helper's flag for removing what a crash left: `--cleanup <state> <group>`.
pub const CLEANUP_FLAG: &str = "--cleanup";

/// The helper's command line, after the program (and `sandbox-exec`): a run
/// (request on stdin), or a cleanup. Returns the exit code.
pub fn run_from_args(args: &[String]) -> i32 {
    match args {
        [flag, state, group] if flag == CLEANUP_FLAG => cleanup_main(state.as_ref(), group),
        _ => main(),
    }
}

/// `chorus sandbox-exec`: one request on stdin, one `{"Ok": report}` or
/// `{"Err": message}` on stdout. Exit code 0 unless stdout itself failed.
fn main() -> i32 {
    let mut input = String::new();
    let result = std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("reading the request: {e}"))
        .and_then(|_| {
            serde_json::from_str::<HelperRequest>(&input).map_err(|e| format!("bad request: {e}"))
        })
        .and_then(|req| run(&req));
    let out = serde_json::to_string(&result).expect("report serializes");
    match std::io::stdout().write_all(out.as_bytes()) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// `chorus sandbox-exec --cleanup <state root> <cgroup group>`: deletes containers
/// and cgroups left behind by a crash (a killed helper cannot delete its own
/// container). Only this sandbox's group: other instances on the host keep theirs.
fn cleanup_main(state_root: &Path, cgroup_group: &str) -> i32 {
    let mut removed = 0;
    if let Ok(entries) = fs::read_dir(state_root) {
        for entry in entries.flatten() {
            let path = entry.path();
            if let Ok(mut container) = Container::load(path.clone()) {
                let _ = container.kill(Signal::SIGKILL, true);
                let _ = container.delete(true);
            }
            let _ = fs::remove_dir_all(&path);
            removed += 1;
        }
    }
    for parent in cgroup_dirs_of(cgroup_group) {
        let Ok(entries) = fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            kill_cgroup(&entry.path());
            let _ = fs::remove_dir(entry.path());
        }
    }
    println!("{removed}");
    0
}

fn run(req: &HelperRequest) -> Result<HelperReport, String> {
    let started = Instant::now();
    let data = req.run_dir.join("data");
    fs::create_dir_all(&data).map_err(|e| format!("creating {}: {e}", data.display()))?;
    private_tmpfs(&data, &req.limits)?;
    let before = copy_in(&req.session_dir, &data)?;

    let mut report = run_container(req)?;

    report.session_full = tmpfs_is_full(&data);
    let after = snapshot(&data);
    copy_out(&data, &req.session_dir, &before, &after, &mut report)?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// A mount namespace of our own (so nothing we mount is seen by the host, and it
/// all goes away with us) with a tmpfs of the session's size at `data`.
fn private_tmpfs(data: &Path, limits: &Limits) -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("making mounts private: {e}"))?;
    let options = format!(
        "size={},nr_inodes=16384,mode=0755,uid={SANDBOX_UID},gid={SANDBOX_UID}",
        limits.session_bytes
    );
    mount(
        Some("tmpfs"),
        data,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|e| format!("mounting the /mnt/data tmpfs: {e}"))
}

fn run_container(req: &HelperRequest) -> Result<HelperReport, String> {
    let (out_r, out_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (err_r, err_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    let devnull = File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;

    let built = ContainerBuilder::new(req.container_id.clone(), SyscallType::default())
        .with_root_path(&req.state_root)
        .map_err(|e| format!("container state directory: {e}"))?
        .with_stdin(OwnedFd::from(devnull))
        .with_stdout(out_w)
        .with_stderr(err_w)
        .as_init(&req.run_dir)
        .with_systemd(false)
        .with_detach(true)
        .build();
    let mut container = match built {
        Ok(container) => container,
        Err(e) => {
            delete_leftover(&req.state_root.join(&req.container_id));
            return Err(format!("creating the container: {e}"));
        }
    };
    let result = supervise(&mut container, out_r, err_r, &req.limits);
    // Read before delete(): the counters go with the cgroup.
    let counters = cgroup_counters(&req.cgroup_path);
    let _ = container.kill(Signal::SIGKILL, true);
    let cleanup_error = container.delete(true).err().map(|e| {
        delete_leftover(&req.state_root.join(&req.container_id));
        format!("deleting container {}: {e}", req.container_id)
    });
    let mut report = result?;
    report.cleanup_error = cleanup_error;
    report.oom_killed = counters.oom_kills > 0;
    report.pids_limited = counters.pids_max_hits > 0;
    Ok(report)
}

fn delete_leftover(container_dir: &Path) {
    if let Ok(mut container) = Container::load(container_dir.to_path_buf()) {
        let _ = container.delete(true);
    }
    let _ = fs::remove_dir_all(container_dir);
}

/// Starts the container and waits for its init process, draining both pipes all
/// along (a program blocked on a full pipe would otherwise never exit), killing
/// everything at the deadline.
fn supervise(
    container: &mut Container,
    out_r: OwnedFd,
    err_r: OwnedFd,
    limits: &Limits,
) -> Result<HelperReport, String> {
    container
        .start()
        .map_err(|e| format!("starting the container: {e}"))?;
    let pid = container.pid().ok_or("the container has no init process")?;
    let pidfd = pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    let deadline = Instant::now() + limits.timeout;

    let mut report = HelperReport::default();
    let mut stdout = Capture::new(limits.output_bytes);
    let mut stderr = Capture::new(limits.output_bytes);
    let mut out = Some(File::from(out_r));
    let mut err = Some(File::from(err_r));
    let mut exited = false;
    let mut drain_until: Option<Instant> = None;

    loop {
        let now = Instant::now();
        if !exited && !report.timed_out && now >= deadline {
            report.timed_out = true;
            let _ = container.kill(Signal::SIGKILL, true);
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
        // After init exits the pid namespace is torn down, so the pipes close at
        // once; the grace period only guards against something unforeseen.
        let limit = match drain_until {
            Some(until) => until,
            // Killed: the exit is a moment away; poll for it in short steps.
            None if report.timed_out => now + Duration::from_millis(200),
            None => deadline,
        };
        if (exited && out.is_none() && err.is_none()) || (exited && now >= limit) {
            break;
        }
        let wait_ms = limit.saturating_duration_since(now).as_millis().min(1000) as u16;
        let mut fds = Vec::with_capacity(3);
        if !exited {
            fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
        }
        if let Some(f) = &out {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
        }
        if let Some(f) = &err {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(wait_ms.max(1))) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        let mut i = 0;
        if !exited {
            if ready[i] {
                exited = true;
                drain_until = Some(Instant::now() + Duration::from_secs(2));
                match waitpid(pid, None) {
                    Ok(WaitStatus::Exited(_, code)) => report.exit_code = Some(code),
                    Ok(WaitStatus::Signaled(_, sig, _)) => report.signal = Some(sig as i32),
                    _ => {}
                }
            }
            i += 1;
        }
        if out.is_some() {
            if ready[i] && !stdout.read_from(out.as_mut().unwrap()) {
                out = None;
            }
            i += 1;
        }
        if err.is_some() && ready[i] && !stderr.read_from(err.as_mut().unwrap()) {
            err = None;
        }
    }
    (report.stdout, report.stdout_dropped) = stdout.finish();
    (report.stderr, report.stderr_dropped) = stderr.finish();
    Ok(report)
}

struct Capture {
    kept: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl Capture {
    fn new(limit: usize) -> Self {
        Capture {
            kept: Vec::new(),
            limit,
            dropped: 0,
        }
    }

    /// Reads what is there; false at end of file.
    fn read_from(&mut self, file: &mut File) -> bool {
        let mut buf = [0u8; 65536];
        match file.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                let room = self.limit.saturating_sub(self.kept.len()).min(n);
                self.kept.extend_from_slice(&buf[..room]);
                self.dropped += (n - room) as u64;
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
            Err(_) => false,
        }
    }

    fn finish(self) -> (String, u64) {
        (
            String::from_utf8_lossy(&self.kept).into_owned(),
            self.dropped,
        )
    }
}

fn pidfd_open(pid: Pid) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[derive(Default)]
struct Counters {
    oom_kills: u64,
    pids_max_hits: u64,
}

/// Where a cgroup path is in every mounted hierarchy: each cgroup v1 controller
/// (hybrid hosts) and the unified one.
fn cgroup_dirs_of(path: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup").join(path)];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        for entry in entries.flatten() {
            let dir = entry.path().join(path);
            if dir.is_dir() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

fn kill_cgroup(dir: &Path) {
    if fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// `key value` lines of a cgroup file.
fn counter(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn cgroup_counters(path: &str) -> Counters {
    let mut c = Counters::default();
    let dirs = cgroup_dirs_of(path);
    for dir in &dirs {
        let found = counter(&dir.join("memory.oom_control"), "oom_kill")
            .or_else(|| counter(&dir.join("memory.events"), "oom_kill"));
        if let Some(n) = found {
            c.oom_kills = n;
            break;
        }
    }
    for dir in &dirs {
        if let Some(n) = counter(&dir.join("pids.events"), "max") {
            c.pids_max_hits = n;
            break;
        }
    }
    c
}

fn tmpfs_is_full(dir: &Path) -> bool {
    nix::sys::statvfs::statvfs(dir)
        .map(|s| s.blocks_available() == 0 || s.files_available() == 0)
        .unwrap_or(false)
}

/// (size, modification time in ns) of every regular file under `root`, by
/// relative path (symlinks and special files are left out, see `files`).
type Snapshot = BTreeMap<String, (u64, i128)>;

fn snapshot(root: &Path) -> Snapshot {
    crate::files::regular_files(root)
        .into_iter()
        .map(|(rel, _, meta)| {
            let mtime = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
            (rel, (meta.len(), mtime))
        })
        .collect()
}

fn copy_in(session: &Path, data: &Path) -> Result<Snapshot, String> {
    let files = snapshot(session);
    let owner = (
        Some(Uid::from_raw(SANDBOX_UID)),
        Some(Gid::from_raw(SANDBOX_UID)),
    );
    for rel in files.keys() {
        let to = data.join(rel);
        let mut parent = to.parent();
        while let Some(dir) = parent.filter(|d| *d != data) {
            if !dir.exists() {
                fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            let _ = chown(dir, owner.0, owner.1);
            parent = dir.parent();
        }
        fs::copy(session.join(rel), &to).map_err(|e| format!("copying {rel} in: {e}"))?;
        let _ = chown(&to, owner.0, owner.1);
        let _ = fs::set_permissions(&to, fs::Permissions::from_mode(0o644));
    }
    // Compare against what is in the tmpfs now: copying changed the mtimes.
    Ok(snapshot(data))
}

fn copy_out(
    data: &Path,
    session: &Path,
    before: &Snapshot,
    after: &Snapshot,
    report: &mut HelperReport,
) -> Result<(), String> {
    // Each file goes through this name beside the session's file directory (same
    // file system, never listed), so a reader never sees half a file.
    let incoming = session.with_file_name("incoming");
    for (rel, stat) in after {
        if before.get(rel) == Some(stat) {
            continue;
        }
        let to = session.join(rel);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        fs::copy(data.join(rel), &incoming).map_err(|e| format!("copying {rel} out: {e}"))?;
        fs::rename(&incoming, &to).map_err(|e| format!("saving {rel}: {e}"))?;
        report.changed.push(rel.clone());
    }
    for rel in before.keys() {
        if !after.contains_key(rel) {
            let _ = fs::remove_file(session.join(rel));
        }
    }
    Ok(())
}
