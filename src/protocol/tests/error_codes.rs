//! All 40 error-code spellings of protocol.md §5, both directions.

use crate::protocol::ErrorCode::{self, *};

const ALL: [(ErrorCode, &str); 40] = [
    (Unauthorized, "UNAUTHORIZED"),
    (InvalidToken, "INVALID_TOKEN"),
    (AuthenticationRequired, "AUTHENTICATION_REQUIRED"),
    (InvalidAppId, "INVALID_APP_ID"),
    (AppIdExpired, "APP_ID_EXPIRED"),
    (AppIdRevoked, "APP_ID_REVOKED"),
    (AppIdSuspended, "APP_ID_SUSPENDED"),
    (MissingAppId, "MISSING_APP_ID"),
    (AuthenticationTimeout, "AUTHENTICATION_TIMEOUT"),
    (SdkVersionUnsupported, "SDK_VERSION_UNSUPPORTED"),
    (UnsupportedGameDataFormat, "UNSUPPORTED_GAME_DATA_FORMAT"),
    (InvalidInput, "INVALID_INPUT"),
    (InvalidGameName, "INVALID_GAME_NAME"),
    (InvalidRoomCode, "INVALID_ROOM_CODE"),
    (InvalidPlayerName, "INVALID_PLAYER_NAME"),
    (InvalidMaxPlayers, "INVALID_MAX_PLAYERS"),
    (MessageTooLarge, "MESSAGE_TOO_LARGE"),
    (RoomNotFound, "ROOM_NOT_FOUND"),
    (RoomFull, "ROOM_FULL"),
    (AlreadyInRoom, "ALREADY_IN_ROOM"),
    (NotInRoom, "NOT_IN_ROOM"),
    (RoomCreationFailed, "ROOM_CREATION_FAILED"),
    (MaxRoomsPerGameExceeded, "MAX_ROOMS_PER_GAME_EXCEEDED"),
    (InvalidRoomState, "INVALID_ROOM_STATE"),
    (AuthorityNotSupported, "AUTHORITY_NOT_SUPPORTED"),
    (AuthorityConflict, "AUTHORITY_CONFLICT"),
    (AuthorityDenied, "AUTHORITY_DENIED"),
    (RateLimitExceeded, "RATE_LIMIT_EXCEEDED"),
    (TooManyConnections, "TOO_MANY_CONNECTIONS"),
    (ReconnectionFailed, "RECONNECTION_FAILED"),
    (ReconnectionTokenInvalid, "RECONNECTION_TOKEN_INVALID"),
    (ReconnectionExpired, "RECONNECTION_EXPIRED"),
    (PlayerAlreadyConnected, "PLAYER_ALREADY_CONNECTED"),
    (SpectatorNotAllowed, "SPECTATOR_NOT_ALLOWED"),
    (TooManySpectators, "TOO_MANY_SPECTATORS"),
    (NotASpectator, "NOT_A_SPECTATOR"),
    (SpectatorJoinFailed, "SPECTATOR_JOIN_FAILED"),
    (InternalError, "INTERNAL_ERROR"),
    (StorageError, "STORAGE_ERROR"),
    (ServiceUnavailable, "SERVICE_UNAVAILABLE"),
];

#[test]
fn every_code_round_trips() {
    for (code, spelling) in ALL {
        let json = format!("\"{spelling}\"");
        assert_eq!(serde_json::to_string(&code).unwrap(), json);
        assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
    }
    let mut spellings: Vec<&str> = ALL.iter().map(|(_, s)| *s).collect();
    spellings.sort_unstable();
    spellings.dedup();
    assert_eq!(spellings.len(), 40);
}

#[test]
fn other_spellings_are_rejected() {
    for bad in [
        "\"not_in_room\"",
        "\"NotInRoom\"",
        "\"NOT_ASPECTATOR\"",
        "42",
    ] {
        assert!(serde_json::from_str::<ErrorCode>(bad).is_err(), "{bad}");
    }
}
