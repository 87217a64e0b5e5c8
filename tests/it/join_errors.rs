//! `JoinRoom` refusals, one error code at a time (decision 7's codes), the validation order,
//! the per-game room cap across shards, and the defaults a creation fills in.

use std::net::IpAddr;

use crate::common::{Client, SHARDS, seat_room, start_server, start_with, str_of};
use serde_json::{Value, json};
use signal_fish_server::shard::routing::{game_owner, ip_owner, room_owner};

/// Sends a `JoinRoom` that must fail with `code`; returns the `reason`.
fn refused(c: &mut Client, data: Value, code: &str) -> String {
    let failed = c.join_failed(data.clone());
    assert_eq!(failed["error_code"], code, "for {data}: {failed}");
    str_of(&failed, "reason").to_owned()
}

#[test]
fn invalid_game_names() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    let cases = [
        ("", "Game name cannot be empty"),
        (&*"g".repeat(65), "Game name too long (max 64 characters)"),
        ("kart/racer", "Game name contains invalid characters"),
        ("kart!", "Game name contains invalid characters"),
    ];
    for (game, reason) in cases {
        let got = refused(
            &mut c,
            json!({"game_name":game,"player_name":"A"}),
            "INVALID_GAME_NAME",
        );
        assert_eq!(got, reason, "{game:?}");
    }
    // The limit is inclusive.
    c.create_room(&"g".repeat(64), "A", 2);
    server.shutdown();
}

#[test]
fn invalid_player_names() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    let cases = [
        ("User@123", "Player name contains invalid characters"),
        (
            " spaced ",
            "Player name cannot have leading or trailing whitespace",
        ),
        (
            "tab\tname",
            "Player name cannot contain whitespace characters",
        ),
        ("", "Player name cannot be empty"),
        (&*"n".repeat(33), "Player name too long (max 32 characters)"),
    ];
    for (name, reason) in cases {
        let got = refused(
            &mut c,
            json!({"game_name":"names","player_name":name}),
            "INVALID_PLAYER_NAME",
        );
        assert_eq!(got, reason, "{name:?}");
    }
    c.expect_quiet();
    server.shutdown();
}

#[test]
fn a_name_already_in_the_room_is_refused_case_insensitively() {
    let server = start_server();
    let mut mika = Client::connect_to_shard(server.port(), 0);
    let room = mika.create_room("names", "Mika", 4);
    let code = str_of(&room, "room_code");
    let mut other = Client::connect_to_shard(server.port(), 1);
    let reason = refused(
        &mut other,
        json!({"game_name":"names","room_code":code,"player_name":"mIKA"}),
        "INVALID_PLAYER_NAME",
    );
    assert_eq!(reason, "Player name already exists in this room");
    // The refused client was not seated: it can join under another name.
    other.join_room("names", code, "Mika2");
    mika.expect_player_joined("Mika2");
    mika.expect_quiet();
    server.shutdown();
}

#[test]
fn invalid_max_players() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    let reason = refused(
        &mut c,
        json!({"game_name":"caps","player_name":"A","max_players":0}),
        "INVALID_MAX_PLAYERS",
    );
    assert_eq!(reason, "Max players must be at least 1");
    let reason = refused(
        &mut c,
        json!({"game_name":"caps","player_name":"A","max_players":101}),
        "INVALID_MAX_PLAYERS",
    );
    assert_eq!(reason, "Max players cannot exceed 100");
    // Validated even when joining by code, where the room's own cap then applies.
    refused(
        &mut c,
        json!({"game_name":"caps","room_code":"QX7M4D","player_name":"A","max_players":0}),
        "INVALID_MAX_PLAYERS",
    );
    // Out of the u8 range it does not even parse.
    c.send(
        json!({"type":"JoinRoom","data":{"game_name":"caps","player_name":"A","max_players":256}}),
    );
    c.expect_error("INVALID_INPUT");
    assert_eq!(c.create_room("caps", "A", 100)["max_players"], 100);
    server.shutdown();
}

