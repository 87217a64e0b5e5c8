//! Spectators (decision 6): they join by code (case-insensitively), see every broadcast the
//! players see, and come and go with notices to the players.

use crate::common::{Client, SHARDS, other_shard, owner_of, seat_room, start_server, str_of};
use serde_json::{Value, json};
use signal_fish_server::shard::routing::room_owner;

fn spectate(c: &mut Client, game: &str, code: &str, name: &str) {
    c.send(json!({"type":"JoinAsSpectator","data":{"game_name":game,"room_code":code,"spectator_name":name}}));
}

/// A room of two players (one per shard) out of `max` seats, plus a spectator on the shard
/// that does not own the room. Returns the players, their ids, the room code, the spectator
/// and its `SpectatorJoined`.
fn watched_room(port: u16, max: u8) -> (Vec<Client>, Vec<String>, String, Client, Value) {
    let mut players = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (room, ids) = seat_room(&mut players, "watch game", max, None);
    let code = str_of(&room, "room_code").to_owned();
    let mut s = Client::connect_to_shard(port, other_shard(owner_of(&room)));
    spectate(&mut s, "watch game", &code.to_lowercase(), "Caster");
    let joined = s.expect("SpectatorJoined");
    for p in &mut players {
        p.expect("NewSpectatorJoined");
    }
    (players, ids, code, s, joined)
}

#[test]
fn a_spectator_joins_by_lower_case_code_and_the_players_are_told() {
    let server = start_server();
    let port = server.port();
    let mut players = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (room, ids) = seat_room(&mut players, "watch game", 4, None);
    let code = str_of(&room, "room_code").to_owned();
    let info = json!({"type":"direct","host":"192.0.2.9","port":5000});
    players[0].send(json!({"type":"ProvideConnectionInfo","data":{"connection_info":info}}));
    // Owner round trip: the info is stored before the spectator's join can reach the owner.
    players[0].ready();
    players[0].expect_error("INVALID_ROOM_STATE");

    let mut s = Client::connect_to_shard(port, other_shard(owner_of(&room)));
    spectate(&mut s, "watch game", &code.to_lowercase(), "Caster");
    let joined = s.expect("SpectatorJoined");
    assert_eq!(joined["room_id"], room["room_id"]);
    assert_eq!(joined["room_code"], code.as_str());
    assert_eq!(joined["game_name"], "watch game");
    assert_eq!(joined["lobby_state"], "waiting");
    assert_eq!(joined["reason"], "joined");
    let spectator_id = str_of(&joined, "spectator_id").to_owned();
    assert!(!ids.contains(&spectator_id));
    let players_seen = joined["current_players"].as_array().expect("players");
    let names: Vec<&Value> = players_seen.iter().map(|p| &p["name"]).collect();
    assert_eq!(names, [&json!("P0"), &json!("P1")]);
    assert_eq!(players_seen[0]["connection_info"], info);
    let spectators = joined["current_spectators"].as_array().expect("spectators");
    assert_eq!(spectators.len(), 1);
    assert_eq!(spectators[0]["id"], spectator_id.as_str());
    assert_eq!(spectators[0]["name"], "Caster");

    for p in &mut players {
        let notice = p.expect("NewSpectatorJoined");
        assert_eq!(notice["spectator"]["id"], spectator_id.as_str());
        assert_eq!(notice["spectator"]["name"], "Caster");
        assert_eq!(notice["reason"], "joined");
        assert_eq!(notice["current_spectators"], joined["current_spectators"]);
    }

    // A second spectator: the first one is told as well, and the list holds both.
    let mut s2 = Client::connect(port);
    spectate(&mut s2, "watch game", &code, "Second");
    let second = s2.expect("SpectatorJoined");
    assert_eq!(
        second["current_spectators"].as_array().map(Vec::len),
        Some(2)
    );
    for c in players.iter_mut().chain([&mut s]) {
        let notice = c.expect("NewSpectatorJoined");
        assert_eq!(notice["spectator"]["name"], "Second");
        assert_eq!(
            notice["current_spectators"].as_array().map(Vec::len),
            Some(2)
        );
    }

    // Spectators take no seat: the room still takes two more players.
    for name in ["P2", "P3"] {
        Client::connect(port).join_room("watch game", &code, name);
    }
    server.shutdown();
}

