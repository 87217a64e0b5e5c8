//! The owner machine on an injected clock: commands in, outputs out, no sockets and no sleeps.
//! A one-shard owner forwards everything to itself; the harness feeds those forwards back in,
//! as the shard driver does.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::super::event_id::Delivered;
use super::super::mailbox::Control;
use super::super::messages::{CreateRoom, JoinByCode, OwnerCmd, Rejoin, RelayPayload, RoomOp};
use super::{Output, Owner};
use crate::config::Config;
use crate::metrics::ShardMetrics;
use crate::protocol::{Frame, GameDataEncoding, PlayerId, RoomId};
use crate::room::{Joiner, LeaveKind, SessionAddr};

const GAME: &str = "kart racer";

/// What one session was sent, in order: frames as their JSON, controls as themselves.
#[derive(Debug)]
enum Seen {
    Frame(Value),
    Control(Control),
}

/// A one-shard owner, its clock and everything it sent.
struct Harness {
    owner: Owner,
    metrics: Rc<ShardMetrics>,
    start: Instant,
    now: Instant,
    /// Per session, in routing order.
    sent: Vec<(SessionAddr, Seen)>,
    /// Cluster mode: directory requests, and commands forwarded to another node's home.
    asked: Vec<(u64, crate::cluster::DirectoryRequest)>,
    homed: Vec<(crate::cluster::Home, OwnerCmd)>,
}

impl Harness {
    fn new(configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::default();
        configure(&mut config);
        let metrics = Rc::new(ShardMetrics::new(1));
        let start = Instant::now();
        let wall = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let owner = Owner::new(0, 1, Arc::new(config), metrics.clone()).with_clock(start, wall);
        Harness {
            owner,
            metrics,
            start,
            now: start,
            sent: Vec::new(),
            asked: Vec::new(),
            homed: Vec::new(),
        }
    }

    /// Room codes come from this script, in order.
    fn scripted_codes(mut self, codes: &[&str]) -> Self {
        let mut codes: VecDeque<String> = codes.iter().map(|c| (*c).to_owned()).collect();
        self.owner = self
            .owner
            .with_codes(Box::new(move || codes.pop_front().unwrap_or_default()));
        self
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Feeds one command and every forward it causes, as the driver would.
    fn feed(&mut self, cmd: OwnerCmd) {
        self.owner.handle(self.now, cmd);
        self.drain();
    }

    fn drain(&mut self) {
        let mut pending = VecDeque::new();
        loop {
            match self.owner.poll_output() {
                Some(Output::Deliver {
                    shard,
                    slots,
                    frame,
                    ..
                }) => {
                    for slot in slots {
                        self.sent
                            .push((SessionAddr { shard, slot }, Seen::Frame(json(&frame))));
                    }
                }
                Some(Output::Control { to, control }) => {
                    self.sent.push((to, Seen::Control(control)))
                }
                Some(Output::Forward { to, cmd }) => {
                    assert_eq!(to, 0, "a one-shard owner forwards only to itself");
                    pending.push_back(cmd);
                }
                // Replicas matter to senders' shards (`shard/tests.rs`), not to the owner.
                Some(Output::Publish { .. }) => {}
                Some(Output::Directory { token, request }) => self.asked.push((token, request)),
                Some(Output::ForwardHome { home, cmd }) => self.homed.push((home, cmd)),
                None => match pending.pop_front() {
                    Some(cmd) => self.owner.handle(self.now, cmd),
                    None => break,
                },
            }
        }
    }

    /// Everything `who` was sent since the last call (for any session), in order.
    fn take(&mut self, who: u64) -> Vec<Seen> {
        let (mine, rest) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(to, _)| to.slot == who);
        self.sent = rest;
        mine.into_iter().map(|(_, seen)| seen).collect()
    }

    fn forget_sent(&mut self) {
        self.sent.clear();
    }

