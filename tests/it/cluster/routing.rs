//! Rooms across real server processes (issue 11): a room created on one node is joined,
//! watched, played and reconnected to from the others, with each sender's order kept; two
//! nodes creating codes at once never share one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Barrier;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::cluster::{
    ClusterFixture, after, all_see_reconnected, collect_numbered, from_sender, numbered, of_type,
    reclaim, send_numbered, spectate,
};
use crate::common::{Client, Ticket, str_of};

const GAME: &str = "cluster routing";
/// Numbered messages each player sends.
const PER_SENDER: u64 = 50;

/// The lobby snapshot every member and the spectator read: `state`, `ready` ids, `all_ready`.
fn expect_lobby(clients: &mut [&mut Client], state: &str, ready: &[&str], all_ready: bool) {
    let ready: BTreeSet<&str> = ready.iter().copied().collect();
    for c in clients.iter_mut() {
        let lobby = c.expect("LobbyStateChanged");
        assert_eq!(lobby["lobby_state"], state, "{lobby}");
        let seen: BTreeSet<&str> = lobby["ready_players"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(seen, ready, "{lobby}");
        assert_eq!(lobby["all_ready"], all_ready, "{lobby}");
    }
}

#[test]
fn a_room_spans_three_nodes_lobby_and_game_data_in_order() {
    let Some(cluster) =
        ClusterFixture::start("a_room_spans_three_nodes_lobby_and_game_data_in_order", 3)
    else {
        return;
    };
    // P0 creates on A, P1 joins on B, a spectator and P2 come through C.
    let mut p0 = cluster.client(0);
    let created = p0.create_room(GAME, "P0", 3);
    let code = str_of(&created, "room_code").to_owned();
    let room_id = created["room_id"].clone();

    let mut p1 = cluster.client(1);
    let joined = p1.join_room(GAME, &code, "P1");
    let p1_id = str_of(&joined, "player_id").to_owned();
    assert_eq!(joined["room_id"], room_id, "B found A's room: {joined}");
    assert_eq!(joined["lobby_state"], "waiting");
    let names: Vec<&Value> = joined["current_players"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| &p["name"])
        .collect();
    assert_eq!(names, [&json!("P0"), &json!("P1")], "{joined}");
    p0.expect_player_joined("P1");

    let mut watcher = cluster.client(2);
    spectate(&mut watcher, GAME, &code.to_lowercase(), "Caster");
    let watching = watcher.expect("SpectatorJoined");
    assert_eq!(watching["room_id"], room_id, "{watching}");
    assert_eq!(
        watching["current_players"].as_array().map(Vec::len),
        Some(2),
        "{watching}"
    );
    for p in [&mut p0, &mut p1] {
        let notice = p.expect("NewSpectatorJoined");
        assert_eq!(notice["spectator"]["name"], "Caster");
    }

    let mut p2 = cluster.client(2);
    let joined = p2.join_room(GAME, &code, "P2");
    assert_eq!(joined["room_id"], room_id);
    assert_eq!(joined["lobby_state"], "lobby", "the third seat fills it");
    let ids = [
        str_of(&created, "player_id").to_owned(),
        p1_id,
        str_of(&joined, "player_id").to_owned(),
    ];
    for c in [&mut p0, &mut p1, &mut watcher] {
        c.expect_player_joined("P2");
    }

    // The lobby across nodes: everyone (spectator included) sees each ready mark, then the
    // start, whatever node the player and the room are on.
    let mut everyone = [&mut p0, &mut p1, &mut p2, &mut watcher];
    expect_lobby(&mut everyone, "lobby", &[], false);
    everyone[1].ready();
    expect_lobby(&mut everyone, "lobby", &[&ids[1]], false);
    everyone[2].ready();
    expect_lobby(&mut everyone, "lobby", &[&ids[1], &ids[2]], false);
    everyone[0].ready();
    expect_lobby(
        &mut everyone,
        "finalized",
        &[&ids[0], &ids[1], &ids[2]],
        true,
    );
    for c in everyone.iter_mut() {
        c.expect("GameStarting");
    }

    // Game data: 50 numbered messages per player, interleaved across the three nodes.
    let [p0, p1, p2, watcher] = everyone;
    let mut players = [p0, p1, p2];
    for n in 1..=PER_SENDER {
        for (from, p) in players.iter_mut().enumerate() {
            send_numbered(p, from, n);
        }
    }
    let expected: Vec<u64> = (1..=PER_SENDER).collect();
    let deadline = after(Duration::from_secs(10));
    let per_player = 2 * PER_SENDER as usize;
    for (me, p) in players.iter_mut().enumerate() {
        let seen = collect_numbered(p, per_player, deadline, &format!("P{me}"));
        for from in (0..3).filter(|&f| f != me) {
            assert_eq!(
                from_sender(&seen, from),
                expected,
                "P{me} got P{from}'s messages once each, in send order"
            );
        }
        p.expect_quiet();
    }
    let seen = collect_numbered(watcher, 3 * PER_SENDER as usize, deadline, "spectator");
    for from in 0..3 {
        assert_eq!(
            from_sender(&seen, from),
            expected,
            "the spectator got P{from}'s messages"
        );
    }
    watcher.expect_quiet();

    // The relayed messages say who sent them.
    players[1].send_game_data(json!({"who": "P1"}));
    let relayed = players[0].wait_for(after(Duration::from_secs(5)), "P1's GameData", |m| {
        of_type(m, "GameData")
    });
    assert_eq!(relayed["from_player"], ids[1].as_str(), "{relayed}");

    // The traffic crossed nodes, and no batch went missing on loopback.
    for i in 0..3 {
        let node = cluster.node(i);
        let crossed = node.metric("signal_fish_cross_instance_messages_total");
        assert!(crossed.is_some_and(|n| n > 0.0), "node {i}: {crossed:?}");
        let gaps = node.metric("signal_fish_cluster_batch_gaps_total");
        assert_eq!(gaps, Some(0.0), "node {i}");
    }
}

/// `JoinRoom` creating a room: `Ok(RoomJoined.data)` or `Err(RoomJoinFailed.data)`.
fn try_create(client: &mut Client, name: &str) -> Result<Value, Value> {
    client.send(json!({"type":"JoinRoom","data":{
        "game_name": GAME, "player_name": name, "max_players": 2}}));
    let msg = client.recv();
    match msg["type"].as_str() {
        Some("RoomJoined") => Ok(msg["data"].clone()),
        Some("RoomJoinFailed") => Err(msg["data"].clone()),
        _ => panic!("unexpected answer to a creation: {msg}"),
    }
}

/// The length of the random part the code space test leaves: one symbol, 32 codes.
const PREFIX: &str = "CLSTR";
const CODE_SPACE: usize = 32;

#[test]
fn two_nodes_creating_at_once_never_share_a_code() {
    let env = |_| {
        vec![
            ("SIGNAL_FISH_SERVER__ROOM_CODE_PREFIX", PREFIX.to_owned()),
            ("SIGNAL_FISH_PROTOCOL__ROOM_CODE_LENGTH", "6".to_owned()),
        ]
    };
    let Some(cluster) =
        ClusterFixture::start_with("two_nodes_creating_at_once_never_share_a_code", 2, env)
    else {
        return;
    };
    // 12 creators per node, all released at once: the nodes race for the same 32 codes.
    const PER_NODE: usize = 12;
    let start = Barrier::new(2 * PER_NODE);
    let results: Vec<(usize, Client, Result<Value, Value>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2 * PER_NODE)
            .map(|i| {
                let node = i % 2;
                let mut c = cluster.client(node);
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let r = try_create(&mut c, &format!("C{i}"));
                    (node, c, r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("creator thread"))
            .collect()
    });

    // Every room announced has a code of its own; a creation that lost every code it tried
    // says ROOM_CREATION_FAILED.
    let mut rooms: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    let mut creators = Vec::new();
    for (node, c, result) in results {
        match result {
            Ok(joined) => {
                let code = str_of(&joined, "room_code").to_owned();
                assert!(code.starts_with(PREFIX), "{joined}");
                let earlier = rooms.insert(code.clone(), (node, joined["room_id"].clone()));
                assert!(earlier.is_none(), "two rooms announced code {code}");
                creators.push(c);
            }
            Err(failed) => assert_eq!(failed["error_code"], "ROOM_CREATION_FAILED", "{failed}"),
        }
    }
    assert!(
        rooms.len() >= PER_NODE,
        "only {} of {} creations succeeded with {CODE_SPACE} codes free",
        rooms.len(),
        2 * PER_NODE
    );

    // Fill the space: create on alternate nodes until both refuse.
    let mut refusals = [0usize; 2];
    let mut attempt = 0;
    while refusals.iter().any(|&r| r < 2) {
        attempt += 1;
        assert!(
            attempt < 4 * CODE_SPACE,
            "creation never stopped: {rooms:?}"
        );
        let node = attempt % 2;
        let mut c = cluster.client(node);
        match try_create(&mut c, &format!("F{attempt}")) {
            Ok(joined) => {
                let code = str_of(&joined, "room_code").to_owned();
                let earlier = rooms.insert(code.clone(), (node, joined["room_id"].clone()));
                assert!(earlier.is_none(), "code {code} handed out twice");
                creators.push(c);
            }
            Err(failed) => {
                assert_eq!(failed["error_code"], "ROOM_CREATION_FAILED", "{failed}");
                refusals[node] += 1;
            }
        }
    }
    assert!(rooms.len() <= CODE_SPACE, "{rooms:?}");
    if rooms.len() < CODE_SPACE {
        eprintln!(
            "note: creation refused with {} of {CODE_SPACE} codes taken",
            rooms.len()
        );
    }

    // Each code joined through the other node lands in the room that announced it.
    for (code, (node, room_id)) in &rooms {
        let mut joiner = cluster.client(1 - node);
        let joined = joiner.join_room(GAME, code, "Joiner");
        assert_eq!(
            &joined["room_id"], room_id,
            "code {code} from node {node} led elsewhere"
        );
    }
    drop(creators);
}

#[test]
fn a_player_reconnects_through_a_third_node_and_gets_what_it_missed() {
    let Some(cluster) = ClusterFixture::start(
        "a_player_reconnects_through_a_third_node_and_gets_what_it_missed",
        3,
    ) else {
        return;
    };
    // Home on A; P1 on B; P2 on C. Four seats, so no lobby traffic.
    let mut p0 = cluster.client(0);
    let created = p0.create_room(GAME, "P0", 4);
    let code = str_of(&created, "room_code").to_owned();
    let mut p1 = cluster.client(1);
    let ticket = Ticket::of(&p1.join_room(GAME, &code, "P1"));
    p0.expect_player_joined("P1");
    let mut p2 = cluster.client(2);
    p2.join_room(GAME, &code, "P2");
    p0.expect_player_joined("P2");
    p1.expect_player_joined("P2");

    // P1's socket drops; the others are told, then play on without it.
    drop(p1);
    let deadline = after(Duration::from_secs(5));
    for p in [&mut p0, &mut p2] {
        let left = p.wait_for(deadline, "PlayerLeft", |m| of_type(m, "PlayerLeft"));
        assert_eq!(left["player_id"], ticket.player_id.as_str(), "{left}");
    }
    for n in 1..=10 {
        send_numbered(&mut p0, 0, n);
        send_numbered(&mut p2, 2, n);
    }
    let deadline = after(Duration::from_secs(5));
    collect_numbered(&mut p0, 10, deadline, "P0");
    collect_numbered(&mut p2, 10, deadline, "P2");

    // Back through C, with the token from B.
    let mut back = cluster.client(2);
    let reconnected = reclaim(&mut back, &ticket, after(Duration::from_secs(5)));
    assert_eq!(reconnected["player_id"], ticket.player_id.as_str());
    assert_eq!(reconnected["room_id"], ticket.room_id.as_str());
    let missed: Vec<(usize, u64)> = reconnected["missed_events"]
        .as_array()
        .expect("missed_events")
        .iter()
        .filter_map(numbered)
        .collect();
    let ten: Vec<u64> = (1..=10).collect();
    assert_eq!(from_sender(&missed, 0), ten, "P0's while away: {missed:?}");
    assert_eq!(from_sender(&missed, 2), ten, "P2's while away: {missed:?}");
    let deadline = after(Duration::from_secs(5));
    all_see_reconnected([&mut p0, &mut p2], deadline, &ticket.player_id);

    // Live again, both ways.
    send_numbered(&mut p0, 0, 11);
    assert_eq!(
        back.wait_for(deadline, "P0's 11", numbered),
        (0, 11),
        "live data after the replay"
    );
    send_numbered(&mut back, 1, 1);
    let from_p1 = |m: &serde_json::Value| numbered(m).filter(|(from, _)| *from == 1);
    for p in [&mut p0, &mut p2] {
        assert_eq!(p.wait_for(deadline, "P1's 1", from_p1), (1, 1));
    }
}
