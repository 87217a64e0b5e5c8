//! Node liveness through real NATS: a node is seen joining, leaving cleanly, and dying.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use signal_fish_server::cluster::{FromBridge, GoneWhy, NodeEvent};

use super::{HEARTBEAT_SECS, TTL_SECS, join, next_matching, runtime, within};
use crate::common::nats::{Nats, free_port};

fn node_event(msg: FromBridge) -> Option<NodeEvent> {
    match msg {
        FromBridge::Node(event) => Some(event),
        _ => None,
    }
}

#[test]
fn a_node_is_seen_joining_and_leaving_cleanly() {
    let Some(nats) = Nats::start("a_node_is_seen_joining_and_leaving_cleanly") else {
        return;
    };
    let (a, links) = join(&nats.url(), "live-a", 2);
    let rt = runtime();
    let (b, _links_b) = join(&nats.url(), "live-b", 1);
    // Every shard of A hears it.
    for link in &links {
        let event = next_matching(&rt, link, within(5), "b joining", node_event);
        assert!(
            matches!(&event, NodeEvent::Joined { node, .. } if node == "live-b"),
            "{event:?}"
        );
    }
    assert_eq!(
        a.stats()
            .nodes_alive
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let left = Instant::now();
    b.stop();
    let event = next_matching(&rt, &links[0], within(5), "b leaving", node_event);
    assert!(
        matches!(&event, NodeEvent::Gone { node, why: GoneWhy::Deleted, .. } if node == "live-b"),
        "{event:?}"
    );
    // A clean stop deletes the key: no need to wait for the TTL.
    assert!(
        left.elapsed() < Duration::from_secs(TTL_SECS),
        "{:?}",
        left.elapsed()
    );
}

#[test]
fn a_killed_node_is_reported_gone_within_ttl_plus_2s() {
    let Some(nats) = Nats::start("a_killed_node_is_reported_gone_within_ttl_plus_2s") else {
        return;
    };
    let (_a, links) = join(&nats.url(), "kill-a", 1);
    let rt = runtime();
    let mut victim = Command::new(env!("CARGO_BIN_EXE_signal-fish-server"))
        .current_dir(std::env::temp_dir())
        .env("SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING", "false")
        .env("SIGNAL_FISH_LOGGING__LEVEL", "off")
        .env("SIGNAL_FISH_SERVER__SHARDS", "1")
        .env("SIGNAL_FISH_SERVER__HOST", "127.0.0.1")
        .env("SIGNAL_FISH_PORT", free_port().to_string())
        .env("SIGNAL_FISH_CLUSTER__NATS_URL", nats.url())
        .env("SIGNAL_FISH_CLUSTER__NODE_ID", "kill-b")
        .env(
            "SIGNAL_FISH_CLUSTER__HEARTBEAT_INTERVAL_SECS",
            HEARTBEAT_SECS.to_string(),
        )
        .env("SIGNAL_FISH_CLUSTER__NODE_TTL_SECS", TTL_SECS.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let joined = next_matching(&rt, &links[0], within(15), "kill-b joining", node_event);
    assert!(
        matches!(&joined, NodeEvent::Joined { node, .. } if node == "kill-b"),
        "{joined:?}"
    );
    // SIGKILL: no goodbye, the key only ages.
    let killed = Instant::now();
    victim.kill().expect("kill");
    let _ = victim.wait();
    let gone = next_matching(
        &rt,
        &links[0],
        within(TTL_SECS + 5),
        "kill-b gone",
        node_event,
    );
    let took = killed.elapsed();
    // nats-server 2.9 tells a watcher nothing when max_age expires a key: only the watcher's
    // own silence check can report this (see cluster/liveness.rs).
    assert!(
        matches!(&gone, NodeEvent::Gone { node, why: GoneWhy::Silent, .. } if node == "kill-b"),
        "{gone:?}"
    );
    assert!(
        took <= Duration::from_secs(TTL_SECS + 2),
        "reported after {took:?}, TTL is {TTL_SECS} s"
    );
    eprintln!("cluster liveness: killed node reported gone after {took:?} (TTL {TTL_SECS} s)");
}