    /// Player `n` creates a room; returns its id and code.
    fn create(&mut self, n: u64, max_players: u8) -> (RoomId, String) {
        self.feed(OwnerCmd::CreateRoom(Box::new(CreateRoom {
            game_name: GAME.to_owned(),
            max_players,
            supports_authority: true,
            code: String::new(),
            creator: joiner(n),
        })));
        let seen = self.take(n);
        let room = match seen.first() {
            Some(Seen::Control(Control::Joined { room, .. })) => room.id,
            other => panic!("creator was not seated: {other:?}"),
        };
        let code = match seen.get(1) {
            Some(Seen::Frame(frame)) => frame["data"]["room_code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            other => panic!("no RoomJoined after Joined: {other:?}"),
        };
        (room, code)
    }

    fn join(&mut self, n: u64, code: &str) {
        self.feed(OwnerCmd::JoinRoom(Box::new(JoinByCode {
            game_name: GAME.to_owned(),
            code: code.to_owned(),
            joiner: joiner(n),
        })));
    }

    fn leave(&mut self, room_id: RoomId, n: u64, kind: LeaveKind) {
        self.feed(OwnerCmd::RoomOp {
            room_id,
            player: id(n),
            from: addr(n),
            op: RoomOp::Leave(kind),
        });
    }
}

fn id(n: u64) -> PlayerId {
    Uuid::from_u128(u128::from(n))
}

fn addr(n: u64) -> SessionAddr {
    SessionAddr { shard: 0, slot: n }
}

fn joiner(n: u64) -> Joiner {
    Joiner {
        id: id(n),
        name: format!("player{n}"),
        addr: addr(n),
        encoding: GameDataEncoding::Json,
        reconnection_token: format!("token{n}"),
    }
}

fn json(frame: &Frame) -> Value {
    match frame {
        Frame::Text(text) => serde_json::from_str(text.as_str()).expect("our frames are JSON"),
        Frame::Binary(_) => Value::Null,
    }
}

/// The `type` of each frame, with controls as their debug name.
fn kinds(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .map(|s| match s {
            Seen::Frame(v) => v["type"].as_str().unwrap_or("?").to_owned(),
            Seen::Control(c) => format!("{c:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

fn error_code(seen: &Seen) -> &str {
    match seen {
        Seen::Frame(v) => v["data"]["error_code"].as_str().unwrap_or("?"),
        Seen::Control(_) => "control",
    }
}

#[test]
fn create_seats_the_creator_and_takes_a_game_slot() {
    let mut h = Harness::new(|_| {});
    let (room, code) = h.create(1, 4);
    assert_eq!(h.owner.room_count(), 1);
    assert_eq!(h.owner.room_by_code(GAME, &code), Some(room));
    assert_eq!(h.owner.game_room_count(GAME), 1);
    let seated = h.owner.room(&room).map(|r| r.contains(id(1)));
    assert_eq!(seated, Some(true));
    let counters = h.metrics.counters.borrow();
    assert_eq!(counters.rooms_created, 1);
    assert_eq!(counters.players_joined, 1);
}

#[test]
fn join_tells_the_joiner_first_then_the_others() {
    let mut h = Harness::new(|_| {});
    let (room, code) = h.create(1, 4);
    h.join(2, &code);
    assert_eq!(kinds(&h.take(2)), ["Joined", "RoomJoined"]);
    assert_eq!(kinds(&h.take(1)), ["PlayerJoined"]);
    assert_eq!(h.owner.room(&room).map(|r| r.player_count()), Some(2));
}

#[test]
fn joining_an_unknown_code_is_refused_with_room_not_found() {
    let mut h = Harness::new(|_| {});
    h.join(2, "ZZZZZZ");
    let seen = h.take(2);
    assert_eq!(kinds(&seen), ["RoomJoinFailed", "JoinRefused"]);
    assert_eq!(error_code(&seen[0]), "ROOM_NOT_FOUND");
}

#[test]
fn joining_a_full_room_is_refused_and_changes_nothing() {
    let mut h = Harness::new(|_| {});
    let (room, code) = h.create(1, 2);
    h.join(2, &code);
    h.forget_sent();
    h.join(3, &code);
    let seen = h.take(3);
    assert_eq!(kinds(&seen), ["RoomJoinFailed", "JoinRefused"]);
    assert_eq!(error_code(&seen[0]), "ROOM_FULL");
    assert!(
        h.take(1).is_empty(),
        "the members hear nothing of a refused join"
    );
    assert_eq!(h.owner.room(&room).map(|r| r.player_count()), Some(2));
}

#[test]
fn a_voluntary_leave_is_answered_and_announced() {
    let mut h = Harness::new(|_| {});
    let (room, code) = h.create(1, 4);
    h.join(2, &code);
    h.forget_sent();
    h.leave(room, 2, LeaveKind::Voluntary);
    assert_eq!(kinds(&h.take(2)), ["RoomLeft", "Left"]);
    assert_eq!(kinds(&h.take(1)), ["PlayerLeft"]);
    assert_eq!(h.owner.room(&room).map(|r| r.contains(id(2))), Some(false));
}

#[test]
fn a_disconnect_is_announced_but_the_gone_player_is_sent_no_reply() {
    let mut h = Harness::new(|_| {});
    let (room, code) = h.create(1, 4);
    h.join(2, &code);
    h.forget_sent();
    h.leave(room, 2, LeaveKind::Disconnected);
    assert_eq!(kinds(&h.take(2)), ["Left"]);
    assert_eq!(kinds(&h.take(1)), ["PlayerLeft"]);
}

#[test]
fn the_last_leave_deletes_the_room_and_frees_its_code_and_slot() {
    let mut h = Harness::new(|_| {});
    let (room, code) = h.create(1, 4);
    h.leave(room, 1, LeaveKind::Voluntary);
    assert_eq!(h.owner.room_count(), 0);
    assert_eq!(h.owner.room_by_code(GAME, &code), None);
    assert_eq!(h.owner.game_room_count(GAME), 0);
    assert_eq!(h.metrics.counters.borrow().rooms_deleted, 1);
    assert_eq!(h.owner.poll_timeout(), None, "no room, no timer");
    // A member op after the room is gone is answered as stale.
    h.forget_sent();
    h.feed(OwnerCmd::RoomOp {
        room_id: room,
        player: id(1),
        from: addr(1),
        op: RoomOp::Ready,
    });
    let seen = h.take(1);
    assert_eq!(kinds(&seen), ["Error", "Detached"]);
    assert_eq!(error_code(&seen[0]), "NOT_IN_ROOM");
}

#[test]
fn an_idle_room_expires_at_its_deadline_and_not_before() {
    let timeout = Duration::from_secs(600);
    let mut h = Harness::new(|c| c.server.inactive_room_timeout = timeout.as_secs());
    let (room, code) = h.create(1, 4);
    assert_eq!(h.owner.poll_timeout(), Some(h.start + timeout));

    // Activity (here relayed game data) pushes the deadline back.
    h.advance(Duration::from_secs(400));
    h.feed(OwnerCmd::Relay {
        room_id: room,
        from: id(1),
        payload: RelayPayload::Json(bytes::Bytes::from_static(b"{}")),
        received_at: h.now,
    });
    let deadline = h.now + timeout;
    // The relay left the room's entry where it was: the timer looks at the old deadline,
    // finds nothing due and files the room under the new one.
    assert_eq!(h.owner.poll_timeout(), Some(h.start + timeout));
    h.now = h.start + timeout;
    h.owner.handle_timeout(h.now);
    h.drain();
    assert_eq!(
        h.owner.room_count(),
        1,
        "the relay pushed the deadline back"
    );
    assert_eq!(h.owner.poll_timeout(), Some(deadline));

    h.owner.handle_timeout(deadline - Duration::from_millis(1));
    h.drain();
    assert_eq!(h.owner.room_count(), 1, "not due yet");

    h.forget_sent();
    h.now = deadline;
    h.owner.handle_timeout(deadline);
    h.drain();
    assert_eq!(h.owner.room_count(), 0);
    assert_eq!(h.owner.room_by_code(GAME, &code), None);
    assert_eq!(h.owner.game_room_count(GAME), 0, "the slot went back");
    let seen = h.take(1);
    assert_eq!(kinds(&seen), ["Error", "Detached"]);
    assert_eq!(error_code(&seen[0]), "ROOM_NOT_FOUND");
    assert_eq!(h.metrics.counters.borrow().inactive_rooms_cleaned, 1);
}

#[test]
fn max_rooms_per_game_counts_live_rooms_only() {
    let mut h = Harness::new(|c| c.server.max_rooms_per_game = 1);
    let (room, _) = h.create(1, 4);
    h.feed(OwnerCmd::CreateRoom(Box::new(CreateRoom {
        game_name: GAME.to_owned(),
        max_players: 4,
        supports_authority: true,
        code: String::new(),
        creator: joiner(2),
    })));
    let seen = h.take(2);
    assert_eq!(kinds(&seen), ["RoomJoinFailed", "JoinRefused"]);
    assert_eq!(error_code(&seen[0]), "MAX_ROOMS_PER_GAME_EXCEEDED");
    assert_eq!(h.metrics.counters.borrow().room_cap_denials, 1);
    assert_eq!(h.owner.game_room_count(GAME), 1);

    // Once the room is gone its slot is free again.
    h.leave(room, 1, LeaveKind::Voluntary);
    assert_eq!(h.owner.game_room_count(GAME), 0);
    h.create(2, 4);
    assert_eq!(h.owner.game_room_count(GAME), 1);
}

#[test]
fn a_taken_code_is_regenerated() {
    let mut h = Harness::new(|_| {}).scripted_codes(&["AAAAAA", "AAAAAA", "BBBBBB"]);
    let (first, first_code) = h.create(1, 4);
    let (second, second_code) = h.create(2, 4);
    assert_eq!(first_code, "AAAAAA");
    assert_eq!(second_code, "BBBBBB");
    assert_ne!(first, second);
    assert_eq!(h.owner.room_by_code(GAME, "AAAAAA"), Some(first));
    assert_eq!(h.owner.room_by_code(GAME, "BBBBBB"), Some(second));
    assert_eq!(h.owner.game_room_count(GAME), 2);
}

#[test]
fn a_join_whose_client_left_is_undone_in_order() {
    // The driver answers `Joined` for a session that is gone with a `Leave(Disconnected)` of
    // its own; the machine takes it like any disconnect, after the join's own outputs.
    let mut h = Harness::new(|_| {});
    let (room, code) = h.create(1, 4);
    h.join(2, &code);
    let joined = h.take(2);
    assert_eq!(kinds(&joined), ["Joined", "RoomJoined"]);
    h.leave(room, 2, LeaveKind::Disconnected);
    assert_eq!(kinds(&h.take(1)), ["PlayerJoined", "PlayerLeft"]);
    assert_eq!(h.owner.room(&room).map(|r| r.player_count()), Some(1));
    assert_eq!(h.metrics.gauges.borrow().players_active, 1);
}

// Reconnection (spec decision 3) on the injected clock.

impl Harness {
    /// Player `n` sends JSON game data `{"n": k}`.
    fn relay(&mut self, room_id: RoomId, n: u64, k: u64) {
        let frame = crate::protocol::codec::encode_game_data(&id(n), &format!(r#"{{"n":{k}}}"#));
        self.feed(OwnerCmd::Relay {
            room_id,
            from: id(n),
            payload: RelayPayload::Json(frame),
            received_at: self.now,
        });
    }

    /// Player `n`'s connection drops after its socket accepted room event `delivered`.
    fn drop_player(&mut self, room_id: RoomId, n: u64, delivered: u64) {
        self.feed(OwnerCmd::RoomOp {
            room_id,
            player: id(n),
            from: addr(n),
            op: RoomOp::Dropped {
                delivered: Delivered::through_owner(delivered),
                closing: false,
            },
        });
    }

    /// A new connection in slot `slot` claims player `n`'s seat with `token`.
    fn reconnect(&mut self, room_id: RoomId, n: u64, token: &str, slot: u64) {
        self.feed(OwnerCmd::Reconnect(Box::new(Rejoin {
            room_id,
            player: id(n),
            token: token.to_owned(),
            addr: addr(slot),
            encoding: GameDataEncoding::Json,
            new_token: format!("fresh{slot}"),
        })));
    }

    fn gauge_sessions_active(&self) -> i64 {
        self.metrics.gauges.borrow().reconnection_sessions_active
    }
}

/// The `n` of each missed `GameData` in a `Reconnected`.
fn missed_numbers(reconnected: &Seen) -> Vec<u64> {
    let Seen::Frame(v) = reconnected else {
        panic!("not a frame: {reconnected:?}");
    };
    v["data"]["missed_events"]
        .as_array()
        .expect("missed_events is an array")
        .iter()
        .filter(|e| e["type"] == "GameData")
        .map(|e| e["data"]["data"]["n"].as_u64().unwrap_or(0))
        .collect()
}

/// A room of `max` seats with players 1 and 2; everything sent so far forgotten.
fn two_players(h: &mut Harness, max: u8) -> RoomId {
    let (room, code) = h.create(1, max);
    h.join(2, &code);
    h.forget_sent();
    room
}

#[test]
fn a_dropped_player_gets_its_seat_and_missed_events_back() {
    let mut h = Harness::new(|_| {});
    let room = two_players(&mut h, 4);
    let seen_all = h.owner.last_seq(&room).unwrap_or_default();
    h.drop_player(room, 2, seen_all);
    assert_eq!(
        kinds(&h.take(1)),
        ["PlayerLeft"],
        "the others are told at once"
    );
    assert_eq!(h.gauge_sessions_active(), 1);
    for k in 1..=3 {
        h.relay(room, 1, k);
    }
    h.take(1);

    h.reconnect(room, 2, "token2", 20);
    let seen = h.take(20);
    assert_eq!(kinds(&seen), ["Joined", "Reconnected"]);
    match &seen[0] {
        Seen::Control(Control::Joined { player, .. }) => assert_eq!(*player, id(2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(missed_numbers(&seen[1]), [1, 2, 3], "each once, in order");
    let Seen::Frame(data) = &seen[1] else {
        unreachable!()
    };
    assert_eq!(data["data"]["player_id"], id(2).to_string(), "same id");
    assert_eq!(
        data["data"]["reconnection_token"], "fresh20",
        "token rotated"
    );
    let names: Vec<&str> = data["data"]["current_players"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["player1", "player2"], "same name, true room state");
    assert_eq!(kinds(&h.take(1)), ["PlayerReconnected"]);

    // Live traffic now reaches the new connection, numbered after the replay.
    h.relay(room, 1, 4);
    assert_eq!(kinds(&h.take(20)), ["GameData"]);
    let counters = h.metrics.counters.borrow();
    assert_eq!(counters.reconnection_completions, 1);
    assert_eq!(counters.events_buffered, 3);
    drop(counters);
    assert_eq!(h.gauge_sessions_active(), 0);
    assert!(h.owner.away_seats(&room).is_empty());
}

#[test]
fn events_the_socket_never_accepted_are_replayed_from_the_history() {
    let mut h = Harness::new(|_| {});
    let room = two_players(&mut h, 4);
    let before = h.owner.last_seq(&room).unwrap_or_default();
    h.relay(room, 1, 1);
    h.relay(room, 1, 2);
    // Its socket took nothing of the two: they were queued (or in flight) when it dropped.
    h.drop_player(room, 2, before);
    h.relay(room, 1, 3);
    h.reconnect(room, 2, "token2", 20);
    let seen = h.take(20);
    assert_eq!(missed_numbers(&seen[1]), [1, 2, 3]);
}

#[test]
fn a_full_buffer_drops_the_oldest_events_and_counts_them() {
    let mut h = Harness::new(|c| c.server.event_buffer_size = 3);
    let room = two_players(&mut h, 4);
    let seen_all = h.owner.last_seq(&room).unwrap_or_default();
    h.drop_player(room, 2, seen_all);
    let dropped_before = h.metrics.counters.borrow().events_dropped;
    for k in 1..=5 {
        h.relay(room, 1, k);
    }
    let dropped = h.metrics.counters.borrow().events_dropped - dropped_before;
    assert_eq!(dropped, 2);
    h.reconnect(room, 2, "token2", 20);
    let seen = h.take(20);
    assert_eq!(missed_numbers(&seen[1]), [3, 4, 5]);
}

#[test]
fn a_reconnect_after_the_window_is_expired() {
    let window = Duration::from_secs(30);
    let mut h = Harness::new(|c| c.server.reconnection_window = window.as_secs());
    let room = two_players(&mut h, 4);
    h.drop_player(room, 2, 0);
    assert_eq!(h.owner.poll_timeout(), Some(h.start + window));
    h.advance(window);
    h.owner.handle_timeout(h.now);
    h.drain();
    assert!(h.owner.away_seats(&room).is_empty());
    assert_eq!(
        h.gauge_sessions_active(),
        0,
        "an expired seat is not active"
    );

    h.reconnect(room, 2, "token2", 20);
    let seen = h.take(20);
    assert_eq!(kinds(&seen), ["ReconnectionFailed", "JoinRefused"]);
    assert_eq!(error_code(&seen[0]), "RECONNECTION_EXPIRED");
    assert_eq!(
        h.metrics.counters.borrow().reconnection_validations_failed,
        1
    );
}

#[test]
fn a_due_window_the_timer_has_not_reached_yet_is_expired_too() {
    let window = Duration::from_secs(30);
    let mut h = Harness::new(|c| c.server.reconnection_window = window.as_secs());
    let room = two_players(&mut h, 4);
    h.drop_player(room, 2, 0);
    h.advance(window);
    h.reconnect(room, 2, "token2", 20);
    assert_eq!(error_code(&h.take(20)[0]), "RECONNECTION_EXPIRED");
    assert_eq!(h.gauge_sessions_active(), 0);
}

#[test]
fn a_wrong_token_or_unknown_player_or_room_is_refused() {
    let mut h = Harness::new(|_| {});
    let room = two_players(&mut h, 4);
    h.drop_player(room, 2, 0);
    h.reconnect(room, 2, "token1", 20);
    assert_eq!(error_code(&h.take(20)[0]), "RECONNECTION_TOKEN_INVALID");
    h.reconnect(room, 3, "token3", 21);
    assert_eq!(error_code(&h.take(21)[0]), "RECONNECTION_FAILED");
    h.reconnect(room, 1, "token1", 22);
    assert_eq!(error_code(&h.take(22)[0]), "PLAYER_ALREADY_CONNECTED");
    h.reconnect(Uuid::from_u128(99), 2, "token2", 23);
    assert_eq!(error_code(&h.take(23)[0]), "ROOM_NOT_FOUND");
    // The seat is still there for the right token.
    h.reconnect(room, 2, "token2", 24);
    assert_eq!(kinds(&h.take(24)), ["Joined", "Reconnected"]);
}

#[test]
fn a_reconnect_into_a_room_whose_seat_was_taken_is_room_full() {
    let mut h = Harness::new(|_| {});
    let (room, code) = h.create(1, 2);
    h.join(2, &code);
    h.drop_player(room, 2, 0);
    h.join(3, &code);
    h.forget_sent();
    h.reconnect(room, 2, "token2", 20);
    let seen = h.take(20);
    assert_eq!(kinds(&seen), ["ReconnectionFailed", "JoinRefused"]);
    assert_eq!(error_code(&seen[0]), "ROOM_FULL");
    assert_eq!(h.owner.away_seats(&room).len(), 1, "still claimable");
}

#[test]
fn two_reconnects_racing_with_one_token_succeed_once() {
    let mut h = Harness::new(|_| {});
    let room = two_players(&mut h, 4);
    h.drop_player(room, 2, 0);
    h.relay(room, 1, 1);
    h.reconnect(room, 2, "token2", 20);
    h.reconnect(room, 2, "token2", 21);
    let first = h.take(20);
    assert_eq!(kinds(&first), ["Joined", "Reconnected"]);
    assert_eq!(missed_numbers(&first[1]), [1]);
    let second = h.take(21);
    assert_eq!(kinds(&second), ["ReconnectionFailed", "JoinRefused"]);
    assert_eq!(error_code(&second[0]), "PLAYER_ALREADY_CONNECTED");
    assert_eq!(h.metrics.counters.borrow().reconnection_completions, 1);
    assert_eq!(h.owner.room(&room).map(|r| r.player_count()), Some(2));
}

#[test]
fn authority_comes_back_if_nobody_took_it() {
    let mut h = Harness::new(|_| {});
    let room = two_players(&mut h, 4);
    h.drop_player(room, 1, 0);
    assert_eq!(h.owner.room(&room).and_then(|r| r.authority()), None);
    h.reconnect(room, 1, "token1", 20);
    let seen = h.take(20);
    let Seen::Frame(data) = &seen[1] else {
        panic!("{seen:?}")
    };
    assert_eq!(data["data"]["is_authority"], true);
    assert_eq!(h.owner.room(&room).and_then(|r| r.authority()), Some(id(1)));
    assert!(kinds(&h.take(2)).contains(&"AuthorityChanged".to_owned()));
}

#[test]
fn a_room_whose_players_all_dropped_waits_bounded_by_the_empty_room_timeout() {
    let mut h = Harness::new(|c| {
        c.server.reconnection_window = 300;
        c.server.empty_room_timeout = 60;
    });
    let room = two_players(&mut h, 4);
    h.drop_player(room, 1, 0);
    h.advance(Duration::from_secs(10));
    h.drop_player(room, 2, 0);
    assert_eq!(h.owner.room_count(), 1, "kept for its disconnected players");
    let emptied = h.now;
    assert_eq!(
        h.owner.poll_timeout(),
        Some(emptied + Duration::from_secs(60))
    );
    h.now = emptied + Duration::from_secs(60);
    h.owner.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.owner.room_count(), 0);
    assert_eq!(h.owner.game_room_count(GAME), 0, "the slot went back");
    assert_eq!(h.gauge_sessions_active(), 0);
    assert_eq!(h.metrics.counters.borrow().empty_rooms_cleaned, 1);
    h.reconnect(room, 1, "token1", 20);
    assert_eq!(error_code(&h.take(20)[0]), "ROOM_NOT_FOUND");
}

#[test]
fn a_room_lives_until_its_last_token_expires() {
    let mut h = Harness::new(|c| {
        c.server.reconnection_window = 30;
        c.server.empty_room_timeout = 300;
    });
    let room = two_players(&mut h, 4);
    h.drop_player(room, 1, 0);
    h.drop_player(room, 2, 0);
    h.advance(Duration::from_secs(30));
    h.owner.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.owner.room_count(), 0, "nobody left to wait for");
}

#[test]
fn a_kept_seat_keeps_its_name() {
    let mut h = Harness::new(|_| {});
    let (room, code) = h.create(1, 4);
    h.join(2, &code);
    h.drop_player(room, 2, 0);
    h.forget_sent();
    h.feed(OwnerCmd::JoinRoom(Box::new(JoinByCode {
        game_name: GAME.to_owned(),
        code,
        joiner: Joiner {
            name: "PLAYER2".to_owned(),
            ..joiner(3)
        },
    })));
    assert_eq!(error_code(&h.take(3)[0]), "INVALID_PLAYER_NAME");
}

#[test]
fn with_reconnection_off_a_drop_frees_the_seat_for_good() {
    let mut h = Harness::new(|c| c.server.enable_reconnection = false);
    let room = two_players(&mut h, 4);
    h.drop_player(room, 2, 0);
    assert!(h.owner.away_seats(&room).is_empty());
    h.drop_player(room, 1, 0);
    assert_eq!(h.owner.room_count(), 0);
}

#[test]
fn a_seat_whose_socket_is_still_closing_is_claimable_once_the_close_says_what_left() {
    let mut h = Harness::new(|_| {});
    let room = two_players(&mut h, 4);
    let before = h.owner.last_seq(&room).unwrap_or_default();
    for k in 1..=3 {
        h.relay(room, 1, k);
    }
    // Cut off (say as a slow consumer) with none of the three written yet.
    h.feed(OwnerCmd::RoomOp {
        room_id: room,
        player: id(2),
        from: addr(2),
        op: RoomOp::Dropped {
            delivered: Delivered::through_owner(before),
            closing: true,
        },
    });
    h.relay(room, 1, 4);
    h.reconnect(room, 2, "token2", 20);
    assert_eq!(error_code(&h.take(20)[0]), "PLAYER_ALREADY_CONNECTED");
    // The close flushed the first two after all.
    h.feed(OwnerCmd::RoomOp {
        room_id: room,
        player: id(2),
        from: addr(2),
        op: RoomOp::Closed {
            delivered: Delivered::through_owner(before + 2),
        },
    });
    h.reconnect(room, 2, "token2", 21);
    let seen = h.take(21);
    assert_eq!(missed_numbers(&seen[1]), [3, 4], "each event once in all");
}

#[test]
fn the_timer_reads_the_earliest_deadline_of_all_rooms_and_visits_only_due_ones() {
    let mut h = Harness::new(|c| {
        c.server.inactive_room_timeout = 600;
        c.server.reconnection_window = 30;
    });
    let quiet = h.create(9, 4).0;
    h.advance(Duration::from_secs(100));
    let busy = two_players(&mut h, 4);
    assert_eq!(
        h.owner.poll_timeout(),
        Some(h.start + Duration::from_secs(600)),
        "the older room's inactivity comes first"
    );

    // A drop brings the busy room's deadline forward to the end of the window.
    h.advance(Duration::from_secs(5));
    h.drop_player(busy, 2, 0);
    let window_end = h.now + Duration::from_secs(30);
    assert_eq!(h.owner.poll_timeout(), Some(window_end));

    // At the window's end only the seat goes; the quiet room is not due and stays.
    h.now = window_end;
    h.forget_sent();
    h.owner.handle_timeout(h.now);
    h.drain();
    assert!(h.owner.away_seats(&busy).is_empty());
    assert_eq!(h.owner.room_count(), 2);
    assert!(
        h.sent.is_empty(),
        "an expired seat tells nobody: {:?}",
        h.sent
    );
    assert_eq!(
        h.owner.poll_timeout(),
        Some(h.start + Duration::from_secs(600))
    );

    h.now = h.start + Duration::from_secs(600);
    h.owner.handle_timeout(h.now);
    h.drain();
    assert!(h.owner.room(&quiet).is_none(), "idle for 600 s");
    assert!(h.owner.room(&busy).is_some());
    let next = h.owner.poll_timeout().expect("the busy room's inactivity");
    assert!(next > h.now, "nothing due is left behind");
}

#[test]
fn a_deleted_room_leaves_no_timer_behind() {
    let mut h = Harness::new(|c| c.server.reconnection_window = 30);
    let room = two_players(&mut h, 4);
    h.drop_player(room, 2, 0);
    assert!(h.owner.poll_timeout().is_some());
    h.leave(room, 1, LeaveKind::Voluntary);
    h.advance(Duration::from_secs(30));
    h.owner.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.owner.room_count(), 0);
    assert_eq!(h.owner.poll_timeout(), None);
}

mod cluster;
