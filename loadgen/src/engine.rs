//! The client side: one single-threaded tokio runtime ("unit") per thread, each owning a
//! disjoint set of rooms and every connection of those rooms, so a unit can tell on its own how
//! many deliveries it expects. A unit obeys [`Cmd`]s from the coordinator and answers with
//! [`Event`]s.
//!
//! Why tokio and not glommio (the server's runtime): a glommio version of this engine, measured
//! against the same server on a quiet machine (1,000 players, 20 msg/s each), kept its core 99%
//! busy where this one needs ~60%, and reported 2.5x the relay latency (p50 1.5 ms vs 0.6 ms;
//! at 35 msg/s 22 ms vs 1.3 ms) because the client itself became the queue. Its profile is
//! dominated by io_uring poll arming and cancelling for every partial read. One current-thread
//! tokio runtime per thread (epoll) keeps the thread-per-core shape at a lower cost per frame.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tokio::TokioAdapter;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use futures_lite::StreamExt;
use hdrhistogram::Histogram;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::spawn_local;
use tokio::time::{Instant, sleep};

use crate::clock::{mono_ns, thread_cpu_ns, until};
use crate::report::{
    Cmd, ConnectReport, Event, HistData, JoinReport, ProbePlan, ProbeReport, StepPlan, StepReport,
    new_hist, note_error,
};
use crate::transport::{Stream, TlsClient};

pub(crate) type Ws = WebSocketStream<TokioAdapter<Stream>>;

/// How often an idle connection looks for a new step or `Quit`.
const IDLE_POLL_NS: u64 = 100_000_000;
/// A sender more than this far behind its schedule gives up catching up.
const MAX_LAG_NS: u64 = 1_000_000_000;
/// Bytes of the relayed value besides the padding: `{"ts":<16>,"src":<4>,"seq":<5>,"pad":""}`.
const PAYLOAD_OVERHEAD: usize = 56;
/// The heartbeat frame.
pub(crate) const PING: &str = "{\"type\":\"Ping\"}";
/// How long a closing connection waits for the server's close reply.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// One server to connect to (a `--url`).
#[derive(Debug)]
pub struct Endpoint {
    /// `ws://host:port/path` or `wss://…`.
    pub url: String,
    /// The resolved server address.
    pub addr: SocketAddr,
    /// For `wss://`: the TLS client every connection handshakes with.
    pub tls: Option<TlsClient>,
}

/// What every unit needs to know.
#[derive(Debug)]
pub struct EngineConfig {
    /// The servers (nodes of one cluster, or just one): see [`EngineConfig::endpoint_index`].
    pub endpoints: Vec<Endpoint>,
    /// The `Authenticate` frame.
    pub auth_text: String,
    pub game_name: String,
    pub room_size: usize,
    /// Approximate size of the JSON value relayed in `GameData.data`.
    pub payload_bytes: usize,
    /// Local addresses to connect from, round-robin by connection number (empty: kernel's choice).
    pub source_ips: Vec<IpAddr>,
    /// Connection attempts in flight per unit.
    pub connect_concurrency: usize,
    /// Rooms being created/filled at once per unit.
    pub join_concurrency: usize,
    /// Limit for connecting + authenticating, and for each join.
    pub setup_timeout: Duration,
    /// `Ping` interval of a running connection.
    pub heartbeat_ns: u64,
    /// Join mode: open the paced rooms' connections during `Connect` (`ahead`) instead of
    /// each right before its `JoinRoom` (`fresh`).
    pub join_ahead: bool,
}

impl EngineConfig {
    /// Which endpoint connection `number` uses. Room `r`'s connections are numbered
    /// `r * size ..`, so `number % size` is the member's place in the room's join order (0 is
    /// the creator): member `k` goes to endpoint `k mod N`, which puts every creator on the
    /// first endpoint and spreads the others over all of them in turn. Rooms of one (idle
    /// mode) go round-robin by connection.
    pub fn endpoint_index(&self, number: usize) -> usize {
        let member = if self.room_size >= 2 {
            number % self.room_size
        } else {
            number
        };
        member % self.endpoints.len().max(1)
    }

    fn endpoint(&self, number: usize) -> &Endpoint {
        &self.endpoints[self.endpoint_index(number)]
    }
}

/// The rooms of one unit: each room lists the global numbers of its connections.
pub type Rooms = Vec<Vec<usize>>;

/// What one unit owns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitWork {
    pub rooms: Rooms,
    /// The rooms are join mode's paced rooms: `Join` leaves them alone and `Probe` fills them
    /// one by one on its schedule; otherwise they are relay rooms.
    pub probe: bool,
}

/// A running set of units (threads) in this process.
pub struct Engine {
    commands: Vec<UnboundedSender<Cmd>>,
    handles: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Starts one executor thread per entry of `units`. `cpus`, when given, pins unit `i` to
    /// `cpus[i % len]`; otherwise threads float over the CPUs this process may use.
    pub fn start(
        config: Arc<EngineConfig>,
        units: Vec<UnitWork>,
        events: mpsc::Sender<Event>,
        cpus: Option<Vec<usize>>,
    ) -> io::Result<Engine> {
        let mut commands = Vec::new();
        let mut handles = Vec::new();
        for (index, work) in units.into_iter().enumerate() {
            let (tx, rx) = unbounded_channel();
            commands.push(tx);
            let cpu = cpus
                .as_ref()
                .filter(|list| !list.is_empty())
                .map(|list| list[index % list.len()]);
            let config = config.clone();
            let events = events.clone();
            let handle = std::thread::Builder::new()
                .name(format!("bench-{index}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        pin_current_thread(cpu);
                    }
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("tokio runtime");
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&runtime, unit_main(config, index, work, rx, events));
                })?;
            handles.push(handle);
        }
        Ok(Engine { commands, handles })
    }

    pub fn units(&self) -> usize {
        self.commands.len()
    }

    pub fn broadcast(&self, cmd: Cmd) {
        for tx in &self.commands {
            let _ = tx.send(cmd);
        }
    }

    /// Waits for every unit thread to end (after `Quit`).
    pub fn join(self) {
        drop(self.commands);
        for handle in self.handles {
            let _ = handle.join();
        }
    }
}

