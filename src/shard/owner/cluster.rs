//! The owner machine in cluster mode (decision 22): rooms claimed in the room directory as
//! they are built and given back as they go; joins, spectators and reconnections for rooms
//! this node does not hold looked up and forwarded to their home; members on a node that is
//! gone (or cut off) let go.
//!
//! The directory is asked through outputs ([`Output::Directory`](super::Output)) and answers
//! come back as [`OwnerCmd::Directory`]; what waits for an answer is kept by token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::super::event_id::Delivered;
use super::super::mailbox::Control;
use super::super::messages::{CreateRoom, OwnerCmd, RoomOp};
use super::super::routing::{is_remote_on, mint_room_id};
use super::Owner;
use crate::cluster::{Claim, DirectoryReply, DirectoryRequest, Home};
use crate::protocol::frame::text_frame;
use crate::protocol::{ErrorCode, PlayerId, RoomId, ServerMessage, SpectatorStateChangeReason};
use crate::room::{Rejection, SessionAddr};

/// Claims a creation may lose (to rooms of other nodes holding the codes it drew) before it
/// gives up with `ROOM_CREATION_FAILED`.
const CLAIM_ATTEMPTS: u32 = 8;

/// How long an answer from the directory may take: the bridge bounds each NATS call at 2 s,
/// and a request makes at most three.
const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(10);

/// Which node this owner machine is part of.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub node: Arc<str>,
    pub instance: Uuid,
}

impl ClusterView {
    /// The directory entry of room `room_id` owned by shard `shard` of this node.
    fn home(&self, shard: u32, room_id: Uuid) -> Home {
        Home {
            node: self.node.to_string(),
            instance: self.instance,
            shard,
            room_id,
        }
    }
}

/// What waits for a directory answer.
#[derive(Debug)]
pub(super) enum Awaiting {
    /// A room to build once its code is ours.
    Claim {
        req: Box<CreateRoom>,
        room_id: Uuid,
        attempts: u32,
    },
    /// A join, spectate or reconnect for a room not held here.
    Find(OwnerCmd),
}

/// How a peer's members were lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The peer's process is gone: so are its sessions.
    Gone,
    /// The NATS link is down: the peer's sessions cannot be reached.
    Link,
    /// Batches from the peer went missing: what its sessions sent or were sent may be lost.
    Gap,
}

/// Why a room was not found where a command looked.
#[derive(Debug, Clone, Copy)]
enum Missing {
    Nowhere,
    DirectoryDown,
}

impl Owner {
    /// Makes this owner part of a cluster.
    pub fn join_cluster(&mut self, view: ClusterView) {
        self.cluster = Some(view);
    }

    /// Sends a directory request whose answer nothing waits for.
    fn tell(&mut self, request: DirectoryRequest) {
        self.next_token += 1;
        self.out.directory(self.next_token, request);
    }

    /// Sends a directory request; `awaiting` resumes with its answer, or as failed if none
    /// comes within [`DIRECTORY_TIMEOUT`] (an answer the bridge could not hand over must not
    /// leave a player waiting for ever).
    fn ask(&mut self, now: Instant, request: DirectoryRequest, awaiting: Awaiting) {
        self.next_token += 1;
        let token = self.next_token;
        self.awaiting.insert(token, awaiting);
        // Same timeout for all, asked in time order: the queue stays sorted.
        self.awaiting_until
            .push_back((now + DIRECTORY_TIMEOUT, token));
        self.out.directory(token, request);
    }

    /// The earliest moment a directory request may time out.
    pub(super) fn directory_deadline(&self) -> Option<Instant> {
        self.awaiting_until.front().map(|(at, _)| *at)
    }

    /// Fails the directory requests still unanswered at `now`.
    pub(super) fn expire_directory(&mut self, now: Instant) {
        while let Some(&(at, token)) = self.awaiting_until.front() {
            if at > now {
                break;
            }
            self.awaiting_until.pop_front();
            if self.awaiting.contains_key(&token) {
                let reply = DirectoryReply::Failed("no answer in time".to_owned());
                self.directory_reply(now, token, reply);
            }
        }
    }

