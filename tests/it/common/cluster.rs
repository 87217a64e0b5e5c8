//! A cluster of real `signal-fish-server` processes around one real nats-server, for tests of
//! routing between nodes: start NATS and N nodes, wait until each serves and sees the others,
//! kill or drain one node, stop and restart NATS. Every process dies when the fixture drops.
//!
//! Missing nats-server: [`ClusterFixture::start`] goes through [`Nats::start`], so with
//! `SIGNAL_FISH_REQUIRE_NATS=1` (as `.ci/run` sets) the test fails naming the Debian package,
//! and without it the test prints a `SKIPPED` line and returns.
//!
//! Each node keeps the tail of its stdout and stderr; a test that panics with the fixture alive
//! prints them, so a failure shows what the servers said.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::Message;

use super::Client;
use super::nats::Nats;

/// Heartbeat of the test nodes, in seconds.
pub const HEARTBEAT_SECS: u64 = 1;
/// TTL of the test nodes, in seconds: a SIGKILLed node is noticed within about this long.
pub const TTL_SECS: u64 = 2;
/// Shards per node: two, so routing between shards and between nodes both take part.
pub const NODE_SHARDS: u32 = 2;

/// Longest wait for a node to start serving and see its peers.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of output kept per node for the failure dump.
const LOG_TAIL: usize = 200;

/// One node: its process, its WebSocket/HTTP port and the tail of what it printed.
pub struct Node {
    pub id: String,
    pub port: u16,
    child: Option<Child>,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Node {
    /// Starts the binary as node `id` of the NATS at `nats_url` with `env` on top of the test
    /// defaults, and waits for its start line (every shard listens, the cluster is joined).
    fn start(id: &str, nats_url: &str, env: &[(&str, String)]) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-fish-server"));
        cmd.current_dir(std::env::temp_dir());
        for (key, _) in std::env::vars() {
            if key.starts_with("SIGNAL_FISH") {
                cmd.env_remove(key);
            }
        }
        let defaults = [
            (
                "SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING",
                "false".to_owned(),
            ),
            ("SIGNAL_FISH_LOGGING__LEVEL", "warn".to_owned()),
            ("SIGNAL_FISH_SERVER__SHARDS", NODE_SHARDS.to_string()),
            ("SIGNAL_FISH_SERVER__HOST", "127.0.0.1".to_owned()),
            // Every test client comes from 127.0.0.1: lift the per-IP limits.
            (
                "SIGNAL_FISH_SECURITY__MAX_CONNECTIONS_PER_IP",
                "100000".to_owned(),
            ),
            (
                "SIGNAL_FISH_RATE_LIMIT__MAX_ROOM_CREATIONS",
                "100000".to_owned(),
            ),
            (
                "SIGNAL_FISH_RATE_LIMIT__MAX_JOIN_ATTEMPTS",
                "100000".to_owned(),
            ),
            ("SIGNAL_FISH_CLUSTER__NATS_URL", nats_url.to_owned()),
            ("SIGNAL_FISH_CLUSTER__NODE_ID", id.to_owned()),
            (
                "SIGNAL_FISH_CLUSTER__HEARTBEAT_INTERVAL_SECS",
                HEARTBEAT_SECS.to_string(),
            ),
            ("SIGNAL_FISH_CLUSTER__NODE_TTL_SECS", TTL_SECS.to_string()),
            ("SIGNAL_FISH_CLUSTER__CONNECT_TIMEOUT_SECS", "3".to_owned()),
        ];
        for (key, value) in defaults.iter().chain(env) {
            cmd.env(key, value);
        }
        let mut child = cmd
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary runs");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let stdout = child.stdout.take().expect("stdout piped");
        keep_tail(stdout, &log, None);
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::channel();
        keep_tail(stderr, &log, Some(tx));
        let mut node = Node {
            id: id.to_owned(),
            port: 0,
            child: Some(child),
            log,
        };
        node.port = node.wait_start_line(&lines);
        node.wait_healthy();
        node
    }

