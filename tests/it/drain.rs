//! Draining (decision 20), in process on two shards: health answers 503, upgrades and new rooms
//! are refused, rooms in play keep relaying, and at the end every WebSocket gets 1001.

use std::time::Duration;

use serde_json::json;
use signal_fish_server::DrainEnd;

use crate::common::{Client, EVENT_TIMEOUT, http_get, seat_room, start_server, str_of};

const GOING_AWAY: u16 = 1001;

/// A WebSocket upgrade request that would be accepted by a server that is not draining.
const UPGRADE: &str = "GET /v2/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
                       Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

#[test]
fn a_drain_refuses_newcomers_keeps_rooms_playing_and_ends_when_they_do() {
    let server = start_server();
    let port = server.port();
    // A room owned by shard 0 with a player on each shard, and a connection in no room.
    let mut players = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (room, _) = seat_room(&mut players, "drain game", 4, Some(0));
    let code = str_of(&room, "room_code").to_owned();
    let mut lurker = Client::connect_to_shard(port, 1);

    let mut drain = server.drain(EVENT_TIMEOUT);
    assert_eq!(drain.rooms_in_play(), 1);

    for path in ["/health", "/v2/health"] {
        let (status, body) = http_get(port, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!((status, body.as_str()), (503, "Draining"), "{path}");
    }
    let (status, body) = http_get(port, UPGRADE);
    assert_eq!((status, body.as_str()), (503, "Server is draining"));
    // Metrics still answer: operators watch the drain through them.
    let (status, _) = http_get(port, "GET /metrics/prom HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);

    // No new room, with a code old clients know.
    let refused = lurker.join_failed(json!({"game_name":"drain game","player_name":"New"}));
    assert_eq!(refused["error_code"], "SERVICE_UNAVAILABLE", "{refused}");

    // The room in play goes on: relays both ways across shards, and takes a joiner.
    players[0].send_game_data(json!({"turn": 1}));
    assert_eq!(players[1].expect("GameData")["data"], json!({"turn": 1}));
    players[1].send_game_data(json!({"turn": 2}));
    assert_eq!(players[0].expect("GameData")["data"], json!({"turn": 2}));
    lurker.join_room("drain game", &code, "Late");
    for p in &mut players {
        p.expect_player_joined("Late");
    }

    // Play ends: everyone leaves, the room is gone, and the drain is over.
    players.push(lurker);
    let mut gone = Vec::new();
    while let Some(mut p) = players.pop() {
        p.leave();
        for rest in &mut players {
            rest.expect("PlayerLeft");
        }
        gone.push(p);
    }
    assert_eq!(
        drain.wait(&crossbeam_channel::never::<()>()),
        DrainEnd::Idle
    );
    assert_eq!(drain.rooms_in_play(), 0);
    drop(drain);

    // Stopping closes every connection, in a room or not, with 1001.
    std::thread::scope(|s| {
        s.spawn(move || server.shutdown());
        for p in &mut gone {
            assert_eq!(p.expect_close(), Some(GOING_AWAY));
        }
    });
}

#[test]
fn the_grace_period_ends_rooms_still_in_play_with_1001() {
    let server = start_server();
    let port = server.port();
    let mut players = vec![
        Client::connect_to_shard(port, 1),
        Client::connect_to_shard(port, 0),
    ];
    seat_room(&mut players, "drain game", 2, Some(1));
    let mut drain = server.drain(Duration::from_millis(300));
    assert_eq!(drain.rooms_in_play(), 1);
    assert_eq!(
        drain.wait(&crossbeam_channel::never::<()>()),
        DrainEnd::GraceExpired
    );
    // The shards close on their own at the deadline, without waiting for a stop.
    for p in &mut players {
        assert_eq!(p.expect_close(), Some(GOING_AWAY));
    }
    drop(drain);
    server.shutdown();
}

#[test]
fn a_cancelled_drain_returns_at_once_and_players_are_closed_with_1001() {
    let server = start_server();
    let port = server.port();
    let mut players = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    seat_room(&mut players, "drain game", 2, None);
    let mut drain = server.drain(Duration::from_secs(600));
    let (cancel, cancelled) = crossbeam_channel::bounded(1);
    cancel.send(()).expect("cancel");
    assert_eq!(drain.wait(&cancelled), DrainEnd::Cancelled);
    drop(drain);
    std::thread::scope(|s| {
        s.spawn(move || server.shutdown());
        for p in &mut players {
            assert_eq!(p.expect_close(), Some(GOING_AWAY));
        }
    });
}
