//! One connection's protocol state machine: authentication, which room it is in, and turning
//! client messages into replies or commands for the owner shard. The connection task in
//! `net::conn` feeds it frames and applies what it returns.

mod joining;

use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use crate::limits::JoinKind;
use crate::log::events;
use crate::metrics::Op;
use crate::protocol::client::{self, ClientMessage};
use crate::protocol::close_code;
use crate::protocol::codec::{decode_client, encode_game_data};
use crate::protocol::depth::{TOO_DEEP_MESSAGE, msgpack_too_deep};
use crate::protocol::server::ReconnectionFailed;
use crate::protocol::{
    ErrorCode, Frame, GameDataEncoding, PlayerId, ServerMessage, SpectatorStateChangeReason,
};
use crate::room::{LeaveKind, SessionAddr, not_in_room_authority_response, not_in_room_error};
use crate::shard::mailbox::{Control, Mailbox, RoomRef};
use crate::shard::messages::{AdmissionMsg, OwnerCmd, Rejoin, RelayPayload, RoomOp, ShardMsg};
use crate::shard::owner::Lost;
use crate::shard::remote::homed_on;
use crate::shard::routing::{ip_owner, room_id_owner};
use crate::shard::{IpSlot, Shard, text_frame};

/// How long a join, spectate or reconnect forwarded to another node may wait for its answer
/// (cluster mode); it takes milliseconds when all is well.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the connection task should do after a frame or control was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    Close { code: u16, reason: &'static str },
}

/// A request whose outcome decides the session's state; reading pauses until it settles so
/// later frames see the new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Waiting for the app's owner to answer `Authenticate`.
    Auth,
    /// A `JoinRoom`: creation or join by code, and when it was read (for latency).
    Join(Op, Instant),
    Leave,
    Spectate,
    /// A `Reconnect`, waiting for the room's owner.
    Reconnect,
}

/// One connection's protocol state.
pub struct Session {
    shard: Rc<Shard>,
    addr: SessionAddr,
    mailbox: Rc<Mailbox>,
    /// The connection's player (and spectator) id; after a successful `Reconnect`, the id of
    /// the player whose seat it took back.
    id: PlayerId,
    /// The client's IP (the real one, behind trusted proxies), for per-IP limits.
    ip: IpAddr,
    /// The connection's slot in its IP's count, taken during the handshake and given back
    /// when the connection ends.
    ip_slot: Option<IpSlot>,
    authenticated: bool,
    /// Whether an `Authenticate` was already answered (later ones are ignored, as in 0.1.0).
    auth_answered: bool,
    encoding: GameDataEncoding,
    room: Option<RoomRef>,
    /// The room a dropped connection's seat is kept in while the socket is being closed.
    closing_in: Option<RoomRef>,
    spectating: Option<RoomRef>,
    pending: Option<Pending>,
    /// Cluster mode: the peer node the pending join, spectate or reconnect went to, and the
    /// request's ticket, so the request can be settled if that node is lost or silent.
    pending_at: Option<(u32, u64)>,
}

impl Session {
    /// A fresh session for a connection its IP's owner admitted during the handshake (the
    /// slot says from which address). With auth off it is authenticated from the start.
    pub fn new(
        shard: Rc<Shard>,
        addr: SessionAddr,
        mailbox: Rc<Mailbox>,
        ip_slot: IpSlot,
        now: Instant,
    ) -> Self {
        let ip = ip_slot.ip();
        let auth_required = shard.config.security.require_websocket_auth;
        if auth_required {
            let timeout = std::time::Duration::from_secs(shard.config.websocket.auth_timeout_secs);
            mailbox.auth_deadline.set(Some(now + timeout));
        }
        Session {
            shard,
            addr,
            mailbox,
            id: Uuid::new_v4(),
            ip,
            ip_slot: Some(ip_slot),
            authenticated: !auth_required,
            auth_answered: false,
            encoding: GameDataEncoding::Json,
            room: None,
            closing_in: None,
            spectating: None,
            pending: None,
            pending_at: None,
        }
    }

