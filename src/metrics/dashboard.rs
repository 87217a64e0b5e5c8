//! The dashboard cache (`metrics.md` §7, §9.4): room statistics refreshed periodically by one
//! owner, a bounded history of them, and the staleness report of the JSON `dashboardCache`
//! object (§2.3).
//!
//! Everything here is plain data: the owner task calls [`DashboardCache::refresh`] with a merged
//! [`RoomSummary`] on its own schedule and publishes [`DashboardCache::view`] to readers.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use super::rooms::RoomSummary;
use crate::config::{DashboardHistoryField, MetricsConfig};

/// Upper bound of the history ring, whatever the configured window.
pub const MAX_HISTORY: usize = 720;

/// The fractions behind `p50` … `p99_9`; `p100` is the maximum.
const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.995, 0.999];

/// Players-per-room percentiles (`metrics.md` §7.3). Only exists when there is at least one
/// room; "no rooms" is `None` and renders as `{}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_5: f64,
    pub p99_9: f64,
    pub p100: f64,
}

impl Percentiles {
    /// Percentiles of the room sizes described by `by_players` (`by_players[n]` = rooms with
    /// `n` players). With `n` rooms sorted by size, percentile `p` is the size at index
    /// `round(p·(n−1))` (half away from zero), found by walking the cumulative counts instead
    /// of materialising the sorted list; `p100` is the largest size present.
    pub fn from_by_players(by_players: &[u64]) -> Option<Self> {
        // The array itself defines n, so the walk below always finds every index it asks for.
        let n: u64 = by_players.iter().sum();
        let largest = by_players.iter().rposition(|&rooms| rooms > 0)?;
        let kth_smallest = |k: u64| -> f64 {
            let mut seen = 0u64;
            for (players, rooms) in by_players.iter().enumerate() {
                seen += rooms;
                if seen > k {
                    return players as f64;
                }
            }
            largest as f64
        };
        // Same floating-point expression as 0.1.0 so boundary cases round identically.
        let at = |p: f64| kth_smallest((p * (n - 1) as f64).round() as u64);
        Some(Percentiles {
            p50: at(QUANTILES[0]),
            p90: at(QUANTILES[1]),
            p99: at(QUANTILES[2]),
            p99_5: at(QUANTILES[3]),
            p99_9: at(QUANTILES[4]),
            p100: largest as f64,
        })
    }

    /// The JSON object with keys `p50, p90, p99, p99_5, p99_9, p100`.
    pub fn to_json(&self) -> Value {
        json!({
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "p99_5": self.p99_5,
            "p99_9": self.p99_9,
            "p100": self.p100,
        })
    }
}

/// `{}` for "no rooms", else the six keys.
pub fn percentiles_json(percentiles: Option<&Percentiles>) -> Value {
    percentiles.map_or_else(|| Value::Object(Map::new()), Percentiles::to_json)
}

/// Room statistics at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardEntry {
    pub fetched_at: DateTime<Utc>,
    /// Rooms over all games (empty rooms awaiting cleanup included).
    pub active_rooms: u64,
    /// Room count per game name.
    pub rooms_by_game: BTreeMap<String, u64>,
    /// Players-per-room percentiles over all rooms; `None` when there are no rooms.
    pub player_percentiles: Option<Percentiles>,
    /// The same per game (only games that have rooms).
    pub game_percentiles: BTreeMap<String, Percentiles>,
}

impl DashboardEntry {
    /// Computes the statistics of a merged room summary.
    pub fn from_summary(fetched_at: DateTime<Utc>, summary: &RoomSummary) -> Self {
        let mut rooms_by_game = BTreeMap::new();
        let mut game_percentiles = BTreeMap::new();
        let mut all_rooms: Vec<u64> = Vec::new();
        for (game, rooms) in summary.games.iter().filter(|(_, g)| g.rooms > 0) {
            rooms_by_game.insert(game.clone(), rooms.rooms);
            if let Some(p) = Percentiles::from_by_players(&rooms.by_players) {
                game_percentiles.insert(game.clone(), p);
            }
            if all_rooms.len() < rooms.by_players.len() {
                all_rooms.resize(rooms.by_players.len(), 0);
            }
            for (slot, count) in all_rooms.iter_mut().zip(&rooms.by_players) {
                *slot += count;
            }
        }
        DashboardEntry {
            fetched_at,
            active_rooms: rooms_by_game.values().sum(),
            rooms_by_game,
            player_percentiles: Percentiles::from_by_players(&all_rooms),
            game_percentiles,
        }
    }

