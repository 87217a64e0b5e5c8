//! The cluster's log records (target `signal_fish_server::cluster`). The bridge thread logs
//! through the server's logging: `Cluster::start` hands it the starting thread's dispatcher.

use tracing::{info, warn};

use super::liveness::{GoneWhy, NodeEvent};

pub const CLUSTER: &str = "signal_fish_server::cluster";

/// The node joined NATS.
pub fn joined(node: &str, nats_url: &str, shards: u32) {
    info!(target: CLUSTER, node, nats_url, shards, "cluster joined");
}

/// Another node joined or left.
pub fn node(event: &NodeEvent) {
    match event {
        NodeEvent::Joined { node, .. } => {
            info!(target: CLUSTER, node = node.as_str(), "node joined")
        }
        NodeEvent::Gone { node, why, .. } => {
            let why = match why {
                GoneWhy::Deleted => "left",
                GoneWhy::Silent => "silent past node_ttl_secs",
                GoneWhy::Restarted => "restarted",
            };
            warn!(target: CLUSTER, node = node.as_str(), why, "node gone");
        }
    }
}

/// The NATS connection dropped or came back.
pub fn nats_connection(up: bool) {
    if up {
        info!(target: CLUSTER, "NATS connection restored");
    } else {
        warn!(target: CLUSTER, "NATS connection lost; reconnecting");
    }
}

/// Batches from `node` were lost on the way: the members they concerned are closed, to
/// reconnect and have the missed events replayed.
pub fn gap(node: &str) {
    warn!(target: CLUSTER, node, "cluster batches lost; closing the members concerned");
}

/// The directory entries of a gone node's process were swept: `entries` removed here (other
/// nodes sweep too, so this may be 0).
pub fn swept(node: &str, entries: u64) {
    info!(target: CLUSTER, node, entries, "directory entries of a gone node swept");
}

/// A gone node's entries were left alone, and why.
pub fn sweep_skipped(node: &str, why: &str) {
    info!(target: CLUSTER, node, why, "directory sweep of a gone node skipped");
}

/// Sweeping a gone node's entries failed; other nodes sweep too.
pub fn sweep_failed(node: &str, error: &str) {
    warn!(target: CLUSTER, node, error, "directory sweep of a gone node failed");
}