/// Counters of the current step, owned by one unit.
struct StepStats {
    generation: u32,
    sent: u64,
    delivered: u64,
    late_resets: u64,
    malformed: u64,
    disconnects: u64,
    gaps: u64,
    out_of_order: u64,
    other: BTreeMap<String, u64>,
    errors: Vec<String>,
    hist: Histogram<u64>,
    send_lag: Histogram<u64>,
    /// Highest latency since the last progress event.
    interval_max: u64,
}

impl StepStats {
    fn new(generation: u32) -> Self {
        StepStats {
            generation,
            sent: 0,
            delivered: 0,
            late_resets: 0,
            malformed: 0,
            disconnects: 0,
            gaps: 0,
            out_of_order: 0,
            other: BTreeMap::new(),
            errors: Vec::new(),
            hist: new_hist(),
            send_lag: new_hist(),
            interval_max: 0,
        }
    }
}

/// One unit's shared state (single-threaded).
struct Unit {
    config: Arc<EngineConfig>,
    index: usize,
    events: mpsc::Sender<Event>,
    plan: Cell<Option<StepPlan>>,
    quit: Cell<bool>,
    /// Running connection loops.
    live: Cell<usize>,
    /// Running connection loops that send `GameData`.
    senders: Cell<u64>,
    stats: RefCell<StepStats>,
    pad: String,
}

impl Unit {
    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn progress(&self) {
        let mut stats = self.stats.borrow_mut();
        let max_ns = std::mem::take(&mut stats.interval_max);
        self.emit(Event::Progress {
            unit: self.index,
            generation: stats.generation,
            sent: stats.sent,
            delivered: stats.delivered,
            max_ns,
        });
    }

    /// Handles a text frame received by a running connection at `now`; `peers` holds the last
    /// sequence number seen from each sender, per receiving connection.
    fn on_text(&self, text: &str, now: u64, peers: &mut Vec<(u64, u64)>) {
        let mut stats = self.stats.borrow_mut();
        match frame_type(text) {
            Some("GameData") => {
                let ts = field_u64(text, "\"ts\":").filter(|&ts| ts <= now);
                let (Some(ts), Some(src), Some(seq)) =
                    (ts, field_u64(text, "\"src\":"), field_u64(text, "\"seq\":"))
                else {
                    stats.malformed += 1;
                    return;
                };
                let in_window = self
                    .plan
                    .get()
                    .is_some_and(|plan| ts >= plan.window_start() && ts < plan.window_end());
                match peers.iter_mut().find(|(peer, _)| *peer == src) {
                    Some((_, last)) => {
                        if seq > *last + 1 && in_window {
                            stats.gaps += seq - *last - 1;
                        } else if seq <= *last {
                            stats.out_of_order += 1;
                        }
                        *last = (*last).max(seq);
                    }
                    None => peers.push((src, seq)),
                }
                if in_window {
                    let latency = (now - ts).max(1);
                    stats.delivered += 1;
                    stats.hist.saturating_record(latency);
                    stats.interval_max = stats.interval_max.max(latency);
                }
            }
            other => {
                let name = other.unwrap_or("?");
                if let Some(count) = stats.other.get_mut(name) {
                    *count += 1;
                } else {
                    stats.other.insert(name.to_owned(), 1);
                }
                if matches!(name, "Error" | "RoomLeft" | "PlayerLeft" | "?") {
                    note_error(&mut stats.errors, clip(text));
                }
            }
        }
    }
}

/// Restricts the calling thread to one CPU.
fn pin_current_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in bounds for cpu <
    // CPU_SETSIZE, which sched_getaffinity guarantees for the ids we are given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A monotonic-nanosecond deadline as a tokio instant.
fn instant_at(deadline_ns: u64) -> Instant {
    Instant::now() + until(deadline_ns)
}

