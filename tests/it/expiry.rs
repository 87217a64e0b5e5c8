//! Rooms expire on inactivity (decision 9): members are told and freed to join again.

use crate::common::{Client, start_with};
use serde_json::json;

#[test]
fn an_inactive_room_is_deleted_and_its_members_can_join_again() {
    let server = start_with(|c| {
        c.server.inactive_room_timeout = 1;
        c.server.room_cleanup_interval = 1;
    });
    let port = server.port();
    let mut a = Client::connect(port);
    let code = a.create_room("g", "A", 4)["room_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let mut b = Client::connect(port);
    b.join_room("g", &code, "B");
    a.expect("PlayerJoined");
    // Nobody does anything: at the deadline the owner deletes the room and tells both.
    for client in [&mut a, &mut b] {
        let gone = client.expect("Error");
        assert_eq!(gone["error_code"], "ROOM_NOT_FOUND");
    }
    // The code is free and the members are no longer "in a room".
    let failed = b.join_failed(json!({"game_name":"g","room_code":code,"player_name":"B"}));
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND");
    a.create_room("g", "A", 4);
    server.shutdown();
}

#[test]
fn game_data_keeps_a_room_alive() {
    let server = start_with(|c| {
        c.server.inactive_room_timeout = 2;
        c.server.room_cleanup_interval = 1;
    });
    let port = server.port();
    let mut a = Client::connect(port);
    let code = a.create_room("g", "A", 4)["room_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let mut b = Client::connect(port);
    b.join_room("g", &code, "B");
    a.expect("PlayerJoined");
    // Traffic for well over the timeout: each message is awaited on the other side, so this
    // takes real time without sleeping. The room must survive it.
    let start = std::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed() < std::time::Duration::from_secs(4) {
        a.send(json!({"type":"GameData","data":{"data":{"n":n}}}));
        let got = b.expect("GameData");
        assert_eq!(got["data"]["n"], n);
        n += 1;
        std::thread::yield_now();
    }
    a.expect_quiet();
    b.expect_quiet();
    server.shutdown();
}
