//! The smaller config sections and their defaults (operations.md §2.3).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::enums::{DashboardHistoryField, LogFormat, LogRotation};

/// `server.*`: rooms, timeouts, reconnection and sharding. Durations are whole seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// `max_players` of a room whose `JoinRoom` omits it.
    pub default_max_players: u8,
    /// A connection silent for this long is closed.
    pub ping_timeout: u64,
    /// How often the rate-limit windows are pruned, in seconds; must be at least 1 (rooms and
    /// seats expire on the owner's timer, silent connections on the liveness sweep).
    pub room_cleanup_interval: u64,
    /// Cap on concurrent rooms per `game_name`.
    pub max_rooms_per_game: usize,
    /// Empty rooms are removed after this.
    pub empty_room_timeout: u64,
    /// Rooms without activity are removed after this.
    pub inactive_room_timeout: u64,
    /// How long a dropped player may reconnect.
    pub reconnection_window: u64,
    /// Events buffered per player for reconnection replay.
    pub event_buffer_size: usize,
    /// Whether `Reconnect` is served at all.
    pub enable_reconnection: bool,
    /// Minimum spacing of `last_seen` bookkeeping; 0 = every ping. 0.1.0's alias
    /// `heartbeat_db_throttle_secs` is accepted in sources and env (see `load`).
    pub heartbeat_throttle_secs: u64,
    /// Region label.
    pub region_id: String,
    /// Prefix for generated room codes.
    pub room_code_prefix: Option<String>,
    /// New in this server: number of shards (threads); 0 = one per usable core.
    pub shards: usize,
    /// New in this server: the address to listen on. `0.0.0.0` (all IPv4 interfaces), `::`
    /// (IPv6 and IPv4, dual-stack), or one interface's address such as `127.0.0.1` or `::1`.
    pub host: String,
    /// New in this server: on the first SIGTERM/SIGINT, how long to keep rooms in play going
    /// while refusing new connections and rooms (decision 20); 0 closes everything at once.
    pub drain_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            default_max_players: 8,
            ping_timeout: 30,
            room_cleanup_interval: 60,
            max_rooms_per_game: 1000,
            empty_room_timeout: 300,
            inactive_room_timeout: 3600,
            reconnection_window: 300,
            event_buffer_size: 100,
            enable_reconnection: true,
            heartbeat_throttle_secs: 30,
            region_id: "default".to_owned(),
            room_code_prefix: None,
            shards: 0,
            host: "0.0.0.0".to_owned(),
            drain_grace_secs: 0,
        }
    }
}

/// `rate_limit.*`: fixed-window limits on `JoinRoom` per connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// `JoinRoom` without a room code (creations) per window.
    pub max_room_creations: u32,
    /// Window length in seconds; must be at least 1.
    pub time_window: u64,
    /// All `JoinRoom` attempts per window.
    pub max_join_attempts: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            max_room_creations: 5,
            time_window: 60,
            max_join_attempts: 20,
        }
    }
}

/// `logging.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingConfig {
    /// Directory of the log file, relative to the working directory.
    pub dir: String,
    /// Base name of the log file.
    pub filename: String,
    /// File rotation.
    pub rotation: LogRotation,
    /// Level filter (`trace`, `debug`, `info`, `warn`, `error`); when set, `RUST_LOG` is ignored.
    pub level: Option<String>,
    /// Whether logs are also written to `<dir>/<filename>`.
    pub enable_file_logging: bool,
    /// Line format.
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            dir: "logs".to_owned(),
            filename: "server.log".to_owned(),
            rotation: LogRotation::Daily,
            level: None,
            enable_file_logging: true,
            format: LogFormat::Json,
        }
    }
}

/// `websocket.*` (named so to avoid clashing with the WebSocket library's own config type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebSocketSettings {
    /// Whether outbound messages are queued and coalesced into fewer writes.
    pub enable_batching: bool,
    /// Flush after this many queued messages.
    pub batch_size: usize,
    /// Longest delay of a flush in milliseconds; must be at least 1 when batching is on.
    pub batch_interval_ms: u64,
    /// Seconds a connection has to authenticate when auth is on (5..=60).
    pub auth_timeout_secs: u64,
    /// Longest a connection's outbound frames may wait to share one write, in milliseconds
    /// (ours; 0 = never delay a flush, at most [`MAX_FLUSH_DELAY_MS`]).
    pub max_flush_delay_ms: u64,
}

/// The longest flush window accepted: longer is a unit mistake rather than a latency budget.
pub const MAX_FLUSH_DELAY_MS: u64 = 1000;

impl Default for WebSocketSettings {
    fn default() -> Self {
        WebSocketSettings {
            enable_batching: true,
            batch_size: 10,
            batch_interval_ms: 16,
            auth_timeout_secs: 10,
            max_flush_delay_ms: 0,
        }
    }
}

/// `metrics.*`: the dashboard cache behind the JSON metrics endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Refresh period in seconds; 0 is treated as 1, as in 0.1.0.
    pub dashboard_cache_refresh_interval_secs: u64,
    /// Age in seconds after which a snapshot is reported `stale`; 0 is treated as 1.
    pub dashboard_cache_ttl_secs: u64,
    /// How far back the history reaches, in seconds.
    pub dashboard_cache_history_window_secs: u64,
    /// Which series the history keeps.
    pub dashboard_cache_history_fields: Vec<DashboardHistoryField>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            dashboard_cache_refresh_interval_secs: 5,
            dashboard_cache_ttl_secs: 30,
            dashboard_cache_history_window_secs: 300,
            dashboard_cache_history_fields: vec![
                DashboardHistoryField::ActiveRooms,
                DashboardHistoryField::RoomsByGame,
                DashboardHistoryField::PlayerPercentiles,
                DashboardHistoryField::GamePercentiles,
            ],
        }
    }
}

/// `relay_types.*`: the relay label reported for a game's rooms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RelayTypesConfig {
    /// `game_name` → relay label.
    pub game_relay_mappings: BTreeMap<String, String>,
    /// Label for games without a mapping.
    pub default_relay_type: String,
}

impl Default for RelayTypesConfig {
    fn default() -> Self {
        RelayTypesConfig {
            game_relay_mappings: BTreeMap::new(),
            default_relay_type: "matchbox".to_owned(),
        }
    }
}

/// `auth.*`: accepted so 0.1.0 configs load; nothing reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Unused.
    pub rate_limit_cache_cleanup_interval_secs: u64,
    /// Unused.
    pub rate_limit_cache_retention_secs: u64,
    /// Unused.
    pub rate_limit_cache_alert_rows: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            rate_limit_cache_cleanup_interval_secs: 300,
            rate_limit_cache_retention_secs: 172_800,
            rate_limit_cache_alert_rows: 100_000,
        }
    }
}

/// `coordination.*`: accepted so 0.1.0 configs load; nothing reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CoordinationConfig {
    /// Unused.
    pub dedup_cache: DedupCacheConfig,
    /// Unused; 0.1.0's effective default is 0 (not its declared 30).
    pub membership_snapshot_interval_secs: u64,
}

/// `coordination.dedup_cache.*`: unused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DedupCacheConfig {
    /// Unused.
    pub capacity: usize,
    /// Unused.
    pub ttl_secs: u64,
    /// Unused.
    pub cleanup_interval_secs: u64,
}

impl Default for DedupCacheConfig {
    fn default() -> Self {
        DedupCacheConfig {
            capacity: 100_000,
            ttl_secs: 60,
            cleanup_interval_secs: 30,
        }
    }
}