#[test]
fn invalid_room_codes() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    let cases = [
        ("", "Room code cannot be empty"),
        ("ABC", "Room code must be exactly 6 characters"),
        ("ABCDEFG", "Room code must be exactly 6 characters"),
        ("AB-CD!", "Room code must be alphanumeric"),
        ("ÄBCDE", "Room code must be alphanumeric"),
    ];
    for (code, reason) in cases {
        let got = refused(
            &mut c,
            json!({"game_name":"codes","room_code":code,"player_name":"A"}),
            "INVALID_ROOM_CODE",
        );
        assert_eq!(got, reason, "{code:?}");
    }
    server.shutdown();
}

#[test]
fn already_in_a_room() {
    let server = start_server();
    let mut a = Client::connect(server.port());
    let room = a.create_room("twice", "A", 4);
    let code = str_of(&room, "room_code").to_owned();
    let reason = refused(
        &mut a,
        json!({"game_name":"twice","player_name":"A"}),
        "ALREADY_IN_ROOM",
    );
    assert_eq!(reason, "Already in a room");
    refused(
        &mut a,
        json!({"game_name":"twice","room_code":code,"player_name":"B"}),
        "ALREADY_IN_ROOM",
    );
    // Name and cap validation come first, the room-code check after (0.1.0's order).
    refused(
        &mut a,
        json!({"game_name":"twice","player_name":"bad@name"}),
        "INVALID_PLAYER_NAME",
    );
    refused(
        &mut a,
        json!({"game_name":"twice","player_name":"A","max_players":0}),
        "INVALID_MAX_PLAYERS",
    );
    refused(
        &mut a,
        json!({"game_name":"twice","room_code":"!","player_name":"A"}),
        "ALREADY_IN_ROOM",
    );
    a.expect_quiet();
    server.shutdown();
}

