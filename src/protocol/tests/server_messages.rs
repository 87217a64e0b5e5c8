//! Every `ServerMessage` variant against the exact JSON of protocol.md §3 and §8.

use chrono::{TimeZone, Timelike, Utc};
use serde_json::value::RawValue;

use super::{PLAYER_A, PLAYER_B, ROOM, SPECTATOR, at, id};
use crate::protocol::server::*;
use crate::protocol::validation::PlayerNameRules;
use crate::protocol::{
    ConnectionInfo, ErrorCode, GameDataEncoding, LobbyState, PeerConnectionInfo, PlayerInfo,
    RateLimitInfo, RawJson, RelayTransport, SpectatorInfo, SpectatorStateChangeReason, codec,
};

/// Serialises through the codec (the production path) and checks it agrees with serde_json.
fn json(msg: &ServerMessage) -> String {
    let encoded = codec::encode_server(msg);
    let text = String::from_utf8(encoded.to_vec()).unwrap();
    assert_eq!(text, serde_json::to_string(msg).unwrap());
    text
}

fn raw(text: &str) -> RawJson {
    RawValue::from_string(text.to_owned()).unwrap()
}

fn mika() -> PlayerInfo {
    PlayerInfo {
        id: id(PLAYER_A),
        name: "Mika".to_owned(),
        is_authority: true,
        is_ready: false,
        connected_at: at("2025-06-12T18:04:31.482913057Z"),
        connection_info: None,
    }
}

fn caster() -> SpectatorInfo {
    SpectatorInfo {
        id: id(SPECTATOR),
        name: "Caster".to_owned(),
        connected_at: at("2025-06-12T18:07:45.300571920Z"),
    }
}

fn direct() -> ConnectionInfo {
    ConnectionInfo::Direct {
        host: "203.0.113.7".to_owned(),
        port: 7777,
    }
}

fn room_joined(token: Option<&str>) -> RoomJoinedPayload {
    RoomJoinedPayload {
        room_id: id(ROOM),
        room_code: "QX7M4D".to_owned(),
        player_id: id(PLAYER_A),
        game_name: "kart racer".to_owned(),
        max_players: 4,
        supports_authority: true,
        current_players: vec![mika()],
        is_authority: true,
        lobby_state: LobbyState::Waiting,
        ready_players: vec![],
        relay_type: "matchbox".to_owned(),
        current_spectators: vec![],
        reconnection_token: token.map(str::to_owned),
    }
}

const ROOM_JOINED: &str = r#"{"type":"RoomJoined","data":{"room_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","room_code":"QX7M4D","player_id":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","game_name":"kart racer","max_players":4,"supports_authority":true,"current_players":[{"id":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","name":"Mika","is_authority":true,"is_ready":false,"connected_at":"2025-06-12T18:04:31.482913057Z"}],"is_authority":true,"lobby_state":"waiting","ready_players":[],"relay_type":"matchbox","current_spectators":[]}}"#;

#[test]
fn authenticated() {
    let msg = ServerMessage::Authenticated(Authenticated {
        app_name: "Kart Racer".to_owned(),
        organization: None,
        rate_limits: RateLimitInfo::from_per_minute(60),
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"Authenticated","data":{"app_name":"Kart Racer","rate_limits":{"per_minute":60,"per_hour":3600,"per_day":86400}}}"#
    );
    let msg = ServerMessage::Authenticated(Authenticated {
        app_name: "Kart Racer".to_owned(),
        organization: Some("Fish Co".to_owned()),
        rate_limits: RateLimitInfo::from_per_minute(u32::MAX / 100),
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"Authenticated","data":{"app_name":"Kart Racer","organization":"Fish Co","rate_limits":{"per_minute":42949672,"per_hour":2576980320,"per_day":4294967295}}}"#
    );
}

