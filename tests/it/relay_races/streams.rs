//! The machinery of the relay races: senders on their threads released by a gate, and the
//! tally that checks, frame by frame, what each recipient gets from each sender.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::Message;

use super::GAME;
use crate::common::{Client, str_of};
use crate::game_data::parse_envelope;

/// Frames a sender writes between two `Ping` round trips (which also read what it was sent).
const CHUNK: u64 = 5;

/// Longest a sender waits for the test to let it go on: only a failing test gets near it.
const GATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages that may reach a member at any time: the room's notices.
const NOTICES: [&str; 7] = [
    "PlayerJoined",
    "PlayerLeft",
    "PlayerReconnected",
    "NewSpectatorJoined",
    "SpectatorDisconnected",
    "LobbyStateChanged",
    "AuthorityChanged",
];

pub(super) fn is_notice(msg: &Value) -> bool {
    NOTICES.iter().any(|n| msg["type"] == *n)
}

/// One sender of a scenario, as recipients name it.
#[derive(Clone)]
pub(super) struct SenderId {
    pub(super) player_id: String,
    /// `sender 2 (shard 2, MessagePack)`, for failure messages.
    pub(super) label: String,
}

/// What one inbound frame is: numbered game data from a sender, or another message.
pub(super) enum Inbound {
    Data { from: String, n: u64 },
    Other(Value),
}

fn numbered(data: &Value) -> u64 {
    data["n"]
        .as_u64()
        .unwrap_or_else(|| panic!("game data without a number: {data}"))
}

/// Game data as a JSON client sees it, in a live frame or in `missed_events`.
pub(super) fn json_game_data(msg: &Value) -> Inbound {
    if msg["type"] == "GameData" {
        Inbound::Data {
            from: str_of(&msg["data"], "from_player").to_owned(),
            n: numbered(&msg["data"]["data"]),
        }
    } else {
        Inbound::Other(msg.clone())
    }
}

pub(super) fn classify(frame: Message) -> Inbound {
    match frame {
        Message::Text(text) => {
            json_game_data(&serde_json::from_str(text.as_str()).expect("server sent JSON"))
        }
        Message::Binary(bytes) => {
            let envelope = parse_envelope(&bytes);
            assert_eq!(envelope.encoding, "message_pack");
            let payload: Value =
                rmp_serde::from_slice(&envelope.payload).expect("the payload is MessagePack");
            Inbound::Data {
                from: envelope.from_player.to_string(),
                n: numbered(&payload),
            }
        }
        other => panic!("unexpected frame: {other:?}"),
    }
}

/// One stay in the room as one recipient saw one sender: the first and last number received.
#[derive(Clone, Copy, Default)]
struct Stay {
    first: Option<u64>,
    last: u64,
    /// Frames up to this number left before the stay began (a witness had them): the stay
    /// must not get them.
    before: u64,
}

/// What one recipient got from each sender, checked frame by frame as it arrives: only while in
/// the room, and within each stay consecutive numbers, never one it had already seen.
pub(super) struct Tally {
    /// Who receives, for failure messages.
    who: String,
    senders: Vec<SenderId>,
    /// The recipient's own index among the senders, if it is one.
    me: Option<usize>,
    /// Per sender, one entry per stay in the room.
    stays: Vec<Vec<Stay>>,
    /// Per sender, the highest number received so far.
    highest: Vec<u64>,
    inside: bool,
    /// Where the scenario is, for failure messages.
    pub(super) phase: String,
}

impl Tally {
    pub(super) fn new(who: impl Into<String>, senders: &[SenderId], me: Option<usize>) -> Tally {
        Tally {
            who: who.into(),
            senders: senders.to_vec(),
            me,
            stays: vec![Vec::new(); senders.len()],
            highest: vec![0; senders.len()],
            inside: false,
            phase: "start".to_owned(),
        }
    }

