//! The `/metrics/prom` text, exposition format 0.0.4 (`metrics.md` §3).
//!
//! First the 58 families of 0.1.0, in its order, with their names and types. The
//! `*_latency_{average,p50,p95,p99,min,max}_ms` gauges are left out: they never appeared in a
//! 0.1.0 scrape (nothing recorded latency), and they break promtool's unit rule. Latency is
//! exposed instead as classic histograms in seconds, followed by per-shard series.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::{MetricsSnapshot, Op};

/// Upper bounds of the latency histogram buckets: microseconds and the `le` label (seconds),
/// 50 µs to 10 s in 1-2.5-5 steps. Spelled out so labels never depend on float formatting.
pub(crate) const BUCKETS: [(u64, &str); 17] = [
    (50, "0.00005"),
    (100, "0.0001"),
    (250, "0.00025"),
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
];

const MICROS_PER_SECOND: f64 = 1_000_000.0;

/// Metric type of a family.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Accumulates the text. `fmt::Write` into a `String` cannot fail, so results are dropped.
struct Text(String);

impl Text {
    fn header(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {}", kind.as_str());
    }

    /// A family with one unlabelled sample. Integers print as integers, as 0.1.0 did.
    fn single(&mut self, name: &str, kind: Kind, help: &str, value: u64) {
        self.header(name, kind, help);
        let _ = writeln!(self.0, "{name} {value}");
    }
}

