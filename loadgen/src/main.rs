//! `signal-fish-bench`: a load generator for Signal Fish protocol v2 servers (ours or the
//! original `signal-fish-server` 0.1.0).
//!
//! The process that parses the flags is the coordinator. It runs the client units itself
//! (`--processes 1`) or forks copies of itself that run units and talk to it over stdin/stdout
//! as JSON lines; either way every unit reports for itself and the coordinator merges.

mod clock;
mod death;
mod engine;
mod failures;
mod fleet;
mod procstat;
mod report;
mod summary;
mod transport;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::engine::{Endpoint, EngineConfig, UnitWork};
use crate::transport::TlsClient;

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Rooms exchanging `GameData` at a fixed rate: relay latency, delivery, throughput.
    Relay,
    /// Authenticated idle connections: server RSS per connection.
    Idle,
    /// Raise the rate step by step: the highest rate with 100% delivery and p99 under a bound.
    Ramp,
    /// Paced room creations and joins (optionally beside relay rooms as background load):
    /// create/join latency and how long members wait for `PlayerJoined`.
    Join,
    /// Cluster failover: fill rooms spread over the `--url`s, SIGKILL `--kill-pid` (the node
    /// of the first URL, the rooms' home) and time how long each member on another node waits
    /// for `Error{ROOM_NOT_FOUND}`.
    Kill,
}

/// Join mode: when the paced rooms' members connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JoinConnect {
    /// Each member connects and authenticates right before its `JoinRoom`, like a client that
    /// joins as soon as it is in.
    Fresh,
    /// All members connect and authenticate first and stay silent until their `JoinRoom`.
    Ahead,
}

/// Load generator for Signal Fish (protocol v2) servers.
#[derive(Parser, Debug, Clone)]
#[command(name = "signal-fish-bench", version, about)]
pub struct Cli {
    /// Server WebSocket URL: ws://host:port/path, or wss://… with --tls-ca. Several,
    /// comma-separated (nodes of one cluster): member k of every room (k = 0 is the creator)
    /// connects to URL number k mod N, so rooms span the nodes; idle connections go round-robin.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ws://127.0.0.1:3536/v2/ws"
    )]
    pub url: Vec<String>,
    /// wss://: PEM file of the CA (or certificates) to trust; the system's are never used.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// wss://: allow TLS session resumption (default: a full handshake per connection).
    #[arg(long)]
    pub tls_resume: bool,
    /// Scenario.
    #[arg(long, value_enum, default_value_t = Mode::Relay)]
    pub mode: Mode,
    /// Connections in total (relay/ramp: rounded down to whole rooms).
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub connections: usize,
    /// Number of rooms; overrides --connections (connections = rooms x room-size).
    #[arg(long)]
    pub rooms: Option<usize>,
    /// Players per room.
    #[arg(short = 'p', long, default_value_t = 4)]
    pub room_size: usize,
    /// GameData messages per second per player.
    #[arg(short = 'r', long, default_value_t = 20.0)]
    pub rate: f64,
    /// Measured seconds (after the warm-up).
    #[arg(short = 'd', long, default_value_t = 20.0)]
    pub duration: f64,
    /// Seconds of sending before measuring starts.
    #[arg(short = 'w', long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Approximate size in bytes of the JSON value relayed as GameData.data (min ~30).
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
    /// Seconds to wait for outstanding deliveries after sending stops.
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,
    /// Authenticate.app_id.
    #[arg(long, default_value = "bench")]
    pub app_id: String,
    /// Authenticate.sdk_version.
    #[arg(long, default_value = "1.0.0")]
    pub sdk_version: String,
    /// Authenticate.platform.
    #[arg(long, default_value = "test")]
    pub platform: String,
    /// JoinRoom.game_name.
    #[arg(long, default_value = "bench")]
    pub game_name: String,
    /// Server process id: report its RSS and CPU time (from /proc). Several, comma-separated
    /// (the nodes of a cluster): their sums are reported.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Kill mode: the process to SIGKILL once the rooms are full (the node of the first URL).
    #[arg(long)]
    pub kill_pid: Option<u32>,
    /// Kill mode: seconds to wait after the kill for every notice.
    #[arg(long, default_value_t = 20.0)]
    pub kill_wait: f64,
    /// Executor threads per process (default: usable CPUs / processes, at least 1).
    #[arg(short = 't', long)]
    pub threads: Option<usize>,
    /// Client processes (each is limited to 20,000 open files on this machine).
    #[arg(short = 'P', long, default_value_t = 1)]
    pub processes: usize,
    /// Pin each executor thread to one of the CPUs this process may use.
    #[arg(long)]
    pub pin: bool,
    /// Local addresses to connect from, comma separated (round-robin per connection).
    #[arg(long, value_delimiter = ',')]
    pub source_ips: Vec<IpAddr>,
    /// Shorthand for --source-ips 127.0.0.1,...,127.0.0.N.
    #[arg(long)]
    pub source_ip_count: Option<u8>,
    /// Connection attempts in flight per thread.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Rooms being created and filled at once per thread.
    #[arg(long, default_value_t = 32)]
    pub join_concurrency: usize,
    /// Seconds allowed to connect + authenticate, and for each JoinRoom.
    #[arg(long, default_value_t = 10.0)]
    pub setup_timeout: f64,
    /// Failed connections plus failed rooms tolerated before the run counts as failed (exit 1,
    /// stopping after the phase that exceeded it). A failed run's numbers describe a different
    /// load than the one asked for.
    #[arg(long, default_value_t = 0)]
    pub max_failures: u64,
    /// Seconds between Ping frames of a running connection.
    #[arg(long, default_value_t = 10.0)]
    pub heartbeat: f64,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 1.0)]
    pub progress: f64,
    /// Idle mode: seconds to wait after connecting before reading the server's RSS.
    #[arg(long, default_value_t = 2.0)]
    pub idle_settle: f64,
    /// Ramp: first rate (messages/s per player).
    #[arg(long, default_value_t = 10.0)]
    pub ramp_start: f64,
    /// Ramp: each step multiplies the rate by this.
    #[arg(long, default_value_t = 1.5)]
    pub ramp_factor: f64,
    /// Ramp: never offer more than this (messages/s per player).
    #[arg(long, default_value_t = 5000.0)]
    pub ramp_max: f64,
    /// Ramp: measured seconds per step.
    #[arg(long, default_value_t = 5.0)]
    pub ramp_duration: f64,
    /// Ramp: warm-up seconds per step.
    #[arg(long, default_value_t = 1.0)]
    pub ramp_warmup: f64,
    /// Ramp: a step passes when every delivery arrived and relay p99 is below this (ms).
    #[arg(long, default_value_t = 10.0)]
    pub ramp_p99_ms: f64,
    /// Ramp: bisection steps between the last pass and the first failure.
    #[arg(long, default_value_t = 2)]
    pub ramp_refine: u32,
    /// Ramp: seconds of rest between steps.
    #[arg(long, default_value_t = 1.0)]
    pub ramp_pause: f64,
    /// Join mode: paced rooms to create and fill (of --room-size players each).
    #[arg(long, default_value_t = 200)]
    pub join_rooms: usize,
    /// Join mode: paced rooms started per second.
    #[arg(long, default_value_t = 20.0)]
    pub join_rate: f64,
    /// Join mode: when the paced rooms' members connect.
    #[arg(long, value_enum, default_value_t = JoinConnect::Fresh)]
    pub join_connect: JoinConnect,
    /// A free-form label copied into the JSON result.
    #[arg(long)]
    pub label: Option<String>,
    /// Internal: run as worker process number N of --processes (driven over stdin/stdout).
    #[arg(long, hide = true)]
    pub worker_id: Option<usize>,
}

