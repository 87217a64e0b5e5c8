//! One shard: an executor pinned to a core that owns its connections, the rooms whose keys hash
//! to it, and the room counts of the games that hash to it. Shards talk only through batched
//! messages (`messages.rs`); when the destination is the shard itself the message is handled
//! in place, with no hop.
//!
//! The room side is a sans-IO machine (`owner/`); this module is its driver: it feeds the
//! machine commands and routes the outputs it returns to mailboxes (`mailbox.rs`) and peer
//! outboxes (`outbox.rs`).

pub mod boot;
pub mod control;
pub mod drain;
mod gatekeeper;
pub use gatekeeper::{IpSlot, IpVerdict};
mod deadlines;
pub mod event_id;
pub mod mailbox;
pub mod messages;
mod outbox;
pub mod owner;
mod relay;
pub mod remote;
pub mod replica;
pub mod routing;
pub mod scrape;
mod sweep;
mod timer;

#[cfg(test)]
mod relay_tests;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Instant;

use ahash::AHashMap;
use glommio::TaskQueueHandle;

use crate::auth::AppRateLimiter;
use crate::config::Config;
use crate::limits::IpTable;
use crate::metrics::{DashboardCache, Op, ShardMetrics};
use crate::net::edge::Edge;
use crate::protocol::validation::PlayerNameRules;
use crate::protocol::{Frame, PlayerId, RoomId, ServerMessage, SpectatorStateChangeReason};
use crate::room::{LeaveKind, SessionAddr};
use event_id::EventId;
use mailbox::{Control, Mailbox};
use messages::{AdmissionMsg, Delivery, OwnerCmd, RoomOp, ShardMsg};
use outbox::Outbox;
use owner::{Output, Outputs, Owner};
use timer::OwnerTimer;

/// A shard's state. Lives in an `Rc` on its executor thread; nothing in it is shared with
/// another thread.
pub struct Shard {
    /// This shard's index, 0-based.
    pub index: u32,
    /// How many shards the process runs.
    pub count: u32,
    pub config: Arc<Config>,
    /// Local connections by slot.
    sessions: RefCell<AHashMap<u64, Rc<Mailbox>>>,
    /// Connections still in their handshake, waiting for their IP owner's answer, by slot
    /// (the same slot numbers as `sessions`; see `gatekeeper::admit_ip`).
    waiting: RefCell<AHashMap<u64, Rc<Mailbox>>>,
    /// When each local connection's liveness must next be checked (`sweep.rs`).
    liveness: RefCell<deadlines::DeadlineQueue<u64>>,
    /// Trusted proxies and the process-wide connection cap, shared by all shards.
    pub edge: Arc<Edge>,
    next_slot: Cell<u64>,
    /// The rooms this shard owns and the games it counts, as a sans-IO machine.
    owner: RefCell<Owner>,
    /// The owner machine's timer (`timer.rs`), re-armed after each batch of owner commands.
    timer: OwnerTimer,
    /// Replicas of the rooms this shard has members in, for relaying (`relay.rs`).
    replicas: relay::Replicas,
    /// One outbox per peer shard (`None` at our own index).
    outboxes: Vec<Option<Rc<Outbox>>>,
    /// Connection counts and join quotas of the IPs this shard owns.
    pub ips: RefCell<IpTable>,
    /// Per-(app, IP) `Authenticate` windows of the IPs this shard owns.
    pub app_limiter: RefCell<AppRateLimiter>,
    /// Player-name rules from `protocol.player_name_validation`.
    pub name_rules: PlayerNameRules,
    /// CORS headers of plain HTTP responses, from `security.cors_origins`.
    pub cors: crate::net::cors::CorsPolicy,
    /// This shard's counters and histograms, shared with the owner machine.
    pub metrics: Rc<ShardMetrics>,
    /// The dashboard cache behind `/metrics`, kept by shard 0 only.
    pub dashboard: RefCell<Option<DashboardCache>>,
    /// This shard itself, for work it spawns onto its own executor.
    me: RefCell<Weak<Shard>>,
    /// The low-priority task queue (metrics reports, sweeps), once the executor runs.
    background: Cell<Option<TaskQueueHandle>>,
    /// Scrapes started here, waiting for shard reports.
    scrapes: RefCell<AHashMap<u64, Rc<scrape::Gather>>>,
    next_scrape: Cell<u64>,
    /// Frames a connection may have queued before it counts as too slow (decision 10).
    pub mailbox_limit: usize,
    /// Whether the shard drains (decision 20), and the wake-ups of its drain tasks.
    pub drain: drain::DrainState,
    /// The link to the cluster bridge, when `cluster.nats_url` is set.
    pub cluster: Option<Rc<crate::cluster::ShardLink>>,
    /// Room traffic for other nodes, waiting for this turn's batches (`remote.rs`).
    remote: remote::RemoteOut,
}