    /// The recipient is in the room from now on (`RoomJoined`, `SpectatorJoined`).
    pub(super) fn enter(&mut self) {
        self.enter_after(0);
    }

    /// Like [`Tally::enter`], for a join sent only once a [`Witness`] on the recipient's shard
    /// had every sender's frames up to `before`: those were fanned out to that shard before
    /// the join existed, so none of them may reach the recipient.
    pub(super) fn enter_after(&mut self, before: u64) {
        self.inside = true;
        for stays in &mut self.stays {
            stays.push(Stay {
                before,
                ..Stay::default()
            });
        }
    }

    /// The recipient is out of the room from now on (`RoomLeft`, `SpectatorLeft`).
    pub(super) fn leave(&mut self) {
        self.inside = false;
    }

    pub(super) fn frame(&mut self, from: &str, n: u64) {
        let Some(i) = self.senders.iter().position(|s| s.player_id == from) else {
            panic!("{}: GameData n={n} from {from}, who is no sender", self.who);
        };
        let label = &self.senders[i].label;
        assert_ne!(
            Some(i),
            self.me,
            "{}: its own GameData n={n} came back",
            self.who
        );
        assert!(
            self.inside,
            "{} got GameData n={n} from {label} while not in the room ({}): after leaving \
             nothing more arrives, and before RoomJoined nothing yet",
            self.who, self.phase
        );
        let stay = self.stays[i].last_mut().expect("entered before any frame");
        match stay.first {
            Some(_) => assert_eq!(
                n,
                stay.last + 1,
                "{}: from {label}, n={n} followed n={} ({}): each sender's frames arrive once, \
                 in order, without a gap",
                self.who,
                stay.last,
                self.phase
            ),
            None => {
                assert!(
                    n > stay.before,
                    "{}: its first frame from {label} in this stay is n={n}, yet a member on its \
                     shard had got every frame up to n={} before the join was sent ({}): a frame \
                     from before the join",
                    self.who,
                    stay.before,
                    self.phase
                );
                assert!(
                    n > self.highest[i],
                    "{}: its first frame from {label} in this stay is n={n}, yet it had already \
                     got n={} ({}): a frame from before the join, or a repeat",
                    self.who,
                    self.highest[i],
                    self.phase
                );
                stay.first = Some(n);
            }
        }
        stay.last = n;
        self.highest[i] = n;
    }

    /// Checks and counts game data; hands back any other message.
    pub(super) fn take(&mut self, frame: Message) -> Option<Value> {
        match classify(frame) {
            Inbound::Data { from, n } => {
                self.frame(&from, n);
                None
            }
            Inbound::Other(msg) => Some(msg),
        }
    }

    /// Whether every other sender's frames up to `lasts` have arrived.
    fn has_all(&self, lasts: &[u64]) -> bool {
        (0..lasts.len()).all(|i| Some(i) == self.me || self.highest[i] >= lasts[i])
    }

    /// Each other sender's frames arrived in one unbroken stay: `1..=last`, once each, in order.
    pub(super) fn assert_whole(&self, lasts: &[u64]) {
        for (i, &last) in lasts.iter().enumerate() {
            if Some(i) == self.me || last == 0 {
                continue;
            }
            let stays = &self.stays[i];
            assert_eq!(stays.len(), 1, "{}: one stay", self.who);
            assert_eq!(
                (stays[0].first, stays[0].last),
                (Some(1), last),
                "{}: every frame of {} from the first to the last",
                self.who,
                self.senders[i].label
            );
        }
    }