    /// `roomsByGame` as JSON.
    pub fn rooms_by_game_json(&self) -> Value {
        json!(self.rooms_by_game)
    }

    /// `gamePercentiles` as JSON.
    pub fn game_percentiles_json(&self) -> Value {
        Value::Object(
            self.game_percentiles
                .iter()
                .map(|(game, p)| (game.clone(), p.to_json()))
                .collect(),
        )
    }
}

/// Which fields history entries keep (`metrics.dashboard_cache_history_fields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryFields {
    pub active_rooms: bool,
    pub rooms_by_game: bool,
    pub player_percentiles: bool,
    pub game_percentiles: bool,
}

impl HistoryFields {
    /// The selection of a config list. `ActiveConnections` and `RoomsCreated` are accepted by
    /// the config but select nothing; if none of the four real fields is chosen, `ActiveRooms`
    /// is kept so the history is never a list of bare timestamps.
    pub fn from_config(fields: &[DashboardHistoryField]) -> Self {
        let has = |f: DashboardHistoryField| fields.contains(&f);
        let mut selected = HistoryFields {
            active_rooms: has(DashboardHistoryField::ActiveRooms),
            rooms_by_game: has(DashboardHistoryField::RoomsByGame),
            player_percentiles: has(DashboardHistoryField::PlayerPercentiles),
            game_percentiles: has(DashboardHistoryField::GamePercentiles),
        };
        if !(selected.active_rooms
            || selected.rooms_by_game
            || selected.player_percentiles
            || selected.game_percentiles)
        {
            selected.active_rooms = true;
        }
        selected
    }
}

/// One history entry; a field left out by [`HistoryFields`] is `None` and renders as `null`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub fetched_at: DateTime<Utc>,
    pub active_rooms: Option<u64>,
    pub rooms_by_game: Option<BTreeMap<String, u64>>,
    /// Outer `None`: not selected (`null`); inner `None`: no rooms (`{}`).
    pub player_percentiles: Option<Option<Percentiles>>,
    pub game_percentiles: Option<BTreeMap<String, Percentiles>>,
}

impl HistoryEntry {
    /// Keeps the selected fields of `entry`.
    pub fn select(entry: &DashboardEntry, fields: HistoryFields) -> Self {
        HistoryEntry {
            fetched_at: entry.fetched_at,
            active_rooms: fields.active_rooms.then_some(entry.active_rooms),
            rooms_by_game: fields.rooms_by_game.then(|| entry.rooms_by_game.clone()),
            player_percentiles: fields
                .player_percentiles
                .then_some(entry.player_percentiles),
            game_percentiles: fields
                .game_percentiles
                .then(|| entry.game_percentiles.clone()),
        }
    }

    /// The JSON history entry: every key present, unselected ones `null`.
    pub fn to_json(&self) -> Value {
        json!({
            "fetchedAt": self.fetched_at.to_rfc3339(),
            "activeRooms": self.active_rooms,
            "roomsByGame": self.rooms_by_game,
            "playerPercentiles": self
                .player_percentiles
                .map(|p| percentiles_json(p.as_ref())),
            "gamePercentiles": self.game_percentiles.as_ref().map(|games| {
                games
                    .iter()
                    .map(|(game, p)| (game.clone(), p.to_json()))
                    .collect::<Map<String, Value>>()
            }),
        })
    }
}

