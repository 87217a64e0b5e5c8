//! Test harness: a real server on an ephemeral port and blocking WebSocket clients.
//! Every wait is a blocking read of the next event, bounded by a timeout that only fires when
//! a test is already failing.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use signal_fish_server::config::Config;
use signal_fish_server::{Server, ServerHandle};
use tungstenite::{Message, WebSocket};

/// Longest a test waits for an event that should come.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A server with test-friendly defaults: port 0 and two shards.
pub fn start_server() -> ServerHandle {
    start_with(|_| {})
}

/// A server on port 0 with two shards and whatever `tweak` changes.
pub fn start_with(tweak: impl FnOnce(&mut Config)) -> ServerHandle {
    let mut config = Config {
        port: 0,
        ..Config::default()
    };
    config.server.shards = 2;
    // Every test client comes from 127.0.0.1: lift the per-IP limits unless a test sets them.
    config.security.max_connections_per_ip = 100_000;
    config.rate_limit.max_room_creations = 100_000;
    config.rate_limit.max_join_attempts = 100_000;
    tweak(&mut config);
    Server::start(config).expect("server starts")
}

/// One WebSocket client.
pub struct Client {
    ws: WebSocket<TcpStream>,
    /// The shard that accepted this connection (from the upgrade response).
    pub shard: u32,
}

impl Client {
    /// Connects to `/v2/ws`.
    pub fn connect(port: u16) -> Client {
        Self::connect_path(port, "/v2/ws")
    }

    /// Connects to a WebSocket path.
    pub fn connect_path(port: u16, path: &str) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
        stream
            .set_read_timeout(Some(EVENT_TIMEOUT))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (ws, response) = tungstenite::client(url.as_str(), stream).expect("ws handshake");
        let shard = response
            .headers()
            .get("x-signal-fish-shard")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("x-signal-fish-shard header");
        Client { ws, shard }
    }

    /// Connects until the accepting shard is `shard` (the kernel spreads connections).
    pub fn connect_to_shard(port: u16, shard: u32) -> Client {
        for _ in 0..200 {
            let client = Client::connect(port);
            if client.shard == shard {
                return client;
            }
        }
        panic!("no connection landed on shard {shard}");
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    pub fn send(&mut self, value: Value) {
        self.send_text(&value.to_string());
    }

    pub fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).expect("send binary");
    }

    /// The next message frame (text parsed as JSON); panics on close or timeout.
    pub fn recv(&mut self) -> Value {
        match self.recv_message() {
            Message::Text(text) => serde_json::from_str(text.as_str()).expect("server sent JSON"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next data frame, text or binary.
    pub fn recv_message(&mut self) -> Message {
        loop {
            match self.ws.read() {
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(msg) => return msg,
                Err(err) => panic!("connection ended while waiting for a message: {err}"),
            }
        }
    }

    /// The next message, which must be of type `ty`; returns its `data` (or `null`).
    pub fn expect(&mut self, ty: &str) -> Value {
        let msg = self.recv();
        assert_eq!(msg["type"], ty, "unexpected message: {msg}");
        msg.get("data").cloned().unwrap_or(Value::Null)
    }

    /// Asserts that nothing is queued for us: a `Ping` round trip comes back as the very next
    /// message.
    pub fn expect_quiet(&mut self) {
        self.send(json!({"type":"Ping"}));
        let msg = self.recv();
        assert_eq!(
            msg["type"], "Pong",
            "expected nothing before Pong, got {msg}"
        );
    }

    /// Waits for the server to close the connection; returns the close code if one was sent.
    pub fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.ws.read() {
                Ok(Message::Close(frame)) => {
                    let code = frame.map(|f| u16::from(f.code));
                    // Complete the handshake; the server then drops the socket.
                    while self.ws.read().is_ok() {}
                    return code;
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// `JoinRoom` creating a room; returns `RoomJoined.data`.
    pub fn create_room(&mut self, game: &str, name: &str, max_players: u8) -> Value {
        self.send(json!({"type":"JoinRoom","data":{"game_name":game,"player_name":name,"max_players":max_players}}));
        self.expect("RoomJoined")
    }

    /// `JoinRoom` by code; returns `RoomJoined.data`.
    pub fn join_room(&mut self, game: &str, code: &str, name: &str) -> Value {
        self.send(json!({"type":"JoinRoom","data":{"game_name":game,"room_code":code,"player_name":name}}));
        self.expect("RoomJoined")
    }

    /// `JoinRoom` expected to fail; returns `RoomJoinFailed.data`.
    pub fn join_failed(&mut self, data: Value) -> Value {
        self.send(json!({"type":"JoinRoom","data":data}));
        self.expect("RoomJoinFailed")
    }

    pub fn close(mut self) {
        let _ = self.ws.close(None);
        while self.ws.read().is_ok() {}
    }
}

/// Sends a raw HTTP request and returns (status, body).
pub fn http_get(port: u16, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
    stream
        .set_read_timeout(Some(EVENT_TIMEOUT))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
