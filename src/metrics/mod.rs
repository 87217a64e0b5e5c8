//! Metrics: each shard counts into its own plain counters and histograms; a scrape collects a
//! [`ShardSnapshot`] from every shard over the shard inboxes, merges them into one
//! [`MetricsSnapshot`] and renders JSON ([`render_json`]) or Prometheus text
//! ([`render_prometheus`]) from it. The dashboard cache ([`DashboardCache`]) is owned by one task
//! and feeds the JSON document's `dashboardCache` object.

pub mod counters;
pub mod dashboard;
pub mod json;
pub mod latency;
pub mod latency_view;
pub mod process;
pub mod prometheus;
pub mod query;
pub mod rooms;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

pub use counters::{Counters, Gauges};
pub use dashboard::{DashboardCache, DashboardEntry, DashboardView, HistoryEntry, Percentiles};
pub use json::render_json;
pub use latency::{Latencies, Op};
pub use latency_view::LatencyView;
pub use process::{BuildInfo, ProcessStats, render_draining, render_process};
pub use prometheus::render_prometheus;
pub use query::{MetricsQuery, bearer_ok, parse_query};
pub use rooms::RoomSummary;

/// One shard's live metrics. Only its own thread touches them.
#[derive(Debug, Default)]
pub struct ShardMetrics {
    pub counters: RefCell<Counters>,
    pub gauges: RefCell<Gauges>,
    pub latencies: RefCell<Latencies>,
    /// Rooms owned by this shard, by game.
    pub rooms: RefCell<RoomSummary>,
    /// Messages sent to each shard (index = destination).
    pub sent_to: RefCell<Vec<u64>>,
}

impl ShardMetrics {
    /// Metrics for a shard in a process of `shards` shards.
    pub fn new(shards: usize) -> Self {
        ShardMetrics {
            sent_to: RefCell::new(vec![0; shards]),
            ..ShardMetrics::default()
        }
    }

    /// Bumps counters: `metrics.count(|c| c.rooms_created += 1)`.
    pub fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.counters.borrow_mut());
    }

    /// Moves gauges: `metrics.gauge(|g| g.players_active += 1)`.
    pub fn gauge(&self, f: impl FnOnce(&mut Gauges)) {
        f(&mut self.gauges.borrow_mut());
    }

    /// Records a latency sample measured from `since`.
    pub fn record_since(&self, op: Op, since: Instant) {
        self.record(op, since.elapsed());
    }

    /// Records a latency sample.
    pub fn record(&self, op: Op, elapsed: Duration) {
        if self.latencies.borrow_mut().record(op, elapsed) {
            self.count(|c| c.latency_histogram_clamped_samples += 1);
        }
    }

    /// Counts `n` messages shipped to shard `to`.
    pub fn sent(&self, to: u32, n: u64) {
        if let Some(slot) = self.sent_to.borrow_mut().get_mut(to as usize) {
            *slot += n;
        }
    }

    /// A copy of everything, for a scrape.
    pub fn snapshot(&self, shard: u32, connections: u64, rooms_owned: u64) -> ShardSnapshot {
        ShardSnapshot {
            shard,
            counters: self.counters.borrow().clone(),
            gauges: self.gauges.borrow().clone(),
            latencies: self.latencies.borrow().clone(),
            rooms: self.rooms.borrow().clone(),
            connections,
            rooms_owned,
            sent_to: self.sent_to.borrow().clone(),
            dashboard: None,
        }
    }
}

/// What one shard reports to a scrape. `Send`: it crosses to the scraping shard.
#[derive(Debug, Clone, Default)]
pub struct ShardSnapshot {
    pub shard: u32,
    pub counters: Counters,
    pub gauges: Gauges,
    pub latencies: Latencies,
    pub rooms: RoomSummary,
    /// Connections open on this shard right now.
    pub connections: u64,
    /// Rooms this shard owns right now.
    pub rooms_owned: u64,
    /// Messages this shard has sent to each shard.
    pub sent_to: Vec<u64>,
    /// The dashboard cache's state, from the shard that keeps it (shard 0).
    pub dashboard: Option<DashboardView>,
}

/// Per-shard figures kept apart in the merged snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardView {
    pub shard: u32,
    pub connections_active: u64,
    pub rooms_owned: u64,
    pub cross_shard_sent: u64,
    /// Channel sends (batches) those messages left in.
    pub cross_shard_batches: u64,
    pub cross_shard_received: u64,
    /// Messages other shards sent here that this shard had not yet taken in.
    pub inbox_depth: u64,
}