#[test]
fn spectators_see_game_data_joins_lobby_authority_and_game_start() {
    let server = start_server();
    let port = server.port();
    let (mut players, ids, code, mut s, _) = watched_room(port, 3);

    players[0].send_game_data(json!({"frame":1}));
    assert_eq!(players[1].expect("GameData")["data"], json!({"frame":1}));
    let data = s.expect("GameData");
    assert_eq!(data["from_player"], ids[0].as_str());
    assert_eq!(data["data"], json!({"frame":1}));

    // A third player fills the room.
    let mut p2 = Client::connect(port);
    let joined = p2.join_room("watch game", &code, "P2");
    assert_eq!(
        joined["current_spectators"].as_array().map(Vec::len),
        Some(1)
    );
    let p2_id = str_of(&joined, "player_id").to_owned();
    for c in players.iter_mut().chain([&mut s]) {
        assert_eq!(c.expect_player_joined("P2"), p2_id);
        assert_eq!(c.expect("LobbyStateChanged")["lobby_state"], "lobby");
    }
    p2.expect("LobbyStateChanged");
    players.push(p2);

    // Authority moves.
    players[0].send(json!({"type":"AuthorityRequest","data":{"become_authority":false}}));
    players[0].expect("AuthorityResponse");
    assert_eq!(
        s.expect("AuthorityChanged"),
        json!({"authority_player":null,"you_are_authority":false})
    );
    for p in &mut players {
        p.expect("AuthorityChanged");
    }

    // Everyone readies: the spectator follows the lobby and sees the game start.
    for i in 0..3 {
        players[i].ready();
        for c in players.iter_mut().chain([&mut s]) {
            c.expect("LobbyStateChanged");
        }
    }
    let starting = s.expect("GameStarting");
    assert_eq!(
        starting["peer_connections"].as_array().map(Vec::len),
        Some(3)
    );
    for p in &mut players {
        p.expect("GameStarting");
    }

    // A player leaves: the spectator sees it and the lobby revert.
    let leaver = players.pop().expect("P2");
    leaver.close();
    assert_eq!(s.expect("PlayerLeft")["player_id"], p2_id.as_str());
    assert_eq!(s.expect("LobbyStateChanged")["lobby_state"], "waiting");

    // A spectator's own game data goes nowhere: it is not a player.
    s.send_game_data(json!("from the stands"));
    s.expect_quiet();
    for p in &mut players {
        p.expect("PlayerLeft");
        p.expect("LobbyStateChanged");
    }
    players[1].send_game_data(json!("next"));
    assert_eq!(players[0].expect("GameData")["data"], "next");
    assert_eq!(s.expect("GameData")["data"], "next");
    server.shutdown();
}

#[test]
fn leave_spectator_tells_the_spectator_and_the_players_and_ends_the_feed() {
    let server = start_server();
    let port = server.port();
    let (mut players, _, code, mut s, joined) = watched_room(port, 4);
    let spectator_id = str_of(&joined, "spectator_id").to_owned();
    s.send(json!({"type":"LeaveSpectator"}));
    let left = s.expect("SpectatorLeft");
    assert_eq!(
        left,
        json!({"room_id":joined["room_id"],"room_code":code,"reason":"voluntary_leave","current_spectators":[]})
    );
    for p in &mut players {
        assert_eq!(
            p.expect("SpectatorDisconnected"),
            json!({"spectator_id":spectator_id,"reason":"voluntary_leave","current_spectators":[]})
        );
    }
    players[0].send_game_data(json!("unseen"));
    assert_eq!(players[1].expect("GameData")["data"], "unseen");
    s.owner_barrier("watch game", room_owner("watch game", &code, SHARDS));
    s.expect_quiet();
    // Not spectating any more.
    s.send(json!({"type":"LeaveSpectator"}));
    s.expect_error("NOT_A_SPECTATOR");
    server.shutdown();
}

#[test]
fn a_spectator_dropping_is_announced_as_disconnected() {
    let server = start_server();
    let (mut players, _, _, s, joined) = watched_room(server.port(), 4);
    drop(s);
    for p in &mut players {
        let notice = p.expect("SpectatorDisconnected");
        assert_eq!(notice["spectator_id"], joined["spectator_id"]);
        assert_eq!(notice["reason"], "disconnected");
        assert_eq!(notice["current_spectators"], json!([]));
    }
    server.shutdown();
}

#[test]
fn leave_spectator_when_not_spectating_is_not_a_spectator() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    c.send(json!({"type":"LeaveSpectator"}));
    let error = c.expect_error("NOT_A_SPECTATOR");
    assert_eq!(error["message"], "You are not currently spectating a room");
    c.expect_quiet();
    server.shutdown();
}