#[test]
fn protocol_info() {
    let caps = [
        "reconnection",
        "spectator-mode",
        "rate-limits-v2",
        "relay-matchbox",
        "relay-mirror",
        "relay-fishnet",
    ];
    let msg = ServerMessage::ProtocolInfo(ProtocolInfoPayload {
        platform: Some("unity".to_owned()),
        sdk_version: Some("1.12.0".to_owned()),
        minimum_version: Some("1.10.0".to_owned()),
        recommended_version: Some("1.12.0".to_owned()),
        capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
        notes: Some(
            "Upgrade to 1.12.x for deterministic reconnect handling and spectator patches."
                .to_owned(),
        ),
        game_data_formats: vec![GameDataEncoding::Json, GameDataEncoding::MessagePack],
        player_name_rules: Some(PlayerNameRules::default().to_payload()),
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"ProtocolInfo","data":{"platform":"unity","sdk_version":"1.12.0","minimum_version":"1.10.0","recommended_version":"1.12.0","capabilities":["reconnection","spectator-mode","rate-limits-v2","relay-matchbox","relay-mirror","relay-fishnet"],"notes":"Upgrade to 1.12.x for deterministic reconnect handling and spectator patches.","game_data_formats":["json","message_pack"],"player_name_rules":{"max_length":32,"min_length":1,"allow_unicode_alphanumeric":true,"allow_spaces":true,"allow_leading_trailing_whitespace":false,"allowed_symbols":["-","_"]}}}"#
    );
    // Every optional omitted; the two lists stay.
    let msg = ServerMessage::ProtocolInfo(ProtocolInfoPayload {
        platform: None,
        sdk_version: None,
        minimum_version: None,
        recommended_version: None,
        capabilities: vec![],
        notes: None,
        game_data_formats: vec![GameDataEncoding::Json],
        player_name_rules: None,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"ProtocolInfo","data":{"capabilities":[],"game_data_formats":["json"]}}"#
    );
}

#[test]
fn authentication_error() {
    let msg = ServerMessage::AuthenticationError(AuthenticationError {
        error: "InvalidAppId".to_owned(),
        error_code: ErrorCode::InvalidAppId,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"AuthenticationError","data":{"error":"InvalidAppId","error_code":"INVALID_APP_ID"}}"#
    );
}

#[test]
fn room_joined_without_token_matches_the_original() {
    let msg = ServerMessage::RoomJoined(Box::new(room_joined(None)));
    assert_eq!(json(&msg), ROOM_JOINED);
}

#[test]
fn room_joined_with_token_appends_it() {
    let msg = ServerMessage::RoomJoined(Box::new(room_joined(Some("tok-1"))));
    let expected = ROOM_JOINED.replace(
        r#""current_spectators":[]}}"#,
        r#""current_spectators":[],"reconnection_token":"tok-1"}}"#,
    );
    assert_eq!(json(&msg), expected);
}

#[test]
fn room_joined_full_snapshot() {
    let mut payload = room_joined(None);
    let mut ravi = mika();
    ravi.id = id(PLAYER_B);
    ravi.name = "Ravi".to_owned();
    ravi.is_authority = false;
    ravi.is_ready = true;
    ravi.connected_at = at("2025-06-12T18:05:02Z");
    ravi.connection_info = Some(direct());
    payload.current_players.push(ravi);
    payload.lobby_state = LobbyState::Finalized;
    payload.ready_players = vec![id(PLAYER_B)];
    payload.current_spectators = vec![caster()];
    assert_eq!(
        json(&ServerMessage::RoomJoined(Box::new(payload))),
        r#"{"type":"RoomJoined","data":{"room_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","room_code":"QX7M4D","player_id":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","game_name":"kart racer","max_players":4,"supports_authority":true,"current_players":[{"id":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","name":"Mika","is_authority":true,"is_ready":false,"connected_at":"2025-06-12T18:04:31.482913057Z"},{"id":"c41f9a83-6e27-4d10-b5a2-93e0d8f76c15","name":"Ravi","is_authority":false,"is_ready":true,"connected_at":"2025-06-12T18:05:02Z","connection_info":{"type":"direct","host":"203.0.113.7","port":7777}}],"is_authority":true,"lobby_state":"finalized","ready_players":["c41f9a83-6e27-4d10-b5a2-93e0d8f76c15"],"relay_type":"matchbox","current_spectators":[{"id":"0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560","name":"Caster","connected_at":"2025-06-12T18:07:45.300571920Z"}]}}"#
    );
}

