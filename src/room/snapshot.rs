//! Every `ServerMessage` the room builds, one function per kind, so each wire shape (and each
//! user-visible text) is decided in exactly one place.

use crate::protocol::server::{
    AuthorityChanged, AuthorityResponse, GameStarting, LobbyStateChanged, NewSpectatorJoined,
    PlayerJoined, PlayerLeft, PlayerReconnected, ReconnectedPayload, RoomJoinedPayload,
    SpectatorDisconnected, SpectatorJoinFailed, SpectatorJoinedPayload, SpectatorLeft,
};
use crate::protocol::types::RawJson;
use crate::protocol::{
    ErrorCode, LobbyState, PeerConnectionInfo, PlayerId, PlayerInfo, ServerMessage, SpectatorInfo,
    SpectatorStateChangeReason,
};

use super::{Player, Rejection, Room, Spectator};

/// Text of the `Error` a `PlayerReady` outside the lobby phase gets (0.1.0's wording).
const NOT_IN_LOBBY: &str =
    "Cannot change ready status. Room must be in lobby state (full with all players joined).";

/// `Error{"Not in a room", NOT_IN_ROOM}`: the answer to `PlayerReady` or `ProvideConnectionInfo`
/// from a session without a seat. Public so the driver answers roomless sessions identically.
pub fn not_in_room_error() -> ServerMessage {
    ServerMessage::error("Not in a room", ErrorCode::NotInRoom)
}

/// `AuthorityResponse{granted:false, "Not in a room", NOT_IN_ROOM}`: the answer to an
/// `AuthorityRequest` from a session without a seat.
pub fn not_in_room_authority_response() -> ServerMessage {
    authority_denied("Not in a room", ErrorCode::NotInRoom)
}

/// The `Error` a `PlayerReady` gets when the room is not in its lobby phase.
pub(super) fn not_in_lobby() -> ServerMessage {
    ServerMessage::error(NOT_IN_LOBBY, ErrorCode::InvalidRoomState)
}

/// The notice every member of an expired room gets (decision 9).
pub(super) fn room_gone() -> ServerMessage {
    ServerMessage::error("Room no longer exists", ErrorCode::RoomNotFound)
}

/// `RoomLeft`, to a player who sent `LeaveRoom`.
pub(super) fn room_left() -> ServerMessage {
    ServerMessage::RoomLeft
}

/// `PlayerLeft`, to the members who stay.
pub(super) fn player_reconnected(player_id: PlayerId) -> ServerMessage {
    ServerMessage::PlayerReconnected(PlayerReconnected { player_id })
}

pub(super) fn player_left(player_id: PlayerId) -> ServerMessage {
    ServerMessage::PlayerLeft(PlayerLeft { player_id })
}

/// A granted `AuthorityResponse`: `reason` is serialised as `null`, no `error_code`.
pub(super) fn authority_granted() -> ServerMessage {
    ServerMessage::AuthorityResponse(AuthorityResponse {
        granted: true,
        reason: None,
        error_code: None,
    })
}

/// A denied `AuthorityResponse`.
pub(super) fn authority_denied(reason: &str, code: ErrorCode) -> ServerMessage {
    ServerMessage::AuthorityResponse(AuthorityResponse {
        granted: false,
        reason: Some(reason.to_owned()),
        error_code: Some(code),
    })
}

/// `AuthorityChanged`, personalised for one recipient.
pub(super) fn authority_changed(
    authority_player: Option<PlayerId>,
    you_are_authority: bool,
) -> ServerMessage {
    ServerMessage::AuthorityChanged(AuthorityChanged {
        authority_player,
        you_are_authority,
    })
}

/// `SpectatorJoinFailed` for a refused spectator.
pub(super) fn spectator_join_failed(rejection: Rejection) -> ServerMessage {
    ServerMessage::SpectatorJoinFailed(SpectatorJoinFailed {
        reason: rejection.reason,
        error_code: Some(rejection.code),
    })
}

impl Room {
    /// A player as snapshots show it: live authority and ready flags, stored connection info.
    fn player_info(&self, p: &Player) -> PlayerInfo {
        PlayerInfo {
            id: p.id,
            name: p.name.clone(),
            is_authority: self.authority == Some(p.id),
            is_ready: self.ready.contains(&p.id),
            connected_at: p.connected_at,
            connection_info: p.connection_info.clone(),
        }
    }

    /// All players in join order.
    fn player_infos(&self) -> Vec<PlayerInfo> {
        self.players.iter().map(|p| self.player_info(p)).collect()
    }

    /// All spectators in join order.
    fn spectator_infos(&self) -> Vec<SpectatorInfo> {
        self.spectators.iter().map(spectator_info).collect()
    }

