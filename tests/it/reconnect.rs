//! Reconnection over real sockets (spec decision 3): a player whose connection drops comes back
//! through a connection on the other shard and gets every event it missed, once and in order,
//! with live traffic carrying on without a gap or a duplicate.

use std::sync::mpsc;
use std::thread;

use crate::common::{Client, Ticket, other_shard, start_with, str_of};
use serde_json::{Value, json};
use tungstenite::Message;

const GAME: &str = "reconnect game";

/// The `n` of a `GameData` message, if it is one.
fn game_data_n(msg: &Value) -> Option<u64> {
    (msg["type"] == "GameData").then(|| msg["data"]["data"]["n"].as_u64().unwrap_or(0))
}

fn send_n(client: &mut Client, n: u64) {
    client.send_game_data(json!({ "n": n }));
}

/// Claims the seat, as a client should: the old connection counts as connected until the
/// server has finished closing it, so `PLAYER_ALREADY_CONNECTED` is answered by trying again.
fn claim(client: &mut Client, ticket: &Ticket) -> Value {
    for _ in 0..1_000 {
        ticket.send(client);
        let msg = client.recv();
        match msg["type"].as_str() {
            Some("Reconnected") => return msg["data"].clone(),
            Some("ReconnectionFailed")
                if msg["data"]["error_code"] == "PLAYER_ALREADY_CONNECTED" =>
            {
                client.expect_quiet();
            }
            _ => panic!("unexpected answer to Reconnect: {msg}"),
        }
    }
    panic!("the seat never became claimable");
}

/// The `n` of every missed `GameData` in a `Reconnected`.
fn missed_numbers(reconnected: &Value) -> Vec<u64> {
    reconnected["missed_events"]
        .as_array()
        .expect("missed_events is an array")
        .iter()
        .filter_map(game_data_n)
        .collect()
}

/// Reads until `GameData` number `last`, returning every `GameData` number seen on the way.
fn read_until(client: &mut Client, last: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        let msg = client.recv();
        if let Some(n) = game_data_n(&msg) {
            seen.push(n);
            if n == last {
                return seen;
            }
        }
    }
}

fn assert_exactly(seen: &[u64], last: u64) {
    let expected: Vec<u64> = (1..=last).collect();
    assert_eq!(seen, expected.as_slice(), "every message once, in order");
}

#[test]
fn a_dropped_player_reconnects_on_the_other_shard_and_misses_nothing() {
    const LAST: u64 = 2_000;
    let server = start_with(|c| c.server.event_buffer_size = 10_000);
    let port = server.port();
    let mut sender = Client::connect(port);
    let created = sender.create_room(GAME, "Sender", 4);
    let code = str_of(&created, "room_code").to_owned();
    let mut dropper = Client::connect(port);
    let joined = dropper.join_room(GAME, &code, "Dropper");
    let ticket = Ticket::of(&joined);
    sender.expect_player_joined("Dropper");
    let first_shard = dropper.shard;

    // Before the drop: the dropper reads everything sent.
    for n in 1..=10 {
        send_n(&mut sender, n);
    }
    let mut seen = read_until(&mut dropper, 10);

    // The TCP connection goes away without a close frame or `LeaveRoom`.
    drop(dropper);
    let left = sender.expect("PlayerLeft");
    assert_eq!(left["player_id"], ticket.player_id.as_str(), "told at once");

    // While the player is away the room carries on; then the sender keeps sending while the
    // player comes back, so the replay and the live stream meet at an arbitrary point.
    for n in 11..=20 {
        send_n(&mut sender, n);
    }
    let (ready, go) = mpsc::channel();
    let pump = thread::spawn(move || {
        go.recv().expect("go");
        for n in 21..=LAST {
            send_n(&mut sender, n);
        }
        sender
    });

    let mut back = Client::connect_to_shard(port, other_shard(first_shard));
    ticket.send(&mut back);
    ready.send(()).expect("pump waits");
    let reconnected = back.expect("Reconnected");
    assert_eq!(
        reconnected["player_id"],
        ticket.player_id.as_str(),
        "same id"
    );
    let names: Vec<&str> = reconnected["current_players"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"Dropper"), "same name: {names:?}");
    assert_ne!(
        reconnected["reconnection_token"],
        ticket.token.as_str(),
        "the token is rotated"
    );
    let missed = missed_numbers(&reconnected);
    assert!(
        missed.starts_with(&(11..=20).collect::<Vec<_>>()),
        "missed while away: {missed:?}"
    );
    seen.extend(&missed);
    let last_missed = seen.last().copied().unwrap_or_default();
    if last_missed < LAST {
        seen.extend(read_until(&mut back, LAST));
    }
    assert_exactly(&seen, LAST);

    let mut sender = pump.join().expect("sender thread");
    let again = sender.expect("PlayerReconnected");
    assert_eq!(again["player_id"], ticket.player_id.as_str());

    // The seat is taken back: the old ticket claims nothing more.
    let mut late = Client::connect(port);
    ticket.send(&mut late);
    let failed = late.expect("ReconnectionFailed");
    assert_eq!(failed["error_code"], "PLAYER_ALREADY_CONNECTED");
    server.shutdown();
}

