//! What the owner machine asks its driver to do, as values. The driver takes them one by one
//! (`Owner::poll_output`) and routes them: to a local mailbox, or into the outbox of the shard
//! that holds the session or owns the key.

use std::collections::VecDeque;
use std::time::Instant;

use smallvec::{SmallVec, smallvec};

use super::super::event_id::EventId;
use super::super::mailbox::Control;
use super::super::messages::{OwnerCmd, Slots};
use super::super::replica::Replica;
use super::seats::{Buffered, Missed, OwnedRoom};
use crate::cluster::{DirectoryRequest, Home};
use crate::protocol::frame::text_frame;
use crate::protocol::{Frame, RoomId, ServerMessage};
use crate::room::{Audience, Effects, SessionAddr};

/// One thing for the driver to do.
#[derive(Debug)]
pub enum Output {
    /// Write `frame` to these sessions, all held by shard `shard`. `relayed_at` marks relayed
    /// game data, whose latency is recorded where it is delivered. `event` is the frame's room
    /// event id (`NONE` for a reply to one session), noted by the mailbox, never sent.
    Deliver {
        shard: u32,
        slots: Slots,
        frame: Frame,
        relayed_at: Option<Instant>,
        event: EventId,
    },
    /// Shard `shard`'s replica of room `room_id` changed (`None`: the shard has no member left).
    Publish {
        shard: u32,
        room_id: RoomId,
        /// The room's replica number (for `None` too: what the shard forgets is older).
        epoch: u64,
        replica: Option<Box<Replica>>,
    },
    /// Apply a state change to one session.
    Control { to: SessionAddr, control: Control },
    /// Hand owner work to shard `to` (possibly this very shard: the driver feeds it back in
    /// after the outputs already queued).
    Forward { to: u32, cmd: OwnerCmd },
    /// Cluster mode: hand owner work to a room's home on another node.
    ForwardHome { home: Home, cmd: OwnerCmd },
    /// Cluster mode: ask the room directory; the answer comes back as
    /// [`OwnerCmd::Directory`] with `token`.
    Directory {
        token: u64,
        request: DirectoryRequest,
    },
}

/// The outputs of the inputs handled so far, in the order the driver must route them.
#[derive(Debug, Default)]
pub struct Outputs {
    queue: VecDeque<Output>,
}

impl Outputs {
    /// The next output, oldest first.
    pub fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }

    /// Whether nothing waits to be routed.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// A frame for one session.
    pub fn deliver(&mut self, to: SessionAddr, frame: Frame) {
        self.queue.push_back(Output::Deliver {
            shard: to.shard,
            slots: smallvec![to.slot],
            frame,
            relayed_at: None,
            event: EventId::NONE,
        });
    }

    /// A frame for many sessions: one [`Output::Deliver`] per shard that holds any of them, so
    /// a broadcast costs one message per shard, never one per recipient. `event` is the room
    /// event's id.
    pub fn fanout(
        &mut self,
        recipients: impl Iterator<Item = SessionAddr>,
        frame: &Frame,
        relayed_at: Option<Instant>,
        event: EventId,
    ) {
        // Rooms span few shards, so a short list beats a map; a typical room's recipients fit
        // inline, so a relay allocates nothing here.
        let mut by_shard: SmallVec<[(u32, Slots); 2]> = SmallVec::new();
        for to in recipients {
            match by_shard.iter_mut().find(|(shard, _)| *shard == to.shard) {
                Some((_, slots)) => slots.push(to.slot),
                None => by_shard.push((to.shard, smallvec![to.slot])),
            }
        }
        for (shard, slots) in by_shard {
            self.queue.push_back(Output::Deliver {
                shard,
                slots,
                frame: frame.clone(),
                relayed_at,
                event,
            });
        }
    }

    /// A state change for one session.
    pub fn control(&mut self, to: SessionAddr, control: Control) {
        self.queue.push_back(Output::Control { to, control });
    }

    /// A replica for shard `shard` (see [`Output::Publish`]).
    pub fn publish(&mut self, shard: u32, room_id: RoomId, epoch: u64, replica: Option<Replica>) {
        self.queue.push_back(Output::Publish {
            shard,
            room_id,
            epoch,
            replica: replica.map(Box::new),
        });
    }

    /// Owner work for a room's home on another node.
    pub fn forward_home(&mut self, home: Home, cmd: OwnerCmd) {
        self.queue.push_back(Output::ForwardHome { home, cmd });
    }

    /// A directory request.
    pub fn directory(&mut self, token: u64, request: DirectoryRequest) {
        self.queue.push_back(Output::Directory { token, request });
    }

    /// Owner work for shard `to`.
    pub fn forward(&mut self, to: u32, cmd: OwnerCmd) {
        self.queue.push_back(Output::Forward { to, cmd });
    }

    /// A room's effects: each message serialised once, then addressed to its audience as the
    /// room's membership stands now (so call this before the room takes its next input).
    /// Broadcasts are room events: each takes the room's next sequence number and is buffered
    /// for the room's disconnected players (`seats.rs`). Returns what that buffered.
    pub(super) fn apply(&mut self, owned: &mut OwnedRoom, effects: Effects) -> Buffered {
        let mut buffered = Buffered::default();
        for out in effects {
            let frame = text_frame(&out.msg);
            let except = match out.to {
                Audience::Session(addr) => {
                    self.deliver(addr, frame);
                    continue;
                }
                Audience::Everyone => None,
                Audience::EveryoneExcept(id) => Some(id),
            };
            let b = owned.emit(except, || Missed::Frame(frame.clone()));
            buffered.stored += b.stored;
            buffered.dropped += b.dropped;
            let event = owned.last_event();
            self.fanout(owned.room.recipients(out.to), &frame, None, event);
        }
        buffered
    }

    /// Refuses a pending join: the reply, then the control that lets the session read again.
    pub fn refuse_join(&mut self, to: SessionAddr, reply: ServerMessage) {
        self.deliver(to, text_frame(&reply));
        self.control(to, Control::JoinRefused);
    }
}
