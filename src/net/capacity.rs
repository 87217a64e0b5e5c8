//! The process-wide connection cap, `security.max_connections` (decision 18).
//!
//! Every accepted socket, WebSocket or still in its HTTP handshake, holds one [`Ticket`] until
//! it closes. Past the cap a small overflow budget still admits sockets, but they may only ask
//! for `/health` or the metrics (WebSocket upgrades get `503`) and have a short deadline, so a
//! full server keeps telling its load balancer and its operator how it is. Past the overflow
//! budget a socket is closed at once.
//!
//! One pair of atomics shared by every shard, rather than per-shard budgets: the kernel's
//! `SO_REUSEPORT` spreading is uneven, and a per-shard budget would refuse clients on a busy
//! shard while another still has room. The atomics are touched once when a socket is accepted
//! and once when it closes, never per message, so sharing a cache line costs nothing next to
//! the accept itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Sockets accepted past the cap to answer health checks and scrapes. They come out of the
/// descriptor reserve (see [`auto_limit`]), which is larger.
pub const OVERFLOW_BUDGET: usize = 32;
/// Smallest number of descriptors kept out of the automatic cap for listeners, io_uring
/// rings, log files and the overflow budget.
pub const MIN_RESERVE: usize = 64;

/// The automatic `security.max_connections` for an open-file soft limit: the limit minus a
/// reserve of 1% or [`MIN_RESERVE`], whichever is larger (at least 1).
pub fn auto_limit(nofile_soft: u64) -> usize {
    let nofile = usize::try_from(nofile_soft).unwrap_or(usize::MAX);
    let reserve = (nofile / 100).max(MIN_RESERVE);
    nofile.saturating_sub(reserve).max(1)
}

/// The shared counters.
#[derive(Debug)]
pub struct Capacity {
    limit: usize,
    open: AtomicUsize,
    overflow: AtomicUsize,
}

/// What an accepted socket may do.
#[derive(Debug)]
pub enum Ticket {
    /// Within the cap: anything.
    Normal(Slot),
    /// Past the cap, within the overflow budget: health and metrics only.
    Overflow(Slot),
    /// Past both: close it now.
    Full,
}

/// A held place; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    capacity: Arc<Capacity>,
    overflow: bool,
}

impl Capacity {
    /// A cap of `limit` open sockets (0 is read as "no cap").
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Capacity {
            limit: if limit == 0 { usize::MAX } else { limit },
            open: AtomicUsize::new(0),
            overflow: AtomicUsize::new(0),
        })
    }

    /// The cap in force.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sockets currently holding a place within the cap.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Takes a place for a newly accepted socket.
    pub fn admit(self: &Arc<Self>) -> Ticket {
        if take(&self.open, self.limit) {
            return Ticket::Normal(Slot {
                capacity: self.clone(),
                overflow: false,
            });
        }
        if take(&self.overflow, OVERFLOW_BUDGET) {
            return Ticket::Overflow(Slot {
                capacity: self.clone(),
                overflow: true,
            });
        }
        Ticket::Full
    }
}

/// Increments `counter` unless it already reached `limit`. A compare-and-swap loop rather than
/// add-then-undo, so the count never exceeds the cap even for an instant.
fn take(counter: &AtomicUsize, limit: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
}

impl Drop for Slot {
    fn drop(&mut self) {
        let counter = if self.overflow {
            &self.capacity.overflow
        } else {
            &self.capacity.open
        };
        counter.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_limit_keeps_a_reserve() {
        assert_eq!(auto_limit(1024), 960);
        assert_eq!(auto_limit(20_000), 19_800);
        assert_eq!(auto_limit(1_048_576), 1_038_091);
        assert_eq!(auto_limit(10), 1);
    }

    #[test]
    fn cap_then_overflow_then_full_and_places_come_back() {
        let cap = Capacity::new(2);
        let a = cap.admit();
        let b = cap.admit();
        assert!(matches!(a, Ticket::Normal(_)) && matches!(b, Ticket::Normal(_)));
        assert_eq!(cap.open(), 2);
        let overflow: Vec<Ticket> = (0..OVERFLOW_BUDGET).map(|_| cap.admit()).collect();
        assert!(overflow.iter().all(|t| matches!(t, Ticket::Overflow(_))));
        assert!(matches!(cap.admit(), Ticket::Full));
        drop(a);
        let c = cap.admit();
        assert!(matches!(c, Ticket::Normal(_)));
        drop(overflow);
        assert!(matches!(cap.admit(), Ticket::Overflow(_)));
        // 0 means no cap.
        assert_eq!(Capacity::new(0).limit(), usize::MAX);
    }
}