/// History length for a refresh interval and a window, both in seconds:
/// `ceil(max(window, interval) / interval)` clamped to `[1, MAX_HISTORY]`, the interval taken
/// as at least 1.
pub fn history_capacity(refresh_interval_secs: u64, window_secs: u64) -> usize {
    let interval = refresh_interval_secs.max(1);
    let entries = window_secs.max(interval).div_ceil(interval);
    usize::try_from(entries)
        .unwrap_or(MAX_HISTORY)
        .clamp(1, MAX_HISTORY)
}

/// The dashboard cache: owned by one task, which refreshes it and hands out [`DashboardView`]s.
#[derive(Debug, Clone)]
pub struct DashboardCache {
    /// Time of the last successful refresh.
    pub last_refresh: Option<DateTime<Utc>>,
    /// Error text of the latest failed refresh; cleared by the next success.
    pub last_error: Option<String>,
    /// Failed refreshes since start.
    pub refresh_failures: u64,
    refresh_count: u64,
    latest: Option<DashboardEntry>,
    history: VecDeque<HistoryEntry>,
    capacity: usize,
    fields: HistoryFields,
    refresh_interval_secs: u64,
    stale_after_secs: u64,
}

impl DashboardCache {
    /// An empty cache configured by the `metrics` section.
    pub fn new(config: &MetricsConfig) -> Self {
        // Zero is treated as 1 second, as in 0.1.0, instead of spinning or never going stale.
        let interval = config.dashboard_cache_refresh_interval_secs.max(1);
        let capacity = history_capacity(interval, config.dashboard_cache_history_window_secs);
        DashboardCache {
            last_refresh: None,
            last_error: None,
            refresh_failures: 0,
            refresh_count: 0,
            latest: None,
            history: VecDeque::with_capacity(capacity),
            capacity,
            fields: HistoryFields::from_config(&config.dashboard_cache_history_fields),
            refresh_interval_secs: interval,
            stale_after_secs: config.dashboard_cache_ttl_secs.max(interval),
        }
    }

    /// A successful refresh at `now` from the merged room summary: replaces the latest
    /// statistics, clears the error and appends to the history (dropping the oldest when full).
    pub fn refresh(&mut self, now: DateTime<Utc>, summary: &RoomSummary) {
        let entry = DashboardEntry::from_summary(now, summary);
        if self.history.len() >= self.capacity {
            self.history.pop_front();
        }
        self.history
            .push_back(HistoryEntry::select(&entry, self.fields));
        self.latest = Some(entry);
        self.last_refresh = Some(now);
        self.last_error = None;
        self.refresh_count += 1;
    }

    /// A failed refresh: the previous statistics stay, nothing is appended.
    pub fn refresh_failed(&mut self, error: impl Into<String>) {
        self.last_error = Some(error.into());
        self.refresh_failures += 1;
    }

    /// How long the owner sleeps between refreshes.
    pub fn refresh_interval(&self) -> Duration {
        Duration::from_secs(self.refresh_interval_secs)
    }

    /// Maximum number of history entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The history, oldest first.
    pub fn history(&self) -> impl ExactSizeIterator<Item = &HistoryEntry> {
        self.history.iter()
    }

    /// The statistics of the last successful refresh.
    pub fn latest(&self) -> Option<&DashboardEntry> {
        self.latest.as_ref()
    }

    /// Successful refreshes since start.
    pub fn refresh_count(&self) -> u64 {
        self.refresh_count
    }

    /// The status as seen at `now`.
    pub fn view(&self, now: DateTime<Utc>) -> DashboardView {
        let age = self.last_refresh.map(|at| now - at);
        DashboardView {
            fetched_at: self.last_refresh,
            // A clock stepping backwards gives a negative age; report 0 rather than underflow.
            age_seconds: age.map(|a| a.num_seconds().max(0) as u64),
            stale: age.is_none_or(|a| a > secs(self.stale_after_secs)),
            last_error: self.last_error.clone(),
            refresh_interval_seconds: self.refresh_interval_secs,
            history: self.history.iter().cloned().collect(),
            refresh_count: self.refresh_count,
            refresh_failures: self.refresh_failures,
        }
    }
}

