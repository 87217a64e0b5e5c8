//! The owner side of a shard as a sans-IO state machine, in the manner of quinn-proto's
//! `Connection`: the rooms this shard owns (by id and by `(game, code)`), the room counts of the
//! games it counts (`server.max_rooms_per_game`), code choice, and inactivity expiry.
//!
//! * Inputs: [`Owner::handle`] takes one [`OwnerCmd`] and the current time; nothing here reads
//!   a clock, touches a socket or a channel.
//! * Outputs: values ([`Output`]) taken with [`Owner::poll_output`]: frames per destination
//!   shard, controls for single sessions, and owner work forwarded to another shard (or to this
//!   one). The shard driver routes them.
//! * Timers: [`Owner::poll_timeout`] says when the driver should next call
//!   [`Owner::handle_timeout`], which expires what is due at `now`. Deadlines (inactivity,
//!   reconnection windows, `server.empty_room_timeout`) sit in one ordered set of
//!   `(instant, room)`, one entry per room (`deadlines.rs`), so `poll_timeout` reads its first entry and
//!   `handle_timeout` visits only the rooms whose entries are due.
//!
//! Each room is the pure [`Room`] machine; this layer turns its effects into deliveries and
//! keeps the per-shard tables and metrics in step, with the disconnected seats and reconnection
//! windows of spec decision 3 next to the room table (`seats.rs`, `reconnect.rs`).
//!
//! Because the machine returns outputs instead of sending them, it never re-enters itself: an
//! output addressed to this shard is fed back in by the driver after every output queued
//! before it, in order.

mod clock;
mod cluster;
mod deadlines;
mod members;
mod outputs;
mod publish;
mod reconnect;
mod seats;

#[cfg(test)]
mod tests;

use std::collections::hash_map::Entry;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ahash::AHashMap;

use super::mailbox::{Control, RoomRef};
use super::messages::{CreateRoom, JoinByCode, OwnerCmd, SpectateByCode};
use super::routing::{game_owner, mint_room_id, room_owner};
use crate::config::Config;
use crate::metrics::ShardMetrics;
use crate::protocol::frame::text_frame;
use crate::protocol::room_code::generate_room_code;
use crate::protocol::{ErrorCode, PlayerId, RoomId, ServerMessage};
use crate::room::{Audience, Effects, Room, RoomSettings, SessionAddr};
use clock::WallClock;
pub use cluster::{ClusterView, Lost};
use deadlines::Deadlines;
pub use outputs::{Output, Outputs};
pub use seats::{AwaySeat, Missed, MissedEvents};
use seats::{Buffered, OwnedRoom};

/// Attempts at finding a free code that also hashes to this shard before giving up.
const CODE_ATTEMPTS: usize = 10_000;

/// Where new room codes come from: random by default, scripted in tests.
pub type CodeSource = Box<dyn FnMut() -> String>;

/// Rooms owned by one shard, by id and by `(game, code)`.
#[derive(Default)]
struct RoomTable {
    by_id: AHashMap<RoomId, OwnedRoom>,
    by_code: AHashMap<(String, String), RoomId>,
}

impl RoomTable {
    fn lookup(&self, game: &str, code: &str) -> Option<RoomId> {
        // Lookups are rare next to relays; building the owned key is fine here.
        self.by_code
            .get(&(game.to_owned(), code.to_owned()))
            .copied()
    }
}

/// One shard's owner machine.
pub struct Owner {
    /// This shard's index, 0-based.
    index: u32,
    /// How many shards the process runs (for routing forwards).
    count: u32,
    config: Arc<Config>,
    /// The shard's counters; plain in-memory cells, readable by tests.
    metrics: Rc<ShardMetrics>,
    /// Turns the monotonic `now` of each input into the wall time rooms show.
    clock: WallClock,
    /// Rooms this shard owns.
    rooms: RoomTable,
    /// Live rooms per game, for the games this shard counts.
    game_rooms: AHashMap<String, usize>,
    /// When to look at which room again: at most one entry per room (its `wake_at`), never
    /// later than the room's earliest deadline. Things that bring a deadline forward (a kept
    /// seat, a room left empty) move the entry; activity, which only pushes deadlines back,
    /// leaves it alone, so relaying never touches the set: a stale entry costs one early look.
    deadlines: Deadlines,
    codes: CodeSource,
    /// Outputs not yet taken by the driver.
    out: Outputs,
    /// The node this owner is part of, in cluster mode (`cluster.rs`).
    cluster: Option<ClusterView>,
    /// What waits for a directory answer, by token.
    awaiting: AHashMap<u64, cluster::Awaiting>,
    /// When each awaited directory request times out, oldest first.
    awaiting_until: std::collections::VecDeque<(Instant, u64)>,
    next_token: u64,
}