impl Cli {
    /// Connections actually used.
    pub fn total_connections(&self) -> usize {
        match self.mode {
            Mode::Idle => self.connections,
            Mode::Join => (self.room_count() + self.join_rooms) * self.room_size,
            _ => self.room_count() * self.room_size,
        }
    }

    pub fn room_count(&self) -> usize {
        match self.mode {
            Mode::Idle => self.connections,
            _ => self
                .rooms
                .unwrap_or(self.connections / self.room_size.max(1)),
        }
    }

    /// Threads per process.
    pub fn threads_per_process(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cpus / self.processes.max(1)).max(1)
        })
    }

    fn source_addresses(&self) -> Vec<IpAddr> {
        let mut ips = self.source_ips.clone();
        if let Some(n) = self.source_ip_count {
            ips.extend((1..=n).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))));
        }
        ips
    }

    fn engine_config(&self) -> Result<EngineConfig, String> {
        let endpoints = self
            .url
            .iter()
            .map(|url| self.endpoint(url))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err("--url is empty".into());
        }
        let auth_text = serde_json::json!({
            "type": "Authenticate",
            "data": {"app_id": self.app_id, "sdk_version": self.sdk_version, "platform": self.platform},
        })
        .to_string();
        Ok(EngineConfig {
            endpoints,
            auth_text,
            game_name: self.game_name.clone(),
            room_size: if self.mode == Mode::Idle {
                1
            } else {
                self.room_size
            },
            payload_bytes: self.payload_bytes,
            source_ips: self.source_addresses(),
            connect_concurrency: self.connect_concurrency,
            join_concurrency: self.join_concurrency,
            setup_timeout: Duration::from_secs_f64(self.setup_timeout.max(0.1)),
            heartbeat_ns: clock::secs_ns(self.heartbeat.max(0.1)),
            join_ahead: self.join_connect == JoinConnect::Ahead,
        })
    }

    /// Resolves one `--url`.
    fn endpoint(&self, url: &str) -> Result<Endpoint, String> {
        let target = Target::parse(url)?;
        let addr: SocketAddr = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
            .next()
            .ok_or_else(|| format!("{} resolves to nothing", target.host))?;
        let tls = match (target.tls, &self.tls_ca) {
            (true, Some(ca)) => Some(TlsClient::new(&target.host, ca, self.tls_resume)?),
            (true, None) => return Err("wss:// needs --tls-ca <PEM>".into()),
            (false, Some(_)) => return Err("--tls-ca is for wss:// URLs".into()),
            (false, None) => None,
        };
        Ok(Endpoint {
            url: url.to_owned(),
            addr,
            tls,
        })
    }

    /// The URLs as one string, for the report.
    pub fn urls(&self) -> String {
        self.url.join(",")
    }

    fn validate(&self) -> Result<(), String> {
        if self.mode != Mode::Idle && !(2..=255).contains(&self.room_size) {
            return Err("--room-size must be 2..=255".into());
        }
        if self.total_connections() == 0 {
            return Err("no connections to open".into());
        }
        if self.mode == Mode::Join
            && (self.join_rooms == 0 || !(self.join_rate.is_finite() && self.join_rate > 0.0))
        {
            return Err("join mode needs --join-rooms and a positive --join-rate".into());
        }
        if self.processes == 0 {
            return Err("--processes must be at least 1".into());
        }
        if self.mode == Mode::Kill {
            if self.kill_pid.is_none() || self.url.len() < 2 {
                return Err(
                    "kill mode needs --kill-pid and at least two --url (the first one is the node that dies)"
                        .into(),
                );
            }
            if self.processes != 1 {
                return Err("kill mode runs in one process".into());
            }
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.rate) || !positive(self.ramp_start) || !positive(self.ramp_factor - 1.0) {
            return Err("rates must be positive and --ramp-factor above 1".into());
        }
        if self.game_name.contains(['"', '\\']) {
            return Err("--game-name must not contain quotes or backslashes".into());
        }
        Ok(())
    }
}