impl Shard {
    /// A shard's state, not yet running: `boot::run` drives it on its executor. Public so
    /// benchmarks can exercise delivery without sockets.
    pub fn new(index: u32, count: u32, config: Arc<Config>) -> Self {
        let outboxes = (0..count)
            .map(|i| (i != index).then(|| Rc::new(Outbox::default())))
            .collect();
        // 0.1.0 queued 4 × batch_size frames per connection and dropped the rest. We disconnect
        // instead, so the bound only has to catch clients that stopped reading: keep it generous
        // enough that a burst in a 100-player room never trips it.
        let mailbox_limit = (config.websocket.batch_size.max(1) * 4).max(1024);
        let name_rules = config.protocol.player_name_rules();
        let cors = crate::net::cors::CorsPolicy::from_config(&config.security.cors_origins);
        let dashboard = (index == 0).then(|| DashboardCache::new(&config.metrics));
        let metrics = Rc::new(ShardMetrics::new(count as usize));
        let owner = Owner::new(index, count, config.clone(), metrics.clone());
        Shard {
            index,
            count,
            config,
            sessions: RefCell::new(AHashMap::new()),
            waiting: RefCell::new(AHashMap::new()),
            liveness: RefCell::default(),
            edge: Arc::new(Edge::open()),
            next_slot: Cell::new(1),
            owner: RefCell::new(owner),
            timer: OwnerTimer::default(),
            replicas: relay::Replicas::default(),
            outboxes,
            app_limiter: RefCell::new(AppRateLimiter::new()),
            ips: RefCell::new(IpTable::default()),
            name_rules,
            cors,
            metrics,
            dashboard: RefCell::new(dashboard),
            me: RefCell::new(Weak::new()),
            background: Cell::new(None),
            scrapes: RefCell::new(AHashMap::new()),
            next_scrape: Cell::new(1),
            mailbox_limit,
            drain: drain::DrainState::default(),
            cluster: None,
            remote: remote::RemoteOut::default(),
        }
    }

    /// Shares the server's edge (trusted proxies, connection cap) with this shard.
    pub fn with_edge(mut self, edge: Arc<Edge>) -> Self {
        self.edge = edge;
        self
    }

    /// Connects this shard to the cluster bridge (`None`: a single process).
    pub fn with_cluster(mut self, link: Option<crate::cluster::ShardLink>) -> Self {
        if let Some(link) = &link {
            let view = owner::ClusterView {
                node: link.node_id().into(),
                instance: link.instance(),
            };
            self.owner.get_mut().join_cluster(view);
        }
        self.cluster = link.map(Rc::new);
        self
    }

    /// Lets the shard spawn its own low-priority work on `background` (called once at boot).
    pub fn attach(self: &Rc<Self>, background: TaskQueueHandle) {
        *self.me.borrow_mut() = Rc::downgrade(self);
        self.background.set(Some(background));
    }

    /// Registers a new local connection and returns its address and mailbox.
    pub fn register(&self, now: Instant) -> (SessionAddr, Rc<Mailbox>) {
        let slot = self.take_slot();
        let mailbox = Rc::new(Mailbox::new(self.mailbox_limit, now));
        self.sessions.borrow_mut().insert(slot, mailbox.clone());
        // Due at once: the next sweep files it at its real deadline, once the session has
        // set (or not) an auth deadline.
        self.liveness.borrow_mut().file(now, slot);
        self.metrics.count(|c| c.total_connections += 1);
        self.metrics.gauge(|g| g.active_connections += 1);
        (
            SessionAddr {
                shard: self.index,
                slot,
            },
            mailbox,
        )
    }

    /// A fresh slot number for a local connection.
    fn take_slot(&self) -> u64 {
        let slot = self.next_slot.get();
        self.next_slot.set(slot + 1);
        slot
    }

