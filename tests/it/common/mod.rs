//! Test harness: a real server on an ephemeral port and blocking WebSocket clients.
//! Every wait is a blocking read of the next event, bounded by a timeout that only fires when
//! a test is already failing.

#![allow(dead_code)]

pub mod cluster;
pub mod nats;
pub mod promtool;
pub mod raw;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use signal_fish_server::config::Config;
use signal_fish_server::shard::routing::room_owner;
use signal_fish_server::{Server, ServerHandle};
use tungstenite::{Message, WebSocket};

/// Longest a test waits for an event that should come.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Shards every test server runs.
pub const SHARDS: u32 = 2;

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
    config.server.shards = SHARDS as usize;
    // Every test client comes from 127.0.0.1 and `connect_to_shard` may open dozens of
    // connections: lift the per-IP limits unless a test sets them.
    config.security.max_connections_per_ip = 100_000;
    config.rate_limit.max_room_creations = 100_000;
    config.rate_limit.max_join_attempts = 100_000;
    quiet(&mut config);
    tweak(&mut config);
    Server::start(config).expect("server starts")
}

/// No logs: test output stays readable and no `logs/` directory appears. Tests of logging
/// turn it back on in their `tweak`.
pub fn quiet(config: &mut Config) {
    config.logging.level = Some("off".to_owned());
    config.logging.enable_file_logging = false;
}

/// The shard that owns the room a `RoomJoined` (or `SpectatorJoined`) describes.
pub fn owner_of(joined: &Value) -> u32 {
    room_owner(
        str_of(joined, "game_name"),
        str_of(joined, "room_code"),
        SHARDS,
    )
}

