//! Rooms whose players and owner sit on different shards, and concurrent joins for the last
//! seat decided by the owner.

use crate::common::{Client, SHARDS, other_shard, owner_of, seat_room, start_server, str_of};
use serde_json::json;

#[test]
fn two_joiners_on_different_shards_race_for_the_last_seat() {
    let server = start_server();
    let port = server.port();
    // Rooms on both owners; the racers are always one per shard.
    for round in 0..6u32 {
        let owner = round % SHARDS;
        let mut host = Client::connect_to_shard(port, round % SHARDS);
        let room = host.create_room_owned_by("race game", "Host", 2, owner);
        let code = str_of(&room, "room_code").to_owned();
        let mut racers = [
            Client::connect_to_shard(port, 0),
            Client::connect_to_shard(port, 1),
        ];
        for (i, r) in racers.iter_mut().enumerate() {
            r.send(json!({"type":"JoinRoom","data":{"game_name":"race game","room_code":code,"player_name":format!("Racer{i}")}}));
        }
        let replies: Vec<_> = racers.iter_mut().map(Client::recv).collect();
        let joined: Vec<usize> = (0..2)
            .filter(|&i| replies[i]["type"] == "RoomJoined")
            .collect();
        assert_eq!(joined.len(), 1, "exactly one seat: {replies:?}");
        let (winner, loser) = (joined[0], 1 - joined[0]);
        assert_eq!(
            replies[loser]["type"], "RoomJoinFailed",
            "{:?}",
            replies[loser]
        );
        assert_eq!(replies[loser]["data"]["error_code"], "ROOM_FULL");
        assert_eq!(replies[winner]["data"]["lobby_state"], "lobby");

        host.expect_player_joined(&format!("Racer{winner}"));
        host.expect("LobbyStateChanged");
        racers[winner].expect("LobbyStateChanged");
        racers[loser].owner_barrier("race game", owner_of(&room));
        racers[loser].expect_quiet();
    }
    server.shutdown();
}

/// A whole session in a room owned by `owner` whose players all sit on the other shard.
fn full_session_with_remote_owner(owner: u32) {
    let server = start_server();
    let port = server.port();
    let home = other_shard(owner);
    let mut cs: Vec<Client> = (0..3)
        .map(|_| Client::connect_to_shard(port, home))
        .collect();
    let (room, ids) = seat_room(&mut cs, "remote game", 3, Some(owner));
    assert_eq!(owner_of(&room), owner);
    assert!(cs.iter().all(|c| c.shard != owner));

    cs[1].send_game_data(json!({"hello":"from P1"}));
    for i in [0, 2] {
        let data = cs[i].expect("GameData");
        assert_eq!(data["from_player"], ids[1].as_str());
        assert_eq!(data["data"], json!({"hello":"from P1"}));
    }
    for c in &mut cs {
        c.ready();
    }
    // Three toggles from three connections: the owner sees them in some order, but every
    // member sees the same sequence, ending finalized.
    let mut last = Vec::new();
    for c in &mut cs {
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(c.expect("LobbyStateChanged"));
        }
        assert_eq!(seen[2]["lobby_state"], "finalized");
        assert_eq!(seen[2]["all_ready"], true);
        if last.is_empty() {
            last = seen;
        } else {
            assert_eq!(seen, last, "every member sees the same lobby sequence");
        }
    }
    for c in &mut cs {
        let starting = c.expect("GameStarting");
        assert_eq!(
            starting["peer_connections"].as_array().map(Vec::len),
            Some(3)
        );
    }
    let mut leaver = cs.pop().expect("P2");
    leaver.leave();
    for c in &mut cs {
        assert_eq!(c.expect("PlayerLeft")["player_id"], ids[2].as_str());
        assert_eq!(c.expect("LobbyStateChanged")["lobby_state"], "waiting");
    }
    leaver.owner_barrier("remote game", owner);
    leaver.expect_quiet();
    server.shutdown();
}

#[test]
fn a_room_owned_by_shard_0_with_every_player_on_shard_1() {
    full_session_with_remote_owner(0);
}

#[test]
fn a_room_owned_by_shard_1_with_every_player_on_shard_0() {
    full_session_with_remote_owner(1);
}

#[test]
fn the_same_code_in_two_games_names_two_rooms() {
    let server = start_server();
    let port = server.port();
    let mut a = Client::connect_to_shard(port, 0);
    let room = a.create_room("game a", "A", 3);
    let code = str_of(&room, "room_code").to_owned();
    let mut b = Client::connect_to_shard(port, 1);
    let failed = b.join_failed(json!({"game_name":"game b","room_code":code,"player_name":"B"}));
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND");
    let joined = b.join_room("game a", &code.to_lowercase(), "B");
    assert_eq!(joined["room_id"], room["room_id"]);
    server.shutdown();
}

/// Requests sent back to back, without waiting for answers, see the state the earlier ones
/// left, even when the room's owner is another shard.
#[test]
fn pipelined_requests_see_the_outcome_of_earlier_ones() {
    let server = start_server();
    let port = server.port();
    let mut a = Client::connect_to_shard(port, 0);
    let room = a.create_room_owned_by("pipeline game", "A", 4, 1);
    let code = str_of(&room, "room_code").to_owned();

    // Join, then immediately relay and join again.
    let mut b = Client::connect_to_shard(port, 0);
    b.send(json!({"type":"JoinRoom","data":{"game_name":"pipeline game","room_code":code,"player_name":"B"}}));
    b.send_game_data(json!("right after joining"));
    b.send(json!({"type":"JoinRoom","data":{"game_name":"pipeline game","player_name":"B"}}));
    let joined = b.expect("RoomJoined");
    let failed = b.expect("RoomJoinFailed");
    assert_eq!(failed["error_code"], "ALREADY_IN_ROOM");
    a.expect_player_joined("B");
    let data = a.expect("GameData");
    assert_eq!(data["from_player"], joined["player_id"]);
    assert_eq!(data["data"], "right after joining");

    // Leave, then immediately ask room questions and create a new room.
    b.send(json!({"type":"LeaveRoom"}));
    b.send(json!({"type":"PlayerReady"}));
    b.send(json!({"type":"JoinRoom","data":{"game_name":"pipeline game","player_name":"B"}}));
    assert_eq!(b.recv(), json!({"type":"RoomLeft"}));
    b.expect_error("NOT_IN_ROOM");
    let fresh = b.expect("RoomJoined");
    assert_ne!(fresh["room_id"], room["room_id"]);
    assert_eq!(a.expect("PlayerLeft")["player_id"], joined["player_id"]);
    a.expect_quiet();
    server.shutdown();
}
