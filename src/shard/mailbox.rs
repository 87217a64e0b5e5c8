//! A connection's inbox on its own shard, the end of the delivery side: frames to write and
//! state changes to apply, in the order they were produced. Owners on any shard reach it through
//! the shard's session table; the connection task (`net::conn`) drains it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use super::event_id::{Delivered, EventId};
use super::owner::Lost;
use crate::protocol::{Frame, GameDataEncoding, PlayerId, RoomId};
use crate::signal::Signal;

/// How many times the limit a queue may reach while its client is still taking writes.
const HARD_LIMIT_FACTOR: usize = 8;
/// Entries a queue may keep room for once empty; beyond it the room is given back.
const SHRINK_ABOVE: usize = 256;
/// Queued bytes that count as full while the client takes no writes.
const SOFT_BYTES: usize = 8 << 20;

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
    /// Cluster mode: peer node `peer` (`None`: every other node) is lost to this one, as
    /// `how` says; a session whose room lives there lets go of it (`Session::on_home_lost`).
    HomeLost { peer: Option<u32>, how: Lost },
    /// Cluster mode: the session's pending join, spectate or reconnect went on to peer node
    /// `peer` (its room's home) as request `ticket`.
    Forwarded { peer: u32, ticket: u64 },
    /// Cluster mode: forwarded request `ticket` had no answer in time.
    ForwardExpired { ticket: u64 },
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
    /// Queued items, each frame with its room event id (`NONE`: not a room event).
    queue: RefCell<VecDeque<(Outgoing, EventId)>>,
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
    /// The event id of the frame last taken off the queue.
    transit_event: Cell<EventId>,
    /// Bytes the transport accepted so far (counted by `net::counted`).
    transport_bytes: RefCell<Rc<Cell<u64>>>,
    /// Bytes of the frames handed to the transport so far, as they go on the wire.
    fed_bytes: Cell<u64>,
    /// `(end offset, event)` of the room events handed to the transport since its last
    /// completed flush: not yet known to have left whole. A flush settles them all at once.
    in_flight: RefCell<Vec<(u64, EventId)>>,
    /// The room events that left whole, lane by lane: what a replay after a drop leaves out
    /// (decision 3).
    delivered: RefCell<Delivered>,
    /// While a flush window is open, a frame wakes the connection task only once this many
    /// bytes are queued (0: every frame wakes it). See [`Mailbox::quiet_wakes_below`].
    quiet_below: Cell<usize>,
    /// Raised whenever something is queued (a frame in an open flush window: only when the
    /// window must end early).
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
            transit_event: Cell::new(EventId::NONE),
            transport_bytes: RefCell::new(Rc::new(Cell::new(0))),
            fed_bytes: Cell::new(0),
            in_flight: RefCell::new(Vec::new()),
            delivered: RefCell::new(Delivered::none()),
            quiet_below: Cell::new(0),
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
        self.push_event(frame, EventId::NONE);
    }

    /// Queues a frame that is room event `event` (see [`Mailbox::push_frame`]).
    pub fn push_event(&self, frame: Frame, event: EventId) {
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
            self.queue
                .borrow_mut()
                .push_back((Outgoing::Frame(frame), event));
        }
        // In an open flush window the task has nothing to do with one more frame until the
        // window's timer ends it: no wake, so no poll of the task (and its timer) per frame.
        let quiet = self.bytes.get() < self.quiet_below.get()
            && self.frames.get() < self.limit
            && !self.overflowed.get();
        if !quiet {
            self.signal.raise();
        }
    }

    /// A flush window opened (`bytes` > 0) or ended (0): while it is open, frames wake the
    /// connection task only once `bytes` or the frame limit are queued, or the queue
    /// overflowed, the points where the window must end early. Controls always wake it.
    pub fn quiet_wakes_below(&self, bytes: usize) {
        self.quiet_below.set(bytes);
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
            .push_back((Outgoing::Control(control), EventId::NONE));
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

    /// Shares the count of bytes the connection's transport accepted (`net::counted`).
    pub fn count_transport(&self, bytes: Rc<Cell<u64>>) {
        *self.transport_bytes.borrow_mut() = bytes;
    }

    /// The frame last taken off the queue is handed to the transport, `wire_len` bytes on the
    /// wire. Its end offset is noted, so a connection that dies before the next flush
    /// completes knows which frames of the batch left whole ([`Mailbox::delivered`]).
    pub fn feeding(&self, wire_len: usize) {
        let end = self.fed_bytes.get() + wire_len as u64;
        self.fed_bytes.set(end);
        let event = self.transit_event.replace(EventId::NONE);
        if !event.is_none() {
            self.in_flight.borrow_mut().push((end, event));
        }
    }

    /// The transport completed a flush: every byte handed to it so far was accepted, so the
    /// batch's room events left whole. Settles the batch in one step instead of per frame.
    pub fn flushed(&self) {
        let mut in_flight = self.in_flight.borrow_mut();
        if !in_flight.is_empty() {
            let mut delivered = self.delivered.borrow_mut();
            for &(_, event) in in_flight.iter() {
                delivered.note(event);
            }
            in_flight.clear();
        }
        // After a burst, give back what the queues grew to, so a connection that goes idle
        // does not keep its peak (issue 10). Only past a size no steady flow reaches, so the
        // hot path never frees and regrows.
        if in_flight.capacity() > SHRINK_ABOVE {
            in_flight.shrink_to(0);
        }
        let mut queue = self.queue.borrow_mut();
        if queue.capacity() > SHRINK_ABOVE && queue.is_empty() {
            queue.shrink_to(0);
        }
    }

    /// Bytes the transport writes on its own (the answer to a WebSocket ping).
    pub fn feeding_untracked(&self, wire_len: usize) {
        self.fed_bytes.set(self.fed_bytes.get() + wire_len as u64);
    }

    /// Moves the events whose last byte the transport accepted out of `in_flight` (for a
    /// batch whose flush never completed: the connection is being read as it dropped).
    fn settle_delivered(&self) {
        let sent = self.transport_bytes.borrow().get();
        let mut in_flight = self.in_flight.borrow_mut();
        let whole = in_flight.partition_point(|&(end, _)| end <= sent);
        let mut delivered = self.delivered.borrow_mut();
        for (_, event) in in_flight.drain(..whole) {
            delivered.note(event);
        }
    }

    /// The room events whose every byte the transport accepted, lane by lane (none since the
    /// last [`Mailbox::reset_delivered`]).
    pub fn delivered(&self) -> Delivered {
        self.settle_delivered();
        self.delivered.borrow().clone()
    }

    /// The session took a seat in a room: numbers from an earlier room mean nothing there.
    pub fn reset_delivered(&self) {
        self.settle_delivered();
        self.in_flight.borrow_mut().clear();
        *self.delivered.borrow_mut() = Delivered::none();
    }

    /// Frames that will never be written if the connection ends now: the queued ones and the
    /// one being handed to the transport, if any.
    pub fn unwritten_frames(&self) -> usize {
        self.frames.get() + usize::from(self.in_transit.get())
    }

    /// Takes the next queued item.
    pub fn pop(&self) -> Option<Outgoing> {
        let (item, event) = self.queue.borrow_mut().pop_front()?;
        if let Outgoing::Frame(frame) = &item {
            self.transit_event.set(event);
            self.frames.set(self.frames.get() - 1);
            self.bytes.set(self.bytes.get() - frame.len());
        }
        Some(item)
    }

    /// A close asked for by the shard (timeouts, shutdown), if any.
    pub fn close_requested(&self) -> Option<(u16, &'static str)> {
        self.close_requested.get()
    }

    /// Frames queued, and their bytes.
    pub fn queued(&self) -> (usize, usize) {
        (self.frames.get(), self.bytes.get())
    }

    /// Whether a control waits in the queue (everything else queued is a frame).
    pub fn has_control(&self) -> bool {
        self.queue.borrow().len() > self.frames.get()
    }

    /// Frames the queue takes before it may count as full.
    pub fn limit(&self) -> usize {
        self.limit
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
    use bytes::Bytes;

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
    fn an_event_is_delivered_once_its_last_byte_left() {
        let mb = Mailbox::new(4, Instant::now());
        let sent = Rc::new(Cell::new(0));
        mb.count_transport(sent.clone());
        mb.push_event(Frame::Binary(Bytes::from_static(b"a")), EventId::owner(7));
        mb.push_frame(Frame::Binary(Bytes::from_static(b"reply")));
        mb.push_event(Frame::Binary(Bytes::from_static(b"b")), EventId::owner(8));
        for _ in 0..3 {
            assert!(matches!(mb.pop(), Some(Outgoing::Frame(_))));
            mb.feeding(10);
        }
        assert_eq!(mb.delivered().owner_seq(), 0, "nothing left yet");
        sent.set(9);
        assert_eq!(mb.delivered().owner_seq(), 0, "event 7 is not whole");
        sent.set(29);
        assert_eq!(mb.delivered().owner_seq(), 7, "a reply carries no number");
        sent.set(30);
        assert_eq!(mb.delivered().owner_seq(), 8);
        mb.reset_delivered();
        assert_eq!(mb.delivered(), Delivered::none());
    }

    #[test]
    fn a_completed_flush_settles_its_whole_batch() {
        let mb = Mailbox::new(4, Instant::now());
        let sent = Rc::new(Cell::new(0));
        mb.count_transport(sent.clone());
        for seq in [3, 4] {
            mb.push_event(Frame::Binary(Bytes::from_static(b"a")), EventId::owner(seq));
            assert!(matches!(mb.pop(), Some(Outgoing::Frame(_))));
            mb.feeding(10);
        }
        sent.set(20);
        mb.flushed();
        assert_eq!(mb.delivered().owner_seq(), 4);
        // The next batch dies half-way: only its first event left whole.
        for seq in [5, 6] {
            mb.push_event(Frame::Binary(Bytes::from_static(b"a")), EventId::owner(seq));
            assert!(matches!(mb.pop(), Some(Outgoing::Frame(_))));
            mb.feeding(10);
        }
        sent.set(35);
        assert_eq!(mb.delivered().owner_seq(), 5);
    }

    /// Whether the signal was raised since the last check (and lowers it).
    fn raised(mb: &Mailbox) -> bool {
        use std::future::Future;
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        std::pin::pin!(mb.signal.wait()).poll(&mut cx).is_ready()
    }

    fn push(mb: &Mailbox, data: &'static [u8]) {
        mb.push_frame(Frame::Binary(Bytes::from_static(data)));
    }

    #[test]
    fn an_open_window_wakes_the_task_only_where_it_must_end() {
        let mb = Mailbox::new(3, Instant::now());
        push(&mb, b"a");
        assert!(raised(&mb), "no window: every frame wakes");
        mb.quiet_wakes_below(4);
        push(&mb, b"b");
        assert!(!raised(&mb), "a frame in an open window does not");
        mb.push_control(Control::Left);
        assert!(raised(&mb), "a control always does");
        while mb.pop().is_some() {}
        push(&mb, b"cccc");
        assert!(raised(&mb), "the bytes threshold reached");
        assert!(mb.pop().is_some());
        mb.quiet_wakes_below(1 << 20);
        push(&mb, b"d");
        push(&mb, b"e");
        assert!(!raised(&mb));
        push(&mb, b"f");
        assert!(raised(&mb), "the frame limit reached");
        mb.quiet_wakes_below(0);
        push(&mb, b"g");
        assert!(raised(&mb), "the window ended: every frame wakes again");
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
