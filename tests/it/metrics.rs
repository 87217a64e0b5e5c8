//! Metrics over real traffic on a two-shard server: exact counter values, the JSON shape of
//! `metrics.md`, Prometheus text that passes `promtool`, auth, and a scrape under load.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::{Client, EVENT_TIMEOUT, promtool, start_with};
use serde_json::{Value, json};

/// Sends one GET and returns (status, headers, body).
pub(crate) fn get(port: u16, path: &str, auth: Option<&str>) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(EVENT_TIMEOUT))
        .expect("timeout");
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head.to_owned(), body.to_owned())
}

fn metrics_json(port: u16) -> Value {
    let (status, _, body) = get(port, "/metrics?includeSnapshot=true", None);
    assert_eq!(status, 200);
    serde_json::from_str(&body).expect("JSON metrics")
}

/// Value of an unlabelled Prometheus sample.
pub(crate) fn prom_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name}"))
}

/// Runs `promtool check metrics` on `text`.
pub(crate) fn promtool_check(text: &str) {
    promtool::check(&["check", "metrics"], Some(text));
}

#[test]
fn counters_follow_real_traffic_across_shards() {
    let server = start_with(|_| {});
    let port = server.port();
    // Two rooms: "demo" with 2 players, "other" with 1; players on both shards.
    let mut a = Client::connect_to_shard(port, 0);
    let code = a.create_room("demo", "A", 4)["room_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let mut b = Client::connect_to_shard(port, 1);
    b.join_room("demo", &code, "B");
    a.expect("PlayerJoined");
    let mut c = Client::connect(port);
    c.create_room("other", "C", 4);
    // Three game-data messages relayed, one validation error, two pings.
    for n in 0..3 {
        a.send(json!({"type":"GameData","data":{"data":{"n":n}}}));
        b.expect("GameData");
    }
    c.send_text("not json");
    c.expect("Error");
    a.expect_quiet();
    b.expect_quiet();
    let doc = metrics_json(port);
    let snap = &doc["metricsSnapshot"];
    assert_eq!(snap["rooms"]["rooms_created"], 2);
    assert_eq!(snap["rooms"]["rooms_joined"], 1);
    assert_eq!(snap["rooms"]["rooms_deleted"], 0);
    assert_eq!(snap["players"]["players_joined"], 3);
    assert_eq!(snap["players"]["players_left"], 0);
    assert_eq!(snap["players"]["game_data_messages"], 3);
    assert_eq!(snap["players"]["heartbeat_updates"], 2);
    assert_eq!(snap["errors"]["validation_errors"], 1);
    // Connections dropped without a closing handshake (connect_to_shard discards some) count
    // as WebSocket errors; the total is derived after merging.
    let errors = &snap["errors"];
    let sum = ["validation_errors", "internal_errors", "websocket_errors"]
        .iter()
        .map(|k| errors[*k].as_u64().expect("count"))
        .sum::<u64>();
    assert_eq!(errors["total_errors"], sum);
    assert_eq!(doc["activeRooms"], 2);
    assert_eq!(doc["roomsByGame"], json!({"demo":1,"other":1}));
    assert_eq!(doc["playerPercentiles"]["p50"], 2.0);
    assert_eq!(doc["gamePercentiles"]["demo"]["p100"], 2.0);
    assert_eq!(doc["gamePercentiles"]["other"]["p50"], 1.0);
    assert_eq!(
        doc["serverMetrics"]["rooms"],
        json!({"created":2,"deleted":0,"joined":1})
    );
    let joins = &doc["serverMetrics"]["performance"]["room_join_latency"];
    assert_eq!(joins["sample_count"], 1);
    assert!(joins["p50_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    assert_eq!(
        doc["serverMetrics"]["performance"]["room_creation_latency"]["sample_count"],
        2
    );
    let shards = doc["shards"].as_array().expect("per-shard views");
    assert_eq!(shards.len(), 2);
    let owned: u64 = shards
        .iter()
        .map(|s| s["rooms_owned"].as_u64().expect("rooms_owned"))
        .sum();
    assert_eq!(owned, 2);

    // A player leaving moves players_left and the active gauge; the last one deletes a room.
    c.send(json!({"type":"LeaveRoom"}));
    c.expect("RoomLeft");
    let (_, _, prom) = get(port, "/metrics/prom", None);
    assert_eq!(prom_value(&prom, "signal_fish_rooms_created_total"), 2.0);
    assert_eq!(prom_value(&prom, "signal_fish_rooms_deleted_total"), 1.0);
    assert_eq!(prom_value(&prom, "signal_fish_players_left_total"), 1.0);
    assert_eq!(prom_value(&prom, "signal_fish_players_active"), 2.0);
    assert_eq!(
        prom_value(&prom, "signal_fish_game_data_messages_total"),
        3.0
    );
    assert_eq!(
        prom_value(&prom, "signal_fish_game_data_relay_duration_seconds_count"),
        3.0
    );
    assert!(prom.contains("signal_fish_shard_connections_active{shard=\"0\"}"));
    assert!(prom.contains("signal_fish_shard_rooms_owned{shard=\"1\"}"));
    assert!(
        !prom.contains("_ms "),
        "no millisecond gauges: promtool rejects them"
    );
    promtool_check(&prom);
    server.shutdown();
}

#[test]
fn connection_gauges_are_exact_once_clients_are_gone() {
    let server = start_with(|_| {});
    let port = server.port();
    let mut clients: Vec<Client> = (0..4).map(|_| Client::connect(port)).collect();
    for c in &mut clients {
        c.expect_quiet();
    }
    let doc = metrics_json(port);
    assert_eq!(doc["serverMetrics"]["connections"]["active"], 4);
    assert_eq!(doc["serverMetrics"]["connections"]["total"], 4);
    let last = clients.pop().expect("client");
    last.close();
    // The close is processed asynchronously: poll the scrape (an event, not a sleep).
    let settled = (0..500).any(|_| {
        let doc = metrics_json(port);
        doc["serverMetrics"]["connections"]["active"] == 3
            && doc["serverMetrics"]["connections"]["disconnections"] == 1
    });
    assert!(settled, "the disconnect was never counted");
    server.shutdown();
}

#[test]
fn fresh_server_scrape_shape_and_promtool() {
    let server = start_with(|_| {});
    let port = server.port();
    let (status, head, body) = get(port, "/v1/metrics/prom", None);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"));
    for name in [
        "signal_fish_connections_total",
        "signal_fish_queries_total",
        "signal_fish_cross_instance_messages_total",
        "signal_fish_distributed_lock_cleanup_runs_total",
        "signal_fish_dashboard_cache_age_seconds",
        "signal_fish_room_join_latency_samples_total",
    ] {
        assert!(body.contains(&format!("# TYPE {name} ")), "missing {name}");
    }
    promtool_check(&body);
    let (status, head, body) = get(port, "/v2/metrics", None);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"));
    let doc: Value = serde_json::from_str(&body).expect("json");
    for key in [
        "activeRooms",
        "dashboardCache",
        "gamePercentiles",
        "playerPercentiles",
        "roomsByGame",
        "serverMetrics",
        "timeRange",
        "timestamp",
    ] {
        assert!(doc.get(key).is_some(), "missing {key}");
    }
    assert!(doc.get("metricsSnapshot").is_none());
    assert_eq!(doc["timeRange"], "1h");
    let (status, _, body) = get(port, "/metrics?time_range=24h&includeSnapshot=yes", None);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "Failed to deserialize query string: includeSnapshot: provided string was not `true` or `false`"
    );
    let (_, _, body) = get(port, "/metrics?time_range=24h", None);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["timeRange"],
        "24h"
    );
    server.shutdown();
}

