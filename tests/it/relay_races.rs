//! Relay races (decisions 3, 6, 8): game data under concurrent traffic, with the sender, the
//! room's owner and the recipient on different shards. Black-box tests, so they hold whichever
//! path a frame takes between shards:
//!
//! * leaving means leaving: after `RoomLeft` (or `SpectatorLeft`) nothing more from that room,
//!   over many leave/rejoin cycles;
//! * exactly once and in each sender's order, for players, a spectator and MessagePack clients;
//! * across a dropped socket and a `Reconnect` on another shard, what arrived live, the
//!   `missed_events` and what arrives live again make each sender's sequence, whole;
//! * a newcomer gets nothing from before its `RoomJoined`, then each sender's frames without a
//!   gap, starting no later than the first frame the sender sent after it saw the newcomer
//!   arrive.
//!
//! Each sender runs on its own thread and numbers its frames 1, 2, …. A gate lets the
//! senders go a step at a time, so traffic flows exactly while a test leaves, joins or drops,
//! and the volume stays bounded. Rooms are owned by shard 0; every test asserts where its
//! connections and room landed, so none passes by quietly ending up on one shard.

use serde_json::{Value, json};
use signal_fish_server::ServerHandle;
use signal_fish_server::shard::routing::{room_id_owner, room_owner};
use uuid::Uuid;

use crate::common::{Client, Ticket, start_with, str_of};

mod streams;

use streams::{
    Inbound, SenderId, Senders, Tally, Witness, await_reply, classify, is_notice, json_game_data,
    read_to_end,
};

const GAME: &str = "relay races";
/// The shard that owns every scenario's room.
const OWNER: u32 = 0;
/// Frames each sender is let go at each step of a scenario.
const STEP: u64 = 20;

/// A server with `shards` shards whose kept seats can hold every frame a scenario sends.
fn server(shards: u32) -> ServerHandle {
    start_with(|c| {
        c.server.shards = shards as usize;
        c.server.event_buffer_size = 100_000;
    })
}

/// The shard that owns the room a `RoomJoined` (or `SpectatorJoined`, `Reconnected`)
/// describes, read from the room id's first byte; it must agree with the hash of game and code.
fn owner_of(joined: &Value, shards: u32) -> u32 {
    let id = Uuid::parse_str(str_of(joined, "room_id")).expect("room_id is a UUID");
    let owner = room_id_owner(&id, shards)
        .unwrap_or_else(|| panic!("room {id} names no shard of {shards}"));
    let hashed = room_owner(
        str_of(joined, "game_name"),
        str_of(joined, "room_code"),
        shards,
    );
    assert_eq!(owner, hashed, "the room id and the code agree on the owner");
    owner
}

/// A code no room can have (generated codes have no `0`) that shard `shard` owns.
fn unused_code(shards: u32, shard: u32) -> String {
    (0..10_000)
        .map(|i| format!("0{i:05}"))
        .find(|code| room_owner(GAME, code, shards) == shard)
        .expect("some code hashes to every shard")
}

/// Switches a fresh connection to MessagePack game data.
fn speak_message_pack(c: &mut Client) {
    let (_, info) = c.authenticate(json!({"app_id":GAME,"game_data_format":"message_pack"}));
    assert_eq!(info["game_data_formats"], json!(["json", "message_pack"]));
}

/// A round trip through shard `shard` for a client in no room: `JoinRoom` by a code no room has,
/// which `shard` answers with `ROOM_NOT_FOUND`. Game data on the way fails `tally`.
fn barrier(c: &mut Client, tally: &mut Tally, shards: u32, shard: u32) {
    let code = unused_code(shards, shard);
    c.send(json!({"type":"JoinRoom","data":{"game_name":GAME,"room_code":code,"player_name":"Barrier"}}));
    let failed = await_reply(c, tally, "RoomJoinFailed");
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND", "{failed}");
}

/// A room owned by [`OWNER`] with one sender seated from each shard in `shards_of_senders`
/// (the one at `message_pack` speaks MessagePack), and `max` seats.
struct Scenario {
    port: u16,
    shards: u32,
    code: String,
    ids: Vec<SenderId>,
    /// Where each sender sits.
    sender_shards: Vec<u32>,
    seated: Vec<(Client, bool)>,
}

