//! Logging (decision 21) through a real server: file logging in a temp dir, records of a join
//! and an authentication failure with the real client address, and a flood of refused
//! connections from one address written as a few records, not one per socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use signal_fish_server::config::{AuthorizedApp, Config, LogFormat, LogRotation};

use crate::common::{Client, start_with, str_of, tcp_connect};

/// Records each (kind, address) may write per flood window before the rest are summarised
/// (`log::queue::FLOOD_BURST`).
const FLOOD_BURST: usize = 5;

fn file_logging(c: &mut Config, dir: &std::path::Path) {
    c.logging.level = Some("info".to_owned());
    c.logging.enable_file_logging = true;
    c.logging.dir = dir.display().to_string();
    c.logging.filename = "server.log".to_owned();
    c.logging.rotation = LogRotation::Never;
    c.logging.format = LogFormat::Json;
    c.security.require_websocket_auth = true;
    c.security.authorized_apps.push(AuthorizedApp {
        app_id: "kart-racer".to_owned(),
        app_secret: None,
        require_secret: false,
        app_name: "Kart Racer".to_owned(),
        max_rooms: None,
        max_players_per_room: None,
        rate_limit_per_minute: None,
    });
}

/// Every record in the log file, parsed.
fn records(dir: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("server.log")).expect("log file exists");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn message(record: &Value) -> &str {
    record["fields"]["message"].as_str().unwrap_or_default()
}

/// The records with this message whose client address is `ip`.
fn about<'a>(records: &'a [Value], msg: &str, ip: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| message(r) == msg && r["fields"]["client_ip"] == ip)
        .collect()
}

#[test]
fn the_log_file_has_joins_and_auth_failures_with_the_client_address() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("logs");
    let server = start_with(|c| file_logging(c, &dir));

    let mut player = Client::connect_from(server.port(), [127, 0, 0, 2]);
    player.authenticate(
        json!({"app_id": "kart-racer", "platform": "unity", "sdk_version": "1.12.0"}),
    );
    let joined = player.create_room("kart", "Ada", 4);

    let mut stranger = Client::connect_from(server.port(), [127, 0, 0, 3]);
    stranger.send(json!({"type":"Authenticate","data":{"app_id":"who-knows"}}));
    stranger.expect("AuthenticationError");
    assert_eq!(stranger.expect_close(), Some(1008));

    player.leave();
    server.shutdown();

    let records = records(&dir);
    assert_eq!(message(&records[0]), "server started", "{:#?}", records[0]);
    assert_eq!(records[0]["target"], "signal_fish_server::server");
    assert_eq!(message(records.last().expect("records")), "server stopped");
    for record in &records {
        assert!(
            record["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
    }

    let join = about(&records, "player joined room", "127.0.0.2");
    assert_eq!(join.len(), 1, "{records:#?}");
    assert_eq!(join[0]["level"], "INFO");
    assert_eq!(join[0]["target"], "signal_fish_server::room");
    assert_eq!(join[0]["fields"]["room_id"], str_of(&joined, "room_id"));
    assert_eq!(join[0]["fields"]["player_id"], str_of(&joined, "player_id"));
    assert_eq!(join[0]["fields"]["shard"], player.shard);

    let created: Vec<_> = records
        .iter()
        .filter(|r| message(r) == "room created")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0]["fields"]["room_code"],
        str_of(&joined, "room_code")
    );
    assert_eq!(created[0]["fields"]["game"], "kart");

    assert_eq!(about(&records, "player left room", "127.0.0.2").len(), 1);
    assert_eq!(
        about(&records, "client authenticated", "127.0.0.2").len(),
        1
    );

    let failed = about(&records, "authentication failed", "127.0.0.3");
    assert_eq!(failed.len(), 1, "{records:#?}");
    assert_eq!(failed[0]["level"], "WARN");
    assert_eq!(failed[0]["fields"]["app_id"], "who-knows");
    assert_eq!(failed[0]["fields"]["error_code"], "INVALID_APP_ID");

    for ip in ["127.0.0.2", "127.0.0.3"] {
        assert_eq!(about(&records, "connection opened", ip).len(), 1, "{ip}");
        assert_eq!(about(&records, "connection closed", ip).len(), 1, "{ip}");
    }
    let closed = &about(&records, "connection closed", "127.0.0.3")[0]["fields"];
    assert_eq!(closed["close_code"], 1008);
    assert_eq!(closed["reason"], "authentication failed");
}

