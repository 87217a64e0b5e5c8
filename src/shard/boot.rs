//! Starting shards: binding the shared port, wiring every shard to every other, pinning each
//! executor to its core, and the accept loop.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_rustls::{TlsAcceptor, rustls};
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::net::TcpListener;
use glommio::{Latency, Shares};
use socket2::{Domain, Socket, Type};

use super::control::{ControlReceiver, ShardControl, ShardReport};
use super::outbox::{Batch, run_flusher, run_receiver};
use super::{Shard, drain, sweep, timer};
use crate::config::Config;
use crate::net::edge::Edge;

/// Batches that may wait in one shard-to-shard channel before the sender's flusher waits.
const CHANNEL_BATCHES: usize = 1024;

/// Everything one shard needs to start on its thread.
pub struct ShardBoot {
    pub index: u32,
    pub count: u32,
    pub config: Arc<Config>,
    /// Trusted proxies and the connection cap, shared by all shards.
    pub edge: Arc<Edge>,
    pub listener: Socket,
    /// Senders to every peer, by peer index (`None` at our own index).
    pub senders: Vec<Option<SharedSender<Batch>>>,
    /// Receivers from every peer, by peer index.
    pub receivers: Vec<Option<SharedReceiver<Batch>>>,
    /// Drain and stop orders from the process.
    pub control: ControlReceiver,
    /// Where the shard reports its rooms in play while draining.
    pub reports: crossbeam_channel::Sender<ShardReport>,
    /// The TLS configuration every shard shares, when `security.transport.tls.enabled`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Told once this shard listens.
    pub ready: std::sync::mpsc::SyncSender<()>,
    /// This shard's link to the cluster bridge, when `cluster.nats_url` is set.
    pub cluster: Option<crate::cluster::ShardLink>,
}

/// Binds `count` listening sockets to one address with `SO_REUSEPORT`, so the kernel spreads
/// new connections over the shards. Port 0 picks a free port once and binds the others to it.
/// An IPv6 unspecified address (`::`) listens dual-stack, IPv4 clients included.
pub fn bind_listeners(
    mut addr: SocketAddr,
    count: usize,
    backlog: i32,
) -> std::io::Result<Vec<Socket>> {
    if addr.port() != 0 {
        probe_port(addr)?;
    }
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = new_socket(addr)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog)?;
        if addr.port() == 0 {
            addr = socket
                .local_addr()?
                .as_socket()
                .ok_or_else(|| std::io::Error::other("listening socket has no IP address"))?;
        }
        sockets.push(socket);
    }
    Ok(sockets)
}

/// How long a port held by a process that just died may take to come free.
const BIND_RETRY_FOR: Duration = Duration::from_secs(3);

/// Fails if another process listens on `addr`. A socket without `SO_REUSEPORT` can't share the
/// port, so this bind fails if anyone (say a stale server) holds it, instead of silently
/// splitting connections with it.
///
/// A server killed with `kill -9` while it had connections keeps listening for a few
/// milliseconds after it is reaped: its io_uring rings are torn down by the kernel in the
/// background and hold its sockets until then. So a restart retries for up to
/// `BIND_RETRY_FOR`; a live process holds the port longer than that and is reported.
fn probe_port(addr: SocketAddr) -> std::io::Result<()> {
    let give_up = Instant::now() + BIND_RETRY_FOR;
    let mut pause = Duration::from_millis(5);
    loop {
        let probe = new_socket(addr)?;
        match probe.bind(&addr.into()) {
            Ok(()) => return Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < give_up => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(err) => return Err(err),
        }
    }
}

/// A TCP socket for `addr` with `SO_REUSEADDR` (so connections of a previous run lingering in
/// `TIME_WAIT` do not block the port) and, for `::`, dual-stack.
fn new_socket(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    Ok(socket)
}

/// Creates the full mesh of shard-to-shard channels: `senders[i][j]` sends from `i` to `j`,
/// `receivers[j][i]` receives it.
#[allow(clippy::type_complexity)]
pub fn build_mesh(
    count: usize,
) -> (
    Vec<Vec<Option<SharedSender<Batch>>>>,
    Vec<Vec<Option<SharedReceiver<Batch>>>>,
) {
    let mut senders: Vec<Vec<Option<SharedSender<Batch>>>> = (0..count)
        .map(|_| (0..count).map(|_| None).collect())
        .collect();
    let mut receivers: Vec<Vec<Option<SharedReceiver<Batch>>>> = (0..count)
        .map(|_| (0..count).map(|_| None).collect())
        .collect();
    for from in 0..count {
        for to in 0..count {
            if from != to {
                let (tx, rx) = shared_channel::new_bounded(CHANNEL_BATCHES);
                senders[from][to] = Some(tx);
                receivers[to][from] = Some(rx);
            }
        }
    }
    (senders, receivers)
}

