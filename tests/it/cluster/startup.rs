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
fn with_jetstream_the_node_serves_names_itself_and_logs_joining() {
    let Some(nats) = Nats::start("with_jetstream_the_node_serves_names_itself_and_logs_joining")
    else {
        return;
    };
    let mut child = server(&nats.url())
        .env("SIGNAL_FISH_CLUSTER__NODE_ID", "startup-test")
        .env("SIGNAL_FISH_LOGGING__LEVEL", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr"))
        .lines()
        .map_while(Result::ok);
    let listening = lines.next().unwrap_or_default();
    // The JSON records on stdout, read by a thread so a missing one cannot hang the test.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut joined = None;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains("cluster joined") {
            joined = Some(line);
            break;
        }
    }
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
    let record: serde_json::Value =
        serde_json::from_str(&joined.expect("a `cluster joined` record")).expect("JSON record");
    assert_eq!(record["target"], "signal_fish_server::cluster");
    assert_eq!(record["fields"]["node"], "startup-test");
    assert_eq!(record["fields"]["nats_url"], nats.url());
}

#[test]
fn print_config_shows_the_cluster_keys_without_credentials() {
    let out = server("nats://ops:hunter2@nats.internal:4222")
        .env("SIGNAL_FISH__CLUSTER__NODE_ID", "web-7")
        .arg("--print-config")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hunter2"), "{text}");
    let config: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        config["cluster"]["nats_url"],
        "nats://<redacted>@nats.internal:4222"
    );
    assert_eq!(config["cluster"]["node_id"], "web-7");
    assert_eq!(config["cluster"]["connect_timeout_secs"], 2);
    assert_eq!(config["cluster"]["node_ttl_secs"], 6);
}

#[test]
fn a_bad_cluster_key_fails_validation_naming_it() {
    let out = server("nats://127.0.0.1:4222")
        .env("SIGNAL_FISH_CLUSTER__NODE_ID", "has.dot")
        .arg("--validate-config")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cluster.node_id"), "{stderr}");
}