#[test]
fn a_flood_of_refused_connections_is_written_as_a_few_records() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("logs");
    let server = start_with(|c| {
        file_logging(c, &dir);
        c.security.max_connections_per_ip = 1;
    });
    // This connection holds the address's only slot for the whole test.
    let _holder = Client::connect_from(server.port(), [127, 0, 0, 4]);
    let refused = 20;
    for _ in 0..refused {
        // Refused at accept: a health request gets its answer (while the address has
        // refusal places left) or the socket is closed; either way it ends.
        let mut socket = tcp_connect(server.port(), Some([127, 0, 0, 4]));
        let _ = socket.write_all(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest);
    }
    server.shutdown();

    let records = records(&dir);
    let refusals = about(&records, "limit reached", "127.0.0.4");
    assert_eq!(refusals.len(), FLOOD_BURST, "{records:#?}");
    for record in refusals {
        assert_eq!(record["level"], "WARN");
        assert_eq!(record["fields"]["limit"], "security.max_connections_per_ip");
    }
    // The rest are one summary, written when the shard stopped (before its 10 s were over).
    let summaries: Vec<_> = records
        .iter()
        .filter(|r| r["fields"]["of"] == "limit reached" && r["fields"]["client_ip"] == "127.0.0.4")
        .collect();
    assert_eq!(summaries.len(), 1, "{records:#?}");
    let held_back = refused - FLOOD_BURST;
    assert_eq!(summaries[0]["fields"]["suppressed"], held_back);
    assert_eq!(summaries[0]["level"], "WARN");
    assert_eq!(
        summaries[0]["fields"]["limit"],
        "security.max_connections_per_ip"
    );
    let text = message(summaries[0]);
    assert!(
        text.starts_with(&format!(
            "{held_back} similar records suppressed in the last "
        )),
        "{text}"
    );
}

#[test]
fn the_binary_logs_json_on_stdout_and_keeps_its_start_line_first_on_stderr() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-fish-server"));
    cmd.current_dir(dir.path());
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGNAL_FISH") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    // Defaults otherwise: json at info, on stdout and in logs/server.log.<date>.
    let mut child = cmd
        .env("SIGNAL_FISH_PORT", "0")
        .env("SIGNAL_FISH_SERVER__SHARDS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut start = String::new();
    stderr.read_line(&mut start).expect("start line");
    let port = start
        .split_once("listening on 0.0.0.0:")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the start line comes first on stderr: {start}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first record");
    let started: Value = serde_json::from_str(&first).expect("stdout carries JSON records");
    assert_eq!(message(&started), "server started");
    assert_eq!(started["fields"]["addr"], format!("0.0.0.0:{port}"));
    assert_eq!(started["fields"]["log_filter"], "info");
    // One request served (a record-free health check) before the signal, as an operator's
    // probe would: the binary installs its signal handler right after the start line.
    let port: u16 = port.parse().expect("port");
    let (status, _) = crate::common::http_get(port, "GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("the rest of stdout");
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "SIGTERM must exit 0, got {exit:?}");
    let last: Value =
        serde_json::from_str(rest.lines().last().expect("more records")).expect("JSON");
    assert_eq!(message(&last), "server stopped");

    let logs: Vec<_> = std::fs::read_dir(dir.path().join("logs"))
        .expect("logs/ created")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(logs.len(), 1);
    let name = logs[0].file_name().to_string_lossy().into_owned();
    assert!(
        name.starts_with("server.log.20"),
        "daily rotation by default: {name}"
    );
    let file = std::fs::read_to_string(logs[0].path()).expect("log file");
    assert_eq!(file.lines().next(), Some(first.trim_end()));
}
