//! Latency histograms: HDR histograms in microseconds with the bounds of 0.1.0 (1 µs to 5 min,
//! 3 significant figures), so per-shard histograms add up exactly.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest trackable value: 5 minutes in microseconds. Longer samples are clamped.
pub const MAX_MICROS: u64 = 300_000_000;

/// The operations whose latency is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `JoinRoom` without a code: request read to `RoomJoined` queued.
    RoomCreation,
    /// `JoinRoom` by code: request read to `RoomJoined` queued.
    RoomJoin,
    /// Game data: frame read on the sender's shard to frame queued for recipients.
    GameDataRelay,
}

/// One histogram per operation, created on first use so idle operations cost nothing.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    pub room_creation: Option<Box<Histogram<u64>>>,
    pub room_join: Option<Box<Histogram<u64>>>,
    pub game_data_relay: Option<Box<Histogram<u64>>>,
}

/// A fresh histogram with the shared bounds.
pub fn new_histogram() -> Histogram<u64> {
    // Invariant: constant bounds within hdrhistogram's limits (low >= 1, high >= 2 * low,
    // 3 significant figures <= 5), so construction cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant histogram bounds are valid")
}

impl Latencies {
    fn slot(&mut self, op: Op) -> &mut Option<Box<Histogram<u64>>> {
        match op {
            Op::RoomCreation => &mut self.room_creation,
            Op::RoomJoin => &mut self.room_join,
            Op::GameDataRelay => &mut self.game_data_relay,
        }
    }

    /// Records one sample; returns whether it had to be clamped to [`MAX_MICROS`].
    pub fn record(&mut self, op: Op, elapsed: Duration) -> bool {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let clamped = micros > MAX_MICROS;
        let histogram = self
            .slot(op)
            .get_or_insert_with(|| Box::new(new_histogram()));
        // Within bounds by construction (clamped above, 0 is allowed).
        let _ = histogram.record(micros.min(MAX_MICROS));
        clamped
    }

    /// Adds another shard's histograms to these.
    pub fn add(&mut self, other: &Latencies) {
        for op in [Op::RoomCreation, Op::RoomJoin, Op::GameDataRelay] {
            let theirs = match op {
                Op::RoomCreation => &other.room_creation,
                Op::RoomJoin => &other.room_join,
                Op::GameDataRelay => &other.game_data_relay,
            };
            if let Some(theirs) = theirs {
                let mine = self
                    .slot(op)
                    .get_or_insert_with(|| Box::new(new_histogram()));
                // Same bounds on both sides, so adding cannot fail.
                let _ = mine.add(theirs.as_ref());
            }
        }
    }

    /// The histogram for one operation, if it has samples.
    pub fn get(&self, op: Op) -> Option<&Histogram<u64>> {
        match op {
            Op::RoomCreation => self.room_creation.as_deref(),
            Op::RoomJoin => self.room_join.as_deref(),
            Op::GameDataRelay => self.game_data_relay.as_deref(),
        }
        .filter(|h| !h.is_empty())
    }
}
