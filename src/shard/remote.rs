//! Cluster mode on the shard (decision 22): messages for sessions and owners on other nodes
//! leave through the NATS bridge, and what other nodes send comes in through it.
//!
//! Another node's shard has an id here like a local one (`routing::remote_shard`), so the
//! owner machine, the rooms and the sessions address remote sessions and homes exactly as
//! local ones; [`Shard::send`] hands messages for such ids to this module. What a shard has
//! for one node in a turn leaves as one numbered batch (one NATS message), so a broadcast to
//! a room costs one message per node, and the receiving bridge can see a batch go missing.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use ahash::AHashMap;

use super::Shard;
use super::mailbox::{Control, RoomRef};
use super::messages::{Delivery, OwnerCmd, ShardMsg};
use super::owner::Lost;
use super::routing::{is_remote_on, remote_shard};
use crate::cluster::wire::{HomeRoom, NodeBody, NodeMsg, WireControl, WireOwnerCmd};
use crate::cluster::{Body, DirectoryReply, Envelope, FromBridge, NodeEvent, Peer, ShardLink};
use crate::room::SessionAddr;
use crate::signal::Signal;

/// Room traffic waiting for the next batch to each peer, by peer number.
#[derive(Default)]
pub struct RemoteOut {
    pending: RefCell<AHashMap<u32, Vec<NodeMsg>>>,
    /// The last batch number sent to each peer.
    sequence: RefCell<AHashMap<u32, u64>>,
    signal: Signal,
    /// Numbers forwarded requests, so a late timeout never settles a newer request.
    next_ticket: Cell<u64>,
}

impl Shard {
    /// Queues `msg` for shard `shard` of peer `peer`, for this turn's batch to that peer.
    pub(super) fn send_remote(&self, peer: u32, shard: u32, msg: ShardMsg) {
        let Some(body) = to_wire(msg) else {
            // A message that has no business leaving its node: a bug, never traffic.
            tracing::warn!(target: "signal_fish_server::cluster", "a node-local message was addressed to another node; dropped");
            return;
        };
        if let Some(link) = &self.cluster {
            let stats = link.stats();
            match body {
                NodeBody::Frames { .. } => stats.deliveries_out.fetch_add(1, Relaxed),
                NodeBody::Control { .. } => stats.controls_out.fetch_add(1, Relaxed),
                NodeBody::Owner(_) => 0,
            };
        }
        self.remote
            .pending
            .borrow_mut()
            .entry(peer)
            .or_default()
            .push(NodeMsg {
                to_shard: shard,
                body,
            });
        self.remote.signal.raise();
    }

    /// Owner work for a room's home on another node (found in the directory).
    pub(super) fn forward_home(
        &self,
        home: crate::cluster::Home,
        cmd: OwnerCmd,
    ) -> Option<OwnerCmd> {
        let link = self.cluster.as_ref()?;
        let peer = Peer {
            node: home.node,
            instance: home.instance,
        };
        let stats = link.stats();
        match link.nodes().number(&peer) {
            Some(n) => {
                stats.forwards.fetch_add(1, Relaxed);
                let session = cmd.requester();
                self.send_remote(n, home.shard, ShardMsg::Owner(cmd));
                if let Some(session) = session {
                    let ticket = self.remote.next_ticket.get() + 1;
                    self.remote.next_ticket.set(ticket);
                    self.control(session, Control::Forwarded { peer: n, ticket });
                }
                None
            }
            // That process is gone: the room with it.
            None => {
                stats.forwards_unreachable.fetch_add(1, Relaxed);
                Some(OwnerCmd::Unreachable(Box::new(cmd)))
            }
        }
    }

    /// Asks the directory; a request the bridge cannot take is answered as failed at once.
    pub(super) fn ask_directory(
        &self,
        token: u64,
        request: crate::cluster::DirectoryRequest,
    ) -> Option<OwnerCmd> {
        let refused = match &self.cluster {
            Some(link) => link.directory(token, request).err()?.to_string(),
            None => "not in a cluster".to_owned(),
        };
        Some(OwnerCmd::Directory {
            token,
            reply: DirectoryReply::Failed(refused),
        })
    }

