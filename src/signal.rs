//! A single-waiter wake-up flag for tasks on one shard.
//!
//! Every waiter here is the one task that owns the thing being signalled (a connection's
//! mailbox, a peer outbox), so one stored waker is enough and no atomics are needed.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Set by producers, awaited by one consumer task. Raising it twice before the consumer runs
/// wakes the consumer once.
#[derive(Default)]
pub struct Signal {
    raised: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    /// Marks the signal and wakes the waiting task, if any.
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Resolves once the signal has been raised since the last wait, and lowers it.
    pub fn wait(&self) -> SignalWait<'_> {
        SignalWait { signal: self }
    }
}

/// Future returned by [`Signal::wait`].
pub struct SignalWait<'a> {
    signal: &'a Signal,
}

impl Future for SignalWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.raised.replace(false) {
            return Poll::Ready(());
        }
        *self.signal.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_before_wait_resolves_immediately_once() {
        let signal = Signal::default();
        signal.raise();
        signal.raise();
        futures_lite::future::block_on(signal.wait());
        let mut second = Box::pin(signal.wait());
        let waker = futures_lite::future::block_on(futures_lite::future::poll_fn(|cx| {
            Poll::Ready(cx.waker().clone())
        }));
        let mut cx = Context::from_waker(&waker);
        assert!(second.as_mut().poll(&mut cx).is_pending());
        signal.raise();
        assert!(second.as_mut().poll(&mut cx).is_ready());
    }
}
