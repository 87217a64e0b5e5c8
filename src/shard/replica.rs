//! Membership replicas: what a shard knows of a room it does not own, so that game data sent on
//! it reaches every recipient's shard in one hop (issue 10).
//!
//! The room's owner stays the authority. Whenever a room's membership, addresses or encodings
//! change it computes, for each shard that holds a member, that shard's [`Replica`] and
//! publishes the ones that changed (`Owner::publish`), over the same FIFO paths its other
//! outputs take. A sender's shard then fans game data out itself: to its own members, one
//! batch entry per other shard with members, and a record to the owner (which keeps the room
//! history for replay and serves the members it routes itself, below). A recipient's shard
//! delivers only to the members its own replica lists, so a frame that was on its way when a
//! member left is dropped there: leaving means leaving (decision 8).
//!
//! A publication travels in the same batch as the owner's answer to the member it concerns, and
//! a shard handles a batch whole before any connection task runs, so a shard never writes a
//! leaver a frame after its `RoomLeft`, nor a joiner one before its `RoomJoined`.
//!
//! Order: each sender's frames reach a member in the order sent (one FIFO path per shard pair).
//! Between paths nothing is promised beyond what two shards give for free: with three or more
//! shards, a frame fanned out by shard S can reach a member before the owner's `PlayerJoined`
//! for its sender, and a sender that reconnected on another shard may see its first new frames
//! overtake old ones still in flight from its old shard. Both need a membership change racing
//! a batch in flight; with two shards every such pair of messages shares one channel.
//!
//! Replicas are numbered (`epoch`): each change of a room's view gives every shard with members
//! a replica under the room's next number, and a relay carries the number of the sender's
//! replica. A shard whose own replica is older (or absent) than a relay's holds the relay until
//! its replica arrives, then delivers it as that replica says: a newcomer's shard may handle a
//! sender's relay before the owner's batch that lists the newcomer (they come over different
//! channels, and a shard's receivers run in no fixed order), and without the numbers the
//! newcomer would miss the first frames a sender sent after seeing it arrive.
//!
//! A player that took its seat back with `Reconnect` is *routed by the owner*: replicas leave
//! it out, and the owner writes it every relayed frame it records. Frames a sender's shard
//! fanned out before it learnt the new address would otherwise be lost to it; through the
//! owner they arrive once and in order.

use smallvec::SmallVec;

use crate::protocol::{Frame, GameDataEncoding, PlayerId};
use crate::room::SessionAddr;

/// One local member a shard fans game data out to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub slot: u64,
    pub id: PlayerId,
    pub encoding: GameDataEncoding,
}

/// Which game-data forms a room's recipients want.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wants {
    /// Some recipient takes JSON text frames.
    pub json: bool,
    /// Some recipient takes MessagePack binary frames.
    pub binary: bool,
}

impl Wants {
    fn add(&mut self, encoding: GameDataEncoding) {
        match encoding {
            GameDataEncoding::MessagePack => self.binary = true,
            _ => self.json = true,
        }
    }
}

/// One shard's view of a room it has members in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    /// This shard's members that senders serve directly.
    pub local: SmallVec<[Member; 4]>,
    /// The other shards with such members, in ascending order.
    pub peers: SmallVec<[u32; 4]>,
    /// The forms the room's recipients want, wherever they are (owner-routed ones included).
    pub wants: Wants,
    /// The room's replica number when this was published: every shard with members gets
    /// every number, so a shard that hears of a newer one from a sender knows its own replica
    /// is on its way (`relay.rs`).
    pub epoch: u64,
}

impl Replica {
    /// Whether `other` lists the same members, peers and forms (whatever its number).
    pub fn same_view(&self, other: &Replica) -> bool {
        self.local == other.local && self.peers == other.peers && self.wants == other.wants
    }
}

/// A room member as the owner sees it.
#[derive(Debug, Clone, Copy)]
pub struct Seat {
    pub id: PlayerId,
    pub addr: SessionAddr,
    pub encoding: GameDataEncoding,
    /// Served by the owner rather than by senders' shards (it reconnected).
    pub owner_routed: bool,
}