    /// Claims `req.code` (already free here) for a new room; builds it once the claim wins.
    /// Returns `req` when not in a cluster, to be built at once.
    pub(super) fn claim(
        &mut self,
        now: Instant,
        req: Box<CreateRoom>,
        attempts: u32,
    ) -> Result<(), Box<CreateRoom>> {
        let Some(view) = &self.cluster else {
            return Err(req);
        };
        let room_id = mint_room_id(self.index);
        let request = DirectoryRequest::Create {
            game: req.game_name.clone(),
            code: req.code.clone(),
            home: view.home(self.index, room_id),
        };
        let awaiting = Awaiting::Claim {
            req,
            room_id,
            attempts,
        };
        self.ask(now, request, awaiting);
        Ok(())
    }

    /// A join, spectate or reconnect for a room this shard does not hold: in a cluster, and for
    /// a session of this node, the directory is asked where the room lives. With nothing to
    /// ask (no cluster; or the command came from another node, which asked already), the room
    /// is not found.
    pub(super) fn find_elsewhere(&mut self, now: Instant, cmd: OwnerCmd) {
        let asks = self.cluster.is_some()
            && cmd
                .requester()
                .is_some_and(|addr| !is_remote_on(addr.shard, None));
        let request = match &cmd {
            _ if !asks => return self.refuse_missing(cmd, Missing::Nowhere),
            OwnerCmd::JoinRoom(req) => DirectoryRequest::LookupCode {
                game: req.game_name.clone(),
                code: req.code.clone(),
            },
            OwnerCmd::Spectate(req) => DirectoryRequest::LookupCode {
                game: req.game_name.clone(),
                code: req.code.clone(),
            },
            OwnerCmd::Reconnect(req) => DirectoryRequest::LookupRoom {
                room_id: req.room_id,
            },
            _ => return self.refuse_missing(cmd, Missing::Nowhere),
        };
        self.ask(now, request, Awaiting::Find(cmd));
    }

    /// Tells the directory a room is gone.
    pub(super) fn forget_room(&mut self, game: String, code: String, room_id: Uuid) {
        if self.cluster.is_some() {
            let request = DirectoryRequest::Delete {
                game,
                code,
                room_id,
            };
            self.tell(request);
        }
    }

    /// The directory's answer to the request sent with `token`.
    pub(super) fn directory_reply(&mut self, now: Instant, token: u64, reply: DirectoryReply) {
        let Some(awaiting) = self.awaiting.remove(&token) else {
            return;
        };
        // Answers come back in about the order asked: drop the deadlines of answered requests
        // from the front, so the owner's timer does not wake for them.
        while let Some(&(_, first)) = self.awaiting_until.front() {
            if self.awaiting.contains_key(&first) {
                break;
            }
            self.awaiting_until.pop_front();
        }
        match (awaiting, reply) {
            (Awaiting::Claim { req, room_id, .. }, DirectoryReply::Created(Claim::Won)) => {
                self.open_room(now, *req, room_id)
            }
            (Awaiting::Claim { req, attempts, .. }, DirectoryReply::Created(Claim::Taken(_))) => {
                self.metrics.count(|c| c.room_code_collisions += 1);
                if attempts + 1 >= CLAIM_ATTEMPTS {
                    return self.creation_failed(*req, "No free room code left for this game");
                }
                let drawn = (self.codes)();
                match self.free_code(&req.game_name, drawn) {
                    Some(code) => {
                        let req = Box::new(CreateRoom { code, ..*req });
                        let _ = self.claim(now, req, attempts + 1);
                    }
                    None => self.creation_failed(*req, "No free room code left for this game"),
                }
            }
            (Awaiting::Claim { req, .. }, _) => {
                self.creation_failed(*req, "Room directory unavailable; try again")
            }
            (Awaiting::Find(cmd), DirectoryReply::Found(Some(home))) => {
                let ours = self
                    .cluster
                    .as_ref()
                    .is_some_and(|view| *view.node == *home.node);
                if ours {
                    // Our node, but not here: a room of an earlier process of this node, gone
                    // with it.
                    self.refuse_missing(cmd, Missing::Nowhere);
                } else {
                    self.out.forward_home(home, cmd);
                }
            }
            (Awaiting::Find(cmd), DirectoryReply::Found(None)) => {
                self.refuse_missing(cmd, Missing::Nowhere)
            }
            (Awaiting::Find(cmd), _) => self.refuse_missing(cmd, Missing::DirectoryDown),
        }
    }

    /// A command forwarded to a room's home could not leave (the home's node is gone).
    pub(super) fn unreachable(&mut self, cmd: OwnerCmd) {
        self.refuse_missing(cmd, Missing::Nowhere);
    }

