//! A connection's inbox on its own shard: frames to write and state changes to apply, in the
//! order they were produced. Owners on any shard reach it through the shard's session table.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Instant;

use async_tungstenite::tungstenite::Utf8Bytes;
use bytes::Bytes;

use crate::protocol::{GameDataEncoding, PlayerId, RoomId};
use crate::signal::Signal;

/// How many times the limit a queue may reach while its client is still taking writes.
const HARD_LIMIT_FACTOR: usize = 8;
/// Queued bytes that count as full while the client takes no writes.
const SOFT_BYTES: usize = 8 << 20;

/// One WebSocket frame's payload, serialised once and shared by every recipient.
#[derive(Debug, Clone)]
pub enum Frame {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Frame {
    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a session's room lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomRef {
    pub id: RoomId,
    pub owner: u32,
}

/// State changes an owner shard tells a session about.
#[derive(Debug, Clone)]
pub enum Control {
    /// The pending join succeeded; the `RoomJoined` frame follows.
    Joined { room: RoomRef, player: PlayerId },
    /// The pending join failed; its `RoomJoinFailed` frame was queued before this.
    JoinRefused,
    /// The pending leave completed; `RoomLeft` was queued before this.
    Left,
    /// The pending spectator join succeeded.
    Spectating { room: RoomRef, spectator: PlayerId },
    /// The pending spectator join (or leave) settled without a spectated room.
    SpectateSettled,
    /// The room is gone or no longer lists this session: forget it.
    Detached(RoomId),
    /// `Authenticate` succeeded with this game-data format. The replies travel inside, so a
    /// seated session can have its room adopt the format before the client sees them.
    Authenticated {
        encoding: GameDataEncoding,
        replies: Vec<Frame>,
    },
    /// `Authenticate` failed; the reply was queued before this. `close` ends the connection.
    AuthRefused { close: bool },
    /// The IP's owner admitted the connection (`ip` lets a shard undo it if the client left).
    Admitted { ip: std::net::IpAddr },
    /// The IP already holds `current` connections, the most `security.max_connections_per_ip`
    /// allows. With `answer`, the connection holds one of the IP's refusal places and may say
    /// why before closing (`ip` lets a shard give the place back if the client left).
    ConnectionRefused {
        ip: std::net::IpAddr,
        current: usize,
        answer: bool,
    },
    /// Close the connection with this WebSocket close code.
    Close { code: u16, reason: &'static str },
}

/// Something queued for a connection.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Frame(Frame),
    Control(Control),
}

/// A connection's queue, wake-up and liveness, shared (via `Rc`) by the connection task and the
/// shard that delivers to it.
pub struct Mailbox {
    queue: RefCell<VecDeque<Outgoing>>,
    frames: Cell<usize>,
    limit: usize,
    overflowed: Cell<bool>,
    dropped: Cell<u64>,
    /// A frame was taken off the queue and the transport has not accepted it yet.
    in_transit: Cell<bool>,
    /// Set while the connection task waits for the socket to take its writes.
    pub flush_blocked: Cell<bool>,
    close_requested: Cell<Option<(u16, &'static str)>>,
    /// Bytes of the frames queued.
    bytes: Cell<usize>,
    /// Raised whenever something is queued.
    pub signal: Signal,
    /// Last inbound frame of any kind (decision 9: every frame counts as activity).
    pub last_seen: Cell<Instant>,
    /// When an unauthenticated connection must have authenticated by, if auth is required.
    pub auth_deadline: Cell<Option<Instant>>,
}

impl Mailbox {
    /// A mailbox that refuses frames beyond `limit` queued ones.
    pub fn new(limit: usize, now: Instant) -> Self {
        Mailbox {
            queue: RefCell::new(VecDeque::new()),
            frames: Cell::new(0),
            limit,
            overflowed: Cell::new(false),
            dropped: Cell::new(0),
            in_transit: Cell::new(false),
            flush_blocked: Cell::new(false),
            close_requested: Cell::new(None),
            bytes: Cell::new(0),
            signal: Signal::default(),
            last_seen: Cell::new(now),
            auth_deadline: Cell::new(None),
        }
    }