#[test]
fn room_join_failed() {
    let msg = ServerMessage::join_failed("Room is full", ErrorCode::RoomCreationFailed);
    assert_eq!(
        json(&msg),
        r#"{"type":"RoomJoinFailed","data":{"reason":"Room is full","error_code":"ROOM_CREATION_FAILED"}}"#
    );
    let msg = ServerMessage::RoomJoinFailed(RoomJoinFailed {
        reason: "x".to_owned(),
        error_code: None,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"RoomJoinFailed","data":{"reason":"x"}}"#
    );
}

#[test]
fn unit_variants_have_no_data_key() {
    assert_eq!(json(&ServerMessage::RoomLeft), r#"{"type":"RoomLeft"}"#);
    assert_eq!(json(&ServerMessage::Pong), r#"{"type":"Pong"}"#);
}

#[test]
fn player_joined() {
    let msg = ServerMessage::PlayerJoined(PlayerJoined {
        player: PlayerInfo {
            id: id(PLAYER_B),
            name: "Ravi".to_owned(),
            is_authority: false,
            is_ready: false,
            connected_at: at("2025-06-12T18:05:02.006118442Z"),
            connection_info: None,
        },
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"PlayerJoined","data":{"player":{"id":"c41f9a83-6e27-4d10-b5a2-93e0d8f76c15","name":"Ravi","is_authority":false,"is_ready":false,"connected_at":"2025-06-12T18:05:02.006118442Z"}}}"#
    );
}

#[test]
fn player_left_and_reconnected() {
    assert_eq!(
        json(&ServerMessage::PlayerLeft(PlayerLeft {
            player_id: id(PLAYER_B)
        })),
        r#"{"type":"PlayerLeft","data":{"player_id":"c41f9a83-6e27-4d10-b5a2-93e0d8f76c15"}}"#
    );
    assert_eq!(
        json(&ServerMessage::PlayerReconnected(PlayerReconnected {
            player_id: id(PLAYER_B)
        })),
        r#"{"type":"PlayerReconnected","data":{"player_id":"c41f9a83-6e27-4d10-b5a2-93e0d8f76c15"}}"#
    );
}

#[test]
fn game_data() {
    let msg = ServerMessage::GameData(GameData {
        from_player: id(PLAYER_A),
        data: raw(r#"{"kind":"pos","x":12.5,"y":-3}"#),
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"GameData","data":{"from_player":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","data":{"kind":"pos","x":12.5,"y":-3}}}"#
    );
}

#[test]
fn codec_game_data_equals_the_serde_form() {
    for data in [
        r#"{"kind":"pos","x":12.5,"y":-3}"#,
        "null",
        "[1,\"two\",{\"3\":false}]",
        r#""caf\u00e9 / é""#,
        "-0.0",
    ] {
        let serde_form = json(&ServerMessage::GameData(GameData {
            from_player: id(PLAYER_B),
            data: raw(data),
        }));
        let fast = codec::encode_game_data(&id(PLAYER_B), data);
        assert_eq!(std::str::from_utf8(&fast).unwrap(), serde_form, "{data}");
    }
}

#[test]
fn game_data_binary_json_form() {
    let msg = ServerMessage::GameDataBinary(GameDataBinary {
        from_player: id(PLAYER_A),
        encoding: GameDataEncoding::MessagePack,
        payload: vec![129, 162, 104, 112, 90],
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"GameDataBinary","data":{"from_player":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","encoding":"message_pack","payload":[129,162,104,112,90]}}"#
    );
}

#[test]
fn authority_changed_null_is_written() {
    let msg = ServerMessage::AuthorityChanged(AuthorityChanged {
        authority_player: None,
        you_are_authority: false,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"AuthorityChanged","data":{"authority_player":null,"you_are_authority":false}}"#
    );
    let msg = ServerMessage::AuthorityChanged(AuthorityChanged {
        authority_player: Some(id(PLAYER_A)),
        you_are_authority: true,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"AuthorityChanged","data":{"authority_player":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","you_are_authority":true}}"#
    );
}

#[test]
fn authority_response_reason_null_code_omitted() {
    let msg = ServerMessage::AuthorityResponse(AuthorityResponse {
        granted: true,
        reason: None,
        error_code: None,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"AuthorityResponse","data":{"granted":true,"reason":null}}"#
    );
    let msg = ServerMessage::AuthorityResponse(AuthorityResponse {
        granted: false,
        reason: Some("Another player already has authority".to_owned()),
        error_code: Some(ErrorCode::AuthorityDenied),
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"AuthorityResponse","data":{"granted":false,"reason":"Another player already has authority","error_code":"AUTHORITY_DENIED"}}"#
    );
}

#[test]
fn lobby_state_changed() {
    let msg = ServerMessage::LobbyStateChanged(LobbyStateChanged {
        lobby_state: LobbyState::Lobby,
        ready_players: vec![id(PLAYER_A)],
        all_ready: false,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"LobbyStateChanged","data":{"lobby_state":"lobby","ready_players":["5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04"],"all_ready":false}}"#
    );
    let msg = ServerMessage::LobbyStateChanged(LobbyStateChanged {
        lobby_state: LobbyState::Waiting,
        ready_players: vec![],
        all_ready: false,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"LobbyStateChanged","data":{"lobby_state":"waiting","ready_players":[],"all_ready":false}}"#
    );
}

#[test]
fn game_starting() {
    let msg = ServerMessage::GameStarting(GameStarting {
        peer_connections: vec![
            PeerConnectionInfo {
                player_id: id(PLAYER_A),
                player_name: "Mika".to_owned(),
                is_authority: true,
                relay_type: "matchbox".to_owned(),
                connection_info: Some(direct()),
            },
            PeerConnectionInfo {
                player_id: id(PLAYER_B),
                player_name: "Ravi".to_owned(),
                is_authority: false,
                relay_type: "matchbox".to_owned(),
                connection_info: None,
            },
        ],
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"GameStarting","data":{"peer_connections":[{"player_id":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","player_name":"Mika","is_authority":true,"relay_type":"matchbox","connection_info":{"type":"direct","host":"203.0.113.7","port":7777}},{"player_id":"c41f9a83-6e27-4d10-b5a2-93e0d8f76c15","player_name":"Ravi","is_authority":false,"relay_type":"matchbox"}]}}"#
    );
}

fn reconnected(missed_events: Vec<RawJson>, token: Option<&str>) -> ServerMessage {
    ServerMessage::Reconnected(Box::new(ReconnectedPayload {
        room_id: id(ROOM),
        room_code: "QX7M4D".to_owned(),
        player_id: id(PLAYER_B),
        game_name: "kart racer".to_owned(),
        max_players: 4,
        supports_authority: true,
        current_players: vec![],
        is_authority: false,
        lobby_state: LobbyState::Waiting,
        ready_players: vec![],
        relay_type: "matchbox".to_owned(),
        current_spectators: vec![],
        missed_events,
        reconnection_token: token.map(str::to_owned),
    }))
}

#[test]
fn reconnected_matches_the_original() {
    assert_eq!(
        json(&reconnected(vec![], None)),
        r#"{"type":"Reconnected","data":{"room_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","room_code":"QX7M4D","player_id":"c41f9a83-6e27-4d10-b5a2-93e0d8f76c15","game_name":"kart racer","max_players":4,"supports_authority":true,"current_players":[],"is_authority":false,"lobby_state":"waiting","ready_players":[],"relay_type":"matchbox","current_spectators":[],"missed_events":[]}}"#
    );
}

#[test]
fn reconnected_replays_complete_messages_and_carries_the_token() {
    let pong = codec::encode_server(&ServerMessage::Pong);
    let left = codec::encode_server(&ServerMessage::PlayerLeft(PlayerLeft {
        player_id: id(PLAYER_A),
    }));
    let missed = [pong, left]
        .iter()
        .map(|b| raw(std::str::from_utf8(b).unwrap()))
        .collect();
    assert_eq!(
        json(&reconnected(missed, Some("tok-2"))),
        r#"{"type":"Reconnected","data":{"room_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","room_code":"QX7M4D","player_id":"c41f9a83-6e27-4d10-b5a2-93e0d8f76c15","game_name":"kart racer","max_players":4,"supports_authority":true,"current_players":[],"is_authority":false,"lobby_state":"waiting","ready_players":[],"relay_type":"matchbox","current_spectators":[],"missed_events":[{"type":"Pong"},{"type":"PlayerLeft","data":{"player_id":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04"}}],"reconnection_token":"tok-2"}}"#
    );
}

#[test]
fn reconnection_failed() {
    let msg = ServerMessage::ReconnectionFailed(ReconnectionFailed {
        reason: "No disconnection record found".to_owned(),
        error_code: ErrorCode::ReconnectionFailed,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"ReconnectionFailed","data":{"reason":"No disconnection record found","error_code":"RECONNECTION_FAILED"}}"#
    );
}

#[test]
fn spectator_joined() {
    let msg = ServerMessage::SpectatorJoined(Box::new(SpectatorJoinedPayload {
        room_id: id(ROOM),
        room_code: "QX7M4D".to_owned(),
        spectator_id: id(SPECTATOR),
        game_name: "kart racer".to_owned(),
        current_players: vec![mika()],
        current_spectators: vec![caster()],
        lobby_state: LobbyState::Waiting,
        reason: Some(SpectatorStateChangeReason::Joined),
    }));
    assert_eq!(
        json(&msg),
        r#"{"type":"SpectatorJoined","data":{"room_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","room_code":"QX7M4D","spectator_id":"0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560","game_name":"kart racer","current_players":[{"id":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","name":"Mika","is_authority":true,"is_ready":false,"connected_at":"2025-06-12T18:04:31.482913057Z"}],"current_spectators":[{"id":"0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560","name":"Caster","connected_at":"2025-06-12T18:07:45.300571920Z"}],"lobby_state":"waiting","reason":"joined"}}"#
    );
    let msg = ServerMessage::SpectatorJoined(Box::new(SpectatorJoinedPayload {
        room_id: id(ROOM),
        room_code: "QX7M4D".to_owned(),
        spectator_id: id(SPECTATOR),
        game_name: "g".to_owned(),
        current_players: vec![],
        current_spectators: vec![],
        lobby_state: LobbyState::Lobby,
        reason: None,
    }));
    assert_eq!(
        json(&msg),
        r#"{"type":"SpectatorJoined","data":{"room_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","room_code":"QX7M4D","spectator_id":"0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560","game_name":"g","current_players":[],"current_spectators":[],"lobby_state":"lobby"}}"#
    );
}

#[test]
fn spectator_join_failed() {
    let msg = ServerMessage::SpectatorJoinFailed(SpectatorJoinFailed {
        reason: "Room not found".to_owned(),
        error_code: Some(ErrorCode::RoomNotFound),
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"SpectatorJoinFailed","data":{"reason":"Room not found","error_code":"ROOM_NOT_FOUND"}}"#
    );
    let msg = ServerMessage::SpectatorJoinFailed(SpectatorJoinFailed {
        reason: "Room not found".to_owned(),
        error_code: None,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"SpectatorJoinFailed","data":{"reason":"Room not found"}}"#
    );
}

#[test]
fn spectator_left() {
    let msg = ServerMessage::SpectatorLeft(SpectatorLeft {
        room_id: Some(id(ROOM)),
        room_code: Some("QX7M4D".to_owned()),
        reason: Some(SpectatorStateChangeReason::VoluntaryLeave),
        current_spectators: vec![],
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"SpectatorLeft","data":{"room_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","room_code":"QX7M4D","reason":"voluntary_leave","current_spectators":[]}}"#
    );
    let msg = ServerMessage::SpectatorLeft(SpectatorLeft {
        room_id: None,
        room_code: None,
        reason: None,
        current_spectators: vec![],
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"SpectatorLeft","data":{"current_spectators":[]}}"#
    );
}

#[test]
fn new_spectator_joined() {
    let msg = ServerMessage::NewSpectatorJoined(NewSpectatorJoined {
        spectator: caster(),
        current_spectators: vec![caster()],
        reason: Some(SpectatorStateChangeReason::Joined),
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"NewSpectatorJoined","data":{"spectator":{"id":"0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560","name":"Caster","connected_at":"2025-06-12T18:07:45.300571920Z"},"current_spectators":[{"id":"0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560","name":"Caster","connected_at":"2025-06-12T18:07:45.300571920Z"}],"reason":"joined"}}"#
    );
}

#[test]
fn spectator_disconnected() {
    let msg = ServerMessage::SpectatorDisconnected(SpectatorDisconnected {
        spectator_id: id(SPECTATOR),
        reason: Some(SpectatorStateChangeReason::Disconnected),
        current_spectators: vec![],
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"SpectatorDisconnected","data":{"spectator_id":"0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560","reason":"disconnected","current_spectators":[]}}"#
    );
    let msg = ServerMessage::SpectatorDisconnected(SpectatorDisconnected {
        spectator_id: id(SPECTATOR),
        reason: None,
        current_spectators: vec![caster()],
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"SpectatorDisconnected","data":{"spectator_id":"0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560","current_spectators":[{"id":"0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560","name":"Caster","connected_at":"2025-06-12T18:07:45.300571920Z"}]}}"#
    );
}

#[test]
fn error_message() {
    assert_eq!(
        json(&ServerMessage::error("Not in a room", ErrorCode::NotInRoom)),
        r#"{"type":"Error","data":{"message":"Not in a room","error_code":"NOT_IN_ROOM"}}"#
    );
    let msg = ServerMessage::Error(ErrorMessage {
        message: "Invalid client message".to_owned(),
        error_code: None,
    });
    assert_eq!(
        json(&msg),
        r#"{"type":"Error","data":{"message":"Invalid client message"}}"#
    );
}

#[test]
fn every_enum_spelling() {
    let spell = |v: serde_json::Result<String>| v.unwrap();
    let states = [
        (LobbyState::Waiting, "\"waiting\""),
        (LobbyState::Lobby, "\"lobby\""),
        (LobbyState::Finalized, "\"finalized\""),
    ];
    for (s, text) in states {
        assert_eq!(spell(serde_json::to_string(&s)), text);
    }
    let reasons = [
        (SpectatorStateChangeReason::Joined, "\"joined\""),
        (
            SpectatorStateChangeReason::VoluntaryLeave,
            "\"voluntary_leave\"",
        ),
        (SpectatorStateChangeReason::Disconnected, "\"disconnected\""),
        (SpectatorStateChangeReason::Removed, "\"removed\""),
        (SpectatorStateChangeReason::RoomClosed, "\"room_closed\""),
    ];
    for (r, text) in reasons {
        assert_eq!(spell(serde_json::to_string(&r)), text);
    }
    let encodings = [
        (GameDataEncoding::Json, "\"json\""),
        (GameDataEncoding::MessagePack, "\"message_pack\""),
        (GameDataEncoding::Rkyv, "\"rkyv\""),
    ];
    for (e, text) in encodings {
        assert_eq!(spell(serde_json::to_string(&e)), text);
    }
    let transports = [
        (RelayTransport::Tcp, "\"tcp\""),
        (RelayTransport::Udp, "\"udp\""),
        (RelayTransport::Websocket, "\"websocket\""),
        (RelayTransport::Auto, "\"auto\""),
    ];
    for (t, text) in transports {
        assert_eq!(spell(serde_json::to_string(&t)), text);
    }
}

#[test]
fn connection_info_output() {
    let cases = [
        (
            direct(),
            r#"{"type":"direct","host":"203.0.113.7","port":7777}"#,
        ),
        (
            ConnectionInfo::UnityRelay {
                allocation_id: "a".to_owned(),
                connection_data: "c".to_owned(),
                key: "k".to_owned(),
            },
            r#"{"type":"unity_relay","allocation_id":"a","connection_data":"c","key":"k"}"#,
        ),
        (
            ConnectionInfo::Relay {
                host: "relay.example.net".to_owned(),
                port: 40000,
                transport: RelayTransport::Udp,
                allocation_id: ROOM.to_owned(),
                token: "opaque-7f3a".to_owned(),
                client_id: Some(3),
            },
            r#"{"type":"relay","host":"relay.example.net","port":40000,"transport":"udp","allocation_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","token":"opaque-7f3a","client_id":3}"#,
        ),
        (
            ConnectionInfo::Relay {
                host: "h".to_owned(),
                port: 1,
                transport: RelayTransport::Auto,
                allocation_id: "a".to_owned(),
                token: "t".to_owned(),
                client_id: None,
            },
            r#"{"type":"relay","host":"h","port":1,"transport":"auto","allocation_id":"a","token":"t"}"#,
        ),
        (
            ConnectionInfo::WebRtc {
                sdp: None,
                ice_candidates: vec![
                    "candidate:1 1 udp 2122260223 192.0.2.4 50000 typ host".to_owned(),
                ],
            },
            r#"{"type":"webrtc","sdp":null,"ice_candidates":["candidate:1 1 udp 2122260223 192.0.2.4 50000 typ host"]}"#,
        ),
        (
            ConnectionInfo::WebRtc {
                sdp: Some("v=0".to_owned()),
                ice_candidates: vec![],
            },
            r#"{"type":"webrtc","sdp":"v=0","ice_candidates":[]}"#,
        ),
        (
            ConnectionInfo::Custom {
                data: serde_json::from_str(r#"{"z":1,"a":{"y":1.50,"b":1e2}}"#).unwrap(),
            },
            r#"{"type":"custom","data":{"a":{"b":100.0,"y":1.5},"z":1}}"#,
        ),
    ];
    for (info, expected) in cases {
        assert_eq!(serde_json::to_string(&info).unwrap(), expected);
    }
}

#[test]
fn connected_at_uses_0_3_6_or_9_fraction_digits() {
    let base = Utc.with_ymd_and_hms(2025, 6, 12, 18, 4, 31).unwrap();
    let cases = [
        (0, "2025-06-12T18:04:31Z"),
        (120_000_000, "2025-06-12T18:04:31.120Z"),
        (1_000_000, "2025-06-12T18:04:31.001Z"),
        (482_913_000, "2025-06-12T18:04:31.482913Z"),
        (1_000, "2025-06-12T18:04:31.000001Z"),
        (482_913_057, "2025-06-12T18:04:31.482913057Z"),
        (1, "2025-06-12T18:04:31.000000001Z"),
        (300_571_920, "2025-06-12T18:04:31.300571920Z"),
    ];
    for (nanos, expected) in cases {
        let info = SpectatorInfo {
            id: id(SPECTATOR),
            name: "s".to_owned(),
            connected_at: base.with_nanosecond(nanos).unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            format!(r#"{{"id":"{SPECTATOR}","name":"s","connected_at":"{expected}"}}"#)
        );
    }
}
