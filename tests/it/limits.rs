//! Per-IP limits (decision 10) across two shards.

use crate::common::{Client, start_with};
use serde_json::json;

#[test]
fn connections_per_ip_are_capped_across_shards_and_freed_on_close() {
    const LIMIT: usize = 20;
    let server = start_with(|c| c.security.max_connections_per_ip = LIMIT);
    let port = server.port();
    let mut open = Vec::new();
    for _ in 0..LIMIT {
        let mut c = Client::connect(port);
        c.expect_quiet();
        open.push(c);
    }
    // The count is per IP, not per shard: connections on both shards add up.
    assert!(open.iter().any(|c| c.shard == 0) && open.iter().any(|c| c.shard == 1));
    let mut refused = Client::connect(port);
    let error = refused.expect("Error");
    assert_eq!(error["error_code"], "TOO_MANY_CONNECTIONS");
    assert_eq!(
        error["message"],
        format!("Too many connections from your IP ({LIMIT}/{LIMIT})")
    );
    assert_eq!(refused.expect_close(), Some(1008));
    open.pop().expect("a connection").close();
    // The slot comes back once the server has seen the close: retry until admitted.
    let admitted = (0..200).any(|_| {
        let mut c = Client::connect(port);
        c.send(json!({"type":"Ping"}));
        c.recv()["type"] == "Pong"
    });
    assert!(admitted, "a closed connection never gave its slot back");
    server.shutdown();
}

#[test]
fn room_creations_are_rate_limited_per_ip_and_invalid_requests_are_free() {
    let server = start_with(|c| {
        c.rate_limit.max_room_creations = 2;
        c.rate_limit.max_join_attempts = 3;
    });
    let port = server.port();
    // Invalid requests do not use quota.
    let mut bad = Client::connect(port);
    for _ in 0..5 {
        let failed = bad.join_failed(json!({"game_name":"","player_name":"A"}));
        assert_eq!(failed["error_code"], "INVALID_GAME_NAME");
    }
    let mut a = Client::connect(port);
    a.create_room("g", "A", 4);
    let mut b = Client::connect(port);
    let code = b.create_room("g", "B", 4)["room_code"]
        .as_str()
        .expect("code")
        .to_owned();
    // A third creation from the same IP, on any connection, is refused.
    let mut c = Client::connect(port);
    let refused = c.join_failed(json!({"game_name":"g","player_name":"C"}));
    assert_eq!(refused["error_code"], "RATE_LIMIT_EXCEEDED");
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("Room creation rate limit exceeded. Try again in"))
    );
    // Creations also used two of the three join attempts: one join passes, the next fails.
    c.join_room("g", &code, "C");
    let mut d = Client::connect(port);
    let refused = d.join_failed(json!({"game_name":"g","room_code":code,"player_name":"D"}));
    assert_eq!(refused["error_code"], "RATE_LIMIT_EXCEEDED");
    // The refused client is free to try again later: it is not stuck "joining".
    d.expect_quiet();
    server.shutdown();
}
