//! nats-server stopped under running nodes (issue 11): rooms whose members share one node play
//! on, a member of a room homed on another node is told (never left silent), creation fails
//! closed; once nats-server is back (same port and store), creation and joins across nodes
//! work again and the dropped member gets its seat back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::cluster::{
    ClusterFixture, Next, after, numbered, of_type, reclaim, send_numbered,
};
use crate::common::{Client, Ticket, str_of};

const GAME: &str = "cluster nats outage";

/// `JoinRoom` with `data`: `Ok(RoomJoined.data)` or `Err(RoomJoinFailed.data)`.
/// Answered within 5 s (a node that cannot reach the directory must say so, not hang).
fn try_join(client: &mut Client, data: Value) -> Result<Value, Value> {
    client.send(json!({"type":"JoinRoom","data":data.clone()}));
    let msg = client.wait_for(
        after(Duration::from_secs(5)),
        &format!("answer to JoinRoom {data}"),
        |m| matches!(m["type"].as_str(), Some("RoomJoined" | "RoomJoinFailed")).then(|| m.clone()),
    );
    match msg["type"].as_str() {
        Some("RoomJoined") => Ok(msg["data"].clone()),
        _ => Err(msg["data"].clone()),
    }
}

fn create(name: &str) -> Value {
    json!({"game_name": GAME, "player_name": name, "max_players": 4})
}

fn join(code: &str, name: &str) -> Value {
    json!({"game_name": GAME, "room_code": code, "player_name": name})
}

/// Waits for `client` to be told its room is out of reach: a close frame (1011 expected) or an
/// `Error`. Silence until `deadline`, or a connection dropped without a word, fails.
fn expect_told(client: &mut Client, deadline: Instant) -> String {
    let start = Instant::now();
    loop {
        client.set_read_timeout(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        );
        match client.next() {
            Next::Closed(code) => {
                assert_eq!(code, Some(1011), "closed with {code:?}");
                return format!("close {code:?} after {:?}", start.elapsed());
            }
            Next::Json(msg) if msg["type"] == "Error" => {
                return format!("{msg} after {:?}", start.elapsed());
            }
            Next::Json(_) | Next::Binary(_) => {}
            Next::TimedOut => panic!("a cross-node member was left silent when NATS went away"),
            Next::Dropped(e) => panic!("the connection dropped without a close frame: {e}"),
        }
    }
}

#[test]
fn a_nats_outage_keeps_local_rooms_closes_cross_node_members_and_recovers() {
    let Some(mut cluster) = ClusterFixture::start(
        "a_nats_outage_keeps_local_rooms_closes_cross_node_members_and_recovers",
        2,
    ) else {
        return;
    };
    let (port_a, port_b) = (cluster.node(0).port, cluster.node(1).port);
    // L: both members on A. X: homed on A, one member on B.
    let mut l0 = Client::connect(port_a);
    let local = l0.create_room(GAME, "L0", 4);
    let local_code = str_of(&local, "room_code").to_owned();
    let mut l1 = Client::connect(port_a);
    l1.join_room(GAME, &local_code, "L1");
    l0.expect_player_joined("L1");
    let mut x0 = Client::connect(port_a);
    let cross = x0.create_room(GAME, "X0", 4);
    let mut x1 = Client::connect(port_b);
    let x1_ticket = Ticket::of(&x1.join_room(GAME, str_of(&cross, "room_code"), "X1"));
    x0.expect_player_joined("X1");
    send_numbered(&mut x1, 1, 1);
    assert_eq!(
        x0.wait_for(after(Duration::from_secs(5)), "X1's 1", numbered),
        (1, 1)
    );

    cluster.nats.restart(|| {
        // The member on B is told, loudly.
        let told = expect_told(&mut x1, after(Duration::from_secs(5)));
        eprintln!("the cross-node member was told: {told}");
        // The home counts it as disconnected.
        let left = x0.wait_for(after(Duration::from_secs(5)), "PlayerLeft for X1", |m| {
            of_type(m, "PlayerLeft")
        });
        assert_eq!(left["player_id"], x1_ticket.player_id.as_str(), "{left}");

        // The room with both members on A plays on.
        for n in 1..=5 {
            send_numbered(&mut l0, 0, n);
            send_numbered(&mut l1, 1, n);
        }
        let deadline = after(Duration::from_secs(5));
        for n in 1..=5 {
            assert_eq!(l1.wait_for(deadline, "L0's data", numbered), (0, n));
            assert_eq!(l0.wait_for(deadline, "L1's data", numbered), (1, n));
        }

        // Creation fails closed; a join needing the directory is refused.
        let mut c = Client::connect(port_a);
        let refused = try_join(&mut c, create("New")).expect_err("no room without NATS");
        assert_eq!(refused["error_code"], "ROOM_CREATION_FAILED", "{refused}");
        let mut j = Client::connect(port_b);
        let refused = try_join(&mut j, join(&local_code, "Far"))
            .expect_err("no cross-node join without NATS");
        assert_eq!(refused["error_code"], "SERVICE_UNAVAILABLE", "{refused}");
        let mut r = Client::connect(port_b);
        x1_ticket.send(&mut r);
        let failed = r.wait_for(
            after(Duration::from_secs(5)),
            "an answer to Reconnect",
            |m| (m["type"] != "Pong").then(|| m.clone()),
        );
        assert_eq!(failed["type"], "ReconnectionFailed", "{failed}");
        assert_eq!(
            failed["data"]["error_code"], "RECONNECTION_FAILED",
            "{failed}"
        );
    });
    let back = Instant::now();

    // Creation works again within a few seconds (polled), and so does a join from B.
    let mut creator = Client::connect(port_a);
    let deadline = after(Duration::from_secs(10));
    let created = loop {
        match try_join(&mut creator, create("After")) {
            Ok(joined) => break joined,
            Err(failed) => {
                assert_eq!(failed["error_code"], "ROOM_CREATION_FAILED", "{failed}");
                assert!(
                    Instant::now() < deadline,
                    "no creation 10 s after NATS came back"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    eprintln!(
        "creation works again {:?} after NATS restarted",
        back.elapsed()
    );
    // A join through B, polled as well: B must see A alive again before it forwards.
    let mut joiner = Client::connect(port_b);
    let joined = loop {
        match try_join(&mut joiner, join(str_of(&created, "room_code"), "AfterB")) {
            Ok(joined) => break joined,
            Err(failed) => {
                assert!(
                    Instant::now() < deadline,
                    "no join through B 10 s after NATS came back: {failed}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    eprintln!(
        "a join through another node works again {:?} after NATS restarted",
        back.elapsed()
    );
    assert_eq!(joined["room_id"], created["room_id"]);
    // The directory still leads B to the room made before the outage.
    let mut late = Client::connect(port_b);
    let joined = late.join_room(GAME, &local_code, "LateB");
    assert_eq!(joined["room_id"], local["room_id"], "{joined}");
    // The dropped member gets its seat back through B.
    let mut x1 = Client::connect(port_b);
    let reconnected = reclaim(&mut x1, &x1_ticket, after(Duration::from_secs(5)));
    assert_eq!(reconnected["room_id"], cross["room_id"]);
    send_numbered(&mut x0, 0, 2);
    assert_eq!(
        x1.wait_for(after(Duration::from_secs(5)), "X0's 2", numbered),
        (0, 2)
    );
}
