//! The binary as an operator runs it: defaults, configuration errors, and signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};

use serde_json::json;

use crate::common::{Client, str_of};

fn server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-fish-server"));
    // A directory without config.json, and no inherited SIGNAL_FISH_* variables.
    cmd.current_dir(std::env::temp_dir());
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGNAL_FISH") {
            cmd.env_remove(key);
        }
    }
    // The default file logging would leave logs/ in the shared temp dir (tests/it/logging.rs
    // covers it in a directory of its own).
    cmd.env("SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING", "false");
    cmd
}

#[test]
fn validate_config_with_no_config_describes_the_defaults() {
    let out = server().arg("--validate-config").output().expect("runs");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("Configuration validation passed"),
        "{stdout}"
    );
    assert!(stdout.contains("Port: 3536"), "{stdout}");
    assert!(stdout.contains("Metrics auth required: false"), "{stdout}");
}

#[test]
fn print_config_shows_env_overrides_under_both_prefixes() {
    let out = server()
        .arg("--print-config")
        .env("SIGNAL_FISH_PORT", "4100")
        .env("SIGNAL_FISH__SERVER__PING_TIMEOUT", "12")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(config["port"], 4100);
    assert_eq!(config["server"]["ping_timeout"], 12);
}

#[test]
fn a_bad_value_names_its_key_and_exits_non_zero() {
    for (var, value, key) in [
        ("SIGNAL_FISH_PORT", "abc", "port"),
        (
            "SIGNAL_FISH__SERVER__ROOM_CLEANUP_INTERVAL",
            "0",
            "room_cleanup_interval",
        ),
    ] {
        let out = server().env(var, value).output().expect("runs");
        assert_eq!(out.status.code(), Some(1), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{var}={value}: {stderr}");
    }
}

/// A server process on a free port (`--port 0`, so a server already on 3536 does not matter),
/// with its stderr, once its start line is out.
struct Running {
    child: Child,
    stderr: BufReader<ChildStderr>,
    port: u16,
}

impl Running {
    fn start(cmd: &mut Command) -> Running {
        let mut child = cmd
            .args(["--port", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        // The start line comes once every shard listens, with the port really bound.
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let line = line_with(&mut stderr, "listening on");
        let port = line
            .split("listening on 0.0.0.0:")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in the start line: {line}"));
        assert_ne!(port, 0, "{line}");
        Running {
            child,
            stderr,
            port,
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to end; its exit status and the rest of its stderr.
    fn finish(mut self) -> (ExitStatus, String) {
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).expect("stderr");
        (self.child.wait().expect("exits"), rest)
    }
}

fn next_line(stderr: &mut BufReader<ChildStderr>) -> String {
    let mut line = String::new();
    stderr.read_line(&mut line).expect("a line on stderr");
    line
}

/// The first line of stderr from here on that contains `needle` (log lines may come between).
fn line_with(stderr: &mut BufReader<ChildStderr>, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let line = next_line(stderr);
        assert!(
            !line.is_empty(),
            "no line with {needle:?} on stderr: {seen}"
        );
        if line.contains(needle) {
            return line;
        }
        seen.push_str(&line);
    }
}

fn health(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn the_default_port_is_3536() {
    let out = server().arg("--print-config").output().expect("runs");
    assert!(out.status.success());
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(config["port"], 3536);
    assert_eq!(config["server"]["drain_grace_secs"], 0);
}

#[test]
fn no_config_serves_and_sigterm_exits_zero() {
    let server = Running::start(&mut server());
    let body = health(server.port);
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.ends_with("\r\n\r\nOK"), "{body}");
    server.signal("TERM");
    let (exit, stderr) = server.finish();
    assert!(
        exit.success(),
        "SIGTERM must exit 0, got {exit:?}: {stderr}"
    );
    assert!(stderr.contains("Signal Fish stopped"), "{stderr}");
}

#[test]
fn sigterm_drains_until_the_last_room_ends_then_exits_zero() {
    let mut server = Running::start(server().env("SIGNAL_FISH_SERVER__DRAIN_GRACE_SECS", "60"));
    let port = server.port;
    let mut a = Client::connect(port);
    let room = a.create_room("cli drain", "A", 2);
    let mut b = Client::connect(port);
    b.join_room("cli drain", str_of(&room, "room_code"), "B");
    b.expect("LobbyStateChanged");
    a.expect_player_joined("B");
    a.expect("LobbyStateChanged");

    server.signal("TERM");
    let line = line_with(&mut server.stderr, "draining");
    assert!(
        line.contains("draining for up to 60s with 1 room(s)"),
        "{line}"
    );
    let body = health(port);
    assert!(body.starts_with("HTTP/1.1 503"), "{body}");
    // The room plays on.
    a.send_game_data(json!({"during": "drain"}));
    assert_eq!(b.expect("GameData")["data"], json!({"during": "drain"}));
    // The last room ends: the process closes what is left with 1001 and exits 0.
    b.leave();
    a.expect("PlayerLeft");
    a.expect("LobbyStateChanged");
    a.leave();
    for c in [&mut a, &mut b] {
        assert_eq!(c.expect_close(), Some(1001));
    }
    let (exit, stderr) = server.finish();
    assert!(exit.success(), "{exit:?}: {stderr}");
    assert!(stderr.contains("Drained: no room in play"), "{stderr}");
}

#[test]
fn a_second_signal_ends_the_drain_at_once() {
    let mut server = Running::start(server().env("SIGNAL_FISH__SERVER__DRAIN_GRACE_SECS", "600"));
    let mut a = Client::connect(server.port);
    a.create_room("cli drain", "A", 2);
    server.signal("INT");
    let line = line_with(&mut server.stderr, "draining");
    assert!(line.contains("draining for up to 600s"), "{line}");
    server.signal("TERM");
    assert_eq!(a.expect_close(), Some(1001));
    let (exit, stderr) = server.finish();
    assert!(exit.success(), "{exit:?}: {stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
}

#[test]
fn print_config_validates_first_and_redacts_secrets() {
    let out = server()
        .arg("--print-config")
        .env("SIGNAL_FISH_SERVER__PING_TIMEOUT", "0")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Configuration validation failed:\nserver.ping_timeout must be at least 1"),
        "{stderr}"
    );

    let apps = r#"[{"app_id":"a","app_secret":"app-secret-xyz","app_name":"A"}]"#;
    let out = server()
        .arg("--print-config")
        .env(
            "SIGNAL_FISH_SECURITY__METRICS_AUTH_TOKEN",
            "metrics-token-xyz",
        )
        .env("SIGNAL_FISH_SECURITY__AUTHORIZED_APPS", apps)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("-xyz"), "a secret leaked: {stdout}");
    let config: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(config["security"]["metrics_auth_token"], "<redacted>");
    assert_eq!(
        config["security"]["authorized_apps"][0]["app_secret"],
        "<redacted>"
    );
}

#[test]
fn config_flag_reads_that_file_env_and_port_override_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("custom.json");
    std::fs::write(
        &path,
        r#"{"port": 4200, "server": {"region_id": "file", "ping_timeout": 40}}"#,
    )
    .expect("write");
    let out = server()
        .args(["--print-config", "--config"])
        .arg(&path)
        .env("SIGNAL_FISH_SERVER__REGION_ID", "env")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(config["port"], 4200);
    assert_eq!(config["server"]["ping_timeout"], 40);
    assert_eq!(config["server"]["region_id"], "env");

    // --port beats the file and the environment.
    let out = server()
        .args(["--validate-config", "--port", "4300", "--config"])
        .arg(&path)
        .env("SIGNAL_FISH_PORT", "4400")
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Port: 4300"));

    let out = server()
        .args(["-c", "--config"])
        .arg(dir.path().join("missing.json"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.json (from --config)"), "{stderr}");
}

#[test]
fn help_names_the_environment_and_version_says_what_this_is() {
    let out = server().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "SIGNAL_FISH_CONFIG_JSON",
        "SIGNAL_FISH_CONFIG_PATH",
        "./config.json",
        "SIGNAL_FISH_<SECTION>__<KEY>",
        "SIGNAL_FISH__<SECTION>__<KEY>",
        "--config <PATH>",
        "--port <N>",
        "drain_grace_secs",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}: {help}");
    }
    let out = server().arg("--version").output().expect("runs");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "signal-fish-server {} (Signal Fish; wire-compatible with signal-fish-server 0.1.0)",
            env!("CARGO_PKG_VERSION")
        )
    );
}