    /// Forgets a local connection; later deliveries to it are dropped (and counted). The frames
    /// it refused and those still queued, never to be written, count as dropped too: a slow
    /// consumer that is cut off loses both (decision 18).
    pub fn unregister(&self, addr: SessionAddr) {
        if let Some(mailbox) = self.sessions.borrow_mut().remove(&addr.slot) {
            let lost = mailbox.dropped() + mailbox.unwritten_frames() as u64;
            self.metrics.count(|c| {
                c.disconnections += 1;
                c.websocket_messages_dropped += lost;
            });
            self.metrics.gauge(|g| g.active_connections -= 1);
        }
    }

    /// Takes the batch waiting for peer `to`, which then never leaves by the channel: for tests
    /// and benchmarks that run shards without executors and ferry batches by hand.
    #[doc(hidden)]
    pub fn take_batch(&self, to: u32) -> Vec<ShardMsg> {
        match self.outboxes.get(to as usize) {
            Some(Some(outbox)) => outbox.take(),
            _ => Vec::new(),
        }
    }

    /// How many rooms this shard holds a membership replica of.
    pub fn replica_count(&self) -> usize {
        self.replicas.len()
    }

    /// How many relays wait here for a newer replica of their room (`relay.rs`).
    pub fn held_relays(&self) -> usize {
        self.replicas.held_len()
    }

    /// How many connections this shard holds.
    pub fn session_count(&self) -> usize {
        self.sessions.borrow().len()
    }

    /// Sends a message to shard `to`: queued in that peer's outbox for the next batch, or, when
    /// `to` is this shard, handled here with no hop.
    pub fn send(&self, to: u32, msg: ShardMsg) {
        if let Some((peer, shard)) = routing::split_remote(to) {
            return self.send_remote(peer, shard, msg);
        }
        match self.outboxes.get(to as usize) {
            Some(Some(outbox)) => {
                self.metrics.sent(to, 1);
                self.metrics.count(|c| c.cross_shard_sent += 1);
                outbox.push(msg);
            }
            _ => self.dispatch_local(msg),
        }
    }

    /// Handles a message addressed to this shard, by plane.
    pub fn dispatch_local(&self, msg: ShardMsg) {
        match msg {
            ShardMsg::Owner(OwnerCmd::Record { relay, raw }) => {
                // The owner's copy of relayed data is also this shard's delivery. The owner's
                // own shard has its replica at once, never one on its way: nothing waits.
                self.deliver_owner_copy(&relay);
                self.drive_owner(OwnerCmd::Record { relay, raw });
            }
            ShardMsg::Owner(cmd) => self.drive_owner(cmd),
            ShardMsg::Delivery(Delivery::Frames {
                slots,
                frame,
                relayed_at,
                event,
            }) => self.deliver_frames(&slots, &frame, relayed_at, event),
            ShardMsg::Delivery(Delivery::Relay(relay)) => self.deliver_relay(&relay),
            ShardMsg::Delivery(Delivery::Replica {
                room_id,
                epoch,
                replica,
            }) => self.replace_replica(room_id, epoch, replica),
            ShardMsg::Delivery(Delivery::Control { slot, control }) => {
                if let Some((to, cmd)) = self.control_local(slot, control) {
                    self.send(to, ShardMsg::Owner(cmd));
                }
            }
            ShardMsg::Admission(msg) => self.admission(msg),
            ShardMsg::Telemetry(msg) => self.telemetry(msg),
        }
    }

    /// Feeds the owner machine one command, then routes its outputs until it has nothing left.
    ///
    /// Ordering: outputs are routed in the order the machine produced them, and every route
    /// keeps order per destination — a local mailbox is a FIFO, and a peer's outbox is a FIFO
    /// shipped in batches over one FIFO channel per shard pair. So a control the machine queued
    /// before a frame (`Joined` before `RoomJoined`) reaches its session first, wherever the
    /// session lives. Owner work addressed to this shard (a forward, or the undo of a join whose
    /// session is gone) waits in `pending` and is fed in only after every output of the current
    /// command has been routed, exactly as if it had crossed to another shard. The machine is
    /// never borrowed while outputs are routed, so routing cannot re-enter it.
    fn drive_owner(&self, cmd: OwnerCmd) {
        self.owner.borrow_mut().handle(Instant::now(), cmd);
        self.drain_owner();
    }

