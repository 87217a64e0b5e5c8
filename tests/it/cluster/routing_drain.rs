//! SIGTERM on one node of a cluster (decision 20, issue 11): the node drains, its rooms play
//! until they end and its sockets then close with 1001, while the other nodes keep serving;
//! once it is gone its rooms cannot be found from elsewhere.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::cluster::{ClusterFixture, after, numbered, of_type, send_numbered};
use crate::common::str_of;

const GAME: &str = "cluster drain";
const GOING_AWAY: u16 = 1001;

/// Creation on node `on` and a join through node `via` work.
fn create_and_join_across(cluster: &ClusterFixture, on: usize, via: usize) {
    let mut a = cluster.client(on);
    let created = a.create_room(GAME, "Host", 2);
    let mut b = cluster.client(via);
    let joined = b.join_room(GAME, str_of(&created, "room_code"), "Guest");
    assert_eq!(joined["room_id"], created["room_id"]);
    a.expect_player_joined("Guest");
}

/// Polls node `i`'s `/v2/health` until it answers 503 (draining).
fn wait_draining(cluster: &ClusterFixture, i: usize) {
    let deadline = after(Duration::from_secs(5));
    loop {
        let (status, _) = crate::common::http_get(
            cluster.node(i).port,
            "GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        if status == 503 {
            return;
        }
        assert!(Instant::now() < deadline, "node {i} never started draining");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_draining_node_finishes_its_rooms_while_the_others_serve() {
    let Some(mut cluster) = ClusterFixture::start_with(
        "a_draining_node_finishes_its_rooms_while_the_others_serve",
        3,
        |i| match i {
            0 => vec![("SIGNAL_FISH_SERVER__DRAIN_GRACE_SECS", "30".to_owned())],
            _ => Vec::new(),
        },
    ) else {
        return;
    };
    // R: homed on A, one member on B. A lurker on A in no room.
    let mut r0 = cluster.client(0);
    let room = r0.create_room(GAME, "R0", 4);
    let code = str_of(&room, "room_code").to_owned();
    let mut r1 = cluster.client(1);
    r1.join_room(GAME, &code, "R1");
    r0.expect_player_joined("R1");
    let mut lurker = cluster.client(0);

    cluster.terminate(0);
    wait_draining(&cluster, 0);

    // The others keep serving during the drain, and R keeps relaying across nodes.
    create_and_join_across(&cluster, 1, 2);
    create_and_join_across(&cluster, 2, 1);
    let deadline = after(Duration::from_secs(5));
    send_numbered(&mut r1, 1, 1);
    assert_eq!(r0.wait_for(deadline, "R1's data", numbered), (1, 1));
    send_numbered(&mut r0, 0, 1);
    assert_eq!(r1.wait_for(deadline, "R0's data", numbered), (0, 1));

    // R ends: A closes its sockets with 1001 and exits 0.
    r1.leave();
    r0.wait_for(deadline, "PlayerLeft", |m| of_type(m, "PlayerLeft"));
    r0.leave();
    assert_eq!(r0.expect_close(), Some(GOING_AWAY));
    assert_eq!(lurker.expect_close(), Some(GOING_AWAY));
    let exit = cluster.nodes[0].wait_exit(Duration::from_secs(10));
    assert!(exit.success(), "the drained node exits 0: {exit:?}");

    // B's socket was never A's: it is still served.
    r1.expect_quiet();
    // After: the remaining nodes serve, and A's room code leads nowhere.
    create_and_join_across(&cluster, 1, 2);
    let failed = r1.join_failed(json!({"game_name": GAME, "room_code": code, "player_name": "X"}));
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND", "{failed}");
}

#[test]
fn a_drain_that_runs_out_closes_members_on_other_nodes_with_1001() {
    let Some(mut cluster) = ClusterFixture::start_with(
        "a_drain_that_runs_out_closes_members_on_other_nodes_with_1001",
        2,
        |i| match i {
            0 => vec![("SIGNAL_FISH_SERVER__DRAIN_GRACE_SECS", "1".to_owned())],
            _ => Vec::new(),
        },
    ) else {
        return;
    };
    let mut r0 = cluster.client(0);
    let room = r0.create_room(GAME, "R0", 4);
    let mut r1 = cluster.client(1);
    r1.join_room(GAME, str_of(&room, "room_code"), "R1");
    r0.expect_player_joined("R1");

    cluster.terminate(0);
    // The grace runs out with R in play: its members close with 1001, the one on B too (its
    // socket is B's, closed on A's word), and B serves on.
    let terminated = Instant::now();
    assert_eq!(r0.expect_close(), Some(GOING_AWAY));
    assert_eq!(r1.expect_close(), Some(GOING_AWAY));
    assert!(
        terminated.elapsed() < Duration::from_secs(4),
        "closed {:?} after SIGTERM with a 1 s grace",
        terminated.elapsed()
    );
    let exit = cluster.nodes[0].wait_exit(Duration::from_secs(10));
    assert!(exit.success(), "{exit:?}");
    create_and_join_across(&cluster, 1, 1);
    let mut late = cluster.client(1);
    let failed = late.join_failed(json!({
        "game_name": GAME, "room_code": str_of(&room, "room_code"), "player_name": "Late"}));
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND", "{failed}");
}
