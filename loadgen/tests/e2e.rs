//! The load generator against our server, started in-process on an ephemeral port.

use std::process::Command;

use serde_json::Value;
use signal_fish_server::config::{AuthorizedApp, Config};
use signal_fish_server::{Server, ServerHandle};

fn start(shards: usize, auth: bool) -> ServerHandle {
    let mut config = Config {
        port: 0,
        ..Config::default()
    };
    config.server.shards = shards;
    // No logs on the test output, no `logs/` directory.
    config.logging.level = Some("off".to_owned());
    config.logging.enable_file_logging = false;
    // Every client connects from 127.0.0.x: lift the per-IP caps (defaults 10 connections,
    // 5 room creations and 20 joins a minute).
    config.security.max_connections_per_ip = 100_000;
    config.rate_limit.max_room_creations = 100_000;
    config.rate_limit.max_join_attempts = 100_000;
    if auth {
        config.security.require_websocket_auth = true;
        config.security.authorized_apps = vec![AuthorizedApp {
            app_id: "bench".into(),
            app_secret: None,
            require_secret: false,
            app_name: "Bench".into(),
            max_rooms: None,
            max_players_per_room: None,
            rate_limit_per_minute: None,
        }];
    }
    Server::start(config).expect("server starts")
}

/// Runs the binary and returns its JSON line.
fn bench(port: u16, args: &[&str]) -> Value {
    let url = format!("ws://127.0.0.1:{port}/v2/ws");
    let out = Command::new(env!("CARGO_BIN_EXE_signal-fish-bench"))
        .args(["--url", &url, "--progress", "0"])
        .args(args)
        .output()
        .expect("bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

#[test]
fn relay_delivers_everything_across_two_shards() {
    let server = start(2, true);
    let pid = std::process::id().to_string();
    let out = bench(
        server.port(),
        &[
            "-n",
            "24",
            "-p",
            "3",
            "-r",
            "50",
            "-d",
            "1",
            "-w",
            "0.3",
            "--server-pid",
            &pid,
        ],
    );
    assert_eq!(out["connect"]["ok"], 24);
    assert_eq!(out["join"]["rooms_ok"], 8, "{}", out["join"]);
    let relay = &out["relay"];
    assert!(relay["sent"].as_u64().unwrap() > 500, "{relay}");
    assert_eq!(relay["expected"], relay["sent"].as_u64().unwrap() * 2);
    assert_eq!(relay["delivery_ratio"], 1.0, "{relay}");
    assert_eq!(relay["gaps"], 0);
    assert!(relay["server"]["rss_kb"].as_u64().unwrap() > 0);
    server.shutdown();
}

#[test]
fn without_authentication_and_with_two_processes() {
    // Auth disabled: Authenticate is ignored silently and the client goes on after its Pong.
    let server = start(1, false);
    let out = bench(
        server.port(),
        &[
            "-n",
            "16",
            "-r",
            "20",
            "-d",
            "1",
            "-w",
            "0.3",
            "--processes",
            "2",
            "--source-ip-count",
            "2",
        ],
    );
    assert_eq!(out["processes"], 2);
    assert_eq!(out["connect"]["ok"], 16);
    assert_eq!(out["relay"]["delivery_ratio"], 1.0, "{}", out["relay"]);
    server.shutdown();
}

#[test]
fn idle_and_ramp_modes() {
    let server = start(1, true);
    let pid = std::process::id().to_string();
    let idle = bench(
        server.port(),
        &[
            "--mode",
            "idle",
            "-n",
            "50",
            "--idle-settle",
            "0.2",
            "--server-pid",
            &pid,
        ],
    );
    assert_eq!(idle["idle"]["open"], 50);
    assert!(idle["idle"]["rss_per_conn_bytes"].is_number());
    let ramp = bench(
        server.port(),
        &[
            "--mode",
            "ramp",
            "-n",
            "8",
            "--ramp-start",
            "10",
            "--ramp-factor",
            "2",
            "--ramp-max",
            "20",
            "--ramp-duration",
            "0.5",
            "--ramp-warmup",
            "0.2",
            "--ramp-pause",
            "0",
            "--ramp-p99-ms",
            "1000",
        ],
    );
    let steps = ramp["ramp"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{ramp}");
    assert_eq!(
        ramp["ramp"]["max_sustainable"]["rate_per_player"], 20.0,
        "{ramp}"
    );
    server.shutdown();
}

#[test]
fn join_mode_paced_rooms_with_and_without_background() {
    let server = start(1, true);
    let pid = std::process::id().to_string();
    // Paced rooms beside two relay rooms; members connect right before their JoinRoom.
    let loaded = bench(
        server.port(),
        &[
            "--mode",
            "join",
            "-n",
            "8",
            "-p",
            "4",
            "-r",
            "20",
            "-w",
            "0.3",
            "--join-rooms",
            "5",
            "--join-rate",
            "50",
            "--server-pid",
            &pid,
        ],
    );
    let paced = &loaded["paced"];
    assert_eq!(paced["rooms_ok"], 5, "{paced}");
    assert_eq!(paced["create"]["count"], 5, "{paced}");
    assert_eq!(paced["join"]["count"], 15, "{paced}");
    // Joiner k is announced to the k members before it: 1 + 2 + 3 per room of 4.
    assert_eq!(paced["player_joined"]["count"], 30, "{paced}");
    assert_eq!(paced["player_joined_from_request"]["count"], 30, "{paced}");
    assert_eq!(paced["player_joined_missing"], 0, "{paced}");
    assert_eq!(paced["connect"]["count"], 20, "{paced}");
    for key in ["create", "join", "player_joined"] {
        assert!(
            paced[key]["p50_ms"].as_f64().unwrap() > 0.0,
            "{key}: {paced}"
        );
        assert!(
            paced[key]["max_ms"].as_f64().unwrap() < 1000.0,
            "{key}: {paced}"
        );
    }
    assert_eq!(loaded["join_connect"], "fresh");
    assert_eq!(
        loaded["relay"]["delivery_ratio"], 1.0,
        "{}",
        loaded["relay"]
    );
    assert!(loaded["relay"]["sent"].as_u64().unwrap() > 0);

    // An idle server, members connected beforehand.
    let idle = bench(
        server.port(),
        &[
            "--mode",
            "join",
            "-n",
            "0",
            "-p",
            "3",
            "--join-rooms",
            "4",
            "--join-rate",
            "40",
            "--join-connect",
            "ahead",
        ],
    );
    let paced = &idle["paced"];
    assert_eq!(paced["rooms_ok"], 4, "{paced}");
    assert_eq!(paced["join"]["count"], 8, "{paced}");
    assert_eq!(paced["player_joined"]["count"], 12, "{paced}");
    assert_eq!(paced["connect"]["count"], 0, "{paced}");
    assert_eq!(idle["connect"]["ok"], 12);
    assert!(idle.get("relay").is_none());
    server.shutdown();
}
