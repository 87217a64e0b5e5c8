//! Starting and stopping the whole server: one pinned executor per shard.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

use crate::cluster::{Cluster, ClusterError};
use crate::config::{Config, ConfigError};
use crate::drain::Drain;
use crate::log::{Logging, events};
use crate::net::edge::Edge;
use crate::net::tls;
use crate::shard::boot::{self, ShardBoot};
use crate::shard::control::{self, ControlSender, ShardControl, ShardReport};
use crate::shard::routing::MAX_SHARDS;

/// Listen backlog per shard socket; the kernel caps it at `net.core.somaxconn`.
/// Submission-queue entries of each of a shard's io_uring rings (glommio's default is 128).
/// Every connection keeps a poll armed in the ring, and the kernel files armed polls in a
/// cancellation hash table sized from the ring: `2^(log2(completion entries) - 5)` buckets,
/// at most 256. With 128 entries (256 completions) that is 8 buckets, so each cancellation
/// glommio issues (a timer or readiness poll it no longer needs) walks a chain of a thousand
/// idle connections or more. 4,096 entries give the full 256 buckets for about 1 MB of rings
/// per shard (tuning.md, "idle crowd").
const RING_DEPTH: usize = 4096;
const LISTEN_BACKLOG: i32 = 4096;
/// How long a shard may take to come up.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Registered io_uring memory per executor. We do no file I/O, so glommio's 10 MiB default
/// would only be locked, unused memory.
const IO_MEMORY: usize = 256 << 10;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The configuration names something unusable (`Config::validate` reports the same).
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot start shard {index}: {source}")]
    Executor {
        index: usize,
        source: glommio::GlommioError<()>,
    },
    /// A shard's thread started but its executor did not come up (io_uring unavailable or
    /// blocked by seccomp, `kernel.io_uring_disabled`, too little locked memory, …).
    #[error(
        "shard executors failed to start (is io_uring available and allowed? see tuning.md): {0}"
    )]
    ShardsDown(String),
    /// A TLS file is missing, unreadable or unusable; the message names the file.
    #[error("failed to initialize TLS configuration: {0}")]
    Tls(#[from] tls::TlsSetupError),
    /// `cluster.nats_url` is set and the cluster could not be joined (NATS unreachable,
    /// JetStream off, …).
    #[error("cluster: {0}")]
    Cluster(#[from] ClusterError),
}

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    max_connections: usize,
    shards: usize,
    /// One control channel per shard, by index. Dropping them stops the shards.
    control: Vec<ControlSender>,
    /// What draining shards report.
    reports: crossbeam_channel::Receiver<ShardReport>,
    threads: Vec<glommio::ExecutorJoinHandle<()>>,
    logging: Logging,
    /// This node's cluster membership, when `cluster.nats_url` is set.
    cluster: Option<Cluster>,
}

/// Entry point for the binary, tests and embedders.
pub struct Server;

impl Server {
    /// Binds the port and starts every shard. Returns once all shards are listening.
    pub fn start(config: Config) -> Result<ServerHandle, StartError> {
        // Built once, before anything listens: a bad certificate stops the process here.
        let tls = tls::server_config(&config.security.transport.tls)?;
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let shards = match config.server.shards {
            0 => cores.len().max(1),
            n => n,
        }
        .min(MAX_SHARDS);
        // Pin only when every shard gets a core of its own; oversubscribed shards float.
        let pin = shards <= cores.len();
        let addr = SocketAddr::new(config.bind_ip()?, config.port);
        // The automatic connection cap follows the open-file limit the process runs with
        // (the binary raises it first).
        let nofile = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
        let edge = Edge::new(&config.security, nofile).map_err(|e| {
            ConfigError::invalid(
                "security.trusted_proxies",
                format!("security.trusted_proxies: {e}"),
            )
        })?;
        let max_connections = edge.capacity.limit();
        let edge = Arc::new(edge);
        let listeners = boot::bind_listeners(addr, shards, LISTEN_BACKLOG)
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listeners
            .first()
            .and_then(|s| s.local_addr().ok())
            .and_then(|a| a.as_socket())
            .unwrap_or(addr);
        let (mut senders, mut receivers) = boot::build_mesh(shards);
        let logging = Logging::start(&config.logging);
        // Before any shard serves: a node that cannot join its cluster must not take players.
        let (cluster, mut links) = match logging.scope(|| join_cluster(&config, addr, shards)) {
            Ok(joined) => joined,
            Err(err) => {
                logging.close();
                return Err(err);
            }
        };
        let config = Arc::new(config);
        let (control, control_rx): (Vec<_>, Vec<_>) =
            (0..shards).map(|_| control::channel()).unzip();
        // Unbounded: a shard never waits on a report, and it sends one per change of its
        // rooms in play, only while draining.
        let (reports_tx, reports) = crossbeam_channel::unbounded();
        let mut threads = Vec::with_capacity(shards);
        // Each shard reports once it listens; a shard whose executor cannot be built dies
        // before that, which closes its sender.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<()>(shards);
        for (index, (listener, control_rx)) in
            listeners.into_iter().zip(control_rx).enumerate().rev()
        {
            let boot = ShardBoot {
                index: index as u32,
                count: shards as u32,
                config: config.clone(),
                edge: edge.clone(),
                listener,
                senders: senders.pop().unwrap_or_default(),
                receivers: receivers.pop().unwrap_or_default(),
                control: control_rx,
                reports: reports_tx.clone(),
                tls: tls.clone(),
                ready: ready_tx.clone(),
                cluster: links.pop().flatten(),
            };
            let placement = match cores.get(index) {
                Some(core) if pin => Placement::Fixed(core.id),
                _ => Placement::Unbound,
            };
            let log = logging.for_shard(index as u32);
            let handle = LocalExecutorBuilder::new(placement)
                .name(&format!("shard-{index}"))
                .io_memory(IO_MEMORY)
                .ring_depth(RING_DEPTH)
                .spawn(move || log.run(boot::run(boot)))
                // Returning drops `control`, which stops the shards already started.
                .map_err(|source| StartError::Executor { index, source })?;
            threads.push(handle);
        }
        drop(ready_tx);
        drop(reports_tx);
        for _ in 0..shards {
            if ready_rx.recv_timeout(READY_TIMEOUT).is_err() {
                drop(control);
                let failures: Vec<String> = threads
                    .into_iter()
                    .filter_map(|t| t.join().err().map(|e| e.to_string()))
                    .collect();
                logging.close();
                return Err(StartError::ShardsDown(failures.join("; ")));
            }
        }
        logging.report_filter();
        logging.scope(|| {
            events::server_started(&summary(&config, addr, shards, max_connections, &logging))
        });
        Ok(ServerHandle {
            addr,
            max_connections,
            shards,
            control,
            reports,
            threads,
            logging,
            cluster,
        })
    }
}

