//! The `/metrics` JSON document (`metrics.md` §2).
//!
//! Built as a `serde_json::Value`: without `preserve_order` its maps are sorted, which gives
//! the alphabetical key order of 0.1.0 at every level. Key names and their mixed styles are
//! kept exactly; the additions (`shards`, `game_data_relay_latency`) only add keys.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::dashboard::{DashboardEntry, DashboardView, percentiles_json};
use super::latency_view::LatencyView;
use super::query::MetricsQuery;
use super::{MetricsSnapshot, Op, ShardView};

/// The three latency objects of the document.
struct LatencyViews {
    room_creation: LatencyView,
    room_join: LatencyView,
    game_data_relay: LatencyView,
    /// There is no "query" operation here (no database), so it never has samples.
    query: LatencyView,
}

impl LatencyViews {
    fn of(snapshot: &MetricsSnapshot) -> Self {
        let view = |op| LatencyView::from_histogram(snapshot.latencies.get(op));
        LatencyViews {
            room_creation: view(Op::RoomCreation),
            room_join: view(Op::RoomJoin),
            game_data_relay: view(Op::GameDataRelay),
            query: LatencyView::default(),
        }
    }
}

/// Renders the compact JSON document.
///
/// Room statistics (`activeRooms`, `roomsByGame`, `playerPercentiles`, `gamePercentiles`) are
/// computed from the live `snapshot.rooms` rather than from the dashboard cache, so they are
/// never older than the scrape; `dashboardCache` still reports the cache and its history.
pub fn render_json(
    snapshot: &MetricsSnapshot,
    query: &MetricsQuery,
    dashboard: &DashboardView,
    now: DateTime<Utc>,
) -> String {
    let rooms = DashboardEntry::from_summary(now, &snapshot.rooms);
    let latencies = LatencyViews::of(snapshot);
    let mut document = json!({
        "timeRange": query.time_range,
        "timestamp": now.to_rfc3339(),
        "activeRooms": rooms.active_rooms,
        "roomsByGame": rooms.rooms_by_game_json(),
        "playerPercentiles": percentiles_json(rooms.player_percentiles.as_ref()),
        "gamePercentiles": rooms.game_percentiles_json(),
        "dashboardCache": dashboard.to_json(),
        "serverMetrics": server_metrics(snapshot, &latencies),
        "shards": snapshot.shards.iter().map(shard_json).collect::<Vec<_>>(),
    });
    if query.include_snapshot {
        document["metricsSnapshot"] = metrics_snapshot(snapshot, &latencies, dashboard);
    }
    document.to_string()
}

/// `serverMetrics`: the curated subset, with 0.1.0's mix of key styles.
fn server_metrics(snapshot: &MetricsSnapshot, latencies: &LatencyViews) -> Value {
    let c = &snapshot.counters;
    // Per-window rate-limit gauges have no source here (limits are per IP, not global).
    let window = json!({"limit": 0, "used": 0, "checks": 0, "rejections": 0});
    json!({
        "connections": {
            "total": c.total_connections,
            "active": snapshot.active_connections(),
            "disconnections": c.disconnections,
        },
        "rooms": {
            "created": c.rooms_created,
            "joined": c.rooms_joined,
            "deleted": c.rooms_deleted,
        },
        "performance": {
            "queries": 0,
            "room_creation_latency": latencies.room_creation.to_json(),
            "room_join_latency": latencies.room_join.to_json(),
            "query_latency": latencies.query.to_json(),
            "game_data_relay_latency": latencies.game_data_relay.to_json(),
        },
        "errors": {
            "internal": c.internal_errors,
            "websocket": c.websocket_errors,
            "total": snapshot.total_errors(),
        },
        "rateLimiting": {
            "minute": window,
            "hour": window,
            "day": window,
            "total_rejections": c.rate_limit_rejections,
            "resets": c.rate_limit_resets,
        },
    })
}

