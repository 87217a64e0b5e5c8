//! The opt-in flush window (`websocket.max_flush_delay_ms`): frames wait to share a write, yet
//! arrive in order and exactly once, a close still carries what was queued before it, and a
//! client that stops reading is still cut off.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Client, EVENT_TIMEOUT, start_with, str_of};

/// A socket that counts the `read` calls that returned data: frames that share one TCP write
/// on loopback come back from one read.
struct CountingReads {
    inner: TcpStream,
    reads: Arc<AtomicUsize>,
}

impl Read for CountingReads {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        Ok(n)
    }
}

impl Write for CountingReads {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A client whose socket reads are counted, accepted by a shard other than `not_shard`.
fn counting_client(port: u16, not_shard: u32) -> (Client<CountingReads>, Arc<AtomicUsize>) {
    for _ in 0..200 {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
        stream
            .set_read_timeout(Some(EVENT_TIMEOUT))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = CountingReads {
            inner: stream,
            reads: reads.clone(),
        };
        let url = format!("ws://127.0.0.1:{port}/v2/ws");
        let (ws, response) = tungstenite::client(url.as_str(), counted).expect("ws handshake");
        let client = Client::from_upgrade(ws, &response);
        if client.shard != not_shard {
            return (client, reads);
        }
    }
    panic!("no connection landed on a shard other than {not_shard}");
}

#[test]
fn a_burst_shares_writes_and_arrives_in_order_exactly_once() {
    const N: u64 = 40;
    let server = start_with(|c| c.websocket.max_flush_delay_ms = 50);
    let port = server.port();
    let mut sender = Client::connect_to_shard(port, 0);
    // The receiver on the other shard: every frame crosses cores on its way.
    let (mut receiver, reads) = counting_client(port, sender.shard);
    let created = sender.create_room("flush game", "S", 3);
    let code = str_of(&created, "room_code").to_owned();
    receiver.join_room("flush game", &code, "R");
    sender.expect_player_joined("R");
    receiver.expect_quiet();

    // The receiver reads while the frames come, so each write it is sent shows as a read.
    let counter = reads.clone();
    let reading = std::thread::spawn(move || {
        let before = counter.load(Ordering::Relaxed);
        for i in 0..N {
            let data = receiver.expect("GameData");
            assert_eq!(data["data"], json!({ "i": i }), "frame {i} out of order");
        }
        (receiver, counter.load(Ordering::Relaxed) - before)
    });
    // Paced, not waited on: 2 ms apart, so without a window each frame leaves in a write of
    // its own.
    for i in 0..N {
        sender.send_game_data(json!({ "i": i }));
        std::thread::sleep(Duration::from_millis(2));
    }
    let (mut receiver, used) = reading.join().expect("receiver thread");
    eprintln!("{N} frames in {used} reads");
    // Frames that reach the receiver's shard within 50 ms of the first share a write, and so
    // a read (about 80 ms of sending: a handful of writes).
    assert!(
        used <= N as usize / 2,
        "{N} frames took {used} socket reads: too few shared a write"
    );
    // Exactly once: no second copy is queued before the answer to a Ping.
    receiver.expect_quiet();
    sender.expect_quiet();
    server.shutdown();
}

#[test]
fn a_close_in_an_open_window_sends_the_queued_frames_first() {
    // The longest window: a Pong held for it would arrive a second after its Ping.
    let server = start_with(|c| {
        c.websocket.max_flush_delay_ms = 1000;
        c.security.max_message_size = 1024;
    });
    let mut c = Client::connect(server.port());
    let start = Instant::now();
    // The Pong opens a window; the oversized message then makes the server close (1009).
    c.send(json!({"type":"Ping"}));
    c.send_text(&"x".repeat(2048));
    assert_eq!(c.recv()["type"], "Pong", "the queued frame comes first");
    c.expect_error("MESSAGE_TOO_LARGE");
    assert_eq!(c.expect_close(), Some(1009));
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "the close waited for the window to end ({:?})",
        start.elapsed()
    );
    server.shutdown();
}

#[test]
fn a_client_that_stops_reading_is_still_cut_off_with_a_window() {
    let server = start_with(|c| c.websocket.max_flush_delay_ms = 16);
    crate::slow_client::stalled_reader_is_dropped_while_the_room_plays(&server, "slow flush game");
    server.shutdown();
}
