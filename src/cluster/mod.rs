//! Cluster mode on NATS (decision 22), the foundation: with `cluster.nats_url` set, the
//! process joins a NATS server at startup (failing with exit 1 when it is unreachable or has
//! JetStream off), keeps a liveness key fresh and watches the other nodes', opens the room
//! directory, and runs a bridge through which shards reach other nodes' inboxes. Rooms are
//! not routed across nodes yet: nothing here changes how a room behaves.
//!
//! - `connect.rs`: the startup check;
//! - `bridge.rs`: the NATS client on its own thread and tokio runtime;
//! - `link.rs`: a shard's end of the bridge;
//! - `envelope.rs`: the versioned message between nodes;
//! - `directory.rs`: room code and room id → home, with atomic create;
//! - `liveness.rs`: heartbeats and the watch that reports nodes joining and going;
//! - `nats_state.rs`: the connection's ups and downs, told to the shards;
//! - `sweep.rs`: removing a gone node's directory entries;
//! - `stats.rs`: the cluster's metrics.
//!
//! With `cluster.nats_url` unset none of this runs: no thread, no connection.

mod bridge;
mod connect;
pub mod directory;
pub mod envelope;
mod error;
mod events;
pub mod link;
pub mod liveness;
mod nats_state;
mod node_id;
pub mod nodes;
mod sequence;
pub mod stats;
mod sweep;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::oneshot;

pub use directory::{Claim, Directory, DirectoryReply, DirectoryRequest, Home};
pub use envelope::{Body, Envelope};
pub use error::ClusterError;
pub use link::{FromBridge, LinkError, Peer, ShardLink, ToBridge};
pub use liveness::{GoneWhy, NodeEvent};
pub use node_id::default_node_id;
pub use stats::ClusterStats;

use crate::config::ClusterConfig;

/// Requests all shards may have queued for the bridge before they are refused.
const TO_BRIDGE_CAPACITY: usize = 65_536;
/// Messages from the bridge one shard may have waiting before more are dropped.
const TO_SHARD_CAPACITY: usize = 16_384;
/// Slack on top of the connect timeout for the whole startup check (JetStream query and
/// buckets, each bounded by the connect timeout too).
const START_SLACK: Duration = Duration::from_secs(5);

/// This process's membership in a cluster. Dropping it (or [`Cluster::stop`]) stops the
/// bridge and removes this node's liveness key.
pub struct Cluster {
    node: Arc<str>,
    stats: Arc<ClusterStats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Cluster {
    /// Joins the cluster as node `node` with `shards` shards: connects, checks JetStream,
    /// opens the buckets and starts the bridge. Returns one link per shard, by index.
    pub fn start(
        cfg: &ClusterConfig,
        node: String,
        shards: usize,
    ) -> Result<(Cluster, Vec<ShardLink>), ClusterError> {
        let stats = Arc::new(ClusterStats::default());
        let node: Arc<str> = node.into();
        // New on every start: a restarted node is a new peer to the others (`liveness.rs`).
        let instance = uuid::Uuid::new_v4();
        let nodes = Arc::new(nodes::NodeTable::default());
        let (to_bridge, requests) = crate::waking_channel::bounded(TO_BRIDGE_CAPACITY);
        let (to_shards, from_bridge): (Vec<_>, Vec<_>) = (0..shards)
            .map(|_| crate::waking_channel::bounded(TO_SHARD_CAPACITY))
            .unzip();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (stop_tx, stop_rx) = oneshot::channel();
        // The bridge logs through whatever logging the starting thread uses (the server's).
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let thread = {
            let (cfg, node, stats) = (cfg.clone(), node.to_string(), stats.clone());
            std::thread::Builder::new()
                .name("cluster-bridge".to_owned())
                .spawn(move || {
                    let _logging = tracing::dispatcher::set_default(&dispatch);
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(err) => {
                            let _ = ready_tx.send(Err(ClusterError::Thread(err.to_string())));
                            return;
                        }
                    };
                    runtime.block_on(async move {
                        let connected = match connect::establish(&cfg, &node, stats.clone()).await {
                            Ok(connected) => connected,
                            Err(err) => {
                                let _ = ready_tx.send(Err(err));
                                return;
                            }
                        };
                        let _ = ready_tx.send(Ok(()));
                        let url = crate::config::redact_url(cfg.nats_url.as_deref().unwrap_or(""));
                        events::joined(&node, &url, shards as u32);
                        let bridge = bridge::Bridge {
                            node,
                            instance,
                            shards: shards as u32,
                            heartbeat: Duration::from_secs(cfg.heartbeat_interval_secs),
                            ttl: Duration::from_secs(cfg.node_ttl_secs),
                            connected,
                            requests,
                            to_shards,
                            stats,
                        };
                        bridge.run(stop_rx).await;
                    });
                })
                .map_err(|e| ClusterError::Thread(e.to_string()))?
        };
        let limit = Duration::from_secs(cfg.connect_timeout_secs) * 3 + START_SLACK;
        match ready_rx.recv_timeout(limit) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                let _ = thread.join();
                return Err(err);
            }
            Err(_) => {
                // The thread stays blocked somewhere in the client; it ends with the process.
                return Err(ClusterError::Thread(format!(
                    "the startup check did not finish within {} s",
                    limit.as_secs()
                )));
            }
        }
        let links = from_bridge
            .into_iter()
            .enumerate()
            .map(|(i, rx)| {
                ShardLink::new(
                    i as u32,
                    node.clone(),
                    instance,
                    to_bridge.clone(),
                    rx,
                    stats.clone(),
                    nodes.clone(),
                )
            })
            .collect();
        Ok((
            Cluster {
                node,
                stats,
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            links,
        ))
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// The cluster counters.
    pub fn stats(&self) -> &Arc<ClusterStats> {
        &self.stats
    }

    /// Leaves the cluster: the other nodes see this node gone at once.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.stats.nats_connected.store(0, Relaxed);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Answers probes on a bare link, and drains everything else: for benchmarks and tests that
/// run a link without a shard (a shard serves its link with `shard::remote::serve`).
pub async fn serve_shard(link: std::rc::Rc<ShardLink>) {
    while let Some(msg) = link.recv().await {
        if let FromBridge::Message(Envelope {
            from,
            from_shard,
            body: Body::Probe { seq },
            ..
        }) = msg
        {
            let _ = link.send(&from, from_shard, Body::ProbeReply { seq });
        }
    }
}