    /// The client's address (the real one behind trusted proxies), for logs and metrics.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Whether the connection task should hold off reading until a pending request settles.
    pub fn reading_paused(&self) -> bool {
        self.pending.is_some()
    }

    fn reply(&self, msg: &ServerMessage) {
        self.mailbox.push_frame(text_frame(msg));
    }

    /// Handles one text frame (already within the size limit).
    pub fn on_text(&mut self, text: &str) -> Verdict {
        let msg = match decode_client(text) {
            Ok(msg) => msg,
            Err(err) => {
                // Both wordings are the error's `Display`: "Invalid client message" (0.1.0's)
                // or the nesting limit's.
                self.shard.metrics.count(|c| c.validation_errors += 1);
                self.reply(&ServerMessage::error(
                    err.to_string(),
                    ErrorCode::InvalidInput,
                ));
                return Verdict::Continue;
            }
        };
        if let ClientMessage::Authenticate(req) = msg {
            return self.on_authenticate(req);
        }
        if !self.authenticated {
            self.reply(&ServerMessage::error(
                "Authentication required",
                ErrorCode::MissingAppId,
            ));
            return Verdict::Close {
                code: close_code::POLICY_VIOLATION,
                reason: "authentication required",
            };
        }
        self.dispatch(msg);
        Verdict::Continue
    }

    /// Handles one binary frame: MessagePack game data.
    pub fn on_binary(&mut self, data: Bytes) -> Verdict {
        if !self.authenticated {
            self.reply(&ServerMessage::error(
                "Authentication required before sending binary data",
                ErrorCode::MissingAppId,
            ));
            return Verdict::Close {
                code: close_code::POLICY_VIOLATION,
                reason: "authentication required",
            };
        }
        if self.encoding != GameDataEncoding::MessagePack {
            self.reply(&ServerMessage::error(
                "Binary payloads are disabled for this connection",
                ErrorCode::InvalidInput,
            ));
            return Verdict::Continue;
        }
        // Relayed verbatim to MessagePack clients, so the nesting limit must hold here
        // (decision 18), answered like a JSON message nested too deeply.
        if msgpack_too_deep(&data) {
            self.shard.metrics.count(|c| c.validation_errors += 1);
            self.reply(&ServerMessage::error(
                TOO_DEEP_MESSAGE,
                ErrorCode::InvalidInput,
            ));
            return Verdict::Continue;
        }
        if let Some(room) = self.room {
            let payload = RelayPayload::MessagePack(data);
            let read_at = self.mailbox.last_seen.get();
            self.shard.relay(room, self.id, payload, read_at);
        }
        Verdict::Continue
    }

    /// A WebSocket Pong frame is a heartbeat, answered like a JSON `Ping` (as in 0.1.0).
    pub fn on_ws_pong(&mut self) {
        self.reply(&ServerMessage::Pong);
    }

    /// Applies a state change from an owner shard.
    pub fn on_control(&mut self, control: Control) -> Verdict {
        match control {
            Control::Joined { room, player } => {
                let reconnect = self.pending == Some(Pending::Reconnect);
                events::player_joined(self.ip, self.addr.slot, player, room.id, reconnect);
                self.room = Some(room);
                // The same id after a join; the old player's after a reconnect.
                self.id = player;
                // Room event numbers are per room: count this room's from scratch.
                self.mailbox.reset_delivered();
                if let Some(Pending::Join(op, since)) = self.pending.take() {
                    self.shard.metrics.record_since(op, since);
                }
            }
            Control::JoinRefused => {
                if let Some(Pending::Join(op, _)) = self.pending.take() {
                    self.shard.metrics.count(|c| match op {
                        Op::RoomCreation => c.room_creation_failures += 1,
                        _ => c.room_join_failures += 1,
                    });
                }
            }
            Control::Left => self.settle(Pending::Leave),
            Control::Spectating { room, .. } => {
                self.spectating = Some(room);
                self.settle(Pending::Spectate);
            }
            Control::SpectateSettled => self.settle(Pending::Spectate),
            Control::Detached(room_id) => {
                if self.room.is_some_and(|r| r.id == room_id) {
                    self.room = None;
                }
                if self.spectating.is_some_and(|r| r.id == room_id) {
                    self.spectating = None;
                }
            }
            Control::Authenticated { encoding, replies } => {
                self.on_authenticated(encoding, replies)
            }
            Control::AuthRefused { close } => {
                self.settle(Pending::Auth);
                if close {
                    return Verdict::Close {
                        code: close_code::POLICY_VIOLATION,
                        reason: "authentication failed",
                    };
                }
            }
            // Admission answers go to the handshake (`Shard::admit_ip`), never to a session.
            Control::Admitted { .. } | Control::ConnectionRefused { .. } => {}
            Control::Close { code, reason } => return Verdict::Close { code, reason },
            Control::HomeLost { peer, how } => return self.on_home_lost(peer, how),
            Control::Forwarded { peer, ticket } => self.on_forwarded(peer, ticket),
            Control::ForwardExpired { ticket } => {
                if self.pending_at.is_some_and(|(_, t)| t == ticket)
                    && let Some(kind) = self.pending.take()
                {
                    self.pending_at = None;
                    self.refuse_lost_request(kind, Lost::Link);
                }
            }
        }
        // A settled request no longer waits on any node.
        if self.pending.is_none() {
            self.pending_at = None;
        }
        Verdict::Continue
    }

