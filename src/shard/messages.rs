//! What shards say to each other, by plane. Everything here is `Send`: it crosses threads inside
//! a batch.
//!
//! * [`OwnerCmd`]: the room plane, handled by the owner machine (`owner/`) of the shard that owns
//!   the room or counts the game;
//! * [`Delivery`]: frames and state changes for the connections a shard holds;
//! * [`AdmissionMsg`]: per-IP admission and `Authenticate`, decided on the IP's owner
//!   (`gatekeeper.rs`);
//! * [`TelemetryMsg`]: metrics scrapes (`scrape.rs`).

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;

use super::event_id::{Delivered, EventId};
use super::mailbox::Control;
use super::replica::{RelayFrames, Replica};
use crate::limits::JoinKind;
use crate::metrics::ShardSnapshot;
use crate::protocol::client;
use crate::protocol::{
    ConnectionInfo, Frame, GameDataEncoding, PlayerId, RoomId, SpectatorStateChangeReason,
};
use crate::room::{Joiner, LeaveKind, SessionAddr, SpectatorJoiner};

/// One message between shards. A sending shard collects these per destination and ships each
/// turn's worth as one batch (`Vec<ShardMsg>`), so a broadcast costs one hop per shard.
#[derive(Debug)]
pub enum ShardMsg {
    /// Room plane: work for the destination's owner machine.
    Owner(OwnerCmd),
    /// Delivery plane: something for connections the destination holds.
    Delivery(Delivery),
    /// Admission plane: app and IP limits kept by the destination.
    Admission(AdmissionMsg),
    /// Telemetry plane: metrics scrapes.
    Telemetry(TelemetryMsg),
}

/// Work for an owner machine: rooms it owns, and room counts of games it counts.
#[derive(Debug)]
pub enum OwnerCmd {
    /// To the game's counting shard: reserve a room slot, then have the room built.
    CreateRoom(Box<CreateRoom>),
    /// To the room's owner: the slot is reserved; build the room around its creator.
    BuildRoom(Box<CreateRoom>),
    /// To the game's counting shard: one of its rooms was deleted.
    ReleaseRoom { game_name: String },
    /// To the room's owner: join an existing room by its code.
    JoinRoom(Box<JoinByCode>),
    /// To the room's owner: spectate a room by its code.
    Spectate(Box<SpectateByCode>),
    /// To the room's owner (named by the room id): take back a disconnected player's seat.
    Reconnect(Box<Rejoin>),
    /// To the room's owner: an operation of a member.
    RoomOp {
        room_id: RoomId,
        player: PlayerId,
        from: SessionAddr,
        op: RoomOp,
    },
    /// To the room's owner: relay game data from `from` to the rest of the room.
    Relay {
        room_id: RoomId,
        from: PlayerId,
        payload: RelayPayload,
        /// When the sender's shard read the frame.
        received_at: Instant,
    },
    /// To the room's owner: game data a member's shard already fanned out from its replica
    /// (`replica.rs`). The owner keeps it in the room's history, buffers it for disconnected
    /// players and writes it to the members it routes itself. `raw` is the MessagePack
    /// payload, kept in the history as sent.
    Record { relay: Relayed, raw: Option<Bytes> },
    /// Cluster mode, to the shard that asked: the room directory's answer to the request sent
    /// with `token`. Never crosses nodes.
    Directory {
        token: u64,
        reply: crate::cluster::DirectoryReply,
    },
    /// Cluster mode, to the shard that forwarded it: `cmd` could not reach its room's home
    /// (that node is gone). Never crosses nodes.
    Unreachable(Box<OwnerCmd>),
}

impl OwnerCmd {
    /// The session waiting for the answer to a join, spectate or reconnect.
    pub fn requester(&self) -> Option<SessionAddr> {
        match self {
            OwnerCmd::JoinRoom(req) => Some(req.joiner.addr),
            OwnerCmd::Spectate(req) => Some(req.spectator.addr),
            OwnerCmd::Reconnect(req) => Some(req.addr),
            _ => None,
        }
    }
}

/// Game data fanned out by the sender's shard: event `event` of that shard's relay lane.
#[derive(Debug, Clone)]
pub struct Relayed {
    pub room_id: RoomId,
    pub from: PlayerId,
    pub event: EventId,
    pub frames: RelayFrames,
    /// When the sender's shard read the frame, for the relay latency histogram.
    pub relayed_at: Instant,
    /// The number of the sender's replica of the room (`replica.rs`).
    pub epoch: u64,
}

/// The local sessions (slot numbers) a frame is for. Inline up to four: a room's members on one
/// shard rarely outnumber that, so a relay allocates no list.
pub type Slots = smallvec::SmallVec<[u64; 4]>;

