//! A shard's end of the bridge: what it may ask of NATS, and what NATS brings it.
//!
//! Every call returns at once. A request the bridge cannot take (its queue full, or the
//! bridge gone) is refused with [`LinkError`] and counted: a shard never waits on NATS.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crossbeam_channel::TrySendError;
use uuid::Uuid;

use super::directory::{DirectoryReply, DirectoryRequest};
use super::envelope::{Body, Envelope};
use super::liveness::NodeEvent;
use super::nodes::NodeTable;
use super::stats::ClusterStats;
use super::wire::NodeMsg;
use crate::waking_channel::{WakingReceiver, WakingSender};

/// What a shard asks the bridge to do.
#[derive(Debug)]
pub enum ToBridge {
    /// Publish `envelope` to node `to_node`'s inbox.
    Send { to_node: String, envelope: Envelope },
    /// Run a directory request and answer shard `shard` with `token`.
    Directory {
        shard: u32,
        token: u64,
        request: DirectoryRequest,
    },
}

/// Another node's process: its node id and liveness instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    pub node: String,
    pub instance: Uuid,
}

/// What the bridge brings a shard.
#[derive(Debug)]
pub enum FromBridge {
    /// An envelope another node (or this one) addressed to this shard.
    Message(Envelope),
    /// Room traffic from `from`: this shard's part of one batch, in order.
    Routed { from: Peer, msgs: Vec<NodeMsg> },
    /// A batch from `from` was lost on the way (its sequence numbers skipped): whatever it
    /// carried for this node's sessions, and from them, is lost. Every shard hears it.
    Gap(Peer),
    /// The NATS connection was lost (`false`) or is back (`true`). Every shard hears it.
    Nats(bool),
    /// The answer to the directory request sent with `token`.
    Directory { token: u64, reply: DirectoryReply },
    /// Another node joined or left. Every shard hears every event.
    Node(NodeEvent),
}

/// Why the bridge did not take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the NATS bridge queue is full")]
    Full,
    #[error("the NATS bridge has stopped")]
    Closed,
}

/// One shard's link to the bridge. Lives on the shard's thread.
pub struct ShardLink {
    shard: u32,
    node: Arc<str>,
    instance: Uuid,
    to_bridge: WakingSender<ToBridge>,
    from_bridge: WakingReceiver<FromBridge>,
    stats: Arc<ClusterStats>,
    nodes: Arc<NodeTable>,
}

impl ShardLink {
    pub(crate) fn new(
        shard: u32,
        node: Arc<str>,
        instance: Uuid,
        to_bridge: WakingSender<ToBridge>,
        from_bridge: WakingReceiver<FromBridge>,
        stats: Arc<ClusterStats>,
        nodes: Arc<NodeTable>,
    ) -> Self {
        ShardLink {
            shard,
            node,
            instance,
            to_bridge,
            from_bridge,
            stats,
            nodes,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// This process's liveness instance, new on every start.
    pub fn instance(&self) -> Uuid {
        self.instance
    }

    /// The shard this link belongs to.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// The other nodes' processes, numbered (shared by the process's shards).
    pub fn nodes(&self) -> &NodeTable {
        &self.nodes
    }

    /// Sends this shard's batch number `seq` of room traffic to `peer`'s process.
    pub fn send_batch(&self, peer: &Peer, seq: u64, msgs: Vec<NodeMsg>) -> Result<(), LinkError> {
        let batch = Body::Batch {
            seq,
            to_instance: peer.instance,
            msgs,
        };
        // The receiving bridge splits a batch among its shards: `to_shard` is not read.
        self.send(&peer.node, 0, batch)
    }

    /// The process's cluster counters.
    pub fn stats(&self) -> &Arc<ClusterStats> {
        &self.stats
    }

    /// Sends `body` to shard `to_shard` of node `to_node` (this node included).
    pub fn send(&self, to_node: &str, to_shard: u32, body: Body) -> Result<(), LinkError> {
        self.push(ToBridge::Send {
            to_node: to_node.to_owned(),
            envelope: Envelope {
                from: self.node.to_string(),
                from_instance: self.instance,
                from_shard: self.shard,
                to_shard,
                body,
            },
        })
    }

    /// Asks the directory; the answer comes back through [`ShardLink::recv`] with `token`.
    pub fn directory(&self, token: u64, request: DirectoryRequest) -> Result<(), LinkError> {
        self.push(ToBridge::Directory {
            shard: self.shard,
            token,
            request,
        })
    }

    fn push(&self, request: ToBridge) -> Result<(), LinkError> {
        // Counted before the send: the bridge may take it (and count it down) at once.
        self.stats.to_bridge_depth.fetch_add(1, Relaxed);
        let refused = match self.to_bridge.try_send(request) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(_)) => LinkError::Full,
            Err(TrySendError::Disconnected(_)) => LinkError::Closed,
        };
        self.stats.to_bridge_depth.fetch_sub(1, Relaxed);
        self.stats.to_bridge_dropped.fetch_add(1, Relaxed);
        Err(refused)
    }

    /// The next thing from the bridge if one waits.
    pub fn try_recv(&self) -> Option<FromBridge> {
        let got = self.from_bridge.try_recv();
        if got.is_some() {
            self.stats.to_shards_depth.fetch_sub(1, Relaxed);
        }
        got
    }

    /// The next thing from the bridge; `None` once the bridge has stopped.
    pub async fn recv(&self) -> Option<FromBridge> {
        let got = self.from_bridge.recv().await;
        if got.is_some() {
            self.stats.to_shards_depth.fetch_sub(1, Relaxed);
        }
        got
    }
}

/// Hands `msg` to a shard without waiting; a full queue drops it, counted.
pub(crate) fn deliver(
    to: &WakingSender<FromBridge>,
    stats: &ClusterStats,
    msg: FromBridge,
) -> bool {
    stats.to_shards_depth.fetch_add(1, Relaxed);
    if to.try_send(msg).is_ok() {
        return true;
    }
    stats.to_shards_depth.fetch_sub(1, Relaxed);
    stats.to_shards_dropped.fetch_add(1, Relaxed);
    false
}