/// Renders the Prometheus text for a merged snapshot.
///
/// `dashboard_age_seconds` is the age of the dashboard cache (0 if never refreshed) and
/// `refresh_failures` its failed refreshes; both belong to the cache's owner, not to shards.
#[rustfmt::skip]
pub fn render_prometheus(
    snapshot: &MetricsSnapshot,
    dashboard_age_seconds: u64,
    refresh_failures: u64,
) -> String {
    let c = &snapshot.counters;
    let samples = |op| snapshot.latencies.get(op).map_or(0, Histogram::len);
    let mut t = Text(String::with_capacity(16 * 1024));
    use Kind::{Counter, Gauge};

    t.single("signal_fish_connections_total", Counter, "WebSocket clients registered.", c.total_connections);
    t.single("signal_fish_connections_active", Gauge, "WebSocket clients currently connected.", snapshot.active_connections());
    t.single("signal_fish_connections_disconnections_total", Counter, "WebSocket clients unregistered.", c.disconnections);
    t.single("signal_fish_websocket_messages_dropped_total", Counter, "Outbound messages a client never got: refused by its full queue, still queued when it was cut off, or sent after it left.", c.websocket_messages_dropped);
    t.single("signal_fish_rooms_created_total", Counter, "Rooms created.", c.rooms_created);
    t.single("signal_fish_rooms_joined_total", Counter, "Joins into existing rooms.", c.rooms_joined);
    t.single("signal_fish_rooms_deleted_total", Counter, "Rooms removed for any reason.", c.rooms_deleted);
    t.single("signal_fish_room_cap_lock_acquisitions_total", Counter, "Room creations that reached the per-game room cap check.", c.room_cap_lock_acquisitions);
    t.single("signal_fish_room_cap_lock_failures_total", Counter, "Per-game room cap checks that could not take the lock.", c.room_cap_lock_failures);
    t.single("signal_fish_room_cap_denials_total", Counter, "Room creations refused by the per-game room cap.", c.room_cap_denials);
    t.single("signal_fish_rate_limit_rejections_total", Counter, "Requests refused by a rate limiter.", c.rate_limit_rejections);
    t.single("signal_fish_rate_limit_resets_total", Counter, "Rate limiter resets.", c.rate_limit_resets);
    // Limits are per IP here; one process-wide window gauge has nothing meaningful to show.
    for window in ["minute", "hour", "day"] {
        t.single(&format!("signal_fish_rate_limit_{window}_limit"), Gauge, &format!("Global per-{window} request limit (unused, always 0)."), 0);
        t.single(&format!("signal_fish_rate_limit_{window}_used"), Gauge, &format!("Requests used in the current global {window} window (unused, always 0)."), 0);
    }
    // No database, so no queries.
    t.single("signal_fish_queries_total", Counter, "Storage queries (none in this server).", 0);
    t.single("signal_fish_room_creation_latency_samples_total", Counter, "Room creation latency samples recorded.", samples(Op::RoomCreation));
    t.single("signal_fish_room_join_latency_samples_total", Counter, "Room join latency samples recorded.", samples(Op::RoomJoin));
    t.single("signal_fish_query_latency_samples_total", Counter, "Storage query latency samples recorded (none in this server).", 0);
    t.single("signal_fish_latency_clamped_samples_total", Counter, "Latency samples clamped to 5 minutes.", c.latency_histogram_clamped_samples);
    t.single("signal_fish_errors_total", Counter, "Validation, internal and WebSocket errors.", snapshot.total_errors());
    t.single("signal_fish_errors_internal_total", Counter, "Internal errors.", c.internal_errors);
    t.single("signal_fish_errors_websocket_total", Counter, "WebSocket protocol and transport errors.", c.websocket_errors);
    t.single("signal_fish_errors_validation_total", Counter, "Rejected invalid client requests.", c.validation_errors);
    t.single("signal_fish_players_active", Gauge, "Players currently seated in rooms.", snapshot.players_active());
    t.single("signal_fish_players_joined_total", Counter, "Players added to rooms by create, join or reconnect.", c.players_joined);
    t.single("signal_fish_players_left_total", Counter, "Players removed from rooms.", c.players_left);
    t.single("signal_fish_game_data_messages_total", Counter, "Game data messages relayed.", c.game_data_messages);
    t.single("signal_fish_reconnection_tokens_issued_total", Counter, "Reconnection tokens made claimable.", c.tokens_issued);
    t.single("signal_fish_reconnection_sessions_active", Gauge, "Pending reconnections.", snapshot.reconnection_sessions_active());
    t.single("signal_fish_reconnection_validation_failures_total", Counter, "Reconnection attempts rejected.", c.reconnection_validations_failed);
    t.single("signal_fish_reconnection_completions_total", Counter, "Reconnections completed.", c.reconnection_completions);
    t.single("signal_fish_reconnection_events_buffered_total", Counter, "Events buffered for disconnected players.", c.events_buffered);
    // Single process: there are no distributed locks, other instances or relay servers.
    for (name, help) in [
        ("signal_fish_distributed_lock_release_failures_total", "Distributed lock release failures (always 0)."),
        ("signal_fish_distributed_lock_extend_failures_total", "Distributed lock extension failures (always 0)."),
        ("signal_fish_distributed_lock_cleanup_runs_total", "Distributed lock cleanup runs (always 0)."),
        ("signal_fish_distributed_lock_cleanup_removed_total", "Distributed locks removed by cleanup (always 0)."),
    ] {
        t.single(name, Counter, help, 0);
    }
    t.single("signal_fish_cleanup_empty_rooms_total", Counter, "Empty rooms deleted when their last reconnection window or empty_room_timeout ended.", c.empty_rooms_cleaned);
    t.single("signal_fish_cleanup_inactive_rooms_total", Counter, "Rooms deleted for inactivity (room_timeout).", c.inactive_rooms_cleaned);
    t.single("signal_fish_cleanup_expired_players_total", Counter, "Silent clients closed after ping_timeout.", c.expired_players_cleaned);
    // Traffic between cluster nodes, as `metrics::CrossInstance` maps the original's fields
    // (all 0 without cluster.nats_url).
    let x = &snapshot.cross_instance;
    for (name, help, value) in [
        ("signal_fish_cross_instance_messages_total", "Messages exchanged with other cluster nodes, both ways.", x.messages),
        ("signal_fish_cross_instance_dedup_hits_total", "Batches from other nodes dropped as duplicates.", x.dedup_hits),
        ("signal_fish_cross_instance_dedup_misses_total", "Batches from other nodes taken (not seen before).", x.dedup_misses),
        ("signal_fish_cross_instance_dedup_evictions_total", "Dedup entries evicted (always 0: one counter per sending shard).", 0),
        ("signal_fish_cross_instance_membership_cache_hits_total", "Commands forwarded to a room's home on a live node.", x.membership_cache_hits),
        ("signal_fish_cross_instance_membership_cache_misses_total", "Commands whose room's home node was gone.", x.membership_cache_misses),
        ("signal_fish_cross_instance_membership_updates_published_total", "Membership changes sent to members on other nodes.", x.updates_published),
        ("signal_fish_cross_instance_membership_updates_received_total", "Membership changes received from rooms' home nodes.", x.updates_received),
        ("signal_fish_cross_instance_membership_known_broadcasts_total", "Frame deliveries sent to members on other nodes.", x.known_broadcasts),
        ("signal_fish_cross_instance_membership_forced_broadcasts_total", "Forced remote broadcasts (always 0: deliveries go to known members only).", 0),
        ("signal_fish_cross_instance_membership_skipped_broadcasts_total", "Messages for a node dropped because it was gone.", x.skipped_broadcasts),
    ] {
        t.single(name, Counter, help, value);
    }
    for (name, help) in [
        ("signal_fish_relay_client_id_reuse_total", "Relay client id reuse events (always 0)."),
        ("signal_fish_relay_client_id_exhaustion_total", "Relay client id exhaustion events (always 0)."),
    ] {
        t.single(name, Counter, help, 0);
    }
    t.single("signal_fish_dashboard_cache_age_seconds", Gauge, "Seconds since the last dashboard cache refresh (0 before the first).", dashboard_age_seconds);
    t.single("signal_fish_dashboard_cache_refresh_failures_total", Counter, "Failed dashboard cache refreshes.", refresh_failures);

    histogram(&mut t, "signal_fish_room_creation_duration_seconds", "Time from a room-creating JoinRoom being read to RoomJoined being queued.", snapshot.latencies.get(Op::RoomCreation));
    histogram(&mut t, "signal_fish_room_join_duration_seconds", "Time from a JoinRoom by code being read to RoomJoined being queued.", snapshot.latencies.get(Op::RoomJoin));
    histogram(&mut t, "signal_fish_game_data_relay_duration_seconds", "Time from a game data frame being read to it being queued for recipients.", snapshot.latencies.get(Op::GameDataRelay));

    per_shard(&mut t, snapshot);
    // Ours (decision 3): a kept seat's buffer is bounded, oldest dropped first.
    t.single("signal_fish_reconnection_events_dropped_total", Counter, "Events a disconnected player missed beyond server.event_buffer_size (oldest first), so not replayed.", c.events_dropped);
    // Ours (decision 21): logging drops rather than make a shard wait.
    t.single("signal_fish_log_records_dropped_total", Counter, "Log records dropped because the log writer's queue was full.", c.log_records_dropped);
    t.single("signal_fish_rooms_active", Gauge, "Rooms open right now over all shards, empty rooms awaiting reconnection or expiry included.", snapshot.rooms.active_rooms());
    t.0
}

