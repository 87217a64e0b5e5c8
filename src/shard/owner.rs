//! The owner side: rooms this shard owns and the per-game room counts it keeps. Handlers run
//! the pure room state machine and turn its effects into deliveries.

use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::time::Instant;

use ahash::AHashMap;
use chrono::{DateTime, Utc};

use super::messages::{CreateRoom, JoinByCode, RelayPayload, RoomOp, ShardMsg, SpectateByCode};
use super::routing::{game_owner, mint_room_id, room_owner};
use super::{Shard, frame_from_json, text_frame};
use crate::auth::{AuthOutcome, authenticate};
use crate::limits::JoinKind;
use crate::protocol::binary::{encode_binary_envelope, msgpack_to_json};
use crate::protocol::client;
use crate::protocol::codec::encode_game_data;
use crate::protocol::room_code::generate_room_code;
use crate::protocol::{ErrorCode, GameDataEncoding, PlayerId, RoomId, ServerMessage};
use crate::room::{
    Audience, Effects, Rejection, Room, RoomSettings, SessionAddr, not_in_room_authority_response,
    not_in_room_error,
};
use crate::session::mailbox::{Control, Frame, RoomRef};

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
            ShardMsg::Authenticate { req, from } => self.authenticate(*req, from),
            ShardMsg::AdmitConnection { ip, from } => self.admit_connection(ip, from),
            ShardMsg::ReleaseConnection { ip } => self.ips.borrow_mut().release(ip),
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

    /// On the app's owner: decide an `Authenticate`, so the app's per-minute window is one
    /// window for the whole process.
    fn authenticate(&self, req: client::Authenticate, from: SessionAddr) {
        let outcome = authenticate(
            &self.config,
            &req,
            &mut self.app_limiter.borrow_mut(),
            Instant::now(),
        );
        match outcome {
            AuthOutcome::Accepted {
                encoding, replies, ..
            } => {
                let replies = replies.iter().map(text_frame).collect();
                self.control(from, Control::Authenticated { encoding, replies });
            }
            AuthOutcome::Rejected { reply, close } => {
                if let ServerMessage::AuthenticationError(err) = &reply
                    && err.error_code == ErrorCode::RateLimitExceeded
                {
                    self.metrics.count(|c| c.rate_limit_rejections += 1);
                }
                self.deliver(from, text_frame(&reply));
                self.control(from, Control::AuthRefused { close });
            }
        }
    }

    /// On the IP's owner: admit a new connection under `security.max_connections_per_ip`.
    fn admit_connection(&self, ip: IpAddr, from: SessionAddr) {
        let limit = self.config.security.max_connections_per_ip;
        let verdict = self.ips.borrow_mut().admit(ip, limit, Instant::now());
        match verdict {
            Ok(()) => self.control(from, Control::Admitted { ip }),
            Err(current) => {
                self.metrics.count(|c| c.connection_errors += 1);
                self.control(from, Control::ConnectionRefused { current });
            }
        }
    }

    /// On the IP's owner: charge a valid `JoinRoom` to the IP's quota and pass it on, or
    /// refuse it.
    fn join_quota(&self, ip: IpAddr, kind: JoinKind, from: SessionAddr, next: u32, then: ShardMsg) {
        let verdict =
            self.ips
                .borrow_mut()
                .take_quota(ip, kind, &self.config.rate_limit, Instant::now());
        match verdict {
            Ok(()) => self.send(next, then),
            Err(exceeded) => {
                self.metrics.count(|c| c.rate_limit_rejections += 1);
                self.refuse_join(
                    from,
                    ServerMessage::join_failed(exceeded.reason, ErrorCode::RateLimitExceeded),
                );
            }
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

    /// On the owner: an operation by a member (or former member) of one of our rooms.
    fn room_op(&self, room_id: RoomId, player: PlayerId, from: SessionAddr, op: RoomOp) {
        let now = Utc::now();
        let mut rooms = self.rooms.borrow_mut();
        let Some(room) = rooms.by_id.get_mut(&room_id) else {
            drop(rooms);
            self.stale_member(from, room_id, &op);
            return;
        };
        let effects = match op {
            RoomOp::Leave(kind) => {
                let before = room.player_count();
                let effects = room.leave(player, kind, now);
                self.players_moved(&room.settings().game_name, before, room.player_count());
                self.apply(room, effects);
                self.control(from, Control::Left);
                let empty = room.player_count() == 0;
                drop(rooms);
                if empty {
                    self.delete_room(room_id);
                }
                return;
            }
            RoomOp::Encoding(encoding, replies) => {
                room.set_encoding(player, encoding);
                drop(rooms);
                for reply in replies {
                    self.deliver(from, reply);
                }
                return;
            }
            RoomOp::StopSpectating(reason) => {
                let effects = room.leave_spectator(player, reason);
                self.apply(room, effects);
                self.control(from, Control::SpectateSettled);
                return;
            }
            _ if !room.contains(player) => {
                drop(rooms);
                self.stale_member(from, room_id, &op);
                return;
            }
            RoomOp::Ready => room.toggle_ready(player, now),
            RoomOp::Authority(become_authority) => {
                let before = room.authority();
                let effects = room.request_authority(player, become_authority, now);
                if room.authority() != before {
                    self.metrics.count(|c| c.authority_transfers += 1);
                }
                effects
            }
            RoomOp::ConnectionInfo(info) => room.set_connection_info(player, *info, now),
        };
        self.apply(room, effects);
    }

    /// Answers an operation aimed at a room that no longer lists the sender, and makes the
    /// sender forget the room.
    fn stale_member(&self, from: SessionAddr, room_id: RoomId, op: &RoomOp) {
        let reply = match op {
            RoomOp::Leave(_) => {
                self.control(from, Control::Left);
                return;
            }
            RoomOp::StopSpectating(_) => {
                self.control(from, Control::SpectateSettled);
                return;
            }
            RoomOp::Encoding(_, replies) => {
                for reply in replies {
                    self.deliver(from, reply.clone());
                }
                return;
            }
            RoomOp::Authority(_) => not_in_room_authority_response(),
            RoomOp::Ready | RoomOp::ConnectionInfo(_) => not_in_room_error(),
        };
        self.deliver(from, text_frame(&reply));
        self.control(from, Control::Detached(room_id));
    }

    /// On the owner: fan game data out to everyone in the room but the sender. One frame per
    /// encoding, built at most once.
    fn relay(&self, room_id: RoomId, from: PlayerId, payload: RelayPayload, received_at: Instant) {
        let mut rooms = self.rooms.borrow_mut();
        let Some(room) = rooms.by_id.get_mut(&room_id) else {
            return;
        };
        if !room.contains(from) {
            return;
        }
        room.touch(Utc::now());
        self.metrics.count(|c| c.game_data_messages += 1);
        let relayed_at = Some(received_at);
        match payload {
            RelayPayload::Json(frame) => {
                let frame = frame_from_json(frame);
                self.fanout(
                    room.relay_targets(from).map(|(addr, _)| addr),
                    &frame,
                    relayed_at,
                );
            }
            RelayPayload::MessagePack(raw) => {
                let envelope = Frame::Binary(encode_binary_envelope(&from, &raw));
                self.fanout(
                    room.relay_targets(from)
                        .filter(|(_, enc)| *enc == GameDataEncoding::MessagePack)
                        .map(|(addr, _)| addr),
                    &envelope,
                    relayed_at,
                );
                // JSON clients get the payload converted; undecodable payloads reach only the
                // MessagePack clients, as in 0.1.0.
                let has_json = room
                    .relay_targets(from)
                    .any(|(_, enc)| enc != GameDataEncoding::MessagePack);
                if has_json && let Some(json) = msgpack_to_json(&raw) {
                    let text = frame_from_json(encode_game_data(&from, &json));
                    self.fanout(
                        room.relay_targets(from)
                            .filter(|(_, enc)| *enc != GameDataEncoding::MessagePack)
                            .map(|(addr, _)| addr),
                        &text,
                        relayed_at,
                    );
                }
            }
        }
    }

    /// Sends a room's effects: each message serialised once, then delivered to its audience.
    fn apply(&self, room: &Room, effects: Effects) {
        for out in effects {
            let frame = text_frame(&out.msg);
            match out.to {
                Audience::Session(addr) => self.deliver(addr, frame),
                audience => self.fanout(room.recipients(audience), &frame, None),
            }
        }
    }

    /// Removes a room, tells anyone still attached, and gives its slot back to the game.
    fn delete_room(&self, room_id: RoomId) {
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
    fn refuse_join(&self, to: SessionAddr, reply: ServerMessage) {
        self.deliver(to, text_frame(&reply));
        self.control(to, Control::JoinRefused);
    }

    /// Keeps the room summary, the seated-players gauge and the join/leave counters in step
    /// with a room whose player count went from `before` to `after`.
    fn players_moved(&self, game: &str, before: usize, after: usize) {
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