/// A unit's thread: obey commands until `Quit`.
async fn unit_main(
    config: Arc<EngineConfig>,
    index: usize,
    work: UnitWork,
    mut commands: UnboundedReceiver<Cmd>,
    events: mpsc::Sender<Event>,
) {
    let pad = "x".repeat(config.payload_bytes.saturating_sub(PAYLOAD_OVERHEAD));
    let unit = Rc::new(Unit {
        config,
        index,
        events,
        plan: Cell::new(None),
        quit: Cell::new(false),
        live: Cell::new(0),
        senders: Cell::new(0),
        stats: RefCell::new(StepStats::new(0)),
        pad,
    });
    let rooms = work.rooms;
    let mut opened: Vec<Vec<(usize, Option<Ws>)>> = Vec::new();
    loop {
        let cmd = commands.recv().await.unwrap_or(Cmd::Quit);
        match cmd {
            Cmd::Connect if work.probe && !unit.config.join_ahead => {
                // `fresh`: the paced rooms connect at their turn.
                let now = mono_ns();
                unit.emit(Event::Connected(ConnectReport {
                    start_ns: now,
                    end_ns: now,
                    ..ConnectReport::default()
                }));
            }
            Cmd::Connect => {
                let (report, conns) = connect_all(&unit, &rooms).await;
                opened = conns;
                unit.emit(Event::Connected(report));
            }
            Cmd::Join if work.probe => {
                let now = mono_ns();
                unit.emit(Event::Joined(JoinReport {
                    start_ns: now,
                    end_ns: now,
                    ..JoinReport::default()
                }));
            }
            Cmd::Join => {
                let report = join_all(&unit, std::mem::take(&mut opened)).await;
                unit.emit(Event::Joined(report));
            }
            Cmd::Probe(plan) if work.probe => {
                // Runs beside the background step, which this unit answers too.
                let unit = unit.clone();
                let rooms = rooms.clone();
                let opened = std::mem::take(&mut opened);
                spawn_local(async move {
                    let report = run_probe(&unit, &rooms, opened, plan).await;
                    unit.emit(Event::Probed(report));
                });
            }
            Cmd::Probe(_) => {}
            Cmd::Step(plan) => {
                let report = run_step(&unit, plan).await;
                unit.emit(Event::Stepped(report));
            }
            Cmd::Quit => {
                unit.quit.set(true);
                // Connections never handed to a loop (idle mode, failed rooms): close politely.
                for (_, ws) in opened.drain(..).flatten() {
                    if let Some(ws) = ws {
                        // Counted now, so the wait below cannot miss it.
                        unit.live.set(unit.live.get() + 1);
                        spawn_local(close_politely(unit.clone(), ws));
                    }
                }
                let give_up = mono_ns() + 2 * IDLE_POLL_NS + 2 * CLOSE_TIMEOUT.as_nanos() as u64;
                while unit.live.get() > 0 && mono_ns() < give_up {
                    sleep(Duration::from_millis(10)).await;
                }
                unit.emit(Event::Closed);
                return;
            }
        }
    }
}

/// Races `fut` against a timer.
pub(crate) async fn with_timeout<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    futures_lite::future::or(fut, async {
        sleep(limit).await;
        Err(format!("timed out after {limit:?}"))
    })
    .await
}

/// Opens, upgrades and authenticates every connection of the unit.
async fn connect_all(
    unit: &Rc<Unit>,
    rooms: &Rooms,
) -> (ConnectReport, Vec<Vec<(usize, Option<Ws>)>>) {
    let start_ns = mono_ns();
    let gate = Arc::new(Semaphore::new(unit.config.connect_concurrency.max(1)));
    let mut tasks = Vec::new();
    for room in rooms {
        for &number in room {
            let unit = unit.clone();
            let gate = gate.clone();
            let task = spawn_local(async move {
                let _permit = gate.acquire_owned().await;
                let t0 = mono_ns();
                let result =
                    with_timeout(unit.config.setup_timeout, open(&unit.config, number)).await;
                (result, mono_ns() - t0)
            });
            tasks.push(task);
        }
    }
    let mut hist = new_hist();
    let mut report = ConnectReport {
        start_ns,
        ..ConnectReport::default()
    };
    let mut tasks = tasks.into_iter();
    let mut conns = Vec::with_capacity(rooms.len());
    for room in rooms {
        let mut slots = Vec::with_capacity(room.len());
        for &number in room {
            let (result, took) = tasks
                .next()
                .expect("one task per connection")
                .await
                .expect("connect task");
            match result {
                Ok(ws) => {
                    report.ok += 1;
                    hist.saturating_record(took.max(1));
                    slots.push((number, Some(ws)));
                }
                Err(err) => {
                    report.failed += 1;
                    note_error(&mut report.errors, err);
                    slots.push((number, None));
                }
            }
        }
        conns.push(slots);
    }
    report.end_ns = mono_ns();
    report.hist = HistData::from_hist(&hist);
    (report, conns)
}

/// TCP connect (from the connection's source address), TLS handshake for `wss://`, WebSocket
/// upgrade, `Authenticate`.
pub(crate) async fn open(config: &EngineConfig, number: usize) -> Result<Ws, String> {
    let source = (!config.source_ips.is_empty())
        .then(|| config.source_ips[number % config.source_ips.len()]);
    let endpoint = config.endpoint(number);
    let tcp = tcp_connect(endpoint.addr, source)
        .await
        .map_err(|e| format!("connect {}: {e}", endpoint.url))?;
    let stream = match &endpoint.tls {
        Some(tls) => tls
            .handshake(tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?,
        None => Stream::Plain(tcp),
    };
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .write_buffer_size(0)
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20));
    let (mut ws, _response) = async_tungstenite::tokio::client_async_with_config(
        endpoint.url.as_str(),
        stream,
        Some(ws_config),
    )
    .await
    .map_err(|e| format!("handshake: {e}"))?;
    ws.send(Message::text(config.auth_text.clone()))
        .await
        .map_err(|e| format!("send Authenticate: {e}"))?;
    // A server without authentication ignores `Authenticate` silently; the `Pong` to this
    // `Ping` then arrives first. With authentication, `Authenticated` comes before it.
    ws.send(Message::text(PING))
        .await
        .map_err(|e| format!("send Ping: {e}"))?;
    expect(&mut ws, &["Authenticated", "Pong"]).await?;
    Ok(ws)
}

