//! What members do in a room this shard owns: leave, ready, authority, connection info,
//! spectating, format changes, and relayed game data.

use std::time::Instant;

use super::super::mailbox::Control;
use super::super::messages::{RelayPayload, RoomOp};
use super::{Owner, players_moved};
use crate::protocol::binary::{encode_binary_envelope, msgpack_to_json};
use crate::protocol::codec::encode_game_data;
use crate::protocol::frame::{frame_from_json, text_frame};
use crate::protocol::{Frame, GameDataEncoding, PlayerId, RoomId};
use crate::room::{SessionAddr, not_in_room_authority_response, not_in_room_error};

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
        let Some(room) = self.rooms.by_id.get_mut(&room_id) else {
            self.stale_member(from, room_id, op);
            return;
        };
        let effects = match op {
            RoomOp::Leave(kind) => {
                let before = room.player_count();
                let effects = room.leave(player, kind, wall);
                players_moved(
                    &self.metrics,
                    &room.settings().game_name,
                    before,
                    room.player_count(),
                );
                self.out.apply(room, effects);
                self.out.control(from, Control::Left);
                // The last player out deletes the room (spectators alone do not keep it).
                if room.player_count() == 0 {
                    self.delete_room(room_id);
                }
                return;
            }
            RoomOp::Encoding(encoding, replies) => {
                room.set_encoding(player, encoding);
                for reply in replies {
                    self.out.deliver(from, reply);
                }
                return;
            }
            RoomOp::StopSpectating(reason) => {
                let effects = room.leave_spectator(player, reason);
                self.out.apply(room, effects);
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
        self.out.apply(room, effects);
    }

    /// Answers an operation aimed at a room that no longer lists the sender, and makes the
    /// sender forget the room.
    fn stale_member(&mut self, from: SessionAddr, room_id: RoomId, op: RoomOp) {
        let reply = match op {
            RoomOp::Leave(_) => {
                self.out.control(from, Control::Left);
                return;
            }
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
        let Some(room) = self.rooms.by_id.get_mut(&room_id) else {
            return;
        };
        if !room.contains(from) {
            return;
        }
        room.touch(self.clock.wall(now));
        self.metrics.count(|c| c.game_data_messages += 1);
        let relayed_at = Some(received_at);
        match payload {
            RelayPayload::Json(frame) => {
                let frame = frame_from_json(frame);
                self.out.fanout(
                    room.relay_targets(from).map(|(addr, _)| addr),
                    &frame,
                    relayed_at,
                );
            }
            RelayPayload::MessagePack(raw) => {
                let envelope = Frame::Binary(encode_binary_envelope(&from, &raw));
                self.out.fanout(
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
                    self.out.fanout(
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
}