/// The rooms of process `proc_id`, split over its units: room `r` goes to process
/// `r % processes`; a process deals its rooms out to its units in turn. A room's connections
/// are numbered `r * size .. (r + 1) * size`. In join mode process 0 has one more unit, which
/// owns all the paced rooms (numbered after the background rooms): joins are rare, and a
/// thread of their own keeps their timestamps clear of the background traffic.
pub fn assign(cli: &Cli, proc_id: usize) -> Vec<UnitWork> {
    let size = if cli.mode == Mode::Idle {
        1
    } else {
        cli.room_size
    };
    let threads = cli.threads_per_process();
    let mut units: Vec<UnitWork> = vec![UnitWork::default(); threads];
    let mine = (0..cli.room_count()).filter(|r| r % cli.processes == proc_id);
    for (k, room) in mine.enumerate() {
        units[k % threads]
            .rooms
            .push((room * size..(room + 1) * size).collect());
    }
    units.retain(|unit| !unit.rooms.is_empty());
    if cli.mode == Mode::Join && proc_id == 0 {
        let first = cli.room_count();
        units.push(UnitWork {
            rooms: (first..first + cli.join_rooms)
                .map(|room| (room * size..(room + 1) * size).collect())
                .collect(),
            probe: true,
        });
    }
    units
}

/// Raises this process's open-file soft limit to the hard limit; returns the new soft limit.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for get/setrlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = cli.validate() {
        eprintln!("signal-fish-bench: {err}");
        return ExitCode::from(2);
    }
    let config = match cli.engine_config() {
        Ok(config) => Arc::new(config),
        Err(err) => {
            eprintln!("signal-fish-bench: {err}");
            return ExitCode::from(2);
        }
    };
    let nofile = raise_nofile();
    let per_process = cli.total_connections().div_ceil(cli.processes);
    if nofile > 0 && per_process as u64 + 64 > nofile {
        eprintln!(
            "signal-fish-bench: warning: {per_process} connections per process but only {nofile} open files; use --processes"
        );
    }
    let result = match cli.worker_id {
        Some(id) => fleet::worker_main(&cli, id, config),
        None if cli.mode == Mode::Kill => death::run(&cli, config),
        None => fleet::coordinate(&cli, config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("signal-fish-bench: {err}");
            ExitCode::from(1)
        }
    }
}

