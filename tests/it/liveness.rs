//! Limits that end connections: `security.max_message_size`, `server.ping_timeout`
//! (decision 9: silent connections are closed), and graceful shutdown (decision 15).

use std::thread;
use std::time::{Duration, Instant};

use crate::common::{Client, start_server, start_with};
use serde_json::json;

#[test]
fn a_text_message_over_max_message_size_is_refused_then_closed() {
    let server = start_with(|c| c.security.max_message_size = 1024);
    let mut c = Client::connect(server.port());
    // Right at the limit is fine.
    let filler = "x".repeat(1024 - r#"{"type":"GameData","data":{"data":""}}"#.len());
    let at_limit = format!(r#"{{"type":"GameData","data":{{"data":"{filler}"}}}}"#);
    assert_eq!(at_limit.len(), 1024);
    c.send_text(&at_limit);
    c.expect_quiet();

    let over = format!(r#"{{"type":"GameData","data":{{"data":"{filler}y"}}}}"#);
    assert_eq!(over.len(), 1025);
    c.send_text(&over);
    let error = c.expect_error("MESSAGE_TOO_LARGE");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Message too large (") && m.ends_with("max 1024 bytes)")),
        "{error}"
    );
    // Deliberate difference from 0.1.0 (which kept the connection open): decision 10 says the
    // server never buffers more than max_message_size bytes of one message, so the transport
    // refuses the frame and the server closes with 1009 (message too big) after the error.
    assert_eq!(c.expect_close(), Some(1009));
    server.shutdown();
}

/// What a heartbeat-keeping client sends each round.
#[derive(Clone, Copy)]
enum Heartbeat {
    JsonPing,
    WsPing,
    GameData,
}

#[test]
fn a_binary_message_over_max_message_size_is_refused_then_closed() {
    let server = start_with(|c| c.security.max_message_size = 1024);
    let mut c = Client::connect(server.port());
    c.authenticate(json!({"app_id":"mp","game_data_format":"message_pack"}));
    c.create_room("big game", "A", 2);
    c.send_binary(vec![0xc0; 1024]);
    c.expect_quiet();
    c.send_binary(vec![0xc0; 1025]);
    c.expect_error("MESSAGE_TOO_LARGE");
    // As for text: the transport refuses to buffer it, so the connection closes with 1009.
    assert_eq!(c.expect_close(), Some(1009));
    server.shutdown();
}

#[test]
fn a_silent_connection_is_closed_and_any_inbound_traffic_keeps_one_open() {
    let server = start_with(|c| c.server.ping_timeout = 1);
    let port = server.port();
    let started = Instant::now();
    let mut silent = Client::connect(port);
    // Decision 9: any inbound frame counts as activity, not only JSON Pings.
    let mut keepers = vec![
        (Client::connect(port), Heartbeat::JsonPing),
        (Client::connect(port), Heartbeat::WsPing),
        (Client::connect(port), Heartbeat::GameData),
    ];
    keepers[2].0.create_room("heartbeat game", "Alone", 2);
    let watcher = thread::spawn(move || {
        let code = silent.expect_close();
        (code, started.elapsed())
    });
    // Keep the pinger busy until the silent one is closed, then for longer than another full
    // timeout: heartbeats must keep it open the whole time. The pause only paces heartbeats.
    let mut closed_at = None;
    loop {
        for (keeper, beat) in &mut keepers {
            match beat {
                Heartbeat::JsonPing => {
                    keeper.send(json!({"type":"Ping"}));
                    assert_eq!(keeper.recv(), json!({"type":"Pong"}));
                }
                Heartbeat::WsPing => keeper.ws_ping(b"beat"),
                // Alone in its room: the data goes nowhere, but it is traffic.
                Heartbeat::GameData => keeper.send_game_data(json!("beat")),
            }
        }
        if closed_at.is_none() && watcher.is_finished() {
            closed_at = Some(Instant::now());
        }
        if closed_at.is_some_and(|t| t.elapsed() > Duration::from_millis(1500)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the silent connection was never closed"
        );
        thread::sleep(Duration::from_millis(200));
    }
    let (code, after) = watcher.join().expect("watcher");
    assert_eq!(code, Some(1008), "closed as a policy violation");
    assert!(
        after >= Duration::from_secs(1),
        "closed too early: {after:?}"
    );
    // Still alive well past two timeouts.
    for (keeper, _) in &mut keepers {
        keeper.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn a_websocket_pong_frame_is_answered_like_a_json_ping() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    c.send_ws_pong();
    assert_eq!(c.recv(), json!({"type":"Pong"}));
    c.expect_quiet();
    server.shutdown();
}

#[test]
fn shutdown_closes_every_open_connection_with_going_away() {
    let server = start_server();
    let port = server.port();
    let mut clients = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
        Client::connect_to_shard(port, 0),
    ];
    clients[0].create_room("shutdown game", "A", 4);
    // Shut down on another thread: the clients answer the close handshakes here.
    let stopper = thread::spawn(move || server.shutdown());
    for c in &mut clients {
        assert_eq!(c.expect_close(), Some(1001));
    }
    stopper.join().expect("shutdown");
}