    /// Queues a frame. The queue is full when `limit` frames (or `SOFT_BYTES`) wait while the
    /// client is not taking writes (the socket is full), or `HARD_LIMIT_FACTOR` times that in
    /// any case: a burst to a client that reads fine is not an overflow, and memory stays
    /// bounded either way. A full queue marks the mailbox overflowed (the connection is then
    /// closed with 1008, decision 10) and counts the frame as dropped.
    pub fn push_frame(&self, frame: Frame) {
        let frames = self.frames.get();
        let bytes = self.bytes.get();
        let soft = frames >= self.limit || bytes >= SOFT_BYTES;
        let hard =
            frames >= self.limit * HARD_LIMIT_FACTOR || bytes >= SOFT_BYTES * HARD_LIMIT_FACTOR;
        if (soft && self.flush_blocked.get()) || hard {
            self.overflowed.set(true);
            self.dropped.set(self.dropped.get() + 1);
        } else {
            self.frames.set(frames + 1);
            self.bytes.set(bytes + frame.len());
            self.queue.borrow_mut().push_back(Outgoing::Frame(frame));
        }
        self.signal.raise();
    }

    /// Queues a state change; never refused, so sessions never miss one. A close is also
    /// noted aside, so a connection task stuck writing to a client sees it at once.
    pub fn push_control(&self, control: Control) {
        if let Control::Close { code, reason } = control
            && self.close_requested.get().is_none()
        {
            self.close_requested.set(Some((code, reason)));
        }
        self.queue
            .borrow_mut()
            .push_back(Outgoing::Control(control));
        self.signal.raise();
    }

    /// Notes that a frame taken off the queue is being handed to the transport (`true`) or
    /// was accepted by it (`false`). A writer cut off in between (a slow client whose write
    /// was abandoned, a failed socket) lost that frame, and it is counted as dropped with the
    /// queued ones (decision 18). A flag rather than leaving the frame queued until written:
    /// that would need a copy of every frame.
    pub fn set_in_transit(&self, in_transit: bool) {
        self.in_transit.set(in_transit);
    }

    /// Frames that will never be written if the connection ends now: the queued ones and the
    /// one being handed to the transport, if any.
    pub fn unwritten_frames(&self) -> usize {
        self.frames.get() + usize::from(self.in_transit.get())
    }

    /// Takes the next queued item.
    pub fn pop(&self) -> Option<Outgoing> {
        let item = self.queue.borrow_mut().pop_front();
        if let Some(Outgoing::Frame(frame)) = &item {
            self.frames.set(self.frames.get() - 1);
            self.bytes.set(self.bytes.get() - frame.len());
        }
        item
    }

    /// A close asked for by the shard (timeouts, shutdown), if any.
    pub fn close_requested(&self) -> Option<(u16, &'static str)> {
        self.close_requested.get()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }

    /// Whether frames were refused because the client reads too slowly.
    pub fn overflowed(&self) -> bool {
        self.overflowed.get()
    }

    /// Frames refused so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_beyond_the_limit_overflow_but_controls_pass() {
        let mb = Mailbox::new(2, Instant::now());
        mb.flush_blocked.set(true);
        for _ in 0..3 {
            mb.push_frame(Frame::Binary(Bytes::from_static(b"x")));
        }
        mb.push_control(Control::Left);
        assert!(mb.overflowed());
        assert_eq!(mb.dropped(), 1);
        assert!(matches!(mb.pop(), Some(Outgoing::Frame(_))));
        assert!(matches!(mb.pop(), Some(Outgoing::Frame(_))));
        assert!(matches!(mb.pop(), Some(Outgoing::Control(Control::Left))));
        assert!(mb.pop().is_none());
        // Draining makes room again.
        mb.push_frame(Frame::Binary(Bytes::from_static(b"y")));
        assert!(matches!(mb.pop(), Some(Outgoing::Frame(_))));
    }

    #[test]
    fn a_frame_in_transit_counts_as_unwritten() {
        let mb = Mailbox::new(4, Instant::now());
        mb.push_frame(Frame::Binary(Bytes::from_static(b"a")));
        mb.push_frame(Frame::Binary(Bytes::from_static(b"b")));
        assert_eq!(mb.unwritten_frames(), 2);
        assert!(matches!(mb.pop(), Some(Outgoing::Frame(_))));
        mb.set_in_transit(true);
        // Taken off the queue but not yet accepted by the transport: still unwritten.
        assert_eq!(mb.unwritten_frames(), 2);
        mb.set_in_transit(false);
        assert_eq!(mb.unwritten_frames(), 1);
    }

    #[test]
    fn a_burst_to_a_reading_client_is_not_an_overflow() {
        let mb = Mailbox::new(2, Instant::now());
        for _ in 0..2 * HARD_LIMIT_FACTOR {
            mb.push_frame(Frame::Binary(Bytes::from_static(b"x")));
        }
        assert!(!mb.overflowed());
        mb.push_frame(Frame::Binary(Bytes::from_static(b"x")));
        assert!(mb.overflowed(), "the hard limit still bounds memory");
    }
}
