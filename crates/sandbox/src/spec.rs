//! The OCI runtime spec (`config.json`) of one execution: what the program may see
//! and use. Everything not listed here is absent: no network (a new, empty network
//! namespace), no capabilities, no `/sys`, a read-only root.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The user programs run as (`nobody`): no file of the rootfs is theirs to write.
pub const SANDBOX_UID: u32 = 65534;
/// Every container's cgroup lives under `chorus-sandbox/<sandbox tag>/`, so a
/// sandbox finds its own leftovers without touching another instance's.
pub const CGROUP_PARENT: &str = "chorus-sandbox";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub pids: i64,
    /// CPU time per wall-clock second (1.0 = one core).
    pub cpus: f64,
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// Per stream (stdout, stderr); the rest is counted and dropped.
    pub output_bytes: usize,
    /// Size of `/mnt/data` (a tmpfs filled from the session and copied back).
    pub session_bytes: u64,
    /// Size of `/tmp` (compilers' output, caches).
    pub tmp_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Compilers and the JVM peaked near 500 MiB in the all-languages test.
            memory_bytes: 768 << 20,
            pids: 128,
            cpus: 1.0,
            timeout: Duration::from_secs(30),
            output_bytes: 1 << 20,
            session_bytes: 128 << 20,
            tmp_bytes: 256 << 20,
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Syscalls a program in the sandbox never needs and that widen the attack surface
/// (kernel modules, mounts, namespaces, tracing, keyrings, BPF, clock and reboot).
/// Everything else is allowed: this is a denylist on top of no capabilities.
const DENIED_SYSCALLS: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "chroot",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "init_module",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "quotactl",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "syslog",
    "umount2",
    "unshare",
    "userfaultfd",
    "vhangup",
];

/// clone(2) flags that would create namespaces; clone3 hides its flags in memory
/// seccomp cannot read, so it reports ENOSYS and libc falls back to clone.
const NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

fn seccomp() -> Value {
    let mut rules = vec![
        json!({"names": DENIED_SYSCALLS, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM}),
        json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}),
    ];
    for flag in NAMESPACE_FLAGS {
        rules.push(json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::EPERM,
            "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
        }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules,
    })
}

/// The spec for running `argv` in `rootfs` with the run directory's `code/` at
/// `/sandbox` (read-only) and its `data/` at `/mnt/data`.
pub fn config(
    cgroup_path: &str,
    rootfs: &Path,
    run_dir: &Path,
    argv: &[String],
    limits: &Limits,
) -> Value {
    let period: u64 = 100_000;
    let quota = (limits.cpus * period as f64).round().max(1000.0) as i64;
    let nosuid = ["nosuid", "nodev"];
    json!({
        "ociVersion": "1.0.2",
        "root": {"path": rootfs, "readonly": true},
        "hostname": "sandbox",
        "process": {
            "terminal": false,
            "user": {"uid": SANDBOX_UID, "gid": SANDBOX_UID},
            "args": argv,
            "env": [
                "PATH=/opt/python/bin:/usr/local/bin:/usr/bin:/bin",
                "HOME=/tmp",
                "LANG=C.UTF-8",
                "TMPDIR=/tmp",
                "MPLCONFIGDIR=/tmp",
                "MPLBACKEND=Agg",
                "GOCACHE=/tmp/go-cache",
                "GOPATH=/tmp/go",
                "GOFLAGS=-buildvcs=false",
                "PYTHONUNBUFFERED=1",
                "PYTHONDONTWRITEBYTECODE=1",
            ],
            "cwd": "/mnt/data",
            "noNewPrivileges": true,
            "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []},
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
            ],
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", format!("size={}", limits.tmp_bytes)]},
            {"destination": "/sandbox", "type": "bind", "source": run_dir.join("code"),
             "options": ["rbind", "ro", nosuid[0], nosuid[1]]},
            {"destination": "/mnt/data", "type": "bind", "source": run_dir.join("data"),
             "options": ["rbind", "rw", nosuid[0], nosuid[1]]},
        ],
        "linux": {
            "cgroupsPath": format!("/{cgroup_path}"),
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"},
            ],
            "resources": {
                "memory": {"limit": limits.memory_bytes, "swap": limits.memory_bytes},
                "pids": {"limit": limits.pids},
                "cpu": {"quota": quota, "period": period},
            },
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
            "seccomp": seccomp(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_a_valid_oci_spec_with_no_network_and_no_capabilities() {
        let value = config(
            "chorus-sandbox/t/c1",
            Path::new("/rootfs"),
            Path::new("/run/x"),
            &["/bin/true".into()],
            &Limits::default(),
        );
        let spec: libcontainer::oci_spec::runtime::Spec =
            serde_json::from_value(value).expect("parses as an OCI spec");
        let linux = spec.linux().as_ref().unwrap();
        let namespaces: Vec<String> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| format!("{:?}", n.typ()))
            .collect();
        assert!(
            namespaces.contains(&"Network".to_string()),
            "{namespaces:?}"
        );
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.user().uid(), SANDBOX_UID);
        assert!(
            process
                .capabilities()
                .as_ref()
                .unwrap()
                .bounding()
                .as_ref()
                .unwrap()
                .is_empty()
        );
        assert!(spec.root().as_ref().unwrap().readonly().unwrap());
    }
}
