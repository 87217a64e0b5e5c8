//! Unit tests of the room state machine: exact message sequences and recipients, no sockets.
//!
//! Fixtures use small deterministic ids: player/spectator `n` has id `Uuid::from_u128(n)` and
//! lives in session slot `n`, and time is `T0 + secs`.

mod authority;
mod join;
mod leave;
mod ready;
mod room;
mod spectators;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Audience, Effects, Joiner, LeaveKind, Room, RoomSettings, SessionAddr, SpectatorJoiner,
};
use crate::protocol::{GameDataEncoding, PlayerId};

/// The fixed room id of every fixture room.
const ROOM: u128 = 0xA0;

/// `T0 + secs`.
fn t(secs: i64) -> DateTime<Utc> {
    let t0 = Utc.with_ymd_and_hms(2025, 6, 12, 18, 0, 0).single();
    t0.map(|t0| t0 + Duration::seconds(secs))
        .expect("valid fixture time")
}

/// `t(secs)` as it appears on the wire.
fn ts(secs: i64) -> Value {
    serde_json::to_value(t(secs)).expect("timestamps serialise")
}

/// Id of player or spectator `n`.
fn id(n: u128) -> PlayerId {
    Uuid::from_u128(n)
}

/// Session of player or spectator `n`.
fn addr(n: u128) -> SessionAddr {
    SessionAddr {
        shard: 0,
        slot: n as u64,
    }
}

fn session(n: u128) -> Audience {
    Audience::Session(addr(n))
}

fn settings(max_players: u8, supports_authority: bool) -> RoomSettings {
    RoomSettings {
        id: Uuid::from_u128(ROOM),
        code: "QX7M4D".to_owned(),
        game_name: "kart racer".to_owned(),
        max_players,
        supports_authority,
        relay_type: "matchbox".to_owned(),
    }
}

fn joiner(n: u128, name: &str) -> Joiner {
    Joiner {
        id: id(n),
        name: name.to_owned(),
        addr: addr(n),
        encoding: GameDataEncoding::Json,
        reconnection_token: format!("token-{n}"),
    }
}

fn watcher(n: u128, name: &str) -> SpectatorJoiner {
    SpectatorJoiner {
        id: id(n),
        name: name.to_owned(),
        addr: addr(n),
    }
}

/// A room with players `1..=names.len()` seated in order, player `k` at `t(k - 1)`.
fn room_with(max_players: u8, supports_authority: bool, names: &[&str]) -> Room {
    let mut room = Room::new(settings(max_players, supports_authority), t(0));
    for (k, name) in names.iter().enumerate() {
        let n = k as u128 + 1;
        room.join(joiner(n, name), t(k as i64))
            .expect("fixture join");
    }
    room
}

/// A full two-seat room (Mika = 1, authority; Ravi = 2) in the lobby phase.
fn lobby_of_two() -> Room {
    room_with(2, true, &["Mika", "Ravi"])
}

/// Effects as (audience, JSON) pairs, in order.
fn render(fx: &Effects) -> Vec<(Audience, Value)> {
    fx.iter()
        .map(|o| {
            (
                o.to,
                serde_json::to_value(&o.msg).expect("messages serialise"),
            )
        })
        .collect()
}

/// Effects as (audience, message type) pairs, in order.
fn kinds(fx: &Effects) -> Vec<(Audience, String)> {
    render(fx)
        .into_iter()
        .map(|(to, v)| (to, v["type"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// What session `n` receives from these effects, resolved against the room right after the
/// call (as the driver does).
fn inbox(room: &Room, fx: &Effects, n: u128) -> Vec<Value> {
    render(fx)
        .into_iter()
        .filter(|(to, _)| room.recipients(*to).any(|a| a == addr(n)))
        .map(|(_, v)| v)
        .collect()
}

/// Message types session `n` receives.
fn inbox_kinds(room: &Room, fx: &Effects, n: u128) -> Vec<String> {
    inbox(room, fx, n)
        .into_iter()
        .map(|v| v["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A player as snapshots show it, without connection info.
fn player_json(n: u128, name: &str, is_authority: bool, is_ready: bool, joined: i64) -> Value {
    json!({
        "id": id(n), "name": name, "is_authority": is_authority, "is_ready": is_ready,
        "connected_at": ts(joined),
    })
}

fn spectator_json(n: u128, name: &str, joined: i64) -> Value {
    json!({"id": id(n), "name": name, "connected_at": ts(joined)})
}

fn lobby_changed(state: &str, ready: &[u128], all_ready: bool) -> Value {
    let ready: Vec<PlayerId> = ready.iter().map(|n| id(*n)).collect();
    json!({"type": "LobbyStateChanged",
           "data": {"lobby_state": state, "ready_players": ready, "all_ready": all_ready}})
}

fn error_json(message: &str, code: &str) -> Value {
    json!({"type": "Error", "data": {"message": message, "error_code": code}})
}
