//! NATS lost under a running node and back: every shard hears both, the bridge refuses work
//! at once meanwhile, and on the way back the node's liveness key is put before the shards
//! hear it (so the others see the node at once, not at its next heartbeat).

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use signal_fish_server::cluster::{
    Body, Claim, Cluster, DirectoryReply, DirectoryRequest, FromBridge, Home,
};
use signal_fish_server::config::ClusterConfig;
use uuid::Uuid;

use super::kv::{bucket, net_runtime, revision};
use super::{cluster_config, next_matching, runtime, within};
use crate::common::nats::Nats;

fn nats_state(msg: FromBridge) -> Option<bool> {
    match msg {
        FromBridge::Nats(up) => Some(up),
        _ => None,
    }
}

#[test]
fn shards_hear_nats_go_and_return_and_the_bridge_fails_fast_meanwhile() {
    let Some(mut nats) =
        Nats::start("shards_hear_nats_go_and_return_and_the_bridge_fails_fast_meanwhile")
    else {
        return;
    };
    // A heartbeat far longer than the test: only the put on reconnect can refresh the key.
    let cfg = ClusterConfig {
        heartbeat_interval_secs: 60,
        node_ttl_secs: 120,
        ..cluster_config(&nats.url(), "out-a")
    };
    let (node, links) = Cluster::start(&cfg, "out-a".to_owned(), 2).expect("out-a joins");
    let (rt, net) = (runtime(), net_runtime());
    let before = {
        let nodes = bucket(&net, &nats.url(), "signal_fish_nodes");
        revision(&net, &nodes, "out-a").expect("out-a's liveness key")
    };
    let stats = node.stats().clone();
    let home = Home {
        node: "out-a".to_owned(),
        instance: links[0].instance(),
        shard: 0,
        room_id: Uuid::new_v4(),
    };
    let create = || DirectoryRequest::Create {
        game: "g".to_owned(),
        code: "OUT123".to_owned(),
        home: home.clone(),
    };

    nats.restart(|| {
        for link in &links {
            let up = next_matching(&rt, link, within(5), "Nats(false)", nats_state);
            assert!(!up, "shard {} heard Nats(true) first", link.shard());
        }
        assert_eq!(stats.nats_connected.load(Relaxed), 0);
        let failures = stats.publish_failures.load(Relaxed);
        // Dropped and counted, not buffered for later.
        links[1]
            .send("out-a", 0, Body::Probe { seq: 7 })
            .expect("bridge takes it");
        let asked = Instant::now();
        links[0].directory(1, create()).expect("bridge takes it");
        let reply = next_matching(
            &rt,
            &links[0],
            Instant::now() + Duration::from_secs(1),
            "a directory reply within 1 s",
            |m| match m {
                FromBridge::Directory { token: 1, reply } => Some(reply),
                _ => None,
            },
        );
        assert!(
            matches!(&reply, DirectoryReply::Failed(why) if why.contains("down")),
            "{reply:?}"
        );
        eprintln!(
            "cluster outage: directory refused after {:?}",
            asked.elapsed()
        );
        // The bridge takes requests in order: the send was handled before the request.
        assert_eq!(stats.publish_failures.load(Relaxed), failures + 1);
    });

    for link in &links {
        let up = next_matching(&rt, link, within(15), "Nats(true)", nats_state);
        assert!(up, "shard {} heard Nats(false) twice", link.shard());
    }
    assert_eq!(stats.nats_connected.load(Relaxed), 1);
    // Put before the shards heard: no waiting for the 60 s heartbeat.
    let nodes = bucket(&net, &nats.url(), "signal_fish_nodes");
    let after = revision(&net, &nodes, "out-a").expect("out-a's liveness key");
    assert!(
        after > before,
        "the key was not put again ({before} → {after})"
    );
    // The directory and the inbox work again; the probe dropped during the outage never
    // arrives late.
    links[0].directory(2, create()).expect("bridge takes it");
    let reply = next_matching(&rt, &links[0], within(10), "a create reply", |m| match m {
        FromBridge::Directory { token: 2, reply } => Some(reply),
        _ => None,
    });
    assert_eq!(reply, DirectoryReply::Created(Claim::Won));
    links[1]
        .send("out-a", 0, Body::Probe { seq: 8 })
        .expect("bridge takes it");
    let seq = next_matching(&rt, &links[0], within(5), "the probe", |m| match m {
        FromBridge::Message(env) => match env.body {
            Body::Probe { seq } => Some(seq),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(seq, 8);
}

#[test]
fn a_hung_nats_fails_a_directory_request_within_its_bound() {
    let Some(mut nats) = Nats::start("a_hung_nats_fails_a_directory_request_within_its_bound")
    else {
        return;
    };
    let (node, links) = super::join(&nats.url(), "hung-a", 1);
    let rt = runtime();
    let lookup = DirectoryRequest::LookupCode {
        game: "g".to_owned(),
        code: "HUNG01".to_owned(),
    };
    // The connection stays up (no Nats(false)): only the call's own bound can end the wait.
    let (reply, took) = nats.freeze(|| {
        let asked = Instant::now();
        links[0]
            .directory(1, lookup.clone())
            .expect("bridge takes it");
        let reply = next_matching(
            &rt,
            &links[0],
            within(4),
            "a directory reply",
            |m| match m {
                FromBridge::Directory { token: 1, reply } => Some(reply),
                _ => None,
            },
        );
        (reply, asked.elapsed())
    });
    assert!(
        matches!(&reply, DirectoryReply::Failed(why) if why.contains("no answer within 2 s")),
        "{reply:?}"
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    use signal_fish_server::cluster::stats::{DirOp, DirOutcome};
    assert_eq!(
        node.stats()
            .directory_count(DirOp::Lookup, DirOutcome::Error),
        1
    );
    // Thawed, it answers again.
    links[0].directory(2, lookup).expect("bridge takes it");
    let reply = next_matching(
        &rt,
        &links[0],
        within(5),
        "a directory reply",
        |m| match m {
            FromBridge::Directory { token: 2, reply } => Some(reply),
            _ => None,
        },
    );
    assert_eq!(reply, DirectoryReply::Found(None));
}
