//! One room as a pure state machine: lobby, authority and spectators, with no I/O and no clocks.
//!
//! The shard runtime owns the sockets. It feeds the room one request at a time (`join`, `leave`,
//! `toggle_ready`, …), passing in the current time and any freshly minted ids or tokens, and gets
//! back [`Effects`]: the messages to send, in order, each with its [`Audience`]. Nothing here
//! sleeps, reads the clock or touches the network, so every lobby rule is tested directly on the
//! state machine (see `tests/`).
//!
//! Where the rules live:
//! * `lobby.rs`: joining, leaving, the ready toggle and the `waiting → lobby → finalized` phases,
//!   stored connection info;
//! * `authority.rs`: `AuthorityRequest` decisions;
//! * `spectators.rs`: spectator join and leave;
//! * `snapshot.rs`: every `ServerMessage` the room builds, one function per kind.
//!
//! Choices the spec leaves open, made here:
//! * `RoomJoined` shows the state *after* the join: the player who fills the room sees `lobby`
//!   (and then also gets the `LobbyStateChanged{lobby}` every member gets).
//! * Only the first player ever seated (the creator) receives authority automatically; a
//!   newcomer to a room that emptied out does not (decision 5: nobody is promoted).
//! * A finalized room refuses joins with `INVALID_ROOM_STATE` before the name and seat checks;
//!   a departure from `lobby` or `finalized` reverts to `waiting`, so the seat opens again.
//! * Requests from a session with no seat cannot be addressed by the room: a spectator of this
//!   room gets the `NOT_IN_ROOM` answer, anyone else gets no effects and the driver answers
//!   with [`not_in_room_error`] / [`not_in_room_authority_response`].
//! * Spectators are unlimited and relayed game data reaches them as JSON unless the driver sets
//!   their format ([`Room::set_encoding`]). A spectator join counts as activity, a spectator
//!   leave does not. A room with only spectators [`is_empty`](Room::is_empty).
//! * Broadcasts that would reach nobody are not emitted (e.g. no `PlayerJoined` for a creator).
//!
//! Broadcast audiences ([`Audience::Everyone`], [`Audience::EveryoneExcept`]) are resolved
//! against the room's membership *after* the call that produced them; the driver must resolve
//! them (with [`Room::recipients`]) before it feeds the room its next input. Messages a departed
//! member must still get (`RoomLeft`, `SpectatorLeft`, the `close` notices) are therefore always
//! addressed to that member's [`Audience::Session`].

mod authority;
mod lobby;
mod snapshot;
mod spectators;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

use crate::protocol::{
    ConnectionInfo, ErrorCode, GameDataEncoding, LobbyState, PlayerId, RoomId, ServerMessage,
};

pub use snapshot::{not_in_room_authority_response, not_in_room_error};

/// Where a session lives: opaque to the room, used only to address outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SessionAddr {
    /// The shard (core) that owns the session.
    pub shard: u32,
    /// The session's slot within that shard.
    pub slot: u64,
}

/// What a room is, fixed at creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomSettings {
    /// The room's unique id.
    pub id: RoomId,
    /// The stored (upper-case) room code.
    pub code: String,
    /// The game the room belongs to; part of the lookup key together with `code`.
    pub game_name: String,
    /// Seats for players; spectators do not take seats.
    pub max_players: u8,
    /// Whether players may hold authority in this room at all.
    pub supports_authority: bool,
    /// Relay type announced in `RoomJoined` and `GameStarting`.
    pub relay_type: String,
}

/// A player asking for a seat.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Joiner {
    /// The player's id (the connection id).
    pub id: PlayerId,
    /// The validated player name.
    pub name: String,
    /// Where the player's session lives.
    pub addr: SessionAddr,
    /// How the player wants relayed game data delivered.
    pub encoding: GameDataEncoding,
    /// The freshly minted reconnection token, handed out in `RoomJoined` (spec decision 3).
    pub reconnection_token: String,
}

/// A connection asking to watch the room.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SpectatorJoiner {
    /// The spectator's id (the connection id).
    pub id: PlayerId,
    /// The validated spectator name.
    pub name: String,
    /// Where the spectator's session lives.
    pub addr: SessionAddr,
}

/// Who receives an [`Outbound`] message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Exactly one session, member or not (used for replies and for members who just left).
    Session(SessionAddr),
    /// Every current player and spectator, players first in join order.
    Everyone,
    /// Every current player and spectator except the one with this id.
    EveryoneExcept(PlayerId),
}

/// One message to send.
#[derive(Debug)]
pub struct Outbound {
    /// Its recipients, resolved with [`Room::recipients`].
    pub to: Audience,
    /// The message itself.
    pub msg: ServerMessage,
}

/// The messages one input produced, in send order.
pub type Effects = Vec<Outbound>;

/// Why a join (player or spectator) was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Human-readable reason, sent as `reason`.
    pub reason: String,
    /// The protocol's error code.
    pub code: ErrorCode,
}