/// TCP connect from `source` (if given) with `TCP_NODELAY`.
async fn tcp_connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        // Defer the port choice to connect(), so every source address gets the full
        // ephemeral range per destination instead of one global range.
        let one: libc::c_int = 1;
        // SAFETY: valid socket, option value points to a c_int of the given size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.set_nodelay(true)?;
    socket.connect(addr).await
}

/// Reads frames until one whose type is in `want` (returned whole); failure replies end the
/// wait.
async fn expect(ws: &mut Ws, want: &[&str]) -> Result<String, String> {
    let want_name = want.join("/");
    let want = want_name.as_str();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let text = text.as_str();
                match frame_type(text) {
                    Some(t) if want.split('/').any(|w| w == t) => return Ok(text.to_owned()),
                    Some("Error" | "AuthenticationError" | "RoomJoinFailed") => {
                        return Err(format!("waiting for {want}: {}", clip(text)));
                    }
                    _ => {}
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("waiting for {want}: closed ({frame:?})"));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("waiting for {want}: {e}")),
            None => return Err(format!("waiting for {want}: connection ended")),
        }
    }
}

fn join_text(config: &EngineConfig, player: usize, code: Option<&str>) -> String {
    let code = code.map_or(String::new(), |c| format!(",\"room_code\":\"{c}\""));
    format!(
        "{{\"type\":\"JoinRoom\",\"data\":{{\"game_name\":\"{}\",\"player_name\":\"p{player}\",\"max_players\":{}{code}}}}}",
        config.game_name, config.room_size
    )
}

/// Sends `JoinRoom` and waits for `RoomJoined`; returns its text, when the request left and
/// when the reply arrived.
pub(crate) async fn join_one(
    config: &EngineConfig,
    ws: &mut Ws,
    player: usize,
    code: Option<&str>,
) -> Result<(String, u64, u64), String> {
    let t0 = mono_ns();
    ws.send(Message::text(join_text(config, player, code)))
        .await
        .map_err(|e| format!("send JoinRoom: {e}"))?;
    let text = with_timeout(config.setup_timeout, expect(ws, &["RoomJoined"])).await?;
    Ok((text, t0, mono_ns()))
}

/// How one room's creation went.
#[derive(Default)]
struct RoomOutcome {
    create_ns: Option<u64>,
    join_ns: Vec<u64>,
    joins_failed: u64,
    errors: Vec<String>,
    complete: bool,
}

/// Creates every room and fills it; full rooms start their connection loops.
async fn join_all(unit: &Rc<Unit>, rooms: Vec<Vec<(usize, Option<Ws>)>>) -> JoinReport {
    let start_ns = mono_ns();
    let gate = Arc::new(Semaphore::new(unit.config.join_concurrency.max(1)));
    let mut tasks = Vec::new();
    for (room_number, members) in rooms.into_iter().enumerate() {
        let unit = unit.clone();
        let gate = gate.clone();
        let task = spawn_local(async move {
            let _permit = gate.acquire_owned().await;
            fill_room(&unit, room_number, members).await
        });
        tasks.push(task);
    }
    let mut report = JoinReport {
        start_ns,
        ..JoinReport::default()
    };
    let mut create = new_hist();
    let mut join = new_hist();
    for task in tasks {
        let outcome = task.await.expect("room task");
        if outcome.complete {
            report.rooms_ok += 1;
        } else {
            report.rooms_failed += 1;
        }
        if let Some(ns) = outcome.create_ns {
            create.saturating_record(ns.max(1));
        }
        for ns in &outcome.join_ns {
            join.saturating_record((*ns).max(1));
        }
        report.joins_ok += outcome.join_ns.len() as u64 + u64::from(outcome.create_ns.is_some());
        report.joins_failed += outcome.joins_failed;
        for err in outcome.errors {
            note_error(&mut report.errors, err);
        }
    }
    report.end_ns = mono_ns();
    report.hist_create = HistData::from_hist(&create);
    report.hist_join = HistData::from_hist(&join);
    report
}

async fn fill_room(
    unit: &Rc<Unit>,
    room_number: usize,
    members: Vec<(usize, Option<Ws>)>,
) -> RoomOutcome {
    let mut outcome = RoomOutcome::default();
    if members.iter().any(|(_, ws)| ws.is_none()) {
        // A member never connected: nothing to measure in this room.
        outcome
            .errors
            .push("room skipped: a member failed to connect".to_owned());
        return outcome;
    }
    let mut members: Vec<(Ws, usize)> = members
        .into_iter()
        .filter_map(|(number, ws)| ws.map(|ws| (ws, number)))
        .collect();
    let config = &unit.config;
    let code = {
        let creator = &mut members[0].0;
        match join_one(config, creator, 0, None).await {
            Ok((text, t0, t1)) => {
                outcome.create_ns = Some(t1 - t0);
                match room_code(&text) {
                    Some(code) => code,
                    None => {
                        outcome
                            .errors
                            .push(format!("RoomJoined without room_code: {}", clip(&text)));
                        return outcome;
                    }
                }
            }
            Err(err) => {
                outcome.joins_failed += 1;
                outcome.errors.push(err);
                return outcome;
            }
        }
    };
    let code = Rc::new(code);
    let creator = members.remove(0);
    let mut tasks = Vec::new();
    for (k, (mut ws, number)) in members.into_iter().enumerate() {
        let unit = unit.clone();
        let code = code.clone();
        let task = spawn_local(async move {
            let result = join_one(&unit.config, &mut ws, k + 1, Some(code.as_str())).await;
            (ws, number, result)
        });
        tasks.push(task);
    }
    let mut joined = vec![creator];
    for task in tasks {
        let (ws, number, result) = task.await.expect("join task");
        match result {
            Ok((_, t0, t1)) => {
                outcome.join_ns.push(t1 - t0);
                joined.push((ws, number));
            }
            Err(err) => {
                outcome.joins_failed += 1;
                outcome.errors.push(err);
            }
        }
    }
    outcome.complete = joined.len() == config.room_size;
    for ((ws, number), k) in joined.into_iter().zip(0u64..) {
        let seed = mix((room_number as u64) << 16 | k | (unit.index as u64) << 48);
        spawn_local(run_connection(
            unit.clone(),
            ws,
            number,
            seed,
            outcome.complete,
        ));
    }
    outcome
}

