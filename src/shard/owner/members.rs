//! What members do in a room this shard owns: leave, ready, authority, connection info,
//! spectating, format changes, and relayed game data.

use std::time::{Duration, Instant};

use super::super::event_id::Delivered;
use super::super::mailbox::Control;
use super::super::messages::{RelayPayload, RoomOp};
use super::seats::{AwaySeat, Buffered, Missed, MissedEvents};
use super::{Owner, players_moved};
use crate::protocol::binary::{encode_binary_envelope, msgpack_to_json};
use crate::protocol::codec::encode_game_data;
use crate::protocol::frame::{frame_from_json, text_frame};
use crate::protocol::{Frame, GameDataEncoding, PlayerId, RoomId};
use crate::room::{LeaveKind, SessionAddr, not_in_room_authority_response, not_in_room_error};

impl Owner {
    /// On the owner: an operation by a member (or former member) of one of our rooms.
    pub(super) fn room_op(
        &mut self,
        now: Instant,
        room_id: RoomId,
        player: PlayerId,
        from: SessionAddr,
        op: RoomOp,
    ) {
        let wall = self.clock.wall(now);
        let Some(owned) = self.rooms.by_id.get_mut(&room_id) else {
            self.stale_member(from, room_id, op);
            return;
        };
        let room = &mut owned.room;
        let effects = match op {
            RoomOp::Leave(kind) => {
                self.leave(now, room_id, player, from, kind, None);
                return;
            }
            RoomOp::Dropped { delivered, closing } => {
                let kind = LeaveKind::Disconnected;
                self.leave(now, room_id, player, from, kind, Some((delivered, closing)));
                return;
            }
            RoomOp::Closed { delivered } => {
                if let Some(seat) = owned.away.iter_mut().find(|s| s.player == player) {
                    seat.missed.forget_delivered(&delivered);
                    seat.closing = false;
                }
                return;
            }
            RoomOp::Encoding(encoding, replies) => {
                room.set_encoding(player, encoding);
                for reply in replies {
                    self.out.deliver(from, reply);
                }
                self.publish(room_id);
                return;
            }
            RoomOp::StopSpectating(reason) => {
                let effects = room.leave_spectator(player, reason);
                // Before the spectator is answered: no shard writes it the room's game data
                // after that.
                self.publish(room_id);
                let Some(owned) = self.rooms.by_id.get_mut(&room_id) else {
                    return;
                };
                let buffered = self.out.apply(owned, effects);
                self.count_buffered(buffered);
                self.out.control(from, Control::SpectateSettled);
                return;
            }
            _ if !room.contains(player) => {
                self.stale_member(from, room_id, op);
                return;
            }
            RoomOp::Ready => room.toggle_ready(player, wall),
            RoomOp::Authority(become_authority) => {
                let before = room.authority();
                let effects = room.request_authority(player, become_authority, wall);
                if room.authority() != before {
                    self.metrics.count(|c| c.authority_transfers += 1);
                }
                effects
            }
            RoomOp::ConnectionInfo(info) => room.set_connection_info(player, *info, wall),
        };
        let buffered = self.out.apply(owned, effects);
        self.count_buffered(buffered);
    }

    /// A player leaves room `room_id`. When its connection dropped (`dropped`: the number of
    /// the last room event that left whole, and whether the socket is still closing) and
    /// reconnection is on, the others still
    /// see `PlayerLeft` at once, but the player's seat is kept aside for
    /// `server.reconnection_window`, claimable with its token, its buffer holding every room
    /// event the player was not written. The room is deleted when its last player is out and
    /// nobody may come back; otherwise it waits (bounded by `server.empty_room_timeout`).
    pub(super) fn leave(
        &mut self,
        now: Instant,
        room_id: RoomId,
        player: PlayerId,
        from: SessionAddr,
        kind: LeaveKind,
        dropped: Option<(Delivered, bool)>,
    ) {
        let wall = self.clock.wall(now);
        let window = Duration::from_secs(self.config.server.reconnection_window);
        let keep_seat = kind == LeaveKind::Disconnected && self.config.server.enable_reconnection;
        let limit = self.config.server.event_buffer_size;
        let Some(owned) = self.rooms.by_id.get_mut(&room_id) else {
            return;
        };
        // What the kept seat remembers, read before the room forgets the player.
        let kept = dropped
            .filter(|_| keep_seat)
            .and_then(|(delivered, closing)| {
                Some((owned.room.seat_of(player)?, delivered, closing))
            })
            .map(|((name, token), delivered, closing)| {
                let seat = AwaySeat {
                    player,
                    name: name.to_owned(),
                    token: token.to_owned(),
                    held_authority: owned.room.authority() == Some(player),
                    deadline: now + window,
                    closing,
                    missed: MissedEvents::new(limit, 0, Delivered::none()),
                };
                (seat, delivered)
            });
        let before_leave = owned.last_seq();
        let before = owned.room.player_count();
        let effects = owned.room.leave(player, kind, wall);
        owned.owner_routed.retain(|p| *p != player);
        players_moved(
            &self.metrics,
            &owned.room.settings().game_name,
            before,
            owned.room.player_count(),
        );
        // Before the leaver is answered: no shard writes it the room's game data after that.
        self.publish(room_id);
        let Some(owned) = self.rooms.by_id.get_mut(&room_id) else {
            return;
        };
        let mut buffered = self.out.apply(owned, effects);
        self.out.control(from, Control::Left);
        match kept {
            Some((seat, delivered)) => {
                let b = owned.keep_seat(seat, &delivered, before_leave);
                buffered.stored += b.stored;
                buffered.dropped += b.dropped;
                self.metrics.gauge(|g| g.reconnection_sessions_active += 1);
            }
            None => owned.unseated(player),
        }
        // Spectators alone do not keep a room; disconnected players who may come back do.
        let empty = owned.room.is_empty();
        let nobody_to_wait_for = owned.away.is_empty();
        if empty && owned.emptied_at.is_none() {
            owned.emptied_at = Some(now);
        }
        self.count_buffered(buffered);
        if empty && nobody_to_wait_for {
            self.delete_room(room_id);
        } else {
            // A kept seat's window or the empty-room clock may now fall first.
            self.schedule(room_id);
        }
    }

