//! Plain HTTP on the server port (decision 12): health checks, 404s, and which paths upgrade.

use crate::common::{Client, http_get, start_server};

#[test]
fn health_endpoints_answer_ok() {
    let server = start_server();
    for path in ["/v2/health", "/health"] {
        let (status, body) = http_get(
            server.port(),
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        );
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, "OK", "{path}");
    }
    server.shutdown();
}

#[test]
fn websocket_path_without_upgrade_is_a_bad_request() {
    let server = start_server();
    let (status, _) = http_get(
        server.port(),
        "GET /v2/ws HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status, 400);
    server.shutdown();
}

#[test]
fn unknown_paths_are_not_found() {
    let server = start_server();
    for path in ["/", "/v2/unknown", "/v1/ws", "/v2/ws/extra"] {
        let (status, _) = http_get(
            server.port(),
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        );
        assert_eq!(status, 404, "{path}");
    }
    server.shutdown();
}

#[test]
fn both_websocket_paths_upgrade_and_serve_the_protocol() {
    let server = start_server();
    let mut bare = Client::connect_path(server.port(), "/ws");
    let joined = bare.create_room("http game", "Bare", 3);
    let code = joined["room_code"].as_str().expect("code").to_owned();
    let mut v2 = Client::connect_path(server.port(), "/v2/ws");
    let second = v2.join_room("http game", &code, "V2");
    assert_eq!(second["room_id"], joined["room_id"]);
    assert_eq!(bare.expect("PlayerJoined")["player"]["name"], "V2");
    bare.expect_quiet();
    server.shutdown();
}

#[test]
fn a_client_close_gets_the_closing_handshake_answered() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    c.expect_quiet();
    c.send_close();
    assert_eq!(
        c.expect_close(),
        Some(1000),
        "the server echoes the close frame"
    );
    server.shutdown();
}
