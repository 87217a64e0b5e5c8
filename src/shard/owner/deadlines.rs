//! When the owner must next look at which room: an ordered set of `(instant, room)` with its
//! earliest instant cached, so the driver's question after every batch of commands
//! ("did the earliest deadline move?") costs a copy, and only due entries are ever visited.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::protocol::RoomId;

#[derive(Debug, Default)]
pub(super) struct Deadlines {
    set: BTreeSet<(Instant, RoomId)>,
    /// `set`'s first instant.
    first: Option<Instant>,
}

impl Deadlines {
    /// The earliest instant filed. O(1).
    pub fn first(&self) -> Option<Instant> {
        self.first
    }

    pub fn insert(&mut self, at: Instant, room: RoomId) {
        self.set.insert((at, room));
        if self.first.is_none_or(|first| at < first) {
            self.first = Some(at);
        }
    }

    pub fn remove(&mut self, at: Instant, room: RoomId) {
        if self.set.remove(&(at, room)) && self.first == Some(at) {
            self.first = self.set.first().map(|(at, _)| *at);
        }
    }

    /// Takes the earliest entry if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<RoomId> {
        if self.first.is_none_or(|first| first > now) {
            return None;
        }
        let (_, room) = self.set.pop_first()?;
        self.first = self.set.first().map(|(at, _)| *at);
        Some(room)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;

    #[test]
    fn entries_come_out_in_time_order_and_only_when_due() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut d = Deadlines::default();
        d.insert(t0 + 3 * s, a);
        d.insert(t0 + s, b);
        d.insert(t0 + 2 * s, c);
        assert_eq!(d.first(), Some(t0 + s));
        d.remove(t0 + s, b);
        assert_eq!(d.first(), Some(t0 + 2 * s), "the cache follows a removal");
        assert_eq!(d.pop_due(t0 + s), None);
        assert_eq!(d.pop_due(t0 + 3 * s), Some(c));
        assert_eq!(d.pop_due(t0 + 3 * s), Some(a));
        assert_eq!(d.pop_due(t0 + 3 * s), None);
        assert_eq!(d.first(), None);
    }
}
