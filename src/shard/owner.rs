//! The owner side: rooms this shard owns and the per-game room counts it keeps — creating,
//! joining, spectating and deleting rooms. Handlers run the pure room state machine and turn
//! its effects into deliveries. Member operations are in `members.rs`, admission in
//! `gatekeeper.rs`.

use std::collections::hash_map::Entry;

use ahash::AHashMap;
use chrono::{DateTime, Utc};

use super::messages::{CreateRoom, JoinByCode, ShardMsg, SpectateByCode};
use super::routing::{game_owner, mint_room_id, room_owner};
use super::{Shard, text_frame};
use crate::protocol::room_code::generate_room_code;
use crate::protocol::{ErrorCode, PlayerId, RoomId, ServerMessage};
use crate::room::{Audience, Effects, Rejection, Room, RoomSettings, SessionAddr};
use crate::session::mailbox::{Control, RoomRef};

/// Rooms owned by one shard, by id and by `(game, code)`.
#[derive(Default)]
pub struct RoomTable {
    by_id: AHashMap<RoomId, Room>,
    by_code: AHashMap<(String, String), RoomId>,
}

impl RoomTable {
    fn lookup(&self, game: &str, code: &str) -> Option<RoomId> {
        // Lookups are rare next to relays; building the owned key is fine here.
        self.by_code
            .get(&(game.to_owned(), code.to_owned()))
            .copied()
    }

    /// A room by id.
    pub fn get_mut(&mut self, id: &RoomId) -> Option<&mut Room> {
        self.by_id.get_mut(id)
    }

    /// How many rooms this shard owns.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// Attempts at finding a free code that also hashes to this shard before giving up.
const CODE_ATTEMPTS: usize = 10_000;

impl Shard {
    pub(super) fn handle_owner_msg(&self, msg: ShardMsg) {
        match msg {
            ShardMsg::CreateRoom(req) => self.reserve_room(req),
            ShardMsg::BuildRoom(req) => self.build_room(*req),
            ShardMsg::ReleaseRoom { game_name } => self.release_room(&game_name),
            ShardMsg::JoinRoom(req) => self.join_room(*req),
            ShardMsg::Spectate(req) => self.spectate(*req),
            ShardMsg::RoomOp {
                room_id,
                player,
                from,
                op,
            } => self.room_op(room_id, player, from, op),
            ShardMsg::Relay {
                room_id,
                from,
                payload,
                received_at,
            } => self.relay(room_id, from, payload, received_at),
            ShardMsg::Authenticate { req, ip, from } => self.authenticate(*req, ip, from),
            ShardMsg::AdmitConnection { ip, from } => self.admit_connection(ip, from),
            ShardMsg::ReleaseConnection { ip } => self.ips.borrow_mut().release(ip),
            ShardMsg::ReleaseRefusal { ip } => self.ips.borrow_mut().release_refusal(ip),
            ShardMsg::JoinQuota {
                ip,
                kind,
                from,
                next,
                then,
            } => self.join_quota(ip, kind, from, next, *then),
            ShardMsg::MetricsRequest {
                reply_to,
                request_id,
            } => self.answer_scrape(reply_to, request_id),
            ShardMsg::MetricsReply { request_id, report } => self.file_report(request_id, *report),
            ShardMsg::Deliver { .. } | ShardMsg::Control { .. } => self.dispatch_local(msg),
        }
    }

    /// On the game's counting shard: take a slot under `max_rooms_per_game`, then hand the
    /// request to the shard that will own the room.
    fn reserve_room(&self, mut req: Box<CreateRoom>) {
        let limit = self.config.server.max_rooms_per_game;
        self.metrics.count(|c| c.room_cap_lock_acquisitions += 1);
        {
            let mut games = self.game_rooms.borrow_mut();
            let count = games.entry(req.game_name.clone()).or_insert(0);
            if *count >= limit {
                let current = *count;
                drop(games);
                self.metrics.count(|c| c.room_cap_denials += 1);
                let reason = format!(
                    "Game `{}` already has {current} rooms (limit {limit})",
                    req.game_name
                );
                self.refuse_join(
                    req.creator.addr,
                    ServerMessage::join_failed(reason, ErrorCode::MaxRoomsPerGameExceeded),
                );
                return;
            }
            *count += 1;
        }
        req.code = self.random_code();
        let owner = room_owner(&req.game_name, &req.code, self.count);
        self.send(owner, ShardMsg::BuildRoom(req));
    }