/// Something for the connections a shard holds.
#[derive(Debug)]
pub enum Delivery {
    /// Write `frame` to each of these local sessions. `relayed_at` is when relayed game data
    /// entered the server, for the relay latency histogram. `event` is the frame's room event
    /// id (`EventId::NONE` for a reply), which the mailbox notes for replay after a drop.
    Frames {
        slots: Slots,
        frame: Frame,
        relayed_at: Option<Instant>,
        event: EventId,
    },
    /// Game data from another shard's member: write it to this shard's members of the room,
    /// as this shard's replica lists them.
    Relay(Relayed),
    /// The room's owner publishes this shard's replica of a room (`None`: forget it).
    Replica {
        room_id: RoomId,
        epoch: u64,
        replica: Option<Box<Replica>>,
    },
    /// Apply a state change to one local session.
    Control { slot: u64, control: Control },
}

/// Admission work, decided on the shard that owns the client's IP.
#[derive(Debug)]
pub enum AdmissionMsg {
    /// To the IP's owner: decide an `Authenticate` from `ip` and answer `from`.
    Authenticate {
        req: Box<client::Authenticate>,
        ip: IpAddr,
        from: SessionAddr,
    },
    /// To the IP's owner: take a connection slot for `ip`, answer `from` with a control.
    AdmitConnection { ip: IpAddr, from: SessionAddr },
    /// To the IP's owner: a connection from `ip` closed.
    ReleaseConnection { ip: IpAddr },
    /// To the IP's owner: a refused socket from `ip` that was being answered closed.
    ReleaseRefusal { ip: IpAddr },
    /// To the IP's owner: count a valid `JoinRoom` against the IP's quota, then forward
    /// `then` to shard `next`; or refuse the join.
    JoinQuota {
        ip: IpAddr,
        kind: JoinKind,
        from: SessionAddr,
        next: u32,
        then: Box<OwnerCmd>,
    },
}

/// Metrics scrapes.
#[derive(Debug)]
pub enum TelemetryMsg {
    /// To every shard: report metrics to shard `reply_to` for scrape `request_id`.
    MetricsRequest { reply_to: u32, request_id: u64 },
    /// To the scraping shard: one shard's report.
    MetricsReply {
        request_id: u64,
        report: Box<ShardSnapshot>,
    },
}

/// A request to create a room around its first player.
#[derive(Debug)]
pub struct CreateRoom {
    pub game_name: String,
    pub max_players: u8,
    pub supports_authority: bool,
    /// Chosen by the counting shard; the owner regenerates it on a collision.
    pub code: String,
    pub creator: Joiner,
}

/// A request to join an existing room.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct JoinByCode {
    pub game_name: String,
    pub code: String,
    pub joiner: Joiner,
}

/// A `Reconnect`: the seat of `player` in `room_id`, claimed with `token` by a new
/// connection at `addr`, which will hold the seat under `new_token` from now on.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Rejoin {
    pub room_id: RoomId,
    pub player: PlayerId,
    pub token: String,
    pub addr: SessionAddr,
    pub encoding: GameDataEncoding,
    pub new_token: String,
}

/// A request to spectate an existing room.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SpectateByCode {
    pub game_name: String,
    pub code: String,
    /// How the spectator wants relayed game data.
    pub encoding: GameDataEncoding,
    pub spectator: SpectatorJoiner,
}

/// Member operations handled by the room's owner.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum RoomOp {
    Leave(LeaveKind),
    /// The member's connection dropped without `LeaveRoom` (closed socket, ping timeout,
    /// slow-consumer close). `delivered` says which room events left whole, lane by lane
    /// (`event_id.rs`): the kept seat's buffer holds the others (decision 3). With `closing`,
    /// the server is still closing the socket (which may flush more); [`RoomOp::Closed`]
    /// follows.
    Dropped {
        delivered: Delivered,
        closing: bool,
    },
    /// The socket of a dropped member is closed; `delivered` is final.
    Closed {
        delivered: Delivered,
    },
    Ready,
    Authority(bool),
    ConnectionInfo(Box<ConnectionInfo>),
    StopSpectating(SpectatorStateChangeReason),
    /// The member negotiated a game-data format after joining; `replies` (its `Authenticated`
    /// and `ProtocolInfo`) go back to it once the room has adopted the format.
    Encoding(GameDataEncoding, Vec<Frame>),
}

/// Game data on its way to a room's members.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum RelayPayload {
    /// A complete `GameData` text frame, built once by the sender's shard.
    Json(Bytes),
    /// The raw bytes of a MessagePack client's binary frame.
    MessagePack(Bytes),
}