/// `metricsSnapshot`: the raw snapshot, every key of §2.5 present.
fn metrics_snapshot(
    snapshot: &MetricsSnapshot,
    latencies: &LatencyViews,
    dashboard: &DashboardView,
) -> Value {
    let c = &snapshot.counters;
    let x = &snapshot.cross_instance;
    json!({
        // chrono's serde form (`Z` suffix), unlike the `+00:00` of the top-level timestamp.
        "timestamp": snapshot.taken_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "connections": {
            "total_connections": c.total_connections,
            "active_connections": snapshot.active_connections(),
            "disconnections": c.disconnections,
            "connection_errors": c.connection_errors,
            "websocket_messages_dropped": c.websocket_messages_dropped,
        },
        "rooms": {
            "rooms_created": c.rooms_created,
            "rooms_joined": c.rooms_joined,
            "rooms_deleted": c.rooms_deleted,
            "room_creation_failures": c.room_creation_failures,
            "room_join_failures": c.room_join_failures,
            "room_cap_lock_acquisitions": c.room_cap_lock_acquisitions,
            "room_cap_lock_failures": c.room_cap_lock_failures,
            "room_cap_denials": c.room_cap_denials,
        },
        "race_conditions": {
            "room_code_collisions": c.room_code_collisions,
            "room_capacity_conflicts": c.room_capacity_conflicts,
            // Authority changes are serialised by the room's owner shard: no conflicts, and
            // nothing is retried.
            "authority_transfer_conflicts": 0,
            "retry_attempts": 0,
            "retry_successes": 0,
            "retry_success_rate": retry_success_rate(0, 0),
        },
        // Traffic between cluster nodes (0 without a cluster; cross-shard traffic is under
        // `shards`), as `metrics::CrossInstance` maps it. Nothing is evicted or forced here.
        "cross_instance": {
            "cross_instance_messages": x.messages,
            "dedup_cache_hits": x.dedup_hits,
            "dedup_cache_misses": x.dedup_misses,
            "dedup_cache_evictions": 0,
            "dedup_cache_size": 0,
            "membership_cache_hits": x.membership_cache_hits,
            "membership_cache_misses": x.membership_cache_misses,
            "remote_membership_updates_published": x.updates_published,
            "remote_membership_updates_received": x.updates_received,
            "remote_membership_known_broadcasts": x.known_broadcasts,
            "remote_membership_forced_broadcasts": 0,
            "remote_membership_skipped_broadcasts": x.skipped_broadcasts,
        },
        "performance": {
            "query_count": 0,
            "average_room_creation_ms": latencies.room_creation.average_ms,
            "average_room_join_ms": latencies.room_join.average_ms,
            "average_query_ms": latencies.query.average_ms,
            "room_creation_latency": latencies.room_creation.to_json(),
            "room_join_latency": latencies.room_join.to_json(),
            "query_latency": latencies.query.to_json(),
            "game_data_relay_latency": latencies.game_data_relay.to_json(),
            "latency_histogram_clamped_samples": c.latency_histogram_clamped_samples,
        },
        "dashboard_cache": {
            "last_refresh_timestamp": dashboard.last_refresh_timestamp(),
            "refresh_count": dashboard.refresh_count,
            "refresh_errors": dashboard.refresh_failures,
            "refresh_failures": dashboard.refresh_failures,
        },
        "rate_limiting": {
            "minute_limit": 0,
            "minute_count": 0,
            "minute_checks": 0,
            "minute_rejections": 0,
            "hour_limit": 0,
            "hour_count": 0,
            "hour_checks": 0,
            "hour_rejections": 0,
            "day_limit": 0,
            "day_count": 0,
            "day_checks": 0,
            "day_rejections": 0,
            "cache_rows": 0,
            "cache_purged": 0,
            "rate_limit_rejections": c.rate_limit_rejections,
            "rate_limit_resets": c.rate_limit_resets,
        },
        "players": {
            "players_joined": c.players_joined,
            "players_left": c.players_left,
            "game_data_messages": c.game_data_messages,
            "heartbeat_updates": c.heartbeat_updates,
            "heartbeat_skipped": c.heartbeat_skipped,
            "authority_transfers": c.authority_transfers,
        },
        "errors": {
            "validation_errors": c.validation_errors,
            "internal_errors": c.internal_errors,
            "websocket_errors": c.websocket_errors,
            "total_errors": snapshot.total_errors(),
        },
        "cleanup": {
            "empty_rooms_cleaned": c.empty_rooms_cleaned,
            "inactive_rooms_cleaned": c.inactive_rooms_cleaned,
            "expired_players_cleaned": c.expired_players_cleaned,
        },
        "reconnection": {
            "tokens_issued": c.tokens_issued,
            "sessions_active": snapshot.reconnection_sessions_active(),
            "validations_failed": c.reconnection_validations_failed,
            "completions": c.reconnection_completions,
            "events_buffered": c.events_buffered,
        },
        "distributed_lock": {
            "release_failures": 0,
            "extend_failures": 0,
            "cleanup_runs": 0,
            "cleanup_removed": 0,
        },
        "relay_health": {
            "client_id_reuse_events": 0,
            "client_id_exhaustion_events": 0,
            "session_timeouts": 0,
        },
    })
}

