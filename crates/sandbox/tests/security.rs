//! What a program must not be able to do, each contained and reported clearly.

mod common;

use std::time::{Duration, Instant};

use chorus_sandbox::{ExecRequest, FileRef, Language, Limits, SandboxError};
use common::*;

fn small() -> Limits {
    Limits {
        memory_bytes: 128 << 20,
        pids: 64,
        timeout: Duration::from_secs(3),
        output_bytes: 64 << 10,
        session_bytes: 8 << 20,
        ..Limits::default()
    }
}

#[tokio::test]
async fn an_infinite_loop_is_killed_at_the_time_limit() {
    let (sandbox, _work) = sandbox(small()).await;
    let started = Instant::now();
    let out = run(
        &sandbox,
        Language::Py,
        "print('start', flush=True)\nwhile True: pass",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(out.timed_out, "{out:#?}");
    assert_eq!(out.stdout, "start\n", "output before the kill is kept");
    assert!(out.stderr.contains("time limit of 3 s"), "{}", out.stderr);
}

#[tokio::test]
async fn a_memory_hog_is_killed_and_reported_as_out_of_memory() {
    let (sandbox, _work) = sandbox(small()).await;
    let out = run(
        &sandbox,
        Language::Py,
        "x = []\nwhile True: x.append(bytearray(8 << 20))",
    )
    .await;
    assert!(out.oom_killed, "{out:#?}");
    assert!(!out.timed_out);
    assert!(
        out.stderr.contains("out of memory (the limit is 128 MiB)"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_fork_bomb_stops_at_the_process_limit() {
    let (sandbox, _work) = sandbox(small()).await;
    let out = run(
        &sandbox,
        Language::Bash,
        "bomb() { bomb | bomb & }; bomb; sleep 1; echo survived",
    )
    .await;
    assert!(out.pids_limited, "{out:#?}");
    assert!(out.stderr.contains("process limit (64)"), "{}", out.stderr);
    // The host is fine and the next execution runs normally.
    let next = run(&sandbox, Language::Bash, "echo ok").await;
    assert_eq!(next.stdout, "ok\n");
}

#[tokio::test]
async fn there_is_no_network() {
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    host.set_nonblocking(true).unwrap();
    let (sandbox, _work) = sandbox(small()).await;
    let code = format!(
        "import socket\n\
         for addr in [('127.0.0.1', {port}), ('1.1.1.1', 80), ('deb.debian.org', 80)]:\n\
         \x20   try:\n\
         \x20       socket.create_connection(addr, timeout=1); print('connected', addr)\n\
         \x20   except OSError as e:\n\
         \x20       print('refused', addr[0], type(e).__name__)\n\
         print(open('/proc/net/dev').read().count(':'))\n"
    );
    let out = run(&sandbox, Language::Py, &code).await;
    assert!(!out.stdout.contains("connected"), "{out:#?}");
    assert_eq!(out.stdout.matches("refused").count(), 3, "{out:#?}");
    // Only the loopback interface exists (and it is down).
    assert!(out.stdout.ends_with("1\n"), "{out:#?}");
    assert!(
        host.accept().is_err(),
        "the host's listener saw a connection"
    );
}

#[tokio::test]
async fn host_files_are_out_of_reach_and_the_rootfs_is_read_only() {
    let marker = format!("host-secret-{}", std::process::id());
    let host_file = std::env::temp_dir().join(&marker);
    std::fs::write(&host_file, "TOP SECRET").unwrap();
    let (sandbox, _work) = sandbox(small()).await;
    let code = format!(
        "for p in /tmp/{marker} /proc/1/root/tmp/{marker} /root/.bash_history /etc/shadow; do cat $p 2>/dev/null && echo \"read $p\"; done\n\
         touch /usr/bin/evil 2>&1 || echo 'no write to /usr/bin'\n\
         echo x > /etc/passwd 2>&1 || echo 'no write to /etc'\n\
         ls /sys 2>&1 | wc -l\n\
         id -u\n"
    );
    let out = run(&sandbox, Language::Bash, &code).await;
    assert!(!out.stdout.contains("TOP SECRET"), "{out:#?}");
    assert!(!out.stdout.contains("read /tmp"), "{out:#?}");
    assert!(out.stdout.contains("no write to /usr/bin"), "{out:#?}");
    assert!(out.stdout.contains("no write to /etc"), "{out:#?}");
    assert!(
        out.stdout.ends_with("0\n65534\n"),
        "no /sys, runs as nobody: {out:#?}"
    );
    assert!(!rootfs().join("usr/bin/evil").exists());
    std::fs::remove_file(host_file).unwrap();
}

#[tokio::test]
async fn proc_sys_mount_and_ptrace_tricks_fail() {
    let (sandbox, _work) = sandbox(small()).await;
    let out = run(
        &sandbox,
        Language::Bash,
        "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status\n\
         echo b > /proc/sysrq-trigger 2>/dev/null || echo 'sysrq refused'\n\
         echo 1 > /proc/sys/kernel/panic 2>/dev/null || echo 'sysctl refused'\n\
         echo kcore $(head -c 16 /proc/kcore 2>/dev/null | wc -c)\n\
         mkdir -p /tmp/m && (mount -t tmpfs none /tmp/m 2>/dev/null && echo mounted || echo 'mount refused')\n\
         (unshare -r true 2>/dev/null && echo unshared || echo 'unshare refused')\n\
         /opt/python/bin/python3 -c 'import ctypes; print(\"ptrace\", ctypes.CDLL(None).ptrace(0, 0, 0, 0))'\n",
    )
    .await;
    let s = &out.stdout;
    assert!(s.contains("CapEff:\t0000000000000000"), "{out:#?}");
    assert!(s.contains("CapBnd:\t0000000000000000"), "{out:#?}");
    assert!(s.contains("NoNewPrivs:\t1"), "{out:#?}");
    assert!(s.contains("Seccomp:\t2"), "{out:#?}");
    assert!(
        s.contains("sysrq refused") && s.contains("sysctl refused"),
        "{out:#?}"
    );
    assert!(s.contains("kcore 0\n"), "/proc/kcore is masked: {out:#?}");
    assert!(
        s.contains("mount refused") && s.contains("unshare refused"),
        "{out:#?}"
    );
    assert!(s.contains("ptrace -1"), "{out:#?}");
}

#[tokio::test]
async fn a_huge_stdout_is_cut_and_said_so() {
    let (sandbox, _work) = sandbox(small()).await;
    let out = run(
        &sandbox,
        Language::Bash,
        "head -c 50000000 /dev/zero | tr '\\0' x; echo done >&2",
    )
    .await;
    assert_eq!(out.stdout.len(), 64 << 10);
    assert!(out.output_truncated);
    assert_eq!(
        out.exit_code,
        Some(0),
        "the program was not blocked on a full pipe"
    );
    assert!(out.stderr.starts_with("done\n"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("stdout was cut at 64 KiB (49934464 more bytes dropped)"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_file_bomb_fills_only_the_session_limit() {
    let (sandbox, work) = sandbox(small()).await;
    let out = run(
        &sandbox,
        Language::Py,
        "i = 0\n\
         try:\n\
         \x20   while True:\n\
         \x20       open(f'f{i}', 'wb').write(b'x' * (1 << 20)); i += 1\n\
         except OSError as e:\n\
         \x20   print('stopped:', e.strerror)\n",
    )
    .await;
    assert!(
        out.stdout.contains("stopped: No space left on device"),
        "{out:#?}"
    );
    assert!(out.session_full, "{out:#?}");
    assert!(
        out.stderr
            .contains("/mnt/data is full (the session limit is 8 MiB)"),
        "{}",
        out.stderr
    );
    let on_disk: u64 = walk_size(
        &work
            .path()
            .join("sessions")
            .join(&out.session_id)
            .join("files"),
    );
    assert!(on_disk <= 8 << 20, "{on_disk} bytes kept");
}

fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                walk_size(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

#[tokio::test]
async fn symlinks_made_inside_do_not_leak_host_files_out() {
    let (sandbox, _work) = sandbox(small()).await;
    let out = run(
        &sandbox,
        Language::Bash,
        "ln -s /etc/hostname link; ln -s /proc/self/environ env; echo ok",
    )
    .await;
    assert_eq!(out.stdout, "ok\n");
    assert!(
        out.files.is_empty(),
        "links are not files to hand out: {out:#?}"
    );
}

#[tokio::test]
async fn many_executions_at_once_all_finish() {
    let (sandbox, _work) = sandbox(Limits::default()).await;
    let runs = (0..24).map(|i| {
        let sandbox = &sandbox;
        async move { run(sandbox, Language::Py, &format!("print({i} * 2)")).await }
    });
    let outs = futures::future::join_all(runs).await;
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.stdout, format!("{}\n", i * 2), "{out:#?}");
    }
}

#[tokio::test]
async fn one_user_cannot_use_another_users_session_or_files() {
    let (sandbox, _work) = sandbox(small()).await;
    let session = session_with(&sandbox, "secret.txt", b"alice's").await;
    let file = sandbox
        .sessions()
        .list("alice", &session)
        .unwrap()
        .remove(0);

    let in_session = sandbox
        .exec(
            "bob",
            ExecRequest {
                session_id: Some(session.clone()),
                ..req(Language::Bash, "cat secret.txt")
            },
        )
        .await;
    assert!(
        matches!(in_session, Err(SandboxError::NotFound)),
        "{in_session:?}"
    );

    let by_reference = sandbox
        .exec(
            "bob",
            ExecRequest {
                files: vec![FileRef {
                    session_id: session.clone(),
                    id: file.id.clone(),
                    name: None,
                }],
                ..req(Language::Bash, "cat secret.txt")
            },
        )
        .await;
    assert!(
        matches!(by_reference, Err(SandboxError::NotFound)),
        "{by_reference:?}"
    );
    assert!(matches!(
        sandbox.sessions().file("bob", &session, &file.id),
        Err(SandboxError::NotFound)
    ));

    // Alice herself can bring the file into a new session.
    let out = sandbox
        .exec(
            "alice",
            ExecRequest {
                files: vec![FileRef {
                    session_id: session,
                    id: file.id,
                    name: None,
                }],
                ..req(Language::Bash, "cat secret.txt")
            },
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, "alice's");
}

#[tokio::test]
async fn a_caller_that_gives_up_leaves_no_container_behind() {
    let (sandbox, work) = sandbox(Limits {
        timeout: Duration::from_secs(2),
        ..small()
    })
    .await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(500),
        sandbox.exec("alice", req(Language::Bash, "while :; do :; done")),
    )
    .await;
    assert!(gave_up.is_err(), "still running when the caller left");
    // The run still ends at its time limit and deletes its container.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let state: Vec<_> = std::fs::read_dir(work.path().join("state"))
        .unwrap()
        .collect();
    assert!(state.is_empty(), "container state left: {state:?}");
    let runs: Vec<_> = std::fs::read_dir(work.path().join("runs"))
        .unwrap()
        .collect();
    assert!(runs.is_empty(), "bundle left: {runs:?}");
    let next = run(&sandbox, Language::Bash, "echo ok").await;
    assert_eq!(next.stdout, "ok\n");
}

/// (pid, parent pid, name) of every process on the host.
fn processes() -> Vec<(i32, i32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(") ")?;
            let comm = head.split_once(" (")?.1.to_string();
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, comm))
        })
        .collect()
}

/// Processes inside the container `id` (its cgroup path names it).
fn in_container(id: &str) -> Vec<(i32, i32, String)> {
    processes()
        .into_iter()
        .filter(|(pid, _, _)| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(id))
        })
        .collect()
}