impl Scenario {
    fn seat(
        server: &ServerHandle,
        shards: u32,
        shards_of_senders: &[u32],
        message_pack: usize,
        max: u8,
    ) -> Scenario {
        let port = server.port();
        let mut seated: Vec<(Client, bool)> = Vec::new();
        let mut ids = Vec::new();
        let mut code = String::new();
        for (i, &shard) in shards_of_senders.iter().enumerate() {
            let mp = i == message_pack;
            let mut c = Client::connect_to_shard(port, shard);
            assert_eq!(c.shard, shard);
            if mp {
                speak_message_pack(&mut c);
            }
            let name = format!("S{i}");
            let joined = if i == 0 {
                let created = create_owned(&mut c, &name, max, shards);
                code = str_of(&created, "room_code").to_owned();
                created
            } else {
                c.join_room(GAME, &code, &name)
            };
            assert_eq!(owner_of(&joined, shards), OWNER, "the room's owner");
            for (earlier, _) in &mut seated {
                earlier.expect_player_joined(&name);
            }
            let format = if mp { ", MessagePack" } else { "" };
            ids.push(SenderId {
                player_id: str_of(&joined, "player_id").to_owned(),
                label: format!("sender {i} (shard {shard}{format})"),
            });
            seated.push((c, mp));
        }
        let covered: std::collections::BTreeSet<u32> =
            seated.iter().map(|(c, _)| c.shard).collect();
        assert_eq!(covered.len(), shards as usize, "a sender on every shard");
        Scenario {
            port,
            shards,
            code,
            ids,
            sender_shards: shards_of_senders.to_vec(),
            seated,
        }
    }

    /// Asserts that a recipient on `shard` sits on neither the owner's shard nor, with three
    /// shards, that of at least one sender: its frames then cross from a third shard.
    fn assert_remote(&self, shard: u32) {
        assert_ne!(shard, OWNER, "the recipient is not on the owner's shard");
        if self.shards >= 3 {
            assert!(
                self.sender_shards.iter().any(|&s| s != shard && s != OWNER),
                "a sender on neither the owner's nor the recipient's shard"
            );
        }
    }

    fn start(&mut self) -> Senders {
        Senders::start(std::mem::take(&mut self.seated), &self.ids)
    }
}

/// Creates rooms (leaving each wrong one) until one is owned by [`OWNER`].
fn create_owned(c: &mut Client, name: &str, max: u8, shards: u32) -> Value {
    for _ in 0..64 {
        let joined = c.create_room(GAME, name, max);
        if owner_of(&joined, shards) == OWNER {
            return joined;
        }
        c.leave();
    }
    panic!("no room landed on shard {OWNER}");
}

/// How the member of test 1 comes and goes.
#[derive(Clone, Copy)]
enum Role {
    Player,
    Spectator,
}

impl Role {
    /// Joins (or watches) the room; `before` as in [`Tally::enter_after`].
    fn enter(self, c: &mut Client, tally: &mut Tally, code: &str, before: u64) {
        let joined = match self {
            Role::Player => {
                c.send(json!({"type":"JoinRoom","data":{"game_name":GAME,"room_code":code,"player_name":"Leaver"}}));
                await_reply(c, tally, "RoomJoined")
            }
            Role::Spectator => {
                c.send(json!({"type":"JoinAsSpectator","data":{"game_name":GAME,"room_code":code,"spectator_name":"Leaver"}}));
                await_reply(c, tally, "SpectatorJoined")
            }
        };
        assert_eq!(joined["room_code"], code, "{joined}");
        tally.enter_after(before);
    }

    fn leave(self, c: &mut Client, tally: &mut Tally) {
        match self {
            Role::Player => {
                c.send(json!({"type":"LeaveRoom"}));
                await_reply(c, tally, "RoomLeft");
            }
            Role::Spectator => {
                c.send(json!({"type":"LeaveSpectator"}));
                await_reply(c, tally, "SpectatorLeft");
            }
        }
        tally.leave();
    }
}

