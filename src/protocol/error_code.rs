//! The protocol's error codes, spelled on the wire in SCREAMING_SNAKE_CASE.

use serde::{Deserialize, Serialize};

/// Every error code clients of 0.1.0 know. All of them must parse on the client side, including
/// the ones this server never produces, so the list is kept complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Unauthorized,
    InvalidToken,
    AuthenticationRequired,
    InvalidAppId,
    AppIdExpired,
    AppIdRevoked,
    AppIdSuspended,
    MissingAppId,
    AuthenticationTimeout,
    SdkVersionUnsupported,
    UnsupportedGameDataFormat,
    InvalidInput,
    InvalidGameName,
    InvalidRoomCode,
    InvalidPlayerName,
    InvalidMaxPlayers,
    MessageTooLarge,
    RoomNotFound,
    RoomFull,
    AlreadyInRoom,
    NotInRoom,
    RoomCreationFailed,
    MaxRoomsPerGameExceeded,
    InvalidRoomState,
    AuthorityNotSupported,
    AuthorityConflict,
    AuthorityDenied,
    RateLimitExceeded,
    TooManyConnections,
    ReconnectionFailed,
    ReconnectionTokenInvalid,
    ReconnectionExpired,
    PlayerAlreadyConnected,
    SpectatorNotAllowed,
    TooManySpectators,
    NotASpectator,
    SpectatorJoinFailed,
    InternalError,
    StorageError,
    ServiceUnavailable,
}