    /// `RoomJoined` for a seated player: the true state after the join, and its token.
    pub(super) fn room_joined(&self, p: &Player) -> ServerMessage {
        ServerMessage::RoomJoined(Box::new(RoomJoinedPayload {
            room_id: self.settings.id,
            room_code: self.settings.code.clone(),
            player_id: p.id,
            game_name: self.settings.game_name.clone(),
            max_players: self.settings.max_players,
            supports_authority: self.settings.supports_authority,
            current_players: self.player_infos(),
            is_authority: self.authority == Some(p.id),
            lobby_state: self.state,
            ready_players: self.ready.clone(),
            relay_type: self.settings.relay_type.clone(),
            current_spectators: self.spectator_infos(),
            reconnection_token: Some(p.reconnection_token.clone()),
        }))
    }

    /// `Reconnected` for a player back in its seat: the `RoomJoined` fields as the room
    /// stands now, the events it missed, and its fresh token.
    pub(super) fn reconnected(&self, p: &Player, missed_events: Vec<RawJson>) -> ServerMessage {
        ServerMessage::Reconnected(Box::new(ReconnectedPayload {
            room_id: self.settings.id,
            room_code: self.settings.code.clone(),
            player_id: p.id,
            game_name: self.settings.game_name.clone(),
            max_players: self.settings.max_players,
            supports_authority: self.settings.supports_authority,
            current_players: self.player_infos(),
            is_authority: self.authority == Some(p.id),
            lobby_state: self.state,
            ready_players: self.ready.clone(),
            relay_type: self.settings.relay_type.clone(),
            current_spectators: self.spectator_infos(),
            missed_events,
            reconnection_token: Some(p.reconnection_token.clone()),
        }))
    }

    /// `PlayerJoined` for the others. Connection info is never announced here; it travels in
    /// snapshots and `GameStarting` only.
    pub(super) fn player_joined(&self, p: &Player) -> ServerMessage {
        let player = PlayerInfo {
            connection_info: None,
            ..self.player_info(p)
        };
        ServerMessage::PlayerJoined(PlayerJoined { player })
    }

    /// `LobbyStateChanged` describing the current phase; `all_ready` holds exactly when the
    /// room is finalized, because readying the last player is what finalizes it.
    pub(super) fn lobby_state_changed(&self) -> ServerMessage {
        ServerMessage::LobbyStateChanged(LobbyStateChanged {
            lobby_state: self.state,
            ready_players: self.ready.clone(),
            all_ready: self.state == LobbyState::Finalized,
        })
    }

    /// `GameStarting`: one entry per player in join order.
    pub(super) fn game_starting(&self) -> ServerMessage {
        let peer_connections = self
            .players
            .iter()
            .map(|p| PeerConnectionInfo {
                player_id: p.id,
                player_name: p.name.clone(),
                is_authority: self.authority == Some(p.id),
                relay_type: self.settings.relay_type.clone(),
                connection_info: p.connection_info.clone(),
            })
            .collect();
        ServerMessage::GameStarting(GameStarting { peer_connections })
    }

    /// `SpectatorJoined` for a new spectator (already in the list).
    pub(super) fn spectator_joined(&self, id: PlayerId) -> ServerMessage {
        ServerMessage::SpectatorJoined(Box::new(SpectatorJoinedPayload {
            room_id: self.settings.id,
            room_code: self.settings.code.clone(),
            spectator_id: id,
            game_name: self.settings.game_name.clone(),
            current_players: self.player_infos(),
            current_spectators: self.spectator_infos(),
            lobby_state: self.state,
            reason: Some(SpectatorStateChangeReason::Joined),
        }))
    }

    /// `NewSpectatorJoined` for everyone else.
    pub(super) fn new_spectator_joined(&self, s: &Spectator) -> ServerMessage {
        ServerMessage::NewSpectatorJoined(NewSpectatorJoined {
            spectator: spectator_info(s),
            current_spectators: self.spectator_infos(),
            reason: Some(SpectatorStateChangeReason::Joined),
        })
    }

    /// `SpectatorLeft` for a spectator who is gone from the list.
    pub(super) fn spectator_left(&self, reason: SpectatorStateChangeReason) -> ServerMessage {
        ServerMessage::SpectatorLeft(SpectatorLeft {
            room_id: Some(self.settings.id),
            room_code: Some(self.settings.code.clone()),
            reason: Some(reason),
            current_spectators: self.spectator_infos(),
        })
    }

    /// `SpectatorDisconnected` for the members who stay.
    pub(super) fn spectator_disconnected(
        &self,
        spectator_id: PlayerId,
        reason: SpectatorStateChangeReason,
    ) -> ServerMessage {
        ServerMessage::SpectatorDisconnected(SpectatorDisconnected {
            spectator_id,
            reason: Some(reason),
            current_spectators: self.spectator_infos(),
        })
    }
}

fn spectator_info(s: &Spectator) -> SpectatorInfo {
    SpectatorInfo {
        id: s.id,
        name: s.name.clone(),
        connected_at: s.connected_at,
    }
}