/// Test 1: a member on a shard other than the owner's leaves and comes back 50 times while a
/// sender on every shard streams. After each `RoomLeft`/`SpectatorLeft` nothing from the room
/// may arrive (checked through round trips to every shard, a stay in another room, and the rest
/// of the run). After each return each sender's frames follow without a gap, from no later than
/// the first one the sender sent after it saw the member arrive; and when the return was sent
/// only once a witness on the member's shard had every frame so far, none of those.
fn leaving_means_leaving(shards: u32, role: Role) {
    const CYCLES: usize = 50;
    let server = server(shards);
    let mut room = Scenario::seat(&server, shards, &(0..shards).collect::<Vec<_>>(), 1, 8);
    let mut leaver = Client::connect_to_shard(room.port, 1);
    room.assert_remote(leaver.shard);
    let mut witness = Witness::seat(room.port, &room.code, &room.ids, leaver.shard);
    let mut tally = Tally::new(
        format!("the leaver (shard {})", leaver.shard),
        &room.ids,
        None,
    );
    let senders = room.start();
    role.enter(&mut leaver, &mut tally, &room.code, 0);
    for cycle in 0..CYCLES {
        tally.phase = format!("cycle {cycle}");
        // Traffic during the stay, still flowing as the member leaves.
        senders.grant(STEP);
        role.leave(&mut leaver, &mut tally);
        // Traffic while it is away.
        senders.grant(STEP);
        let before = match cycle % 3 {
            // Round trips through every shard (the owner's and each sender's), then back in
            // once the witness has everything sent so far.
            0 => {
                for shard in 0..shards {
                    barrier(&mut leaver, &mut tally, shards, shard);
                }
                witness.catch_up(senders.budget())
            }
            // A stay in another, quiet room.
            1 => {
                leaver.send(json!({"type":"JoinRoom","data":{"game_name":GAME,"player_name":"Leaver","max_players":2}}));
                let other = await_reply(&mut leaver, &mut tally, "RoomJoined");
                assert_ne!(other["room_code"], room.code.as_str());
                leaver.send(json!({"type":"LeaveRoom"}));
                await_reply(&mut leaver, &mut tally, "RoomLeft");
                0
            }
            // Straight back in while the senders stream: the closest race.
            _ => 0,
        };
        role.enter(&mut leaver, &mut tally, &room.code, before);
    }
    senders.grant(STEP);
    let streamed = senders.finish();
    let lasts: Vec<u64> = streamed.iter().map(|s| s.last).collect();
    read_to_end(&mut leaver, &mut tally, &lasts);
    tally.assert_welcomed("Leaver", &streamed);
    witness.finish(&lasts);
    drop((leaver, streamed));
    server.shutdown();
}

#[test]
fn a_player_who_left_gets_nothing_more_with_2_shards() {
    leaving_means_leaving(2, Role::Player);
}

#[test]
fn a_player_who_left_gets_nothing_more_with_3_shards() {
    leaving_means_leaving(3, Role::Player);
}

#[test]
fn a_spectator_who_stopped_watching_gets_nothing_more_with_2_shards() {
    leaving_means_leaving(2, Role::Spectator);
}

#[test]
fn a_spectator_who_stopped_watching_gets_nothing_more_with_3_shards() {
    leaving_means_leaving(3, Role::Spectator);
}