#[test]
fn a_full_room_is_refused_with_room_full() {
    let server = start_server();
    let mut clients = vec![
        Client::connect_to_shard(server.port(), 0),
        Client::connect_to_shard(server.port(), 1),
    ];
    let (room, _) = seat_room(&mut clients, "full", 2, None);
    let mut late = Client::connect(server.port());
    let reason = refused(
        &mut late,
        json!({"game_name":"full","room_code":str_of(&room, "room_code"),"player_name":"Late"}),
        "ROOM_FULL",
    );
    assert_eq!(reason, "Room is full");
    for c in &mut clients {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn an_unknown_code_is_not_found_and_never_creates_a_room() {
    let server = start_server();
    let mut a = Client::connect_to_shard(server.port(), 0);
    let mut b = Client::connect_to_shard(server.port(), 1);
    for c in [&mut a, &mut b] {
        let reason = refused(
            c,
            json!({"game_name":"ghost","room_code":"QX7M4D","player_name":"A"}),
            "ROOM_NOT_FOUND",
        );
        assert_eq!(reason, "Room not found");
    }
    // The same code in lower case names the same (missing) room.
    refused(
        &mut a,
        json!({"game_name":"ghost","room_code":"qx7m4d","player_name":"A"}),
        "ROOM_NOT_FOUND",
    );
    server.shutdown();
}

#[test]
fn a_game_name_is_part_of_the_room_key() {
    let server = start_server();
    let mut a = Client::connect(server.port());
    let room = a.create_room("game one", "A", 4);
    let mut b = Client::connect(server.port());
    refused(
        &mut b,
        json!({"game_name":"game two","room_code":str_of(&room, "room_code"),"player_name":"B"}),
        "ROOM_NOT_FOUND",
    );
    server.shutdown();
}

#[test]
fn a_finalized_room_accepts_nobody() {
    let server = start_server();
    let mut clients = vec![
        Client::connect_to_shard(server.port(), 0),
        Client::connect_to_shard(server.port(), 1),
    ];
    let (room, _) = seat_room(&mut clients, "started", 2, None);
    for i in 0..2 {
        clients[i].ready();
        for c in &mut clients {
            c.expect("LobbyStateChanged");
        }
    }
    for c in &mut clients {
        c.expect("GameStarting");
    }
    let mut late = Client::connect(server.port());
    let reason = refused(
        &mut late,
        json!({"game_name":"started","room_code":str_of(&room, "room_code"),"player_name":"Late"}),
        "INVALID_ROOM_STATE",
    );
    assert!(reason.contains("started"), "{reason}");

    // A one-seat room is finalized as soon as its player readies.
    let mut solo = Client::connect(server.port());
    let single = solo.create_room("started", "Solo", 1);
    solo.ready();
    solo.expect("LobbyStateChanged");
    solo.expect("GameStarting");
    refused(
        &mut late,
        json!({"game_name":"started","room_code":str_of(&single, "room_code"),"player_name":"Late"}),
        "INVALID_ROOM_STATE",
    );
    server.shutdown();
}

/// A game name whose room-counting shard is not the shard that keeps 127.0.0.1's quotas.
fn game_counted_away_from_the_ip_owner() -> String {
    let ip_shard = ip_owner(&IpAddr::from([127, 0, 0, 1]), SHARDS);
    (0..100)
        .map(|i| format!("capped {i}"))
        .find(|game| game_owner(game, SHARDS) != ip_shard)
        .expect("some game is counted on the other shard")
}

#[test]
fn the_room_cap_per_game_holds_across_shards_and_frees_when_a_room_empties() {
    let server = start_with(|c| c.server.max_rooms_per_game = 2);
    let port = server.port();
    let game = game_counted_away_from_the_ip_owner();
    let mut a = Client::connect_to_shard(port, 0);
    let mut b = Client::connect_to_shard(port, 1);
    a.create_room(&game, "A", 4);
    b.create_room(&game, "B", 4);

    // A third room of that game is refused, whichever shard asks.
    for shard in 0..SHARDS {
        let mut c = Client::connect_to_shard(port, shard);
        let reason = refused(
            &mut c,
            json!({"game_name":game,"player_name":"C"}),
            "MAX_ROOMS_PER_GAME_EXCEEDED",
        );
        assert_eq!(
            reason,
            format!("Game `{game}` already has 2 rooms (limit 2)")
        );
    }
    // Other games are not affected.
    Client::connect(port).create_room("uncapped", "D", 4);

    // The last player leaving deletes the room and gives its slot back: the room's owner
    // tells the counting shard. A creation travels client → IP's quota shard → counting shard.
    // With two shards and the game counted away from the quota shard, the room's owner is one
    // of those two, so the release is counted before the next creation: either the owner is
    // the counting shard (released before RoomLeft went out) or it is the quota shard (the
    // release leads the creation on the one channel to the counting shard).
    a.leave();
    let mut c = Client::connect(port);
    c.create_room(&game, "C", 4);
    // And the cap is reached again.
    let mut d = Client::connect(port);
    refused(
        &mut d,
        json!({"game_name":game,"player_name":"D"}),
        "MAX_ROOMS_PER_GAME_EXCEEDED",
    );
    server.shutdown();
}

#[test]
fn creation_defaults() {
    let server = start_server();
    let mut a = Client::connect(server.port());
    a.send(json!({"type":"JoinRoom","data":{"game_name":"defaults","player_name":"A"}}));
    let room = a.expect("RoomJoined");
    assert_eq!(room["max_players"], 8);
    assert_eq!(room["supports_authority"], true);
    assert_eq!(room["is_authority"], true);
    // Explicit nulls mean "not given", as the original's own client sends them.
    let mut b = Client::connect(server.port());
    b.send(json!({"type":"JoinRoom","data":{"game_name":"defaults","player_name":"B","room_code":null,"max_players":null,"supports_authority":null,"relay_transport":null}}));
    let room = b.expect("RoomJoined");
    assert_eq!(room["max_players"], 8);
    assert_eq!(room["supports_authority"], true);
    server.shutdown();

    let server = start_with(|c| c.server.default_max_players = 5);
    let mut a = Client::connect(server.port());
    a.send(json!({"type":"JoinRoom","data":{"game_name":"defaults","player_name":"A"}}));
    assert_eq!(a.expect("RoomJoined")["max_players"], 5);
    server.shutdown();
}

#[test]
fn joining_ignores_the_joiners_max_players_and_authority_flag() {
    let server = start_server();
    let mut a = Client::connect(server.port());
    let room = a.create_room("ignored", "A", 3);
    let mut b = Client::connect(server.port());
    b.send(json!({"type":"JoinRoom","data":{"game_name":"ignored","room_code":str_of(&room, "room_code"),"player_name":"B","max_players":50,"supports_authority":false}}));
    let joined = b.expect("RoomJoined");
    assert_eq!(joined["max_players"], 3);
    assert_eq!(joined["supports_authority"], true);
    server.shutdown();
}

#[test]
fn malformed_messages_are_invalid_input_and_the_connection_lives_on() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    for text in [
        "not json",
        "{\"type\":\"JoinRoom\"",
        r#"{"type":"Teleport","data":{}}"#,
        r#"{"type":"ping"}"#,
        r#"{"type":"PlayerReady","data":{"ready":true}}"#,
        r#"{"type":"JoinRoom","data":{"game_name":"g"}}"#,
        r#"{"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"WebRTC","ice_candidates":[]}}}"#,
        r#"{"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"direct","host":"h","port":70000}}}"#,
        r#"{"type":"AuthorityRequest","data":{}}"#,
        r#"{"type":"Reconnect","data":{"player_id":"nope","room_id":"nope","auth_token":"t"}}"#,
        "[]",
    ] {
        c.send_text(text);
        let error = c.expect_error("INVALID_INPUT");
        // 0.1.0's wording, then which field or type is wrong (tests/it/decode_errors.rs).
        let message = error["message"].as_str().expect("message");
        assert!(
            message.starts_with("Invalid client message: "),
            "{text}: {message}"
        );
    }
    c.expect_quiet();
    c.create_room("still here", "A", 2);
    server.shutdown();
}

#[test]
fn generated_codes_that_collide_are_regenerated() {
    const ALPHABET: &str = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    // A five-character prefix leaves one random character: 32 possible codes, so collisions
    // are all but certain within a dozen rooms.
    let server = start_with(|c| c.server.room_code_prefix = Some("kartx".to_owned()));
    let port = server.port();
    // Each owner regenerates among the codes it owns; stay within the smaller share.
    let per_shard: Vec<usize> = (0..SHARDS)
        .map(|shard| {
            ALPHABET
                .chars()
                .filter(|c| room_owner("prefixed", &format!("KARTX{c}"), SHARDS) == shard)
                .count()
        })
        .collect();
    let rooms = *per_shard.iter().min().expect("shards");
    assert!(rooms >= 8, "too few codes per shard: {per_shard:?}");
    let mut codes = std::collections::BTreeSet::new();
    let mut clients = Vec::new();
    for i in 0..rooms {
        let mut c = Client::connect(port);
        let joined = c.create_room("prefixed", &format!("P{i}"), 2);
        let code = str_of(&joined, "room_code").to_owned();
        assert!(code.starts_with("KARTX"), "{code}");
        assert_eq!(
            joined["current_players"].as_array().map(Vec::len),
            Some(1),
            "a fresh room, not someone else's"
        );
        assert!(codes.insert(code.clone()), "{code} handed out twice");
        clients.push(c);
    }
    for c in &mut clients {
        c.expect_quiet();
    }
    server.shutdown();
}
