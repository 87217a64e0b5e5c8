//! Relaying from the sender's shard (`relay.rs`, `replica.rs`) with three shards and no
//! executor: batches between shards are ferried by hand, so each test chooses exactly which
//! message overtakes which. Sender, owner and recipient all sit on different shards.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use uuid::Uuid;

use super::Shard;
use super::mailbox::{Control, Mailbox, Outgoing, RoomRef};
use super::messages::{CreateRoom, JoinByCode, OwnerCmd, Rejoin, RelayPayload, RoomOp, ShardMsg};
use crate::config::Config;
use crate::protocol::codec::encode_game_data;
use crate::protocol::{Frame, GameDataEncoding, PlayerId};
use crate::room::{Joiner, LeaveKind, SessionAddr};

const GAME: &str = "kart racer";
const OWNER: u32 = 0;

/// Three shards of one process, wired by hand.
struct Shards {
    shards: Vec<Shard>,
}

/// One member's connection: where it lives and its mailbox.
struct Conn {
    addr: SessionAddr,
    mailbox: Rc<Mailbox>,
    /// Bytes its "socket" accepted, for the mailbox's delivered summary.
    sent: Rc<Cell<u64>>,
}

impl Shards {
    fn new(count: u32) -> Self {
        let config = Arc::new(Config::default());
        Shards {
            shards: (0..count)
                .map(|i| Shard::new(i, count, config.clone()))
                .collect(),
        }
    }

    fn connect(&self, shard: u32) -> Conn {
        let (addr, mailbox) = self.shards[shard as usize].register(Instant::now());
        let sent = Rc::new(Cell::new(0));
        mailbox.count_transport(sent.clone());
        Conn {
            addr,
            mailbox,
            sent,
        }
    }

    /// Hands shard `to` the batch shard `from` has for it.
    fn ferry(&self, from: u32, to: u32) {
        for msg in self.shards[from as usize].take_batch(to) {
            self.shards[to as usize].dispatch_local(msg);
        }
    }

    /// Ferries every batch until no shard has anything for another.
    fn settle(&self) {
        let n = self.shards.len() as u32;
        for _ in 0..16 {
            for from in 0..n {
                for to in 0..n {
                    if from != to {
                        self.ferry(from, to);
                    }
                }
            }
        }
    }

    /// A room owned by shard `OWNER` around player `n` on `conn`; returns the room and its code.
    fn create(&self, n: u128, conn: &Conn) -> (RoomRef, String) {
        let req = CreateRoom {
            game_name: GAME.to_owned(),
            max_players: 8,
            supports_authority: true,
            code: String::new(),
            creator: joiner(n, conn.addr),
        };
        self.shards[OWNER as usize]
            .dispatch_local(ShardMsg::Owner(OwnerCmd::BuildRoom(Box::new(req))));
        self.settle();
        let seen = conn.read();
        let room = match &seen[0] {
            Seen::Control(Control::Joined { room, .. }) => *room,
            other => panic!("expected Joined, got {other:?}"),
        };
        let code = seen[1].json()["data"]["room_code"]
            .as_str()
            .expect("a code")
            .to_owned();
        (room, code)
    }

    fn join(&self, n: u128, conn: &Conn, code: &str) {
        let req = JoinByCode {
            game_name: GAME.to_owned(),
            code: code.to_owned(),
            joiner: joiner(n, conn.addr),
        };
        self.shards[conn.addr.shard as usize]
            .send(OWNER, ShardMsg::Owner(OwnerCmd::JoinRoom(Box::new(req))));
        self.settle();
    }

