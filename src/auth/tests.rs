//! The `Authenticate` decision: frames, rejection texts, limits and format negotiation.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{AppRateLimiter, AuthOutcome, authenticate, check_sdk, protocol_info};
use crate::config::{AuthorizedApp, Config};
use crate::protocol::GameDataEncoding;
use crate::protocol::client::Authenticate;
use crate::protocol::codec::encode_server;

const UNITY_AUTHENTICATED: &str = r#"{"type":"Authenticated","data":{"app_name":"My Game","rate_limits":{"per_minute":60,"per_hour":3600,"per_day":86400}}}"#;
const UNITY_PROTOCOL_INFO: &str = r#"{"type":"ProtocolInfo","data":{"platform":"Unity","sdk_version":"1.11.0","minimum_version":"1.10.0","recommended_version":"1.12.0","capabilities":["reconnection","spectator-mode","rate-limits-v2","relay-matchbox","relay-mirror","relay-fishnet"],"notes":"Upgrade to 1.12.x for deterministic reconnect handling and spectator patches.","game_data_formats":["json","message_pack"],"player_name_rules":{"max_length":32,"min_length":1,"allow_unicode_alphanumeric":true,"allow_spaces":true,"allow_leading_trailing_whitespace":false,"allowed_symbols":["-","_"]}}}"#;

/// A config with auth on and one app, `my-game` ("My Game", 60 per minute).
fn auth_on() -> Config {
    let mut cfg = Config::default();
    cfg.security.require_websocket_auth = true;
    cfg.security.authorized_apps.push(AuthorizedApp {
        app_id: "my-game".to_owned(),
        app_secret: None,
        require_secret: false,
        app_name: "My Game".to_owned(),
        max_rooms: None,
        max_players_per_room: None,
        rate_limit_per_minute: Some(60),
    });
    cfg
}