/// A string field, or a panic naming it.
pub fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{key}` in {value}"))
}

/// The other shard of a two-shard server.
pub fn other_shard(shard: u32) -> u32 {
    (shard + 1) % SHARDS
}

/// A syntactically valid room code that can never name a room (generated codes have no `0`)
/// and that hashes to `owner` for `game`.
pub fn unused_code_owned_by(game: &str, owner: u32) -> String {
    (0..10_000)
        .map(|i| format!("0{i:05}"))
        .find(|code| room_owner(game, code, SHARDS) == owner)
        .expect("some code hashes to every shard")
}

/// One WebSocket client, over plain TCP unless a test brings another stream (TLS through a
/// proxy).
pub struct Client<S = TcpStream> {
    ws: WebSocket<S>,
    /// The shard that accepted this connection (from the upgrade response).
    pub shard: u32,
}

impl<S: Read + Write> Client<S> {
    /// Wraps an upgraded WebSocket; the response must carry the serving shard.
    pub fn from_upgrade(
        ws: WebSocket<S>,
        response: &tungstenite::handshake::client::Response,
    ) -> Self {
        let shard = response
            .headers()
            .get("x-signal-fish-shard")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("x-signal-fish-shard header");
        Client { ws, shard }
    }
}

impl Client {
    /// Connects to `/v2/ws`.
    pub fn connect(port: u16) -> Client {
        Self::connect_path(port, "/v2/ws")
    }

    /// Connects to a WebSocket path.
    pub fn connect_path(port: u16, path: &str) -> Client {
        Self::connect_stream(tcp_connect(port, None), port, path)
    }

    /// Connects to `/v2/ws` from the loopback address `from` (e.g. `[127, 0, 0, 2]`), so tests
    /// can play several client IPs.
    pub fn connect_from(port: u16, from: [u8; 4]) -> Client {
        Self::connect_stream(tcp_connect(port, Some(from)), port, "/v2/ws")
    }

    fn connect_stream(stream: TcpStream, port: u16, path: &str) -> Client {
        stream
            .set_read_timeout(Some(EVENT_TIMEOUT))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (ws, response) = tungstenite::client(url.as_str(), stream).expect("ws handshake");
        Client::from_upgrade(ws, &response)
    }

    /// Ends the sending side with a TCP FIN and no close frame: to the server the connection
    /// dropped, as when a client process dies, yet everything the server wrote before it
    /// closed its side can still be read (`try_recv_message` until `None`), so a test knows
    /// exactly what this connection received.
    pub fn shutdown_write(&self) {
        self.ws
            .get_ref()
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
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
}

impl<S: Read + Write> Client<S> {
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

    /// The next frame of any kind but pings and pongs, or `None` once the connection ended
    /// (cleanly or not).
    pub fn try_recv_message(&mut self) -> Option<Message> {
        loop {
            match self.ws.read() {
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(msg) => return Some(msg),
                Err(_) => return None,
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

    /// `JoinRoom` creating a room, repeated (leaving each wrong one) until the room's owner
    /// shard is `owner`; returns `RoomJoined.data`.
    pub fn create_room_owned_by(
        &mut self,
        game: &str,
        name: &str,
        max_players: u8,
        owner: u32,
    ) -> Value {
        for _ in 0..64 {
            let joined = self.create_room(game, name, max_players);
            if owner_of(&joined) == owner {
                return joined;
            }
            self.leave();
        }
        panic!("no room of {game} landed on shard {owner}");
    }

    /// Sends a WebSocket Ping frame and waits for the transport's Pong; a data frame first
    /// fails the test.
    pub fn ws_ping(&mut self, payload: &[u8]) {
        self.ws
            .send(Message::Ping(payload.to_vec().into()))
            .expect("send ping");
        loop {
            match self.ws.read() {
                Ok(Message::Pong(p)) => {
                    assert_eq!(&p[..], payload, "pong echoes the ping");
                    return;
                }
                Ok(Message::Ping(_)) => continue,
                Ok(other) => panic!("expected a Pong frame, got {other:?}"),
                Err(err) => panic!("connection ended while waiting for a Pong frame: {err}"),
            }
        }
    }

    /// Sends an unsolicited WebSocket Pong frame.
    pub fn send_ws_pong(&mut self) {
        self.ws
            .send(Message::Pong(Vec::new().into()))
            .expect("send pong");
    }

    /// `LeaveRoom`, expecting `RoomLeft`.
    pub fn leave(&mut self) {
        self.send(json!({"type":"LeaveRoom"}));
        let msg = self.recv();
        assert_eq!(
            msg,
            json!({"type":"RoomLeft"}),
            "unexpected reply to LeaveRoom"
        );
    }

    /// `PlayerReady` (a toggle); reads nothing.
    pub fn ready(&mut self) {
        self.send(json!({"type":"PlayerReady"}));
    }

    /// `GameData` carrying `data`; reads nothing.
    pub fn send_game_data(&mut self, data: Value) {
        self.send(json!({"type":"GameData","data":{"data":data}}));
    }

    /// `Authenticate` with `data`, expecting `Authenticated` then `ProtocolInfo`; returns both
    /// `data` objects.
    pub fn authenticate(&mut self, data: Value) -> (Value, Value) {
        self.send(json!({"type":"Authenticate","data":data}));
        let authenticated = self.expect("Authenticated");
        let info = self.expect("ProtocolInfo");
        (authenticated, info)
    }

    /// The next message, which must be an `Error` with `code`; returns its `data`.
    pub fn expect_error(&mut self, code: &str) -> Value {
        let data = self.expect("Error");
        assert_eq!(data["error_code"], code, "unexpected error: {data}");
        data
    }

    /// The next data frame, which must be binary.
    pub fn recv_binary(&mut self) -> Vec<u8> {
        match self.recv_message() {
            Message::Binary(bytes) => bytes.to_vec(),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// A barrier through a room's owner shard, for a client that is **not** in a room: a
    /// `JoinRoom` by a code that cannot exist but is owned by `owner`, answered by `owner` with
    /// `ROOM_NOT_FOUND`. Shard-to-shard channels are FIFO, so anything `owner` sent to this
    /// client before it handled the barrier arrives first and fails the assertion.
    ///
    /// `expect_quiet` alone only proves that nothing is queued on the client's *own* shard; a
    /// message from another shard could still be on its way.
    pub fn owner_barrier(&mut self, game: &str, owner: u32) {
        let code = unused_code_owned_by(game, owner);
        self.send(json!({"type":"JoinRoom","data":{"game_name":game,"room_code":code,"player_name":"Barrier"}}));
        let msg = self.recv();
        assert_eq!(
            msg["type"], "RoomJoinFailed",
            "expected nothing before the barrier, got {msg}"
        );
        assert_eq!(msg["data"]["error_code"], "ROOM_NOT_FOUND", "{msg}");
    }

    /// Reads until the server's close frame: how many data frames came first (and were thrown
    /// away), and the close code (`None` if the connection ended without a close frame).
    pub fn drain_until_close(&mut self) -> (usize, Option<u16>) {
        let mut data = 0;
        loop {
            match self.ws.read() {
                Ok(Message::Text(_) | Message::Binary(_)) => data += 1,
                Ok(Message::Close(frame)) => {
                    let code = frame.map(|f| u16::from(f.code));
                    while self.ws.read().is_ok() {}
                    return (data, code);
                }
                Ok(_) => continue,
                Err(_) => return (data, None),
            }
        }
    }

    /// Starts a closing handshake with code 1000 (the connection stays readable for the answer).
    pub fn send_close(&mut self) {
        let frame = tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "bye".into(),
        };
        self.ws.close(Some(frame)).expect("send close");
    }

    pub fn close(mut self) {
        let _ = self.ws.close(None);
        while self.ws.read().is_ok() {}
    }
}

/// A TCP connection to the server, from the loopback address `from` when given (bound before
/// connecting; any 127.0.0.0/8 address works on Linux).
pub fn tcp_connect(port: u16, from: Option<[u8; 4]>) -> TcpStream {
    let Some(from) = from else {
        return TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
    };
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let local = std::net::SocketAddr::from((from, 0));
    socket
        .bind(&local.into())
        .unwrap_or_else(|e| panic!("bind the client socket to {local}: {e}"));
    let server = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    socket.connect(&server.into()).expect("tcp connect");
    socket.into()
}

/// Sends a raw HTTP request and returns (status, head, body); the head keeps its original
/// case and ends before the empty line.
pub fn http_request(port: u16, request: &str) -> (u16, String, String) {
    let mut stream = tcp_connect(port, None);
    stream
        .set_read_timeout(Some(EVENT_TIMEOUT))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, head.to_owned(), body.to_owned())
}

/// Sends a raw HTTP request and returns (status, body).
pub fn http_get(port: u16, request: &str) -> (u16, String) {
    let (status, _head, body) = http_request(port, request);
    (status, body)
}

/// Has `clients[0]` create a room of `game` for `max_players` (owned by `owner` if given) and
/// every other client join it, in order, as `P0`, `P1`, …. Each member reads every later
/// `PlayerJoined`; if the room fills, everyone reads the `LobbyStateChanged{lobby}`. Returns
/// the room's `RoomJoined` for the creator and the player ids in seat order.
pub fn seat_room(
    clients: &mut [Client],
    game: &str,
    max_players: u8,
    owner: Option<u32>,
) -> (Value, Vec<String>) {
    let (first, rest) = clients.split_first_mut().expect("at least one client");
    let created = match owner {
        Some(owner) => first.create_room_owned_by(game, "P0", max_players, owner),
        None => first.create_room(game, "P0", max_players),
    };
    let code = str_of(&created, "room_code").to_owned();
    let mut ids = vec![str_of(&created, "player_id").to_owned()];
    for i in 0..rest.len() {
        let name = format!("P{}", i + 1);
        let joined = rest[i].join_room(game, &code, &name);
        ids.push(str_of(&joined, "player_id").to_owned());
        first.expect_player_joined(&name);
        for earlier in &mut rest[..i] {
            earlier.expect_player_joined(&name);
        }
    }
    if clients.len() == usize::from(max_players) && max_players > 1 {
        for c in clients.iter_mut() {
            let lobby = c.expect("LobbyStateChanged");
            assert_eq!(
                lobby,
                json!({"lobby_state":"lobby","ready_players":[],"all_ready":false})
            );
        }
    }
    (created, ids)
}

impl<S: Read + Write> Client<S> {
    /// The next message must be `PlayerJoined` for `name`; returns the player's id.
    pub fn expect_player_joined(&mut self, name: &str) -> String {
        let data = self.expect("PlayerJoined");
        assert_eq!(data["player"]["name"], name, "{data}");
        str_of(&data["player"], "id").to_owned()
    }
}

/// What a `Reconnect` is made of, from a `RoomJoined` (or `Reconnected`).
pub struct Ticket {
    pub player_id: String,
    pub room_id: String,
    pub token: String,
}

impl Ticket {
    pub fn of(joined: &Value) -> Ticket {
        Ticket {
            player_id: str_of(joined, "player_id").to_owned(),
            room_id: str_of(joined, "room_id").to_owned(),
            token: str_of(joined, "reconnection_token").to_owned(),
        }
    }

    /// Sends the `Reconnect` that claims this seat.
    pub fn send(&self, client: &mut Client) {
        client.send(json!({"type":"Reconnect","data":{
            "player_id": self.player_id, "room_id": self.room_id, "auth_token": self.token}}));
    }
}
