//! A client that stops reading is disconnected (decision 10) instead of making the server
//! buffer without bound, and the rest of its room carries on.

use crate::common::{Client, seat_room, start_server};
use serde_json::json;
use signal_fish_server::ServerHandle;

#[test]
fn a_client_that_stops_reading_is_dropped_and_its_room_carries_on() {
    let server = start_server();
    stalled_reader_is_dropped_while_the_room_plays(&server, "slow game");
    server.shutdown();
}

/// Three players in a room of `game` on `server`: one stops reading while another streams
/// ~60 KB GameData to the third. The stalled one must be dropped (the third sees it leave)
/// before the stream ends, and the third keeps receiving. Shared with the flush-window tests,
/// which check that a window does not delay the cut-off.
pub fn stalled_reader_is_dropped_while_the_room_plays(server: &ServerHandle, game: &str) {
    let port = server.port();
    let mut clients = vec![
        Client::connect(port),
        Client::connect(port),
        Client::connect(port),
    ];
    let (_, ids) = seat_room(&mut clients, game, 4, None);
    let mut reader = clients.pop().expect("reader");
    let mut sender = clients.pop().expect("sender");
    let stalled = clients.pop().expect("stalled"); // never reads again
    let stalled_id = ids[0].clone();
    // ~60 KB messages (under the 64 KiB default limit) fill the kernel buffers quickly.
    let blob = "x".repeat(60_000);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    let pump = std::thread::spawn(move || {
        let mut sent = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) && sent < 3000 {
            sender.send(json!({"type":"GameData","data":{"data":{"blob":blob}}}));
            sent += 1;
        }
        (sender, sent)
    });
    // The reader sees the stalled player leave while the stream is still flowing.
    let mut relayed = 0;
    loop {
        let msg = reader.recv();
        match msg["type"].as_str() {
            Some("GameData") => relayed += 1,
            Some("PlayerLeft") => {
                assert_eq!(msg["data"]["player_id"], stalled_id.as_str());
                break;
            }
            _ => panic!("unexpected message {msg}"),
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (_sender, sent) = pump.join().expect("sender thread");
    assert!(sent < 3000, "the stalled client was never dropped");
    assert!(relayed > 0);
    drop(stalled);
}