/// A client address on the loopback network.
fn ip(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// Parses an `Authenticate` payload the way the wire does.
fn req(json: &str) -> Authenticate {
    serde_json::from_str(json).unwrap()
}

fn run(cfg: &Config, json: &str) -> AuthOutcome {
    authenticate(
        cfg,
        &req(json),
        ip(1),
        &mut AppRateLimiter::new(),
        Instant::now(),
    )
}

/// The frames of an accepted outcome, as JSON text, with the encoding and app id.
fn accepted(outcome: AuthOutcome) -> (GameDataEncoding, String, Vec<String>) {
    match outcome {
        AuthOutcome::Accepted {
            encoding,
            app_id,
            replies,
        } => {
            let frames = replies
                .iter()
                .map(|m| String::from_utf8(encode_server(m).to_vec()).unwrap())
                .collect();
            (encoding, app_id, frames)
        }
        other => panic!("expected acceptance, got {other:?}"),
    }
}

/// The frame and close flag of a rejected outcome.
fn rejected(outcome: AuthOutcome) -> (String, bool) {
    match outcome {
        AuthOutcome::Rejected { reply, close } => (
            String::from_utf8(encode_server(&reply).to_vec()).unwrap(),
            close,
        ),
        other => panic!("expected rejection, got {other:?}"),
    }
}

fn auth_error(error: &str, code: &str) -> String {
    format!(
        r#"{{"type":"AuthenticationError","data":{{"error":"{error}","error_code":"{code}"}}}}"#
    )
}

#[test]
fn unity_example_frames_are_exact() {
    let outcome = run(
        &auth_on(),
        r#"{"app_id":"my-game","platform":"Unity","sdk_version":"1.11.0"}"#,
    );
    let (encoding, app_id, frames) = accepted(outcome);
    assert_eq!(encoding, GameDataEncoding::Json);
    assert_eq!(app_id, "my-game");
    assert_eq!(frames, vec![UNITY_AUTHENTICATED, UNITY_PROTOCOL_INFO]);
}

#[test]
fn unknown_app_is_rejected_and_closed() {
    let (frame, close) = rejected(run(&auth_on(), r#"{"app_id":"My-Game"}"#));
    assert_eq!(frame, auth_error("InvalidAppId", "INVALID_APP_ID"));
    assert!(close);
    let mut cfg = auth_on();
    cfg.security.authorized_apps.clear();
    let (frame, _) = rejected(run(&cfg, r#"{"app_id":"my-game"}"#));
    assert_eq!(frame, auth_error("InvalidAppId", "INVALID_APP_ID"));
}

#[test]
fn per_app_rate_limit_slides_over_a_minute() {
    let mut cfg = auth_on();
    cfg.security.authorized_apps[0].rate_limit_per_minute = Some(2);
    let mut limiter = AppRateLimiter::new();
    let request = req(r#"{"app_id":"my-game","platform":"unity","sdk_version":"1.10.0"}"#);
    let t0 = Instant::now();
    let at = |s| t0 + Duration::from_secs(s);
    assert!(matches!(
        authenticate(&cfg, &request, ip(1), &mut limiter, at(0)),
        AuthOutcome::Accepted { .. }
    ));
    assert!(matches!(
        authenticate(&cfg, &request, ip(1), &mut limiter, at(30)),
        AuthOutcome::Accepted { .. }
    ));
    let (frame, close) = rejected(authenticate(&cfg, &request, ip(1), &mut limiter, at(60)));
    assert_eq!(
        frame,
        auth_error("RateLimitExceeded", "RATE_LIMIT_EXCEEDED")
    );
    assert!(close);
    // The first attempt leaves the window once strictly older than 60 s; the rejection above
    // was not recorded.
    assert!(matches!(
        authenticate(&cfg, &request, ip(1), &mut limiter, at(61)),
        AuthOutcome::Accepted { .. }
    ));
    assert!(matches!(
        authenticate(&cfg, &request, ip(1), &mut limiter, at(62)),
        AuthOutcome::Rejected { .. }
    ));
}

#[test]
fn a_passing_attempt_keeps_its_slot_when_the_sdk_fails() {
    let mut cfg = auth_on();
    cfg.security.authorized_apps[0].rate_limit_per_minute = Some(1);
    let mut limiter = AppRateLimiter::new();
    let now = Instant::now();
    let bad_sdk = req(r#"{"app_id":"my-game"}"#);
    let (_, close) = rejected(authenticate(&cfg, &bad_sdk, ip(1), &mut limiter, now));
    assert!(!close);
    let good = req(r#"{"app_id":"my-game","platform":"test","sdk_version":"1.0.0"}"#);
    let (frame, _) = rejected(authenticate(&cfg, &good, ip(1), &mut limiter, now));
    assert_eq!(
        frame,
        auth_error("RateLimitExceeded", "RATE_LIMIT_EXCEEDED")
    );
}

#[test]
fn limiter_zero_limit_and_purge() {
    let mut limiter = AppRateLimiter::new();
    let t0 = Instant::now();
    assert!(!limiter.try_acquire(ip(1), "a", 0, t0));
    assert!(limiter.try_acquire(ip(1), "b", 1, t0));
    assert!(limiter.try_acquire(ip(2), "b", 1, t0));
    assert_eq!(limiter.tracked(), 3);
    limiter.purge(t0 + Duration::from_secs(60));
    assert_eq!(
        limiter.tracked(),
        2,
        "`a` holds nothing, `b` is still in its window for both IPs"
    );
    limiter.purge(t0 + Duration::from_secs(61));
    assert_eq!(limiter.tracked(), 0);
}

#[test]
fn one_ip_exhausting_an_app_leaves_other_ips_alone() {
    let mut cfg = auth_on();
    cfg.security.authorized_apps[0].rate_limit_per_minute = Some(2);
    cfg.security.authorized_apps[0].app_secret = Some("s3cret".to_owned());
    let mut limiter = AppRateLimiter::new();
    let now = Instant::now();
    let wrong =
        req(r#"{"app_id":"my-game","app_secret":"guess","platform":"test","sdk_version":"1.0.0"}"#);
    let good = req(r#"{"app_id":"my-game","platform":"test","sdk_version":"1.0.0"}"#);
    // Wrong secrets use up the sender's own window…
    for _ in 0..2 {
        let (frame, _) = rejected(authenticate(&cfg, &wrong, ip(2), &mut limiter, now));
        assert_eq!(frame, auth_error("InvalidCredentials", "UNAUTHORIZED"));
    }
    let (frame, _) = rejected(authenticate(&cfg, &good, ip(2), &mut limiter, now));
    assert_eq!(
        frame,
        auth_error("RateLimitExceeded", "RATE_LIMIT_EXCEEDED")
    );
    // …and nobody else's.
    for _ in 0..2 {
        accepted(authenticate(&cfg, &good, ip(3), &mut limiter, now));
    }
}

#[test]
fn app_secret_is_checked_only_when_both_sides_have_one() {
    let mut cfg = auth_on();
    let ok = r#"{"app_id":"my-game","platform":"test","sdk_version":"1.0.0"#;
    // The app has no secret: whatever the client sends passes.
    accepted(run(&cfg, &format!(r#"{ok}","app_secret":"anything"}}"#)));
    cfg.security.authorized_apps[0].app_secret = Some("s3cret".to_owned());
    accepted(run(&cfg, &format!(r#"{ok}"}}"#)));
    accepted(run(&cfg, &format!(r#"{ok}","app_secret":"s3cret"}}"#)));
    for wrong in ["s3cre", "s3cret!", ""] {
        let (frame, close) = rejected(run(&cfg, &format!(r#"{ok}","app_secret":"{wrong}"}}"#)));
        assert_eq!(frame, auth_error("InvalidCredentials", "UNAUTHORIZED"));
        assert!(close);
    }
    // An empty configured secret means "no secret".
    cfg.security.authorized_apps[0].app_secret = Some(String::new());
    accepted(run(&cfg, &format!(r#"{ok}","app_secret":"x"}}"#)));
}

#[test]
fn require_secret_makes_the_secret_mandatory() {
    let mut cfg = auth_on();
    cfg.security.authorized_apps[0].app_secret = Some("s3cret".to_owned());
    cfg.security.authorized_apps[0].require_secret = true;
    let ok = r#"{"app_id":"my-game","platform":"test","sdk_version":"1.0.0"#;
    accepted(run(&cfg, &format!(r#"{ok}","app_secret":"s3cret"}}"#)));
    for request in [
        format!(r#"{ok}"}}"#),
        format!(r#"{ok}","app_secret":null}}"#),
        format!(r#"{ok}","app_secret":"wrong"}}"#),
    ] {
        let (frame, close) = rejected(run(&cfg, &request));
        assert_eq!(
            frame,
            auth_error("InvalidCredentials", "UNAUTHORIZED"),
            "{request}"
        );
        assert!(close);
    }
    // An unknown app is still told so, whatever it sends.
    let (frame, _) = rejected(run(&cfg, r#"{"app_id":"other","app_secret":"s3cret"}"#));
    assert_eq!(frame, auth_error("InvalidAppId", "INVALID_APP_ID"));
}

#[test]
fn sdk_rejections_use_the_exact_texts_and_keep_the_connection() {
    let cfg = auth_on();
    let cases = [
        (
            r#"{"app_id":"my-game"}"#,
            "SDK platform is required for compatibility validation",
        ),
        (
            r#"{"app_id":"my-game","platform":"Bevy","sdk_version":"1.0.0"}"#,
            "SDK platform `Bevy` is not recognized",
        ),
        (
            r#"{"app_id":"my-game","platform":"Godot"}"#,
            "SDK version is required for platform `Godot`",
        ),
        (
            r#"{"app_id":"my-game","platform":"unity","sdk_version":"1.12"}"#,
            "SDK version `1.12` for platform `unity` is invalid: \
             unexpected end of input while parsing minor version number",
        ),
        (
            r#"{"app_id":"my-game","platform":"UNITY","sdk_version":"1.9.9"}"#,
            "SDK version `1.9.9` for platform `UNITY` is below the minimum supported version `1.10.0`",
        ),
    ];
    for (request, text) in cases {
        let (frame, close) = rejected(run(&cfg, request));
        assert_eq!(
            frame,
            auth_error(text, "SDK_VERSION_UNSUPPORTED"),
            "{request}"
        );
        assert!(!close);
    }
}

#[test]
fn sdk_rules_without_enforcement() {
    let mut cfg = Config::default();
    let sdk = &mut cfg.protocol.sdk_compatibility;
    sdk.enforce = false;
    assert_eq!(check_sdk(sdk, None, None), Ok(()));
    assert_eq!(check_sdk(sdk, Some("bevy"), None), Ok(()));
    assert!(check_sdk(sdk, Some("unity"), Some("1.0.0")).is_err());
    assert_eq!(check_sdk(sdk, Some("unity"), Some("1.10.0")), Ok(()));
    sdk.enforce = true;
    sdk.minimum_versions.clear();
    assert_eq!(
        check_sdk(sdk, None, None),
        Ok(()),
        "an empty table enforces nothing"
    );
}

#[test]
fn auth_off_accepts_any_app_without_checks() {
    let cfg = Config::default();
    let (encoding, app_id, frames) = accepted(run(&cfg, r#"{"app_id":"whatever"}"#));
    assert_eq!(encoding, GameDataEncoding::Json);
    assert_eq!(app_id, "whatever");
    assert_eq!(
        frames[0],
        r#"{"type":"Authenticated","data":{"app_name":"whatever","rate_limits":{"per_minute":1000,"per_hour":60000,"per_day":1440000}}}"#
    );
    assert_eq!(
        frames[1],
        r#"{"type":"ProtocolInfo","data":{"capabilities":["reconnection","spectator-mode","rate-limits-v2"],"game_data_formats":["json","message_pack"],"player_name_rules":{"max_length":32,"min_length":1,"allow_unicode_alphanumeric":true,"allow_spaces":true,"allow_leading_trailing_whitespace":false,"allowed_symbols":["-","_"]}}}"#
    );
}

#[test]
fn auth_off_names_a_configured_app_and_skips_its_limits() {
    let mut cfg = auth_on();
    cfg.security.require_websocket_auth = false;
    cfg.security.authorized_apps[0].rate_limit_per_minute = Some(0);
    cfg.security.authorized_apps[0].app_secret = Some("s3cret".to_owned());
    let request =
        r#"{"app_id":"my-game","app_secret":"wrong","platform":"unity","sdk_version":"0.1.0"}"#;
    let (_, _, frames) = accepted(run(&cfg, request));
    assert_eq!(
        frames[0],
        r#"{"type":"Authenticated","data":{"app_name":"My Game","rate_limits":{"per_minute":0,"per_hour":0,"per_day":0}}}"#
    );
}

#[test]
fn unsupported_format_falls_back_to_json_with_a_notice_first() {
    let cfg = auth_on();
    let base = r#"{"app_id":"my-game","platform":"test","sdk_version":"1.0.0""#;
    let (encoding, _, frames) =
        accepted(run(&cfg, &format!(r#"{base},"game_data_format":"rkyv"}}"#)));
    assert_eq!(encoding, GameDataEncoding::Json);
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames[0],
        r#"{"type":"Error","data":{"message":"Requested game data format Rkyv is not supported. Server supports: Json, MessagePack. Falling back to JSON.","error_code":"UNSUPPORTED_GAME_DATA_FORMAT"}}"#
    );
    assert!(frames[1].starts_with(r#"{"type":"Authenticated""#));
    assert!(frames[2].starts_with(r#"{"type":"ProtocolInfo""#));

    let (encoding, _, frames) = accepted(run(
        &cfg,
        &format!(r#"{base},"game_data_format":"message_pack"}}"#),
    ));
    assert_eq!(encoding, GameDataEncoding::MessagePack);
    assert_eq!(frames.len(), 2);

    let mut no_pack = cfg;
    no_pack.protocol.enable_message_pack_game_data = false;
    let (encoding, _, frames) = accepted(run(
        &no_pack,
        &format!(r#"{base},"game_data_format":"message_pack"}}"#),
    ));
    assert_eq!(encoding, GameDataEncoding::Json);
    assert_eq!(
        frames[0],
        r#"{"type":"Error","data":{"message":"Requested game data format MessagePack is not supported. Server supports: Json. Falling back to JSON.","error_code":"UNSUPPORTED_GAME_DATA_FORMAT"}}"#
    );
    assert!(frames[2].contains(r#""game_data_formats":["json"]"#));
}

#[test]
fn protocol_info_derivation() {
    let mut cfg = Config::default();
    let sdk = &mut cfg.protocol.sdk_compatibility;
    sdk.capabilities.insert(
        "godot".to_owned(),
        vec![
            "relay-x".to_owned(),
            "reconnection".to_owned(),
            "relay-x".to_owned(),
        ],
    );
    sdk.notes.insert("_default".to_owned(), "Hello.".to_owned());
    cfg.protocol
        .player_name_validation
        .additional_allowed_characters = Some("!?".to_owned());
    let info = protocol_info(&cfg, Some("GoDoT"), Some("0.9.1"));
    assert_eq!(info.platform.as_deref(), Some("GoDoT"));
    assert_eq!(info.minimum_version.as_deref(), Some("0.9.0"));
    assert_eq!(info.recommended_version, None);
    assert_eq!(
        info.capabilities,
        vec![
            "reconnection",
            "spectator-mode",
            "rate-limits-v2",
            "relay-x"
        ]
    );
    assert_eq!(
        info.notes.as_deref(),
        Some("Hello."),
        "falls back to `_default`"
    );
    let rules = serde_json::to_string(&info.player_name_rules).unwrap();
    assert!(
        rules.ends_with(r#""additional_allowed_characters":"!?"}"#),
        "{rules}"
    );
    let unity = protocol_info(&cfg, Some("unity"), None);
    assert!(unity.notes.unwrap().starts_with("Upgrade to 1.12.x"));
}
