//! `examples/lobby_client.rs` as a newcomer runs it: the example binary, started twice (`create`
//! then `join CODE` with the code the first one printed) against a real server, both reaching
//! the game start, exchanging game data and leaving.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::start_server;

/// Longest the whole exchange may take once both clients run.
const DEADLINE: Duration = Duration::from_secs(30);

/// Builds the example with the cargo that runs this test (a no-op when it is up to date, as
/// after `cargo test --workspace --all-targets`) and returns the executable's path. Cargo has no
/// `CARGO_BIN_EXE_` for examples; its JSON messages name the artifact instead.
fn example_binary() -> PathBuf {
    let mut cargo = Command::new(env!("CARGO"));
    // Cargo runs this test with the package's own variables set (`CARGO_MANIFEST_DIR`,
    // `CARGO_PKG_NAME`, `OUT_DIR`, …). Build scripts such as ring's watch some of them, so
    // passing them on would make the inner cargo rebuild those crates (and the outer one again
    // after it).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
            || ["CARGO_TARGET_TMPDIR", "CARGO_PRIMARY_PACKAGE", "OUT_DIR"].contains(&&*key);
        if set_by_cargo {
            cargo.env_remove(&*key);
        }
    }
    let out = cargo
        .args([
            "build",
            // Features unified over the workspace, as in the suite's own
            // `cargo test --workspace --all-targets`, which then built the example already.
            "--workspace",
            "--example",
            "lobby_client",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build --example lobby_client failed"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| {
            msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "lobby_client"
        })
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the lobby_client executable")
}

/// A running example whose stdout lines arrive on a channel; killed if the test fails early.
struct Run {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Run {
    fn start(bin: &PathBuf, args: &[&str]) -> Run {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the example starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Run {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one starts with `prefix` (returning the rest of it) or the output ends.
    fn wait_for(&mut self, prefix: &str, until: Instant) -> Option<String> {
        while let Ok(line) = self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line.clone());
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.to_owned());
            }
        }
        None
    }

    /// Reads the rest of the output and the exit status.
    fn finish(&mut self, until: Instant) -> (bool, String) {
        while let Ok(line) = self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        let status = self.child.wait().expect("wait for the example");
        (status.success(), self.seen.join("\n"))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Only a child still running when the test failed is left here.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_example_clients_create_join_start_and_leave() {
    let bin = example_binary();
    let server = start_server();
    let url = format!("ws://127.0.0.1:{}/v2/ws", server.port());
    let until = Instant::now() + DEADLINE;

    let mut host = Run::start(&bin, &["--url", &url, "create"]);
    let code = host
        .wait_for("* room code: ", until)
        .unwrap_or_else(|| panic!("`create` printed no room code:\n{}", host.seen.join("\n")));
    assert_eq!(code.len(), 6, "room code {code:?}");
    let mut guest = Run::start(&bin, &["--url", &url, "join", &code]);

    let (host_ok, host_out) = host.finish(until);
    let (guest_ok, guest_out) = guest.finish(until);
    for (who, ok, out, other) in [
        ("create", host_ok, &host_out, "Guest"),
        ("join", guest_ok, &guest_out, "Host"),
    ] {
        assert!(ok, "`{who}` failed:\n{out}");
        for expected in ["* game starting with 2 players", "* left the room"] {
            assert!(
                out.lines().any(|l| l == expected),
                "`{who}` never printed {expected:?}:\n{out}"
            );
        }
        let from_other = format!(r#""name":"{other}"}}"#);
        assert!(
            out.lines()
                .any(|l| l.starts_with("* game data from") && l.ends_with(&from_other)),
            "`{who}` got no game data from {other}:\n{out}"
        );
    }
    server.shutdown();
}