    /// The welcome guarantee: a frame a sender sent after it saw this recipient (named `name`)
    /// arrive reaches it. For each stay, the first frame from a sender is no later than the
    /// first one that sender sent after seeing the matching arrival.
    pub(super) fn assert_welcomed(&self, name: &str, streamed: &[Streamed]) {
        for (i, sender) in streamed.iter().enumerate() {
            if Some(i) == self.me {
                continue;
            }
            let seen = sender.arrivals.iter().filter(|(who, _)| who == name);
            for (k, (_, next)) in seen.enumerate() {
                let Some(first) = self.stays[i].get(k).and_then(|s| s.first) else {
                    continue;
                };
                assert!(
                    first <= *next,
                    "{} (stay {k}): {} sent n={next} after it saw {name} arrive, yet the first \
                     frame {name} got from it is n={first}",
                    self.who,
                    self.senders[i].label
                );
            }
        }
    }
}

/// Reads until a message of type `ty` and returns its `data`, checking game data on the way and
/// letting the room's notices pass; anything else fails the test.
pub(super) fn await_reply(c: &mut Client, tally: &mut Tally, ty: &str) -> Value {
    loop {
        let Some(msg) = tally.take(c.recv_message()) else {
            continue;
        };
        if msg["type"] == ty {
            return msg["data"].clone();
        }
        assert!(
            is_notice(&msg),
            "{} ({}): unexpected message while waiting for {ty}: {msg}",
            tally.who,
            tally.phase
        );
    }
}

/// Reads until every other sender's last frame has arrived.
pub(super) fn read_to_end(c: &mut Client, tally: &mut Tally, lasts: &[u64]) {
    tally.phase = "after the senders stopped".to_owned();
    while !tally.has_all(lasts) {
        let Some(frame) = c.try_recv_message() else {
            panic!(
                "{}: the connection ended or went quiet with frames missing: got up to {:?} \
                 of {lasts:?}",
                tally.who, tally.highest
            );
        };
        if let Some(msg) = tally.take(frame) {
            assert!(is_notice(&msg), "{}: unexpected message: {msg}", tally.who);
        }
    }
}

/// A player that stays in the room throughout, on a recipient's shard. Once it has received a
/// frame, that frame has been handed out on this shard, so a member whose join is sent only
/// afterwards must never get it; and it checks its own stream is whole.
pub(super) struct Witness {
    client: Client,
    tally: Tally,
}

impl Witness {
    /// Seats a witness from shard `shard` in the room `code` of `senders`, before they stream.
    pub(super) fn seat(port: u16, code: &str, senders: &[SenderId], shard: u32) -> Witness {
        let mut client = Client::connect_to_shard(port, shard);
        let name = format!("Witness{shard}");
        client.join_room(GAME, code, &name);
        let mut tally = Tally::new(format!("the witness on shard {shard}"), senders, None);
        tally.enter();
        Witness { client, tally }
    }

    /// Reads until every sender's frames up to `budget` have arrived; returns `budget`.
    pub(super) fn catch_up(&mut self, budget: u64) -> u64 {
        let bounds = vec![budget; self.tally.senders.len()];
        while !self.tally.has_all(&bounds) {
            let Some(msg) = self.tally.take(self.client.recv_message()) else {
                continue;
            };
            assert!(is_notice(&msg), "{}: unexpected {msg}", self.tally.who);
        }
        budget
    }

    pub(super) fn finish(mut self, lasts: &[u64]) {
        read_to_end(&mut self.client, &mut self.tally, lasts);
        self.tally.assert_whole(lasts);
    }
}

/// How far the senders may go. The test raises the budget step by step; each sender sends up to
/// it, then waits for the next raise or for the gate to close.
#[derive(Default)]
struct Gate {
    /// The budget, and whether it is final.
    state: Mutex<(u64, bool)>,
    raised: Condvar,
}

impl Gate {
    fn grant(&self, frames: u64) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0 += frames;
        self.raised.notify_all();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.raised.notify_all();
    }

    /// Frames each sender has been allowed so far.
    fn budget(&self) -> u64 {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// The budget once it is above `sent`, or `None` once it is final and `sent` reached it.
    fn wait_past(&self, sent: u64) -> Option<u64> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, waited) = self
            .raised
            .wait_timeout_while(state, GATE_TIMEOUT, |(budget, closed)| {
                *budget <= sent && !*closed
            })
            .unwrap_or_else(PoisonError::into_inner);
        assert!(!waited.timed_out(), "the test never let the senders go on");
        let budget = state.0;
        (budget > sent).then_some(budget)
    }
}