    /// On the game's counting shard: a room of that game is gone.
    fn release_room(&self, game_name: &str) {
        let mut games = self.game_rooms.borrow_mut();
        if let Some(count) = games.get_mut(game_name) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                games.remove(game_name);
            }
        }
    }

    fn random_code(&self) -> String {
        generate_room_code(
            &mut rand::rng(),
            self.config.protocol.room_code_length,
            self.config.server.room_code_prefix.as_deref(),
        )
    }

    /// On the owner: create the room around its creator. A code that is already taken is
    /// regenerated (decision 7), keeping only codes that hash to this shard.
    fn build_room(&self, req: CreateRoom) {
        let mut code = req.code;
        let mut attempts = 0;
        while self.rooms.borrow().lookup(&req.game_name, &code).is_some()
            || room_owner(&req.game_name, &code, self.count) != self.index
        {
            attempts += 1;
            if attempts > CODE_ATTEMPTS {
                self.give_back_slot(req.game_name);
                self.refuse_join(
                    req.creator.addr,
                    ServerMessage::join_failed(
                        "No free room code left for this game",
                        ErrorCode::RoomCreationFailed,
                    ),
                );
                return;
            }
            code = self.random_code();
        }
        let room_id = mint_room_id(self.index);
        let settings = RoomSettings {
            id: room_id,
            code: code.clone(),
            game_name: req.game_name.clone(),
            max_players: req.max_players,
            supports_authority: req.supports_authority,
            relay_type: self.config.relay_type_for(&req.game_name).to_owned(),
        };
        let now = Utc::now();
        let mut room = Room::new(settings, now);
        let creator = req.creator.addr;
        let creator_id = req.creator.id;
        match room.join(req.creator, now) {
            Ok(effects) => {
                self.metrics.count(|c| c.rooms_created += 1);
                self.metrics
                    .rooms
                    .borrow_mut()
                    .room_added(&req.game_name, 0);
                let mut rooms = self.rooms.borrow_mut();
                rooms.by_code.insert((req.game_name, code), room_id);
                let room = rooms.by_id.entry(room_id).or_insert(room);
                self.seated(room, 0, creator, creator_id, effects);
            }
            Err(rejection) => {
                // A fresh room refuses its creator only if the state machine disagrees with
                // the session's validation; report it rather than leave the client waiting.
                self.give_back_slot(req.game_name);
                self.refuse_join(creator, rejection.into_join_failed());
            }
        }
    }

    /// A player took a seat in `room` (which held `before` players): count it, tell the
    /// player's session where its room is, then send the room's effects.
    fn seated(
        &self,
        room: &Room,
        before: usize,
        addr: SessionAddr,
        player: PlayerId,
        effects: Effects,
    ) {
        self.metrics.count(|c| c.tokens_issued += 1);
        self.players_moved(&room.settings().game_name, before, room.player_count());
        let at = RoomRef {
            id: room.settings().id,
            owner: self.index,
        };
        self.control(addr, Control::Joined { room: at, player });
        self.apply(room, effects);
    }

    /// Returns a reserved room slot to the game's counting shard.
    fn give_back_slot(&self, game_name: String) {
        self.send(
            game_owner(&game_name, self.count),
            ShardMsg::ReleaseRoom { game_name },
        );
    }

    /// On the owner: join an existing room by code. Joining by code never creates a room.
    fn join_room(&self, req: JoinByCode) {
        let addr = req.joiner.addr;
        let player = req.joiner.id;
        let mut rooms = self.rooms.borrow_mut();
        let Some(room_id) = rooms.lookup(&req.game_name, &req.code) else {
            drop(rooms);
            self.refuse_join(
                addr,
                ServerMessage::join_failed("Room not found", ErrorCode::RoomNotFound),
            );
            return;
        };
        let Some(room) = rooms.by_id.get_mut(&room_id) else {
            return;
        };
        let before = room.player_count();
        match room.join(req.joiner, Utc::now()) {
            Ok(effects) => {
                self.metrics.count(|c| c.rooms_joined += 1);
                self.seated(room, before, addr, player, effects);
            }
            Err(rejection) => {
                drop(rooms);
                self.refuse_join(addr, rejection.into_join_failed());
            }
        }
    }

    /// On the owner: add a spectator.
    fn spectate(&self, req: SpectateByCode) {
        let addr = req.spectator.addr;
        let spectator = req.spectator.id;
        let mut rooms = self.rooms.borrow_mut();
        let room = rooms
            .lookup(&req.game_name, &req.code)
            .and_then(|id| rooms.by_id.get_mut(&id).map(|room| (id, room)));
        match room {
            None => {
                drop(rooms);
                let refusal = Rejection::new("Room not found", ErrorCode::RoomNotFound);
                self.deliver(addr, text_frame(&refusal.into_spectator_join_failed()));
                self.control(addr, Control::SpectateSettled);
            }
            Some((room_id, room)) => match room.join_spectator(req.spectator, Utc::now()) {
                Ok(effects) => {
                    room.set_encoding(spectator, req.encoding);
                    self.control(
                        addr,
                        Control::Spectating {
                            room: RoomRef {
                                id: room_id,
                                owner: self.index,
                            },
                            spectator,
                        },
                    );
                    self.apply(room, effects);
                }
                Err(rejection) => {
                    drop(rooms);
                    self.deliver(addr, text_frame(&rejection.into_spectator_join_failed()));
                    self.control(addr, Control::SpectateSettled);
                }
            },
        }
    }

    /// Sends a room's effects: each message serialised once, then delivered to its audience.
    pub(super) fn apply(&self, room: &Room, effects: Effects) {
        for out in effects {
            let frame = text_frame(&out.msg);
            match out.to {
                Audience::Session(addr) => self.deliver(addr, frame),
                audience => self.fanout(room.recipients(audience), &frame, None),
            }
        }
    }

    /// Removes a room, tells anyone still attached, and gives its slot back to the game.
    pub(super) fn delete_room(&self, room_id: RoomId) {
        let mut rooms = self.rooms.borrow_mut();
        let Some(mut room) = rooms.by_id.remove(&room_id) else {
            return;
        };
        let game_name = room.settings().game_name.clone();
        self.metrics.count(|c| c.rooms_deleted += 1);
        self.players_moved(&game_name, room.player_count(), 0);
        self.metrics.rooms.borrow_mut().room_removed(&game_name, 0);
        if let Entry::Occupied(e) = rooms
            .by_code
            .entry((game_name.clone(), room.settings().code.clone()))
        {
            e.remove();
        }
        drop(rooms);
        let attached: Vec<SessionAddr> = room.recipients(Audience::Everyone).collect();
        let effects = room.close();
        self.apply(&room, effects);
        for addr in attached {
            self.control(addr, Control::Detached(room_id));
        }
        self.give_back_slot(game_name);
    }

    /// Refuses a pending join: the reply, then the control that lets the session read again.
    pub(super) fn refuse_join(&self, to: SessionAddr, reply: ServerMessage) {
        self.deliver(to, text_frame(&reply));
        self.control(to, Control::JoinRefused);
    }

    /// Keeps the room summary, the seated-players gauge and the join/leave counters in step
    /// with a room whose player count went from `before` to `after`.
    pub(super) fn players_moved(&self, game: &str, before: usize, after: usize) {
        if before == after {
            return;
        }
        self.metrics
            .rooms
            .borrow_mut()
            .players_changed(game, before, after);
        let delta = after as i64 - before as i64;
        self.metrics.gauge(|g| g.players_active += delta);
        self.metrics.count(|c| {
            if delta > 0 {
                c.players_joined += delta as u64;
            } else {
                c.players_left += delta.unsigned_abs();
            }
        });
    }

    /// Deletes rooms nobody has touched for `server.inactive_room_timeout` seconds; their
    /// members are told (`Error{ROOM_NOT_FOUND}`) and freed to join again (decision 9).
    pub fn expire_inactive_rooms(&self, now: DateTime<Utc>) {
        let timeout = chrono::Duration::seconds(
            i64::try_from(self.config.server.inactive_room_timeout).unwrap_or(i64::MAX),
        );
        let expired: Vec<RoomId> = self
            .rooms
            .borrow()
            .by_id
            .iter()
            .filter(|(_, room)| now.signed_duration_since(room.last_activity()) > timeout)
            .map(|(id, _)| *id)
            .collect();
        for room_id in expired {
            self.metrics.count(|c| c.inactive_rooms_cleaned += 1);
            self.delete_room(room_id);
        }
    }

    /// Rooms owned here.
    pub fn owned_rooms(&self) -> usize {
        self.rooms.borrow().len()
    }
}
