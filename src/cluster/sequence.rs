//! Gap detection on the batches between nodes. Core NATS delivers at most once, and in order
//! per publisher: a batch can be lost (a slow subscriber, a reconnect) but never overtaken.
//! So each sending shard numbers its batches to a node from 1, and the receiver only has to
//! see each stream's numbers go up by one.

use ahash::AHashMap;

use super::link::Peer;

/// The last batch number seen per `(peer process, sending shard)`.
#[derive(Debug, Default)]
pub struct Sequences {
    last: AHashMap<(Peer, u32), u64>,
}

/// What a batch's number says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next one: deliver it.
    InOrder,
    /// Batches were skipped: deliver this one, but what the skipped ones carried is lost.
    Gap,
    /// Already seen (a duplicate): drop it.
    Stale,
}

impl Sequences {
    /// Judges batch `seq` from `(peer, shard)` and remembers it.
    pub fn check(&mut self, peer: &Peer, shard: u32, seq: u64) -> Verdict {
        let last = self.last.entry((peer.clone(), shard)).or_insert(0);
        let verdict = if seq == *last + 1 {
            Verdict::InOrder
        } else if seq <= *last {
            return Verdict::Stale;
        } else {
            Verdict::Gap
        };
        *last = seq;
        verdict
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn numbers_must_rise_by_one_per_stream() {
        let a = Peer {
            node: "a".into(),
            instance: Uuid::from_u128(1),
        };
        let a2 = Peer {
            instance: Uuid::from_u128(2),
            ..a.clone()
        };
        let mut s = Sequences::default();
        assert_eq!(s.check(&a, 0, 1), Verdict::InOrder);
        assert_eq!(s.check(&a, 0, 2), Verdict::InOrder);
        assert_eq!(s.check(&a, 1, 1), Verdict::InOrder, "shards count apart");
        assert_eq!(s.check(&a, 0, 2), Verdict::Stale);
        assert_eq!(s.check(&a, 0, 4), Verdict::Gap);
        assert_eq!(s.check(&a, 0, 5), Verdict::InOrder);
        assert_eq!(
            s.check(&a2, 0, 1),
            Verdict::InOrder,
            "a new process starts at 1"
        );
        // A stream whose first batch was lost starts with a gap.
        let mut fresh = Sequences::default();
        assert_eq!(fresh.check(&a, 0, 3), Verdict::Gap);
    }
}