/// Test 2: two senders per shard (one speaking MessagePack) send 300 frames each at once; every
/// other sender, a JSON spectator and a MessagePack player that only listens, both on a shard
/// other than the owner's, get each sender's frames exactly once and in its order.
fn exactly_once_in_order(shards: u32) {
    const FRAMES: u64 = 300;
    let server = server(shards);
    let placement: Vec<u32> = (0..2 * shards).map(|i| i % shards).collect();
    let mut room = Scenario::seat(&server, shards, &placement, 1, 12);
    let port = room.port;

    let mut watcher = Client::connect_to_shard(port, 1);
    room.assert_remote(watcher.shard);
    let mut watcher_tally = Tally::new("the spectator", &room.ids, None);
    watcher.send(json!({"type":"JoinAsSpectator","data":{"game_name":GAME,"room_code":room.code,"spectator_name":"Watcher"}}));
    assert_eq!(owner_of(&watcher.expect("SpectatorJoined"), shards), OWNER);
    watcher_tally.enter();

    let mut listener = Client::connect_to_shard(port, shards - 1);
    room.assert_remote(listener.shard);
    speak_message_pack(&mut listener);
    let mut listener_tally = Tally::new("the MessagePack listener", &room.ids, None);
    listener.join_room(GAME, &room.code, "Listener");
    listener_tally.enter();

    let senders = room.start();
    senders.grant(FRAMES);
    let mut streamed = senders.finish();
    let lasts: Vec<u64> = streamed.iter().map(|s| s.last).collect();
    assert!(lasts.iter().all(|&l| l == FRAMES));
    for (client, tally) in [
        (&mut watcher, &mut watcher_tally),
        (&mut listener, &mut listener_tally),
    ] {
        read_to_end(client, tally, &lasts);
        tally.assert_whole(&lasts);
    }
    for s in &mut streamed {
        read_to_end(&mut s.client, &mut s.tally, &lasts);
        s.tally.assert_whole(&lasts);
    }
    drop((watcher, listener, streamed));
    server.shutdown();
}

#[test]
fn every_member_and_a_spectator_get_each_frame_once_in_order_with_2_shards() {
    exactly_once_in_order(2);
}

#[test]
fn every_member_and_a_spectator_get_each_frame_once_in_order_with_3_shards() {
    exactly_once_in_order(3);
}

/// Claims the seat. The old connection counts as connected until its shard has told the owner
/// it is gone, which may come after the new connection's `Reconnect`: then
/// `PLAYER_ALREADY_CONNECTED`, and the client tries again, as a game would. Nothing of the
/// room may reach the new connection before its `Reconnected`.
fn claim(c: &mut Client, ticket: &Ticket) -> Value {
    for _ in 0..1_000 {
        ticket.send(c);
        let msg = match classify(c.recv_message()) {
            Inbound::Data { from, n } => {
                panic!("GameData n={n} from {from} reached a connection before its Reconnected")
            }
            Inbound::Other(msg) => msg,
        };
        match msg["type"].as_str() {
            Some("Reconnected") => return msg["data"].clone(),
            Some("ReconnectionFailed")
                if msg["data"]["error_code"] == "PLAYER_ALREADY_CONNECTED" =>
            {
                c.expect_quiet();
            }
            _ => panic!("unexpected answer to Reconnect: {msg}"),
        }
    }
    panic!("the seat never became claimable");
}

/// Test 3: a MessagePack member's socket drops (a FIN, no close frame, no `LeaveRoom`) 20 times
/// while a sender on every shard streams, and each time it comes back with its token through a
/// connection on the next shard. What it read up to the end of each socket, each
/// `Reconnected.missed_events` and the live frames after it must be each sender's sequence,
/// exactly once, in order, without a gap.
///
/// The client half-closes and reads up to the end of the stream, so it knows exactly what the
/// server wrote: a frame the server's socket accepted counts as delivered (README,
/// Reconnection), so a client that threw unread bytes away would lose them by design.
fn reconnect_under_traffic(shards: u32) {
    const CYCLES: usize = 20;
    let server = server(shards);
    let mut room = Scenario::seat(&server, shards, &(0..shards).collect::<Vec<_>>(), 1, 8);
    let port = room.port;
    let mut member = Client::connect_to_shard(port, 1);
    room.assert_remote(member.shard);
    speak_message_pack(&mut member);
    let mut tally = Tally::new("the reconnecting member", &room.ids, None);
    let senders = room.start();
    let mut ticket = Ticket::of(&member.join_room(GAME, &room.code, "Dropper"));
    tally.enter();

    for cycle in 0..CYCLES {
        tally.phase = format!("cycle {cycle}, shard {}", member.shard);
        senders.grant(STEP);
        member.shutdown_write();
        while let Some(frame) = member.try_recv_message() {
            if let Some(msg) = tally.take(frame) {
                assert!(is_notice(&msg), "unexpected message: {msg}");
            }
        }
        senders.grant(STEP);
        let shard = (member.shard + 1) % shards;
        let mut back = Client::connect_to_shard(port, shard);
        speak_message_pack(&mut back);
        let reconnected = claim(&mut back, &ticket);
        assert_eq!(reconnected["player_id"], ticket.player_id.as_str());
        assert_eq!(owner_of(&reconnected, shards), OWNER);
        tally.phase = format!("cycle {cycle}, missed_events");
        let missed = reconnected["missed_events"]
            .as_array()
            .expect("missed_events is an array");
        for event in missed {
            match json_game_data(event) {
                Inbound::Data { from, n } => tally.frame(&from, n),
                Inbound::Other(msg) => assert!(is_notice(&msg), "unexpected missed event {msg}"),
            }
        }
        tally.phase = format!("cycle {cycle}, live on shard {shard}");
        ticket = Ticket::of(&reconnected);
        member = back;
    }
    senders.grant(STEP);
    let streamed = senders.finish();
    let lasts: Vec<u64> = streamed.iter().map(|s| s.last).collect();
    read_to_end(&mut member, &mut tally, &lasts);
    tally.assert_whole(&lasts);
    drop((member, streamed));
    server.shutdown();
}

