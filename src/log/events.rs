//! Every record the server writes, one function each, so the log's vocabulary (targets,
//! levels, messages, field names) lives in one place and the README can list it. Call sites
//! elsewhere are one line.
//!
//! Each function is a `tracing` macro behind a level check: arguments are plain values
//! (addresses, ids, `&str`), and nothing is formatted unless the record is enabled. Records
//! at `warn` are rejections and limit hits; the shard's flood limiter summarises repeats per
//! client address (`queue.rs`). Targets are fixed names rather than module paths, so a
//! `RUST_LOG` directive such as `signal_fish_server::conn=warn` keeps working when code moves.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tracing::{info, warn};

use crate::limits::JoinKind;
use crate::protocol::{ErrorCode, PlayerId, RoomId};

/// Start, configuration, stop.
pub const SERVER: &str = "signal_fish_server::server";
/// WebSocket connections opening, being refused, closing.
pub const CONN: &str = "signal_fish_server::conn";
/// `Authenticate` outcomes.
pub const AUTH: &str = "signal_fish_server::auth";
/// Rooms and their members.
pub const ROOM: &str = "signal_fish_server::room";
/// Requests refused by a configured limit (each names its key).
pub const LIMITS: &str = "signal_fish_server::limits";

/// The close reason of a slow consumer (decision 10), logged at `warn`.
pub const SLOW_CONSUMER: &str = "outbound queue overflow";

/// The wire spelling of an error code (`INVALID_APP_ID`).
fn wire(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

// --- server ---------------------------------------------------------------------------------

/// The effective settings an operator checks first, once at start.
pub struct Summary<'a> {
    pub addr: SocketAddr,
    pub shards: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub tls: bool,
    pub websocket_auth: bool,
    pub metrics_auth: bool,
    pub apps: usize,
    pub reconnection: bool,
    pub trusted_proxies: usize,
    pub proxy_protocol: bool,
    pub log_filter: &'a str,
    pub log_format: &'a str,
    pub log_file: Option<&'a str>,
}

pub fn server_started(s: &Summary<'_>) {
    info!(
        target: SERVER,
        addr = %s.addr,
        shards = s.shards,
        max_connections = s.max_connections,
        max_connections_per_ip = s.max_connections_per_ip,
        tls = s.tls,
        websocket_auth = s.websocket_auth,
        metrics_auth = s.metrics_auth,
        authorized_apps = s.apps,
        reconnection = s.reconnection,
        trusted_proxies = s.trusted_proxies,
        proxy_protocol = s.proxy_protocol,
        log_filter = s.log_filter,
        log_format = s.log_format,
        log_file = s.log_file,
        version = env!("CARGO_PKG_VERSION"),
        "server started"
    );
}

/// `RUST_LOG` was set but could not be used.
pub fn filter_ignored(why: &str) {
    warn!(target: SERVER, reason = why, "log filter ignored, using info");
}

/// Draining began (decision 20): health answers 503, no new connections or rooms.
pub fn server_draining(grace: std::time::Duration, rooms_in_play: usize) {
    info!(
        target: SERVER, grace_s = grace.as_secs(), rooms_in_play,
        "server draining: no new connections or rooms"
    );
}

pub fn server_stopping() {
    info!(target: SERVER, "server stopping: closing connections");
}

pub fn server_stopped() {
    info!(target: SERVER, "server stopped");
}

// --- connections ----------------------------------------------------------------------------

/// A WebSocket upgrade was admitted. `conn` numbers connections within a shard.
#[inline]
pub fn connection_opened(ip: IpAddr, conn: u64) {
    info!(target: CONN, client_ip = %ip, conn, "connection opened");
}

/// A WebSocket connection ended. `code`/`reason` are the server's close frame, `None` when
/// the client closed or the connection was lost (`reason` then says which).
#[inline]
pub fn connection_closed(ip: IpAddr, conn: u64, code: Option<u16>, reason: &str, opened: Instant) {
    if reason == SLOW_CONSUMER {
        warn!(
            target: CONN, client_ip = %ip, conn, close_code = code, reason,
            duration_s = opened.elapsed().as_secs_f64(),
            "slow consumer disconnected"
        );
    } else {
        info!(
            target: CONN, client_ip = %ip, conn, close_code = code, reason,
            duration_s = opened.elapsed().as_secs_f64(),
            "connection closed"
        );
    }
}