    /// Room traffic from peer process `from`, for this shard.
    fn on_routed(&self, link: &ShardLink, from: &Peer, msgs: Vec<NodeMsg>) {
        // A message from a process known dead is dropped: its sessions and rooms are gone.
        let Some(peer) = link.nodes().number(from) else {
            return;
        };
        for msg in msgs {
            match msg.body {
                NodeBody::Frames {
                    slots,
                    frame,
                    event,
                    relayed: _,
                } => {
                    // Relay latency is timed where it starts and ends on one clock: not here.
                    self.deliver_frames(&slots, &frame, None, event);
                }
                NodeBody::Control { slot, control } => {
                    link.stats().controls_in.fetch_add(1, Relaxed);
                    let control = from_wire_control(peer, control);
                    if let Some((to, cmd)) = self.control_local(slot, control) {
                        self.send(to, ShardMsg::Owner(cmd));
                    }
                }
                NodeBody::Owner(cmd) => {
                    self.dispatch_local(ShardMsg::Owner(from_wire_cmd(peer, cmd)))
                }
            }
        }
    }

    /// Closes the sessions of this shard's rooms' members on other nodes (a drain's end).
    pub(super) fn close_remote_members(&self, code: u16, reason: &'static str) {
        if self.cluster.is_some() {
            self.owner
                .borrow_mut()
                .close_remote_members(None, code, reason);
            self.drain_owner();
        }
    }

    /// Peer `peer` (`None`: every other node) is lost to this node.
    fn peer_lost(&self, peer: Option<u32>, how: Lost) {
        self.control_all_local(Control::HomeLost { peer, how });
        self.owner.borrow_mut().peer_lost(Instant::now(), peer, how);
        self.drain_owner();
    }
}

/// Ships each turn's batches to the peers (cluster mode) until the bridge stops.
pub async fn run_flusher(shard: Rc<Shard>, link: Rc<ShardLink>) {
    loop {
        shard.remote.signal.wait().await;
        let pending = std::mem::take(&mut *shard.remote.pending.borrow_mut());
        for (peer, msgs) in pending {
            let Some(to) = link.nodes().peer(peer) else {
                let dropped = msgs.len() as u64;
                link.stats().skipped.fetch_add(dropped, Relaxed);
                continue;
            };
            let seq = {
                let mut sequence = shard.remote.sequence.borrow_mut();
                let seq = sequence.entry(peer).or_insert(0);
                *seq += 1;
                *seq
            };
            // Refused (bridge full or gone): counted by the link. The number is used anyway,
            // so the peer sees the gap and closes the members concerned.
            let _ = link.send_batch(&to, seq, msgs);
        }
    }
}

/// Serves what the bridge brings this shard until the bridge stops.
pub async fn serve(shard: Rc<Shard>, link: Rc<ShardLink>) {
    while let Some(msg) = link.recv().await {
        match msg {
            FromBridge::Routed { from, msgs } => shard.on_routed(&link, &from, msgs),
            FromBridge::Directory { token, reply } => {
                shard.dispatch_local(ShardMsg::Owner(OwnerCmd::Directory { token, reply }))
            }
            FromBridge::Node(NodeEvent::Gone { node, instance, .. }) => {
                if let Some(n) = link.nodes().gone(&Peer { node, instance }) {
                    shard.peer_lost(Some(n), Lost::Gone);
                }
            }
            FromBridge::Node(NodeEvent::Joined { node, instance }) => {
                // Judged gone after an outage longer than the TTL, and back: the same process,
                // so its numbers are valid again (slots are never reused within a process, so
                // no stale address can reach a newer session).
                link.nodes().revive(&Peer { node, instance });
            }
            FromBridge::Gap(from) => {
                if let Some(n) = link.nodes().number(&from) {
                    shard.peer_lost(Some(n), Lost::Gap);
                }
            }
            FromBridge::Nats(false) => shard.peer_lost(None, Lost::Link),
            FromBridge::Nats(true) => {
                shard.owner.borrow_mut().reregister();
                shard.drain_owner();
            }
            FromBridge::Message(Envelope {
                from,
                from_shard,
                body: Body::Probe { seq },
                ..
            }) => {
                // Probes check and time the path between two shards of the cluster. A full
                // bridge drops the reply, counted; the prober times out.
                let _ = link.send(&from, from_shard, Body::ProbeReply { seq });
            }
            FromBridge::Message(_) => {}
        }
        glommio::yield_if_needed().await;
    }
}

/// The wire form of a message for another node; `None` for what never crosses nodes.
fn to_wire(msg: ShardMsg) -> Option<NodeBody> {
    Some(match msg {
        ShardMsg::Delivery(Delivery::Frames {
            slots,
            frame,
            relayed_at,
            event,
        }) => NodeBody::Frames {
            slots: slots.to_vec(),
            frame,
            event,
            relayed: relayed_at.is_some(),
        },
        ShardMsg::Delivery(Delivery::Control { slot, control }) => NodeBody::Control {
            slot,
            control: to_wire_control(control)?,
        },
        ShardMsg::Owner(cmd) => NodeBody::Owner(to_wire_cmd(cmd)?),
        // Replicas and replicated relays stay on their node; admission and telemetry too.
        _ => return None,
    })
}

