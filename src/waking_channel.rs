//! A bounded channel whose receiver is a future that any thread's send wakes: the process's
//! control of the shards (`shard/control.rs`), and the link between the shards (glommio
//! executors) and the cluster bridge (a tokio runtime), both ways.
//!
//! A `crossbeam-channel` carries the values, and an [`AtomicWaker`] lets a sender on any thread
//! wake the task that waits. A glommio waker woken from a foreign thread writes its
//! executor's eventfd, a tokio waker queues its task on its runtime: neither side polls, and a
//! sender never blocks (`try_send` refuses when the channel is full).

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use futures_util::task::AtomicWaker;

/// The sending end; clone it for more senders.
pub struct WakingSender<T> {
    tx: Sender<T>,
    waker: Arc<AtomicWaker>,
}

/// The receiving end: one task awaits it.
pub struct WakingReceiver<T> {
    rx: Receiver<T>,
    waker: Arc<AtomicWaker>,
}

/// A channel holding at most `capacity` values.
pub fn bounded<T>(capacity: usize) -> (WakingSender<T>, WakingReceiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let waker = Arc::new(AtomicWaker::new());
    (
        WakingSender {
            tx,
            waker: waker.clone(),
        },
        WakingReceiver { rx, waker },
    )
}

impl<T> Clone for WakingSender<T> {
    fn clone(&self) -> Self {
        WakingSender {
            tx: self.tx.clone(),
            waker: self.waker.clone(),
        }
    }
}

impl<T> WakingSender<T> {
    /// Queues `value` and wakes the receiver; never blocks. A full or closed channel hands
    /// the value back.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.tx.try_send(value)?;
        // Cheap when nobody waits: the waker was taken by an earlier wake.
        self.waker.wake();
        Ok(())
    }

    /// Values waiting in the channel.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// Whether no value waits.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }
}

impl<T> Drop for WakingSender<T> {
    fn drop(&mut self) {
        // The last sender gone closes the channel; the receiver must wake to see that. Waking
        // on every drop is harmless.
        self.waker.wake();
    }
}

impl<T> WakingReceiver<T> {
    /// The next value, or `None` once every sender is gone and the channel is empty.
    pub async fn recv(&self) -> Option<T> {
        poll_fn(|cx| {
            // Register between two looks, so a value sent in between still wakes us.
            match self.rx.try_recv() {
                Ok(value) => return Poll::Ready(Some(value)),
                Err(TryRecvError::Disconnected) => return Poll::Ready(None),
                Err(TryRecvError::Empty) => {}
            }
            self.waker.register(cx.waker());
            match self.rx.try_recv() {
                Ok(value) => Poll::Ready(Some(value)),
                Err(TryRecvError::Disconnected) => Poll::Ready(None),
                Err(TryRecvError::Empty) => Poll::Pending,
            }
        })
        .await
    }

    /// The next value if one waits.
    pub fn try_recv(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Drop for WakingReceiver<T> {
    fn drop(&mut self) {
        // Drop the registered waker on the receiver's own thread (a glommio waker must not
        // outlive its executor on another thread).
        drop(self.waker.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_channel_refuses_and_values_keep_their_order() {
        let (tx, rx) = bounded(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(futures_lite::future::block_on(rx.recv()), Some(1));
        assert_eq!(rx.try_recv(), Some(2));
        drop(tx);
        assert_eq!(futures_lite::future::block_on(rx.recv()), None);
    }

    #[test]
    fn a_parked_glommio_executor_wakes_for_a_value_from_a_plain_thread() {
        let (tx, rx) = bounded::<u32>(4);
        let (waiting_tx, waiting_rx) = std::sync::mpsc::channel();
        let (got_tx, got_rx) = std::sync::mpsc::channel();
        let executor = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .spawn(move || async move {
                let _ = waiting_tx.send(());
                let _ = got_tx.send(rx.recv().await);
            })
            .expect("executor starts");
        waiting_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("executor runs");
        tx.try_send(7).unwrap();
        let got = got_rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(got, Ok(Some(7)), "the executor was not woken");
        executor.join().expect("executor ends");
    }

    #[test]
    fn a_tokio_task_wakes_for_a_value_from_a_plain_thread() {
        let (tx, rx) = bounded::<u32>(4);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let sender = std::thread::spawn(move || {
            tx.try_send(9).unwrap();
            tx
        });
        assert_eq!(runtime.block_on(rx.recv()), Some(9));
        drop(sender.join().expect("sender thread"));
    }
}
