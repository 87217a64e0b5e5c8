//! One shard: an executor pinned to a core that owns its connections, the rooms whose keys hash
//! to it, and the room counts of the games that hash to it. Shards talk only through batched
//! messages (`messages.rs`); when the destination is the shard itself the message is handled
//! in place, with no hop.

pub mod boot;
mod gatekeeper;
pub use gatekeeper::{IpSlot, IpVerdict};
mod members;
pub mod messages;
mod outbox;
mod owner;
pub mod routing;
pub mod scrape;
mod sweep;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Instant;

use ahash::AHashMap;
use async_tungstenite::tungstenite::Utf8Bytes;
use glommio::TaskQueueHandle;

use crate::auth::AppRateLimiter;
use crate::config::Config;
use crate::limits::IpTable;
use crate::metrics::{DashboardCache, Op, ShardMetrics};
use crate::net::edge::Edge;
use crate::protocol::ServerMessage;
use crate::protocol::SpectatorStateChangeReason;
use crate::protocol::codec::encode_server;
use crate::protocol::validation::PlayerNameRules;
use crate::room::LeaveKind;
use crate::room::SessionAddr;
use crate::session::mailbox::{Control, Frame, Mailbox};
use messages::{RoomOp, ShardMsg};
use outbox::Outbox;
use owner::RoomTable;

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
    /// Trusted proxies and the process-wide connection cap, shared by all shards.
    pub edge: Arc<Edge>,
    next_slot: Cell<u64>,
    /// Rooms this shard owns.
    rooms: RefCell<RoomTable>,
    /// Live rooms per game, for the games this shard counts.
    game_rooms: RefCell<AHashMap<String, usize>>,
    /// One outbox per peer shard (`None` at our own index).
    outboxes: Vec<Option<Rc<Outbox>>>,
    /// Owner work for this shard waiting to be handled (see `dispatch_local`).
    local_queue: RefCell<VecDeque<ShardMsg>>,
    draining: Cell<bool>,
    /// Connection counts and join quotas of the IPs this shard owns.
    pub ips: RefCell<IpTable>,
    /// Per-(app, IP) `Authenticate` windows of the IPs this shard owns.
    pub app_limiter: RefCell<AppRateLimiter>,
    /// Player-name rules from `protocol.player_name_validation`.
    pub name_rules: PlayerNameRules,
    /// CORS headers of plain HTTP responses, from `security.cors_origins`.
    pub cors: crate::net::cors::CorsPolicy,
    /// This shard's counters and histograms.
    pub metrics: ShardMetrics,
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
        Shard {
            index,
            count,
            config,
            sessions: RefCell::new(AHashMap::new()),
            waiting: RefCell::new(AHashMap::new()),
            edge: Arc::new(Edge::open()),
            next_slot: Cell::new(1),
            rooms: RefCell::new(RoomTable::default()),
            game_rooms: RefCell::new(AHashMap::new()),
            outboxes,
            local_queue: RefCell::new(VecDeque::new()),
            draining: Cell::new(false),
            app_limiter: RefCell::new(AppRateLimiter::new()),
            ips: RefCell::new(IpTable::default()),
            name_rules,
            cors,
            metrics: ShardMetrics::new(count as usize),
            dashboard: RefCell::new(dashboard),
            me: RefCell::new(Weak::new()),
            background: Cell::new(None),
            scrapes: RefCell::new(AHashMap::new()),
            next_scrape: Cell::new(1),
            mailbox_limit,
        }
    }

    /// Shares the server's edge (trusted proxies, connection cap) with this shard.
    pub fn with_edge(mut self, edge: Arc<Edge>) -> Self {
        self.edge = edge;
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

    /// How many connections this shard holds.
    pub fn session_count(&self) -> usize {
        self.sessions.borrow().len()
    }

    /// Sends a message to shard `to`: queued in that peer's outbox for the next batch, or, when
    /// `to` is this shard, handled here with no hop.
    pub fn send(&self, to: u32, msg: ShardMsg) {
        match self.outboxes.get(to as usize) {
            Some(Some(outbox)) => {
                self.metrics.sent(to, 1);
                self.metrics.count(|c| c.cross_shard_sent += 1);
                outbox.push(msg);
            }
            _ => self.dispatch_local(msg),
        }
    }

    /// Handles a message addressed to this shard. Deliveries go straight to mailboxes. Owner
    /// work goes through a local queue drained by whoever is first in, so a handler that sends
    /// to its own shard while it holds a room never re-enters the room table.
    pub fn dispatch_local(&self, msg: ShardMsg) {
        let msg = match msg {
            ShardMsg::Deliver {
                slots,
                frame,
                relayed_at,
            } => {
                let mut gone = 0;
                {
                    let sessions = self.sessions.borrow();
                    for slot in slots {
                        match sessions.get(&slot) {
                            Some(mailbox) => mailbox.push_frame(frame.clone()),
                            None => gone += 1,
                        }
                    }
                }
                self.count_gone(gone);
                if let Some(since) = relayed_at {
                    self.metrics.record_since(Op::GameDataRelay, since);
                }
                return;
            }
            ShardMsg::Control { slot, control } => {
                self.control_local(slot, control);
                return;
            }
            owner_work => owner_work,
        };
        self.local_queue.borrow_mut().push_back(msg);
        if self.draining.replace(true) {
            return;
        }
        loop {
            let next = self.local_queue.borrow_mut().pop_front();
            match next {
                Some(msg) => self.handle_owner_msg(msg),
                None => break,
            }
        }
        self.draining.set(false);
    }

    /// Applies a control to a local session. A join or spectate that completes after its
    /// session went away is undone, so no ghost member stays behind.
    fn control_local(&self, slot: u64, control: Control) {
        let session = self.sessions.borrow().get(&slot).cloned();
        let mailbox = session.or_else(|| self.waiting.borrow().get(&slot).cloned());
        let from = SessionAddr {
            shard: self.index,
            slot,
        };
        match (mailbox, control) {
            (Some(mailbox), control) => mailbox.push_control(control),
            (None, Control::Joined { room, player }) => self.send(
                room.owner,
                ShardMsg::RoomOp {
                    room_id: room.id,
                    player,
                    from,
                    op: RoomOp::Leave(LeaveKind::Disconnected),
                },
            ),
            (None, Control::Spectating { room, spectator }) => self.send(
                room.owner,
                ShardMsg::RoomOp {
                    room_id: room.id,
                    player: spectator,
                    from,
                    op: RoomOp::StopSpectating(SpectatorStateChangeReason::Disconnected),
                },
            ),
            (None, control) => self.release_unclaimed(control),
        }
    }

    /// Gives back what an admission answer took for a connection that is gone.
    fn release_unclaimed(&self, control: Control) {
        match control {
            Control::Admitted { ip } => self.send(
                routing::ip_owner(&ip, self.count),
                ShardMsg::ReleaseConnection { ip },
            ),
            Control::ConnectionRefused {
                ip, answer: true, ..
            } => self.send(
                routing::ip_owner(&ip, self.count),
                ShardMsg::ReleaseRefusal { ip },
            ),
            _ => {}
        }
    }

    /// Writes `frame` to one session, wherever it lives.
    pub fn deliver(&self, to: SessionAddr, frame: Frame) {
        self.fanout(std::iter::once(to), &frame, None);
    }

    /// Writes `frame` to many sessions: local ones directly, and one `Deliver` per other shard.
    /// `relayed_at` marks relayed game data, whose latency is recorded where it is delivered.
    pub fn fanout(
        &self,
        recipients: impl Iterator<Item = SessionAddr>,
        frame: &Frame,
        relayed_at: Option<Instant>,
    ) {
        let mut remote: Vec<(u32, Vec<u64>)> = Vec::new();
        let mut local = false;
        let mut gone = 0;
        {
            let sessions = self.sessions.borrow();
            for to in recipients {
                if to.shard == self.index {
                    match sessions.get(&to.slot) {
                        Some(mailbox) => {
                            mailbox.push_frame(frame.clone());
                            local = true;
                        }
                        None => gone += 1,
                    }
                } else if let Some((_, slots)) = remote.iter_mut().find(|(s, _)| *s == to.shard) {
                    slots.push(to.slot);
                } else {
                    remote.push((to.shard, vec![to.slot]));
                }
            }
        }
        self.count_gone(gone);
        if let (true, Some(since)) = (local, relayed_at) {
            self.metrics.record_since(Op::GameDataRelay, since);
        }
        for (shard, slots) in remote {
            self.send(
                shard,
                ShardMsg::Deliver {
                    slots,
                    frame: frame.clone(),
                    relayed_at,
                },
            );
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
            ShardMsg::Control {
                slot: to.slot,
                control,
            },
        );
    }

    /// Pushes `control` to every local session (shutdown).
    pub fn control_all_local(&self, control: Control) {
        for mailbox in self.sessions.borrow().values() {
            mailbox.push_control(control.clone());
        }
    }

    /// Every local mailbox, for sweeps.
    pub(crate) fn mailboxes(&self) -> Vec<Rc<Mailbox>> {
        self.sessions.borrow().values().cloned().collect()
    }
}

/// Serialises a server message once into a text frame.
pub fn text_frame(msg: &ServerMessage) -> Frame {
    frame_from_json(encode_server(msg))
}

/// Wraps JSON bytes we produced ourselves into a text frame.
pub fn frame_from_json(bytes: bytes::Bytes) -> Frame {
    // Our encoders only ever emit UTF-8, so the check cannot fail; it runs once per message,
    // not per recipient.
    match Utf8Bytes::try_from(bytes) {
        Ok(text) => Frame::Text(text),
        Err(_) => Frame::Text(Utf8Bytes::from_static(
            r#"{"type":"Error","data":{"message":"Internal error","error_code":"INTERNAL_ERROR"}}"#,
        )),
    }
}
