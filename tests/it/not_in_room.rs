//! Room operations from a connection without a seat: `NOT_IN_ROOM` answers, and game data is
//! dropped without a word.

use crate::common::{Client, start_server};
use serde_json::json;

/// Sends every room operation and checks the answers a seatless connection gets.
fn assert_not_in_room(c: &mut Client) {
    c.send(json!({"type":"PlayerReady"}));
    let error = c.expect_error("NOT_IN_ROOM");
    assert_eq!(error["message"], "Not in a room");

    c.send(json!({"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"direct","host":"198.51.100.1","port":9000}}}));
    let error = c.expect_error("NOT_IN_ROOM");
    assert_eq!(error["message"], "Not in a room");

    for become_authority in [true, false] {
        c.send(json!({"type":"AuthorityRequest","data":{"become_authority":become_authority}}));
        assert_eq!(
            c.expect("AuthorityResponse"),
            json!({"granted":false,"reason":"Not in a room","error_code":"NOT_IN_ROOM"})
        );
    }

    c.send_game_data(json!({"lost":true}));
    c.expect_quiet();
}

#[test]
fn a_fresh_connection_is_not_in_a_room() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    assert_not_in_room(&mut c);
    server.shutdown();
}

#[test]
fn a_connection_that_left_is_not_in_a_room() {
    let server = start_server();
    let mut a = Client::connect_to_shard(server.port(), 0);
    let room = a.create_room("seatless", "A", 3);
    let mut b = Client::connect_to_shard(server.port(), 1);
    b.join_room("seatless", room["room_code"].as_str().expect("code"), "B");
    a.expect_player_joined("B");
    b.leave();
    a.expect("PlayerLeft");
    assert_not_in_room(&mut b);
    // B's game data went nowhere: A's next message is A's own owner round trip.
    a.ready();
    a.expect_error("INVALID_ROOM_STATE");
    server.shutdown();
}

#[test]
fn a_spectator_is_not_in_a_room() {
    let server = start_server();
    let mut a = Client::connect_to_shard(server.port(), 0);
    let room = a.create_room("seatless", "A", 2);
    let mut s = Client::connect_to_shard(server.port(), 1);
    s.send(json!({"type":"JoinAsSpectator","data":{"game_name":"seatless","room_code":room["room_code"],"spectator_name":"S"}}));
    s.expect("SpectatorJoined");
    a.expect("NewSpectatorJoined");
    assert_not_in_room(&mut s);
    a.ready();
    a.expect_error("INVALID_ROOM_STATE");
    server.shutdown();
}