/// How a player left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LeaveKind {
    /// `LeaveRoom`: the player is told with `RoomLeft`.
    Voluntary,
    /// The connection dropped: the player cannot be told, and may come back with its token.
    Disconnected,
}

/// A seated player.
#[derive(Clone, Debug)]
struct Player {
    id: PlayerId,
    name: String,
    addr: SessionAddr,
    encoding: GameDataEncoding,
    /// When the player took the seat (shown as `connected_at`).
    connected_at: DateTime<Utc>,
    /// The latest `ProvideConnectionInfo`, shown in snapshots and `GameStarting`.
    connection_info: Option<ConnectionInfo>,
    /// The token handed out in this player's `RoomJoined`.
    reconnection_token: String,
}

/// A watching spectator.
#[derive(Clone, Debug)]
struct Spectator {
    id: PlayerId,
    name: String,
    addr: SessionAddr,
    /// Spectators get relayed game data too; JSON unless the driver says otherwise
    /// ([`Room::set_encoding`]), which every client can read.
    encoding: GameDataEncoding,
    connected_at: DateTime<Utc>,
}

/// One room: its players, spectators, authority holder and lobby phase.
#[derive(Debug)]
pub struct Room {
    settings: RoomSettings,
    /// Seated players in join order; rooms hold at most 100, so linear scans beat hashing.
    players: Vec<Player>,
    /// Spectators in join order.
    spectators: Vec<Spectator>,
    /// The player holding authority, if any. Always a current player.
    authority: Option<PlayerId>,
    /// The lobby phase. `lobby` and `finalized` imply the room is full.
    state: LobbyState,
    /// Ready players in the order they readied. Only current players; empty in `waiting`.
    ready: Vec<PlayerId>,
    /// Whether the creator has been seated: only the first joiner ever may receive authority
    /// automatically (decision 5: nobody is promoted later).
    founded: bool,
    /// Set by [`Room::close`]; a closed room refuses every join.
    closed: bool,
    created_at: DateTime<Utc>,
    /// Last join, leave, ready toggle, authority request, connection info or game data.
    last_activity: DateTime<Utc>,
}

impl Room {
    /// An empty room in `waiting`. The creator is seated by a following [`Room::join`].
    pub fn new(settings: RoomSettings, now: DateTime<Utc>) -> Room {
        Room {
            settings,
            players: Vec::new(),
            spectators: Vec::new(),
            authority: None,
            state: LobbyState::Waiting,
            ready: Vec::new(),
            founded: false,
            closed: false,
            created_at: now,
            last_activity: now,
        }
    }

