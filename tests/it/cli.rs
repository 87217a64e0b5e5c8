//! The binary as an operator runs it: defaults, configuration errors, and signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

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

#[test]
fn no_config_serves_on_3536_and_sigterm_exits_zero() {
    let mut child = server()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // The server prints its start line only once every shard listens: wait for that line.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("start line");
    assert!(line.contains("listening on 0.0.0.0:3536"), "{line}");
    let mut stream = TcpStream::connect(("127.0.0.1", 3536)).expect("connect");
    stream
        .write_all(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("read");
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.ends_with("\r\n\r\nOK"), "{body}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "SIGTERM must exit 0, got {exit:?}");
}