/// Where `--url` points.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    /// DNS name or IP address (IPv6 without brackets): what to resolve and, with TLS, the name
    /// the server certificate must carry.
    host: String,
    port: u16,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("ws://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (true, rest)
        } else {
            return Err(format!(
                "only ws:// and wss:// URLs are supported, got {url}"
            ));
        };
        let authority = rest.split('/').next().unwrap_or(rest);
        let default_port = if tls { 443 } else { 80 };
        let bad = || format!("bad host or port in {url}");
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => default_port,
                None => return Err(bad()),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, p)) => (host, p.parse().map_err(|_| bad())?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Target {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = |tls, host: &str, port| Target {
            tls,
            host: host.into(),
            port,
        };
        assert_eq!(
            Target::parse("ws://127.0.0.1:3536/v2/ws"),
            Ok(t(false, "127.0.0.1", 3536))
        );
        assert_eq!(
            Target::parse("wss://localhost/v2/ws"),
            Ok(t(true, "localhost", 443))
        );
        assert_eq!(Target::parse("ws://[::1]:9/x"), Ok(t(false, "::1", 9)));
        assert_eq!(Target::parse("wss://[::1]"), Ok(t(true, "::1", 443)));
        assert!(Target::parse("http://localhost/").is_err());
        assert!(Target::parse("ws://host:port/").is_err());
        assert!(Target::parse("ws://:80/").is_err());
    }

    #[test]
    fn wss_needs_a_ca_and_ws_takes_none() {
        let err = cli(&["--url", "wss://127.0.0.1:1/v2/ws"])
            .engine_config()
            .unwrap_err();
        assert!(err.contains("--tls-ca"), "{err}");
        let err = cli(&["--tls-ca", "/nonexistent.pem"])
            .engine_config()
            .unwrap_err();
        assert!(err.contains("wss://"), "{err}");
        let err = cli(&[
            "--url",
            "wss://127.0.0.1:1/v2/ws",
            "--tls-ca",
            "/nonexistent.pem",
        ])
        .engine_config()
        .unwrap_err();
        assert!(err.contains("/nonexistent.pem"), "{err}");
    }

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("signal-fish-bench").chain(args.iter().copied()))
    }

    #[test]
    fn rooms_are_split_over_processes_and_units() {
        let cli = cli(&["-n", "40", "-p", "4", "--processes", "2", "--threads", "2"]);
        let p0 = assign(&cli, 0);
        let p1 = assign(&cli, 1);
        assert_eq!(p0.len(), 2);
        let mut all: Vec<usize> = p0
            .iter()
            .chain(p1.iter())
            .flat_map(|unit| &unit.rooms)
            .flatten()
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..40).collect::<Vec<_>>());
        // A room's members stay together.
        assert_eq!(p0[0].rooms[0], vec![0, 1, 2, 3]);
        assert!(p0.iter().chain(p1.iter()).all(|unit| !unit.probe));
    }

    #[test]
    fn join_mode_adds_one_probe_unit_to_the_first_process() {
        let join = cli(&[
            "--mode",
            "join",
            "-n",
            "8",
            "-p",
            "4",
            "--join-rooms",
            "3",
            "--processes",
            "2",
            "--threads",
            "1",
        ]);
        assert_eq!(join.total_connections(), 20);
        let p0 = assign(&join, 0);
        let p1 = assign(&join, 1);
        assert_eq!(p0.len(), 2);
        assert_eq!(p1.len(), 1);
        assert!(p0[1].probe && !p0[0].probe && !p1[0].probe);
        // Paced rooms come after the two background rooms.
        assert_eq!(
            p0[1].rooms,
            vec![
                vec![8, 9, 10, 11],
                vec![12, 13, 14, 15],
                vec![16, 17, 18, 19]
            ]
        );
        // Without background load there is only the probe unit.
        let idle = cli(&["--mode", "join", "-n", "0", "--join-rooms", "2"]);
        assert_eq!(assign(&idle, 0).len(), 1);
        assert!(idle.validate().is_ok());
        assert!(
            cli(&["--mode", "join", "--join-rooms", "0"])
                .validate()
                .is_err()
        );
    }

    #[test]
    fn idle_uses_every_connection() {
        let cli = cli(&["--mode", "idle", "-n", "7", "--threads", "3"]);
        assert_eq!(cli.total_connections(), 7);
        let units = assign(&cli, 0);
        assert_eq!(units.iter().flat_map(|unit| &unit.rooms).count(), 7);
    }

    #[test]
    fn url_and_auth_frame() {
        let cli = cli(&["--url", "ws://127.0.0.1:3601/v2/ws"]);
        let config = cli.engine_config().unwrap();
        assert_eq!(config.endpoints[0].addr.port(), 3601);
        let auth: serde_json::Value = serde_json::from_str(&config.auth_text).unwrap();
        assert_eq!(auth["data"]["platform"], "test");
        assert!(cli_source(&["--source-ip-count", "3"]).len() == 3);
    }

    fn cli_source(args: &[&str]) -> Vec<IpAddr> {
        cli(args).source_addresses()
    }
}