    /// The settings the room was created with.
    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }

    /// Number of seated players (spectators excluded).
    pub fn player_count(&self) -> usize {
        self.players.len()
    }

    /// Number of spectators.
    pub fn spectator_count(&self) -> usize {
        self.spectators.len()
    }

    /// True when no player is seated. Spectators alone do not keep a room occupied.
    pub fn is_empty(&self) -> bool {
        self.players.is_empty()
    }

    /// Whether `player` holds a seat.
    pub fn contains(&self, player: PlayerId) -> bool {
        self.player(player).is_some()
    }

    /// Whether `id` is watching as a spectator.
    pub fn contains_spectator(&self, id: PlayerId) -> bool {
        self.spectators.iter().any(|s| s.id == id)
    }

    /// The current lobby phase.
    pub fn lobby_state(&self) -> LobbyState {
        self.state
    }

    /// The player holding authority, if any.
    pub fn authority(&self) -> Option<PlayerId> {
        self.authority
    }

    /// Ready players, in the order they readied.
    pub fn ready_players(&self) -> &[PlayerId] {
        &self.ready
    }

    /// When the room was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The last time a member did something; drives inactivity expiry.
    pub fn last_activity(&self) -> DateTime<Utc> {
        self.last_activity
    }

    /// Where a seated player's session lives.
    pub fn player_addr(&self, player: PlayerId) -> Option<SessionAddr> {
        self.player(player).map(|p| p.addr)
    }

    /// The reconnection token handed to a seated player at join.
    pub fn reconnection_token(&self, player: PlayerId) -> Option<&str> {
        self.player(player).map(|p| p.reconnection_token.as_str())
    }

    /// A seated player's name and current reconnection token: what a disconnected player's
    /// kept seat remembers (spec decision 3).
    pub fn seat_of(&self, player: PlayerId) -> Option<(&str, &str)> {
        self.player(player)
            .map(|p| (p.name.as_str(), p.reconnection_token.as_str()))
    }

    /// Records how a member (player or spectator) wants game data delivered, e.g. after it
    /// negotiated MessagePack. Returns false if `id` is not a member.
    pub fn set_encoding(&mut self, id: PlayerId, encoding: GameDataEncoding) -> bool {
        if let Some(p) = self.players.iter_mut().find(|p| p.id == id) {
            p.encoding = encoding;
            true
        } else if let Some(s) = self.spectators.iter_mut().find(|s| s.id == id) {
            s.encoding = encoding;
            true
        } else {
            false
        }
    }

    /// Everyone who receives a player's game data: all players except the sender, plus
    /// spectators (decision 6). The caller checks that `from` is a member first.
    pub fn relay_targets(
        &self,
        from: PlayerId,
    ) -> impl Iterator<Item = (SessionAddr, GameDataEncoding)> + '_ {
        let players = self
            .players
            .iter()
            .filter(move |p| p.id != from)
            .map(|p| (p.addr, p.encoding));
        // A connection may be a player and a spectator at once; it never gets its own echo and
        // gets everything else once.
        let spectators = self
            .watchers_only()
            .filter(move |s| s.id != from)
            .map(|s| (s.addr, s.encoding));
        players.chain(spectators)
    }

    /// Every member game data reaches: players in join order, then the spectators that are not
    /// also players, each with its id and encoding.
    pub fn members(&self) -> impl Iterator<Item = (PlayerId, SessionAddr, GameDataEncoding)> + '_ {
        let players = self.players.iter().map(|p| (p.id, p.addr, p.encoding));
        let spectators = self.watchers_only().map(|s| (s.id, s.addr, s.encoding));
        players.chain(spectators)
    }

    /// Records activity that changes no state, such as relayed game data.
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.last_activity = now;
    }

    /// The sessions an [`Audience`] names, against the current membership: players in join
    /// order, then spectators. Call it before feeding the room its next input.
    pub fn recipients(&self, to: Audience) -> impl Iterator<Item = SessionAddr> + '_ {
        let (single, broadcast, except) = match to {
            Audience::Session(addr) => (Some(addr), false, None),
            Audience::Everyone => (None, true, None),
            Audience::EveryoneExcept(id) => (None, true, Some(id)),
        };
        let members = self
            .players
            .iter()
            .map(|p| (p.id, p.addr))
            .chain(self.watchers_only().map(|s| (s.id, s.addr)));
        single.into_iter().chain(
            members
                .filter(move |(id, _)| broadcast && Some(*id) != except)
                .map(|(_, addr)| addr),
        )
    }

    /// Spectators that are not also seated here: a connection that plays and watches the same
    /// room is addressed once, as a player.
    fn watchers_only(&self) -> impl Iterator<Item = &Spectator> + '_ {
        self.spectators
            .iter()
            .filter(move |s| !self.players.iter().any(|p| p.id == s.id))
    }

    /// Tells every member the room is gone (decision 9: `Error{ROOM_NOT_FOUND}`) and empties
    /// it. Used on expiry; afterwards every join is refused and the driver drops the room.
    pub fn close(&mut self) -> Effects {
        let addrs = self
            .players
            .iter()
            .map(|p| p.addr)
            .chain(self.watchers_only().map(|s| s.addr));
        let fx = addrs
            .map(|addr| Outbound::session(addr, snapshot::room_gone()))
            .collect();
        self.players.clear();
        self.spectators.clear();
        self.ready.clear();
        self.authority = None;
        self.state = LobbyState::Waiting;
        self.closed = true;
        fx
    }

    /// The seated player with this id.
    fn player(&self, id: PlayerId) -> Option<&Player> {
        self.players.iter().find(|p| p.id == id)
    }

    /// Where to answer a request from someone without a seat. A spectator of this room is told
    /// (as a non-player it is "not in a room"); anyone else is unknown here, so the driver, which
    /// answers requests from roomless sessions anyway, answers it.
    fn answer_outsider(&self, id: PlayerId, msg: fn() -> ServerMessage) -> Effects {
        match self.spectators.iter().find(|s| s.id == id) {
            Some(s) => vec![Outbound::session(s.addr, msg())],
            None => Vec::new(),
        }
    }

    /// Appends a broadcast unless it would reach nobody, building the message only if needed.
    fn broadcast(&self, fx: &mut Effects, to: Audience, msg: impl FnOnce() -> ServerMessage) {
        if self.recipients(to).next().is_some() {
            fx.push(Outbound { to, msg: msg() });
        }
    }
}

impl Outbound {
    /// A message for exactly one session.
    pub fn session(addr: SessionAddr, msg: ServerMessage) -> Outbound {
        Outbound {
            to: Audience::Session(addr),
            msg,
        }
    }
}

impl Rejection {
    /// A refusal with its reason text and code.
    pub fn new(reason: &str, code: ErrorCode) -> Rejection {
        Rejection {
            reason: reason.to_owned(),
            code,
        }
    }

    /// The refusal of a join into a room that [`Room::close`] already closed.
    fn room_closed() -> Rejection {
        Rejection::new("Room not found", ErrorCode::RoomNotFound)
    }

    /// The refusal as a player's `RoomJoinFailed`.
    pub fn into_join_failed(self) -> ServerMessage {
        ServerMessage::join_failed(self.reason, self.code)
    }

    /// The refusal as a spectator's `SpectatorJoinFailed` (decision 6).
    pub fn into_spectator_join_failed(self) -> ServerMessage {
        snapshot::spectator_join_failed(self)
    }
}
