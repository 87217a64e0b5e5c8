//! `Authenticate`, with WebSocket auth off (decision 2: always answered, optional) and on.

use crate::common::{Client, start_server, start_with};
use serde_json::json;
use signal_fish_server::config::AuthorizedApp;

#[test]
fn auth_off_answers_any_app_id_with_authenticated_then_protocol_info() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    let (authenticated, info) = c.authenticate(json!({"app_id":"never-configured"}));
    assert_eq!(authenticated["app_name"], "never-configured");
    assert_eq!(
        authenticated["rate_limits"],
        json!({"per_minute":1000,"per_hour":60000,"per_day":1440000})
    );
    assert!(
        authenticated.get("organization").is_none(),
        "organization is omitted: {authenticated}"
    );
    assert_eq!(info["game_data_formats"], json!(["json", "message_pack"]));
    assert_eq!(
        info["capabilities"],
        json!(["reconnection", "spectator-mode", "rate-limits-v2"])
    );
    assert!(info.get("platform").is_none(), "{info}");
    assert_eq!(info["player_name_rules"]["max_length"], 32);
    assert_eq!(info["player_name_rules"]["min_length"], 1);
    assert_eq!(
        info["player_name_rules"]["allowed_symbols"],
        json!(["-", "_"])
    );
    c.expect_quiet();
    server.shutdown();
}

#[test]
fn protocol_info_reflects_the_platform() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    let (_, info) = c.authenticate(
        json!({"app_id":"kart","platform":"unity","sdk_version":"1.12.0","game_data_format":"json"}),
    );
    assert_eq!(info["platform"], "unity");
    assert_eq!(info["sdk_version"], "1.12.0");
    assert_eq!(info["minimum_version"], "1.10.0");
    assert_eq!(info["recommended_version"], "1.12.0");
    assert_eq!(
        info["capabilities"],
        json!([
            "reconnection",
            "spectator-mode",
            "rate-limits-v2",
            "relay-matchbox",
            "relay-mirror",
            "relay-fishnet"
        ])
    );
    assert!(info["notes"].is_string(), "{info}");
    server.shutdown();
}

#[test]
fn authenticate_is_optional_with_auth_off() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    let joined = c.create_room("no auth", "Solo", 2);
    assert_eq!(joined["current_players"][0]["name"], "Solo");
    server.shutdown();
}

#[test]
fn a_second_authenticate_is_ignored() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    c.authenticate(json!({"app_id":"first"}));
    c.send(json!({"type":"Authenticate","data":{"app_id":"second","game_data_format":"rkyv"}}));
    c.expect_quiet();
    // Still a working session.
    c.create_room("auth twice", "Twice", 2);
    server.shutdown();
}

#[test]
fn unsupported_format_is_reported_before_authenticated_and_falls_back_to_json() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    c.send(json!({"type":"Authenticate","data":{"app_id":"x","game_data_format":"rkyv"}}));
    let error = c.expect_error("UNSUPPORTED_GAME_DATA_FORMAT");
    assert_eq!(
        error["message"],
        "Requested game data format Rkyv is not supported. Server supports: Json, MessagePack. \
         Falling back to JSON."
    );
    c.expect("Authenticated");
    c.expect("ProtocolInfo");
    // The connection is JSON: binary frames are refused.
    c.send_binary(vec![0x81, 0xa2, b'h', b'p', 0x5a]);
    c.expect_error("INVALID_INPUT");
    c.expect_quiet();
    server.shutdown();
}

#[test]
fn an_unknown_format_spelling_is_invalid_input() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    c.send(json!({"type":"Authenticate","data":{"app_id":"x","game_data_format":"msgpack"}}));
    c.expect_error("INVALID_INPUT");
    c.expect_quiet();
    server.shutdown();
}

fn auth_on(c: &mut signal_fish_server::config::Config) {
    c.security.require_websocket_auth = true;
    c.security.authorized_apps.push(AuthorizedApp {
        app_id: "kart-racer".to_owned(),
        app_secret: None,
        require_secret: false,
        app_name: "Kart Racer".to_owned(),
        max_rooms: None,
        max_players_per_room: None,
        rate_limit_per_minute: Some(120),
    });
}

#[test]
fn auth_on_a_message_before_authenticate_is_refused_and_closes() {
    let server = start_with(auth_on);
    let mut c = Client::connect(server.port());
    c.send(json!({"type":"JoinRoom","data":{"game_name":"g","player_name":"Early"}}));
    let error = c.expect_error("MISSING_APP_ID");
    assert_eq!(error["message"], "Authentication required");
    assert_eq!(c.expect_close(), Some(1008));

    // A Ping is a message like any other before authentication.
    let mut p = Client::connect(server.port());
    p.send(json!({"type":"Ping"}));
    p.expect_error("MISSING_APP_ID");
    assert_eq!(p.expect_close(), Some(1008));

    // So is binary data.
    let mut b = Client::connect(server.port());
    b.send_binary(vec![0x90]);
    b.expect_error("MISSING_APP_ID");
    assert_eq!(b.expect_close(), Some(1008));
    server.shutdown();
}

