//! The process's side of a drain (decision 20): tell every shard to drain, then wait until no
//! room is in play anywhere, the grace period ends, or the operator insists (a second signal).
//!
//! Rooms live on their owner shard while their players may sit on any shard, so only the sum
//! over all shards says whether play is over; each shard reports its own count when it changes
//! and this side adds them up.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::shard::control::{ControlSender, ShardControl, ShardReport};

/// How long `begin` waits for every shard to confirm it drains. Shards answer within one turn
/// of their executor; this only bounds a shard that is already gone.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainEnd {
    /// No room is in play any more.
    Idle,
    /// The grace period ran out with rooms still in play (or the shards are gone).
    GraceExpired,
    /// The caller's cancel channel fired (the binary: a second SIGTERM/SIGINT).
    Cancelled,
}

/// A drain in progress; see [`crate::ServerHandle::drain`].
pub struct Drain<'a> {
    reports: &'a Receiver<ShardReport>,
    deadline: Instant,
    /// Rooms in play per shard, as last reported (`None`: not heard from yet).
    rooms: Vec<Option<usize>>,
}

impl<'a> Drain<'a> {
    /// Orders every shard to drain until `grace` from now and waits until each confirmed.
    pub(crate) fn begin(
        control: &[ControlSender],
        reports: &'a Receiver<ShardReport>,
        grace: Duration,
    ) -> Self {
        let now = Instant::now();
        let deadline = now + grace;
        // Reports left over from an earlier drain describe the past.
        while reports.try_recv().is_ok() {}
        let mut drain = Drain {
            reports,
            deadline,
            rooms: vec![None; control.len()],
        };
        for shard in control {
            shard.send(ShardControl::Drain { deadline });
        }
        let confirm_by = now + CONFIRM_TIMEOUT;
        while drain.rooms.iter().any(Option::is_none) {
            match reports.recv_deadline(confirm_by) {
                Ok(report) => drain.note(report),
                Err(_) => break,
            }
        }
        drain
    }

    /// When the grace period ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Rooms with a connected player, over all shards, as last reported.
    pub fn rooms_in_play(&self) -> usize {
        self.rooms.iter().flatten().sum()
    }

    /// Blocks until no room is in play, the grace period ends, or `cancel` yields a message
    /// (or disconnects). Pass `&crossbeam_channel::never()` for no cancel.
    pub fn wait<T>(&mut self, cancel: &Receiver<T>) -> DrainEnd {
        loop {
            // The deadline first: at the deadline shards close their connections themselves,
            // which empties rooms, and that is not play ending on its own.
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return DrainEnd::GraceExpired;
            }
            if self.rooms.iter().all(Option::is_some) && self.rooms_in_play() == 0 {
                return DrainEnd::Idle;
            }
            crossbeam_channel::select! {
                recv(self.reports) -> report => match report {
                    Ok(report) => self.note(report),
                    // Every shard ended: they only do so at the deadline or on a stop.
                    Err(_) => return DrainEnd::GraceExpired,
                },
                recv(cancel) -> _ => return DrainEnd::Cancelled,
                default(left) => return DrainEnd::GraceExpired,
            }
        }
    }

    fn note(&mut self, report: ShardReport) {
        let ShardReport::RoomsInPlay { shard, rooms } = report;
        if let Some(slot) = self.rooms.get_mut(shard as usize) {
            *slot = Some(rooms);
        }
    }
}
