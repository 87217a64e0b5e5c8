//! Game data on the shards: the sender's shard fans it out from its membership replica
//! (`replica.rs`), so each recipient's shard is at most one hop away, and none when it is the
//! sender's own. Senders on the room owner's shard go through the owner machine, which is local
//! there.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use bytes::Bytes;

use super::Shard;
use super::event_id::EventId;
use super::mailbox::RoomRef;
use super::messages::{Delivery, OwnerCmd, RelayPayload, Relayed, ShardMsg};
use super::replica::{RelayFrames, Replica, Wants};
use crate::metrics::Op;
use crate::protocol::binary::{encode_binary_envelope, msgpack_to_json};
use crate::protocol::codec::encode_game_data;
use crate::protocol::frame::frame_from_json;
use crate::protocol::{Frame, PlayerId, RoomId};

/// How long a relay may wait for its room's newer replica, and how long the number of a
/// forgotten replica is remembered: far longer than a batch takes between two shards.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// The replicas a shard holds and the counter of its relay lane.
#[derive(Default)]
pub struct Replicas {
    by_room: RefCell<AHashMap<RoomId, Replica>>,
    /// Relays that arrived ahead of this shard's replica of their room (stamped with a newer
    /// number than the replica held here), in arrival order, with when the first came.
    held: RefCell<AHashMap<RoomId, (Instant, Vec<Relayed>)>>,
    /// The last number of the rooms whose replica this shard dropped (its members left), for
    /// a while: a relay stamped no later than that is for members that left, not one to hold.
    forgotten: RefCell<AHashMap<RoomId, (u64, Instant)>>,
    forgotten_at: RefCell<VecDeque<(Instant, RoomId)>>,
    /// The last number of this shard's relay lane. Never reset: a room that leaves this shard
    /// and comes back must not see a number twice (`event_id.rs`).
    lane: Cell<u64>,
}

impl Replicas {
    fn next_event(&self, shard: u32) -> EventId {
        let n = self.lane.get() + 1;
        self.lane.set(n);
        EventId::relayed(shard, n)
    }

    /// How many relays wait for a newer replica.
    pub fn held_len(&self) -> usize {
        self.held
            .borrow()
            .values()
            .map(|(_, relays)| relays.len())
            .sum()
    }

    /// How many rooms this shard holds a replica of.
    pub fn len(&self) -> usize {
        self.by_room.borrow().len()
    }
}

impl Shard {
    /// Relays game data from local member `from` of `room`.
    pub fn relay(&self, room: RoomRef, from: PlayerId, payload: RelayPayload, read_at: Instant) {
        let replicas = self.replicas.by_room.borrow();
        let replica = replicas.get(&room.id);
        let Some(replica) = replica.filter(|_| room.owner != self.index) else {
            // On the owner's shard the owner machine fans out itself, with no hop. A member
            // whose replica has not arrived yet (it cannot happen: the owner publishes before
            // the member learns its room) is served the same way, through the owner.
            drop(replicas);
            let cmd = OwnerCmd::Relay {
                room_id: room.id,
                from,
                payload,
                received_at: read_at,
            };
            self.send(room.owner, ShardMsg::Owner(cmd));
            return;
        };
        let (frames, raw) = build_frames(from, payload, replica.wants);
        let relay = Relayed {
            room_id: room.id,
            from,
            event: self.replicas.next_event(self.index),
            frames,
            relayed_at: read_at,
            epoch: replica.epoch,
        };
        self.deliver_replicated(replica, &relay);
        for &peer in &replica.peers {
            if peer != room.owner {
                self.send(peer, ShardMsg::Delivery(Delivery::Relay(relay.clone())));
            }
        }
        drop(replicas);
        // The owner's copy doubles as its shard's delivery (`deliver_record`).
        self.send(room.owner, ShardMsg::Owner(OwnerCmd::Record { relay, raw }));
    }

    /// Writes relayed game data to this shard's members of its room, as this shard's replica
    /// lists them: a member that left (or a room that is gone) is not written to. A relay
    /// stamped with a newer replica number than this shard's waits for that replica, which is
    /// on its way from the owner (`replica.rs`).
    pub(super) fn deliver_relay(&self, relay: &Relayed) {
        let by_room = self.replicas.by_room.borrow();
        match by_room.get(&relay.room_id) {
            Some(replica) if replica.epoch >= relay.epoch => {
                self.deliver_replicated(replica, relay)
            }
            Some(_) => {
                drop(by_room);
                self.hold(relay);
            }
            None => {
                drop(by_room);
                let left = self
                    .replicas
                    .forgotten
                    .borrow()
                    .get(&relay.room_id)
                    .copied();
                // Stamped no later than our members left: for them, not to hold.
                if left.is_none_or(|(last, _)| last < relay.epoch) {
                    self.hold(relay);
                }
            }
        }
    }