fn secs(s: u64) -> TimeDelta {
    TimeDelta::try_seconds(i64::try_from(s).unwrap_or(i64::MAX)).unwrap_or(TimeDelta::MAX)
}

/// The cache status at one instant, as rendered in `dashboardCache` and used by the
/// Prometheus age gauge.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardView {
    pub fetched_at: Option<DateTime<Utc>>,
    /// Whole seconds since `fetched_at` (truncated, at least 0).
    pub age_seconds: Option<u64>,
    /// Never refreshed, or older than `max(ttl, interval)` (strictly).
    pub stale: bool,
    pub last_error: Option<String>,
    pub refresh_interval_seconds: u64,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
    pub refresh_count: u64,
    pub refresh_failures: u64,
}

impl DashboardView {
    /// The view of a cache that has never been refreshed (e.g. before the owner has started).
    pub fn never_refreshed(config: &MetricsConfig) -> Self {
        // Without a refresh nothing in the view depends on the time it is taken.
        DashboardCache::new(config).view(DateTime::UNIX_EPOCH)
    }

    /// `signal_fish_dashboard_cache_age_seconds`: the age, 0 before the first refresh.
    pub fn age_gauge_seconds(&self) -> u64 {
        self.age_seconds.unwrap_or(0)
    }

    /// Unix seconds of the last successful refresh, 0 if none
    /// (`dashboard_cache.last_refresh_timestamp`).
    pub fn last_refresh_timestamp(&self) -> u64 {
        self.fetched_at
            .map_or(0, |at| u64::try_from(at.timestamp()).unwrap_or(0))
    }