impl Owner {
    /// An owner with no rooms. The wall clock rooms show (`created_at`, `connected_at`) is
    /// anchored to the monotonic clock the inputs carry at this moment (see `with_clock`).
    pub fn new(index: u32, count: u32, config: Arc<Config>, metrics: Rc<ShardMetrics>) -> Self {
        let length = config.protocol.room_code_length;
        let prefix = config.server.room_code_prefix.clone();
        let codes: CodeSource =
            Box::new(move || generate_room_code(&mut rand::rng(), length, prefix.as_deref()));
        Owner {
            index,
            count,
            config,
            metrics,
            clock: WallClock::now(),
            rooms: RoomTable::default(),
            game_rooms: AHashMap::new(),
            deadlines: Deadlines::default(),
            codes,
            out: Outputs::default(),
            cluster: None,
            awaiting: AHashMap::new(),
            awaiting_until: std::collections::VecDeque::new(),
            next_token: 0,
        }
    }

    /// Replaces where room codes come from (tests script collisions with it).
    pub fn with_codes(mut self, codes: CodeSource) -> Self {
        self.codes = codes;
        self
    }

    /// Anchors the wall clock: `at` (monotonic) is `wall` (tests pin both).
    pub fn with_clock(mut self, at: Instant, wall: chrono::DateTime<chrono::Utc>) -> Self {
        self.clock = WallClock::anchored(at, wall);
        self
    }

    /// Handles one command at `now`; its outputs wait in [`Owner::poll_output`].
    pub fn handle(&mut self, now: Instant, cmd: OwnerCmd) {
        match cmd {
            OwnerCmd::CreateRoom(req) => self.reserve_room(req),
            OwnerCmd::BuildRoom(req) => self.build_room(now, *req),
            OwnerCmd::ReleaseRoom { game_name } => self.release_room(&game_name),
            OwnerCmd::JoinRoom(req) => self.join_room(now, *req),
            OwnerCmd::Spectate(req) => self.spectate(now, *req),
            OwnerCmd::Reconnect(req) => self.reconnect(now, *req),
            OwnerCmd::RoomOp {
                room_id,
                player,
                from,
                op,
            } => self.room_op(now, room_id, player, from, op),
            OwnerCmd::Relay {
                room_id,
                from,
                payload,
                received_at,
            } => self.relay(now, room_id, from, payload, received_at),
            OwnerCmd::Record { relay, raw } => self.record(now, relay, raw),
            OwnerCmd::Directory { token, reply } => self.directory_reply(now, token, reply),
            OwnerCmd::Unreachable(cmd) => self.unreachable(*cmd),
        }
    }

