//! A throwaway SurrealDB server (`chorus-surreal`, built by
//! `scripts/build-surreal.sh`) on a free port with an in-memory store, for
//! tests that run several Chorus instances on one database. Stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "root";
pub const PASSWORD: &str = "chorus-test";

pub struct SurrealServer {
    port: u16,
    child: Child,
}

impl SurrealServer {
    /// Starts the server and waits until it accepts connections. Panics with
    /// what to do when the binary is missing.
    pub fn start() -> Self {
        let bin = binary();
        assert!(
            bin.exists(),
            "{} is missing: run scripts/build-surreal.sh (`make test` does), or set CHORUS_SURREAL_BIN",
            bin.display()
        );
        let port = crate::redis::free_port();
        let child = Command::new(&bin)
            .args(["start", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--user", USER, "--pass", PASSWORD, "--log", "warn"])
            .arg("memory")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let server = Self { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the SurrealDB server did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

impl Drop for SurrealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `CHORUS_SURREAL_BIN`, else where `scripts/build-surreal.sh` puts it.
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("CHORUS_SURREAL_BIN") {
        return bin.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/chorus/target-surreal/release/chorus-surreal")
}
