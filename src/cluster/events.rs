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
        NodeEvent::Joined(node) => info!(target: CLUSTER, node = node.as_str(), "node joined"),
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