#[tokio::test]
async fn a_crashed_helper_is_reported_and_its_container_is_cleaned_at_the_next_start() {
    let (sandbox, work) = sandbox(small()).await;
    let state = work.path().join("state");
    let running = tokio::spawn(async move {
        let out = sandbox
            .exec("alice", req(Language::Bash, "while :; do :; done"))
            .await;
        (sandbox, out)
    });
    // Wait for the program to run, then kill its helper as a crash would.
    let mut helper = None;
    let mut container = String::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Some(entry) = std::fs::read_dir(&state).unwrap().flatten().next() else {
            continue;
        };
        container = entry.file_name().to_string_lossy().into_owned();
        let all = processes();
        helper = in_container(&container).iter().find_map(|(_, ppid, _)| {
            all.iter()
                .find(|(pid, _, comm)| pid == ppid && comm.starts_with("chorus-sandbox"))
                .map(|p| p.0)
        });
        if helper.is_some() {
            break;
        }
    }
    let helper = helper.expect("the helper and its container are running");
    let killed = std::process::Command::new("kill")
        .args(["-9", &helper.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (sandbox, out) = running.await.unwrap();
    let err = out.expect_err("the run cannot succeed without its helper");
    assert!(
        err.to_string().contains("the helper ended with signal: 9"),
        "{err}"
    );
    // The container outlived its helper (still looping); the next start, as after
    // a server crash, kills and deletes it.
    assert!(
        !in_container(&container).is_empty(),
        "the orphaned program still runs"
    );
    drop(sandbox);
    let again = chorus_sandbox::Sandbox::start(chorus_sandbox::SandboxConfig {
        rootfs: rootfs(),
        work_dir: work.path().to_path_buf(),
        helper: chorus_sandbox::HelperCommand {
            program: env!("CARGO_BIN_EXE_chorus-sandbox-helper").into(),
            args: vec![],
        },
        concurrency: 1,
        limits: small(),
    })
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "container state removed"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        in_container(&container).is_empty(),
        "the orphaned program was killed"
    );
    let out = again
        .exec("alice", req(Language::Bash, "echo fine"))
        .await
        .unwrap();
    assert_eq!(out.stdout, "fine\n");
}