#[test]
fn auth_on_an_unknown_app_is_rejected_and_closed() {
    let server = start_with(auth_on);
    let mut c = Client::connect(server.port());
    c.send(json!({"type":"Authenticate","data":{"app_id":"who-knows","platform":"unity","sdk_version":"1.12.0"}}));
    let error = c.expect("AuthenticationError");
    assert_eq!(error["error_code"], "INVALID_APP_ID");
    assert_eq!(error["error"], "InvalidAppId");
    assert_eq!(c.expect_close(), Some(1008));
    server.shutdown();
}

#[test]
fn auth_on_a_known_app_is_authenticated_and_may_play() {
    let server = start_with(auth_on);
    let mut c = Client::connect(server.port());
    let (authenticated, info) =
        c.authenticate(json!({"app_id":"kart-racer","platform":"godot","sdk_version":"0.9.1"}));
    assert_eq!(authenticated["app_name"], "Kart Racer");
    assert_eq!(
        authenticated["rate_limits"],
        json!({"per_minute":120,"per_hour":7200,"per_day":172800})
    );
    assert_eq!(info["platform"], "godot");
    assert_eq!(info["minimum_version"], "0.9.0");
    c.create_room("kart racer", "Mika", 2);
    c.expect_quiet();
    server.shutdown();
}

#[test]
fn auth_on_an_sdk_below_the_minimum_keeps_the_connection_open_for_a_retry() {
    let server = start_with(auth_on);
    let mut c = Client::connect(server.port());
    c.send(json!({"type":"Authenticate","data":{"app_id":"kart-racer","platform":"unity","sdk_version":"1.0.0"}}));
    let error = c.expect("AuthenticationError");
    assert_eq!(error["error_code"], "SDK_VERSION_UNSUPPORTED");
    let (authenticated, _) =
        c.authenticate(json!({"app_id":"kart-racer","platform":"unity","sdk_version":"1.10.0"}));
    assert_eq!(authenticated["app_name"], "Kart Racer");
    server.shutdown();
}

#[test]
fn auth_on_silence_past_the_auth_timeout_closes() {
    let server = start_with(|c| {
        auth_on(c);
        c.websocket.auth_timeout_secs = 1;
    });
    let mut c = Client::connect(server.port());
    let error = c.expect_error("AUTHENTICATION_TIMEOUT");
    assert_eq!(
        error["message"],
        "Authentication timeout - must authenticate within 1 seconds"
    );
    assert_eq!(c.expect_close(), Some(1008));
    server.shutdown();
}

#[test]
fn auth_on_an_app_secret_when_sent_must_match() {
    let server = start_with(|c| {
        auth_on(c);
        c.security.authorized_apps[0].app_secret = Some("s3cret".to_owned());
    });
    let port = server.port();
    let sdk = json!({"platform":"unity","sdk_version":"1.12.0"});
    let with = |extra: serde_json::Value| {
        let mut data = sdk.clone();
        data["app_id"] = json!("kart-racer");
        for (k, v) in extra.as_object().expect("object") {
            data[k] = v.clone();
        }
        data
    };
    let mut wrong = Client::connect(port);
    wrong.send(json!({"type":"Authenticate","data":with(json!({"app_secret":"guess"}))}));
    let error = wrong.expect("AuthenticationError");
    assert_eq!(
        error,
        json!({"error":"InvalidCredentials","error_code":"UNAUTHORIZED"})
    );
    assert_eq!(wrong.expect_close(), Some(1008));

    let mut right = Client::connect(port);
    right.authenticate(with(json!({"app_secret":"s3cret"})));
    // 0.1.0 clients never send a secret; they still get in.
    let mut legacy = Client::connect(port);
    legacy.authenticate(with(json!({})));
    server.shutdown();
}

#[test]
fn auth_on_the_per_app_limit_refuses_and_closes() {
    let server = start_with(|c| {
        auth_on(c);
        c.security.authorized_apps[0].rate_limit_per_minute = Some(2);
    });
    let port = server.port();
    let hello = json!({"app_id":"kart-racer","platform":"unity","sdk_version":"1.12.0"});
    for _ in 0..2 {
        Client::connect_to_shard(port, 0).authenticate(hello.clone());
    }
    let mut third = Client::connect_to_shard(port, 0);
    third.send(json!({"type":"Authenticate","data":hello}));
    let error = third.expect("AuthenticationError");
    assert_eq!(error["error_code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(error["error"], "RateLimitExceeded");
    assert_eq!(third.expect_close(), Some(1008));
    server.shutdown();
}

#[test]
fn auth_on_the_per_app_ip_limit_counts_handshakes_on_every_shard() {
    let server = start_with(|c| {
        auth_on(c);
        c.security.authorized_apps[0].rate_limit_per_minute = Some(2);
    });
    let port = server.port();
    let hello = json!({"app_id":"kart-racer","platform":"unity","sdk_version":"1.12.0"});
    // Handshakes of one IP (every test client is 127.0.0.1) on both shards count against the
    // one window of that (app, IP) pair.
    for shard in 0..crate::common::SHARDS {
        Client::connect_to_shard(port, shard).authenticate(hello.clone());
    }
    let mut third = Client::connect(port);
    third.send(json!({"type":"Authenticate","data":hello}));
    let error = third.expect("AuthenticationError");
    assert_eq!(error["error_code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(error["error"], "RateLimitExceeded");
    assert_eq!(third.expect_close(), Some(1008));
    server.shutdown();
}
