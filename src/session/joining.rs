//! Joining: `JoinRoom` validated here in 0.1.0's check order with decision 7's codes, then sent
//! through the IP's quota to the shard that decides; and `JoinAsSpectator`, through the same
//! quota.

use uuid::Uuid;

use super::{Pending, Session};
use crate::limits::JoinKind;
use crate::metrics::Op;
use crate::protocol::validation::{
    resolve_max_players, validate_game_name, validate_player_name, validate_room_code,
};
use crate::protocol::{ErrorCode, ServerMessage, SpectatorStateChangeReason, client};
use crate::room::{Joiner, Rejection, SpectatorJoiner};
use crate::shard::messages::{
    AdmissionMsg, CreateRoom, JoinByCode, OwnerCmd, RoomOp, ShardMsg, SpectateByCode,
};
use crate::shard::routing::{game_owner, ip_owner, room_owner};

impl Session {
    /// Refuses a `JoinRoom` that failed validation here.
    pub(super) fn refuse_join(&self, reason: String, code: ErrorCode) {
        self.shard.metrics.count(|c| c.validation_errors += 1);
        self.reply(&ServerMessage::join_failed(reason, code));
    }

    /// Validates a `JoinRoom` locally (0.1.0's check order, decision 7's codes), then sends it
    /// to the shard that decides: the room's owner for a join by code, the game's counting
    /// shard for a creation.
    pub(super) fn on_join_room(&mut self, req: client::JoinRoom) {
        let cfg = &self.shard.config;
        if let Err(reason) = validate_game_name(&req.game_name, cfg.protocol.max_game_name_length) {
            return self.refuse_join(reason, ErrorCode::InvalidGameName);
        }
        if let Err(reason) = validate_player_name(&req.player_name, &self.shard.name_rules) {
            return self.refuse_join(reason, ErrorCode::InvalidPlayerName);
        }
        let max_players = match resolve_max_players(
            req.max_players,
            cfg.server.default_max_players,
            cfg.protocol.max_players_limit,
        ) {
            Ok(n) => n,
            Err(reason) => return self.refuse_join(reason, ErrorCode::InvalidMaxPlayers),
        };
        if self.room.is_some() {
            return self.refuse_join("Already in a room".to_owned(), ErrorCode::AlreadyInRoom);
        }
        let code = match req
            .room_code
            .as_deref()
            .map(|c| validate_room_code(c, cfg.protocol.room_code_length))
        {
            Some(Err(reason)) => return self.refuse_join(reason, ErrorCode::InvalidRoomCode),
            Some(Ok(code)) => Some(code),
            // Draining (decision 20): rooms in play go on, no new ones start.
            None if self.shard.drain.is_draining() => {
                return self.reply(&ServerMessage::join_failed(
                    "Server is shutting down; no new rooms can be created".to_owned(),
                    ErrorCode::ServiceUnavailable,
                ));
            }
            None => None,
        };
        let joiner = Joiner {
            id: self.id,
            name: req.player_name,
            addr: self.addr,
            encoding: self.encoding,
            reconnection_token: Uuid::new_v4().to_string(),
        };
        let count = self.shard.count;
        let op = if code.is_some() {
            Op::RoomJoin
        } else {
            Op::RoomCreation
        };
        self.pending = Some(Pending::Join(op, self.mailbox.last_seen.get()));
        let (kind, next, then) = match code {
            Some(code) => (
                JoinKind::Join,
                room_owner(&req.game_name, &code, count),
                OwnerCmd::JoinRoom(Box::new(JoinByCode {
                    game_name: req.game_name,
                    code,
                    joiner,
                })),
            ),
            None => (
                JoinKind::Create,
                game_owner(&req.game_name, count),
                OwnerCmd::CreateRoom(Box::new(CreateRoom {
                    game_name: req.game_name,
                    max_players,
                    supports_authority: req.supports_authority.unwrap_or(true),
                    code: String::new(),
                    creator: joiner,
                })),
            ),
        };
        // Only valid requests reach the quota (decision 10); the IP's owner passes them on.
        self.shard.send(
            ip_owner(&self.ip, count),
            ShardMsg::Admission(AdmissionMsg::JoinQuota {
                ip: self.ip,
                kind,
                from: self.addr,
                next,
                then: Box::new(then),
            }),
        );
    }

    /// Refuses a `JoinAsSpectator` that failed validation here.
    fn refuse_spectate(&self, reason: &str, code: ErrorCode) {
        self.shard.metrics.count(|c| c.validation_errors += 1);
        self.reply(&Rejection::new(reason, code).into_spectator_join_failed());
    }

    /// Spectator codes are case-insensitive like player codes (decision 6).
    pub(super) fn on_join_as_spectator(&mut self, req: client::JoinAsSpectator) {
        if let Err(reason) = validate_player_name(&req.spectator_name, &self.shard.name_rules) {
            return self.refuse_spectate(&reason, ErrorCode::InvalidPlayerName);
        }
        // A code no room can have is refused here, before it could use quota (every room's
        // code passed this check, generated or not).
        let code =
            match validate_room_code(&req.room_code, self.shard.config.protocol.room_code_length) {
                Ok(code) => code,
                Err(reason) => return self.refuse_spectate(&reason, ErrorCode::InvalidRoomCode),
            };
        if let Some(room) = self.spectating.take() {
            // Spectating one room at a time: leaving the old one keeps its list honest.
            self.room_op(
                room,
                RoomOp::StopSpectating(SpectatorStateChangeReason::VoluntaryLeave),
            );
        }
        self.pending = Some(Pending::Spectate);
        let count = self.shard.count;
        let next = room_owner(&req.game_name, &code, count);
        let then = OwnerCmd::Spectate(Box::new(SpectateByCode {
            game_name: req.game_name,
            code,
            encoding: self.encoding,
            spectator: SpectatorJoiner {
                id: self.id,
                name: req.spectator_name,
                addr: self.addr,
            },
        }));
        // The same per-IP quota as a join by code (decision 18); invalid requests never get
        // this far, so they use none.
        self.shard.send(
            ip_owner(&self.ip, count),
            ShardMsg::Admission(AdmissionMsg::JoinQuota {
                ip: self.ip,
                kind: JoinKind::Spectate,
                from: self.addr,
                next,
                then: Box::new(then),
            }),
        );
    }
}