    /// Routes the owner machine's outputs, feeding it the owner work they address to this
    /// shard, until it has nothing left (see `drive_owner` for the order this keeps).
    fn drain_owner(&self) {
        let mut pending = VecDeque::new();
        loop {
            // The borrow ends with the statement: routing never runs while it is held.
            let output = self.owner.borrow_mut().poll_output();
            match output {
                Some(output) => self.route(output, &mut pending),
                None => match pending.pop_front() {
                    Some(cmd) => self.owner.borrow_mut().handle(Instant::now(), cmd),
                    None => break,
                },
            }
        }
        // The commands may have brought a deadline forward (a kept seat, an emptied room).
        self.timer.rearm(self.owner.borrow().poll_timeout());
        self.drain.owner_worked();
    }

    /// Puts a frame in this shard's mailboxes for `slots`. Relayed game data is timed here,
    /// where it is delivered (whether it came from this shard's owner or crossed shards), and
    /// only when some mailbox took it.
    fn deliver_frames(
        &self,
        slots: &[u64],
        frame: &Frame,
        relayed_at: Option<Instant>,
        event: EventId,
    ) {
        let delivered = self.deliver_local(slots, frame, event);
        if let (true, Some(since)) = (delivered, relayed_at) {
            self.metrics.record_since(Op::GameDataRelay, since);
        }
    }

    /// Routes one output of the owner machine; owner work for this shard goes to `pending`.
    fn route(&self, output: Output, pending: &mut VecDeque<OwnerCmd>) {
        match output {
            Output::Deliver {
                shard,
                slots,
                frame,
                relayed_at,
                event,
            } => {
                if shard == self.index {
                    self.deliver_frames(&slots, &frame, relayed_at, event);
                } else {
                    let frames = Delivery::Frames {
                        slots,
                        frame,
                        relayed_at,
                        event,
                    };
                    self.send(shard, ShardMsg::Delivery(frames));
                }
            }
            Output::Publish {
                shard,
                room_id,
                epoch,
                replica,
            } => {
                if shard == self.index {
                    self.replace_replica(room_id, epoch, replica);
                } else {
                    let update = Delivery::Replica {
                        room_id,
                        epoch,
                        replica,
                    };
                    self.send(shard, ShardMsg::Delivery(update));
                }
            }
            Output::Control { to, control } if to.shard == self.index => {
                if let Some((owner, cmd)) = self.control_local(to.slot, control) {
                    self.forward(owner, cmd, pending);
                }
            }
            Output::Control { to, control } => self.control(to, control),
            Output::Forward { to, cmd } => self.forward(to, cmd, pending),
            Output::ForwardHome { home, cmd } => pending.extend(self.forward_home(home, cmd)),
            Output::Directory { token, request } => {
                pending.extend(self.ask_directory(token, request))
            }
        }
    }

    /// Owner work for shard `to`: queued in `pending` when that is this shard.
    fn forward(&self, to: u32, cmd: OwnerCmd, pending: &mut VecDeque<OwnerCmd>) {
        if to == self.index {
            pending.push_back(cmd);
        } else {
            self.send(to, ShardMsg::Owner(cmd));
        }
    }

    /// Writes `frame` (room event `event`, or none) to these local sessions; returns whether any
    /// was still here. Frames for sessions that are gone are counted as dropped.
    fn deliver_local(&self, slots: &[u64], frame: &Frame, event: EventId) -> bool {
        let mut gone = 0;
        {
            let sessions = self.sessions.borrow();
            for slot in slots {
                match sessions.get(slot) {
                    Some(mailbox) => mailbox.push_event(frame.clone(), event),
                    None => gone += 1,
                }
            }
        }
        self.count_gone(gone);
        gone < slots.len() as u64
    }

    /// Applies a control to a local session. A join or spectate that completes after its
    /// session went away has to be undone, so no ghost member stays behind: the owner work that
    /// undoes it is returned, for the caller to send to the room's owner.
    fn control_local(&self, slot: u64, control: Control) -> Option<(u32, OwnerCmd)> {
        let session = self.sessions.borrow().get(&slot).cloned();
        let mailbox = session.or_else(|| self.waiting.borrow().get(&slot).cloned());
        let from = SessionAddr {
            shard: self.index,
            slot,
        };
        match (mailbox, control) {
            (Some(mailbox), control) => mailbox.push_control(control),
            (None, Control::Joined { room, player }) => {
                let op = RoomOp::Leave(LeaveKind::Disconnected);
                return Some((room.owner, undo(room.id, player, from, op)));
            }
            (None, Control::Spectating { room, spectator }) => {
                let op = RoomOp::StopSpectating(SpectatorStateChangeReason::Disconnected);
                return Some((room.owner, undo(room.id, spectator, from, op)));
            }
            (None, control) => self.release_unclaimed(control),
        }
        None
    }