#[test]
fn a_dropped_member_back_on_another_shard_misses_nothing_under_traffic_with_2_shards() {
    reconnect_under_traffic(2);
}

#[test]
fn a_dropped_member_back_on_another_shard_misses_nothing_under_traffic_with_3_shards() {
    reconnect_under_traffic(3);
}

/// Test 4: six players join one after another, from every shard (two speak MessagePack), while
/// a sender on every shard streams. None gets game data before its `RoomJoined`; then each
/// sender's frames arrive without a gap, once, in order, starting no later than the first frame
/// the sender sent after it saw `PlayerJoined` for the newcomer. Every other newcomer joins
/// while the senders are quiet and a witness on its shard has every frame so far, then the
/// senders go on: it must get none of the frames before, and all after.
fn joins_during_traffic(shards: u32) {
    const JOINERS: u32 = 6;
    let server = server(shards);
    let mut room = Scenario::seat(&server, shards, &(0..shards).collect::<Vec<_>>(), 1, 16);
    let port = room.port;
    let ids = room.ids.clone();
    let mut witnesses: Vec<Witness> = (0..shards)
        .map(|s| Witness::seat(port, &room.code, &ids, s))
        .collect();
    let senders = room.start();
    let mut joiners = Vec::new();
    for j in 0..JOINERS {
        let shard = (j + 1) % shards;
        let quiet = j % 2 == 1;
        let before = if quiet {
            witnesses[shard as usize].catch_up(senders.budget())
        } else {
            senders.grant(STEP);
            0
        };
        let name = format!("J{j}");
        let mut c = Client::connect_to_shard(port, shard);
        if j % 3 == 2 {
            speak_message_pack(&mut c);
        }
        let mut tally = Tally::new(format!("{name} (shard {})", c.shard), &ids, None);
        tally.phase = "before its RoomJoined".to_owned();
        c.send(json!({"type":"JoinRoom","data":{"game_name":GAME,"room_code":room.code,"player_name":name}}));
        let joined = await_reply(&mut c, &mut tally, "RoomJoined");
        assert_eq!(owner_of(&joined, shards), OWNER);
        tally.enter_after(before);
        tally.phase = "after its RoomJoined".to_owned();
        if quiet {
            senders.grant(STEP);
        }
        joiners.push((name, c, tally));
    }
    assert!(
        joiners.iter().filter(|(_, c, _)| c.shard != OWNER).count() >= 3,
        "most newcomers join from shards other than the owner's"
    );
    senders.grant(STEP);
    let streamed = senders.finish();
    let lasts: Vec<u64> = streamed.iter().map(|s| s.last).collect();
    for (name, c, tally) in &mut joiners {
        read_to_end(c, tally, &lasts);
        tally.assert_welcomed(name, &streamed);
    }
    for w in witnesses {
        w.finish(&lasts);
    }
    drop((joiners, streamed));
    server.shutdown();
}

#[test]
fn a_player_joining_during_traffic_gets_each_later_frame_once_with_2_shards() {
    joins_during_traffic(2);
}

#[test]
fn a_player_joining_during_traffic_gets_each_later_frame_once_with_3_shards() {
    joins_during_traffic(3);
}
