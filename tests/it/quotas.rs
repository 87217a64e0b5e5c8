//! Per-IP join-attempt quota (decision 10), beside the connection and creation quotas in
//! `limits.rs`: attempts from every connection of one IP add up. Every test client is 127.0.0.1.

use crate::common::{Client, start_with};
use serde_json::json;

#[test]
fn join_attempts_are_limited_per_ip() {
    let server = start_with(|c| {
        c.rate_limit.max_join_attempts = 2;
        c.rate_limit.time_window = 60;
    });
    let mut a = Client::connect(server.port());
    let mut b = Client::connect(server.port());
    // Requests refused by validation are free.
    for _ in 0..3 {
        let failed =
            a.join_failed(json!({"game_name":"quota game","room_code":"QX7M","player_name":"A"}));
        assert_eq!(failed["error_code"], "INVALID_ROOM_CODE");
    }
    for c in [&mut a, &mut b] {
        let failed =
            c.join_failed(json!({"game_name":"quota game","room_code":"QX7M4D","player_name":"A"}));
        assert_eq!(failed["error_code"], "ROOM_NOT_FOUND");
    }
    let failed =
        a.join_failed(json!({"game_name":"quota game","room_code":"QX7M4D","player_name":"A"}));
    assert_eq!(failed["error_code"], "RATE_LIMIT_EXCEEDED");
    let reason = failed["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("Join attempt rate limit exceeded. Try again in "),
        "{reason}"
    );
    server.shutdown();
}