/// A connection refused before it could be served, for a reason that is no configured limit
/// (a PROXY header from an untrusted peer, …).
#[inline]
pub fn connection_refused(ip: IpAddr, reason: &str) {
    warn!(target: CONN, client_ip = %ip, reason, "connection refused");
}

// --- authentication -------------------------------------------------------------------------

#[inline]
pub fn authenticated(ip: IpAddr, app_id: &str, sdk_version: Option<&str>, platform: Option<&str>) {
    info!(
        target: AUTH, client_ip = %ip, app_id, sdk_version, platform,
        "client authenticated"
    );
}

#[inline]
pub fn auth_failed(ip: IpAddr, app_id: &str, code: ErrorCode, reason: &str) {
    warn!(
        target: AUTH, client_ip = %ip, app_id, error_code = wire(code), reason,
        "authentication failed"
    );
}

// --- rooms ----------------------------------------------------------------------------------

#[inline]
pub fn room_created(room_id: RoomId, code: &str, game: &str, max_players: u8) {
    info!(
        target: ROOM, room_id = %room_id, room_code = code, game, max_players,
        "room created"
    );
}

#[inline]
pub fn room_deleted(room_id: RoomId, code: &str, game: &str, players: usize) {
    info!(
        target: ROOM, room_id = %room_id, room_code = code, game, players,
        "room deleted"
    );
}

/// A player took a seat: by creating or joining (`reconnect` false) or by reconnecting.
#[inline]
pub fn player_joined(ip: IpAddr, conn: u64, player: PlayerId, room_id: RoomId, reconnect: bool) {
    if reconnect {
        info!(
            target: ROOM, client_ip = %ip, conn, player_id = %player, room_id = %room_id,
            "player reconnected"
        );
    } else {
        info!(
            target: ROOM, client_ip = %ip, conn, player_id = %player, room_id = %room_id,
            "player joined room"
        );
    }
}

/// A player left its room with `LeaveRoom` (`voluntary`) or lost its connection (its seat is
/// then kept for `server.reconnection_window` when reconnection is on).
#[inline]
pub fn player_left(ip: IpAddr, conn: u64, player: PlayerId, room_id: RoomId, voluntary: bool) {
    let how = if voluntary { "leave" } else { "disconnect" };
    info!(
        target: ROOM, client_ip = %ip, conn, player_id = %player, room_id = %room_id, how,
        "player left room"
    );
}

// --- limits ---------------------------------------------------------------------------------

/// A socket refused at `security.max_connections`. The peer's address costs a system call, so
/// it is asked for only when the record is kept.
#[inline]
pub fn capacity_reached(peer: impl FnOnce() -> Option<IpAddr>) {
    if tracing::enabled!(target: LIMITS, tracing::Level::WARN) {
        limit_reached(
            peer(),
            "security.max_connections",
            "server at connection capacity",
        );
    }
}

/// A `JoinRoom`, `JoinAsSpectator` or `Reconnect` over its IP's quota (`rate_limit.*`).
#[inline]
pub fn join_quota_exceeded(ip: IpAddr, kind: JoinKind, reason: &str) {
    let limit = match kind {
        JoinKind::Create => "rate_limit.max_room_creations",
        JoinKind::Join | JoinKind::Spectate | JoinKind::Reconnect => "rate_limit.max_join_attempts",
    };
    limit_reached(Some(ip), limit, reason);
}

/// A request refused by the limit named by its config key (`limit`), from `ip` when known.
#[inline]
pub fn limit_reached(ip: Option<IpAddr>, limit: &'static str, reason: &str) {
    match ip {
        Some(ip) => warn!(target: LIMITS, client_ip = %ip, limit, reason, "limit reached"),
        None => warn!(target: LIMITS, limit, reason, "limit reached"),
    }
}
