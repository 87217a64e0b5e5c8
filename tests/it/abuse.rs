//! Abuse stays bounded (spec decision 18): one test per attack that was reproduced against the
//! server. Each asserts the exact reply, how the connection ends (or that it stays open), and
//! that the server still serves another client afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{
    Client, EVENT_TIMEOUT, http_request, seat_room, start_with, str_of, tcp_connect,
};
use serde_json::{Value, json};
use signal_fish_server::config::AuthorizedApp;

/// A fresh client can still connect and get answers.
fn still_serves(port: u16) {
    let mut fresh = Client::connect(port);
    fresh.expect_quiet();
    let joined = fresh.create_room("after the attack", "Fresh", 2);
    assert_eq!(joined["current_players"][0]["name"], "Fresh", "{joined}");
    fresh.close();
}

/// `GameData` text whose `data` is `depth` arrays deep; the whole message nests two levels
/// more (the envelope and `data`'s object).
fn nested_game_data(depth: usize) -> (String, String) {
    let data = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let text = format!(r#"{{"type":"GameData","data":{{"data":{data}}}}}"#);
    (text, data)
}

#[test]
fn deep_nesting_is_invalid_input_and_never_relayed() {
    let server = start_with(|_| {});
    let port = server.port();
    let mut clients = vec![Client::connect(port), Client::connect(port)];
    // With auth off, Authenticate still negotiates MessagePack (decision 2).
    clients[0].authenticate(json!({"app_id":"any","game_data_format":"message_pack"}));
    let (_, ids) = seat_room(&mut clients, "deep game", 2, None);
    let [sender, receiver] = &mut clients[..] else {
        unreachable!()
    };
    let too_deep = json!({"type":"Error","data":{
        "message":"Message nested too deeply (max depth 128)","error_code":"INVALID_INPUT"}});

    // The attack: 32,000 arrays deep (64 KB, under the size limit).
    let (attack, _) = nested_game_data(32_000);
    sender.send_text(&attack);
    assert_eq!(sender.recv(), too_deep);
    // One level over the limit (129 with the envelope), and objects count like arrays.
    sender.send_text(&nested_game_data(127).0);
    assert_eq!(sender.recv(), too_deep);
    let objects = format!(
        r#"{{"type":"GameData","data":{{"data":{}1{}}}}}"#,
        r#"{"k":"#.repeat(127),
        "}".repeat(127)
    );
    sender.send_text(&objects);
    assert_eq!(sender.recv(), too_deep);
    // Any message, not only GameData, and before any parsing.
    sender.send_text(&format!(r#"{{"type":"Ping","data":{}}}"#, "[".repeat(200)));
    assert_eq!(sender.recv(), too_deep);
    // MessagePack binary game data: 200 nested arrays.
    let mut packed = vec![0x91; 200];
    packed.push(0xc0);
    sender.send_binary(packed);
    assert_eq!(sender.recv(), too_deep);

    // Exactly at the limit (128 with the envelope) is relayed verbatim, and it is the first
    // thing the receiver gets: none of the refused messages went through.
    let (at_limit, data) = nested_game_data(126);
    sender.send_text(&at_limit);
    let relayed = match receiver.recv_message() {
        tungstenite::Message::Text(text) => text.to_string(),
        other => panic!("expected the relayed text frame, got {other:?}"),
    };
    let expected = format!(
        r#"{{"type":"GameData","data":{{"from_player":"{}","data":{data}}}}}"#,
        ids[0]
    );
    assert_eq!(relayed, expected);
    // The connection stayed open throughout.
    sender.expect_quiet();
    receiver.expect_quiet();
    still_serves(port);
    server.shutdown();
}

fn spectate(c: &mut Client, game: &str, code: &str) -> Value {
    c.send(json!({"type":"JoinAsSpectator","data":{"game_name":game,"room_code":code,"spectator_name":"Probe"}}));
    c.expect("SpectatorJoinFailed")
}

#[test]
fn spectator_probing_uses_the_join_quota() {
    let server = start_with(|c| {
        c.rate_limit.max_join_attempts = 3;
        c.rate_limit.time_window = 60;
    });
    let port = server.port();
    let mut prober = Client::connect_from(port, [127, 0, 0, 2]);
    // Invalid requests use no quota: a code no room can have, a bad name.
    for _ in 0..5 {
        let failed = spectate(&mut prober, "probe game", "QX7M");
        assert_eq!(
            failed,
            json!({"reason":"Room code must be exactly 6 characters","error_code":"INVALID_ROOM_CODE"})
        );
    }
    prober.send(json!({"type":"JoinAsSpectator","data":{"game_name":"probe game","room_code":"QX7M4D","spectator_name":"bad@name"}}));
    assert_eq!(
        prober.expect("SpectatorJoinFailed")["error_code"],
        "INVALID_PLAYER_NAME"
    );
    // Valid probes use the join quota…
    for code in ["AAAAA2", "AAAAA3"] {
        let failed = spectate(&mut prober, "probe game", code);
        assert_eq!(
            failed,
            json!({"reason":"Room not found","error_code":"ROOM_NOT_FOUND"})
        );
    }
    // …shared with JoinRoom…
    let failed = prober
        .join_failed(json!({"game_name":"probe game","room_code":"AAAAA4","player_name":"Probe"}));
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND");
    // …until it runs out.
    let failed = spectate(&mut prober, "probe game", "AAAAA5");
    assert_eq!(failed["error_code"], "RATE_LIMIT_EXCEEDED", "{failed}");
    let reason = str_of(&failed, "reason");
    assert!(
        reason.starts_with("Join attempt rate limit exceeded. Try again in "),
        "{reason}"
    );
    let failed = prober
        .join_failed(json!({"game_name":"probe game","room_code":"AAAAA6","player_name":"Probe"}));
    assert_eq!(failed["error_code"], "RATE_LIMIT_EXCEEDED");
    // The prober stays connected; another IP is not affected.
    prober.expect_quiet();
    let mut other = Client::connect_from(port, [127, 0, 0, 3]);
    assert_eq!(
        spectate(&mut other, "probe game", "AAAAA5")["error_code"],
        "ROOM_NOT_FOUND"
    );
    still_serves(port);
    server.shutdown();
}

fn reconnect(c: &mut Client, player_id: &str, room_id: &str, token: &str) -> Value {
    c.send(json!({"type":"Reconnect","data":{
        "player_id": player_id, "room_id": room_id, "auth_token": token}}));
    c.recv()
}

#[test]
fn reconnection_token_guessing_uses_the_join_quota() {
    let server = start_with(|c| {
        c.rate_limit.max_join_attempts = 3;
        c.rate_limit.time_window = 60;
    });
    let port = server.port();
    // A victim's seat is kept: its player dropped.
    let mut host = Client::connect_from(port, [127, 0, 0, 4]);
    let code = str_of(&host.create_room("guess game", "Host", 4), "room_code").to_owned();
    let mut victim = Client::connect_from(port, [127, 0, 0, 5]);
    let joined = victim.join_room("guess game", &code, "Victim");
    let (player, room) = (str_of(&joined, "player_id"), str_of(&joined, "room_id"));
    let token = str_of(&joined, "reconnection_token").to_owned();
    host.expect_player_joined("Victim");
    drop(victim);
    host.expect("PlayerLeft");

    let mut prober = Client::connect_from(port, [127, 0, 0, 2]);
    // A request that does not parse uses no quota.
    for _ in 0..5 {
        let failed = reconnect(&mut prober, "not-a-uuid", room, "guess");
        assert_eq!(failed["type"], "Error", "{failed}");
        assert_eq!(failed["data"]["error_code"], "INVALID_INPUT");
    }
    // Guesses use the join quota…
    for guess in ["guess-1", "guess-2", "guess-3"] {
        let failed = reconnect(&mut prober, player, room, guess);
        assert_eq!(
            failed,
            json!({"type":"ReconnectionFailed","data":{
                "reason":"Invalid reconnection token","error_code":"RECONNECTION_TOKEN_INVALID"}})
        );
    }
    // …until it runs out, even for the right token, and for joins from that IP.
    let failed = reconnect(&mut prober, player, room, &token);
    assert_eq!(failed["type"], "ReconnectionFailed", "{failed}");
    assert_eq!(failed["data"]["error_code"], "RATE_LIMIT_EXCEEDED");
    let reason = str_of(&failed["data"], "reason");
    assert!(
        reason.starts_with("Join attempt rate limit exceeded. Try again in "),
        "{reason}"
    );
    let failed = prober
        .join_failed(json!({"game_name":"guess game","room_code":code,"player_name":"Probe"}));
    assert_eq!(failed["error_code"], "RATE_LIMIT_EXCEEDED");
    prober.expect_quiet();
    // The player, from its own IP, still gets its seat back.
    let mut back = Client::connect_from(port, [127, 0, 0, 5]);
    let answer = reconnect(&mut back, player, room, &token);
    assert_eq!(answer["type"], "Reconnected", "{answer}");
    assert_eq!(host.expect("PlayerReconnected")["player_id"], player);
    still_serves(port);
    server.shutdown();
}

/// A server with auth on and one app, `locked` ("Locked"), with a secret.
fn auth_server(tweak: impl FnOnce(&mut AuthorizedApp)) -> signal_fish_server::ServerHandle {
    start_with(|c| {
        c.security.require_websocket_auth = true;
        let mut app = AuthorizedApp {
            app_id: "locked".to_owned(),
            app_secret: Some("s3cret".to_owned()),
            require_secret: false,
            app_name: "Locked".to_owned(),
            max_rooms: None,
            max_players_per_room: None,
            rate_limit_per_minute: None,
        };
        tweak(&mut app);
        c.security.authorized_apps.push(app);
    })
}

/// Sends `Authenticate` for `locked` (platform `test`) with `secret`, if any.
fn send_auth(c: &mut Client, app_id: &str, secret: Option<&str>) {
    let mut data = json!({"app_id":app_id,"platform":"test","sdk_version":"1.0.0"});
    if let Some(secret) = secret {
        data["app_secret"] = json!(secret);
    }
    c.send(json!({"type":"Authenticate","data":data}));
}

/// The next message must be this `AuthenticationError`, then a close with 1008.
fn expect_auth_refused(c: &mut Client, error: &str, code: &str) {
    assert_eq!(
        c.recv(),
        json!({"type":"AuthenticationError","data":{"error":error,"error_code":code}})
    );
    assert_eq!(c.expect_close(), Some(1008));
}

#[test]
fn one_ip_cannot_lock_an_app_out() {
    let server = auth_server(|app| app.rate_limit_per_minute = Some(2));
    let port = server.port();
    const A: [u8; 4] = [127, 0, 0, 2];
    const B: [u8; 4] = [127, 0, 0, 3];
    // IP A guesses secrets: each failure uses a slot of A's own window.
    for _ in 0..2 {
        let mut guess = Client::connect_from(port, A);
        send_auth(&mut guess, "locked", Some("guess"));
        expect_auth_refused(&mut guess, "InvalidCredentials", "UNAUTHORIZED");
    }
    let mut late = Client::connect_from(port, A);
    send_auth(&mut late, "locked", Some("s3cret"));
    expect_auth_refused(&mut late, "RateLimitExceeded", "RATE_LIMIT_EXCEEDED");
    // IP B, same app, has its whole window.
    for _ in 0..2 {
        let mut player = Client::connect_from(port, B);
        send_auth(&mut player, "locked", None);
        let (authenticated, _) = (
            player.expect("Authenticated"),
            player.expect("ProtocolInfo"),
        );
        assert_eq!(
            authenticated,
            json!({"app_name":"Locked","rate_limits":{"per_minute":2,"per_hour":120,"per_day":2880}})
        );
        player.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn require_secret_refuses_missing_and_wrong_secrets() {
    let server = auth_server(|app| app.require_secret = true);
    let port = server.port();
    for secret in [None, Some("wrong")] {
        let mut c = Client::connect(port);
        send_auth(&mut c, "locked", secret);
        expect_auth_refused(&mut c, "InvalidCredentials", "UNAUTHORIZED");
    }
    let mut unknown = Client::connect(port);
    send_auth(&mut unknown, "nobody", Some("s3cret"));
    expect_auth_refused(&mut unknown, "InvalidAppId", "INVALID_APP_ID");
    // The right secret gets in, and the server goes on serving.
    let mut ok = Client::connect(port);
    send_auth(&mut ok, "locked", Some("s3cret"));
    assert_eq!(ok.expect("Authenticated")["app_name"], "Locked");
    ok.expect("ProtocolInfo");
    let joined = ok.create_room("secret game", "Tool", 2);
    assert_eq!(joined["current_players"][0]["name"], "Tool", "{joined}");
    server.shutdown();
}

/// A raw socket after a successful upgrade, for writing frames by hand.
fn raw_websocket(port: u16) -> TcpStream {
    let mut stream = tcp_connect(port, None);
    stream
        .set_read_timeout(Some(EVENT_TIMEOUT))
        .expect("timeout");
    stream
        .write_all(
            b"GET /v2/ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("write upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .expect("read the upgrade response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// One frame: `first` is the FIN/RSV/opcode byte; masked with a fixed key when `masked`.
fn frame(first: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Reads server frames until a close frame; returns its code.
fn read_close_code(stream: &mut TcpStream) -> u16 {
    loop {
        let mut header = [0u8; 2];
        stream
            .read_exact(&mut header)
            .expect("a close frame before the connection ends");
        assert_eq!(header[1] & 0x80, 0, "server frames are unmasked");
        let len = match header[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                stream.read_exact(&mut ext).expect("length");
                u64::from(u16::from_be_bytes(ext))
            }
            127 => {
                let mut ext = [0u8; 8];
                stream.read_exact(&mut ext).expect("length");
                u64::from_be_bytes(ext)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload).expect("payload");
        if header[0] & 0x0f == 0x8 {
            assert!(payload.len() >= 2, "close frame without a code");
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[test]
fn protocol_violations_close_with_the_rfc_6455_code() {
    let server = start_with(|_| {});
    let port = server.port();
    let cases: [(&str, Vec<u8>, u16); 7] = [
        (
            "invalid UTF-8 text",
            frame(0x81, true, &[0xff, 0xfe, b'x']),
            1007,
        ),
        ("RSV1 set", frame(0xc1, true, b"{}"), 1002),
        (
            "unmasked client frame",
            frame(0x81, false, br#"{"type":"Ping"}"#),
            1002,
        ),
        ("ping over 125 bytes", frame(0x89, true, &[0u8; 126]), 1002),
        ("fragmented ping", frame(0x09, true, b"p"), 1002),
        ("unknown data opcode", frame(0x83, true, b"x"), 1002),
        ("unknown control opcode", frame(0x8b, true, b"x"), 1002),
    ];
    for (what, bytes, code) in cases {
        let mut stream = raw_websocket(port);
        // A valid frame first: the connection works until the violation.
        stream
            .write_all(&frame(0x81, true, br#"{"type":"Ping"}"#))
            .expect("write ping");
        stream.write_all(&bytes).expect("write violation");
        // The Pong comes first, then the close frame with the code.
        assert_eq!(read_close_code(&mut stream), code, "{what}");
    }
    still_serves(port);
    server.shutdown();
}

#[test]
fn bad_handshakes_get_400_with_a_reason() {
    let server = start_with(|_| {});
    let port = server.port();
    let upgrade = |version: &str, host: bool, key: &str, ws_version: &str| {
        let host = if host { "Host: localhost\r\n" } else { "" };
        format!(
            "GET /v2/ws HTTP/{version}\r\n{host}Connection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {ws_version}\r\n\r\n"
        )
    };
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let cases = [
        (upgrade("1.1", false, key, "13"), "`Host` header missing"),
        (
            upgrade("1.0", true, key, "13"),
            "WebSocket upgrade requires HTTP/1.1",
        ),
        (
            upgrade("1.1", true, "c2hvcnQ=", "13"),
            "`Sec-WebSocket-Key` header is not base64 of 16 bytes",
        ),
        (
            upgrade("1.1", true, "not base64 at all!!!!!!!", "13"),
            "`Sec-WebSocket-Key` header is not base64 of 16 bytes",
        ),
        (
            upgrade("1.1", true, key, "8"),
            "`Sec-WebSocket-Version` header did not include '13'",
        ),
    ];
    for (request, reason) in cases {
        let (status, head, body) = http_request(port, &request);
        assert_eq!((status, body.as_str()), (400, reason), "{request}");
        assert!(
            head.contains("content-type: text/plain; charset=utf-8"),
            "{head}"
        );
    }
    // Plain routes still answer HTTP/1.0 clients (old probes, `curl -0`), Host or not.
    let (status, _, body) = http_request(port, "GET /v2/health HTTP/1.0\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, "OK"));
    still_serves(port);
    server.shutdown();
}

/// Value of an unlabelled Prometheus sample.
fn prom_value(port: u16, name: &str) -> u64 {
    let (status, _, body) = http_request(
        port,
        "GET /metrics/prom HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status, 200);
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name}"))
}

#[test]
fn every_frame_a_slow_consumer_loses_is_counted() {
    let server = start_with(|_| {});
    let port = server.port();
    // The sender and the reader sit on the room owner's shard, so the owner machine fans the
    // game data out and the frames the reader gets before `PlayerLeft` are exactly those
    // addressed to the stalled player. (From a member on another shard, game data is fanned
    // out by that shard from its replica, which may still list the stalled player after the
    // owner told the reader; the reader could not tell those frames apart.) The stalled player
    // sits on the other shard, so its drops are counted there and must travel to the scrape.
    let mut clients = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
        Client::connect_to_shard(port, 1),
    ];
    let (_, ids) = seat_room(&mut clients, "counted game", 4, Some(1));
    let mut reader = clients.pop().expect("reader");
    let mut sender = clients.pop().expect("sender");
    let mut stalled = clients.pop().expect("stalled");
    let before = prom_value(port, "signal_fish_websocket_messages_dropped_total");
    let blob = "x".repeat(60_000);
    let stop = Arc::new(AtomicBool::new(false));
    let pump = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < 3000 {
                sender.send(json!({"type":"GameData","data":{"data":{"blob":blob}}}));
                sent += 1;
            }
            sent
        })
    };
    // Every frame the reader gets before the stalled player leaves was addressed to the
    // stalled player too.
    let mut addressed = 0usize;
    loop {
        let msg = reader.recv();
        match msg["type"].as_str() {
            Some("GameData") => addressed += 1,
            Some("PlayerLeft") => {
                assert_eq!(msg["data"]["player_id"], ids[0].as_str());
                break;
            }
            _ => panic!("unexpected message {msg}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = pump.join().expect("sender thread");
    assert!(sent < 3000, "the stalled client was never dropped");
    // The stalled client reads what reached it, then the close frame.
    let (received, code) = stalled.drain_until_close();
    assert_eq!(code, Some(1008), "slow consumers are closed with 1008");
    assert!(
        received <= addressed,
        "addressed {addressed}, received {received}"
    );
    let lost = (addressed - received) as u64;
    assert!(lost > 0, "addressed {addressed}, received {received}");
    // Counts from other shards may still be on their way: wait for them, within a deadline.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let counted = loop {
        let counted = prom_value(port, "signal_fish_websocket_messages_dropped_total") - before;
        if counted >= lost || Instant::now() > deadline {
            break counted;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("addressed {addressed}, received {received}, lost {lost}, counted {counted}");
    // Exact: the refused frames, the ones still queued when it was cut off, and the ones
    // relayed to it after it was gone; frames already inside the transport's buffer were
    // flushed before the close frame, so the client received them.
    assert_eq!(
        counted, lost,
        "counted {counted} dropped frames, the client lost {lost}"
    );
    still_serves(port);
    server.shutdown();
}

#[test]
fn cors_headers_and_preflights() {
    const VARY: &str =
        "vary: origin, access-control-request-method, access-control-request-headers";
    let server = start_with(|c| {
        c.security.cors_origins = " https://a.example , https://b.example".to_owned();
    });
    let port = server.port();
    let get = |path: &str, origin: Option<&str>| {
        let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
        http_request(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{origin}\r\n"),
        )
    };
    // Preflight on any path.
    for path in ["/v2/health", "/v2/ws", "/anything"] {
        let (status, head, body) = http_request(
            port,
            &format!(
                "OPTIONS {path} HTTP/1.1\r\nHost: localhost\r\nOrigin: https://a.example\r\n\
                 Access-Control-Request-Method: GET\r\n\r\n"
            ),
        );
        assert_eq!((status, body.as_str()), (200, ""), "{path}");
        for line in [
            "access-control-allow-origin: https://a.example",
            "access-control-allow-methods: *",
            "access-control-allow-headers: *",
            "content-length: 0",
            VARY,
        ] {
            assert!(head.contains(line), "{path}: no `{line}` in\n{head}");
        }
    }
    // A listed origin is echoed on health, metrics, 404 and 400 alike.
    for (path, status) in [
        ("/v2/health", 200),
        ("/metrics/prom", 200),
        ("/nowhere", 404),
        ("/v2/ws", 400),
    ] {
        let (got, head, _) = get(path, Some("https://b.example"));
        assert_eq!(got, status, "{path}");
        assert!(
            head.contains("access-control-allow-origin: https://b.example\r\n"),
            "{path}: {head}"
        );
        assert!(head.contains(VARY), "{path}: {head}");
    }
    // An unlisted origin (or none) gets no allow-origin, and still the vary header.
    for origin in [
        Some("https://evil.example"),
        Some("https://A.example"),
        None,
    ] {
        let (status, head, body) = get("/v2/health", origin);
        assert_eq!((status, body.as_str()), (200, "OK"));
        assert!(!head.contains("access-control-allow-origin"), "{head}");
        assert!(head.contains(VARY), "{head}");
    }
    still_serves(port);
    server.shutdown();

    let server = start_with(|c| c.security.cors_origins = "*".to_owned());
    let (status, head, _) = http_request(
        server.port(),
        "GET /v2/health HTTP/1.1\r\nHost: localhost\r\nOrigin: https://any.example\r\n\r\n",
    );
    assert_eq!(status, 200);
    for line in [
        "access-control-allow-origin: *",
        "access-control-expose-headers: *",
        VARY,
    ] {
        assert!(head.contains(line), "no `{line}` in\n{head}");
    }
    still_serves(server.port());
    server.shutdown();
}