    fn creation_failed(&mut self, req: CreateRoom, reason: &str) {
        self.give_back_slot(req.game_name);
        let reply = ServerMessage::join_failed(reason, ErrorCode::RoomCreationFailed);
        self.out.refuse_join(req.creator.addr, reply);
    }

    fn refuse_missing(&mut self, cmd: OwnerCmd, why: Missing) {
        match cmd {
            OwnerCmd::JoinRoom(req) => {
                let reply = match why {
                    Missing::Nowhere => {
                        ServerMessage::join_failed("Room not found", ErrorCode::RoomNotFound)
                    }
                    Missing::DirectoryDown => ServerMessage::join_failed(
                        "Room directory unavailable; try again",
                        ErrorCode::ServiceUnavailable,
                    ),
                };
                self.out.refuse_join(req.joiner.addr, reply);
            }
            OwnerCmd::Spectate(req) => {
                let refusal = match why {
                    Missing::Nowhere => Rejection::new("Room not found", ErrorCode::RoomNotFound),
                    Missing::DirectoryDown => Rejection::new(
                        "Room directory unavailable; try again",
                        ErrorCode::ServiceUnavailable,
                    ),
                };
                let addr = req.spectator.addr;
                self.out
                    .deliver(addr, text_frame(&refusal.into_spectator_join_failed()));
                self.out.control(addr, Control::SpectateSettled);
            }
            OwnerCmd::Reconnect(req) => {
                let (reason, code) = match why {
                    Missing::Nowhere => ("Room no longer exists", ErrorCode::RoomNotFound),
                    Missing::DirectoryDown => (
                        "Room directory unavailable; try again",
                        ErrorCode::ReconnectionFailed,
                    ),
                };
                self.refuse_reconnect(*req, reason, code);
            }
            _ => {}
        }
    }

    /// Lets go of the members of our rooms whose sessions are on peer `peer` (`None`: on any
    /// other node). Gone or cut off: they are disconnected players (their seats kept for the
    /// reconnection window, every event since kept for them: nothing is known to have reached
    /// them) and departed spectators. After a gap: their sessions are closed, so they drop,
    /// say what reached them, and reconnect for the rest.
    pub fn peer_lost(&mut self, now: Instant, peer: Option<u32>, how: Lost) {
        if how == Lost::Gap {
            let code = crate::protocol::close_code::INTERNAL_ERROR;
            return self.close_remote_members(peer, code, "cluster batches lost");
        }
        for (room_id, id, addr, player) in self.remote_members(peer) {
            let op = if player {
                RoomOp::Dropped {
                    delivered: Delivered::none(),
                    closing: false,
                }
            } else {
                RoomOp::StopSpectating(SpectatorStateChangeReason::Disconnected)
            };
            self.room_op(now, room_id, id, addr, op);
        }
    }

    /// Closes the sessions of our rooms' members on peer `peer` (`None`: on any other node)
    /// with WebSocket close `code`: after lost batches, or when this node drains.
    pub fn close_remote_members(&mut self, peer: Option<u32>, code: u16, reason: &'static str) {
        for (_, _, addr, _) in self.remote_members(peer) {
            self.out.control(addr, Control::Close { code, reason });
        }
    }

    /// Our rooms' members on peer `peer` (`None`: on any other node): room, member, address,
    /// and whether it is a player (else a spectator).
    fn remote_members(&self, peer: Option<u32>) -> Vec<(RoomId, PlayerId, SessionAddr, bool)> {
        let mut found = Vec::new();
        for (room_id, owned) in &self.rooms.by_id {
            let members = owned.room.members();
            for (id, addr, _) in members.filter(|(_, a, _)| is_remote_on(a.shard, peer)) {
                found.push((*room_id, id, addr, owned.room.contains(id)));
            }
        }
        found
    }

    /// Claims every room of ours in the directory again (NATS is back, and may have lost
    /// them). A claim that finds our own entry wins at once.
    pub fn reregister(&mut self) {
        let Some(view) = self.cluster.clone() else {
            return;
        };
        let rooms: Vec<_> = self
            .rooms
            .by_id
            .iter()
            .map(|(id, owned)| {
                let settings = owned.room.settings();
                (*id, settings.game_name.clone(), settings.code.clone())
            })
            .collect();
        for (room_id, game, code) in rooms {
            let home = view.home(self.index, room_id);
            self.tell(DirectoryRequest::Register { game, code, home });
        }
    }
}