    /// Player `n` on `conn` sends game data `{"k": k}`; nothing is ferried.
    fn send(&self, room: RoomRef, n: u128, conn: &Conn, k: u64) {
        let frame = encode_game_data(&id(n), &format!(r#"{{"k":{k}}}"#));
        self.shards[conn.addr.shard as usize].relay(
            room,
            id(n),
            RelayPayload::Json(frame),
            Instant::now(),
        );
    }

    /// A room operation of player `n` on `conn`, queued on its shard for the owner.
    fn op(&self, room: RoomRef, n: u128, conn: &Conn, op: RoomOp) {
        self.shards[conn.addr.shard as usize].send(
            room.owner,
            ShardMsg::Owner(OwnerCmd::RoomOp {
                room_id: room.id,
                player: id(n),
                from: conn.addr,
                op,
            }),
        );
    }
}

impl Conn {
    /// Takes everything queued, as the connection task would, and has the socket accept it.
    fn read(&self) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Some(item) = self.mailbox.pop() {
            match item {
                Outgoing::Frame(frame) => {
                    self.mailbox.feeding(frame.len());
                    self.sent.set(self.sent.get() + frame.len() as u64);
                    seen.push(Seen::Frame(json(&frame)));
                }
                Outgoing::Control(control) => seen.push(Seen::Control(control)),
            }
        }
        self.mailbox.flushed();
        seen
    }
}

#[derive(Debug)]
enum Seen {
    Frame(Value),
    Control(Control),
}

impl Seen {
    fn json(&self) -> &Value {
        match self {
            Seen::Frame(v) => v,
            Seen::Control(c) => panic!("expected a frame, got {c:?}"),
        }
    }
}

fn json(frame: &Frame) -> Value {
    match frame {
        Frame::Text(text) => serde_json::from_str(text.as_str()).expect("JSON frame"),
        Frame::Binary(_) => Value::String("binary".to_owned()),
    }
}

fn id(n: u128) -> PlayerId {
    Uuid::from_u128(n)
}

fn joiner(n: u128, addr: SessionAddr) -> Joiner {
    Joiner {
        id: id(n),
        name: format!("player{n}"),
        addr,
        encoding: GameDataEncoding::Json,
        reconnection_token: format!("token{n}"),
    }
}

/// The `k` of each `GameData` among `seen`, live or replayed inside `Reconnected`.
fn game_data(seen: &[Seen]) -> Vec<u64> {
    let mut ks = Vec::new();
    for item in seen {
        let Seen::Frame(v) = item else { continue };
        match v["type"].as_str() {
            Some("GameData") => ks.push(v["data"]["data"]["k"].as_u64().unwrap_or(0)),
            Some("Reconnected") => {
                for e in v["data"]["missed_events"].as_array().into_iter().flatten() {
                    if e["type"] == "GameData" {
                        ks.push(e["data"]["data"]["k"].as_u64().unwrap_or(0));
                    }
                }
            }
            _ => {}
        }
    }
    ks
}

fn kinds(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .map(|s| match s {
            Seen::Frame(v) => v["type"].as_str().unwrap_or("?").to_owned(),
            Seen::Control(c) => format!("{c:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap_or("")
                .to_owned(),
        })
        .collect()
}

/// Owner on shard 0 with a player; a recipient on shard 1 and a sender on shard 2.
fn spread_room(shards: &Shards) -> (RoomRef, Conn, Conn, Conn) {
    let owner_side = shards.connect(0);
    let (room, code) = shards.create(1, &owner_side);
    assert_eq!(room.owner, OWNER);
    let recipient = shards.connect(1);
    shards.join(2, &recipient, &code);
    let sender = shards.connect(2);
    shards.join(3, &sender, &code);
    owner_side.read();
    recipient.read();
    sender.read();
    (room, owner_side, recipient, sender)
}

#[test]
fn game_data_reaches_each_shard_in_one_hop_from_the_sender() {
    let shards = Shards::new(3);
    let (room, owner_side, recipient, sender) = spread_room(&shards);
    shards.send(room, 3, &sender, 1);
    // One message to each other shard, none through the owner to reach shard 1.
    let to_recipient = shards.shards[2].take_batch(1);
    assert_eq!(to_recipient.len(), 1);
    assert!(matches!(
        &to_recipient[0],
        ShardMsg::Delivery(super::messages::Delivery::Relay(_))
    ));
    for msg in to_recipient {
        shards.shards[1].dispatch_local(msg);
    }
    assert_eq!(game_data(&recipient.read()), [1]);
    shards.ferry(2, 0);
    assert_eq!(game_data(&owner_side.read()), [1]);
    assert!(
        shards.shards[0].take_batch(1).is_empty(),
        "the owner sends the recipient nothing more"
    );
    assert!(game_data(&sender.read()).is_empty(), "no echo");
}

#[test]
fn a_frame_overtaken_by_the_leave_is_not_written_after_room_left() {
    let shards = Shards::new(3);
    let (room, owner_side, leaver, sender) = spread_room(&shards);
    // Shard 2 fans out with the membership it knows; its batch to shard 1 is held back.
    shards.send(room, 3, &sender, 1);
    let stale = shards.shards[2].take_batch(1);
    shards.op(room, 2, &leaver, RoomOp::Leave(LeaveKind::Voluntary));
    shards.ferry(1, 0);
    shards.ferry(0, 1);
    let before = leaver.read();
    assert!(
        kinds(&before).contains(&"RoomLeft".to_owned()),
        "{before:?}"
    );
    // Now the frame arrives: the leaver's shard no longer lists it.
    for msg in stale {
        shards.shards[1].dispatch_local(msg);
    }
    shards.settle();
    assert!(leaver.read().is_empty(), "nothing after RoomLeft");
    assert_eq!(
        game_data(&owner_side.read()),
        [1],
        "the others still get it"
    );
    assert_eq!(
        shards.shards[1].replica_count(),
        0,
        "a shard with no member keeps no replica"
    );
}

#[test]
fn a_player_who_reconnects_elsewhere_gets_every_frame_once_and_in_order() {
    let shards = Shards::new(3);
    let (room, _owner_side, dropped, sender) = spread_room(&shards);
    for k in 1..=2 {
        shards.send(room, 3, &sender, k);
    }
    shards.settle();
    assert_eq!(game_data(&dropped.read()), [1, 2]);
    // The socket goes, having accepted 1 and 2; frame 3 is on its way to the dead slot.
    shards.send(room, 3, &sender, 3);
    shards.shards[1].unregister(dropped.addr);
    let delivered = dropped.mailbox.delivered();
    shards.op(
        room,
        2,
        &dropped,
        RoomOp::Dropped {
            delivered,
            closing: false,
        },
    );
    shards.ferry(1, 0);
    shards.ferry(2, 1);
    shards.ferry(2, 0);
    // The player comes back on the sender's shard. Frame 4 leaves shard 2 after the
    // `Reconnect` but before shard 2 hears of the drop or of the new address: shard 2 writes
    // it to the old address only, and its record reaches the owner after the reconnection.
    let new_conn = shards.connect(2);
    let rejoin = Rejoin {
        room_id: room.id,
        player: id(2),
        token: "token2".to_owned(),
        addr: new_conn.addr,
        encoding: GameDataEncoding::Json,
        new_token: "fresh".to_owned(),
    };
    shards.shards[2].send(
        OWNER,
        ShardMsg::Owner(OwnerCmd::Reconnect(Box::new(rejoin))),
    );
    shards.send(room, 3, &sender, 4);
    shards.settle();
    shards.send(room, 3, &sender, 5);
    shards.settle();
    let seen = new_conn.read();
    assert_eq!(kinds(&seen)[..2], ["Joined", "Reconnected"]);
    assert_eq!(game_data(&seen), [3, 4, 5], "each once, in order: {seen:?}");
}

#[test]
fn a_deleted_room_leaves_no_replica_behind() {
    let shards = Shards::new(3);
    let (room, owner_side, recipient, sender) = spread_room(&shards);
    for (n, conn) in [(1, &owner_side), (2, &recipient), (3, &sender)] {
        shards.op(room, n, conn, RoomOp::Leave(LeaveKind::Voluntary));
    }
    shards.settle();
    for shard in &shards.shards {
        assert_eq!(shard.replica_count(), 0, "shard {}", shard.index);
    }
    assert_eq!(shards.shards[0].owned_rooms(), 0);
}

#[test]
fn a_newcomer_gets_a_frame_that_overtook_its_own_replica() {
    let shards = Shards::new(3);
    let (room, owner_side, witness, sender) = spread_room(&shards);
    // A second member joins on shard 1. The owner's batch to shard 1 (its answer and shard 1's
    // new replica) is held back; the sender's shard hears of the newcomer first.
    let newcomer = shards.connect(1);
    let req = JoinByCode {
        game_name: GAME.to_owned(),
        code: shards.shards[0]
            .owner
            .borrow()
            .room(&room.id)
            .map(|r| r.settings().code.clone())
            .expect("the room"),
        joiner: joiner(4, newcomer.addr),
    };
    shards.shards[1].send(OWNER, ShardMsg::Owner(OwnerCmd::JoinRoom(Box::new(req))));
    shards.ferry(1, 0);
    let owner_to_newcomer = shards.shards[0].take_batch(1);
    shards.ferry(0, 2);
    assert!(kinds(&sender.read()).contains(&"PlayerJoined".to_owned()));
    // The sender answers the arrival; its relay reaches shard 1 ahead of the owner's batch.
    shards.send(room, 3, &sender, 1);
    shards.ferry(2, 1);
    assert!(newcomer.read().is_empty(), "nothing before RoomJoined");
    // Shard 1's replica is older than the sender's: the frame waits there for the new one.
    assert!(game_data(&witness.read()).is_empty());
    for msg in owner_to_newcomer {
        shards.shards[1].dispatch_local(msg);
    }
    let seen = newcomer.read();
    assert_eq!(
        game_data(&seen),
        [1],
        "held until its replica came: {seen:?}"
    );
    let kinds = kinds(&seen);
    let joined = kinds.iter().position(|k| k == "RoomJoined");
    let data = kinds.iter().position(|k| k == "GameData");
    assert!(joined < data, "after RoomJoined: {kinds:?}");
    assert_eq!(
        game_data(&witness.read()),
        [1],
        "the member already there too"
    );
    shards.settle();
    assert_eq!(game_data(&owner_side.read()), [1]);
    assert!(game_data(&witness.read()).is_empty(), "once");
    assert!(game_data(&newcomer.read()).is_empty(), "once");
}

#[test]
fn nothing_waits_on_an_owner_shard_without_members() {
    let shards = Shards::new(3);
    let creator = shards.connect(1);
    let (room, code) = shards.create(1, &creator);
    let sender = shards.connect(2);
    shards.join(2, &sender, &code);
    creator.read();
    for k in 1..=3 {
        shards.send(room, 2, &sender, k);
    }
    shards.settle();
    assert_eq!(game_data(&creator.read()), [1, 2, 3]);
    for (i, shard) in shards.shards.iter().enumerate() {
        assert_eq!(shard.held_relays(), 0, "shard {i} holds nothing");
    }
}