/// The frames one relayed message becomes: what a JSON recipient gets and what a MessagePack
/// recipient gets. A JSON sender's frame goes to everyone; MessagePack data goes as a binary
/// envelope to MessagePack recipients and, when convertible, as JSON to the others.
#[derive(Debug, Clone, Default)]
pub struct RelayFrames {
    pub json: Option<Frame>,
    pub binary: Option<Frame>,
}

impl RelayFrames {
    /// The frame for a recipient that negotiated `encoding`, if there is one for it.
    pub fn for_encoding(&self, encoding: GameDataEncoding) -> Option<&Frame> {
        match encoding {
            GameDataEncoding::MessagePack => self.binary.as_ref().or(self.json.as_ref()),
            _ => self.json.as_ref(),
        }
    }
}

/// Each shard's replica of a room with these members: every shard holding a member gets one
/// (a sender needs it even when it is the shard's only member), in ascending shard order.
pub fn plan(seats: &[Seat]) -> SmallVec<[(u32, Replica); 4]> {
    let mut wants = Wants::default();
    let mut direct_shards: SmallVec<[u32; 4]> = SmallVec::new();
    let mut all_shards: SmallVec<[u32; 4]> = SmallVec::new();
    for seat in seats {
        wants.add(seat.encoding);
        insert_sorted(&mut all_shards, seat.addr.shard);
        if !seat.owner_routed {
            insert_sorted(&mut direct_shards, seat.addr.shard);
        }
    }
    all_shards
        .iter()
        .map(|&shard| {
            let local = seats
                .iter()
                .filter(|s| !s.owner_routed && s.addr.shard == shard)
                .map(|s| Member {
                    slot: s.addr.slot,
                    id: s.id,
                    encoding: s.encoding,
                })
                .collect();
            let peers = direct_shards
                .iter()
                .copied()
                .filter(|&p| p != shard)
                .collect();
            (
                shard,
                Replica {
                    local,
                    peers,
                    wants,
                    epoch: 0,
                },
            )
        })
        .collect()
}

fn insert_sorted(list: &mut SmallVec<[u32; 4]>, shard: u32) {
    if let Err(at) = list.binary_search(&shard) {
        list.insert(at, shard);
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn seat(n: u128, shard: u32, encoding: GameDataEncoding, owner_routed: bool) -> Seat {
        Seat {
            id: Uuid::from_u128(n),
            addr: SessionAddr {
                shard,
                slot: n as u64,
            },
            encoding,
            owner_routed,
        }
    }

    #[test]
    fn each_shard_with_a_member_gets_its_members_and_the_other_shards() {
        let json = GameDataEncoding::Json;
        let seats = [
            seat(1, 0, json, false),
            seat(2, 1, json, false),
            seat(3, 1, GameDataEncoding::MessagePack, false),
            seat(4, 2, json, false),
        ];
        let plan = plan(&seats);
        let shards: Vec<u32> = plan.iter().map(|(s, _)| *s).collect();
        assert_eq!(shards, [0, 1, 2]);
        let (_, one) = &plan[1];
        assert_eq!(one.local.iter().map(|m| m.slot).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(one.peers.as_slice(), [0, 2]);
        assert_eq!(
            one.wants,
            Wants {
                json: true,
                binary: true
            }
        );
    }

    #[test]
    fn an_owner_routed_member_is_nobody_s_recipient_but_its_shard_can_still_send() {
        let json = GameDataEncoding::Json;
        let seats = [seat(1, 0, json, false), seat(2, 1, json, true)];
        let plan = plan(&seats);
        assert_eq!(plan.len(), 2, "shard 1 keeps a replica for its sender");
        let (_, zero) = &plan[0];
        assert!(
            zero.peers.is_empty(),
            "nobody on shard 1 is served directly"
        );
        let (_, one) = &plan[1];
        assert!(one.local.is_empty());
        assert_eq!(one.peers.as_slice(), [0]);
    }

    #[test]
    fn a_messagepack_recipient_gets_the_envelope_and_falls_back_to_json() {
        let frames = RelayFrames {
            json: Some(Frame::Binary(bytes::Bytes::from_static(b"j"))),
            binary: None,
        };
        assert!(frames.for_encoding(GameDataEncoding::MessagePack).is_some());
        let only_binary = RelayFrames {
            json: None,
            binary: Some(Frame::Binary(bytes::Bytes::from_static(b"b"))),
        };
        assert!(only_binary.for_encoding(GameDataEncoding::Json).is_none());
    }
}
