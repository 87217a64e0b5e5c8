//! Liveness deadlines filed by time, so the shard's sweep touches only the connections whose
//! deadline passed instead of walking all of them every tick (issue 10 item 4: 18,000 idle
//! connections must not cost the relay anything).
//!
//! Filing is lazy: a connection's inbound activity only updates its `last_seen` cell (one store
//! on the hot path) and never touches this queue. When an entry comes due, the sweep reads the
//! connection's cells and either acts (timeout) or re-files the entry at the real deadline. Each
//! connection holds exactly one entry, so a tick costs O(due · log n) and a busy connection is
//! re-filed at most once per ping timeout.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Keys (connection slots) ordered by the time they must next be looked at.
#[derive(Debug)]
pub struct DeadlineQueue<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for DeadlineQueue<K> {
    fn default() -> Self {
        DeadlineQueue {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord> DeadlineQueue<K> {
    /// Files `key` to be looked at once `at` has come.
    pub fn file(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// Takes every key due at `now` (filed at or before it), earliest first. Taken out before
    /// any is re-filed, so a key re-filed at a time already past waits for the next tick
    /// instead of looping within this one.
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        while self.heap.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            if let Some(Reverse((_, key))) = self.heap.pop() {
                due.push(key);
            }
        }
        due
    }

    /// How many entries are filed.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is filed.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// What a due connection needs, judged from its cells at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It did not authenticate by its deadline: tell it and close (1008).
    AuthTimeout,
    /// Silent for longer than the ping timeout (decision 9): close (1008).
    PingTimeout,
    /// Still alive: look again at this time.
    RecheckAt(Instant),
}

/// Judges a connection last heard from at `last_seen`, with an auth deadline if it has not
/// authenticated yet. Same rules as the per-tick walk this replaces: the auth deadline counts
/// from `now >= deadline`, silence from strictly more than `ping_timeout`.
pub fn judge(
    now: Instant,
    last_seen: Instant,
    auth_deadline: Option<Instant>,
    ping_timeout: Duration,
) -> Verdict {
    if auth_deadline.is_some_and(|deadline| now >= deadline) {
        return Verdict::AuthTimeout;
    }
    let silent_until = last_seen + ping_timeout;
    if now > silent_until {
        return Verdict::PingTimeout;
    }
    Verdict::RecheckAt(auth_deadline.map_or(silent_until, |d| d.min(silent_until)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: Duration = Duration::from_secs(30);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn takes_only_what_is_due_earliest_first() {
        let t0 = Instant::now();
        let mut q = DeadlineQueue::default();
        q.file(t0 + secs(5), 3u64);
        q.file(t0 + secs(1), 1);
        q.file(t0 + secs(9), 9);
        q.file(t0 + secs(2), 2);
        assert!(q.take_due(t0).is_empty());
        assert_eq!(q.take_due(t0 + secs(5)), vec![1, 2, 3]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.take_due(t0 + secs(100)), vec![9]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_key_refiled_in_the_past_waits_for_the_next_take() {
        let t0 = Instant::now();
        let mut q = DeadlineQueue::default();
        q.file(t0, 7u64);
        let due = q.take_due(t0 + secs(1));
        assert_eq!(due, vec![7]);
        q.file(t0, 7);
        assert_eq!(q.len(), 1, "re-filed, not lost");
        assert_eq!(q.take_due(t0 + secs(1)), vec![7]);
    }

    #[test]
    fn silence_counts_strictly_past_the_timeout() {
        let t0 = Instant::now();
        assert_eq!(
            judge(t0 + PING, t0, None, PING),
            Verdict::RecheckAt(t0 + PING)
        );
        assert_eq!(
            judge(t0 + PING + Duration::from_nanos(1), t0, None, PING),
            Verdict::PingTimeout
        );
    }

    #[test]
    fn activity_moves_the_recheck_forward() {
        let t0 = Instant::now();
        // Filed for t0 + PING, but the connection spoke at t0 + 20 s.
        assert_eq!(
            judge(t0 + PING, t0 + secs(20), None, PING),
            Verdict::RecheckAt(t0 + secs(20) + PING)
        );
    }

    #[test]
    fn the_auth_deadline_comes_first_and_counts_from_equal() {
        let t0 = Instant::now();
        let auth = Some(t0 + secs(10));
        assert_eq!(judge(t0, t0, auth, PING), Verdict::RecheckAt(t0 + secs(10)));
        assert_eq!(
            judge(t0 + secs(10), t0 + secs(9), auth, PING),
            Verdict::AuthTimeout
        );
        // An auth deadline later than the silence deadline does not hide the silence.
        let late = Some(t0 + secs(100));
        assert_eq!(judge(t0, t0, late, PING), Verdict::RecheckAt(t0 + PING));
    }
}
