//! Room event numbers by lane (spec decision 3, issue 10).
//!
//! Every room event a member is written carries an [`EventId`], noted by the member's mailbox,
//! never sent. Events come down *lanes*, each numbered in increasing order and each reaching a
//! given member in that order:
//!
//! * the **owner lane**: everything the room's owner emits (joins, leaves, lobby and authority
//!   changes, and game data sent by members on the owner's own shard), numbered with the room's
//!   sequence number;
//! * one **relay lane per shard**: game data a shard fanned out itself from its membership
//!   replica (`replica.rs`), numbered by a counter of that shard that only ever grows (so a
//!   room that leaves a shard and comes back never sees a number twice).
//!
//! Each lane travels over one FIFO path to a member (a shard's own mailboxes, or one channel
//! per shard pair), so what a member's socket accepted is summed up by the highest number of
//! each lane ([`Delivered`]). The owner records every event in its room history with its id,
//! and a dropped player's replay is every recorded event its [`Delivered`] does not cover.

use smallvec::SmallVec;

/// Bits of an [`EventId`] that hold the number; the lane sits above them.
const NUMBER_BITS: u32 = 48;
const NUMBER_MASK: u64 = (1 << NUMBER_BITS) - 1;
/// The lane of the owner's own events (shard lanes are shard indices, below 256).
const OWNER_LANE: u64 = 0xffff;

/// One room event's lane and number, packed in a `u64` so mailboxes keep it as cheaply as a
/// plain sequence number. `EventId::NONE` (0) marks a frame that is no room event (a reply).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct EventId(u64);

impl EventId {
    /// Not a room event.
    pub const NONE: EventId = EventId(0);

    /// Event `seq` of a room's owner lane.
    pub fn owner(seq: u64) -> Self {
        EventId((OWNER_LANE << NUMBER_BITS) | (seq & NUMBER_MASK))
    }

    /// Event `n` (from 1) of shard `shard`'s relay lane.
    pub fn relayed(shard: u32, n: u64) -> Self {
        EventId((u64::from(shard) << NUMBER_BITS) | (n & NUMBER_MASK))
    }

    /// Whether this marks no room event.
    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    fn lane(self) -> u64 {
        self.0 >> NUMBER_BITS
    }

    fn number(self) -> u64 {
        self.0 & NUMBER_MASK
    }
}

/// The highest event number of each lane that reached a member whole: everything at or below
/// it in its lane did (a lane reaches a member in order).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivered {
    /// One id per lane seen; a member hears from the owner and a few shards, so this stays
    /// inline (no allocation) for processes of up to two shards.
    highest: SmallVec<[EventId; 2]>,
}

impl Delivered {
    /// Nothing delivered yet.
    pub fn none() -> Self {
        Delivered::default()
    }

    /// The owner lane's events up to `seq` (tests and single-lane callers).
    pub fn through_owner(seq: u64) -> Self {
        let mut delivered = Delivered::none();
        delivered.note(EventId::owner(seq));
        delivered
    }

    /// Notes that event `id` reached the member whole.
    pub fn note(&mut self, id: EventId) {
        if id.is_none() {
            return;
        }
        match self.highest.iter_mut().find(|h| h.lane() == id.lane()) {
            Some(h) if h.number() < id.number() => *h = id,
            Some(_) => {}
            None => self.highest.push(id),
        }
    }

    /// Whether event `id` reached the member (it is at or below its lane's highest).
    pub fn covers(&self, id: EventId) -> bool {
        self.highest
            .iter()
            .any(|h| h.lane() == id.lane() && id.number() <= h.number())
    }

    /// Adds what `other` says was delivered.
    pub fn merge(&mut self, other: &Delivered) {
        for id in &other.highest {
            self.note(*id);
        }
    }

    /// The highest owner-lane number delivered (0 if none).
    pub fn owner_seq(&self) -> u64 {
        self.highest
            .iter()
            .find(|h| h.lane() == OWNER_LANE)
            .map_or(0, |h| h.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_kept_apart() {
        let mut d = Delivered::none();
        d.note(EventId::owner(7));
        d.note(EventId::relayed(1, 3));
        d.note(EventId::relayed(1, 2));
        assert!(d.covers(EventId::owner(7)));
        assert!(!d.covers(EventId::owner(8)));
        assert!(d.covers(EventId::relayed(1, 3)));
        assert!(!d.covers(EventId::relayed(1, 4)));
        assert!(!d.covers(EventId::relayed(0, 1)), "another lane");
        assert_eq!(d.owner_seq(), 7);
    }

    #[test]
    fn none_is_no_event() {
        let mut d = Delivered::none();
        d.note(EventId::NONE);
        assert_eq!(d, Delivered::none());
        assert!(!d.covers(EventId::relayed(0, 1)));
        assert_ne!(EventId::relayed(0, 1), EventId::NONE);
    }

    #[test]
    fn merging_keeps_the_highest_of_each_lane() {
        let mut a = Delivered::through_owner(5);
        a.note(EventId::relayed(2, 9));
        let mut b = Delivered::through_owner(8);
        b.note(EventId::relayed(2, 4));
        b.note(EventId::relayed(3, 1));
        a.merge(&b);
        assert_eq!(a.owner_seq(), 8);
        assert!(a.covers(EventId::relayed(2, 9)));
        assert!(a.covers(EventId::relayed(3, 1)));
    }
}
