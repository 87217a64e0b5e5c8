//! A node that dies leaves directory entries naming its rooms; the nodes that hear it gone
//! sweep them, and leave every other entry alone.
//!
//! The dead node is played by the test on a NATS connection of its own: it puts one heartbeat
//! and its rooms, exactly as a node would, then falls silent as a SIGKILLed one does.

use std::time::{Duration, Instant};

use signal_fish_server::cluster::liveness::Beat;
use signal_fish_server::cluster::{
    Claim, Directory, DirectoryReply, DirectoryRequest, FromBridge, GoneWhy, Home, NodeEvent,
};
use uuid::Uuid;

use super::kv::{bucket, net_runtime};
use super::{HEARTBEAT_SECS, TTL_SECS, join, next_matching, runtime, within};
use crate::common::nats::Nats;

#[test]
fn a_dead_nodes_entries_are_swept_and_no_others() {
    let Some(nats) = Nats::start("a_dead_nodes_entries_are_swept_and_no_others") else {
        return;
    };
    let (a, links) = join(&nats.url(), "sw-a", 1);
    let (rt, net) = (runtime(), net_runtime());
    let directory = Directory::new(bucket(&net, &nats.url(), "signal_fish_rooms"));
    let nodes = bucket(&net, &nats.url(), "signal_fish_nodes");

    // Node sw-b: one heartbeat, then silence.
    let b = Uuid::new_v4();
    let beat = Beat {
        node: "sw-b".to_owned(),
        instance: b,
        shards: 1,
    };
    net.block_on(nodes.put("sw-b", serde_json::to_vec(&beat).expect("json").into()))
        .expect("sw-b's heartbeat");
    let joined = next_matching(&rt, &links[0], within(5), "sw-b joining", |m| match m {
        FromBridge::Node(e) => Some(e),
        _ => None,
    });
    assert!(
        matches!(&joined, NodeEvent::Joined { node, .. } if node == "sw-b"),
        "{joined:?}"
    );

    let home = |node: &str, instance| Home {
        node: node.to_owned(),
        instance,
        shard: 0,
        room_id: Uuid::new_v4(),
    };
    let put = |code: &str, home: &Home| {
        let claim = net
            .block_on(directory.create("g", code, home))
            .expect("directory create");
        assert_eq!(claim, Claim::Won, "{code}");
    };
    let b_rooms = [("B1", home("sw-b", b)), ("B2", home("sw-b", b))];
    for (code, home) in &b_rooms {
        put(code, home);
    }
    // The next process of sw-b: not the one that died.
    let b_next = home("sw-b", Uuid::new_v4());
    put("B3", &b_next);
    // A room of the live node, claimed through its bridge.
    let a_room = home("sw-a", links[0].instance());
    links[0]
        .directory(
            1,
            DirectoryRequest::Create {
                game: "g".to_owned(),
                code: "A1".to_owned(),
                home: a_room.clone(),
            },
        )
        .expect("bridge takes it");
    let reply = next_matching(&rt, &links[0], within(10), "A1 created", |m| match m {
        FromBridge::Directory { token: 1, reply } => Some(reply),
        _ => None,
    });
    assert_eq!(reply, DirectoryReply::Created(Claim::Won));

    let silent = Instant::now();
    let gone = next_matching(
        &rt,
        &links[0],
        within(TTL_SECS + 5),
        "sw-b gone",
        |m| match m {
            FromBridge::Node(e @ NodeEvent::Gone { .. }) => Some(e),
            _ => None,
        },
    );
    assert_eq!(
        gone,
        NodeEvent::Gone {
            node: "sw-b".to_owned(),
            instance: b,
            why: GoneWhy::Silent
        }
    );
    // The sweep waits a heartbeat interval (and a second) for a sign of life first.
    let deadline = Instant::now() + Duration::from_secs(HEARTBEAT_SECS + 10);
    let b_entries_left = || {
        b_rooms
            .iter()
            .filter(|(code, home)| {
                let by_code = net.block_on(directory.lookup_code("g", code));
                let by_id = net.block_on(directory.lookup_room(&home.room_id));
                by_code.expect("lookup").is_some() || by_id.expect("lookup").is_some()
            })
            .count()
    };
    while b_entries_left() > 0 {
        assert!(
            Instant::now() < deadline,
            "sw-b's entries still there {:?} after it fell silent",
            silent.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "cluster sweep: sw-b's entries gone {:?} after its last heartbeat",
        silent.elapsed()
    );
    // Everything else stays, by code and by room id.
    for (code, home) in [("B3", &b_next), ("A1", &a_room)] {
        let by_code = net.block_on(directory.lookup_code("g", code));
        assert_eq!(by_code.expect("lookup").as_ref(), Some(home), "{code}");
        let by_id = net.block_on(directory.lookup_room(&home.room_id));
        assert_eq!(by_id.expect("lookup").as_ref(), Some(home), "{code}");
    }
    // Two rooms, two keys each, all removed by sw-a; the count and the scrape say so.
    let counted = || {
        a.stats()
            .directory_swept
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    // The last purge is counted just after it lands.
    while counted() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(counted(), 4);
    let mut text = String::new();
    a.stats().render_prometheus(&mut text, "sw-a");
    assert!(
        text.lines()
            .any(|l| l == "signal_fish_cluster_directory_swept_total{node=\"sw-a\"} 4"),
        "{text}"
    );
}