    /// Gives back what an admission answer took for a connection that is gone.
    fn release_unclaimed(&self, control: Control) {
        let (ip, msg) = match control {
            Control::Admitted { ip } => (ip, AdmissionMsg::ReleaseConnection { ip }),
            Control::ConnectionRefused {
                ip, answer: true, ..
            } => (ip, AdmissionMsg::ReleaseRefusal { ip }),
            _ => return,
        };
        self.send(routing::ip_owner(&ip, self.count), ShardMsg::Admission(msg));
    }

    /// Writes `frame` to one session, wherever it lives.
    pub fn deliver(&self, to: SessionAddr, frame: Frame) {
        self.fanout(std::iter::once(to), &frame, None);
    }

    /// Writes `frame` to many sessions: local ones directly, and one batch entry per other
    /// shard. `relayed_at` marks relayed game data, whose latency is recorded where it is
    /// delivered. The owner machine groups its relays the same way (`Outputs::fanout`).
    pub fn fanout(
        &self,
        recipients: impl Iterator<Item = SessionAddr>,
        frame: &Frame,
        relayed_at: Option<Instant>,
    ) {
        let mut outputs = Outputs::default();
        outputs.fanout(recipients, frame, relayed_at, EventId::NONE);
        let mut pending = VecDeque::new();
        while let Some(output) = outputs.pop() {
            self.route(output, &mut pending);
        }
    }

    /// Counts frames addressed to connections that closed while the frames were on their way
    /// (say a slow consumer cut off while its room kept relaying to it).
    fn count_gone(&self, gone: u64) {
        if gone > 0 {
            self.metrics.count(|c| c.websocket_messages_dropped += gone);
        }
    }

    /// Tells one session about a state change, wherever it lives.
    pub fn control(&self, to: SessionAddr, control: Control) {
        self.send(
            to.shard,
            ShardMsg::Delivery(Delivery::Control {
                slot: to.slot,
                control,
            }),
        );
    }

    /// Refuses a pending join: the reply, then the control that lets the session read again.
    pub(crate) fn refuse_join(&self, to: SessionAddr, reply: ServerMessage) {
        self.deliver(to, text_frame(&reply));
        self.control(to, Control::JoinRefused);
    }

    /// Pushes `control` to every local session (shutdown).
    pub fn control_all_local(&self, control: Control) {
        for mailbox in self.sessions.borrow().values() {
            mailbox.push_control(control.clone());
        }
    }

    /// The local connections whose liveness check is due at `now`, taken off the queue (the
    /// sweep re-files those still alive with [`Shard::file_liveness`]). Connections gone since
    /// are left out, and their entries end here.
    pub(crate) fn due_liveness(&self, now: Instant) -> Vec<(u64, Rc<Mailbox>)> {
        let due = self.liveness.borrow_mut().take_due(now);
        let sessions = self.sessions.borrow();
        due.into_iter()
            .filter_map(|slot| sessions.get(&slot).map(|m| (slot, m.clone())))
            .collect()
    }

    /// Files local connection `slot` for a liveness check at `at`.
    pub(crate) fn file_liveness(&self, slot: u64, at: Instant) {
        self.liveness.borrow_mut().file(at, slot);
    }

    /// Expires the rooms and seats that are due at `now` (called by the owner timer, `timer.rs`)
    /// and returns the owner's next deadline.
    pub fn expire_rooms(&self, now: Instant) -> Option<Instant> {
        let due = self
            .owner
            .borrow()
            .poll_timeout()
            .is_some_and(|deadline| deadline <= now);
        if due {
            self.owner.borrow_mut().handle_timeout(now);
            self.drain_owner();
        }
        self.owner.borrow().poll_timeout()
    }

    /// Rooms owned here.
    pub fn owned_rooms(&self) -> usize {
        self.owner.borrow().room_count()
    }

    /// Rooms owned here that still have a connected player: what a drain waits for. A room
    /// whose players all dropped only waits for reconnections, which a draining server no
    /// longer accepts.
    pub fn rooms_in_play(&self) -> usize {
        self.owner.borrow().occupied_room_count()
    }
}

/// The owner work that takes a member back out of a room its session never learnt about.
fn undo(room_id: RoomId, player: PlayerId, from: SessionAddr, op: RoomOp) -> OwnerCmd {
    OwnerCmd::RoomOp {
        room_id,
        player,
        from,
        op,
    }
}

pub use crate::protocol::frame::{frame_from_json, text_frame};