    /// Cluster mode: the pending request went on to peer node `peer`; it must be answered
    /// within [`FORWARD_TIMEOUT`], or it is refused (a batch may have been lost on the way).
    fn on_forwarded(&mut self, peer: u32, ticket: u64) {
        // An answer may already have settled the request.
        if self.pending.is_none() {
            return;
        }
        self.pending_at = Some((peer, ticket));
        let mailbox = Rc::downgrade(&self.mailbox);
        let timeout = async move {
            glommio::timer::sleep(FORWARD_TIMEOUT).await;
            if let Some(mailbox) = mailbox.upgrade() {
                mailbox.push_control(Control::ForwardExpired { ticket });
            }
        };
        glommio::spawn_local(timeout).detach();
    }

    /// Cluster mode: peer node `peer` (`None`: every other node) is lost to this node
    /// (`shard::remote`). A room that lived on a node that is gone is gone with it: the member
    /// is told as when a room expires, and is free to join again. A broken link, or batches
    /// lost on the way, close the connection instead, so the client reconnects with its token
    /// and has what it missed replayed. A request still waiting for a node that is gone or cut
    /// off is refused (after lost batches it still has its timeout).
    fn on_home_lost(&mut self, peer: Option<u32>, how: Lost) -> Verdict {
        let lost = |room: &Option<RoomRef>| room.is_some_and(|r| homed_on(r, peer));
        let waiting = self
            .pending_at
            .is_some_and(|(at, _)| peer.is_none_or(|p| p == at));
        if waiting
            && how != Lost::Gap
            && let Some(kind) = self.pending.take()
        {
            self.pending_at = None;
            self.refuse_lost_request(kind, how);
        }
        if !lost(&self.room) && !lost(&self.spectating) {
            return Verdict::Continue;
        }
        match how {
            Lost::Link => Verdict::Close {
                code: close_code::INTERNAL_ERROR,
                reason: "cluster link lost",
            },
            Lost::Gap => Verdict::Close {
                code: close_code::INTERNAL_ERROR,
                reason: "cluster batches lost",
            },
            Lost::Gone => {
                if lost(&self.room) {
                    self.room = None;
                }
                if lost(&self.spectating) {
                    self.spectating = None;
                }
                self.reply(&ServerMessage::error(
                    "Room no longer exists",
                    ErrorCode::RoomNotFound,
                ));
                Verdict::Continue
            }
        }
    }