    /// Writes the owner's copy of relayed data to the owner shard's members: that shard's
    /// replica is replaced the moment the owner publishes it, so it is never behind.
    pub(super) fn deliver_owner_copy(&self, relay: &Relayed) {
        if let Some(replica) = self.replicas.by_room.borrow().get(&relay.room_id) {
            self.deliver_replicated(replica, relay);
        }
    }

    fn hold(&self, relay: &Relayed) {
        let now = Instant::now();
        let mut held = self.replicas.held.borrow_mut();
        // A replica that never came (it cannot, short of a bug) must not keep relays for ever.
        let mut expired = 0;
        held.retain(|_, (since, relays)| {
            let keep = now.duration_since(*since) < WAIT_LIMIT;
            if !keep {
                expired += relays.len() as u64;
            }
            keep
        });
        self.count_gone(expired);
        held.entry(relay.room_id)
            .or_insert_with(|| (now, Vec::new()))
            .1
            .push(relay.clone());
    }

    fn deliver_replicated(&self, replica: &Replica, relay: &Relayed) {
        let mut written = false;
        let mut gone = 0;
        {
            let sessions = self.sessions.borrow();
            for member in replica.local.iter().filter(|m| m.id != relay.from) {
                let Some(frame) = relay.frames.for_encoding(member.encoding) else {
                    continue;
                };
                match sessions.get(&member.slot) {
                    Some(mailbox) => {
                        mailbox.push_event(frame.clone(), relay.event);
                        written = true;
                    }
                    None => gone += 1,
                }
            }
        }
        self.count_gone(gone);
        if written {
            self.metrics
                .record_since(Op::GameDataRelay, relay.relayed_at);
        }
    }

    /// Takes the owner's replica number `epoch` of a room for this shard (`None`: forget the
    /// room), then delivers the relays that waited for it.
    pub(super) fn replace_replica(
        &self,
        room_id: RoomId,
        epoch: u64,
        replica: Option<Box<Replica>>,
    ) {
        let waiting = self.replicas.held.borrow_mut().remove(&room_id);
        match replica {
            Some(replica) => {
                self.replicas.forgotten.borrow_mut().remove(&room_id);
                self.replicas.by_room.borrow_mut().insert(room_id, *replica);
            }
            None => {
                self.replicas.by_room.borrow_mut().remove(&room_id);
                self.forget(room_id, epoch);
            }
        }
        if let Some((_, relays)) = waiting {
            // In arrival order: each sender's frames stay in the order it sent them. Those
            // still ahead of this replica wait on.
            for relay in relays {
                self.deliver_relay(&relay);
            }
        }
    }

    /// Remembers for a while that this shard's members of `room_id` left at number `epoch`.
    fn forget(&self, room_id: RoomId, epoch: u64) {
        let now = Instant::now();
        let mut forgotten = self.replicas.forgotten.borrow_mut();
        let mut order = self.replicas.forgotten_at.borrow_mut();
        while let Some(&(at, old)) = order.front() {
            if now.duration_since(at) < WAIT_LIMIT {
                break;
            }
            order.pop_front();
            // Unless it was forgotten again since: then a later entry stands for it.
            if forgotten.get(&old).is_some_and(|(_, when)| *when == at) {
                forgotten.remove(&old);
            }
        }
        forgotten.insert(room_id, (epoch, now));
        order.push_back((now, room_id));
    }
}

/// The frames relayed data becomes, built once for every recipient, and the raw MessagePack
/// payload the owner keeps for replay. JSON data is already its `GameData` frame; MessagePack
/// data becomes a binary envelope for MessagePack recipients and, if convertible, JSON for the
/// others (as in 0.1.0: an unconvertible payload reaches only MessagePack recipients).
fn build_frames(
    from: PlayerId,
    payload: RelayPayload,
    wants: Wants,
) -> (RelayFrames, Option<Bytes>) {
    match payload {
        RelayPayload::Json(frame) => (
            RelayFrames {
                json: Some(frame_from_json(frame)),
                binary: None,
            },
            None,
        ),
        RelayPayload::MessagePack(raw) => {
            let binary = wants
                .binary
                .then(|| Frame::Binary(encode_binary_envelope(&from, &raw)));
            let json = if wants.json {
                msgpack_to_json(&raw).map(|json| frame_from_json(encode_game_data(&from, &json)))
            } else {
                None
            };
            (RelayFrames { json, binary }, Some(raw))
        }
    }
}