    /// The port from the start line (`Signal Fish listening on 127.0.0.1:<port> …`).
    fn wait_start_line(&mut self, lines: &mpsc::Receiver<String>) -> u16 {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = start_line_port(&line) {
                        return port;
                    }
                }
                Err(_) => {
                    let status = self
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten());
                    panic!(
                        "node {} did not start within {START_TIMEOUT:?} (exit: {status:?}):\n{}",
                        self.id,
                        self.log_text()
                    );
                }
            }
        }
    }

    /// Polls `/v2/health` until it answers 200.
    fn wait_healthy(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if health_status(self.port) == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("node {} never answered /v2/health with 200", self.id);
    }

    /// A WebSocket client connected to this node.
    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// A Prometheus gauge or counter of this node (first sample of `name`), if it answers.
    pub fn metric(&self, name: &str) -> Option<f64> {
        metric_of(self.port, name)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM (the drain of decision 20); the process keeps running until it is done.
    pub fn terminate(&self) {
        let pid = self.child.as_ref().expect("node is running").id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Waits up to `within` for the process to exit; its status.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("node was running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} still running {within:?} later:\n{}",
                self.id,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the node printed lately (the last `LOG_TAIL` lines of stdout and stderr).
    pub fn log_text(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// NATS with JetStream plus N nodes named `a`, `b`, `c`, ….
pub struct ClusterFixture {
    pub nats: Nats,
    pub nodes: Vec<Node>,
}

impl ClusterFixture {
    /// NATS and `n` nodes with the test defaults; `None` when the test is skipped (no
    /// nats-server and `SIGNAL_FISH_REQUIRE_NATS` unset, see `nats.rs`).
    pub fn start(test: &str, n: usize) -> Option<ClusterFixture> {
        Self::start_with(test, n, |_| Vec::new())
    }

    /// As [`start`](Self::start), with `env(i)` added to node `i`'s environment.
    pub fn start_with(
        test: &str,
        n: usize,
        env: impl Fn(usize) -> Vec<(&'static str, String)>,
    ) -> Option<ClusterFixture> {
        let nats = Nats::start(test)?;
        let url = nats.url();
        // Started in parallel: each start is mostly waiting for NATS and the listeners.
        let nodes = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let env = env(i);
                    let url = &url;
                    s.spawn(move || Node::start(&node_name(i), url, &env))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let fixture = ClusterFixture { nats, nodes };
        fixture.wait_all_see_each_other();
        Some(fixture)
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// A WebSocket client on node `i`.
    pub fn client(&self, i: usize) -> Client {
        self.nodes[i].client()
    }

    /// Waits until every running node counts every other running node alive
    /// (`signal_fish_cluster_nodes_alive`), so a later death is noticed by liveness.
    pub fn wait_all_see_each_other(&self) {
        let others = self.nodes.len().saturating_sub(1) as f64;
        let deadline = Instant::now() + START_TIMEOUT;
        for node in &self.nodes {
            loop {
                let alive = node.metric("signal_fish_cluster_nodes_alive");
                if alive == Some(others) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {} sees {alive:?} other nodes alive, expected {others}:\n{}",
                    node.id,
                    node.log_text()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Waits until every running node says its NATS connection is up.
    pub fn wait_nats_connected(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        for node in &mut self.nodes {
            if !node.is_running() {
                continue;
            }
            while node.metric("signal_fish_cluster_nats_connected") != Some(1.0) {
                assert!(
                    Instant::now() < deadline,
                    "node {} not reconnected to NATS within {within:?}:\n{}",
                    node.id,
                    node.log_text()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// SIGTERM node `i`.
    pub fn terminate(&self, i: usize) {
        self.nodes[i].terminate();
    }

    /// Stops nats-server (SIGKILL), runs `while_down`, and starts it again on the same port
    /// and store directory.
    pub fn restart_nats(&mut self, while_down: impl FnOnce()) {
        self.nats.restart(while_down);
    }
}

impl Drop for ClusterFixture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!(
                    "---- node {} (port {}) said:\n{}",
                    node.id,
                    node.port,
                    node.log_text()
                );
            }
        }
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

/// `a`, `b`, `c`, … for node 0, 1, 2, ….
fn node_name(i: usize) -> String {
    let letter = u8::try_from(i)
        .ok()
        .and_then(|i| b"abcdefghij".get(usize::from(i)));
    letter.map_or_else(|| format!("n{i}"), |l| char::from(*l).to_string())
}

/// Reads `from` line by line into `log` (keeping the last `LOG_TAIL`), forwarding each line to
/// `tx` while someone listens. The thread ends with the process's pipe.
fn keep_tail(
    from: impl Read + Send + 'static,
    log: &Arc<Mutex<VecDeque<String>>>,
    tx: Option<mpsc::Sender<String>>,
) {
    let log = Arc::clone(log);
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if let Some(tx) = &tx {
                let _ = tx.send(line.clone());
            }
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            if log.len() == LOG_TAIL {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
}

/// The port of a start line, or `None` for any other line.
fn start_line_port(line: &str) -> Option<u16> {
    let rest = line.split("Signal Fish listening on ").nth(1)?;
    let addr = rest.split(' ').next()?;
    addr.rsplit(':').next()?.parse().ok()
}

/// The status `/v2/health` answers with, `None` if the node does not answer.
fn health_status(port: u16) -> Option<u16> {
    get(port, "/v2/health").map(|(status, _)| status)
}

/// The first sample of `name` in the node's Prometheus scrape.
fn metric_of(port: u16, name: &str) -> Option<f64> {
    let (status, body) = get(port, "/metrics/prom")?;
    if status != 200 {
        return None;
    }
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split(['{', ' ']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A GET of `path` on loopback: status and body, `None` when the node does not answer (it may
/// be starting or dead; pollers try again).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// What a client's connection did next.
#[derive(Debug)]
pub enum Next {
    /// A text frame, parsed as JSON.
    Json(Value),
    /// A binary frame.
    Binary(Vec<u8>),
    /// The server's close frame (with its code, if any).
    Closed(Option<u16>),
    /// The connection ended without a close frame.
    Dropped(String),
    /// Nothing arrived within the read timeout.
    TimedOut,
}

impl Client {
    /// The next frame or what ended the wait (never pings and pongs), within the read timeout
    /// (`EVENT_TIMEOUT` unless [`set_read_timeout`](Self::set_read_timeout) changed it).
    pub fn next(&mut self) -> Next {
        loop {
            match self.ws.read() {
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Ok(Message::Text(text)) => {
                    return Next::Json(serde_json::from_str(text.as_str()).expect("JSON"));
                }
                Ok(Message::Binary(bytes)) => return Next::Binary(bytes.to_vec()),
                Ok(Message::Close(frame)) => return Next::Closed(frame.map(|f| u16::from(f.code))),
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Next::TimedOut;
                }
                Err(e) => return Next::Dropped(e.to_string()),
            }
        }
    }

    /// Bounds every later read of this client.
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.ws
            .get_ref()
            .set_read_timeout(Some(timeout))
            .expect("set timeout");
    }

    /// Reads until a message `pick` keeps, before `deadline`; other messages are skipped.
    /// Panics naming `what` if the deadline passes or the connection ends first.
    pub fn wait_for<T>(
        &mut self,
        deadline: Instant,
        what: &str,
        mut pick: impl FnMut(&Value) -> Option<T>,
    ) -> T {
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {what} before the deadline; skipped {skipped:?}"
            );
            self.set_read_timeout(left);
            match self.next() {
                Next::Json(msg) => {
                    if let Some(found) = pick(&msg) {
                        self.set_read_timeout(super::EVENT_TIMEOUT);
                        return found;
                    }
                    skipped.push(msg);
                }
                Next::TimedOut => panic!("no {what} before the deadline; skipped {skipped:?}"),
                other => panic!("waiting for {what}: {other:?}; skipped {skipped:?}"),
            }
        }
    }
}

/// Asserts that each of `clients` hears `PlayerReconnected` for `player` before `deadline`.
pub fn all_see_reconnected(clients: [&mut Client; 2], deadline: Instant, player: &str) {
    for c in clients {
        let again = c.wait_for(deadline, "PlayerReconnected", |m| {
            of_type(m, "PlayerReconnected")
        });
        assert_eq!(again["player_id"], player);
    }
}

/// A deadline `d` from now.
pub fn after(d: Duration) -> Instant {
    Instant::now() + d
}

/// Whether `msg` is of `type` `ty`; its `data` if so.
pub fn of_type(msg: &Value, ty: &str) -> Option<Value> {
    (msg["type"] == ty).then(|| msg.get("data").cloned().unwrap_or(Value::Null))
}

/// Whether `msg` is an `Error` with `code`.
pub fn is_error(msg: &Value, code: &str) -> bool {
    msg["type"] == "Error" && msg["data"]["error_code"] == code
}

/// `JoinAsSpectator`; reads nothing.
pub fn spectate(client: &mut Client, game: &str, code: &str, name: &str) {
    client.send(serde_json::json!({"type":"JoinAsSpectator","data":{
        "game_name": game, "room_code": code, "spectator_name": name}}));
}

/// `GameData` `{"from": from, "n": n}`.
pub fn send_numbered(client: &mut Client, from: usize, n: u64) {
    client.send_game_data(serde_json::json!({"from": from, "n": n}));
}

/// `(from, n)` of a numbered `GameData` message (see [`send_numbered`]).
pub fn numbered(msg: &Value) -> Option<(usize, u64)> {
    if msg["type"] != "GameData" {
        return None;
    }
    let data = &msg["data"]["data"];
    let from = usize::try_from(data["from"].as_u64()?).ok()?;
    Some((from, data["n"].as_u64()?))
}

/// Reads until `want` numbered `GameData` messages have come (other messages are skipped),
/// before `deadline`; returns them in arrival order.
pub fn collect_numbered(
    client: &mut Client,
    want: usize,
    deadline: Instant,
    who: &str,
) -> Vec<(usize, u64)> {
    let mut got = Vec::with_capacity(want);
    while got.len() < want {
        let what = format!(
            "GameData {} of {want} at {who} (got {got:?})",
            got.len() + 1
        );
        got.push(client.wait_for(deadline, &what, numbered));
    }
    got
}

/// The numbers from `from`, in the order they appear in `seen`.
pub fn from_sender(seen: &[(usize, u64)], from: usize) -> Vec<u64> {
    seen.iter()
        .filter(|(f, _)| *f == from)
        .map(|(_, n)| *n)
        .collect()
}

/// Sends the `Reconnect` of `ticket` until it is answered `Reconnected` (the server may still
/// count the old socket as connected: `PLAYER_ALREADY_CONNECTED` is tried again), before
/// `deadline`. Returns `Reconnected.data`.
pub fn reclaim(client: &mut Client, ticket: &super::Ticket, deadline: Instant) -> Value {
    loop {
        ticket.send(client);
        let msg = client.wait_for(deadline, "an answer to Reconnect", |m| {
            matches!(
                m["type"].as_str(),
                Some("Reconnected" | "ReconnectionFailed")
            )
            .then(|| m.clone())
        });
        match msg["type"].as_str() {
            Some("Reconnected") => return msg["data"].clone(),
            _ if msg["data"]["error_code"] == "PLAYER_ALREADY_CONNECTED"
                && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => panic!("Reconnect refused: {msg}"),
        }
    }
}