#[test]
fn the_old_token_is_spent_once_the_seat_is_taken_back() {
    let server = start_with(|_| {});
    let port = server.port();
    let mut host = Client::connect(port);
    let created = host.create_room(GAME, "Host", 4);
    let code = str_of(&created, "room_code").to_owned();
    let mut guest = Client::connect(port);
    let ticket = Ticket::of(&guest.join_room(GAME, &code, "Guest"));
    host.expect_player_joined("Guest");
    drop(guest);
    host.expect("PlayerLeft");

    let mut back = Client::connect(port);
    ticket.send(&mut back);
    back.expect("Reconnected");
    let mut late = Client::connect(port);
    ticket.send(&mut late);
    let failed = late.expect("ReconnectionFailed");
    assert_eq!(failed["error_code"], "PLAYER_ALREADY_CONNECTED");
    let mut wrong = Client::connect(port);
    Ticket {
        token: "not-the-token".to_owned(),
        ..Ticket::of(&created)
    }
    .send(&mut wrong);
    let failed = wrong.expect("ReconnectionFailed");
    assert_eq!(
        failed["error_code"], "PLAYER_ALREADY_CONNECTED",
        "the host is here"
    );
    server.shutdown();
}

#[test]
fn a_reader_cut_off_with_1008_gets_what_it_missed_on_reconnect() {
    // Everything the reader misses must fit in one `Reconnected`: let frames be large.
    let server = start_with(|c| {
        c.server.event_buffer_size = 100_000;
        c.security.max_message_size = 16 << 20;
    });
    let port = server.port();
    let mut sender = Client::connect(port);
    let created = sender.create_room(GAME, "Sender", 4);
    let code = str_of(&created, "room_code").to_owned();
    let mut stalled = Client::connect(port);
    let ticket = Ticket::of(&stalled.join_room(GAME, &code, "Stalled"));
    sender.expect_player_joined("Stalled");
    let first_shard = stalled.shard;

    // About 1 KB a message, up to 12 MB: more than the socket buffers and the queue hold for
    // a reader that takes nothing. The server gives a cut-off reader 2 s to take what was
    // written before the close frame, so sending stops soon after the cut-off (a ping round
    // trip per chunk shows it) and the reader starts reading at once.
    const MOST: u64 = 12_000;
    const CHUNK: u64 = 250;
    let pad = "x".repeat(1_000);
    let mut sent = 0;
    let mut cut_off = false;
    while !cut_off && sent < MOST {
        for _ in 0..CHUNK {
            sent += 1;
            sender.send_game_data(json!({ "n": sent, "pad": pad }));
        }
        sender.send(json!({"type":"Ping"}));
        loop {
            let msg = sender.recv();
            match msg["type"].as_str() {
                Some("Pong") => break,
                Some("PlayerLeft") => {
                    assert_eq!(msg["data"]["player_id"], ticket.player_id.as_str());
                    cut_off = true;
                }
                _ => panic!("unexpected message to the sender: {msg}"),
            }
        }
    }
    assert!(cut_off, "the stalled reader was never cut off");

    // The stalled reader now reads what reached it, up to the close (1008).
    let mut seen = Vec::new();
    let mut close_code = None;
    loop {
        match stalled.try_recv_message() {
            Some(Message::Text(text)) => {
                let msg: Value = serde_json::from_str(text.as_str()).expect("JSON");
                seen.extend(game_data_n(&msg));
            }
            Some(Message::Close(frame)) => {
                close_code = frame.map(|f| u16::from(f.code));
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(close_code, Some(1008), "closed as a slow consumer");

    let mut back = Client::connect_to_shard(port, other_shard(first_shard));
    let reconnected = claim(&mut back, &ticket);
    let missed = missed_numbers(&reconnected);
    assert!(!missed.is_empty(), "the queued frames come back");
    seen.extend(missed);
    // A marker after everything: whatever the owner had not relayed yet arrives live.
    let last = sent + 1;
    sender.send_game_data(json!({ "n": last }));
    if seen.last() != Some(&last) {
        seen.extend(read_until(&mut back, last));
    }
    assert_exactly(&seen, last);
    server.shutdown();
}

/// Kept seats end at their deadline, not at the next room sweep: with a one-second window and
/// the default `room_cleanup_interval` of 60 s, a room that waits only for a dropped player is
/// deleted within seconds of the window's end, and a spectator still watching is told.
#[test]
fn a_kept_seat_expires_at_its_window_not_at_the_room_sweep() {
    let server = start_with(|c| {
        assert_eq!(
            c.server.room_cleanup_interval, 60,
            "the default sweep period"
        );
        c.server.reconnection_window = 1;
    });
    let port = server.port();
    let mut stayer = Client::connect(port);
    let created = stayer.create_room(GAME, "Stayer", 4);
    let code = str_of(&created, "room_code").to_owned();
    let mut dropper = Client::connect(port);
    let ticket = Ticket::of(&dropper.join_room(GAME, &code, "Dropper"));
    stayer.expect_player_joined("Dropper");
    let mut watcher = Client::connect(port);
    watcher.send(json!({"type":"JoinAsSpectator","data":{
        "game_name": GAME, "room_code": code, "spectator_name": "Watcher"}}));
    watcher.expect("SpectatorJoined");
    stayer.expect("NewSpectatorJoined");

    let dropped_at = std::time::Instant::now();
    drop(dropper);
    let left = stayer.expect("PlayerLeft");
    assert_eq!(left["player_id"], ticket.player_id.as_str(), "told at once");
    // The last seated player leaves: only the kept seat holds the room now.
    stayer.leave();

    // Waits on the room's end as an event; the client's read timeout (10 s) bounds the wait.
    let gone = loop {
        let msg = watcher.recv();
        if msg["type"] == "Error" {
            break msg;
        }
    };
    assert_eq!(gone["data"]["error_code"], "ROOM_NOT_FOUND");
    let waited = dropped_at.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(10),
        "the window (1 s) ended the seat, not the 60 s sweep: {waited:?}"
    );
    let mut back = Client::connect(port);
    ticket.send(&mut back);
    let failed = back.expect("ReconnectionFailed");
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND");
    server.shutdown();
}
