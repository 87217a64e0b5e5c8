//! The NATS connection as the bridge acts on it. The client reconnects on its own; what it
//! cannot do is tell the shards, nor stop the rest of the bridge from trusting a dead link:
//! async-nats buffers publishes while disconnected and flushes them, late, on reconnect, and
//! a KV request would wait for its own timeout. So the bridge keeps one flag, told to every
//! shard as `FromBridge::Nats`, and refuses work at once while it is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use std::time::Duration;

use async_nats::jetstream::kv::Store;
use tokio::sync::mpsc;

use super::link::{FromBridge, deliver};
use super::liveness::{self, Beat};
use super::stats::ClusterStats;
use crate::waking_channel::WakingSender;

/// The longest the shards wait to hear that NATS is back while this node's key is put.
const BEAT_BACK_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the NATS connection is up, as the shards were last told. Cheap to clone.
#[derive(Clone)]
pub(crate) struct NatsUp(Arc<AtomicBool>);

impl NatsUp {
    /// Up: the bridge starts after the startup check connected.
    pub fn new() -> Self {
        NatsUp(Arc::new(AtomicBool::new(true)))
    }

    pub fn get(&self) -> bool {
        self.0.load(Relaxed)
    }
}

/// Follows the connection's `changes` until the client ends. On each real change the flag
/// is set first (so nothing more is tried on a dead link), then every shard is told. On the
/// way back up, this node's liveness key is put before the shards hear: the other nodes see
/// this one alive again at once rather than at the next tick, and whatever the shards then
/// put back in the directory (`Register`) is stored after that key, which a sweep on another
/// node relies on (`sweep.rs`).
pub(crate) async fn follow(
    mut changes: mpsc::UnboundedReceiver<bool>,
    up: NatsUp,
    nodes: Store,
    beat: Beat,
    to_shards: Arc<Vec<WakingSender<FromBridge>>>,
    stats: Arc<ClusterStats>,
) {
    while let Some(now_up) = changes.recv().await {
        // The first connection reports `true` too; repeats are not news.
        if up.0.swap(now_up, Relaxed) == now_up {
            continue;
        }
        super::events::nats_connection(now_up);
        if now_up && !liveness::put_beat(&nodes, &beat, BEAT_BACK_TIMEOUT).await {
            // The shards are told anyway; the heartbeat's next tick tries again.
            stats.heartbeat_failures.fetch_add(1, Relaxed);
        }
        for shard in to_shards.iter() {
            deliver(shard, &stats, FromBridge::Nats(now_up));
        }
    }
}