// --- join mode: paced rooms ------------------------------------------------------------------

/// What happened in one paced room, shared by the room's driver and its members' readers (all
/// on this unit's thread, so every timestamp comes from the same place).
struct RoomLog {
    /// Per player index: when its `JoinRoom` left and when its `RoomJoined` arrived.
    requested: Vec<u64>,
    joined: Vec<u64>,
    /// (receiving member, announced player, arrival) of every `PlayerJoined`.
    notes: Vec<(usize, usize, u64)>,
    errors: Vec<String>,
}

/// How one paced room went.
#[derive(Default)]
struct PacedOutcome {
    start_lag_ns: u64,
    connect_ns: Vec<u64>,
    create_ns: Option<u64>,
    join_ns: Vec<u64>,
    joins_failed: u64,
    notify_ns: Vec<u64>,
    notify_from_request_ns: Vec<u64>,
    notify_early: u64,
    notify_missing: u64,
    complete: bool,
    errors: Vec<String>,
}

/// Join mode: starts room `j` at `plan.room_start(j)` whatever the earlier rooms are doing
/// (an open schedule, so a slow server cannot slow the arrivals down), and reports once every
/// room is full (or failed) and its notifications are in.
async fn run_probe(
    unit: &Rc<Unit>,
    rooms: &Rooms,
    opened: Vec<Vec<(usize, Option<Ws>)>>,
    plan: ProbePlan,
) -> ProbeReport {
    let start_ns = mono_ns();
    let mut opened = opened.into_iter();
    let mut tasks = Vec::with_capacity(rooms.len());
    for (j, room) in rooms.iter().enumerate() {
        let members = if unit.config.join_ahead {
            opened.next().unwrap_or_default()
        } else {
            room.iter().map(|&number| (number, None)).collect()
        };
        tasks.push(spawn_local(paced_room(
            unit.clone(),
            plan.room_start(j),
            members,
            plan.drain_ns,
        )));
    }
    let mut report = ProbeReport {
        start_ns,
        ..ProbeReport::default()
    };
    let [
        mut create,
        mut join,
        mut notify,
        mut notify_req,
        mut connect,
        mut lag,
    ] = std::array::from_fn(|_| new_hist());
    let record = |h: &mut Histogram<u64>, ns: u64| h.saturating_record(ns.max(1));
    for task in tasks {
        let o = task.await.expect("paced room task");
        if o.complete {
            report.rooms_ok += 1;
        } else {
            report.rooms_failed += 1;
        }
        record(&mut lag, o.start_lag_ns);
        if let Some(ns) = o.create_ns {
            record(&mut create, ns);
        }
        for &ns in &o.join_ns {
            record(&mut join, ns);
        }
        for &ns in &o.notify_ns {
            record(&mut notify, ns);
        }
        for &ns in &o.notify_from_request_ns {
            record(&mut notify_req, ns);
        }
        for &ns in &o.connect_ns {
            record(&mut connect, ns);
        }
        report.joins_failed += o.joins_failed;
        report.notify_early += o.notify_early;
        report.notify_missing += o.notify_missing;
        for err in o.errors {
            note_error(&mut report.errors, err);
        }
    }
    report.end_ns = mono_ns();
    report.hist_create = HistData::from_hist(&create);
    report.hist_join = HistData::from_hist(&join);
    report.hist_notify = HistData::from_hist(&notify);
    report.hist_notify_from_request = HistData::from_hist(&notify_req);
    report.hist_connect = HistData::from_hist(&connect);
    report.hist_start_lag = HistData::from_hist(&lag);
    report
}

