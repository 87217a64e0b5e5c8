//! The lobby state machine (decision 4): `waiting` → `lobby` when the room fills → `finalized`
//! when every player is ready (then one `GameStarting`); a departure reverts to `waiting` and
//! clears the ready marks. `ProvideConnectionInfo` feeds `GameStarting` and later snapshots.

use std::collections::BTreeSet;

use crate::common::{Client, other_shard, owner_of, seat_room, start_server, str_of};
use serde_json::{Value, json};

/// Clients alternating over both shards.
fn clients(port: u16, n: u32) -> Vec<Client> {
    (0..n)
        .map(|i| Client::connect_to_shard(port, i % 2))
        .collect()
}

fn id_set(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect()
}

fn ids(list: &[&String]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).clone()).collect()
}

/// Every client reads one `LobbyStateChanged` and it must say `state`, `ready`, `all_ready`.
fn expect_lobby(clients: &mut [Client], state: &str, ready: &BTreeSet<String>, all_ready: bool) {
    for c in clients.iter_mut() {
        let lobby = c.expect("LobbyStateChanged");
        assert_eq!(lobby["lobby_state"], state, "{lobby}");
        assert_eq!(&id_set(&lobby["ready_players"]), ready, "{lobby}");
        assert_eq!(lobby["all_ready"], all_ready, "{lobby}");
    }
}

