//! Keeping the shards' membership replicas (`replica.rs`) in step with the rooms this shard
//! owns, and the owner's side of game data a member's shard fanned out itself.

use std::time::Instant;

use bytes::Bytes;
use smallvec::SmallVec;

use super::super::messages::Relayed;
use super::super::replica::{Seat, plan};
use super::super::routing::is_remote_on;
use super::Owner;
use super::seats::Missed;
use crate::protocol::{Frame, PlayerId, RoomId};
use crate::room::SessionAddr;

impl Owner {
    /// Publishes the replicas of room `room_id` that changed since the last publication: the
    /// new ones to shards that hold members, `None` to shards that no longer do. Call it where
    /// membership changed: before telling a leaver, after telling a joiner (`replica.rs`).
    pub(super) fn publish(&mut self, room_id: RoomId) {
        let Some(owned) = self.rooms.by_id.get_mut(&room_id) else {
            return;
        };
        let routed = &owned.owner_routed;
        // Members on other nodes have no replica: the owner writes to them (`record`).
        owned.remote_members = owned.room.members().any(|(_, addr, _)| is_remote(addr));
        let seats: SmallVec<[Seat; 8]> = owned
            .room
            .members()
            .filter(|(_, addr, _)| !is_remote(*addr))
            .map(|(id, addr, encoding)| Seat {
                id,
                addr,
                encoding,
                owner_routed: routed.contains(&id),
            })
            .collect();
        let mut fresh = plan(&seats);
        let unchanged = fresh.len() == owned.published.len()
            && fresh
                .iter()
                .zip(&owned.published)
                .all(|((s, new), (t, old))| s == t && new.same_view(old));
        if unchanged {
            return;
        }
        // A new number for the new view, sent to every shard with members (changed or not),
        // so any shard a sender believes current has it or has it on the way (`replica.rs`).
        owned.epoch += 1;
        let epoch = owned.epoch;
        for (shard, _) in &owned.published {
            if !fresh.iter().any(|(s, _)| s == shard) {
                self.out.publish(*shard, room_id, epoch, None);
            }
        }
        for (shard, replica) in &mut fresh {
            replica.epoch = epoch;
            self.out
                .publish(*shard, room_id, epoch, Some(replica.clone()));
        }
        owned.published = fresh;
    }

    /// Tells every shard with a replica of room `room_id` to forget it (the room is going).
    pub(super) fn unpublish(&mut self, room_id: RoomId) {
        let Some(owned) = self.rooms.by_id.get_mut(&room_id) else {
            return;
        };
        // The last number: whatever is still on its way for the room is older, and dropped.
        for (shard, _) in owned.published.drain(..) {
            self.out.publish(shard, room_id, u64::MAX, None);
        }
    }

    /// On the owner: game data a member's shard already wrote to the members its replica lists.
    /// The owner numbers it, keeps it for replay, buffers it for disconnected players whose
    /// socket had not accepted it, and writes it to the members it routes itself.
    pub(super) fn record(&mut self, now: Instant, relay: Relayed, raw: Option<Bytes>) {
        let Some(owned) = self.rooms.by_id.get_mut(&relay.room_id) else {
            return;
        };
        let event = match (raw, &relay.frames.json) {
            (Some(raw), _) => Missed::MessagePack {
                from: relay.from,
                raw,
            },
            (None, Some(frame)) => Missed::Frame(frame.clone()),
            // A JSON sender's frame always has its JSON form.
            (None, None) => return,
        };
        let buffered = owned.emit_relayed(relay.event, || event);
        owned.room.touch(self.clock.wall(now));
        // Usually nobody: the members are only walked when someone reconnected, or some are on
        // other nodes.
        let routed: SmallVec<[(PlayerId, SessionAddr, _); 2]> =
            if owned.owner_routed.is_empty() && !owned.remote_members {
                SmallVec::new()
            } else {
                owned
                    .room
                    .members()
                    .filter(|(id, addr, _)| {
                        *id != relay.from && (owned.owner_routed.contains(id) || is_remote(*addr))
                    })
                    .collect()
            };
        self.metrics.count(|c| c.game_data_messages += 1);
        self.count_buffered(buffered);
        for (_, addr, encoding) in routed {
            if let Some(frame) = relay.frames.for_encoding(encoding) {
                self.deliver_relayed(addr, frame, &relay);
            }
        }
    }

    fn deliver_relayed(&mut self, addr: SessionAddr, frame: &Frame, relay: &Relayed) {
        self.out.fanout(
            std::iter::once(addr),
            frame,
            Some(relay.relayed_at),
            relay.event,
        );
    }
}

/// Whether `addr` is a session of another node (cluster mode).
fn is_remote(addr: SessionAddr) -> bool {
    is_remote_on(addr.shard, None)
}
