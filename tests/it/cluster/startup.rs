//! The startup check, with the real binary: unreachable NATS and JetStream off each end the
//! process with exit 1 and a one-line reason; a reachable NATS with JetStream lets it serve.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::nats::{Nats, free_port};

/// The binary with no inherited configuration, no file logging, a free port.
fn server(nats_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-fish-server"));
    cmd.current_dir(std::env::temp_dir());
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGNAL_FISH") {
            cmd.env_remove(key);
        }
    }
    cmd.env("SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING", "false")
        .env("SIGNAL_FISH_LOGGING__LEVEL", "off")
        .env("SIGNAL_FISH_SERVER__SHARDS", "1")
        .env("SIGNAL_FISH_SERVER__HOST", "127.0.0.1")
        .env("SIGNAL_FISH_PORT", free_port().to_string())
        .env("SIGNAL_FISH_CLUSTER__NATS_URL", nats_url)
        .env("SIGNAL_FISH_CLUSTER__CONNECT_TIMEOUT_SECS", "2");
    cmd
}

/// Runs the binary to its end; returns (exit code, stderr, how long it ran).
fn run_to_exit(mut cmd: Command) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn unreachable_nats_exits_1_with_the_reason_and_no_credentials() {
    // Nobody listens on this port: connection refused.
    let url = format!("nats://ops:hunter2@127.0.0.1:{}", free_port());
    let (code, stderr, took) = run_to_exit(server(&url));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach NATS at nats://<redacted>@127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("cluster.nats_url"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "credentials leaked: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn a_silent_nats_address_exits_1_within_the_connect_timeout() {
    // Accepts TCP but never speaks NATS: only the timeout ends the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("nats://{}", silent.local_addr().expect("addr"));
    let (code, stderr, took) = run_to_exit(server(&url));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach NATS at"), "{stderr}");
    assert!(took < Duration::from_secs(8), "took {took:?}: {stderr}");
}

#[test]
fn jetstream_off_exits_1_saying_so() {
    let Some(nats) = Nats::start_without_jetstream("jetstream_off_exits_1_saying_so") else {
        return;
    };
    let (code, stderr, _) = run_to_exit(server(&nats.url()));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("JetStream off"), "{stderr}");
    assert!(stderr.contains("-js"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn with_jetstream_the_node_serves_and_names_itself() {
    let Some(nats) = Nats::start("with_jetstream_the_node_serves_and_names_itself") else {
        return;
    };
    let mut child = server(&nats.url())
        .env("SIGNAL_FISH_CLUSTER__NODE_ID", "startup-test")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr"))
        .lines()
        .map_while(Result::ok);
    let listening = lines.next().unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        listening.starts_with("Signal Fish listening on"),
        "{listening}"
    );
    assert!(
        listening.contains("cluster node startup-test"),
        "{listening}"
    );
}