    /// The `dashboardCache` JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "fetchedAt": self.fetched_at.map(|at| at.to_rfc3339()),
            "ageSeconds": self.age_seconds,
            "stale": self.stale,
            "lastError": self.last_error,
            "refreshIntervalSeconds": self.refresh_interval_seconds,
            "history": self.history.iter().map(HistoryEntry::to_json).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_748_779_200 + secs, nanos).expect("valid time")
    }

    fn config(interval: u64, ttl: u64, window: u64) -> MetricsConfig {
        MetricsConfig {
            dashboard_cache_refresh_interval_secs: interval,
            dashboard_cache_ttl_secs: ttl,
            dashboard_cache_history_window_secs: window,
            ..MetricsConfig::default()
        }
    }

    fn summary(rooms: &[(&str, usize)]) -> RoomSummary {
        let mut s = RoomSummary::default();
        for (game, players) in rooms {
            s.room_added(game, *players);
        }
        s
    }

    fn sizes(counts: &[usize]) -> Vec<u64> {
        let mut by_players = Vec::new();
        for &c in counts {
            if by_players.len() <= c {
                by_players.resize(c + 1, 0);
            }
            by_players[c] += 1;
        }
        by_players
    }

    /// The §7.3 rule on a materialised sorted list, to check the cumulative walk against.
    fn reference(counts: &[usize], p: f64) -> f64 {
        let mut sorted = counts.to_vec();
        sorted.sort_unstable();
        sorted[(p * (sorted.len() - 1) as f64).round() as usize] as f64
    }

    #[test]
    fn capacity_follows_the_spec_cases() {
        assert_eq!(history_capacity(5, 300), 60);
        assert_eq!(history_capacity(10, 3), 1);
        assert_eq!(history_capacity(1, 7200), 720);
        assert_eq!(history_capacity(0, 0), 1);
        assert_eq!(history_capacity(7, 20), 3);
        assert_eq!(
            DashboardCache::new(&MetricsConfig::default()).capacity(),
            60
        );
    }

    #[test]
    fn percentiles_match_the_sorted_list_rule() {
        assert_eq!(Percentiles::from_by_players(&[]), None);
        assert_eq!(Percentiles::from_by_players(&[0, 0]), None);
        let p = Percentiles::from_by_players(&sizes(&[1, 2])).expect("rooms");
        assert_eq!(p.p50, 2.0);
        assert_eq!(p.p100, 2.0);
        let p = Percentiles::from_by_players(&sizes(&[0])).expect("one empty room");
        assert_eq!((p.p50, p.p100), (0.0, 0.0));
        let many: Vec<usize> = (0..1000).map(|i| (i * 7919) % 37).collect();
        for case in [&[3, 1, 4, 1, 5][..], &[1, 2, 3, 4], &many, &[8; 11]] {
            let p = Percentiles::from_by_players(&sizes(case)).expect("rooms");
            assert_eq!(p.p50, reference(case, 0.5), "{case:?}");
            assert_eq!(p.p90, reference(case, 0.9));
            assert_eq!(p.p99, reference(case, 0.99));
            assert_eq!(p.p99_5, reference(case, 0.995));
            assert_eq!(p.p99_9, reference(case, 0.999));
            assert_eq!(p.p100, reference(case, 1.0));
        }
        assert_eq!(
            serde_json::to_string(&percentiles_json(Some(&p_of(&[2])))).expect("json"),
            r#"{"p100":2.0,"p50":2.0,"p90":2.0,"p99":2.0,"p99_5":2.0,"p99_9":2.0}"#
        );
        assert_eq!(percentiles_json(None), json!({}));
    }

    fn p_of(counts: &[usize]) -> Percentiles {
        Percentiles::from_by_players(&sizes(counts)).expect("rooms")
    }

    #[test]
    fn entry_from_summary() {
        let s = summary(&[("demo", 2), ("other", 1), ("demo", 0)]);
        let e = DashboardEntry::from_summary(t(0, 0), &s);
        assert_eq!(e.active_rooms, 3);
        assert_eq!(e.rooms_by_game["demo"], 2);
        assert_eq!(e.player_percentiles, Some(p_of(&[2, 1, 0])));
        assert_eq!(e.game_percentiles["demo"], p_of(&[2, 0]));
        assert_eq!(e.game_percentiles["other"], p_of(&[1]));
        let empty = DashboardEntry::from_summary(t(0, 0), &RoomSummary::default());
        assert_eq!(empty.active_rooms, 0);
        assert_eq!(empty.player_percentiles, None);
        assert!(empty.game_percentiles.is_empty());
    }

    #[test]
    fn fresh_cache_is_stale_with_nulls() {
        let cache = DashboardCache::new(&config(5, 30, 300));
        let view = cache.view(t(0, 0));
        assert_eq!(view, DashboardView::never_refreshed(&config(5, 30, 300)));
        assert!(view.stale);
        assert_eq!(view.age_gauge_seconds(), 0);
        assert_eq!(view.last_refresh_timestamp(), 0);
        assert_eq!(
            serde_json::to_string(&view.to_json()).expect("json"),
            r#"{"ageSeconds":null,"fetchedAt":null,"history":[],"lastError":null,"refreshIntervalSeconds":5,"stale":true}"#
        );
    }

    #[test]
    fn staleness_uses_max_of_ttl_and_interval_strictly() {
        let mut cache = DashboardCache::new(&config(5, 30, 300));
        cache.refresh(t(0, 500_000_000), &summary(&[("demo", 1)]));
        let at = |s, n| cache.view(t(s, n));
        assert!(!at(0, 500_000_000).stale);
        assert_eq!(at(10, 400_000_000).age_seconds, Some(9));
        assert!(!at(30, 500_000_000).stale);
        assert!(at(30, 500_000_001).stale);
        assert_eq!(at(30, 500_000_001).age_seconds, Some(30));
        // Clock stepped back: age 0, not stale.
        assert_eq!(at(-5, 0).age_seconds, Some(0));
        assert!(!at(-5, 0).stale);
        // An interval longer than the ttl sets the threshold.
        let mut slow = DashboardCache::new(&config(60, 30, 300));
        slow.refresh(t(0, 0), &RoomSummary::default());
        assert!(!slow.view(t(45, 0)).stale);
        assert!(slow.view(t(61, 0)).stale);
        // Zero settings act as 1 second.
        let zero = DashboardCache::new(&config(0, 0, 0));
        assert_eq!(zero.refresh_interval(), Duration::from_secs(1));
        assert_eq!(zero.view(t(0, 0)).refresh_interval_seconds, 1);
    }

    #[test]
    fn history_is_a_bounded_ring_oldest_first() {
        let mut cache = DashboardCache::new(&config(10, 30, 30));
        assert_eq!(cache.capacity(), 3);
        for i in 0..5 {
            cache.refresh(t(i * 10, 0), &summary(&[("g", 1)]));
        }
        let times: Vec<_> = cache.history().map(|h| h.fetched_at).collect();
        assert_eq!(times, vec![t(20, 0), t(30, 0), t(40, 0)]);
        assert_eq!(cache.refresh_count(), 5);
        assert_eq!(cache.latest().map(|l| l.fetched_at), Some(t(40, 0)));
    }

    #[test]
    fn failures_keep_data_and_success_clears_the_error() {
        let mut cache = DashboardCache::new(&config(5, 30, 300));
        cache.refresh(t(0, 0), &summary(&[("g", 1)]));
        cache.refresh_failed("store unavailable");
        let view = cache.view(t(1, 0));
        assert_eq!(view.last_error.as_deref(), Some("store unavailable"));
        assert_eq!(view.refresh_failures, 1);
        assert_eq!(view.history.len(), 1);
        assert_eq!(view.fetched_at, Some(t(0, 0)));
        cache.refresh(t(5, 0), &summary(&[("g", 1)]));
        let view = cache.view(t(5, 0));
        assert_eq!(view.last_error, None);
        assert_eq!(view.refresh_failures, 1);
        assert_eq!(view.history.len(), 2);
        assert_eq!(view.last_refresh_timestamp(), 1_748_779_205);
    }

    #[test]
    fn unselected_history_fields_are_null() {
        let mut cfg = config(5, 30, 300);
        cfg.dashboard_cache_history_fields = vec![
            DashboardHistoryField::ActiveRooms,
            DashboardHistoryField::PlayerPercentiles,
        ];
        let mut cache = DashboardCache::new(&cfg);
        cache.refresh(t(0, 0), &summary(&[("demo", 2)]));
        let entry = &cache.view(t(0, 0)).to_json()["history"][0];
        assert_eq!(
            *entry,
            json!({
                "activeRooms": 1,
                "fetchedAt": "2025-06-01T12:00:00+00:00",
                "gamePercentiles": null,
                "playerPercentiles": p_of(&[2]).to_json(),
                "roomsByGame": null,
            })
        );
        // Empty store: selected percentiles are `{}`, not null.
        cache.refresh(t(5, 0), &RoomSummary::default());
        let entry = &cache.view(t(5, 0)).to_json()["history"][1];
        assert_eq!(entry["playerPercentiles"], json!({}));
        assert_eq!(entry["activeRooms"], json!(0));
    }

    #[test]
    fn active_rooms_is_forced_when_no_real_field_is_selected() {
        let f = HistoryFields::from_config(&[
            DashboardHistoryField::ActiveConnections,
            DashboardHistoryField::RoomsCreated,
        ]);
        assert_eq!(
            f,
            HistoryFields {
                active_rooms: true,
                rooms_by_game: false,
                player_percentiles: false,
                game_percentiles: false,
            }
        );
        let f = HistoryFields::from_config(&[DashboardHistoryField::GamePercentiles]);
        assert!(!f.active_rooms && f.game_percentiles);
        let all =
            HistoryFields::from_config(&MetricsConfig::default().dashboard_cache_history_fields);
        assert!(
            all.active_rooms && all.rooms_by_game && all.player_percentiles && all.game_percentiles
        );
    }

    #[test]
    fn cache_and_view_are_clone_and_send() {
        fn check<T: Clone + Send + 'static>() {}
        check::<DashboardCache>();
        check::<DashboardView>();
    }
}
