//! The control plane: what the process tells a shard (drain, stop) and what a shard reports
//! back while it drains.
//!
//! The process side is an ordinary thread (the signal loop of the binary, or a test), not an
//! executor, so glommio's shared channels (whose sender must be connected from an executor) do
//! not fit. Messages travel in a waking channel (`waking_channel.rs`): a bounded
//! `crossbeam-channel` whose sender also wakes the receiving task through an `AtomicWaker`. A
//! glommio task's waker woken from a foreign thread queues itself on that executor and writes
//! its eventfd, which wakes the executor out of its io_uring wait: the shard reacts at once and
//! never polls.

use std::time::Instant;

use crate::waking_channel::{self, WakingReceiver, WakingSender};

/// Control messages that may wait for one shard. The process sends at most a drain and a stop.
const CAPACITY: usize = 4;

/// What the process tells a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardControl {
    /// Start draining (decision 20): refuse new upgrades and rooms, answer health with 503,
    /// keep existing rooms playing, and report rooms in play until told to stop. `deadline` is
    /// when the process will stop the shard at the latest.
    Drain { deadline: Instant },
    /// Stop accepting, close every WebSocket with 1001 and exit.
    Stop,
}

/// What a draining shard tells the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardReport {
    /// Shard `shard` owns `rooms` rooms that still have a connected player. The first report
    /// after a `Drain` also says the shard now drains.
    RoomsInPlay { shard: u32, rooms: usize },
}

/// The process's end of one shard's control channel. Dropping it stops the shard, so a
/// server whose handle is dropped does not run on unseen.
pub struct ControlSender {
    /// Dropped with the sender: the channel closes and the shard, woken, stops.
    tx: WakingSender<ShardControl>,
}

/// The shard's end of its control channel.
pub struct ControlReceiver {
    rx: WakingReceiver<ShardControl>,
}

/// A control channel for one shard.
pub fn channel() -> (ControlSender, ControlReceiver) {
    let (tx, rx) = waking_channel::bounded(CAPACITY);
    (ControlSender { tx }, ControlReceiver { rx })
}

impl ControlSender {
    /// Queues `msg` and wakes the shard. Returns false when the shard is gone (its executor
    /// ended) or its queue is full of earlier messages, which it will act on first.
    pub fn send(&self, msg: ShardControl) -> bool {
        self.tx.try_send(msg).is_ok()
    }
}

impl ControlReceiver {
    /// The next control message; `Stop` once the process's end is gone.
    pub async fn recv(&self) -> ShardControl {
        self.rx.recv().await.unwrap_or(ShardControl::Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_and_a_dropped_sender_means_stop() {
        let (tx, rx) = channel();
        let deadline = Instant::now();
        assert!(tx.send(ShardControl::Drain { deadline }));
        let first = futures_lite::future::block_on(rx.recv());
        assert_eq!(first, ShardControl::Drain { deadline });
        drop(tx);
        assert_eq!(
            futures_lite::future::block_on(rx.recv()),
            ShardControl::Stop
        );
    }

    #[test]
    fn a_full_queue_refuses_instead_of_blocking() {
        let (tx, _rx) = channel();
        for _ in 0..CAPACITY {
            assert!(tx.send(ShardControl::Stop));
        }
        assert!(!tx.send(ShardControl::Stop));
    }
}