    /// Answers a join, spectate or reconnect whose room's node was lost (or silent) before
    /// answering.
    fn refuse_lost_request(&mut self, kind: Pending, how: Lost) {
        let (reason, code) = match how {
            Lost::Gone => ("Room no longer exists", ErrorCode::RoomNotFound),
            _ => (
                "The room's server is unreachable; try again",
                ErrorCode::ServiceUnavailable,
            ),
        };
        let reply = match kind {
            Pending::Join(..) => ServerMessage::join_failed(reason, code),
            Pending::Spectate => {
                crate::room::Rejection::new(reason, code).into_spectator_join_failed()
            }
            Pending::Reconnect => ServerMessage::ReconnectionFailed(ReconnectionFailed {
                reason: reason.to_owned(),
                error_code: match how {
                    Lost::Gone => code,
                    _ => ErrorCode::ReconnectionFailed,
                },
            }),
            other => {
                self.pending = Some(other);
                return;
            }
        };
        self.reply(&reply);
    }

    fn settle(&mut self, kind: Pending) {
        if self.pending == Some(kind) {
            self.pending = None;
        }
    }

    /// The connection is gone: leave the room and stop spectating, as a disconnect. With
    /// `closing`, the server is still closing the socket, which may flush more frames; the
    /// room's owner holds the kept seat until [`Session::on_closed`] says what left whole.
    pub fn on_disconnect(&mut self, closing: bool) {
        // Dropping the slot tells the IP's owner.
        self.ip_slot = None;
        if let Some(room) = self.room.take() {
            events::player_left(self.ip, self.addr.slot, self.id, room.id, false);
            // Decision 3: the seat is kept; the owner buffers from the last event written.
            let delivered = self.mailbox.delivered();
            self.room_op(room, RoomOp::Dropped { delivered, closing });
            if closing {
                self.closing_in = Some(room);
            }
        }
        if let Some(room) = self.spectating.take() {
            self.room_op(
                room,
                RoomOp::StopSpectating(SpectatorStateChangeReason::Disconnected),
            );
        }
    }

    /// The socket's close is over (done or given up): tell the room the last event that left
    /// whole, so the kept seat's buffer forgets what the client got meanwhile.
    pub fn on_closed(&mut self) {
        if let Some(room) = self.closing_in.take() {
            let delivered = self.mailbox.delivered();
            self.room_op(room, RoomOp::Closed { delivered });
        }
    }

    fn room_op(&self, room: RoomRef, op: RoomOp) {
        self.shard.send(
            room.owner,
            ShardMsg::Owner(OwnerCmd::RoomOp {
                room_id: room.id,
                player: self.id,
                from: self.addr,
                op,
            }),
        );
    }

    /// Authentication runs on the IP's owner shard, which keeps the `rate_limit_per_minute`
    /// windows of this IP for every app; reading pauses until it answers.
    fn on_authenticate(&mut self, req: client::Authenticate) -> Verdict {
        if self.auth_answered {
            return Verdict::Continue;
        }
        self.pending = Some(Pending::Auth);
        self.shard.send(
            ip_owner(&self.ip, self.shard.count),
            ShardMsg::Admission(AdmissionMsg::Authenticate {
                req: Box::new(req),
                ip: self.ip,
                from: self.addr,
            }),
        );
        Verdict::Continue
    }

    /// Authentication succeeded: adopt the negotiated format, here and in any room that
    /// already relays to this connection. A seated session's replies go out through its room's
    /// owner, after the room switched formats, so game data sent once the client has its
    /// `Authenticated` always arrives in the new format.
    fn on_authenticated(&mut self, encoding: GameDataEncoding, replies: Vec<Frame>) {
        self.authenticated = true;
        self.auth_answered = true;
        self.encoding = encoding;
        self.mailbox.auth_deadline.set(None);
        self.settle(Pending::Auth);
        if let Some(room) = self.spectating {
            self.room_op(room, RoomOp::Encoding(encoding, Vec::new()));
        }
        match self.room {
            Some(room) => self.room_op(room, RoomOp::Encoding(encoding, replies)),
            None => {
                for reply in replies {
                    self.mailbox.push_frame(reply);
                }
            }
        }
    }

