//! Messages a client sends (`{"type":…,"data":…}`, adjacently tagged).

use serde::Deserialize;

use super::types::{ConnectionInfo, GameDataEncoding, PlayerId, RawJson, RelayTransport, RoomId};

/// Every client → server message of protocol v2.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ClientMessage {
    Authenticate(Authenticate),
    JoinRoom(JoinRoom),
    LeaveRoom,
    GameData(GameData),
    AuthorityRequest(AuthorityRequest),
    PlayerReady,
    ProvideConnectionInfo(ProvideConnectionInfo),
    Ping,
    Reconnect(Reconnect),
    JoinAsSpectator(JoinAsSpectator),
    LeaveSpectator,
}

#[derive(Debug, Deserialize)]
pub struct Authenticate {
    pub app_id: String,
    #[serde(default)]
    pub sdk_version: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub game_data_format: Option<GameDataEncoding>,
    /// Not in 0.1.0's wire (it ignored the field); checked when the app defines a secret.
    #[serde(default)]
    pub app_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct JoinRoom {
    pub game_name: String,
    #[serde(default)]
    pub room_code: Option<String>,
    pub player_name: String,
    #[serde(default)]
    pub max_players: Option<u8>,
    #[serde(default)]
    pub supports_authority: Option<bool>,
    /// Parsed for compatibility and ignored, as in 0.1.0.
    #[serde(default)]
    pub relay_transport: Option<RelayTransport>,
}

#[derive(Debug, Deserialize)]
pub struct GameData {
    /// Any JSON value; the key must be present (`null` allowed).
    #[serde(deserialize_with = "super::raw_json::deserialize")]
    pub data: RawJson,
}

#[derive(Debug, Deserialize)]
pub struct AuthorityRequest {
    pub become_authority: bool,
}

#[derive(Debug, Deserialize)]
pub struct ProvideConnectionInfo {
    pub connection_info: ConnectionInfo,
}

#[derive(Debug, Deserialize)]
pub struct Reconnect {
    pub player_id: PlayerId,
    pub room_id: RoomId,
    pub auth_token: String,
}

#[derive(Debug, Deserialize)]
pub struct JoinAsSpectator {
    pub game_name: String,
    pub room_code: String,
    pub spectator_name: String,
}
