//! Nested wire types shared by client and server messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// Identifies a player (and a spectator): the connection's UUID v4.
pub type PlayerId = Uuid;
/// Identifies a room.
pub type RoomId = Uuid;

/// Lobby phase of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LobbyState {
    /// Not yet full.
    Waiting,
    /// Full; players toggle ready.
    Lobby,
    /// Every player was ready; `GameStarting` has been sent.
    Finalized,
}

/// Transport hint in `JoinRoom` and `relay` connection info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayTransport {
    Tcp,
    Udp,
    Websocket,
    #[default]
    Auto,
}

/// How a connection wants game data delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GameDataEncoding {
    #[default]
    Json,
    MessagePack,
    Rkyv,
}

impl GameDataEncoding {
    /// The Rust-debug spelling 0.1.0 prints in its "not supported" message.
    pub fn debug_name(self) -> &'static str {
        match self {
            GameDataEncoding::Json => "Json",
            GameDataEncoding::MessagePack => "MessagePack",
            GameDataEncoding::Rkyv => "Rkyv",
        }
    }
}

/// Why a spectator's state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpectatorStateChangeReason {
    Joined,
    VoluntaryLeave,
    Disconnected,
    Removed,
    RoomClosed,
}

/// Peer-to-peer connection details a player publishes (internally tagged by `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConnectionInfo {
    Direct {
        host: String,
        port: u16,
    },
    UnityRelay {
        allocation_id: String,
        connection_data: String,
        key: String,
    },
    Relay {
        host: String,
        port: u16,
        #[serde(default)]
        transport: RelayTransport,
        allocation_id: String,
        token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<u16>,
    },
    #[serde(rename = "webrtc")]
    WebRtc {
        #[serde(default)]
        sdp: Option<String>,
        ice_candidates: Vec<String>,
    },
    Custom {
        data: serde_json::Value,
    },
}

/// A player as shown in room snapshots and `PlayerJoined`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerInfo {
    pub id: PlayerId,
    pub name: String,
    pub is_authority: bool,
    pub is_ready: bool,
    pub connected_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<ConnectionInfo>,
}

/// A spectator as shown in room snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectatorInfo {
    pub id: PlayerId,
    pub name: String,
    pub connected_at: DateTime<Utc>,
}

/// One entry of `GameStarting.peer_connections`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerConnectionInfo {
    pub player_id: PlayerId,
    pub player_name: String,
    pub is_authority: bool,
    pub relay_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<ConnectionInfo>,
}

/// Advisory rate limits returned in `Authenticated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitInfo {
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_day: u32,
}

impl RateLimitInfo {
    /// Derives hour and day figures from the per-minute limit, saturating like 0.1.0.
    pub fn from_per_minute(per_minute: u32) -> Self {
        RateLimitInfo {
            per_minute,
            per_hour: per_minute.saturating_mul(60),
            per_day: per_minute.saturating_mul(1440),
        }
    }
}

/// The player-name rules advertised in `ProtocolInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerNameRulesPayload {
    pub max_length: usize,
    pub min_length: usize,
    pub allow_unicode_alphanumeric: bool,
    pub allow_spaces: bool,
    pub allow_leading_trailing_whitespace: bool,
    pub allowed_symbols: Vec<char>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_allowed_characters: Option<String>,
}

/// Arbitrary JSON carried verbatim (relayed game data): parsed once for validity, never re-printed.
pub type RawJson = Box<RawValue>;