    fn dispatch(&mut self, msg: ClientMessage) {
        match msg {
            ClientMessage::Authenticate(_) => {}
            ClientMessage::JoinRoom(req) => self.on_join_room(req),
            ClientMessage::LeaveRoom => {
                if let Some(room) = self.room.take() {
                    events::player_left(self.ip, self.addr.slot, self.id, room.id, true);
                    self.pending = Some(Pending::Leave);
                    self.room_op(room, RoomOp::Leave(LeaveKind::Voluntary));
                }
            }
            ClientMessage::GameData(req) => {
                if let Some(room) = self.room {
                    let payload = RelayPayload::Json(encode_game_data(&self.id, req.data.get()));
                    let read_at = self.mailbox.last_seen.get();
                    self.shard.relay(room, self.id, payload, read_at);
                }
            }
            ClientMessage::AuthorityRequest(req) => match self.room {
                Some(room) => self.room_op(room, RoomOp::Authority(req.become_authority)),
                None => self.reply(&not_in_room_authority_response()),
            },
            ClientMessage::PlayerReady => match self.room {
                Some(room) => self.room_op(room, RoomOp::Ready),
                None => self.not_in_room(),
            },
            ClientMessage::ProvideConnectionInfo(req) => match self.room {
                Some(room) => {
                    self.room_op(room, RoomOp::ConnectionInfo(Box::new(req.connection_info)))
                }
                None => self.not_in_room(),
            },
            ClientMessage::Ping => {
                self.shard.metrics.count(|c| c.heartbeat_updates += 1);
                self.reply(&ServerMessage::Pong);
            }
            ClientMessage::Reconnect(req) => self.on_reconnect(req),
            ClientMessage::JoinAsSpectator(req) => self.on_join_as_spectator(req),
            ClientMessage::LeaveSpectator => match self.spectating.take() {
                Some(room) => {
                    self.pending = Some(Pending::Spectate);
                    self.room_op(
                        room,
                        RoomOp::StopSpectating(SpectatorStateChangeReason::VoluntaryLeave),
                    );
                }
                None => self.reply(&ServerMessage::error(
                    "You are not currently spectating a room",
                    ErrorCode::NotASpectator,
                )),
            },
        }
    }

    /// `Reconnect`: sent to the room's owner, named by the room id's first byte, wherever this
    /// connection landed; reading pauses until it answers.
    fn on_reconnect(&mut self, req: client::Reconnect) {
        let refuse = |reason: &str, error_code| {
            ServerMessage::ReconnectionFailed(ReconnectionFailed {
                reason: reason.to_owned(),
                error_code,
            })
        };
        if !self.shard.config.server.enable_reconnection {
            let reply = refuse("Reconnection is not enabled", ErrorCode::ReconnectionFailed);
            return self.reply(&reply);
        }
        if self.room.is_some() {
            return self.reply(&refuse("Already in a room", ErrorCode::AlreadyInRoom));
        }
        // In a cluster the room may live on another node, whose shards this node does not
        // count: any local shard looks it up (`owner/cluster.rs`).
        let count = self.shard.count;
        let owner = room_id_owner(&req.room_id, count).or_else(|| {
            let any = u32::from(req.room_id.as_bytes()[0]) % count;
            self.shard.cluster.is_some().then_some(any)
        });
        let Some(owner) = owner else {
            return self.reply(&refuse("Room no longer exists", ErrorCode::RoomNotFound));
        };
        self.pending = Some(Pending::Reconnect);
        let rejoin = Rejoin {
            room_id: req.room_id,
            player: req.player_id,
            token: req.auth_token,
            addr: self.addr,
            encoding: self.encoding,
            new_token: Uuid::new_v4().to_string(),
        };
        // The per-IP join quota (decision 18), as for `JoinAsSpectator`: a token cannot be
        // guessed faster than a room code. Requests refused above use none.
        self.shard.send(
            ip_owner(&self.ip, self.shard.count),
            ShardMsg::Admission(AdmissionMsg::JoinQuota {
                ip: self.ip,
                kind: JoinKind::Reconnect,
                from: self.addr,
                next: owner,
                then: Box::new(OwnerCmd::Reconnect(Box::new(rejoin))),
            }),
        );
    }

    fn not_in_room(&self) {
        self.reply(&not_in_room_error());
    }

    /// Pushes a frame for this connection (used by the connection task for transport errors).
    pub fn push_frame(&self, frame: Frame) {
        self.mailbox.push_frame(frame);
    }
}
