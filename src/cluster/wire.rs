//! Room traffic between nodes: what one node's shard says to a shard of another node.
//!
//! Addresses are portable by a fixed rule, so no node needs another's numbering:
//! - a session address inside an owner command ([`WireOwnerCmd`]) is always the *sender's*
//!   local session; the receiver files it under the sender's node (`shard::remote`);
//! - a delivery ([`NodeBody::Frames`], [`NodeBody::Control`]) names the *receiver's* local
//!   slots, on the shard the message is for;
//! - a room reference in a control names the room's owner shard on the *sender*, which is the
//!   room's home.
//!
//! The types inside (joiners, room operations, frames) are the shards' own, serialised with
//! serde: changing one changes the wire, so it bumps `envelope::VERSION`.

use serde::{Deserialize, Serialize};

use crate::protocol::{Frame, PlayerId, RoomId};
use crate::room::SessionAddr;
use crate::shard::event_id::EventId;
use crate::shard::messages::{JoinByCode, Rejoin, RelayPayload, RoomOp, SpectateByCode};

/// One message for shard `to_shard` of the receiving node.
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeMsg {
    pub to_shard: u32,
    pub body: NodeBody,
}

/// What a [`NodeMsg`] carries.
#[derive(Debug, Serialize, Deserialize)]
pub enum NodeBody {
    /// Write `frame` to these local sessions (room event `event`; `relayed` marks game data).
    Frames {
        slots: Vec<u64>,
        frame: Frame,
        event: EventId,
        relayed: bool,
    },
    /// Apply a state change to one local session.
    Control { slot: u64, control: WireControl },
    /// Work for the owner machine of the receiving shard.
    Owner(WireOwnerCmd),
}

/// A room on the sending node: its id and owner shard there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeRoom {
    pub id: RoomId,
    pub shard: u32,
}

/// The state changes a room's home tells a member's session on another node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireControl {
    Joined {
        room: HomeRoom,
        player: PlayerId,
    },
    JoinRefused,
    Left,
    Spectating {
        room: HomeRoom,
        spectator: PlayerId,
    },
    SpectateSettled,
    Detached(RoomId),
    /// Close the connection (code, reason).
    Close {
        code: u16,
        reason: String,
    },
}

/// Owner work a session on one node sends to its room's home on another.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireOwnerCmd {
    JoinRoom(Box<JoinByCode>),
    Spectate(Box<SpectateByCode>),
    Reconnect(Box<Rejoin>),
    RoomOp {
        room_id: RoomId,
        player: PlayerId,
        from: SessionAddr,
        op: RoomOp,
    },
    Relay {
        room_id: RoomId,
        from: PlayerId,
        payload: RelayPayload,
    },
}
