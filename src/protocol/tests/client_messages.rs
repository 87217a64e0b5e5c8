//! Every `ClientMessage` variant from protocol.md §2, and the input tolerance rules of §1.3.

use super::{PLAYER_B, ROOM, id};
use crate::protocol::client::*;
use crate::protocol::codec::decode_client;
use crate::protocol::{ConnectionInfo, GameDataEncoding, RelayTransport};

fn parse(text: &str) -> ClientMessage {
    match decode_client(text) {
        Ok(msg) => msg,
        Err(e) => panic!("{text} should parse: {e:?}"),
    }
}

fn rejects(text: &str) {
    assert!(decode_client(text).is_err(), "{text} should be rejected");
}

fn join_room(text: &str) -> JoinRoom {
    match parse(text) {
        ClientMessage::JoinRoom(j) => j,
        other => panic!("expected JoinRoom, got {other:?}"),
    }
}

fn game_data(text: &str) -> String {
    match parse(text) {
        ClientMessage::GameData(g) => g.data.get().to_owned(),
        other => panic!("expected GameData, got {other:?}"),
    }
}

fn connection_info(info: &str) -> ConnectionInfo {
    let text = format!(r#"{{"type":"ProvideConnectionInfo","data":{{"connection_info":{info}}}}}"#);
    match parse(&text) {
        ClientMessage::ProvideConnectionInfo(p) => p.connection_info,
        other => panic!("expected ProvideConnectionInfo, got {other:?}"),
    }
}

#[test]
fn authenticate() {
    let msg = parse(
        r#"{"type":"Authenticate","data":{"app_id":"kart-racer","sdk_version":"1.12.0","platform":"unity","game_data_format":"message_pack"}}"#,
    );
    let ClientMessage::Authenticate(a) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(a.app_id, "kart-racer");
    assert_eq!(a.sdk_version.as_deref(), Some("1.12.0"));
    assert_eq!(a.platform.as_deref(), Some("unity"));
    assert_eq!(a.game_data_format, Some(GameDataEncoding::MessagePack));
    assert_eq!(a.app_secret, None);

    let msg = parse(
        r#"{"type":"Authenticate","data":{"app_id":"x","app_secret":"s","game_data_format":null,"platform":null}}"#,
    );
    let ClientMessage::Authenticate(a) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(a.app_secret.as_deref(), Some("s"));
    assert_eq!(a.game_data_format, None);
    assert_eq!(a.platform, None);

    let msg = parse(r#"{"type":"Authenticate","data":{"app_id":"x","game_data_format":"rkyv"}}"#);
    let ClientMessage::Authenticate(a) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(a.game_data_format, Some(GameDataEncoding::Rkyv));
}

#[test]
fn authenticate_rejects_unknown_formats_and_missing_app_id() {
    for format in ["\"MessagePack\"", "\"msgpack\"", "\"JSON\"", "1"] {
        rejects(&format!(
            r#"{{"type":"Authenticate","data":{{"app_id":"x","game_data_format":{format}}}}}"#
        ));
    }
    rejects(r#"{"type":"Authenticate","data":{"platform":"unity"}}"#);
    rejects(r#"{"type":"Authenticate"}"#);
}

#[test]
fn join_room_examples() {
    let j = join_room(
        r#"{"type":"JoinRoom","data":{"game_name":"kart racer","player_name":"Mika","max_players":4,"supports_authority":true}}"#,
    );
    assert_eq!(j.game_name, "kart racer");
    assert_eq!(j.player_name, "Mika");
    assert_eq!(j.room_code, None);
    assert_eq!(j.max_players, Some(4));
    assert_eq!(j.supports_authority, Some(true));
    assert_eq!(j.relay_transport, None);

    let j = join_room(
        r#"{"type":"JoinRoom","data":{"game_name":"kart racer","room_code":"qx7m4d","player_name":"Ravi","relay_transport":"udp"}}"#,
    );
    assert_eq!(j.room_code.as_deref(), Some("qx7m4d"));
    assert_eq!(j.max_players, None);
    assert_eq!(j.supports_authority, None);
    assert_eq!(j.relay_transport, Some(RelayTransport::Udp));

    // The original's own client writes unset optionals as null.
    let j = join_room(
        r#"{"type":"JoinRoom","data":{"game_name":"g","room_code":null,"player_name":"p","max_players":null,"supports_authority":null,"relay_transport":null}}"#,
    );
    assert_eq!(j.room_code, None);
    assert_eq!(j.max_players, None);
    assert_eq!(j.supports_authority, None);
    assert_eq!(j.relay_transport, None);

    // An empty code parses; validation rejects it later.
    let j = join_room(
        r#"{"type":"JoinRoom","data":{"game_name":"g","room_code":"","player_name":"p"}}"#,
    );
    assert_eq!(j.room_code.as_deref(), Some(""));
}

#[test]
fn join_room_max_players_is_a_u8() {
    for ok in [0, 1, 255] {
        let j = join_room(&format!(
            r#"{{"type":"JoinRoom","data":{{"game_name":"g","player_name":"p","max_players":{ok}}}}}"#
        ));
        assert_eq!(j.max_players, Some(ok));
    }
    for bad in ["256", "-1", "4.0", "\"4\"", "1e1"] {
        rejects(&format!(
            r#"{{"type":"JoinRoom","data":{{"game_name":"g","player_name":"p","max_players":{bad}}}}}"#
        ));
        // Also when `data` is buffered because it comes before `type`.
        rejects(&format!(
            r#"{{"data":{{"game_name":"g","player_name":"p","max_players":{bad}}},"type":"JoinRoom"}}"#
        ));
    }
}

#[test]
fn join_room_rejects_bad_transport_and_missing_fields() {
    rejects(
        r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"p","relay_transport":"TCP"}}"#,
    );
    rejects(r#"{"type":"JoinRoom","data":{"game_name":"g"}}"#);
    rejects(r#"{"type":"JoinRoom","data":{"player_name":"p"}}"#);
    rejects(r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":null}}"#);
}

#[test]
fn unit_variants() {
    for (name, check) in [
        (
            "LeaveRoom",
            (|m| matches!(m, ClientMessage::LeaveRoom)) as fn(&ClientMessage) -> bool,
        ),
        ("PlayerReady", |m| matches!(m, ClientMessage::PlayerReady)),
        ("Ping", |m| matches!(m, ClientMessage::Ping)),
        ("LeaveSpectator", |m| {
            matches!(m, ClientMessage::LeaveSpectator)
        }),
    ] {
        for accepted in [
            format!(r#"{{"type":"{name}"}}"#),
            format!(r#"{{"type":"{name}","data":null}}"#),
            format!(r#"{{"data":null,"type":"{name}"}}"#),
            format!(" \n\t{{ \"type\" : \"{name}\" }}\r\n "),
        ] {
            assert!(check(&parse(&accepted)), "{accepted}");
        }
        for data in ["{}", r#"{"ready":true}"#, "[]", "0", "false", "\"\""] {
            rejects(&format!(r#"{{"type":"{name}","data":{data}}}"#));
            rejects(&format!(r#"{{"data":{data},"type":"{name}"}}"#));
        }
    }
}

#[test]
fn game_data_examples() {
    assert_eq!(
        game_data(r#"{"type":"GameData","data":{"data":{"kind":"pos","x":12.5,"y":-3}}}"#),
        r#"{"kind":"pos","x":12.5,"y":-3}"#
    );
    // Any JSON value, including null; it must be present.
    assert_eq!(
        game_data(r#"{"type":"GameData","data":{"data":null}}"#),
        "null"
    );
    assert_eq!(
        game_data(r#"{"type":"GameData","data":{"data":[1,"a"]}}"#),
        r#"[1,"a"]"#
    );
    assert_eq!(
        game_data(r#"{"type":"GameData","data":{"data":"s"}}"#),
        r#""s""#
    );
    rejects(r#"{"type":"GameData","data":{}}"#);
    rejects(r#"{"type":"GameData","data":null}"#);
    rejects(r#"{"type":"GameData"}"#);
    // A flat body is missing the nested `data` field.
    rejects(r#"{"type":"GameData","data":{"x":1}}"#);
    rejects(r#"{"type":"GameData","data":{"data":1,"data":2}}"#);
}

#[test]
fn game_data_with_data_before_type() {
    // serde buffers the payload here; it is re-printed like 0.1.0 re-printed every payload.
    assert_eq!(
        game_data(r#"{"data":{"data":{"y":-3,"kind":"pos","x":12.5}},"type":"GameData"}"#),
        r#"{"kind":"pos","x":12.5,"y":-3}"#
    );
    assert_eq!(
        game_data(r#"{"data":{"data":null},"type":"GameData"}"#),
        "null"
    );
    assert_eq!(
        game_data(r#"{"data":{"data":[1e2,"\u00e9"]},"type":"GameData"}"#),
        r#"[100.0,"é"]"#
    );
    rejects(r#"{"data":{"x":1},"type":"GameData"}"#);
}

#[test]
fn authority_request() {
    for (text, expected) in [
        (
            r#"{"type":"AuthorityRequest","data":{"become_authority":true}}"#,
            true,
        ),
        (
            r#"{"type":"AuthorityRequest","data":{"become_authority":false}}"#,
            false,
        ),
    ] {
        let msg = parse(text);
        let ClientMessage::AuthorityRequest(r) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(r.become_authority, expected);
    }
    rejects(r#"{"type":"AuthorityRequest","data":{}}"#);
    rejects(r#"{"type":"AuthorityRequest","data":{"become_authority":"true"}}"#);
}

#[test]
fn provide_connection_info_variants() {
    assert_eq!(
        connection_info(r#"{"type":"direct","host":"203.0.113.7","port":7777}"#),
        ConnectionInfo::Direct {
            host: "203.0.113.7".to_owned(),
            port: 7777
        }
    );
    // `type` need not come first inside the connection info either.
    assert_eq!(
        connection_info(r#"{"port":7777,"host":"h","type":"direct"}"#),
        ConnectionInfo::Direct {
            host: "h".to_owned(),
            port: 7777
        }
    );
    assert_eq!(
        connection_info(
            r#"{"type":"unity_relay","allocation_id":"a","connection_data":"c","key":"k"}"#
        ),
        ConnectionInfo::UnityRelay {
            allocation_id: "a".to_owned(),
            connection_data: "c".to_owned(),
            key: "k".to_owned()
        }
    );
    assert_eq!(
        connection_info(
            r#"{"type":"relay","host":"relay.example.net","port":40000,"transport":"udp","allocation_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","token":"opaque-7f3a","client_id":3}"#
        ),
        ConnectionInfo::Relay {
            host: "relay.example.net".to_owned(),
            port: 40000,
            transport: RelayTransport::Udp,
            allocation_id: ROOM.to_owned(),
            token: "opaque-7f3a".to_owned(),
            client_id: Some(3)
        }
    );
    // `transport` defaults to auto; `client_id` may be absent.
    let relay =
        connection_info(r#"{"type":"relay","host":"h","port":1,"allocation_id":"a","token":"t"}"#);
    assert_eq!(
        relay,
        ConnectionInfo::Relay {
            host: "h".to_owned(),
            port: 1,
            transport: RelayTransport::Auto,
            allocation_id: "a".to_owned(),
            token: "t".to_owned(),
            client_id: None
        }
    );
    assert_eq!(
        serde_json::to_string(&relay).unwrap(),
        r#"{"type":"relay","host":"h","port":1,"transport":"auto","allocation_id":"a","token":"t"}"#
    );
    // `sdp` may be omitted on input and is written as null.
    let webrtc = connection_info(r#"{"type":"webrtc","ice_candidates":["c1"]}"#);
    assert_eq!(
        webrtc,
        ConnectionInfo::WebRtc {
            sdp: None,
            ice_candidates: vec!["c1".to_owned()]
        }
    );
    assert_eq!(
        serde_json::to_string(&webrtc).unwrap(),
        r#"{"type":"webrtc","sdp":null,"ice_candidates":["c1"]}"#
    );
    assert_eq!(
        connection_info(r#"{"type":"webrtc","sdp":"v=0","ice_candidates":[]}"#),
        ConnectionInfo::WebRtc {
            sdp: Some("v=0".to_owned()),
            ice_candidates: vec![]
        }
    );
    let custom = connection_info(r#"{"type":"custom","data":{"b":1,"a":[null]}}"#);
    assert_eq!(
        serde_json::to_string(&custom).unwrap(),
        r#"{"type":"custom","data":{"a":[null],"b":1}}"#
    );
    assert_eq!(
        connection_info(r#"{"type":"custom","data":null}"#),
        ConnectionInfo::Custom {
            data: serde_json::Value::Null
        }
    );
}

#[test]
fn provide_connection_info_rejections() {
    for bad in [
        r#"{"type":"WebRTC","ice_candidates":[]}"#,
        r#"{"type":"Direct","host":"h","port":1}"#,
        r#"{"type":"direct","host":"h","port":70000}"#,
        r#"{"type":"direct","host":"h","port":-1}"#,
        r#"{"type":"direct","host":"h"}"#,
        r#"{"type":"webrtc","sdp":null}"#,
        r#"{"type":"relay","host":"h","port":1,"transport":"TCP","allocation_id":"a","token":"t"}"#,
        r#"{"type":"relay","host":"h","port":1,"allocation_id":"a","token":"t","client_id":65536}"#,
        r#"{"type":"custom"}"#,
        r#"{"type":"carrier_pigeon"}"#,
        r#"{"host":"h","port":1}"#,
    ] {
        rejects(&format!(
            r#"{{"type":"ProvideConnectionInfo","data":{{"connection_info":{bad}}}}}"#
        ));
    }
    rejects(r#"{"type":"ProvideConnectionInfo","data":{}}"#);
}

fn reconnect(text: &str) -> Reconnect {
    match parse(text) {
        ClientMessage::Reconnect(r) => r,
        other => panic!("expected Reconnect, got {other:?}"),
    }
}

#[test]
fn reconnect_example() {
    let r = reconnect(
        r#"{"type":"Reconnect","data":{"player_id":"c41f9a83-6e27-4d10-b5a2-93e0d8f76c15","room_id":"e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33","auth_token":"2d7e0b5c-8a41-4f3d-9e62-71c0ab5f93d8"}}"#,
    );
    assert_eq!(r.player_id, id(PLAYER_B));
    assert_eq!(r.room_id, id(ROOM));
    assert_eq!(r.auth_token, "2d7e0b5c-8a41-4f3d-9e62-71c0ab5f93d8");
}

#[test]
fn reconnect_accepts_every_uuid_form() {
    for player_id in [
        "C41F9A83-6E27-4D10-B5A2-93E0D8F76C15",
        "c41f9a836e274d10b5a293e0d8f76c15",
        "{c41f9a83-6e27-4d10-b5a2-93e0d8f76c15}",
        "urn:uuid:c41f9a83-6e27-4d10-b5a2-93e0d8f76c15",
    ] {
        let r = reconnect(&format!(
            r#"{{"type":"Reconnect","data":{{"player_id":"{player_id}","room_id":"{ROOM}","auth_token":"t"}}}}"#
        ));
        assert_eq!(r.player_id, id(PLAYER_B), "{player_id}");
    }
    for bad in ["\"not-a-uuid\"", "\"c41f9a83-6e27-4d10-b5a2\"", "null", "1"] {
        rejects(&format!(
            r#"{{"type":"Reconnect","data":{{"player_id":{bad},"room_id":"{ROOM}","auth_token":"t"}}}}"#
        ));
    }
    rejects(&format!(
        r#"{{"type":"Reconnect","data":{{"player_id":"{PLAYER_B}","room_id":"{ROOM}"}}}}"#
    ));
}

#[test]
fn join_as_spectator() {
    let msg = parse(
        r#"{"type":"JoinAsSpectator","data":{"game_name":"kart racer","room_code":"QX7M4D","spectator_name":"Caster"}}"#,
    );
    let ClientMessage::JoinAsSpectator(s) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(s.game_name, "kart racer");
    assert_eq!(s.room_code, "QX7M4D");
    assert_eq!(s.spectator_name, "Caster");
    rejects(r#"{"type":"JoinAsSpectator","data":{"game_name":"g","spectator_name":"c"}}"#);
}

#[test]
fn key_order_is_free() {
    let j = join_room(
        r#"{"data":{"player_name":"Mika","max_players":4,"game_name":"kart racer"},"type":"JoinRoom"}"#,
    );
    assert_eq!(j.game_name, "kart racer");
    assert_eq!(j.max_players, Some(4));
    let r = reconnect(&format!(
        r#"{{"data":{{"auth_token":"t","room_id":"{ROOM}","player_id":"{PLAYER_B}"}},"type":"Reconnect"}}"#
    ));
    assert_eq!(r.player_id, id(PLAYER_B));
}

#[test]
fn unknown_keys_are_ignored() {
    let j = join_room(
        r#"{"id":7,"type":"JoinRoom","data":{"game_name":"g","player_name":"p","colour":"red","nested":{"a":[1]}},"meta":null}"#,
    );
    assert_eq!(j.game_name, "g");
    assert!(matches!(
        parse(r#"{"type":"Ping","seq":12}"#),
        ClientMessage::Ping
    ));
    assert_eq!(
        game_data(r#"{"type":"GameData","data":{"data":1,"extra":true},"x":[]}"#),
        "1"
    );
}

#[test]
fn duplicate_keys_are_rejected() {
    rejects(r#"{"type":"Ping","type":"Ping"}"#);
    rejects(r#"{"type":"Ping","type":"Pong"}"#);
    rejects(
        r#"{"type":"AuthorityRequest","data":{"become_authority":true},"data":{"become_authority":true}}"#,
    );
    rejects(
        r#"{"type":"AuthorityRequest","data":{"become_authority":true,"become_authority":false}}"#,
    );
    rejects(
        r#"{"data":{"become_authority":true,"become_authority":false},"type":"AuthorityRequest"}"#,
    );
    rejects(r#"{"type":"JoinRoom","data":{"game_name":"g","game_name":"h","player_name":"p"}}"#);
}

#[test]
fn trailing_text_is_rejected() {
    rejects(r#"{"type":"Ping"} x"#);
    rejects(r#"{"type":"Ping"}{"type":"Ping"}"#);
    rejects(r#"{"type":"Ping"},"#);
    assert!(matches!(
        parse("  {\"type\":\"Ping\"}\n"),
        ClientMessage::Ping
    ));
}

#[test]
fn type_names_are_exact() {
    for bad in [
        "ping",
        "PING",
        "Pong",
        "joinRoom",
        "CreateRoom",
        "SetReady",
        "",
    ] {
        rejects(&format!(r#"{{"type":"{bad}"}}"#));
    }
    rejects(r#"{"type":"joinroom","data":{"game_name":"g","player_name":"p"}}"#);
    rejects(r#"{"data":null}"#);
    rejects(r#"{"type":null}"#);
    rejects("{}");
    rejects("null");
    rejects("");
    rejects(r#"{"type":"Ping""#);
}

#[test]
fn nesting_is_limited_before_parsing() {
    use crate::protocol::codec::DecodeError;
    let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    // 128 levels with the envelope is accepted in either key order: with `data` first the
    // value is buffered by serde, whose own limit (127) is off once our scan has passed.
    let data = nested(126);
    assert_eq!(
        game_data(&format!(
            r#"{{"type":"GameData","data":{{"data":{data}}}}}"#
        )),
        data
    );
    let data_first = format!(r#"{{"data":{{"data":{data}}},"type":"GameData"}}"#);
    assert!(matches!(
        decode_client(&data_first),
        Ok(ClientMessage::GameData(_))
    ));
    for text in [
        format!(r#"{{"type":"GameData","data":{{"data":{}}}}}"#, nested(127)),
        format!(r#"{{"data":{{"data":{}}},"type":"GameData"}}"#, nested(127)),
        "[".repeat(1 << 20),
        "{\"a\":".repeat(1 << 18),
    ] {
        let err = decode_client(&text).expect_err("too deep");
        assert!(matches!(err, DecodeError::TooDeep));
        assert_eq!(err.to_string(), "Message nested too deeply (max depth 128)");
    }
    // Other parse errors keep 0.1.0's text and add what is wrong.
    assert_eq!(
        decode_client("{").expect_err("invalid").to_string(),
        "Invalid client message: not valid JSON (line 1, column 1)"
    );
    assert_eq!(
        decode_client(r#"{"type":"GameData","data":{"x":1}}"#)
            .expect_err("flat body")
            .to_string(),
        "Invalid client message: missing field data.data in GameData"
    );
}
