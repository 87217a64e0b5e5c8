//! Per-peer outboxes: messages for another shard collect here during a turn and leave as one
//! batch, so a shard wakes a peer (about 65 µs on this VM) at most once per batch.

use std::cell::RefCell;
use std::rc::Rc;

use glommio::channels::shared_channel::{SharedReceiver, SharedSender};

use super::Shard;
use super::messages::ShardMsg;
use crate::signal::Signal;

/// A batch of messages for one peer.
pub type Batch = Vec<ShardMsg>;

/// Messages waiting for the next batch to one peer.
#[derive(Default)]
pub struct Outbox {
    pending: RefCell<Vec<ShardMsg>>,
    signal: Signal,
}

impl Outbox {
    /// Queues a message; the flusher task ships it when it next runs.
    pub fn push(&self, msg: ShardMsg) {
        self.pending.borrow_mut().push(msg);
        self.signal.raise();
    }

    /// Takes what waits for the next batch (tests and benchmarks ferry batches by hand).
    pub fn take(&self) -> Batch {
        std::mem::take(&mut *self.pending.borrow_mut())
    }
}

/// Ships batches from `outbox` to its peer until the peer goes away. Awaiting a full channel
/// only delays this task: producers keep queueing, so no shard ever blocks on another.
pub async fn run_flusher(shard: Rc<Shard>, outbox: Rc<Outbox>, sender: SharedSender<Batch>) {
    // Connecting waits for the peer to connect its end, so it happens here, in the task, and
    // shards never wait on each other while starting.
    let sender = sender.connect().await;
    loop {
        outbox.signal.wait().await;
        let batch = std::mem::take(&mut *outbox.pending.borrow_mut());
        if batch.is_empty() {
            continue;
        }
        shard.metrics.count(|c| c.cross_shard_batches += 1);
        if sender.send(batch).await.is_err() {
            return;
        }
    }
}

/// Handles batches arriving from one peer until it goes away.
pub async fn run_receiver(shard: Rc<Shard>, receiver: SharedReceiver<Batch>) {
    let receiver = receiver.connect().await;
    while let Some(batch) = receiver.recv().await {
        shard
            .metrics
            .count(|c| c.cross_shard_received += batch.len() as u64);
        for msg in batch {
            shard.dispatch_local(msg);
        }
        glommio::yield_if_needed().await;
    }
}