    /// The next output to route, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// When [`Owner::handle_timeout`] should next run: the earliest entry of the deadline set.
    /// Never later than the earliest deadline (a room's inactivity expiry,
    /// `server.inactive_room_timeout` after its last activity; a disconnected player's
    /// reconnection window; the `server.empty_room_timeout` of a room that waits for its
    /// disconnected players), but it may be earlier: activity pushes a room's deadline back
    /// without moving its entry, and the look at the old time finds nothing due and files the
    /// room under its true deadline. O(1): the set keeps its first instant at hand.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let directory = self.directory_deadline();
        match (self.deadlines.first(), directory) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires what is due at `now`, visiting only the rooms whose entries are due: reconnection
    /// windows that ran out (the seat is gone for good), rooms that waited for disconnected
    /// players longer than `server.empty_room_timeout` or have nobody left to wait for, and
    /// rooms nobody touched for `server.inactive_room_timeout`, whose members are told
    /// (`Error{ROOM_NOT_FOUND}`) and freed to join again (decision 9). A room that survives is
    /// filed again under its next deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_directory(now);
        while let Some(room_id) = self.deadlines.pop_due(now) {
            if let Some(owned) = self.rooms.by_id.get_mut(&room_id) {
                owned.wake_at = None;
                self.expire_room(now, room_id);
            }
        }
    }

    /// Expires what is due at `now` in one room, then files it under its next deadline.
    fn expire_room(&mut self, now: Instant, room_id: RoomId) {
        let timeout = self.inactivity_timeout();
        let empty_timeout = self.empty_room_timeout();
        let Some(owned) = self.rooms.by_id.get_mut(&room_id) else {
            return;
        };
        let mut expired_seats = 0i64;
        let expired = &mut owned.expired;
        owned.away.retain(|seat| {
            let open = seat.deadline > now;
            if !open {
                expired.push(seat.player);
                expired_seats += 1;
            }
            open
        });
        self.metrics
            .gauge(|g| g.reconnection_sessions_active -= expired_seats);
        if self.clock.instant_of(owned.room.last_activity()) + timeout <= now {
            self.metrics.count(|c| c.inactive_rooms_cleaned += 1);
            self.delete_room(room_id);
        } else if owned.room.is_empty()
            && (owned.away.is_empty()
                || owned.emptied_at.is_some_and(|at| at + empty_timeout <= now))
        {
            self.metrics.count(|c| c.empty_rooms_cleaned += 1);
            self.delete_room(room_id);
        } else {
            self.schedule(room_id);
        }
    }

    /// Files room `room_id` under its earliest deadline, unless its entry is already at or
    /// before it. Called whenever a deadline may have come forward.
    fn schedule(&mut self, room_id: RoomId) {
        let Some(owned) = self.rooms.by_id.get(&room_id) else {
            return;
        };
        let Some(deadline) = self.room_deadline(owned) else {
            return;
        };
        let old = owned.wake_at;
        if old.is_some_and(|at| at <= deadline) {
            return;
        }
        if let Some(at) = old {
            self.deadlines.remove(at, room_id);
        }
        self.deadlines.insert(deadline, room_id);
        if let Some(owned) = self.rooms.by_id.get_mut(&room_id) {
            owned.wake_at = Some(deadline);
        }
    }

    /// The earliest deadline of one room (see [`Owner::poll_timeout`]).
    fn room_deadline(&self, owned: &OwnedRoom) -> Option<Instant> {
        let idle = self.clock.instant_of(owned.room.last_activity()) + self.inactivity_timeout();
        let seats = owned.away.iter().map(|seat| seat.deadline);
        let empty = owned
            .emptied_at
            .filter(|_| owned.room.is_empty())
            .map(|at| at + self.empty_room_timeout());
        seats.chain(empty).chain(Some(idle)).min()
    }

    /// The disconnected players of a room this shard owns, whose seats may still be claimed.
    pub fn away_seats(&self, id: &RoomId) -> &[AwaySeat] {
        self.rooms
            .by_id
            .get(id)
            .map(|owned| owned.away.as_slice())
            .unwrap_or_default()
    }

    /// The number of the last event room `id` emitted to its members (0 before the first).
    pub fn last_seq(&self, id: &RoomId) -> Option<u64> {
        self.rooms.by_id.get(id).map(OwnedRoom::last_seq)
    }

    /// How many rooms this shard owns.
    pub fn room_count(&self) -> usize {
        self.rooms.by_id.len()
    }

    /// How many rooms this shard owns that have at least one connected player (a walk over the
    /// rooms: for draining, not for hot paths).
    pub fn occupied_room_count(&self) -> usize {
        self.rooms
            .by_id
            .values()
            .filter(|owned| !owned.room.is_empty())
            .count()
    }

    /// A room this shard owns, by id (for tests and introspection).
    pub fn room(&self, id: &RoomId) -> Option<&Room> {
        self.rooms.by_id.get(id).map(|owned| &owned.room)
    }

    /// The id of the room with this code in this game, if this shard owns it.
    pub fn room_by_code(&self, game: &str, code: &str) -> Option<RoomId> {
        self.rooms.lookup(game, code)
    }

    /// Live rooms of `game`, if this shard counts that game.
    pub fn game_room_count(&self, game: &str) -> usize {
        self.game_rooms.get(game).copied().unwrap_or(0)
    }

    fn inactivity_timeout(&self) -> Duration {
        Duration::from_secs(self.config.server.inactive_room_timeout)
    }

    /// How many recent events each room keeps for the seats of players who drop: none when
    /// reconnection is off, so relaying then costs nothing extra.
    fn history_limit(&self) -> usize {
        if self.config.server.enable_reconnection {
            self.config.server.event_buffer_size
        } else {
            0
        }
    }

    fn empty_room_timeout(&self) -> Duration {
        Duration::from_secs(self.config.server.empty_room_timeout)
    }

    /// Counts what a room event did to the buffers of disconnected players: stored copies as
    /// `reconnection.events_buffered`, pushed-out ones as `events_dropped` (decision 3: oldest
    /// dropped first and counted).
    fn count_buffered(&self, b: Buffered) {
        if b != Buffered::default() {
            self.metrics.count(|c| {
                c.events_buffered += b.stored;
                c.events_dropped += b.dropped;
            });
        }
    }

    /// On the game's counting shard: take a slot under `max_rooms_per_game`, then hand the
    /// request to the shard that will own the room.
    fn reserve_room(&mut self, mut req: Box<CreateRoom>) {
        let limit = self.config.server.max_rooms_per_game;
        self.metrics.count(|c| c.room_cap_lock_acquisitions += 1);
        let count = self.game_rooms.entry(req.game_name.clone()).or_insert(0);
        if *count >= limit {
            let current = *count;
            self.metrics.count(|c| c.room_cap_denials += 1);
            let reason = format!(
                "Game `{}` already has {current} rooms (limit {limit})",
                req.game_name
            );
            crate::log::events::limit_reached(None, "server.max_rooms_per_game", &reason);
            self.out.refuse_join(
                req.creator.addr,
                ServerMessage::join_failed(reason, ErrorCode::MaxRoomsPerGameExceeded),
            );
            return;
        }
        *count += 1;
        req.code = (self.codes)();
        let owner = room_owner(&req.game_name, &req.code, self.count);
        self.out.forward(owner, OwnerCmd::BuildRoom(req));
    }

    /// On the game's counting shard: a room of that game is gone.
    fn release_room(&mut self, game_name: &str) {
        if let Some(count) = self.game_rooms.get_mut(game_name) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.game_rooms.remove(game_name);
            }
        }
    }

    /// On the owner: create the room around its creator. A code that is already taken is
    /// regenerated (decision 7), keeping only codes that hash to this shard. In a cluster the
    /// code is claimed in the room directory first (`cluster.rs`).
    fn build_room(&mut self, now: Instant, req: CreateRoom) {
        let Some(code) = self.free_code(&req.game_name, req.code.clone()) else {
            self.give_back_slot(req.game_name);
            self.out.refuse_join(
                req.creator.addr,
                ServerMessage::join_failed(
                    "No free room code left for this game",
                    ErrorCode::RoomCreationFailed,
                ),
            );
            return;
        };
        let req = Box::new(CreateRoom { code, ..req });
        if let Err(req) = self.claim(now, req, 0) {
            self.open_room(now, *req, mint_room_id(self.index));
        }
    }

    /// `code`, or the first code drawn after it that is free here and hashes to this shard.
    fn free_code(&mut self, game: &str, mut code: String) -> Option<String> {
        let mut attempts = 0;
        while self.rooms.lookup(game, &code).is_some()
            || room_owner(game, &code, self.count) != self.index
        {
            attempts += 1;
            if attempts > CODE_ATTEMPTS {
                return None;
            }
            code = (self.codes)();
        }
        Some(code)
    }

    /// Creates room `room_id` around its creator, under `req.code` (free, and claimed when in
    /// a cluster).
    fn open_room(&mut self, now: Instant, req: CreateRoom, room_id: RoomId) {
        let code = req.code;
        if self.rooms.lookup(&req.game_name, &code).is_some() {
            // Taken here while the claim was out: only a second claim of one code by this
            // node can do that, and the directory refuses it; be safe all the same.
            self.give_back_slot(req.game_name);
            let reply =
                ServerMessage::join_failed("Room code taken", ErrorCode::RoomCreationFailed);
            self.out.refuse_join(req.creator.addr, reply);
            return;
        }
        let settings = RoomSettings {
            id: room_id,
            code: code.clone(),
            game_name: req.game_name.clone(),
            max_players: req.max_players,
            supports_authority: req.supports_authority,
            relay_type: self.config.relay_type_for(&req.game_name).to_owned(),
        };
        let wall = self.clock.wall(now);
        let mut room = Room::new(settings, wall);
        let creator = req.creator.addr;
        let creator_id = req.creator.id;
        match room.join(req.creator, wall) {
            Ok(effects) => {
                self.metrics.count(|c| c.rooms_created += 1);
                crate::log::events::room_created(room_id, &code, &req.game_name, req.max_players);
                self.metrics
                    .rooms
                    .borrow_mut()
                    .room_added(&req.game_name, 0);
                self.rooms.by_code.insert((req.game_name, code), room_id);
                let history = self.history_limit();
                self.rooms
                    .by_id
                    .insert(room_id, OwnedRoom::new(room, history));
                self.seated(room_id, 0, creator, creator_id, effects);
                self.schedule(room_id);
            }
            Err(rejection) => {
                // A fresh room refuses its creator only if the state machine disagrees with
                // the session's validation; report it rather than leave the client waiting.
                self.give_back_slot(req.game_name);
                self.out.refuse_join(creator, rejection.into_join_failed());
            }
        }
    }

    /// Returns a reserved room slot to the game's counting shard.
    fn give_back_slot(&mut self, game_name: String) {
        let to = game_owner(&game_name, self.count);
        self.out.forward(to, OwnerCmd::ReleaseRoom { game_name });
    }

    /// On the owner: join an existing room by code. Joining by code never creates a room.
    fn join_room(&mut self, now: Instant, req: JoinByCode) {
        let addr = req.joiner.addr;
        let player = req.joiner.id;
        let found = self
            .rooms
            .lookup(&req.game_name, &req.code)
            .and_then(|id| self.rooms.by_id.get_mut(&id).map(|owned| (id, owned)));
        let Some((room_id, owned)) = found else {
            // Not here: maybe on another node (`cluster.rs`), else not found.
            return self.find_elsewhere(now, OwnerCmd::JoinRoom(Box::new(req)));
        };
        // A kept seat keeps its name: the player must find it free when it comes back.
        let name = req.joiner.name.to_lowercase();
        if owned.away.iter().any(|s| s.name.to_lowercase() == name) {
            let reply = ServerMessage::join_failed(
                "Player name already exists in this room",
                ErrorCode::InvalidPlayerName,
            );
            self.out.refuse_join(addr, reply);
            return;
        }
        let before = owned.room.player_count();
        match owned.room.join(req.joiner, self.clock.wall(now)) {
            Ok(effects) => {
                // Someone is seated again: the empty-room clock stops.
                owned.emptied_at = None;
                self.metrics.count(|c| c.rooms_joined += 1);
                self.seated(room_id, before, addr, player, effects);
            }
            Err(rejection) => self.out.refuse_join(addr, rejection.into_join_failed()),
        }
    }

    /// On the owner: add a spectator.
    fn spectate(&mut self, now: Instant, req: SpectateByCode) {
        let addr = req.spectator.addr;
        let spectator = req.spectator.id;
        let found = self
            .rooms
            .lookup(&req.game_name, &req.code)
            .and_then(|id| self.rooms.by_id.get_mut(&id).map(|owned| (id, owned)));
        let Some((room_id, owned)) = found else {
            return self.find_elsewhere(now, OwnerCmd::Spectate(Box::new(req)));
        };
        match owned
            .room
            .join_spectator(req.spectator, self.clock.wall(now))
        {
            Ok(effects) => {
                owned.room.set_encoding(spectator, req.encoding);
                let room_ref = RoomRef {
                    id: room_id,
                    owner: self.index,
                };
                self.out.control(
                    addr,
                    Control::Spectating {
                        room: room_ref,
                        spectator,
                    },
                );
                let buffered = self.out.apply(owned, effects);
                self.count_buffered(buffered);
                self.publish(room_id);
            }
            Err(rejection) => {
                self.out
                    .deliver(addr, text_frame(&rejection.into_spectator_join_failed()));
                self.out.control(addr, Control::SpectateSettled);
            }
        }
    }

    /// A player took a seat in room `room_id` (which held `before` players): count it, tell the
    /// player's session where its room is, then send the room's effects. The control goes out
    /// before the `RoomJoined` frame, so the session knows its room before the client can act
    /// on the reply.
    fn seated(
        &mut self,
        room_id: RoomId,
        before: usize,
        addr: SessionAddr,
        player: PlayerId,
        effects: Effects,
    ) {
        let Some(owned) = self.rooms.by_id.get_mut(&room_id) else {
            return;
        };
        owned.seated(player);
        self.metrics.count(|c| c.tokens_issued += 1);
        let game = &owned.room.settings().game_name;
        players_moved(&self.metrics, game, before, owned.room.player_count());
        let at = RoomRef {
            id: room_id,
            owner: self.index,
        };
        self.out.control(addr, Control::Joined { room: at, player });
        let buffered = self.out.apply(owned, effects);
        self.count_buffered(buffered);
        // After `RoomJoined`: senders' shards reach the newcomer only once it knows its room.
        self.publish(room_id);
    }

    /// Removes a room, tells anyone still attached, and gives its slot back to the game.
    fn delete_room(&mut self, room_id: RoomId) {
        // First, so no shard writes the room's game data once its members are told it is gone.
        self.unpublish(room_id);
        let Some(mut owned) = self.rooms.by_id.remove(&room_id) else {
            return;
        };
        if let Some(at) = owned.wake_at.take() {
            self.deadlines.remove(at, room_id);
        }
        // Seats still waiting for their players are gone with the room.
        let waiting = owned.away.len() as i64;
        self.metrics
            .gauge(|g| g.reconnection_sessions_active -= waiting);
        owned.away.clear();
        let room = &mut owned.room;
        let game_name = room.settings().game_name.clone();
        self.metrics.count(|c| c.rooms_deleted += 1);
        crate::log::events::room_deleted(
            room_id,
            &room.settings().code,
            &game_name,
            room.player_count(),
        );
        players_moved(&self.metrics, &game_name, room.player_count(), 0);
        self.metrics.rooms.borrow_mut().room_removed(&game_name, 0);
        if let Entry::Occupied(e) = self
            .rooms
            .by_code
            .entry((game_name.clone(), room.settings().code.clone()))
        {
            e.remove();
        }
        let code = room.settings().code.clone();
        let attached: Vec<SessionAddr> = room.recipients(Audience::Everyone).collect();
        let effects = room.close();
        // Only replies to single sessions: nothing is numbered or buffered.
        self.out.apply(&mut owned, effects);
        for addr in attached {
            self.out.control(addr, Control::Detached(room_id));
        }
        self.forget_room(game_name.clone(), code, room_id);
        self.give_back_slot(game_name);
    }
}

/// Keeps the room summary, the seated-players gauge and the join/leave counters in step with a
/// room whose player count went from `before` to `after`.
fn players_moved(metrics: &ShardMetrics, game: &str, before: usize, after: usize) {
    if before == after {
        return;
    }
    metrics
        .rooms
        .borrow_mut()
        .players_changed(game, before, after);
    let delta = after as i64 - before as i64;
    metrics.gauge(|g| g.players_active += delta);
    metrics.count(|c| {
        if delta > 0 {
            c.players_joined += delta as u64;
        } else {
            c.players_left += delta.unsigned_abs();
        }
    });
}