/// One paced room: at `start_ns` the creator sends `JoinRoom` without a code, then each joiner
/// in turn joins with the code, each request only after the previous `RoomJoined`. In `fresh`
/// mode (members given without a connection) each member connects and authenticates right
/// before its `JoinRoom`. A member that has joined keeps reading (`paced_member`) and notes
/// when it hears `PlayerJoined` about the later joiners.
async fn paced_room(
    unit: Rc<Unit>,
    start_ns: u64,
    members: Vec<(usize, Option<Ws>)>,
    drain_ns: u64,
) -> PacedOutcome {
    let mut outcome = PacedOutcome::default();
    tokio::time::sleep_until(instant_at(start_ns)).await;
    outcome.start_lag_ns = mono_ns().saturating_sub(start_ns);
    let config = &unit.config;
    let size = members.len();
    let log = Rc::new(RefCell::new(RoomLog {
        requested: vec![0; size],
        joined: vec![0; size],
        notes: Vec::new(),
        errors: Vec::new(),
    }));
    let mut code: Option<String> = None;
    let mut joined = 0;
    let mut members = members.into_iter().enumerate();
    for (k, (number, ws)) in members.by_ref() {
        let mut ws = match ws {
            Some(ws) => ws,
            None if !config.join_ahead => {
                let t0 = mono_ns();
                match with_timeout(config.setup_timeout, open(config, number)).await {
                    Ok(ws) => {
                        outcome.connect_ns.push(mono_ns() - t0);
                        ws
                    }
                    Err(err) => {
                        outcome.errors.push(err);
                        break;
                    }
                }
            }
            None => {
                outcome
                    .errors
                    .push("room skipped: a member failed to connect".to_owned());
                break;
            }
        };
        match join_one(config, &mut ws, k, code.as_deref()).await {
            Ok((text, t0, t1)) => {
                if k == 0 {
                    outcome.create_ns = Some(t1 - t0);
                    code = room_code(&text);
                    if code.is_none() {
                        outcome
                            .errors
                            .push(format!("RoomJoined without room_code: {}", clip(&text)));
                        unit.live.set(unit.live.get() + 1);
                        spawn_local(close_politely(unit.clone(), ws));
                        break;
                    }
                } else {
                    outcome.join_ns.push(t1 - t0);
                }
                {
                    let mut log = log.borrow_mut();
                    log.requested[k] = t0;
                    log.joined[k] = t1;
                }
                joined += 1;
                // Counted now, so a `Quit` cannot miss it.
                unit.live.set(unit.live.get() + 1);
                spawn_local(paced_member(unit.clone(), ws, k, log.clone()));
            }
            Err(err) => {
                outcome.joins_failed += 1;
                outcome.errors.push(err);
                unit.live.set(unit.live.get() + 1);
                spawn_local(close_politely(unit.clone(), ws));
                break;
            }
        }
    }
    // Members never used (the room broke off): close them.
    for (_, (_, ws)) in members {
        if let Some(ws) = ws {
            unit.live.set(unit.live.get() + 1);
            spawn_local(close_politely(unit.clone(), ws));
        }
    }
    outcome.complete = size == config.room_size && joined == size;
    // Joiner `x` is announced to the `x` members before it.
    let expected = joined * joined.saturating_sub(1) / 2;
    let deadline = mono_ns() + drain_ns;
    while log.borrow().notes.len() < expected && mono_ns() < deadline {
        sleep(Duration::from_millis(1)).await;
    }
    let log = log.borrow();
    let mut counted = 0;
    for &(member, x, at) in &log.notes {
        if member >= x || x >= joined {
            continue;
        }
        counted += 1;
        let replied = log.joined[x];
        if at < replied {
            outcome.notify_early += 1;
        }
        outcome.notify_ns.push(at.saturating_sub(replied));
        outcome
            .notify_from_request_ns
            .push(at.saturating_sub(log.requested[x]));
    }
    outcome.notify_missing = expected.saturating_sub(counted) as u64;
    outcome.errors.extend(log.errors.iter().cloned());
    outcome
}

/// A paced room's member after its `RoomJoined`: notes the arrival of every `PlayerJoined`,
/// sends a `Ping` every heartbeat, and closes at `Quit`. The caller counted it in `live`.
async fn paced_member(unit: Rc<Unit>, mut ws: Ws, member: usize, log: Rc<RefCell<RoomLog>>) {
    let heartbeat = unit.config.heartbeat_ns.max(1);
    let mut next_ping = mono_ns() + heartbeat;
    let lost = loop {
        if unit.quit.get() {
            break false;
        }
        let now = mono_ns();
        if now >= next_ping {
            next_ping = now + heartbeat;
            if ws.send(Message::text(PING)).await.is_err() {
                break true;
            }
            continue;
        }
        let wake = next_ping.min(now + IDLE_POLL_NS);
        let inbound = futures_lite::future::or(async { Some(ws.next().await) }, async {
            tokio::time::sleep_until(instant_at(wake)).await;
            None
        })
        .await;
        match inbound {
            None => {}
            Some(Some(Ok(Message::Text(text)))) => {
                let at = mono_ns();
                let text = text.as_str();
                match frame_type(text) {
                    Some("PlayerJoined") => match announced_player(text) {
                        Some(x) => log.borrow_mut().notes.push((member, x, at)),
                        None => note_error(
                            &mut log.borrow_mut().errors,
                            format!("PlayerJoined for an unknown player: {}", clip(text)),
                        ),
                    },
                    Some("Error" | "RoomLeft" | "PlayerLeft") | None => {
                        note_error(&mut log.borrow_mut().errors, clip(text));
                    }
                    _ => {}
                }
            }
            Some(Some(Ok(Message::Close(_)))) | Some(None) | Some(Some(Err(_))) => break true,
            Some(Some(Ok(_))) => {}
        }
    };
    if lost {
        note_error(&mut log.borrow_mut().errors, "connection lost".to_owned());
    } else {
        close(&mut ws).await;
    }
    unit.live.set(unit.live.get() - 1);
}

/// The player index `k` of a `PlayerJoined` about a bench player (named `p<k>`).
fn announced_player(text: &str) -> Option<usize> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let name = value.get("data")?.get("player")?.get("name")?.as_str()?;
    name.strip_prefix('p')?.parse().ok()
}

