//! Merging unit reports into the numbers the tool prints.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::procstat::Sample;
use crate::report::{
    ConnectReport, JoinReport, ProbeReport, StepPlan, StepReport, new_hist, note_error,
};

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let q = |q: f64| round(ms(h.value_at_quantile(q)), 4);
        Latency {
            count: h.len(),
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: round(ms(h.max()), 4),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectSummary {
    pub ok: u64,
    pub failed: u64,
    pub elapsed_s: f64,
    pub conns_per_s: f64,
    /// Connect + upgrade + `Authenticated`.
    pub latency: Latency,
    pub errors: Vec<String>,
}

pub fn connect(reports: &[ConnectReport]) -> ConnectSummary {
    let mut hist = new_hist();
    let mut errors = Vec::new();
    let start = reports.iter().map(|r| r.start_ns).min().unwrap_or(0);
    let end = reports.iter().map(|r| r.end_ns).max().unwrap_or(0);
    for r in reports {
        r.hist.add_to(&mut hist);
        for e in &r.errors {
            note_error(&mut errors, e.clone());
        }
    }
    let ok = reports.iter().map(|r| r.ok).sum::<u64>();
    let elapsed = (end.saturating_sub(start)) as f64 / 1e9;
    ConnectSummary {
        ok,
        failed: reports.iter().map(|r| r.failed).sum(),
        elapsed_s: round(elapsed, 3),
        conns_per_s: if elapsed > 0.0 {
            round(ok as f64 / elapsed, 1)
        } else {
            0.0
        },
        latency: Latency::of(&hist),
        errors,
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct JoinSummary {
    pub rooms_ok: u64,
    pub rooms_failed: u64,
    pub joins_ok: u64,
    pub joins_failed: u64,
    pub elapsed_s: f64,
    /// `JoinRoom` without a code (creates the room).
    pub create: Latency,
    /// `JoinRoom` with the code of an existing room.
    pub join: Latency,
    pub errors: Vec<String>,
}

pub fn join(reports: &[JoinReport]) -> JoinSummary {
    let mut create = new_hist();
    let mut join = new_hist();
    let mut errors = Vec::new();
    for r in reports {
        r.hist_create.add_to(&mut create);
        r.hist_join.add_to(&mut join);
        for e in &r.errors {
            note_error(&mut errors, e.clone());
        }
    }
    let start = reports.iter().map(|r| r.start_ns).min().unwrap_or(0);
    let end = reports.iter().map(|r| r.end_ns).max().unwrap_or(0);
    JoinSummary {
        rooms_ok: reports.iter().map(|r| r.rooms_ok).sum(),
        rooms_failed: reports.iter().map(|r| r.rooms_failed).sum(),
        joins_ok: reports.iter().map(|r| r.joins_ok).sum(),
        joins_failed: reports.iter().map(|r| r.joins_failed).sum(),
        elapsed_s: round(end.saturating_sub(start) as f64 / 1e9, 3),
        create: Latency::of(&create),
        join: Latency::of(&join),
        errors,
    }
}

/// Join mode: the paced rooms.
#[derive(Clone, Debug, Serialize)]
pub struct PacedSummary {
    pub rooms_ok: u64,
    pub rooms_failed: u64,
    pub joins_failed: u64,
    pub elapsed_s: f64,
    /// `JoinRoom` without a code -> `RoomJoined`.
    pub create: Latency,
    /// `JoinRoom` with the code -> `RoomJoined`.
    pub join: Latency,
    /// A joiner's `RoomJoined` -> `PlayerJoined` at each member already in the room (0 when
    /// the notification arrived first).
    pub player_joined: Latency,
    /// A joiner's `JoinRoom` sent -> `PlayerJoined` at each member already in the room.
    pub player_joined_from_request: Latency,
    /// Notifications that arrived before the joiner's own `RoomJoined`.
    pub player_joined_early: u64,
    /// Notifications owed for completed joins that never arrived (within `--drain`).
    pub player_joined_missing: u64,
    /// Connect + upgrade + authenticate of each member right before its `JoinRoom` (`fresh`).
    pub connect: Latency,
    /// How late rooms started versus the schedule (large: the client fell behind).
    pub start_lag: Latency,
    pub errors: Vec<String>,
}

pub fn paced(reports: &[ProbeReport]) -> PacedSummary {
    let [
        mut create,
        mut join,
        mut notify,
        mut notify_req,
        mut connect,
        mut lag,
    ] = std::array::from_fn(|_| new_hist());
    let mut errors = Vec::new();
    for r in reports {
        r.hist_create.add_to(&mut create);
        r.hist_join.add_to(&mut join);
        r.hist_notify.add_to(&mut notify);
        r.hist_notify_from_request.add_to(&mut notify_req);
        r.hist_connect.add_to(&mut connect);
        r.hist_start_lag.add_to(&mut lag);
        for e in &r.errors {
            note_error(&mut errors, e.clone());
        }
    }
    let start = reports.iter().map(|r| r.start_ns).min().unwrap_or(0);
    let end = reports.iter().map(|r| r.end_ns).max().unwrap_or(0);
    let sum = |f: fn(&ProbeReport) -> u64| reports.iter().map(f).sum::<u64>();
    PacedSummary {
        rooms_ok: sum(|r| r.rooms_ok),
        rooms_failed: sum(|r| r.rooms_failed),
        joins_failed: sum(|r| r.joins_failed),
        elapsed_s: round(end.saturating_sub(start) as f64 / 1e9, 3),
        create: Latency::of(&create),
        join: Latency::of(&join),
        player_joined: Latency::of(&notify),
        player_joined_from_request: Latency::of(&notify_req),
        player_joined_early: sum(|r| r.notify_early),
        player_joined_missing: sum(|r| r.notify_missing),
        connect: Latency::of(&connect),
        start_lag: Latency::of(&lag),
        errors,
    }
}

/// One human line for the paced rooms.
pub fn paced_line(p: &PacedSummary) -> String {
    format!(
        "paced rooms {} ok / {} failed: create p50 {:.3} ms p99 {:.3} ms max {:.3} ms; join p50 {:.3} ms p99 {:.3} ms max {:.3} ms; PlayerJoined after the joiner's RoomJoined p50 {:.3} ms p99 {:.3} ms max {:.3} ms ({} early, {} missing); start lag p99 {:.2} ms",
        p.rooms_ok,
        p.rooms_failed,
        p.create.p50_ms,
        p.create.p99_ms,
        p.create.max_ms,
        p.join.p50_ms,
        p.join.p99_ms,
        p.join.max_ms,
        p.player_joined.p50_ms,
        p.player_joined.p99_ms,
        p.player_joined.max_ms,
        p.player_joined_early,
        p.player_joined_missing,
        p.start_lag.p99_ms,
    )
}

/// The server's side of a step (absent without `--server-pid`).
#[derive(Clone, Debug, Serialize)]
pub struct ServerUsage {
    pub cpu_s: f64,
    /// CPU seconds per wall second inside the window (1.0 = one core busy).
    pub cpu_util: f64,
    pub rss_kb: u64,
    pub deliveries_per_cpu_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepSummary {
    pub rate_per_player: f64,
    pub senders: u64,
    /// senders x rate.
    pub offered_per_s: f64,
    pub sent: u64,
    pub sent_per_s: f64,
    pub expected: u64,
    pub delivered: u64,
    pub delivery_ratio: f64,
    pub delivered_per_s: f64,
    pub relay: Latency,
    pub late_resets: u64,
    pub malformed: u64,
    pub disconnects: u64,
    pub gaps: u64,
    pub out_of_order: u64,
    /// Client send time minus scheduled time: large values mean the client is overloaded.
    pub send_lag: Latency,
    pub other_frames: BTreeMap<String, u64>,
    pub errors: Vec<String>,
    /// CPU seconds of all client threads inside the window.
    pub client_cpu_s: f64,
    /// The busiest client thread's CPU share inside the window (near 1.0: the client may be
    /// the bottleneck).
    pub client_busiest_thread_util: f64,
    pub server: Option<ServerUsage>,
    /// CPU used by everything else on the machine inside the window, in cores (other
    /// processes compete with the server and the client: a large value spoils the step).
    pub other_cpu_cores: Option<f64>,
}

/// CPU readings at the window's edges, taken by the coordinator.
#[derive(Clone, Copy, Debug)]
pub struct Edges {
    pub server: Option<(Sample, Sample)>,
    /// (machine busy seconds, client processes' CPU seconds) at start and end.
    pub machine: Option<((f64, f64), (f64, f64))>,
}

impl StepSummary {
    /// Every expected delivery arrived and nothing disconnected.
    pub fn complete(&self) -> bool {
        self.expected > 0 && self.delivered == self.expected && self.disconnects == 0
    }
}

pub fn step(plan: &StepPlan, reports: &[StepReport], edges: Edges) -> StepSummary {
    let mut hist = new_hist();
    let mut lag = new_hist();
    let mut other = BTreeMap::new();
    let mut errors = Vec::new();
    for r in reports {
        r.hist.add_to(&mut hist);
        r.send_lag.add_to(&mut lag);
        for (k, v) in &r.other {
            *other.entry(k.clone()).or_insert(0) += v;
        }
        for e in &r.errors {
            note_error(&mut errors, e.clone());
        }
    }
    let window = plan.duration_ns as f64 / 1e9;
    let sum = |f: fn(&StepReport) -> u64| reports.iter().map(f).sum::<u64>();
    let senders = sum(|r| r.senders);
    let sent = sum(|r| r.sent);
    let expected = sum(|r| r.expected);
    let delivered = sum(|r| r.delivered);
    let other_cpu_cores = edges.machine.map(|((busy0, client0), (busy1, client1))| {
        let server = edges.server.map_or(0.0, |(a, b)| b.cpu_s - a.cpu_s);
        let other = (busy1 - busy0) - (client1 - client0) - server;
        round((other / window).max(0.0), 2)
    });
    let server = edges.server.map(|(a, b)| {
        let cpu = b.cpu_s - a.cpu_s;
        let wall = (b.at_ns.saturating_sub(a.at_ns)) as f64 / 1e9;
        ServerUsage {
            cpu_s: round(cpu, 3),
            cpu_util: if wall > 0.0 {
                round(cpu / wall, 3)
            } else {
                0.0
            },
            rss_kb: b.rss_kb,
            deliveries_per_cpu_s: (cpu > 0.0).then(|| round(delivered as f64 / cpu, 0)),
        }
    });
    StepSummary {
        rate_per_player: round(plan.rate_per_player, 3),
        senders,
        offered_per_s: round(senders as f64 * plan.rate_per_player, 1),
        sent,
        sent_per_s: round(sent as f64 / window, 1),
        expected,
        delivered,
        delivery_ratio: if expected > 0 {
            round(delivered as f64 / expected as f64, 6)
        } else {
            0.0
        },
        delivered_per_s: round(delivered as f64 / window, 1),
        relay: Latency::of(&hist),
        late_resets: sum(|r| r.late_resets),
        malformed: sum(|r| r.malformed),
        disconnects: sum(|r| r.disconnects),
        gaps: sum(|r| r.gaps),
        out_of_order: sum(|r| r.out_of_order),
        send_lag: Latency::of(&lag),
        other_frames: other,
        errors,
        client_cpu_s: round(sum(|r| r.cpu_ns) as f64 / 1e9, 3),
        client_busiest_thread_util: round(
            reports
                .iter()
                .map(|r| r.cpu_ns as f64 / r.window_ns.max(1) as f64)
                .fold(0.0, f64::max),
            3,
        ),
        server,
        other_cpu_cores,
    }
}

/// One human line for a step.
pub fn step_line(s: &StepSummary) -> String {
    let server = s.server.as_ref().map_or(String::new(), |u| {
        format!(
            ", server {:.0}% cpu, {} deliveries/cpu-s, rss {} MiB",
            u.cpu_util * 100.0,
            u.deliveries_per_cpu_s.unwrap_or(0.0),
            u.rss_kb / 1024
        )
    });
    let other = s
        .other_cpu_cores
        .map_or(String::new(), |c| format!(", other load {c:.2} cores"));
    format!(
        "rate {}/s/player: sent {} delivered {}/{} ({:.4}%, gaps {}), {:.0} deliveries/s, relay p50 {:.3} ms p99 {:.3} ms p99.9 {:.3} ms max {:.3} ms, client busiest thread {:.0}% send lag p99 {:.2} ms{server}{other}",
        s.rate_per_player,
        s.sent,
        s.delivered,
        s.expected,
        s.delivery_ratio * 100.0,
        s.gaps,
        s.delivered_per_s,
        s.relay.p50_ms,
        s.relay.p99_ms,
        s.relay.p999_ms,
        s.relay.max_ms,
        s.client_busiest_thread_util * 100.0,
        s.send_lag.p99_ms,
    )
}
