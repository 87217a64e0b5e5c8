//! A real `nats-server` (Debian package `nats-server`) on a free loopback port, in a temporary
//! directory of its own, killed when dropped.
//!
//! Missing binary: with `SIGNAL_FISH_REQUIRE_NATS=1` (as `.ci/run` sets) the test fails naming
//! the package; without it, the test prints a loud `SKIPPED` line on stderr and returns, so a
//! developer without NATS still runs the rest of the suite, and never mistakes the skip for a
//! pass.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest wait for nats-server to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running nats-server.
pub struct Nats {
    child: Child,
    port: u16,
    jetstream: bool,
    binary: PathBuf,
    dir: tempfile::TempDir,
}

/// Where the binary is: on PATH, else Debian's `/usr/sbin` (not on a normal user's PATH).
fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let debian = PathBuf::from("/usr/sbin/nats-server");
        debian.is_file().then_some(debian)
    })
}

/// The binary, or `None` after the SKIPPED line; panics when NATS is required.
fn binary_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(path) = binary() {
        return Some(path);
    }
    let required = std::env::var("SIGNAL_FISH_REQUIRE_NATS").is_ok_and(|v| v.trim() == "1");
    assert!(
        !required,
        "nats-server not found (PATH, /usr/sbin): install the Debian package nats-server \
         (`apt install nats-server`; .ci/run does). SIGNAL_FISH_REQUIRE_NATS=1 forbids skipping {test}."
    );
    eprintln!(
        "SKIPPED {test}: nats-server not found; `apt install nats-server` to run the cluster tests \
         (set SIGNAL_FISH_REQUIRE_NATS=1 to make this a failure)"
    );
    None
}

impl Nats {
    /// nats-server with JetStream on; `None` when skipped (see the module doc).
    pub fn start(test: &str) -> Option<Nats> {
        Self::launch(test, true)
    }

    /// nats-server with JetStream off.
    pub fn start_without_jetstream(test: &str) -> Option<Nats> {
        Self::launch(test, false)
    }

    fn launch(test: &str, jetstream: bool) -> Option<Nats> {
        let binary = binary_or_skip(test)?;
        // A port picked by the kernel may be taken again before nats-server binds it: retry.
        let mut last = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            match spawn(&binary, port, jetstream, dir.path()) {
                Ok(child) => {
                    return Some(Nats {
                        child,
                        port,
                        jetstream,
                        binary,
                        dir,
                    });
                }
                Err(log) => last = log,
            }
        }
        panic!("nats-server did not start:\n{last}");
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and store directory.
    /// `while_down` runs in between.
    pub fn restart(&mut self, while_down: impl FnOnce()) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while_down();
        self.child = spawn(&self.binary, self.port, self.jetstream, self.dir.path())
            .unwrap_or_else(|log| panic!("nats-server did not restart:\n{log}"));
    }

    /// Freezes the server (SIGSTOP) while `frozen` runs, then thaws it (SIGCONT): its
    /// connections stay open and nothing answers, as with a hung server.
    pub fn freeze<T>(&mut self, frozen: impl FnOnce() -> T) -> T {
        let signal = |sig: &str| {
            let pid = self.child.id().to_string();
            let status = Command::new("kill")
                .args([sig, &pid])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill {sig} {pid}");
        };
        signal("-STOP");
        // Thawed even when `frozen` panics, so the server can be killed and reaped.
        struct Thaw(u32);
        impl Drop for Thaw {
            fn drop(&mut self) {
                let _ = Command::new("kill")
                    .args(["-CONT", &self.0.to_string()])
                    .status();
            }
        }
        let _thaw = Thaw(self.child.id());
        frozen()
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nats-server and waits until it is ready; `Err` carries its log.
fn spawn(binary: &Path, port: u16, jetstream: bool, dir: &Path) -> Result<Child, String> {
    let mut cmd = Command::new(binary);
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
    if jetstream {
        cmd.arg("-js").arg("-sd").arg(dir);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    match wait_ready(&mut child) {
        Ok(()) => Ok(child),
        Err(log) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(log)
        }
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Reads nats-server's log (stderr) until it says it is ready; the rest of the log is drained
/// by a thread so the server never blocks on a full pipe. `Err` carries the log so far.
fn wait_ready(child: &mut Child) -> Result<(), String> {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut log = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let ready = line.contains("Server is ready");
                log.push_str(&line);
                log.push('\n');
                if ready {
                    return Ok(());
                }
            }
            // Exited (port taken?) or silent past the deadline.
            Err(_) => return Err(log),
        }
    }
}
