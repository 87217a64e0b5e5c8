//! The counters a shard keeps. Plain integers owned by one thread: the hot path increments them
//! with no atomics; a scrape copies them and merges copies from every shard.

macro_rules! counter_block {
    ($(#[$doc:meta])* pub struct $name:ident { $($(#[$fdoc:meta])* $field:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: u64,)*
        }

        impl $name {
            /// Adds another shard's counts to these.
            pub fn add(&mut self, other: &Self) {
                $(self.$field = self.$field.saturating_add(other.$field);)*
            }
        }
    };
}

counter_block! {
    /// Monotonic counters, named after the snapshot fields of `metrics.md` §2.5 they feed.
    pub struct Counters {
        total_connections,
        disconnections,
        connection_errors,
        websocket_messages_dropped,
        rooms_created,
        rooms_joined,
        rooms_deleted,
        room_cap_lock_acquisitions,
        room_cap_lock_failures,
        room_cap_denials,
        room_creation_failures,
        room_join_failures,
        rate_limit_rejections,
        rate_limit_resets,
        players_joined,
        players_left,
        game_data_messages,
        heartbeat_updates,
        heartbeat_skipped,
        authority_transfers,
        validation_errors,
        internal_errors,
        websocket_errors,
        empty_rooms_cleaned,
        inactive_rooms_cleaned,
        expired_players_cleaned,
        tokens_issued,
        reconnection_validations_failed,
        reconnection_completions,
        events_buffered,
        /// Events a kept seat's buffer dropped (oldest first) or could not replay.
        events_dropped,
        room_code_collisions,
        room_capacity_conflicts,
        latency_histogram_clamped_samples,
        /// Messages this shard shipped to other shards.
        cross_shard_sent,
        /// Messages this shard received from other shards.
        cross_shard_received,
        /// Batches (channel sends) this shard shipped.
        cross_shard_batches,
        /// Log records this shard dropped because the log writer's queue was full (filled in
        /// from the logging layer's own count when the shard reports).
        log_records_dropped,
    }
}

/// Gauges that move both ways. Kept signed per shard because a value can rise on one shard and
/// fall on another; the merged sum is floored at zero (`metrics.md` §9.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    pub active_connections: i64,
    pub players_active: i64,
    pub reconnection_sessions_active: i64,
}

impl Gauges {
    /// Adds another shard's values.
    pub fn add(&mut self, other: &Self) {
        self.active_connections += other.active_connections;
        self.players_active += other.players_active;
        self.reconnection_sessions_active += other.reconnection_sessions_active;
    }
}
