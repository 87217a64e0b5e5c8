//! A player whose connection drops is removed at once: the others see `PlayerLeft`, then
//! whatever the departure changes (authority freed, lobby reverted); a room whose last player
//! drops is deleted.

use crate::common::{Client, seat_room, start_server, start_with, str_of};
use serde_json::json;

fn waiting() -> serde_json::Value {
    json!({"lobby_state":"waiting","ready_players":[],"all_ready":false})
}

#[test]
fn a_drop_in_the_lobby_reverts_the_room_to_waiting() {
    let server = start_server();
    let port = server.port();
    let mut cs = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
        Client::connect_to_shard(port, 1),
    ];
    let (_, ids) = seat_room(&mut cs, "drop game", 3, None);
    cs[0].ready();
    for c in &mut cs {
        c.expect("LobbyStateChanged");
    }
    // Abrupt: the TCP connection goes away without a close handshake.
    drop(cs.pop());
    for c in &mut cs {
        assert_eq!(c.expect("PlayerLeft")["player_id"], ids[2].as_str());
        assert_eq!(c.expect("LobbyStateChanged"), waiting());
    }
    for c in &mut cs {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn a_closed_connection_counts_as_a_drop_too() {
    let server = start_server();
    let port = server.port();
    let mut cs = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (_, ids) = seat_room(&mut cs, "close game", 2, None);
    cs.pop().expect("P1").close();
    assert_eq!(cs[0].expect("PlayerLeft")["player_id"], ids[1].as_str());
    assert_eq!(cs[0].expect("LobbyStateChanged"), waiting());
    cs[0].expect_quiet();
    server.shutdown();
}

#[test]
fn the_authority_holder_dropping_frees_authority() {
    let server = start_server();
    let port = server.port();
    let mut cs = vec![
        Client::connect_to_shard(port, 1),
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (_, ids) = seat_room(&mut cs, "holder game", 4, None);
    drop(cs.remove(0));
    for c in &mut cs {
        assert_eq!(c.expect("PlayerLeft")["player_id"], ids[0].as_str());
        assert_eq!(
            c.expect("AuthorityChanged"),
            json!({"authority_player":null,"you_are_authority":false})
        );
    }
    for c in &mut cs {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn the_holder_dropping_from_a_full_room_frees_authority_and_reverts_the_lobby() {
    let server = start_server();
    let port = server.port();
    let mut cs = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (_, ids) = seat_room(&mut cs, "holder game", 2, None);
    drop(cs.remove(0));
    assert_eq!(cs[0].expect("PlayerLeft")["player_id"], ids[0].as_str());
    assert_eq!(
        cs[0].expect("AuthorityChanged"),
        json!({"authority_player":null,"you_are_authority":false})
    );
    assert_eq!(cs[0].expect("LobbyStateChanged"), waiting());
    cs[0].expect_quiet();
    server.shutdown();
}

/// With reconnection on, such a room waits for its player (decision 3; see `reconnect.rs`
/// and the owner machine's tests); with it off, nobody can come back.
#[test]
fn a_room_whose_last_player_drops_is_deleted_when_reconnection_is_off() {
    let server = start_with(|c| c.server.enable_reconnection = false);
    let port = server.port();
    let mut player = Client::connect_to_shard(port, 0);
    let room = player.create_room("vanish game", "Last", 2);
    let code = str_of(&room, "room_code").to_owned();
    let pid = str_of(&room, "player_id").to_owned();
    // A spectator on the other shard watches the room go.
    let mut watcher = Client::connect_to_shard(port, 1);
    watcher.send(json!({"type":"JoinAsSpectator","data":{"game_name":"vanish game","room_code":code,"spectator_name":"Watcher"}}));
    watcher.expect("SpectatorJoined");
    player.expect("NewSpectatorJoined");
    drop(player);
    assert_eq!(watcher.expect("PlayerLeft")["player_id"], pid.as_str());
    assert_eq!(
        watcher.expect("AuthorityChanged"),
        json!({"authority_player":null,"you_are_authority":false})
    );
    // The room is deleted (decision 9: its members are told with ROOM_NOT_FOUND).
    watcher.expect_error("ROOM_NOT_FOUND");
    watcher.send(json!({"type":"LeaveSpectator"}));
    watcher.expect_error("NOT_A_SPECTATOR");
    let failed = watcher
        .join_failed(json!({"game_name":"vanish game","room_code":code,"player_name":"Late"}));
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND");
    server.shutdown();
}