/// A cheap integer hash (splitmix64) to spread send phases.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// One room member for the rest of the run: reads everything, sends `GameData` on the step's
/// schedule (if `sends`) and a `Ping` every heartbeat.
async fn run_connection(unit: Rc<Unit>, mut ws: Ws, number: usize, seed: u64, sends: bool) {
    unit.live.set(unit.live.get() + 1);
    if sends {
        unit.senders.set(unit.senders.get() + 1);
    }
    let heartbeat = unit.config.heartbeat_ns.max(1);
    let mut next_ping = mono_ns() + seed % heartbeat + heartbeat / 2;
    let mut generation = 0u32;
    let mut interval = u64::MAX;
    let mut next_send = u64::MAX;
    let mut send_end = 0u64;
    let mut window_start = 0u64;
    let mut next_poll = mono_ns() + IDLE_POLL_NS;
    let mut armed = u64::MAX;
    let timer = tokio::time::sleep(Duration::from_nanos(IDLE_POLL_NS));
    tokio::pin!(timer);
    let mut seq = 0u64;
    let mut peers: Vec<(u64, u64)> = Vec::with_capacity(unit.config.room_size);
    let lost = loop {
        let now = mono_ns();
        if unit.quit.get() {
            break false;
        }
        if now >= next_poll {
            next_poll = now + IDLE_POLL_NS;
        }
        if let Some(plan) = unit.plan.get()
            && plan.generation != generation
        {
            generation = plan.generation;
            window_start = plan.window_start();
            send_end = plan.window_end();
            if sends && plan.rate_per_player > 0.0 {
                interval = ((1e9 / plan.rate_per_player) as u64).max(1);
                next_send = plan.go_ns + seed % interval;
                if next_send < now {
                    // Picked up late: join the schedule at the next slot, no burst.
                    next_send += (now - next_send).div_ceil(interval) * interval;
                }
            } else {
                next_send = u64::MAX;
            }
        }
        if next_send < send_end && now >= next_send {
            let ts = mono_ns();
            // Counted exactly like deliveries are: by the timestamp the message carries.
            if ts >= window_start && ts < send_end {
                let mut stats = unit.stats.borrow_mut();
                stats.sent += 1;
                stats.send_lag.saturating_record((ts - next_send).max(1));
            }
            seq += 1;
            let text = format!(
                "{{\"type\":\"GameData\",\"data\":{{\"data\":{{\"ts\":{ts},\"src\":{number},\"seq\":{seq},\"pad\":\"{}\"}}}}}}",
                unit.pad
            );
            if ws.send(Message::text(text)).await.is_err() {
                break true;
            }
            next_send += interval;
            let after = mono_ns();
            if after > next_send + MAX_LAG_NS {
                unit.stats.borrow_mut().late_resets += 1;
                next_send = after;
            }
            continue;
        }
        if now >= next_ping {
            next_ping = now + heartbeat;
            if ws.send(Message::text(PING)).await.is_err() {
                break true;
            }
            continue;
        }
        let send_at = if next_send < send_end {
            next_send
        } else {
            u64::MAX
        };
        let deadline = send_at.min(next_ping).min(next_poll);
        if deadline != armed {
            timer.as_mut().reset(instant_at(deadline));
            armed = deadline;
        }
        let inbound = futures_lite::future::or(async { Some(ws.next().await) }, async {
            timer.as_mut().await;
            None
        })
        .await;
        match inbound {
            None => armed = u64::MAX,
            Some(Some(Ok(Message::Text(text)))) => {
                unit.on_text(text.as_str(), mono_ns(), &mut peers);
            }
            Some(Some(Ok(Message::Close(_)))) | Some(None) | Some(Some(Err(_))) => break true,
            Some(Some(Ok(_))) => {}
        }
    };
    if sends {
        unit.senders.set(unit.senders.get() - 1);
    }
    if lost {
        let mut stats = unit.stats.borrow_mut();
        stats.disconnects += 1;
        note_error(&mut stats.errors, "connection lost".to_owned());
    } else {
        close(&mut ws).await;
    }
    unit.live.set(unit.live.get() - 1);
}

/// Sends a close frame and reads until the server's answer (bounded).
pub(crate) async fn close(ws: &mut Ws) {
    let _ = with_timeout(CLOSE_TIMEOUT, async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
        Ok(())
    })
    .await;
}

/// Closes a connection that has no loop (idle mode); the caller counted it in `live`.
async fn close_politely(unit: Rc<Unit>, mut ws: Ws) {
    close(&mut ws).await;
    unit.live.set(unit.live.get() - 1);
}

