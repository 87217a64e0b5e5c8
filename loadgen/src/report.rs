//! What workers tell the coordinator, and the histogram transport between processes.
//!
//! A worker is one executor thread ("unit"). Every unit reports for itself; the coordinator
//! merges counters by summing and histograms by merging, and derives percentiles afterwards.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in nanoseconds, up to a minute, with 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// A histogram as (value, count) pairs of its non-empty buckets: compact, exact to the
/// histogram's precision, and plain JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HistData(pub Vec<(u64, u64)>);

impl HistData {
    pub fn from_hist(h: &Histogram<u64>) -> Self {
        HistData(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    pub fn add_to(&self, h: &mut Histogram<u64>) {
        for &(value, count) in &self.0 {
            h.saturating_record_n(value, count);
        }
    }
}

/// Commands from the coordinator to every unit.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(tag = "cmd")]
pub enum Cmd {
    /// Open and authenticate every connection.
    Connect,
    /// Create and fill every room, then start the per-connection loops.
    Join,
    /// Run one measured step.
    Step(StepPlan),
    /// Join mode: create and fill the paced rooms on this schedule (only the unit that owns
    /// them answers, with `Probed`).
    Probe(ProbePlan),
    /// Close everything and exit.
    Quit,
}

/// One measured step: sending starts at `go_ns`; messages sent in
/// `[go_ns + warmup_ns, go_ns + warmup_ns + duration_ns)` are counted; sending stops at the end
/// of that window; deliveries are awaited for at most `drain_ns` more.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct StepPlan {
    pub generation: u32,
    pub go_ns: u64,
    pub rate_per_player: f64,
    pub warmup_ns: u64,
    pub duration_ns: u64,
    pub drain_ns: u64,
    pub progress_ns: u64,
}

impl StepPlan {
    pub fn window_start(&self) -> u64 {
        self.go_ns + self.warmup_ns
    }

    pub fn window_end(&self) -> u64 {
        self.window_start() + self.duration_ns
    }
}

/// The paced-join schedule: room `j` of the probe unit starts at `go_ns + j / rooms_per_s`;
/// after a room's last join its members' `PlayerJoined` are awaited for at most `drain_ns`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ProbePlan {
    pub go_ns: u64,
    pub rooms_per_s: f64,
    pub drain_ns: u64,
}

impl ProbePlan {
    pub fn room_start(&self, room: usize) -> u64 {
        self.go_ns + (room as f64 * 1e9 / self.rooms_per_s) as u64
    }
}

/// Result of `Probe` (join mode) from the unit that owns the paced rooms.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProbeReport {
    pub rooms_ok: u64,
    pub rooms_failed: u64,
    pub joins_failed: u64,
    pub errors: Vec<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `JoinRoom` without a code -> `RoomJoined` (room creation).
    pub hist_create: HistData,
    /// `JoinRoom` with the code -> `RoomJoined`.
    pub hist_join: HistData,
    /// A joiner's `RoomJoined` -> `PlayerJoined` at each member already in the room (0 when
    /// the notification came first).
    pub hist_notify: HistData,
    /// The joiner's `JoinRoom` sent -> `PlayerJoined` at each member already in the room.
    pub hist_notify_from_request: HistData,
    /// Notifications that arrived before the joiner's own `RoomJoined`.
    pub notify_early: u64,
    /// Notifications expected from completed joins that never arrived.
    pub notify_missing: u64,
    /// Connect + upgrade + authenticate of members connected at their turn (`fresh`).
    pub hist_connect: HistData,
    /// How late rooms started versus the schedule (client health).
    pub hist_start_lag: HistData,
}

/// Result of `Connect` for one unit.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConnectReport {
    pub ok: u64,
    pub failed: u64,
    pub errors: Vec<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Connect + WebSocket handshake + `Authenticated`, per connection.
    pub hist: HistData,
}

/// Result of `Join` for one unit.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JoinReport {
    pub rooms_ok: u64,
    pub rooms_failed: u64,
    pub joins_ok: u64,
    pub joins_failed: u64,
    pub errors: Vec<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `JoinRoom` without a code -> `RoomJoined` (room creation).
    pub hist_create: HistData,
    /// `JoinRoom` with the code -> `RoomJoined`.
    pub hist_join: HistData,
}

/// Result of one step for one unit.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StepReport {
    pub generation: u32,
    /// Connections that sent during the step.
    pub senders: u64,
    /// `GameData` sent inside the window.
    pub sent: u64,
    /// sent x (room size - 1).
    pub expected: u64,
    /// Deliveries of messages sent inside the window.
    pub delivered: u64,
    /// Sends that fell more than 1 s behind schedule (schedule reset).
    pub late_resets: u64,
    /// Deliveries whose timestamp lies in the future or cannot be parsed.
    pub malformed: u64,
    /// Connections lost during the step.
    pub disconnects: u64,
    /// Sequence numbers skipped per sender->receiver pair (messages lost or not yet arrived
    /// while later ones did).
    pub gaps: u64,
    /// Deliveries older than one already received from the same sender.
    pub out_of_order: u64,
    /// How late the client sent versus its schedule (client health).
    pub send_lag: HistData,
    /// Frames other than `GameData`, by type.
    pub other: BTreeMap<String, u64>,
    pub errors: Vec<String>,
    /// Relay latency (receive time - send timestamp).
    pub hist: HistData,
    /// CPU time of this unit's thread inside the window.
    pub cpu_ns: u64,
    pub window_ns: u64,
}

/// Everything a unit or a worker process says.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum Event {
    /// A worker process announces how many units it runs.
    Hello {
        units: usize,
    },
    Connected(ConnectReport),
    Joined(JoinReport),
    /// Cumulative counters of the current step.
    Progress {
        unit: usize,
        generation: u32,
        sent: u64,
        delivered: u64,
        /// Highest relay latency since the previous progress event (ns).
        max_ns: u64,
    },
    Stepped(StepReport),
    Probed(ProbeReport),
    /// A unit finished `Quit`.
    Closed,
    /// A worker process died or broke the protocol.
    Failed {
        message: String,
    },
}

/// Keeps at most a few distinct error messages.
pub fn note_error(errors: &mut Vec<String>, message: String) {
    const KEEP: usize = 5;
    if errors.len() < KEEP && !errors.contains(&message) {
        errors.push(message);
    }
}