/// Runs one shard on the current (executor) thread until the process tells it to stop (or a
/// drain's deadline passes) and its connections have closed.
pub async fn run(boot: ShardBoot) {
    // glommio 0.9's first timer on Linux >= 6.6 fires 30-50 ms late; take that hit here, not
    // on a client's first timeout.
    glommio::timer::sleep(Duration::from_millis(1)).await;
    let executor = glommio::executor();
    let realtime = executor.create_task_queue(
        Shares::default(),
        Latency::Matters(Duration::from_millis(1)),
        "connections",
    );
    let background = executor.create_task_queue(Shares::default(), Latency::NotImportant, "sweep");

    let shard = Rc::new(
        Shard::new(boot.index, boot.count, boot.config.clone())
            .with_edge(boot.edge)
            .with_cluster(boot.cluster),
    );
    shard.attach(background);
    if let Some(link) = shard.cluster.clone() {
        glommio::spawn_local_into(super::remote::serve(shard.clone(), link.clone()), realtime)
            .map(|t| t.detach())
            .ok();
        glommio::spawn_local_into(super::remote::run_flusher(shard.clone(), link), realtime)
            .map(|t| t.detach())
            .ok();
    }
    for (peer, sender) in boot.senders.into_iter().enumerate() {
        if let (Some(sender), Some(Some(outbox))) = (sender, shard.outboxes.get(peer)) {
            glommio::spawn_local_into(run_flusher(shard.clone(), outbox.clone(), sender), realtime)
                .map(|t| t.detach())
                .ok();
        }
    }
    for receiver in boot.receivers.into_iter().flatten() {
        glommio::spawn_local_into(run_receiver(shard.clone(), receiver), realtime)
            .map(|t| t.detach())
            .ok();
    }
    glommio::spawn_local_into(sweep::run(shard.clone()), background)
        .map(|t| t.detach())
        .ok();
    glommio::spawn_local_into(timer::run(shard.clone()), background)
        .map(|t| t.detach())
        .ok();
    let dashboard_shard = shard.clone();
    glommio::spawn_local_into(
        async move { dashboard_shard.refresh_dashboard().await },
        background,
    )
    .map(|t| t.detach())
    .ok();

    // SAFETY: `into_raw_fd` hands over sole ownership of a valid, bound, listening TCP socket.
    let listener = unsafe { TcpListener::from_raw_fd(boot.listener.into_raw_fd()) };
    let _ = boot.ready.send(());
    drop(boot.ready);
    let tls = boot.tls.map(TlsAcceptor::from);
    let accepting = async {
        loop {
            match listener.accept().await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let task = crate::net::conn::serve(shard.clone(), stream, tls.clone());
                    if let Ok(task) = glommio::spawn_local_into(task, realtime) {
                        task.detach();
                    }
                }
                // Out of descriptors or similar: back off instead of spinning.
                Err(_) => glommio::timer::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    // Accept until told to stop; a drain keeps accepting so health checks get their 503.
    let controlled = obey(&shard, &boot.control, &boot.reports, background);
    futures_lite::future::or(controlled, accepting).await;
    drop(listener);
    // Graceful shutdown (decisions 15 and 20): close every WebSocket with 1001.
    drain::close_all(&shard).await;
}

/// Follows the process's orders until `Stop`, or until the deadline of a drain passes (so a
/// draining shard ends on time even if the process's stop were late).
async fn obey(
    shard: &Rc<Shard>,
    control: &ControlReceiver,
    reports: &crossbeam_channel::Sender<ShardReport>,
    background: glommio::TaskQueueHandle,
) {
    let mut deadline: Option<Instant> = None;
    loop {
        let order = match deadline {
            None => control.recv().await,
            Some(at) => {
                let expiry = async {
                    glommio::timer::sleep(at.saturating_duration_since(Instant::now())).await;
                    ShardControl::Stop
                };
                futures_lite::future::or(control.recv(), expiry).await
            }
        };
        match order {
            ShardControl::Drain { deadline: at } => {
                deadline = Some(deadline.map_or(at, |d| d.min(at)));
                let first = shard.drain.begin();
                // Every drain order is answered, so the process knows the shard drains now.
                let rooms = drain::report_rooms(shard, reports);
                if first {
                    let watch = drain::watch_rooms(shard.clone(), reports.clone(), rooms);
                    if let Ok(task) = glommio::spawn_local_into(watch, background) {
                        task.detach();
                    }
                }
            }
            ShardControl::Stop => return,
        }
    }
}