/// Every shard's report merged: counters summed, gauges summed then floored at zero,
/// histograms added (percentiles are derived from the merged histograms only).
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    pub taken_at: DateTime<Utc>,
    pub counters: Counters,
    /// Merged signed gauges (may be negative only transiently; read through the accessors).
    pub gauges: Gauges,
    pub latencies: Latencies,
    pub rooms: RoomSummary,
    pub shards: Vec<ShardView>,
    /// The dashboard cache's state, if its shard answered.
    pub dashboard: Option<DashboardView>,
    /// Traffic with other cluster nodes (all 0 without a cluster): the original's
    /// `cross_instance` fields.
    pub cross_instance: CrossInstance,
}

/// The original's `cross_instance` fields, as this design fills them (README, Metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrossInstance {
    /// Envelopes exchanged with other nodes, both ways.
    pub messages: u64,
    /// Batches from other nodes dropped as duplicates (their number already seen).
    pub dedup_hits: u64,
    /// Batches from other nodes taken (new numbers).
    pub dedup_misses: u64,
    /// Commands forwarded to a room's home on a live node.
    pub membership_cache_hits: u64,
    /// Commands whose room's home node was known gone.
    pub membership_cache_misses: u64,
    /// Membership changes (joined, left, spectating, …) sent to members' nodes.
    pub updates_published: u64,
    /// Membership changes received from rooms' home nodes.
    pub updates_received: u64,
    /// Frame deliveries sent to members on other nodes.
    pub known_broadcasts: u64,
    /// Messages for a node dropped because it was gone.
    pub skipped_broadcasts: u64,
}

impl MetricsSnapshot {
    /// Merges shard reports (in any order).
    pub fn merge(mut reports: Vec<ShardSnapshot>, taken_at: DateTime<Utc>) -> Self {
        reports.sort_by_key(|r| r.shard);
        let mut merged = MetricsSnapshot {
            taken_at,
            ..MetricsSnapshot::default()
        };
        for report in &reports {
            merged.counters.add(&report.counters);
            merged.gauges.add(&report.gauges);
            merged.latencies.add(&report.latencies);
            merged.rooms.add(&report.rooms);
            if merged.dashboard.is_none() {
                merged.dashboard = report.dashboard.clone();
            }
        }
        merged.shards = reports
            .iter()
            .map(|report| {
                let sent_here: u64 = reports
                    .iter()
                    .filter_map(|r| r.sent_to.get(report.shard as usize))
                    .sum();
                ShardView {
                    shard: report.shard,
                    connections_active: report.connections,
                    rooms_owned: report.rooms_owned,
                    cross_shard_sent: report.counters.cross_shard_sent,
                    cross_shard_batches: report.counters.cross_shard_batches,
                    cross_shard_received: report.counters.cross_shard_received,
                    inbox_depth: sent_here.saturating_sub(report.counters.cross_shard_received),
                }
            })
            .collect();
        merged
    }

    /// Open connections (floored at zero).
    pub fn active_connections(&self) -> u64 {
        self.gauges.active_connections.max(0) as u64
    }

    /// Players currently seated in rooms (floored at zero).
    pub fn players_active(&self) -> u64 {
        self.gauges.players_active.max(0) as u64
    }

    /// Pending reconnections (floored at zero).
    pub fn reconnection_sessions_active(&self) -> u64 {
        self.gauges.reconnection_sessions_active.max(0) as u64
    }

    /// Validation + internal + websocket errors.
    pub fn total_errors(&self) -> u64 {
        let c = &self.counters;
        c.validation_errors + c.internal_errors + c.websocket_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_counters_floors_gauges_and_adds_histograms() {
        let a = ShardMetrics::new(2);
        a.count(|c| c.rooms_created += 2);
        a.gauge(|g| g.active_connections -= 1);
        a.record(Op::RoomJoin, Duration::from_micros(800));
        a.sent(1, 5);
        let b = ShardMetrics::new(2);
        b.count(|c| {
            c.rooms_created += 1;
            c.cross_shard_received += 3;
        });
        b.record(Op::RoomJoin, Duration::from_micros(1500));
        let merged =
            MetricsSnapshot::merge(vec![b.snapshot(1, 0, 0), a.snapshot(0, 4, 1)], Utc::now());
        assert_eq!(merged.counters.rooms_created, 3);
        assert_eq!(merged.active_connections(), 0);
        let joins = merged.latencies.get(Op::RoomJoin).expect("samples");
        assert_eq!(joins.len(), 2);
        assert_eq!(merged.shards[0].connections_active, 4);
        assert_eq!(merged.shards[1].inbox_depth, 2);
        assert!(merged.latencies.get(Op::RoomCreation).is_none());
    }

    #[test]
    fn samples_beyond_five_minutes_are_clamped_and_counted() {
        let m = ShardMetrics::new(1);
        m.record(Op::GameDataRelay, Duration::from_secs(600));
        assert_eq!(m.counters.borrow().latency_histogram_clamped_samples, 1);
        let h = m.latencies.borrow();
        let h = h.get(Op::GameDataRelay).expect("sample");
        assert!(h.max() <= h.highest_equivalent(latency::MAX_MICROS));
    }
}