#[test]
fn metrics_auth_requires_the_bearer_token() {
    let token = "a-long-enough-metrics-token";
    let server = start_with(|c| {
        c.security.require_metrics_auth = true;
        c.security.metrics_auth_token = Some(token.to_owned());
    });
    let port = server.port();
    for path in ["/metrics", "/metrics/prom", "/v2/metrics"] {
        assert_eq!(get(port, path, None).0, 401, "{path} without a header");
        assert_eq!(get(port, path, Some("Bearer wrong")).0, 401);
        assert_eq!(get(port, path, Some(&format!("bearer {token}"))).0, 401);
        assert_eq!(get(port, path, Some(&format!("Basic {token}"))).0, 401);
        assert_eq!(get(port, path, Some(&format!("Bearer {token}"))).0, 200);
    }
    let (status, _, body) = get(port, "/metrics", None);
    assert_eq!((status, body.as_str()), (401, ""));
    server.shutdown();
}

#[test]
fn a_scrape_during_load_returns_while_relays_keep_flowing() {
    let server = start_with(|_| {});
    let port = server.port();
    let mut a = Client::connect_to_shard(port, 0);
    let code = a.create_room("load", "A", 2)["room_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let mut b = Client::connect_to_shard(port, 1);
    b.join_room("load", &code, "B");
    let relay = std::thread::spawn(move || {
        b.expect("LobbyStateChanged");
        for n in 0..2000 {
            let got = b.expect("GameData");
            assert_eq!(got["data"]["n"], n);
        }
        b
    });
    a.expect("PlayerJoined");
    a.expect("LobbyStateChanged");
    let sender = std::thread::spawn(move || {
        for n in 0..2000 {
            a.send(json!({"type":"GameData","data":{"data":{"n":n}}}));
        }
        a
    });
    let mut scrapes = 0;
    while !relay.is_finished() && scrapes < 50 {
        let (status, _, body) = get(port, "/metrics/prom", None);
        assert_eq!(status, 200);
        assert!(body.contains("signal_fish_game_data_messages_total"));
        scrapes += 1;
    }
    let _a = sender.join().expect("sender");
    let _b = relay
        .join()
        .expect("every message arrived, in order, during the scrapes");
    assert!(scrapes > 0);
    server.shutdown();
}
