//! The families beside the 0.1.0 set: `process_*` (read from /proc at scrape time),
//! `signal_fish_build_info`, `signal_fish_rooms_active` and `signal_fish_draining`.
//!
//! The process figures are checked on the real binary in a child process: this test binary
//! runs other tests in parallel, whose sockets would blur an open-fd count taken here.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::common::{Client, EVENT_TIMEOUT, start_with};
use crate::metrics::{get, prom_value, promtool_check};

/// The server binary as a child process; killed when dropped, so a failing test leaves
/// nothing running.
struct Binary {
    child: Child,
    port: u16,
}

impl Binary {
    /// Starts the binary with two shards on a free port and waits for its start line.
    fn start() -> Binary {
        // The kernel picks a free port; the server then binds it (SO_REUSEPORT needs a fixed
        // port for its shards to share).
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-fish-server"));
        cmd.current_dir(std::env::temp_dir());
        for (key, _) in std::env::vars() {
            if key.starts_with("SIGNAL_FISH") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .env("SIGNAL_FISH_PORT", port.to_string())
            .env("SIGNAL_FISH_SERVER__SHARDS", "2")
            .env("SIGNAL_FISH_SECURITY__MAX_CONNECTIONS_PER_IP", "1000")
            // No log files in the temporary directory; stdout is discarded anyway.
            .env("SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        // Read stderr on a thread until the start line, then keep draining it so the server
        // never blocks on a full pipe.
        let stderr = BufReader::new(child.stderr.take().expect("stderr piped"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.to_ascii_lowercase().contains("listening") {
                    let _ = tx.send(());
                }
            }
        });
        let binary = Binary { child, port };
        rx.recv_timeout(EVENT_TIMEOUT)
            .expect("the server printed its start line");
        binary
    }

    fn scrape(&self) -> String {
        let (status, _, body) = get(self.port, "/metrics/prom", None);
        assert_eq!(status, 200);
        body
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Value of the one `signal_fish_build_info` sample's label `key`.
fn build_label(text: &str, key: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("signal_fish_build_info{"))?;
    let rest = line.split_once(&format!("{key}=\""))?.1;
    Some(rest.split_once('"')?.0.to_owned())
}

#[test]
fn process_families_follow_the_real_process() {
    let before_start = chrono::Utc::now().timestamp() as f64;
    let server = Binary::start();
    let first = server.scrape();
    promtool_check(&first);
    let open_before = prom_value(&first, "process_open_fds");
    let max_fds = prom_value(&first, "process_max_fds");
    assert!(open_before > 0.0 && max_fds >= open_before, "{first}");
    let rss = prom_value(&first, "process_resident_memory_bytes");
    assert!(
        rss > 1_000_000.0,
        "a running server holds more than 1 MB: {rss}"
    );
    assert!(prom_value(&first, "process_virtual_memory_bytes") >= rss);
    let started = prom_value(&first, "process_start_time_seconds");
    // Start times have clock-tick resolution; the wall clock was read before the spawn.
    assert!(
        started >= before_start - 1.0 && started <= chrono::Utc::now().timestamp() as f64 + 1.0,
        "{started} vs {before_start}"
    );
    assert!(first.contains("# TYPE process_cpu_seconds_total counter"));
    assert_eq!(
        build_label(&first, "version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        build_label(&first, "wire_version").as_deref(),
        Some("0.1.0")
    );
    assert!(build_label(&first, "rustc").is_some_and(|r| r.starts_with("rustc ")));
    assert!(first.contains("\n# TYPE signal_fish_build_info gauge\n"));

    // Each open WebSocket is one more descriptor in the server.
    const CLIENTS: usize = 30;
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| Client::connect(server.port)).collect();
    let mut creator = clients.pop().expect("a client");
    creator.create_room("fds", "A", 4);
    let busy = server.scrape();
    let open_busy = prom_value(&busy, "process_open_fds");
    assert!(
        open_busy >= open_before + CLIENTS as f64,
        "{CLIENTS} connections took {open_before} -> {open_busy} descriptors"
    );
    assert_eq!(prom_value(&busy, "signal_fish_rooms_active"), 1.0);
    assert!(
        prom_value(&busy, "process_cpu_seconds_total")
            >= prom_value(&first, "process_cpu_seconds_total")
    );
    assert_eq!(
        prom_value(&busy, "process_start_time_seconds"),
        started,
        "the start time is constant"
    );

    // Closed connections give their descriptors back. Closes are processed asynchronously,
    // and a socket may outlive its session by a close handshake: poll the scrape (an event,
    // not a sleep) until both the gauge and the descriptor count say so.
    drop(clients);
    drop(creator);
    let mut last = String::new();
    let settled = (0..500).any(|_| {
        last = server.scrape();
        prom_value(&last, "signal_fish_connections_active") == 0.0
            && prom_value(&last, "process_open_fds") <= open_busy - CLIENTS as f64
    });
    assert!(
        settled,
        "descriptors were not given back: {open_busy} with {CLIENTS} clients, then {}",
        prom_value(&last, "process_open_fds")
    );
    // The creator dropped without LeaveRoom: its room waits for it to reconnect, and counts.
    assert_eq!(prom_value(&last, "signal_fish_rooms_active"), 1.0);
}

#[test]
fn rooms_active_follows_creates_and_leaves_on_both_shards() {
    let server = start_with(|_| {});
    let port = server.port();
    let rooms = || {
        prom_value(
            &get(port, "/metrics/prom", None).2,
            "signal_fish_rooms_active",
        )
    };
    assert_eq!(rooms(), 0.0);
    let mut a = Client::connect(port);
    let mut b = Client::connect(port);
    let joined = a.create_room_owned_by("gauge", "A", 4, 0);
    b.create_room_owned_by("gauge", "B", 4, 1);
    assert_eq!(rooms(), 2.0);
    // A second player in a room is not a second room.
    let code = joined["room_code"].as_str().expect("code").to_owned();
    let mut c = Client::connect(port);
    c.join_room("gauge", &code, "C");
    a.expect("PlayerJoined");
    assert_eq!(rooms(), 2.0);
    b.leave();
    assert_eq!(rooms(), 1.0);
    c.leave();
    a.expect("PlayerLeft");
    assert_eq!(rooms(), 1.0, "A is still in the room on shard 0");
    a.leave();
    assert_eq!(rooms(), 0.0);
    let text = get(port, "/metrics/prom", None).2;
    promtool_check(&text);
    server.shutdown();
}

#[test]
fn draining_gauge_says_when_the_server_drains() {
    let server = start_with(|_| {});
    let port = server.port();
    let draining = || prom_value(&get(port, "/metrics/prom", None).2, "signal_fish_draining");
    assert_eq!(draining(), 0.0);
    let drain = server.drain(EVENT_TIMEOUT);
    // `drain` returns once every shard drains, and scrapes still answer while it lasts.
    assert_eq!(draining(), 1.0);
    drop(drain);
    server.shutdown();
}