#[test]
fn spectating_an_unknown_room_is_room_not_found() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    spectate(&mut c, "watch game", "ZZZZZZ", "Lost");
    // Decision 6: spectator failures are `SpectatorJoinFailed`, with a code.
    let failed = c.expect("SpectatorJoinFailed");
    assert_eq!(
        failed,
        json!({"reason":"Room not found","error_code":"ROOM_NOT_FOUND"})
    );
    // The game name is part of the key.
    let mut host = Client::connect(server.port());
    let room = host.create_room("watch game", "Host", 2);
    spectate(&mut c, "other game", str_of(&room, "room_code"), "Lost");
    assert_eq!(
        c.expect("SpectatorJoinFailed")["error_code"],
        "ROOM_NOT_FOUND"
    );
    // A bad spectator name is refused before any lookup.
    spectate(&mut c, "watch game", str_of(&room, "room_code"), "bad@name");
    assert_eq!(
        c.expect("SpectatorJoinFailed")["error_code"],
        "INVALID_PLAYER_NAME"
    );
    c.expect_quiet();
    host.expect_quiet();
    server.shutdown();
}

#[test]
fn spectating_another_room_leaves_the_first() {
    let server = start_server();
    let port = server.port();
    // Both rooms on one owner, so the spectator's two notices arrive in a defined order.
    let mut host1 = Client::connect_to_shard(port, 0);
    let room1 = host1.create_room_owned_by("watch game", "Host1", 2, 1);
    let mut host2 = Client::connect_to_shard(port, 0);
    let room2 = host2.create_room_owned_by("watch game", "Host2", 2, 1);
    let mut s = Client::connect_to_shard(port, 0);
    spectate(&mut s, "watch game", str_of(&room1, "room_code"), "Hopper");
    let first = s.expect("SpectatorJoined");
    host1.expect("NewSpectatorJoined");

    spectate(&mut s, "watch game", str_of(&room2, "room_code"), "Hopper");
    let left = s.expect("SpectatorLeft");
    assert_eq!(left["room_id"], room1["room_id"]);
    let second = s.expect("SpectatorJoined");
    assert_eq!(second["room_id"], room2["room_id"]);
    assert_eq!(second["spectator_id"], first["spectator_id"]);
    let notice = host1.expect("SpectatorDisconnected");
    assert_eq!(notice["spectator_id"], first["spectator_id"]);
    assert_eq!(notice["current_spectators"], json!([]));
    host2.expect("NewSpectatorJoined");

    // Only the second room's traffic reaches it now.
    host1.send_game_data(json!("room one"));
    // Owner round trip: the relay above is done before room two's.
    host1.ready();
    host1.expect_error("INVALID_ROOM_STATE");
    host2.send_game_data(json!("room two"));
    assert_eq!(s.expect("GameData")["data"], "room two");
    s.expect_quiet();
    server.shutdown();
}

#[test]
fn a_spectator_snapshot_shows_the_lobby_and_who_is_ready() {
    let server = start_server();
    let port = server.port();
    let mut players = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (room, ids) = seat_room(&mut players, "watch game", 2, None);
    players[1].ready();
    for p in &mut players {
        p.expect("LobbyStateChanged");
    }
    let mut s = Client::connect(port);
    spectate(&mut s, "watch game", str_of(&room, "room_code"), "Late");
    let joined = s.expect("SpectatorJoined");
    assert_eq!(joined["lobby_state"], "lobby");
    for p in joined["current_players"].as_array().expect("players") {
        assert_eq!(p["is_ready"], p["id"] == ids[1].as_str(), "{p}");
    }
    server.shutdown();
}

#[test]
fn a_player_watching_its_own_room_gets_each_broadcast_once() {
    let server = start_server();
    let port = server.port();
    let mut a = Client::connect_to_shard(port, 0);
    let room = a.create_room("watch game", "A", 3);
    let code = str_of(&room, "room_code").to_owned();
    // Nothing forbids a player from also spectating its own room (behaviour.md §7.1).
    spectate(&mut a, "watch game", &code, "A-cam");
    a.expect("SpectatorJoined");
    let mut b = Client::connect_to_shard(port, 1);
    b.join_room("watch game", &code, "B");
    a.expect_player_joined("B");
    b.send_game_data(json!("once"));
    let data = a.expect("GameData");
    assert_eq!(
        data["data"], "once",
        "the PlayerJoined came twice if this is one"
    );
    // B is on the other shard: its own owner round trip shows the relay is done.
    b.ready();
    b.expect_error("INVALID_ROOM_STATE");
    a.expect_quiet();
    server.shutdown();
}