/// Runs one step on this unit and reports it once the deliveries are in (or the drain ends).
async fn run_step(unit: &Rc<Unit>, plan: StepPlan) -> StepReport {
    *unit.stats.borrow_mut() = StepStats::new(plan.generation);
    unit.plan.set(Some(plan));
    let senders = unit.senders.get();
    tokio::time::sleep_until(instant_at(plan.window_start())).await;
    let cpu0 = thread_cpu_ns();
    let progress = plan.progress_ns.max(100_000_000);
    loop {
        let left = until(plan.window_end());
        if left.is_zero() {
            break;
        }
        sleep(left.min(Duration::from_nanos(progress))).await;
        unit.progress();
    }
    let cpu1 = thread_cpu_ns();
    let drain_end = plan.window_end() + plan.drain_ns;
    let peers = unit.config.room_size.saturating_sub(1) as u64;
    loop {
        {
            let stats = unit.stats.borrow();
            if stats.delivered >= stats.sent * peers || mono_ns() >= drain_end {
                break;
            }
        }
        sleep(Duration::from_millis(2)).await;
    }
    unit.progress();
    let stats = unit.stats.replace(StepStats::new(plan.generation));
    StepReport {
        generation: plan.generation,
        senders,
        sent: stats.sent,
        expected: stats.sent * peers,
        delivered: stats.delivered,
        late_resets: stats.late_resets,
        malformed: stats.malformed,
        disconnects: stats.disconnects,
        gaps: stats.gaps,
        out_of_order: stats.out_of_order,
        send_lag: HistData::from_hist(&stats.send_lag),
        other: stats.other,
        errors: stats.errors,
        hist: HistData::from_hist(&stats.hist),
        cpu_ns: cpu1 - cpu0,
        window_ns: plan.duration_ns,
    }
}

/// The `type` of a server frame: both servers write it first; anything else is parsed.
pub(crate) fn frame_type(text: &str) -> Option<&str> {
    if let Some(rest) = text.strip_prefix("{\"type\":\"") {
        return rest.split('"').next();
    }
    let start = text.find("\"type\"")?;
    let rest = text[start + 6..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    rest.strip_prefix('"')?.split('"').next()
}

/// An unsigned number after `key` (e.g. `"ts":`) in a relayed payload.
fn field_u64(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits = text[at..].trim_start();
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

pub(crate) fn room_code(room_joined: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(room_joined).ok()?;
    Some(value.get("data")?.get("room_code")?.as_str()?.to_owned())
}

/// A frame shortened for an error message.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 240;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_types() {
        assert_eq!(
            frame_type(r#"{"type":"GameData","data":{}}"#),
            Some("GameData")
        );
        assert_eq!(frame_type(r#"{"data":{}, "type" : "Pong"}"#), Some("Pong"));
        assert_eq!(frame_type("[]"), None);
    }

    #[test]
    fn timestamps_in_both_key_orders() {
        let ours = r#"{"type":"GameData","data":{"from_player":"5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04","data":{"ts":123456,"pad":"xx"}}}"#;
        let sorted =
            r#"{"type":"GameData","data":{"data":{"pad":"xx","ts":654321},"from_player":"x"}}"#;
        assert_eq!(field_u64(ours, "\"ts\":"), Some(123_456));
        assert_eq!(field_u64(sorted, "\"ts\":"), Some(654_321));
        assert_eq!(
            field_u64(r#"{"type":"GameData","data":{"data":1}}"#, "\"ts\":"),
            None
        );
    }

    fn config(room_size: usize, endpoints: usize) -> EngineConfig {
        EngineConfig {
            endpoints: (0..endpoints)
                .map(|i| Endpoint {
                    url: format!("ws://127.0.0.1:{}/v2/ws", 1 + i),
                    addr: SocketAddr::from(([127, 0, 0, 1], 1 + i as u16)),
                    tls: None,
                })
                .collect(),
            auth_text: String::new(),
            game_name: "bench".into(),
            room_size,
            payload_bytes: 64,
            source_ips: vec![],
            connect_concurrency: 1,
            join_concurrency: 1,
            setup_timeout: Duration::from_secs(1),
            heartbeat_ns: 1,
            join_ahead: false,
        }
    }

    #[test]
    fn members_spread_over_endpoints_by_join_order() {
        // Rooms of 4 over two nodes: creator on the first, then B, A, B.
        let two = config(4, 2);
        let room_1: Vec<usize> = (4..8).map(|n| two.endpoint_index(n)).collect();
        assert_eq!(room_1, vec![0, 1, 0, 1]);
        // One URL: everyone on it.
        assert!((0..12).all(|n| config(4, 1).endpoint_index(n) == 0));
        // Rooms of 2: every joiner on the second node.
        assert!((0..10).all(|n| config(2, 2).endpoint_index(n) == n % 2));
        // Idle connections (rooms of one) go round-robin.
        let idle: Vec<usize> = (0..6).map(|n| config(1, 3).endpoint_index(n)).collect();
        assert_eq!(idle, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn join_frames() {
        let config = config(4, 0);
        let create: serde_json::Value = serde_json::from_str(&join_text(&config, 0, None)).unwrap();
        assert_eq!(create["data"]["max_players"], 4);
        assert!(create["data"].get("room_code").is_none());
        let join: serde_json::Value =
            serde_json::from_str(&join_text(&config, 3, Some("AB12CD"))).unwrap();
        assert_eq!(join["data"]["room_code"], "AB12CD");
        assert_eq!(join["data"]["player_name"], "p3");
    }

    #[test]
    fn announced_players() {
        let text = r#"{"type":"PlayerJoined","data":{"player":{"id":"x","name":"p3","is_authority":false}}}"#;
        assert_eq!(announced_player(text), Some(3));
        let other = r#"{"type":"PlayerJoined","data":{"player":{"id":"x","name":"Ravi"}}}"#;
        assert_eq!(announced_player(other), None);
    }

    #[test]
    fn room_code_from_room_joined() {
        let text = r#"{"type":"RoomJoined","data":{"room_id":"x","room_code":"QX7M4D"}}"#;
        assert_eq!(room_code(text).as_deref(), Some("QX7M4D"));
    }
}
