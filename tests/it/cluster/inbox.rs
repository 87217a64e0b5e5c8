//! Node inboxes: an envelope from one node's shard reaches another node's shard through both
//! bridges and real NATS; a real server's shard answers probes; the metrics count it.

use signal_fish_server::cluster::{Body, FromBridge};

use super::{cluster_config, join, next_matching, runtime, within};
use crate::common::nats::Nats;
use crate::common::{http_get, promtool, start_with};

#[test]
fn a_message_from_node_a_reaches_the_named_shard_of_node_b() {
    let Some(nats) = Nats::start("a_message_from_node_a_reaches_the_named_shard_of_node_b") else {
        return;
    };
    let (_a, links_a) = join(&nats.url(), "inbox-a", 2);
    let (b, links_b) = join(&nats.url(), "inbox-b", 2);
    let rt = runtime();
    for seq in 0..3 {
        links_a[1]
            .send("inbox-b", 1, Body::Probe { seq })
            .expect("bridge takes it");
    }
    // In order, on shard 1 of B only.
    for seq in 0..3 {
        let got = next_matching(&rt, &links_b[1], within(5), "the probe", |msg| match msg {
            FromBridge::Message(env) => Some(env),
            _ => None,
        });
        assert_eq!(
            (got.from.as_str(), got.from_shard, got.to_shard),
            ("inbox-a", 1, 1)
        );
        assert_eq!(got.from_instance, links_a[0].instance());
        assert!(
            matches!(got.body, Body::Probe { seq: s } if s == seq),
            "{got:?}"
        );
    }
    assert_eq!(
        links_b[0]
            .stats()
            .messages_in
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    // Shard 0 heard that A joined, and no message.
    while let Some(msg) = links_b[0].try_recv() {
        assert!(!matches!(msg, FromBridge::Message(_)), "{msg:?}");
    }
    drop(b);
}

#[test]
fn a_server_shard_answers_probes_and_scrapes_count_the_traffic() {
    let Some(nats) = Nats::start("a_server_shard_answers_probes_and_scrapes_count_the_traffic")
    else {
        return;
    };
    let server = start_with(|c| c.cluster = cluster_config(&nats.url(), "probe-server"));
    assert_eq!(server.cluster_node_id(), Some("probe-server"));
    let (_t, links) = join(&nats.url(), "probe-test", 1);
    let rt = runtime();
    for shard in 0..server.shards() as u32 {
        links[0]
            .send(
                "probe-server",
                shard,
                Body::Probe {
                    seq: u64::from(shard),
                },
            )
            .expect("bridge takes it");
        let reply = next_matching(
            &rt,
            &links[0],
            within(5),
            "the probe reply",
            |msg| match msg {
                FromBridge::Message(env) => Some(env),
                _ => None,
            },
        );
        assert_eq!(reply.from, "probe-server");
        assert_eq!(reply.from_shard, shard);
        assert!(
            matches!(reply.body, Body::ProbeReply { seq } if seq == u64::from(shard)),
            "{reply:?}"
        );
    }
    let (status, text) = http_get(
        server.port(),
        "GET /metrics/prom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    promtool::check(&["check", "metrics"], Some(&text));
    let shards = server.shards();
    let has = |line: &str| text.lines().any(|l| l == line);
    // One probe in and one reply out per shard.
    assert!(
        has(&format!(
            "signal_fish_cross_instance_messages_total {}",
            2 * shards
        )),
        "{text}"
    );
    assert!(
        has(&format!(
            "signal_fish_cluster_messages_in_total{{node=\"probe-server\"}} {shards}"
        )),
        "{text}"
    );
    assert!(
        has("signal_fish_cluster_nats_connected{node=\"probe-server\"} 1"),
        "{text}"
    );
    assert!(text.contains("signal_fish_cluster_directory_duration_seconds_bucket{node=\"probe-server\",op=\"create\",le=\"+Inf\"} 0"), "{text}");
    let (_, json) = http_get(
        server.port(),
        "GET /metrics?includeSnapshot=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        json["metricsSnapshot"]["cross_instance"]["cross_instance_messages"],
        2 * shards as u64,
        "{json}"
    );
    server.shutdown();
}
