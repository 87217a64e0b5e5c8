//! Messages the server sends. Field order is declaration order and is part of the wire format.

use serde::Serialize;

use super::error_code::ErrorCode;
use super::types::{
    GameDataEncoding, LobbyState, PeerConnectionInfo, PlayerId, PlayerInfo, PlayerNameRulesPayload,
    RateLimitInfo, RawJson, RoomId, SpectatorInfo, SpectatorStateChangeReason,
};

/// Every server → client message of protocol v2.
#[derive(Debug, Serialize)]
#[serde(tag = "type", content = "data")]
pub enum ServerMessage {
    Authenticated(Authenticated),
    ProtocolInfo(ProtocolInfoPayload),
    AuthenticationError(AuthenticationError),
    RoomJoined(Box<RoomJoinedPayload>),
    RoomJoinFailed(RoomJoinFailed),
    RoomLeft,
    PlayerJoined(PlayerJoined),
    PlayerLeft(PlayerLeft),
    GameData(GameData),
    GameDataBinary(GameDataBinary),
    AuthorityChanged(AuthorityChanged),
    AuthorityResponse(AuthorityResponse),
    LobbyStateChanged(LobbyStateChanged),
    GameStarting(GameStarting),
    Pong,
    Reconnected(Box<ReconnectedPayload>),
    ReconnectionFailed(ReconnectionFailed),
    PlayerReconnected(PlayerReconnected),
    SpectatorJoined(Box<SpectatorJoinedPayload>),
    SpectatorJoinFailed(SpectatorJoinFailed),
    SpectatorLeft(SpectatorLeft),
    NewSpectatorJoined(NewSpectatorJoined),
    SpectatorDisconnected(SpectatorDisconnected),
    Error(ErrorMessage),
}

#[derive(Debug, Serialize)]
pub struct Authenticated {
    pub app_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    pub rate_limits: RateLimitInfo,
}

#[derive(Debug, Serialize)]
pub struct ProtocolInfoPayload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_version: Option<String>,
    pub capabilities: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub game_data_formats: Vec<GameDataEncoding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player_name_rules: Option<PlayerNameRulesPayload>,
}

#[derive(Debug, Serialize)]
pub struct AuthenticationError {
    pub error: String,
    pub error_code: ErrorCode,
}

#[derive(Debug, Serialize)]
pub struct RoomJoinedPayload {
    pub room_id: RoomId,
    pub room_code: String,
    pub player_id: PlayerId,
    pub game_name: String,
    pub max_players: u8,
    pub supports_authority: bool,
    pub current_players: Vec<PlayerInfo>,
    pub is_authority: bool,
    pub lobby_state: LobbyState,
    pub ready_players: Vec<PlayerId>,
    pub relay_type: String,
    pub current_spectators: Vec<SpectatorInfo>,
    /// Extension (spec decision 3): the token a dropped client presents in `Reconnect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnection_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RoomJoinFailed {
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
}

#[derive(Debug, Serialize)]
pub struct PlayerJoined {
    pub player: PlayerInfo,
}

#[derive(Debug, Serialize)]
pub struct PlayerLeft {
    pub player_id: PlayerId,
}

#[derive(Debug, Serialize)]
pub struct GameData {
    pub from_player: PlayerId,
    pub data: RawJson,
}

/// JSON form of binary game data; never emitted (binary frames carry a MessagePack envelope).
#[derive(Debug, Serialize)]
pub struct GameDataBinary {
    pub from_player: PlayerId,
    pub encoding: GameDataEncoding,
    pub payload: Vec<u8>,
}

#[derive(Debug, Serialize)]
pub struct AuthorityChanged {
    pub authority_player: Option<PlayerId>,
    pub you_are_authority: bool,
}

#[derive(Debug, Serialize)]
pub struct AuthorityResponse {
    pub granted: bool,
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
}

#[derive(Debug, Serialize)]
pub struct LobbyStateChanged {
    pub lobby_state: LobbyState,
    pub ready_players: Vec<PlayerId>,
    pub all_ready: bool,
}

#[derive(Debug, Serialize)]
pub struct GameStarting {
    pub peer_connections: Vec<PeerConnectionInfo>,
}

#[derive(Debug, Serialize)]
pub struct ReconnectedPayload {
    pub room_id: RoomId,
    pub room_code: String,
    pub player_id: PlayerId,
    pub game_name: String,
    pub max_players: u8,
    pub supports_authority: bool,
    pub current_players: Vec<PlayerInfo>,
    pub is_authority: bool,
    pub lobby_state: LobbyState,
    pub ready_players: Vec<PlayerId>,
    pub relay_type: String,
    pub current_spectators: Vec<SpectatorInfo>,
    /// Complete server messages the player missed while away, oldest first.
    pub missed_events: Vec<RawJson>,
    /// Extension: the rotated token for the next reconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnection_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ReconnectionFailed {
    pub reason: String,
    pub error_code: ErrorCode,
}

#[derive(Debug, Serialize)]
pub struct PlayerReconnected {
    pub player_id: PlayerId,
}

#[derive(Debug, Serialize)]
pub struct SpectatorJoinedPayload {
    pub room_id: RoomId,
    pub room_code: String,
    pub spectator_id: PlayerId,
    pub game_name: String,
    pub current_players: Vec<PlayerInfo>,
    pub current_spectators: Vec<SpectatorInfo>,
    pub lobby_state: LobbyState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SpectatorStateChangeReason>,
}

#[derive(Debug, Serialize)]
pub struct SpectatorJoinFailed {
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
}

#[derive(Debug, Serialize)]
pub struct SpectatorLeft {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_id: Option<RoomId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SpectatorStateChangeReason>,
    pub current_spectators: Vec<SpectatorInfo>,
}

#[derive(Debug, Serialize)]
pub struct NewSpectatorJoined {
    pub spectator: SpectatorInfo,
    pub current_spectators: Vec<SpectatorInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SpectatorStateChangeReason>,
}

#[derive(Debug, Serialize)]
pub struct SpectatorDisconnected {
    pub spectator_id: PlayerId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SpectatorStateChangeReason>,
    pub current_spectators: Vec<SpectatorInfo>,
}

#[derive(Debug, Serialize)]
pub struct ErrorMessage {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
}

impl ServerMessage {
    /// An `Error` frame with a code (every path of ours sets one).
    pub fn error(message: impl Into<String>, code: ErrorCode) -> Self {
        ServerMessage::Error(ErrorMessage {
            message: message.into(),
            error_code: Some(code),
        })
    }

    /// A `RoomJoinFailed` frame with a code.
    pub fn join_failed(reason: impl Into<String>, code: ErrorCode) -> Self {
        ServerMessage::RoomJoinFailed(RoomJoinFailed {
            reason: reason.into(),
            error_code: Some(code),
        })
    }
}