fn home_room(room: RoomRef) -> HomeRoom {
    HomeRoom {
        id: room.id,
        shard: room.owner,
    }
}

fn to_wire_control(control: Control) -> Option<WireControl> {
    Some(match control {
        Control::Joined { room, player } => WireControl::Joined {
            room: home_room(room),
            player,
        },
        Control::JoinRefused => WireControl::JoinRefused,
        Control::Left => WireControl::Left,
        Control::Spectating { room, spectator } => WireControl::Spectating {
            room: home_room(room),
            spectator,
        },
        Control::SpectateSettled => WireControl::SpectateSettled,
        Control::Detached(room) => WireControl::Detached(room),
        Control::Close { code, reason } => WireControl::Close {
            code,
            reason: reason.to_owned(),
        },
        // Admission and authentication stay on the session's node.
        _ => return None,
    })
}

/// A room reference for a room whose home is shard `room.shard` of peer `peer`.
fn remote_room(peer: u32, room: HomeRoom) -> RoomRef {
    RoomRef {
        id: room.id,
        owner: remote_shard(peer, room.shard),
    }
}

fn from_wire_control(peer: u32, control: WireControl) -> Control {
    match control {
        WireControl::Joined { room, player } => Control::Joined {
            room: remote_room(peer, room),
            player,
        },
        WireControl::JoinRefused => Control::JoinRefused,
        WireControl::Left => Control::Left,
        WireControl::Spectating { room, spectator } => Control::Spectating {
            room: remote_room(peer, room),
            spectator,
        },
        WireControl::SpectateSettled => Control::SpectateSettled,
        WireControl::Detached(room) => Control::Detached(room),
        WireControl::Close { code, reason } => Control::Close {
            code,
            reason: close_reason(&reason),
        },
    }
}

/// Close reasons are static strings on this side; a peer's is one of ours.
fn close_reason(reason: &str) -> &'static str {
    match reason {
        "server shutting down" => "server shutting down",
        "cluster batches lost" => "cluster batches lost",
        "cluster link lost" => "cluster link lost",
        _ => "closed by the room's node",
    }
}

fn to_wire_cmd(cmd: OwnerCmd) -> Option<WireOwnerCmd> {
    Some(match cmd {
        OwnerCmd::JoinRoom(req) => WireOwnerCmd::JoinRoom(req),
        OwnerCmd::Spectate(req) => WireOwnerCmd::Spectate(req),
        OwnerCmd::Reconnect(req) => WireOwnerCmd::Reconnect(req),
        OwnerCmd::RoomOp {
            room_id,
            player,
            from,
            op,
        } => WireOwnerCmd::RoomOp {
            room_id,
            player,
            from,
            op,
        },
        OwnerCmd::Relay {
            room_id,
            from,
            payload,
            ..
        } => WireOwnerCmd::Relay {
            room_id,
            from,
            payload,
        },
        // Creation, room counts and replicated relays stay on the room's node.
        _ => return None,
    })
}

/// A session address of peer `peer`, as the owner machine here addresses it.
fn remote_addr(peer: u32, addr: SessionAddr) -> SessionAddr {
    SessionAddr {
        shard: remote_shard(peer, addr.shard),
        slot: addr.slot,
    }
}

fn from_wire_cmd(peer: u32, cmd: WireOwnerCmd) -> OwnerCmd {
    match cmd {
        WireOwnerCmd::JoinRoom(mut req) => {
            req.joiner.addr = remote_addr(peer, req.joiner.addr);
            OwnerCmd::JoinRoom(req)
        }
        WireOwnerCmd::Spectate(mut req) => {
            req.spectator.addr = remote_addr(peer, req.spectator.addr);
            OwnerCmd::Spectate(req)
        }
        WireOwnerCmd::Reconnect(mut req) => {
            req.addr = remote_addr(peer, req.addr);
            OwnerCmd::Reconnect(req)
        }
        WireOwnerCmd::RoomOp {
            room_id,
            player,
            from,
            op,
        } => OwnerCmd::RoomOp {
            room_id,
            player,
            from: remote_addr(peer, from),
            op,
        },
        WireOwnerCmd::Relay {
            room_id,
            from,
            payload,
        } => OwnerCmd::Relay {
            room_id,
            from,
            payload,
            received_at: Instant::now(),
        },
    }
}

/// Whether a session's room lives on peer `peer` (`None`: on any other node).
pub fn homed_on(room: RoomRef, peer: Option<u32>) -> bool {
    is_remote_on(room.owner, peer)
}