/// A classic histogram from a merged HDR histogram (µs).
///
/// Each HDR bucket is placed by its lowest equivalent value, so placement is exact below
/// 2048 µs and within 0.1 % above. `_sum` adds each bucket's median equivalent (the same
/// approximation as the JSON average); `_count` and `+Inf` are the sample count.
fn histogram(t: &mut Text, name: &str, help: &str, h: Option<&Histogram<u64>>) {
    let mut per_bucket = [0u64; BUCKETS.len()];
    let mut count = 0u64;
    let mut sum_micros = 0u128;
    if let Some(h) = h {
        for v in h.iter_recorded() {
            let n = v.count_at_value();
            let value = h.lowest_equivalent(v.value_iterated_to());
            if let Some(slot) = BUCKETS.iter().position(|(le, _)| value <= *le) {
                per_bucket[slot] += n;
            }
            count += n;
            sum_micros += u128::from(h.median_equivalent(value)) * u128::from(n);
        }
    }
    t.header(name, Kind::Histogram, help);
    let mut cumulative = 0u64;
    for ((_, le), n) in BUCKETS.iter().zip(per_bucket) {
        cumulative += n;
        let _ = writeln!(t.0, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(t.0, "{name}_bucket{{le=\"+Inf\"}} {count}");
    // f64 Display never uses exponent notation and prints whole numbers without a point.
    let _ = writeln!(t.0, "{name}_sum {}", sum_micros as f64 / MICROS_PER_SECOND);
    let _ = writeln!(t.0, "{name}_count {count}");
}

/// Per-shard series, labelled `shard="<index>"`.
#[rustfmt::skip]
fn per_shard(t: &mut Text, snapshot: &MetricsSnapshot) {
    type Pick = fn(&super::ShardView) -> u64;
    let families: [(&str, Kind, &str, Pick); 6] = [
        ("signal_fish_shard_connections_active", Kind::Gauge, "WebSocket clients connected to this shard.", |s| s.connections_active),
        ("signal_fish_shard_rooms_owned", Kind::Gauge, "Rooms owned by this shard.", |s| s.rooms_owned),
        ("signal_fish_shard_cross_shard_messages_sent_total", Kind::Counter, "Messages this shard sent to other shards.", |s| s.cross_shard_sent),
        ("signal_fish_shard_cross_shard_batches_sent_total", Kind::Counter, "Batches (channel sends, each waking the peer if it sleeps) those messages left in.", |s| s.cross_shard_batches),
        ("signal_fish_shard_cross_shard_messages_received_total", Kind::Counter, "Messages this shard received from other shards.", |s| s.cross_shard_received),
        ("signal_fish_shard_inbox_depth", Kind::Gauge, "Messages sent to this shard and not yet taken in.", |s| s.inbox_depth),
    ];
    for (name, kind, help, pick) in families {
        t.header(name, kind, help);
        for shard in &snapshot.shards {
            let _ = writeln!(t.0, "{name}{{shard=\"{}\"}} {}", shard.shard, pick(shard));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use chrono::Utc;

    use super::*;
    use crate::metrics::ShardMetrics;

    /// The 58 families of 0.1.0 that a fresh server emits, in order (`metrics.md` §3.2 minus
    /// the conditional `_ms` gauges).
    const LEGACY: [&str; 58] = [
        "signal_fish_connections_total",
        "signal_fish_connections_active",
        "signal_fish_connections_disconnections_total",
        "signal_fish_websocket_messages_dropped_total",
        "signal_fish_rooms_created_total",
        "signal_fish_rooms_joined_total",
        "signal_fish_rooms_deleted_total",
        "signal_fish_room_cap_lock_acquisitions_total",
        "signal_fish_room_cap_lock_failures_total",
        "signal_fish_room_cap_denials_total",
        "signal_fish_rate_limit_rejections_total",
        "signal_fish_rate_limit_resets_total",
        "signal_fish_rate_limit_minute_limit",
        "signal_fish_rate_limit_minute_used",
        "signal_fish_rate_limit_hour_limit",
        "signal_fish_rate_limit_hour_used",
        "signal_fish_rate_limit_day_limit",
        "signal_fish_rate_limit_day_used",
        "signal_fish_queries_total",
        "signal_fish_room_creation_latency_samples_total",
        "signal_fish_room_join_latency_samples_total",
        "signal_fish_query_latency_samples_total",
        "signal_fish_latency_clamped_samples_total",
        "signal_fish_errors_total",
        "signal_fish_errors_internal_total",
        "signal_fish_errors_websocket_total",
        "signal_fish_errors_validation_total",
        "signal_fish_players_active",
        "signal_fish_players_joined_total",
        "signal_fish_players_left_total",
        "signal_fish_game_data_messages_total",
        "signal_fish_reconnection_tokens_issued_total",
        "signal_fish_reconnection_sessions_active",
        "signal_fish_reconnection_validation_failures_total",
        "signal_fish_reconnection_completions_total",
        "signal_fish_reconnection_events_buffered_total",
        "signal_fish_distributed_lock_release_failures_total",
        "signal_fish_distributed_lock_extend_failures_total",
        "signal_fish_distributed_lock_cleanup_runs_total",
        "signal_fish_distributed_lock_cleanup_removed_total",
        "signal_fish_cleanup_empty_rooms_total",
        "signal_fish_cleanup_inactive_rooms_total",
        "signal_fish_cleanup_expired_players_total",
        "signal_fish_cross_instance_messages_total",
        "signal_fish_cross_instance_dedup_hits_total",
        "signal_fish_cross_instance_dedup_misses_total",
        "signal_fish_cross_instance_dedup_evictions_total",
        "signal_fish_cross_instance_membership_cache_hits_total",
        "signal_fish_cross_instance_membership_cache_misses_total",
        "signal_fish_cross_instance_membership_updates_published_total",
        "signal_fish_cross_instance_membership_updates_received_total",
        "signal_fish_cross_instance_membership_known_broadcasts_total",
        "signal_fish_cross_instance_membership_forced_broadcasts_total",
        "signal_fish_cross_instance_membership_skipped_broadcasts_total",
        "signal_fish_relay_client_id_reuse_total",
        "signal_fish_relay_client_id_exhaustion_total",
        "signal_fish_dashboard_cache_age_seconds",
        "signal_fish_dashboard_cache_refresh_failures_total",
    ];

    const ADDED: [&str; 12] = [
        "signal_fish_room_creation_duration_seconds",
        "signal_fish_room_join_duration_seconds",
        "signal_fish_game_data_relay_duration_seconds",
        "signal_fish_shard_connections_active",
        "signal_fish_shard_rooms_owned",
        "signal_fish_shard_cross_shard_messages_sent_total",
        "signal_fish_shard_cross_shard_batches_sent_total",
        "signal_fish_shard_cross_shard_messages_received_total",
        "signal_fish_shard_inbox_depth",
        "signal_fish_reconnection_events_dropped_total",
        "signal_fish_log_records_dropped_total",
        "signal_fish_rooms_active",
    ];

    const GAUGES: [&str; 12] = [
        "signal_fish_connections_active",
        "signal_fish_rate_limit_minute_limit",
        "signal_fish_rate_limit_minute_used",
        "signal_fish_rate_limit_hour_limit",
        "signal_fish_rate_limit_hour_used",
        "signal_fish_rate_limit_day_limit",
        "signal_fish_rate_limit_day_used",
        "signal_fish_players_active",
        "signal_fish_reconnection_sessions_active",
        "signal_fish_dashboard_cache_age_seconds",
        "signal_fish_shard_connections_active",
        "signal_fish_rooms_active",
    ];

    fn fresh(shards: u32) -> MetricsSnapshot {
        let reports = (0..shards)
            .map(|i| ShardMetrics::new(shards as usize).snapshot(i, 0, 0))
            .collect();
        MetricsSnapshot::merge(reports, Utc::now())
    }

    fn sampled() -> MetricsSnapshot {
        let a = ShardMetrics::new(2);
        let b = ShardMetrics::new(2);
        for micros in [800, 1200, 1500, 2500, 9000] {
            a.record(Op::RoomCreation, Duration::from_micros(micros));
        }
        b.record(Op::RoomJoin, Duration::from_micros(30));
        b.record(Op::RoomJoin, Duration::from_secs(20));
        b.record(Op::RoomJoin, Duration::from_secs(600));
        for micros in [10, 50, 51, 100, 2_500, 2_503] {
            a.record(Op::GameDataRelay, Duration::from_micros(micros));
        }
        a.count(|c| {
            c.total_connections += 4;
            c.cross_shard_sent += 7;
        });
        a.gauge(|g| g.active_connections += 4);
        a.sent(1, 7);
        b.count(|c| c.cross_shard_received += 5);
        MetricsSnapshot::merge(vec![a.snapshot(0, 3, 2), b.snapshot(1, 1, 0)], Utc::now())
    }

    /// `(name, type)` of every `# TYPE` line, in order.
    fn families(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .map(|(n, t)| (n.to_owned(), t.to_owned()))
            .collect()
    }

    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
    }

    #[test]
    fn fresh_output_has_every_family_in_order() {
        let text = render_prometheus(&fresh(2), 0, 0);
        let fams = families(&text);
        assert_eq!(fams.len(), 58 + ADDED.len());
        let names: Vec<&str> = fams.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..58], LEGACY);
        assert_eq!(names[58..], ADDED);
        for (name, kind) in &fams {
            let expected = if name.ends_with("_duration_seconds") {
                "histogram"
            } else if GAUGES.contains(&name.as_str())
                || name.ends_with("_rooms_owned")
                || name.ends_with("_inbox_depth")
            {
                "gauge"
            } else {
                assert!(name.ends_with("_total"), "{name}");
                "counter"
            };
            assert_eq!(kind, expected, "{name}");
            // Every family has its HELP line right before its TYPE line.
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
        assert!(text.ends_with('\n'));
        assert!(!text.contains("_ms"));
        assert!(!text.contains("# EOF"));
        // Every unlabelled legacy family has exactly one sample, 0 on a fresh server.
        for name in LEGACY {
            assert_eq!(value(&text, name).as_deref(), Some("0"), "{name}");
        }
    }

    #[test]
    fn renderer_acceptance_checks() {
        let m = ShardMetrics::new(1);
        for _ in 0..2 {
            m.count(|c| c.total_connections += 1);
            m.gauge(|g| g.active_connections += 1);
        }
        m.count(|c| {
            c.disconnections += 1;
            c.rate_limit_rejections += 1;
        });
        m.gauge(|g| g.active_connections -= 1);
        let snapshot = MetricsSnapshot::merge(vec![m.snapshot(0, 1, 0)], Utc::now());
        let text = render_prometheus(&snapshot, 12, 0);
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(has("signal_fish_connections_total 2"));
        assert!(has("signal_fish_connections_active 1"));
        assert!(has("signal_fish_connections_disconnections_total 1"));
        assert!(has("signal_fish_rate_limit_rejections_total 1"));
        assert!(has("# TYPE signal_fish_queries_total counter"));
        assert!(has("signal_fish_websocket_messages_dropped_total 0"));
        assert!(has("signal_fish_dashboard_cache_refresh_failures_total 0"));
        assert!(has("signal_fish_room_creation_latency_samples_total 0"));
        assert!(has("signal_fish_room_join_latency_samples_total 0"));
        assert!(has("signal_fish_query_latency_samples_total 0"));
        assert!(has("# TYPE signal_fish_dashboard_cache_age_seconds gauge"));
        assert!(has("signal_fish_dashboard_cache_age_seconds 12"));
        assert!(has("# TYPE signal_fish_rate_limit_minute_limit gauge"));
        let text = render_prometheus(&snapshot, 0, 3);
        assert!(
            text.lines()
                .any(|l| l == "signal_fish_dashboard_cache_refresh_failures_total 3")
        );
    }

    #[test]
    fn histograms_are_cumulative_and_count_samples() {
        let snapshot = sampled();
        let text = render_prometheus(&snapshot, 0, 0);
        assert!(!text.contains("_ms"));
        for (name, samples) in [
            ("signal_fish_room_creation_duration_seconds", 5),
            ("signal_fish_room_join_duration_seconds", 3),
            ("signal_fish_game_data_relay_duration_seconds", 6),
        ] {
            let buckets: Vec<u64> = text
                .lines()
                .filter(|l| l.starts_with(&format!("{name}_bucket{{")))
                .map(|l| {
                    l.rsplit(' ')
                        .next()
                        .and_then(|v| v.parse().ok())
                        .expect("integer")
                })
                .collect();
            assert_eq!(buckets.len(), BUCKETS.len() + 1, "{name}");
            assert!(
                buckets.windows(2).all(|w| w[0] <= w[1]),
                "{name}: {buckets:?}"
            );
            assert_eq!(buckets.last().copied(), Some(samples));
            assert_eq!(
                value(&text, &format!("{name}_count")),
                Some(samples.to_string())
            );
            assert_eq!(
                value(&text, &format!("{name}_bucket{{le=\"+Inf\"}}")),
                Some(samples.to_string())
            );
        }
        let relay = |le: &str| {
            value(
                &text,
                &format!("signal_fish_game_data_relay_duration_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        // 10 and 50 µs are ≤ 50 µs; 51 and 100 ≤ 100 µs; 2500 ≤ 2.5 ms; 2503 ≤ 5 ms.
        assert_eq!(relay("0.00005").as_deref(), Some("2"));
        assert_eq!(relay("0.0001").as_deref(), Some("4"));
        assert_eq!(relay("0.001").as_deref(), Some("4"));
        assert_eq!(relay("0.0025").as_deref(), Some("5"));
        assert_eq!(relay("0.005").as_deref(), Some("6"));
        // Below 2048 µs buckets are 1 µs wide: 10+50+51+100 exactly; then the medians of the
        // 2 µs buckets [2500, 2501] and [2502, 2503]: 2501 + 2503.
        assert_eq!(
            value(&text, "signal_fish_game_data_relay_duration_seconds_sum").as_deref(),
            Some("0.005215")
        );
        // 20 s and the clamped 600 s sample only reach +Inf.
        assert_eq!(
            value(
                &text,
                "signal_fish_room_join_duration_seconds_bucket{le=\"10\"}"
            )
            .as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&text, "signal_fish_latency_clamped_samples_total").as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&text, "signal_fish_room_creation_latency_samples_total").as_deref(),
            Some("5")
        );
        // Empty histograms still carry every series, all zero.
        let fresh_text = render_prometheus(&fresh(1), 0, 0);
        assert_eq!(
            value(&fresh_text, "signal_fish_room_join_duration_seconds_sum").as_deref(),
            Some("0")
        );
        // No exponent notation anywhere.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let v = line.rsplit(' ').next().unwrap_or("");
            assert!(!v.contains(['e', 'E']), "{line}");
        }
    }

    #[test]
    fn rooms_active_sums_every_shards_rooms() {
        let a = ShardMetrics::new(2);
        a.rooms.borrow_mut().room_added("demo", 2);
        a.rooms.borrow_mut().room_added("other", 0);
        let b = ShardMetrics::new(2);
        b.rooms.borrow_mut().room_added("demo", 1);
        let merged =
            MetricsSnapshot::merge(vec![a.snapshot(0, 0, 2), b.snapshot(1, 0, 1)], Utc::now());
        let text = render_prometheus(&merged, 0, 0);
        assert_eq!(
            value(&text, "signal_fish_rooms_active").as_deref(),
            Some("3")
        );
        assert!(text.contains("# TYPE signal_fish_rooms_active gauge\n"));
    }

    #[test]
    fn per_shard_series_carry_a_shard_label() {
        let text = render_prometheus(&sampled(), 0, 0);
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(has("signal_fish_shard_connections_active{shard=\"0\"} 3"));
        assert!(has("signal_fish_shard_connections_active{shard=\"1\"} 1"));
        assert!(has("signal_fish_shard_rooms_owned{shard=\"0\"} 2"));
        assert!(has("signal_fish_shard_rooms_owned{shard=\"1\"} 0"));
        assert!(has(
            "signal_fish_shard_cross_shard_messages_sent_total{shard=\"0\"} 7"
        ));
        assert!(has(
            "signal_fish_shard_cross_shard_messages_received_total{shard=\"1\"} 5"
        ));
        assert!(has("signal_fish_shard_inbox_depth{shard=\"1\"} 2"));
        assert!(has("signal_fish_shard_inbox_depth{shard=\"0\"} 0"));
        // No shards (a default snapshot): headers only, still valid.
        let text = render_prometheus(&MetricsSnapshot::default(), 0, 0);
        assert!(!text.contains("{shard="));
        assert_eq!(families(&text).len(), 58 + ADDED.len());
    }

    /// Pipes `text` into `promtool check metrics`. A missing promtool fails the test with the
    /// package to install: a check that silently skips proves nothing.
    fn promtool(text: &str) -> (bool, String) {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "promtool not runnable ({err}): install Debian package prometheus (.ci/run does)"
                )
            });
        child
            .stdin
            .take()
            .expect("stdin piped")
            .write_all(text.as_bytes())
            .expect("write to promtool");
        let out = child.wait_with_output().expect("promtool ran");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), report)
    }

    #[test]
    fn promtool_accepts_fresh_and_sampled_output() {
        for (label, text) in [
            ("fresh", render_prometheus(&fresh(2), 0, 0)),
            (
                "default",
                render_prometheus(&MetricsSnapshot::default(), 0, 0),
            ),
            ("sampled", render_prometheus(&sampled(), 7, 1)),
        ] {
            let (ok, report) = promtool(&text);
            assert!(ok, "{label}: promtool failed:\n{report}\n{text}");
        }
    }
}