/// Successes over attempts; 1.0 when nothing was attempted.
fn retry_success_rate(successes: u64, attempts: u64) -> f64 {
    if attempts == 0 {
        1.0
    } else {
        successes as f64 / attempts as f64
    }
}

/// One element of the additive `shards` array.
fn shard_json(shard: &ShardView) -> Value {
    json!({
        "shard": shard.shard,
        "connections_active": shard.connections_active,
        "rooms_owned": shard.rooms_owned,
        "cross_shard_messages_sent": shard.cross_shard_sent,
        "cross_shard_messages_received": shard.cross_shard_received,
        "inbox_depth": shard.inbox_depth,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::MetricsConfig;
    use crate::metrics::{DashboardCache, ShardMetrics};

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid time")
            .with_timezone(&Utc)
    }

    /// The §2.5 scenario: `demo` with 2 players (create + join), `other` with 1 (create), three
    /// connections, two pings from one client (one heartbeat update, one skipped), spread over
    /// two shards.
    fn example_snapshot() -> MetricsSnapshot {
        let a = ShardMetrics::new(2);
        a.count(|c| {
            c.total_connections += 2;
            c.rooms_created += 1;
            c.rooms_joined += 1;
            c.players_joined += 2;
            c.room_cap_lock_acquisitions += 1;
            c.heartbeat_updates += 1;
            c.heartbeat_skipped += 1;
        });
        a.gauge(|g| {
            g.active_connections += 2;
            g.players_active += 2;
        });
        {
            let mut rooms = a.rooms.borrow_mut();
            rooms.room_added("demo", 1);
            rooms.players_changed("demo", 1, 2);
        }
        let b = ShardMetrics::new(2);
        b.count(|c| {
            c.total_connections += 1;
            c.rooms_created += 1;
            c.players_joined += 1;
            c.room_cap_lock_acquisitions += 1;
        });
        b.gauge(|g| {
            g.active_connections += 1;
            g.players_active += 1;
        });
        b.rooms.borrow_mut().room_added("other", 1);
        MetricsSnapshot::merge(
            vec![a.snapshot(0, 2, 1), b.snapshot(1, 1, 1)],
            at("2025-06-01T12:00:10.497975298Z"),
        )
    }

    fn example_dashboard(snapshot: &MetricsSnapshot) -> DashboardView {
        let config = MetricsConfig {
            dashboard_cache_refresh_interval_secs: 1,
            ..MetricsConfig::default()
        };
        let mut cache = DashboardCache::new(&config);
        cache.refresh(at("2025-06-01T12:00:10.183599193Z"), &snapshot.rooms);
        cache.view(at("2025-06-01T12:00:10.497946618Z"))
    }

    fn empty_latency() -> Value {
        json!({"average_ms": null, "max_ms": null, "min_ms": null, "p50_ms": null,
               "p95_ms": null, "p99_ms": null, "sample_count": 0})
    }

    /// The §2.5 document, plus our additive keys (`shards`, `game_data_relay_latency`) and the
    /// counters we move where 0.1.0 did not (`refresh_count`).
    fn expected_example() -> Value {
        let two =
            json!({"p100": 2.0, "p50": 2.0, "p90": 2.0, "p99": 2.0, "p99_5": 2.0, "p99_9": 2.0});
        let one =
            json!({"p100": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0, "p99_5": 1.0, "p99_9": 1.0});
        let window = json!({"checks": 0, "limit": 0, "rejections": 0, "used": 0});
        json!({
          "activeRooms": 2,
          "dashboardCache": {
            "ageSeconds": 0,
            "fetchedAt": "2025-06-01T12:00:10.183599193+00:00",
            "history": [{
                "activeRooms": 2,
                "fetchedAt": "2025-06-01T12:00:10.183599193+00:00",
                "gamePercentiles": {"demo": two, "other": one},
                "playerPercentiles": two,
                "roomsByGame": {"demo": 1, "other": 1}
            }],
            "lastError": null,
            "refreshIntervalSeconds": 1,
            "stale": false
          },
          "gamePercentiles": {"demo": two, "other": one},
          "metricsSnapshot": {
            "cleanup": {"empty_rooms_cleaned": 0, "expired_players_cleaned": 0, "inactive_rooms_cleaned": 0},
            "connections": {"active_connections": 3, "connection_errors": 0, "disconnections": 0,
                            "total_connections": 3, "websocket_messages_dropped": 0},
            "cross_instance": {"cross_instance_messages": 0, "dedup_cache_evictions": 0, "dedup_cache_hits": 0,
              "dedup_cache_misses": 0, "dedup_cache_size": 0, "membership_cache_hits": 0, "membership_cache_misses": 0,
              "remote_membership_forced_broadcasts": 0, "remote_membership_known_broadcasts": 0,
              "remote_membership_skipped_broadcasts": 0, "remote_membership_updates_published": 0,
              "remote_membership_updates_received": 0},
            "dashboard_cache": {"last_refresh_timestamp": 1748779210_u64, "refresh_count": 1, "refresh_errors": 0, "refresh_failures": 0},
            "distributed_lock": {"cleanup_removed": 0, "cleanup_runs": 0, "extend_failures": 0, "release_failures": 0},
            "errors": {"internal_errors": 0, "total_errors": 0, "validation_errors": 0, "websocket_errors": 0},
            "performance": {
              "average_query_ms": null,
              "average_room_creation_ms": null,
              "average_room_join_ms": null,
              "game_data_relay_latency": empty_latency(),
              "latency_histogram_clamped_samples": 0,
              "query_count": 0,
              "query_latency": empty_latency(),
              "room_creation_latency": empty_latency(),
              "room_join_latency": empty_latency()
            },
            "players": {"authority_transfers": 0, "game_data_messages": 0, "heartbeat_skipped": 1,
                        "heartbeat_updates": 1, "players_joined": 3, "players_left": 0},
            "race_conditions": {"authority_transfer_conflicts": 0, "retry_attempts": 0, "retry_success_rate": 1.0,
                                "retry_successes": 0, "room_capacity_conflicts": 0, "room_code_collisions": 0},
            "rate_limiting": {"cache_purged": 0, "cache_rows": 0, "day_checks": 0, "day_count": 0, "day_limit": 0,
              "day_rejections": 0, "hour_checks": 0, "hour_count": 0, "hour_limit": 0, "hour_rejections": 0,
              "minute_checks": 0, "minute_count": 0, "minute_limit": 0, "minute_rejections": 0,
              "rate_limit_rejections": 0, "rate_limit_resets": 0},
            "reconnection": {"completions": 0, "events_buffered": 0, "sessions_active": 0, "tokens_issued": 0, "validations_failed": 0},
            "relay_health": {"client_id_exhaustion_events": 0, "client_id_reuse_events": 0, "session_timeouts": 0},
            "rooms": {"room_cap_denials": 0, "room_cap_lock_acquisitions": 2, "room_cap_lock_failures": 0,
                      "room_creation_failures": 0, "room_join_failures": 0, "rooms_created": 2,
                      "rooms_deleted": 0, "rooms_joined": 1},
            "timestamp": "2025-06-01T12:00:10.497975298Z"
          },
          "playerPercentiles": two,
          "roomsByGame": {"demo": 1, "other": 1},
          "serverMetrics": {
            "connections": {"active": 3, "disconnections": 0, "total": 3},
            "errors": {"internal": 0, "total": 0, "websocket": 0},
            "performance": {
              "game_data_relay_latency": empty_latency(),
              "queries": 0,
              "query_latency": empty_latency(),
              "room_creation_latency": empty_latency(),
              "room_join_latency": empty_latency()
            },
            "rateLimiting": {"day": window, "hour": window, "minute": window, "resets": 0, "total_rejections": 0},
            "rooms": {"created": 2, "deleted": 0, "joined": 1}
          },
          "shards": [
            {"connections_active": 2, "cross_shard_messages_received": 0, "cross_shard_messages_sent": 0,
             "inbox_depth": 0, "rooms_owned": 1, "shard": 0},
            {"connections_active": 1, "cross_shard_messages_received": 0, "cross_shard_messages_sent": 0,
             "inbox_depth": 0, "rooms_owned": 1, "shard": 1}
          ],
          "timeRange": "1h",
          "timestamp": "2025-06-01T12:00:10.497946618+00:00"
        })
    }

    /// Every leaf of `value` as `(path, leaf)`, objects and arrays descended.
    fn leaves(value: &Value, path: String, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    leaves(v, format!("{path}.{k}"), out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    leaves(v, format!("{path}[{i}]"), out);
                }
            }
            leaf => out.push((path, leaf.clone())),
        }
    }

    #[test]
    fn golden_example_document() {
        let snapshot = example_snapshot();
        let dashboard = example_dashboard(&snapshot);
        let query = MetricsQuery {
            time_range: "1h".to_owned(),
            include_snapshot: true,
        };
        let rendered = render_json(
            &snapshot,
            &query,
            &dashboard,
            at("2025-06-01T12:00:10.497946618Z"),
        );
        let got: Value = serde_json::from_str(&rendered).expect("valid JSON");
        let (mut got_leaves, mut want_leaves) = (Vec::new(), Vec::new());
        leaves(&got, String::new(), &mut got_leaves);
        leaves(&expected_example(), String::new(), &mut want_leaves);
        for ((gp, gv), (wp, wv)) in got_leaves.iter().zip(&want_leaves) {
            assert_eq!((gp, gv), (wp, wv));
        }
        assert_eq!(got_leaves.len(), want_leaves.len());
        // Byte-exact: compact, keys sorted at every level, floats with a decimal point.
        assert_eq!(rendered, expected_example().to_string());
        assert!(rendered.starts_with(r#"{"activeRooms":2,"dashboardCache":{"ageSeconds":0,"#));
        assert!(rendered.contains(r#""retry_success_rate":1.0,"#));
        assert!(rendered.contains(r#""playerPercentiles":{"p100":2.0,"p50":2.0,"#));
        assert!(
            rendered.ends_with(
                r#""timeRange":"1h","timestamp":"2025-06-01T12:00:10.497946618+00:00"}"#
            )
        );
    }

    #[test]
    fn snapshot_only_on_request_and_time_range_echoed() {
        let snapshot = example_snapshot();
        let dashboard = example_dashboard(&snapshot);
        let query = MetricsQuery {
            time_range: "last week".to_owned(),
            include_snapshot: false,
        };
        let now = at("2025-06-01T12:00:11Z");
        let got: Value =
            serde_json::from_str(&render_json(&snapshot, &query, &dashboard, now)).expect("json");
        assert!(got.get("metricsSnapshot").is_none());
        assert_eq!(got["timeRange"], "last week");
        assert_eq!(got["timestamp"], "2025-06-01T12:00:11+00:00");
        let keys: Vec<_> = got.as_object().expect("object").keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "activeRooms",
                "dashboardCache",
                "gamePercentiles",
                "playerPercentiles",
                "roomsByGame",
                "serverMetrics",
                "shards",
                "timeRange",
                "timestamp"
            ]
        );
    }

    #[test]
    fn fresh_server_document() {
        let snapshot = MetricsSnapshot::merge(
            vec![ShardMetrics::new(1).snapshot(0, 0, 0)],
            at("2025-06-01T12:00:00Z"),
        );
        let dashboard = DashboardCache::new(&MetricsConfig::default()).view(snapshot.taken_at);
        let query = MetricsQuery {
            time_range: "1h".to_owned(),
            include_snapshot: true,
        };
        let got: Value = serde_json::from_str(&render_json(
            &snapshot,
            &query,
            &dashboard,
            snapshot.taken_at,
        ))
        .expect("json");
        assert_eq!(got["activeRooms"], 0);
        assert_eq!(got["roomsByGame"], json!({}));
        assert_eq!(got["playerPercentiles"], json!({}));
        assert_eq!(got["gamePercentiles"], json!({}));
        assert_eq!(got["dashboardCache"]["stale"], true);
        assert_eq!(got["dashboardCache"]["fetchedAt"], Value::Null);
        assert_eq!(got["metricsSnapshot"]["timestamp"], "2025-06-01T12:00:00Z");
        assert_eq!(
            got["metricsSnapshot"]["dashboard_cache"]["last_refresh_timestamp"],
            0
        );
    }

    #[test]
    fn latencies_and_moved_counters_are_reported() {
        let m = ShardMetrics::new(1);
        for micros in [800, 1200, 1500, 2500, 9000] {
            m.record(Op::RoomCreation, Duration::from_micros(micros));
        }
        m.record(Op::GameDataRelay, Duration::from_micros(40));
        m.count(|c| {
            c.validation_errors += 2;
            c.internal_errors += 1;
            c.reconnection_validations_failed += 4;
            c.reconnection_completions += 5;
            c.rate_limit_rejections += 6;
            c.game_data_messages += 7;
        });
        m.gauge(|g| g.reconnection_sessions_active += 3);
        let snapshot = MetricsSnapshot::merge(vec![m.snapshot(0, 0, 0)], Utc::now());
        let dashboard = DashboardCache::new(&MetricsConfig::default()).view(Utc::now());
        let query = MetricsQuery {
            time_range: "1h".to_owned(),
            include_snapshot: true,
        };
        let got: Value =
            serde_json::from_str(&render_json(&snapshot, &query, &dashboard, Utc::now()))
                .expect("json");
        let sample = json!({"average_ms": 3.001, "max_ms": 9.007, "min_ms": 0.8, "p50_ms": 1.5,
                            "p95_ms": 9.007, "p99_ms": 9.007, "sample_count": 5});
        let snap = &got["metricsSnapshot"];
        assert_eq!(snap["performance"]["room_creation_latency"], sample);
        assert_eq!(
            got["serverMetrics"]["performance"]["room_creation_latency"],
            sample
        );
        assert_eq!(snap["performance"]["average_room_creation_ms"], 3.001);
        assert_eq!(snap["performance"]["average_room_join_ms"], Value::Null);
        assert_eq!(
            snap["performance"]["game_data_relay_latency"]["sample_count"],
            1
        );
        assert_eq!(snap["errors"]["total_errors"], 3);
        assert_eq!(got["serverMetrics"]["errors"]["total"], 3);
        assert_eq!(snap["reconnection"]["validations_failed"], 4);
        assert_eq!(snap["reconnection"]["completions"], 5);
        assert_eq!(snap["reconnection"]["sessions_active"], 3);
        assert_eq!(snap["rate_limiting"]["rate_limit_rejections"], 6);
        assert_eq!(got["serverMetrics"]["rateLimiting"]["total_rejections"], 6);
        assert_eq!(snap["players"]["game_data_messages"], 7);
        assert_eq!(retry_success_rate(1, 4), 0.25);
    }
}