#[test]
fn filling_the_room_enters_the_lobby_and_the_joiner_sees_it() {
    let server = start_server();
    let mut a = Client::connect_to_shard(server.port(), 0);
    let room = a.create_room("lobby game", "A", 3);
    assert_eq!(room["lobby_state"], "waiting");
    let code = str_of(&room, "room_code");
    let mut b = Client::connect_to_shard(server.port(), 1);
    let joined_b = b.join_room("lobby game", code, "B");
    assert_eq!(joined_b["lobby_state"], "waiting");
    a.expect_player_joined("B");
    let mut c = Client::connect_to_shard(server.port(), 0);
    let joined_c = c.join_room("lobby game", code, "C");
    assert_eq!(joined_c["lobby_state"], "lobby");
    assert_eq!(joined_c["ready_players"], json!([]));
    a.expect_player_joined("C");
    b.expect_player_joined("C");
    let mut all = [a, b, c];
    expect_lobby(&mut all, "lobby", &BTreeSet::new(), false);
    for c in &mut all {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn player_ready_toggles() {
    let server = start_server();
    let mut cs = clients(server.port(), 2);
    let (_, pids) = seat_room(&mut cs, "toggle game", 2, None);
    cs[0].ready();
    expect_lobby(&mut cs, "lobby", &ids(&[&pids[0]]), false);
    cs[0].ready();
    expect_lobby(&mut cs, "lobby", &BTreeSet::new(), false);
    cs[1].ready();
    expect_lobby(&mut cs, "lobby", &ids(&[&pids[1]]), false);
    for c in &mut cs {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn everyone_ready_finalizes_and_starts_the_game_once_with_connection_info() {
    let server = start_server();
    let mut cs = clients(server.port(), 3);
    let (room, pids) = seat_room(&mut cs, "start game", 3, None);
    let direct = json!({"type":"direct","host":"203.0.113.7","port":7777});
    let webrtc = json!({"type":"webrtc","sdp":null,"ice_candidates":["candidate:1 1 udp 2122260223 192.0.2.4 50000 typ host"]});
    cs[0].send(json!({"type":"ProvideConnectionInfo","data":{"connection_info":direct}}));
    cs[2].send(json!({"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"webrtc","ice_candidates":["candidate:1 1 udp 2122260223 192.0.2.4 50000 typ host"]}}}));

    cs[0].ready();
    expect_lobby(&mut cs, "lobby", &ids(&[&pids[0]]), false);
    cs[1].ready();
    expect_lobby(&mut cs, "lobby", &ids(&[&pids[0], &pids[1]]), false);
    cs[2].ready();
    let everyone = ids(&[&pids[0], &pids[1], &pids[2]]);
    expect_lobby(&mut cs, "finalized", &everyone, true);

    for c in &mut cs {
        let starting = c.expect("GameStarting");
        let peers = starting["peer_connections"].as_array().expect("peers");
        assert_eq!(peers.len(), 3, "{starting}");
        for (i, pid) in pids.iter().enumerate() {
            let peer = peers
                .iter()
                .find(|p| p["player_id"] == pid.as_str())
                .unwrap_or_else(|| panic!("no peer {pid} in {starting}"));
            assert_eq!(peer["player_name"], format!("P{i}"));
            assert_eq!(peer["is_authority"], i == 0, "the creator holds authority");
            assert_eq!(peer["relay_type"], room["relay_type"]);
            match i {
                0 => assert_eq!(peer["connection_info"], direct),
                1 => assert!(peer.get("connection_info").is_none(), "{peer}"),
                _ => assert_eq!(peer["connection_info"], webrtc),
            }
        }
    }
    // Exactly one GameStarting; a finalized room takes no more ready toggles.
    for c in &mut cs {
        c.expect_quiet();
    }
    cs[1].ready();
    let error = cs[1].expect_error("INVALID_ROOM_STATE");
    assert_eq!(
        error["message"],
        "Cannot change ready status. Room must be in lobby state (full with all players joined)."
    );
    // Nothing was broadcast: P0's own refusal, asked for after P1's came back, is P0's next
    // message from the owner.
    cs[0].ready();
    cs[0].expect_error("INVALID_ROOM_STATE");
    for c in &mut cs {
        c.expect_quiet();
    }
    // Game data still flows in a started room.
    cs[1].send_game_data(json!({"tick":1}));
    assert_eq!(cs[0].expect("GameData")["data"], json!({"tick":1}));
    assert_eq!(cs[2].expect("GameData")["data"], json!({"tick":1}));
    server.shutdown();
}

#[test]
fn connection_info_gets_no_reply_and_shows_in_later_snapshots_only() {
    let server = start_server();
    let port = server.port();
    let mut a = Client::connect_to_shard(port, 0);
    // The owner is the other shard, so "no reply" is checked across the shard channel.
    let room = a.create_room_owned_by("info game", "A", 4, 1);
    let code = str_of(&room, "room_code").to_owned();
    let first = json!({"type":"relay","host":"relay.example.net","port":40000,"transport":"udp","allocation_id":"alloc","token":"opaque-7f3a","client_id":3});
    a.send(json!({"type":"ProvideConnectionInfo","data":{"connection_info":first}}));
    // Barrier through the owner: the room is waiting, so PlayerReady is refused by the owner,
    // and that refusal must be the next message.
    a.ready();
    a.expect_error("INVALID_ROOM_STATE");
    a.expect_quiet();

    let mut b = Client::connect_to_shard(port, 1);
    let joined = b.join_room("info game", &code, "B");
    let players = joined["current_players"].as_array().expect("players");
    let a_info = players.iter().find(|p| p["name"] == "A").expect("A");
    assert_eq!(a_info["connection_info"], first);
    let b_info = players.iter().find(|p| p["name"] == "B").expect("B");
    assert!(b_info.get("connection_info").is_none(), "{b_info}");
    a.expect_player_joined("B");

    // B's info never shows in PlayerJoined; a replacement shows in the next snapshot.
    let second = json!({"type":"custom","data":{"lobby":"eu-1","slots":[1,2]}});
    a.send(json!({"type":"ProvideConnectionInfo","data":{"connection_info":second}}));
    b.send(json!({"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"unity_relay","allocation_id":"x","connection_data":"y","key":"z"}}}));
    // Owner round trips: once each refusal is back, the owner has applied that client's info.
    for x in [&mut a, &mut b] {
        x.ready();
        x.expect_error("INVALID_ROOM_STATE");
    }
    let mut c = Client::connect_to_shard(port, 0);
    let joined = c.join_room("info game", &code, "C");
    let players = joined["current_players"].as_array().expect("players");
    let a_info = players.iter().find(|p| p["name"] == "A").expect("A");
    assert_eq!(a_info["connection_info"], second);
    let b_info = players.iter().find(|p| p["name"] == "B").expect("B");
    assert_eq!(b_info["connection_info"]["type"], "unity_relay");
    for other in [&mut a, &mut b] {
        let joined = other.expect("PlayerJoined");
        assert!(
            joined["player"].get("connection_info").is_none(),
            "{joined}"
        );
    }
    server.shutdown();
}

#[test]
fn player_ready_in_a_waiting_room_is_invalid_room_state() {
    let server = start_server();
    let mut cs = clients(server.port(), 2);
    seat_room(&mut cs, "early game", 3, None);
    cs[1].ready();
    let error = cs[1].expect_error("INVALID_ROOM_STATE");
    assert_eq!(
        error["message"],
        "Cannot change ready status. Room must be in lobby state (full with all players joined)."
    );
    // Nothing was broadcast: P0's own refused ready is its next message from the owner.
    cs[0].ready();
    cs[0].expect_error("INVALID_ROOM_STATE");
    for c in &mut cs {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn a_single_player_room_starts_when_its_player_readies() {
    let server = start_server();
    let mut solo = Client::connect(server.port());
    let room = solo.create_room("solo game", "Solo", 1);
    assert_eq!(room["lobby_state"], "waiting");
    let pid = str_of(&room, "player_id").to_owned();
    solo.ready();
    let lobby = solo.expect("LobbyStateChanged");
    assert_eq!(
        lobby,
        json!({"lobby_state":"finalized","ready_players":[pid],"all_ready":true})
    );
    let starting = solo.expect("GameStarting");
    assert_eq!(
        starting["peer_connections"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(starting["peer_connections"][0]["player_id"], pid.as_str());
    solo.expect_quiet();
    server.shutdown();
}

#[test]
fn leaving_a_full_room_reverts_to_waiting_and_clears_ready_marks() {
    let server = start_server();
    let port = server.port();
    let mut cs = clients(port, 3);
    let (room, pids) = seat_room(&mut cs, "revert game", 3, None);
    let code = str_of(&room, "room_code").to_owned();
    cs[0].ready();
    expect_lobby(&mut cs, "lobby", &ids(&[&pids[0]]), false);
    cs[1].ready();
    expect_lobby(&mut cs, "lobby", &ids(&[&pids[0], &pids[1]]), false);

    let mut leaver = cs.pop().expect("P2");
    leaver.leave();
    for c in &mut cs {
        assert_eq!(c.expect("PlayerLeft")["player_id"], pids[2].as_str());
    }
    expect_lobby(&mut cs, "waiting", &BTreeSet::new(), false);

    // A newcomer refills the room: lobby again, with nobody ready.
    let mut d = Client::connect_to_shard(port, other_shard(owner_of(&room)));
    let joined = d.join_room("revert game", &code, "D");
    assert_eq!(joined["lobby_state"], "lobby");
    assert_eq!(joined["ready_players"], json!([]));
    for p in joined["current_players"].as_array().expect("players") {
        assert_eq!(p["is_ready"], false, "{p}");
    }
    let d_id = str_of(&joined, "player_id").to_owned();
    for c in &mut cs {
        c.expect_player_joined("D");
    }
    cs.push(d);
    expect_lobby(&mut cs, "lobby", &BTreeSet::new(), false);

    // The old marks are gone: P0 readying alone is not everyone.
    cs[0].ready();
    expect_lobby(&mut cs, "lobby", &ids(&[&pids[0]]), false);
    cs[1].ready();
    expect_lobby(&mut cs, "lobby", &ids(&[&pids[0], &pids[1]]), false);
    cs[2].ready();
    expect_lobby(
        &mut cs,
        "finalized",
        &ids(&[&pids[0], &pids[1], &d_id]),
        true,
    );
    for c in &mut cs {
        c.expect("GameStarting");
    }
    leaver.expect_quiet();
    server.shutdown();
}

#[test]
fn leaving_a_finalized_room_reverts_to_waiting_and_reopens_the_seat() {
    let server = start_server();
    let port = server.port();
    let mut cs = clients(port, 2);
    let (room, pids) = seat_room(&mut cs, "restart game", 2, None);
    for i in 0..2 {
        cs[i].ready();
        for c in &mut cs {
            c.expect("LobbyStateChanged");
        }
    }
    for c in &mut cs {
        c.expect("GameStarting");
    }
    let mut gone = cs.pop().expect("P1");
    gone.leave();
    assert_eq!(cs[0].expect("PlayerLeft")["player_id"], pids[1].as_str());
    expect_lobby(&mut cs, "waiting", &BTreeSet::new(), false);
    let mut again = Client::connect(port);
    let joined = again.join_room("restart game", str_of(&room, "room_code"), "Again");
    assert_eq!(joined["lobby_state"], "lobby");
    cs[0].expect_player_joined("Again");
    cs.push(again);
    expect_lobby(&mut cs, "lobby", &BTreeSet::new(), false);
    server.shutdown();
}