/// A sender's thread, once the gate closed.
pub(super) struct Streamed {
    pub(super) client: Client,
    /// The number of its last frame.
    pub(super) last: u64,
    /// Who it saw arrive (`PlayerJoined`, `NewSpectatorJoined`), each with the number of the
    /// first frame it sent after seeing it.
    arrivals: Vec<(String, u64)>,
    /// What it received from the other senders.
    pub(super) tally: Tally,
}

/// The senders of a scenario, streaming on their threads. Dropping it (a failing test
/// unwinding) closes the gate, so no thread waits for a test that is gone.
pub(super) struct Senders {
    gate: Arc<Gate>,
    threads: Vec<JoinHandle<Streamed>>,
}

impl Senders {
    pub(super) fn start(seated: Vec<(Client, bool)>, ids: &[SenderId]) -> Senders {
        let gate = Arc::new(Gate::default());
        let threads = seated
            .into_iter()
            .enumerate()
            .map(|(i, (client, message_pack))| {
                let mut tally = Tally::new(ids[i].label.clone(), ids, Some(i));
                tally.enter();
                let gate = Arc::clone(&gate);
                thread::Builder::new()
                    .name(format!("sender {i}"))
                    .spawn(move || stream(client, message_pack, tally, &gate))
                    .expect("spawn a sender")
            })
            .collect();
        Senders { gate, threads }
    }

    pub(super) fn grant(&self, frames: u64) {
        self.gate.grant(frames);
    }

    pub(super) fn budget(&self) -> u64 {
        self.gate.budget()
    }

    /// Closes the gate and waits for every sender to have sent its last frame.
    pub(super) fn finish(mut self) -> Vec<Streamed> {
        self.gate.close();
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    }
}

impl Drop for Senders {
    fn drop(&mut self) {
        self.gate.close();
    }
}

fn send_numbered(c: &mut Client, message_pack: bool, n: u64) {
    if message_pack {
        c.send_binary(rmp_serde::to_vec(&json!({ "n": n })).expect("encode"));
    } else {
        c.send_game_data(json!({ "n": n }));
    }
}

/// A sender's thread: frames numbered from 1, as far as the gate allows, with a `Ping` round trip
/// every `CHUNK` frames that reads (and checks) what the sender was sent meanwhile.
fn stream(mut client: Client, message_pack: bool, mut tally: Tally, gate: &Gate) -> Streamed {
    let mut sent = 0;
    let mut arrivals = Vec::new();
    while let Some(budget) = gate.wait_past(sent) {
        while sent < budget {
            sent += 1;
            send_numbered(&mut client, message_pack, sent);
            if sent % CHUNK == 0 || sent == budget {
                round_trip(&mut client, &mut tally, &mut arrivals, sent + 1);
            }
        }
    }
    Streamed {
        client,
        last: sent,
        arrivals,
        tally,
    }
}

/// `Ping` and read up to the `Pong`, noting who arrived; `next` is the sender's next number.
fn round_trip(c: &mut Client, tally: &mut Tally, arrivals: &mut Vec<(String, u64)>, next: u64) {
    c.send(json!({"type":"Ping"}));
    loop {
        let Some(msg) = tally.take(c.recv_message()) else {
            continue;
        };
        match msg["type"].as_str() {
            Some("Pong") => return,
            Some("PlayerJoined") => {
                arrivals.push((str_of(&msg["data"]["player"], "name").to_owned(), next));
            }
            Some("NewSpectatorJoined") => {
                arrivals.push((str_of(&msg["data"]["spectator"], "name").to_owned(), next));
            }
            _ => assert!(is_notice(&msg), "{}: unexpected {msg}", tally.who),
        }
    }
}
