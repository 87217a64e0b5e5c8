//! `Reconnect` on the room's owner (spec decision 3, protocol §4.8): a disconnected player
//! takes its kept seat back, with its old id and name, a fresh token and every event it missed.

use std::time::Instant;

use subtle::ConstantTimeEq;

use super::super::mailbox::{Control, RoomRef};
use super::super::messages::{OwnerCmd, Rejoin};
use super::{Owner, players_moved};
use crate::protocol::server::ReconnectionFailed;
use crate::protocol::{ErrorCode, ServerMessage};
use crate::room::Joiner;

impl Owner {
    /// Checks, in order: the room exists; the player is not seated already (a second claim
    /// with the same token finds it back, so two racing claims succeed once); a seat is kept
    /// for it (or its window ran out); the token matches (compared in constant time); the old
    /// socket is no longer being closed (else it still counts as connected); the window is
    /// still open; there is a free seat. Then seats it again.
    pub(super) fn reconnect(&mut self, now: Instant, req: Rejoin) {
        let wall = self.clock.wall(now);
        let budget = self.replay_budget();
        let Some(owned) = self.rooms.by_id.get_mut(&req.room_id) else {
            // Not here: maybe on another node (`cluster.rs`), else gone.
            return self.find_elsewhere(now, OwnerCmd::Reconnect(Box::new(req)));
        };
        if owned.room.contains(req.player) {
            let reason = "Player is already connected";
            return self.refuse_reconnect(req, reason, ErrorCode::PlayerAlreadyConnected);
        }
        let Some(index) = owned.away.iter().position(|s| s.player == req.player) else {
            self.metrics
                .count(|c| c.reconnection_validations_failed += 1);
            let (reason, code) = if owned.expired.contains(&req.player) {
                (
                    "Reconnection window has expired",
                    ErrorCode::ReconnectionExpired,
                )
            } else {
                (
                    "No disconnection record found",
                    ErrorCode::ReconnectionFailed,
                )
            };
            return self.refuse_reconnect(req, reason, code);
        };
        let seat = &owned.away[index];
        let token_matches: bool = seat.token.as_bytes().ct_eq(req.token.as_bytes()).into();
        if !token_matches {
            self.metrics
                .count(|c| c.reconnection_validations_failed += 1);
            let reason = "Invalid reconnection token";
            return self.refuse_reconnect(req, reason, ErrorCode::ReconnectionTokenInvalid);
        }
        if seat.closing {
            // The old socket is still being closed and may yet deliver some of the buffered
            // events: claiming now could replay those twice.
            let reason = "Player is already connected";
            return self.refuse_reconnect(req, reason, ErrorCode::PlayerAlreadyConnected);
        }
        if seat.deadline <= now {
            // Due, but the timer has not run yet: it expires now.
            owned.away.swap_remove(index);
            owned.expired.push(req.player);
            self.metrics.gauge(|g| g.reconnection_sessions_active -= 1);
            self.metrics
                .count(|c| c.reconnection_validations_failed += 1);
            let reason = "Reconnection window has expired";
            return self.refuse_reconnect(req, reason, ErrorCode::ReconnectionExpired);
        }
        let seat = owned.away.remove(index);
        let joiner = Joiner {
            id: seat.player,
            name: seat.name.clone(),
            addr: req.addr,
            encoding: req.encoding,
            reconnection_token: req.new_token.clone(),
        };
        let before = owned.room.player_count();
        let (missed, too_many) = seat.missed.replay(budget);
        if too_many > 0 {
            self.metrics.count(|c| c.events_dropped += too_many);
        }
        match owned.room.rejoin(joiner, seat.held_authority, missed, wall) {
            Ok(effects) => {
                owned.emptied_at = None;
                owned.seated(seat.player);
                // Senders' shards may still write to the old address for a moment: the owner
                // serves this player from now on (`replica.rs`).
                if !owned.owner_routed.contains(&seat.player) {
                    owned.owner_routed.push(seat.player);
                }
                let game = &owned.room.settings().game_name;
                players_moved(&self.metrics, game, before, owned.room.player_count());
                self.metrics.gauge(|g| g.reconnection_sessions_active -= 1);
                self.metrics.count(|c| {
                    c.reconnection_completions += 1;
                    c.tokens_issued += 1;
                });
                let room = RoomRef {
                    id: req.room_id,
                    owner: self.index,
                };
                let player = seat.player;
                // As for a join: the session learns its room (and its old id) first.
                self.out.control(req.addr, Control::Joined { room, player });
                let buffered = self.out.apply(owned, effects);
                self.count_buffered(buffered);
                self.publish(req.room_id);
            }
            Err(rejection) => {
                // The seat stays claimable: another seat may free up within the window.
                owned.away.insert(index, seat);
                let reply = ServerMessage::ReconnectionFailed(ReconnectionFailed {
                    reason: rejection.reason,
                    error_code: rejection.code,
                });
                self.out.refuse_join(req.addr, reply);
            }
        }
    }

    /// Bytes of missed events one `Reconnected` may carry: half of what the transport buffers
    /// for a connection (`net::conn`), leaving room for the rest of the message.
    fn replay_budget(&self) -> usize {
        let max_message = self.config.security.max_message_size;
        (4 * max_message).max(1 << 20) / 2
    }

    pub(super) fn refuse_reconnect(&mut self, req: Rejoin, reason: &str, error_code: ErrorCode) {
        let reply = ServerMessage::ReconnectionFailed(ReconnectionFailed {
            reason: reason.to_owned(),
            error_code,
        });
        self.out.refuse_join(req.addr, reply);
    }
}
