//! Restarting the binary on its port: after `kill -9` of a server that had connections it
//! starts first time; a live server on the port is still reported.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    listener.local_addr().expect("addr").port()
}

fn server(port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-fish-server"));
    cmd.current_dir(std::env::temp_dir());
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGNAL_FISH") {
            cmd.env_remove(key);
        }
    }
    cmd.env("SIGNAL_FISH_PORT", port.to_string())
        .env("SIGNAL_FISH_SERVER__SHARDS", "2")
        .env("SIGNAL_FISH_SECURITY__MAX_CONNECTIONS_PER_IP", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// A spawned server, killed (SIGKILL) when dropped, so a failing test leaves none behind.
struct Running(Child);

impl Running {
    /// SIGKILL, then reap.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the binary and returns it with its first stderr line (the start line, or the
/// error that stopped it).
fn start(port: u16) -> (Running, String) {
    let mut child = server(port).spawn().expect("spawn the server");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("first line");
    (Running(child), line)
}

/// Opens a WebSocket by hand (upgrade request, read the 101) and keeps it open.
fn websocket(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(
            b"GET /v2/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("write");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).expect("read");
    assert_eq!(&head, b"HTTP/1.1 101");
    stream
}

fn health(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn a_server_killed_with_open_connections_restarts_at_once() {
    let port = free_port();
    let (mut child, line) = start(port);
    assert!(line.contains("listening"), "{line}");
    // Several rounds: the failure this guards against showed on nearly every restart.
    for round in 0..3 {
        let sockets: Vec<TcpStream> = (0..50).map(|_| websocket(port)).collect();
        child.kill();
        let (next, line) = start(port);
        child = next;
        assert!(line.contains("listening"), "round {round}: {line}");
        assert!(health(port).starts_with("HTTP/1.1 200"), "round {round}");
        drop(sockets);
    }
}

#[test]
fn a_live_server_on_the_port_is_reported() {
    let port = free_port();
    let (mut first, line) = start(port);
    assert!(line.contains("listening"), "{line}");
    let (mut second, line) = start(port);
    let status = second.0.wait().expect("second exits");
    assert_eq!(status.code(), Some(1), "{line}");
    assert!(line.contains("cannot listen on 0.0.0.0"), "{line}");
    assert!(line.contains("in use"), "{line}");
    assert!(health(port).starts_with("HTTP/1.1 200"));
    first.kill();
}
