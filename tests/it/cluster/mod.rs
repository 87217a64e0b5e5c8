//! Cluster mode against a real nats-server (Debian package `nats-server`, see
//! `common/nats.rs`): the startup check with real processes, the room directory, node
//! liveness and node inboxes through the bridge, NATS outages, and sweeping a dead node's
//! directory entries.

mod directory;
mod inbox;
mod kv;
mod liveness;
mod nodes_smoke;
mod outage;
mod restart;
mod startup;
mod sweep;

use std::time::{Duration, Instant};

use signal_fish_server::cluster::{Cluster, FromBridge, ShardLink};
use signal_fish_server::config::ClusterConfig;

/// Heartbeat and TTL of the test nodes: short, so a dead node is noticed within seconds.
pub const HEARTBEAT_SECS: u64 = 1;
pub const TTL_SECS: u64 = 3;

/// A cluster configuration for NATS at `url`.
pub fn cluster_config(url: &str, node: &str) -> ClusterConfig {
    ClusterConfig {
        nats_url: Some(url.to_owned()),
        node_id: Some(node.to_owned()),
        heartbeat_interval_secs: HEARTBEAT_SECS,
        node_ttl_secs: TTL_SECS,
        connect_timeout_secs: 3,
    }
}

/// Joins NATS at `url` as `node` with `shards` shards.
pub fn join(url: &str, node: &str, shards: usize) -> (Cluster, Vec<ShardLink>) {
    Cluster::start(&cluster_config(url, node), node.to_owned(), shards)
        .unwrap_or_else(|e| panic!("node {node} joins: {e}"))
}

/// A runtime to await links on (a link wakes any executor's tasks; tokio gives us timeouts).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// The first thing `link` receives before `deadline` that `pick` keeps; other things are
/// skipped. Panics naming `what` at the deadline.
pub fn next_matching<T>(
    rt: &tokio::runtime::Runtime,
    link: &ShardLink,
    deadline: Instant,
    what: &str,
    mut pick: impl FnMut(FromBridge) -> Option<T>,
) -> T {
    rt.block_on(async {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, link.recv()).await {
                Ok(Some(msg)) => {
                    if let Some(found) = pick(msg) {
                        return found;
                    }
                }
                Ok(None) => panic!("the bridge stopped while waiting for {what}"),
                Err(_) => panic!("no {what} within the deadline"),
            }
        }
    })
}

/// A deadline `secs` from now.
pub fn within(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}