    /// Answers an operation aimed at a room that no longer lists the sender, and makes the
    /// sender forget the room.
    fn stale_member(&mut self, from: SessionAddr, room_id: RoomId, op: RoomOp) {
        let reply = match op {
            RoomOp::Leave(_) | RoomOp::Dropped { .. } => {
                self.out.control(from, Control::Left);
                return;
            }
            RoomOp::Closed { .. } => return,
            RoomOp::StopSpectating(_) => {
                self.out.control(from, Control::SpectateSettled);
                return;
            }
            RoomOp::Encoding(_, replies) => {
                for reply in replies {
                    self.out.deliver(from, reply);
                }
                return;
            }
            RoomOp::Authority(_) => not_in_room_authority_response(),
            RoomOp::Ready | RoomOp::ConnectionInfo(_) => not_in_room_error(),
        };
        self.out.deliver(from, text_frame(&reply));
        self.out.control(from, Control::Detached(room_id));
    }

    /// On the owner: fan game data out to everyone in the room but the sender. One frame per
    /// encoding, built at most once.
    pub(super) fn relay(
        &mut self,
        now: Instant,
        room_id: RoomId,
        from: PlayerId,
        payload: RelayPayload,
        received_at: Instant,
    ) {
        let Some(owned) = self.rooms.by_id.get_mut(&room_id) else {
            return;
        };
        if !owned.room.contains(from) {
            return;
        }
        // Game data is a room event like any other: it takes the next number and is kept for
        // the disconnected players (the sender is seated, so never among them).
        let event = match payload {
            RelayPayload::Json(frame) => Missed::Frame(frame_from_json(frame)),
            RelayPayload::MessagePack(raw) => Missed::MessagePack { from, raw },
        };
        let buffered = owned.emit(None, || event.clone());
        if buffered != Buffered::default() {
            self.metrics.count(|c| {
                c.events_buffered += buffered.stored;
                c.events_dropped += buffered.dropped;
            });
        }
        let id = owned.last_event();
        let room = &mut owned.room;
        room.touch(self.clock.wall(now));
        self.metrics.count(|c| c.game_data_messages += 1);
        let relayed_at = Some(received_at);
        match event {
            Missed::Frame(frame) => {
                self.out.fanout(
                    room.relay_targets(from).map(|(addr, _)| addr),
                    &frame,
                    relayed_at,
                    id,
                );
            }
            Missed::MessagePack { raw, .. } => {
                let envelope = Frame::Binary(encode_binary_envelope(&from, &raw));
                self.out.fanout(
                    room.relay_targets(from)
                        .filter(|(_, enc)| *enc == GameDataEncoding::MessagePack)
                        .map(|(addr, _)| addr),
                    &envelope,
                    relayed_at,
                    id,
                );
                // JSON clients get the payload converted; undecodable payloads reach only the
                // MessagePack clients, as in 0.1.0.
                let has_json = room
                    .relay_targets(from)
                    .any(|(_, enc)| enc != GameDataEncoding::MessagePack);
                if has_json && let Some(json) = msgpack_to_json(&raw) {
                    let text = frame_from_json(encode_game_data(&from, &json));
                    self.out.fanout(
                        room.relay_targets(from)
                            .filter(|(_, enc)| *enc != GameDataEncoding::MessagePack)
                            .map(|(addr, _)| addr),
                        &text,
                        relayed_at,
                        id,
                    );
                }
            }
        }
    }
}