/// Joins the cluster when `cluster.nats_url` is set; one link per shard (all `None` without a
/// cluster).
fn join_cluster(
    config: &Config,
    addr: SocketAddr,
    shards: usize,
) -> Result<(Option<Cluster>, Vec<Option<crate::cluster::ShardLink>>), StartError> {
    if !config.cluster.enabled() {
        return Ok((None, (0..shards).map(|_| None).collect()));
    }
    let node = config
        .cluster
        .node_id
        .clone()
        .unwrap_or_else(|| crate::cluster::default_node_id(addr.port()));
    let (cluster, links) = Cluster::start(&config.cluster, node, shards)?;
    Ok((Some(cluster), links.into_iter().map(Some).collect()))
}

impl ServerHandle {
    /// The port the server listens on (useful after binding port 0).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process-wide connection cap in force (`security.max_connections`, or the one
    /// derived from the open-file limit).
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// This node's id in its cluster, when `cluster.nats_url` is set.
    pub fn cluster_node_id(&self) -> Option<&str> {
        self.cluster.as_ref().map(Cluster::node_id)
    }

    /// How many shards are running.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Starts draining (decision 20) and returns once every shard drains: from then on
    /// `/health` and `/v2/health` answer 503, WebSocket upgrades get 503 and new rooms are
    /// refused, while rooms in play keep going. Wait for the end with [`Drain::wait`], then call
    /// [`ServerHandle::shutdown`]. Shards stop on their own once `grace` has passed.
    pub fn drain(&self, grace: Duration) -> Drain<'_> {
        let drain = Drain::begin(&self.control, &self.reports, grace);
        let rooms = drain.rooms_in_play();
        self.logging.scope(|| events::server_draining(grace, rooms));
        drain
    }

    /// Stops accepting, closes every WebSocket with 1001 and waits for the shards to finish.
    pub fn shutdown(self) {
        self.logging.scope(events::server_stopping);
        for shard in &self.control {
            shard.send(ShardControl::Stop);
        }
        for thread in self.threads {
            let _ = thread.join();
        }
        // Last: the other nodes learn this one left once its sockets are closed.
        if let Some(cluster) = self.cluster {
            cluster.stop();
        }
        self.logging.scope(events::server_stopped);
        self.logging.close();
    }
}

/// The settings the start record shows.
fn summary<'a>(
    config: &'a Config,
    addr: SocketAddr,
    shards: usize,
    max_connections: usize,
    logging: &'a Logging,
) -> events::Summary<'a> {
    let security = &config.security;
    events::Summary {
        addr,
        shards,
        max_connections,
        max_connections_per_ip: security.max_connections_per_ip,
        tls: security.transport.tls.enabled,
        websocket_auth: security.require_websocket_auth,
        metrics_auth: security.require_metrics_auth,
        apps: security.authorized_apps.len(),
        reconnection: config.server.enable_reconnection,
        trusted_proxies: security.trusted_proxies.len(),
        proxy_protocol: security.proxy_protocol,
        log_filter: logging.filter(),
        log_format: match config.logging.format {
            crate::config::LogFormat::Json => "json",
            crate::config::LogFormat::Text => "text",
        },
        log_file: logging.file().and_then(|p| p.to_str()),
    }
}
