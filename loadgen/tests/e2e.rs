//! The load generator against our server, started in-process on an ephemeral port.

use std::process::Command;

use serde_json::Value;
use signal_fish_server::config::{AuthorizedApp, Config};
use signal_fish_server::{Server, ServerHandle};

/// No logs on the test output, no `logs/` directory in the working directory.
fn quiet(mut config: Config) -> Config {
    config.logging.level = Some("off".to_owned());
    config.logging.enable_file_logging = false;
    config
}

fn start(shards: usize, auth: bool) -> ServerHandle {
    let mut config = Config {
        port: 0,
        ..Config::default()
    };
    config.server.shards = shards;
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
    Server::start(quiet(config)).expect("server starts")
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

/// Runs the binary expecting it to fail the run; returns its JSON line and stderr.
fn bench_failing(port: u16, args: &[&str]) -> (Value, String) {
    let out = bench_output(port, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run should fail (exit 1):\n{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (json, stderr)
}

fn bench_output(port: u16, args: &[&str]) -> std::process::Output {
    let url = format!("ws://127.0.0.1:{port}/v2/ws");
    Command::new(env!("CARGO_BIN_EXE_signal-fish-bench"))
        .args(["--url", &url, "--progress", "0", "--setup-timeout", "5"])
        .args(args)
        .output()
        .expect("bench runs")
}

/// A relay run short enough for tests: 8 players in rooms of 4.
const SHORT_RELAY: &[&str] = &["-n", "8", "-p", "4", "-r", "10", "-d", "0.5", "-w", "0"];

#[test]
fn nothing_listening_fails_the_run() {
    // A port that was free a moment ago: every connect is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (out, stderr) = bench_failing(port, SHORT_RELAY);
    assert_eq!(out["failures"]["connections"], 8, "{out}");
    assert!(
        stderr.contains("failures: 8 connections"),
        "no failure summary:\n{stderr}"
    );
    // It stopped after the connect phase instead of "measuring" empty rooms.
    assert!(out.get("relay").is_none(), "{out}");
}

#[test]
fn refused_connections_fail_the_run_unless_tolerated() {
    // 4 connections per IP for 8 players (all of them from 127.0.0.1).
    let start_capped = || {
        let mut config = Config {
            port: 0,
            ..Config::default()
        };
        config.server.shards = 1;
        config.security.max_connections_per_ip = 4;
        config.rate_limit.max_room_creations = 100_000;
        config.rate_limit.max_join_attempts = 100_000;
        Server::start(quiet(config)).expect("server starts")
    };
    let server = start_capped();
    let (out, stderr) = bench_failing(server.port(), SHORT_RELAY);
    assert_eq!(out["connect"]["ok"], 4, "{out}");
    assert_eq!(out["failures"]["connections"], 4, "{out}");
    assert!(stderr.contains("TOO_MANY_CONNECTIONS"), "{stderr}");
    server.shutdown();

    let server = start_capped();
    let mut args = SHORT_RELAY.to_vec();
    args.extend(["--max-failures", "10"]);
    let out = bench_output(server.port(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tolerated failures still failed:\n{stderr}"
    );
    assert!(stderr.contains("failures: 4 connections"), "{stderr}");
    server.shutdown();
}

#[test]
fn refused_room_creations_fail_the_run() {
    let mut config = Config {
        port: 0,
        ..Config::default()
    };
    config.server.shards = 1;
    config.security.max_connections_per_ip = 100_000;
    config.rate_limit.max_room_creations = 1;
    config.rate_limit.max_join_attempts = 100_000;
    let server = Server::start(quiet(config)).expect("server starts");
    let (out, stderr) = bench_failing(server.port(), SHORT_RELAY);
    assert_eq!(out["failures"]["connections"], 0, "{out}");
    assert_eq!(out["failures"]["rooms"], 1, "{out}");
    assert_eq!(out["join"]["rooms_ok"], 1, "{out}");
    assert!(stderr.contains("RATE_LIMIT_EXCEEDED"), "{stderr}");
    server.shutdown();
}

#[test]
fn the_shipped_bench_config_lifts_every_limit_the_generator_meets() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let path = root.join("benches/config.json");
    let env = [(
        "SIGNAL_FISH_CONFIG_PATH".to_owned(),
        path.display().to_string(),
    )];
    let mut config = Config::load_from(&env, root).expect("benches/config.json loads");
    assert!(
        config.security.require_websocket_auth,
        "the bench measures Authenticate too"
    );
    config.port = 0;
    config.server.shards = 1;
    let server = Server::start(quiet(config)).expect("server starts");
    // 24 connections from one address and 12 room creations: over the defaults (10 and 5).
    let out = bench(
        server.port(),
        &["-n", "24", "-p", "2", "-r", "10", "-d", "0.5", "-w", "0"],
    );
    assert_eq!(out["failures"]["total"], 0, "{out}");
    assert_eq!(out["join"]["rooms_ok"], 12, "{out}");
    assert_eq!(out["relay"]["delivery_ratio"], 1.0, "{out}");
    server.shutdown();
}

#[test]
fn members_after_the_creator_go_to_the_next_url() {
    // Two servers that know nothing of each other: with `--url A,B` and rooms of 2, every
    // joiner connects to B, which has never heard of the code the creator got from A.
    let a = start(1, true);
    let b = start(1, true);
    let b_url = format!("ws://127.0.0.1:{}/v2/ws", b.port());
    let mut args = vec!["--url", &b_url];
    args.extend_from_slice(&["-n", "4", "-p", "2", "-r", "10", "-d", "0.5", "-w", "0"]);
    let (out, stderr) = bench_failing(a.port(), &args);
    assert_eq!(out["failures"]["rooms"], 2, "{out}\n{stderr}");
    assert_eq!(out["failures"]["connections"], 0, "{out}");
    assert!(stderr.contains("ROOM_NOT_FOUND"), "{stderr}");
    assert_eq!(
        out["url"],
        format!("ws://127.0.0.1:{}/v2/ws,{b_url}", a.port())
    );
    a.shutdown();
    b.shutdown();
}

#[test]
fn kill_mode_kills_the_given_process_and_reports_who_was_told() {
    // Both URLs name one server (no cluster), and the process to kill is a stand-in: the
    // members on the "other node" are never told anything, and the run says so.
    let server = start(1, true);
    let url = format!("ws://127.0.0.1:{}/v2/ws", server.port());
    let mut victim = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep (coreutils) starts");
    let pid = victim.id().to_string();
    let args = [
        "--url",
        &url,
        "--mode",
        "kill",
        "-n",
        "8",
        "-p",
        "4",
        "-w",
        "0",
        "--kill-pid",
        &pid,
        "--kill-wait",
        "0.3",
    ];
    let out = bench_output(server.port(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let status = victim.wait().expect("the stand-in is reaped");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    let kill = &json["kill"];
    assert_eq!(json["rooms_ok"], 2, "{json}");
    // Members 1 and 3 of each room are on the second URL.
    assert_eq!(kill["watchers"], 4, "{json}");
    assert_eq!(kill["home_members"], 4, "{json}");
    assert_eq!(kill["noticed"], 0, "{json}");
    assert_eq!(kill["missing"], 4, "{json}");
    server.shutdown();
}

#[test]
fn kill_mode_needs_a_victim_and_two_urls() {
    let out = bench_output(1, &["--mode", "kill", "-n", "4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kill-pid"));
}
