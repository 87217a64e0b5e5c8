//! A small Signal Fish client: creates a room or joins one by code, readies up, sends one
//! `GameData` when the game starts, waits for the other players' game data, then leaves.
//!
//! Two terminals, with the server running (`cargo run --release`):
//!
//! ```sh
//! cargo run --example lobby_client -- create          # prints the room code
//! cargo run --example lobby_client -- join QX7M4D     # the code the first one printed
//! ```
//!
//! Every frame is printed as it goes (`->` sent, `<-` received) and events as `*` lines, so the
//! output reads like the transcript in `docs/protocol.md`. It uses plain blocking `tungstenite`
//! and `serde_json`; a real game would use the `signal-fish-client` crate or its engine SDK.

use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long a read may wait before the client sends a `Ping`: the server closes connections
/// that stay silent for `server.ping_timeout` (30 s by default).
const HEARTBEAT: Duration = Duration::from_secs(10);

#[derive(Parser)]
#[command(about = "Create or join a Signal Fish room, ready up, exchange game data, leave")]
struct Args {
    /// The server's WebSocket endpoint (ws:// only in this example).
    #[arg(long, default_value = "ws://127.0.0.1:3536/v2/ws")]
    url: String,
    /// Game name; a room code only finds rooms of the same game.
    #[arg(long, default_value = "lobby example")]
    game: String,
    /// Player name (unique in the room).
    #[arg(long)]
    name: Option<String>,
    /// Application id sent in `Authenticate` (any value when the server does not require auth).
    #[arg(long, default_value = "lobby-example")]
    app_id: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a room and print its code.
    Create {
        /// Seats in the room; the game starts when all are taken and everyone is ready.
        #[arg(long, default_value_t = 2)]
        players: u8,
    },
    /// Join the room with this code.
    Join { code: String },
}

/// What the client is waiting for.
#[derive(Debug, PartialEq)]
enum Phase {
    /// Sent `JoinRoom`, waiting for `RoomJoined`.
    Joining,
    /// Seated; readies (once) when the room enters the lobby, then waits for `GameStarting`.
    Seated { ready_sent: bool },
    /// The game started: waiting for game data from these players (ids).
    Playing { waiting_for: Vec<String> },
    /// Sent `LeaveRoom`, waiting for `RoomLeft`.
    Leaving,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lobby_client: {err}");
            ExitCode::FAILURE
        }
    }
}

struct Client {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Client {
    fn connect(url: &str) -> Result<Client, String> {
        let (ws, _response) =
            tungstenite::connect(url).map_err(|e| format!("cannot connect to {url}: {e}"))?;
        if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
            tcp.set_read_timeout(Some(HEARTBEAT))
                .map_err(|e| format!("cannot set a read timeout: {e}"))?;
        }
        println!("* connected to {url}");
        Ok(Client { ws })
    }

    fn send(&mut self, msg: Value) -> Result<(), String> {
        println!("-> {msg}");
        self.ws
            .send(Message::text(msg.to_string()))
            .map_err(|e| format!("send failed: {e}"))
    }

    /// The next JSON message; sends a `Ping` whenever the server has been quiet for a while.
    fn recv(&mut self) -> Result<Value, String> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    println!("<- {text}");
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| format!("the server sent text that is not JSON: {e}"));
                }
                Ok(Message::Binary(bytes)) => {
                    println!("<- ({} bytes of binary game data)", bytes.len())
                }
                Ok(Message::Close(frame)) => {
                    return Err(format!("the server closed the connection: {frame:?}"));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    self.send(json!({"type": "Ping"}))?;
                }
                Err(e) => return Err(format!("connection lost: {e}")),
            }
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut client = Client::connect(&args.url)?;
    // Optional on a server without authentication (the default), required on one with it.
    client.send(json!({"type": "Authenticate", "data": {
        "app_id": args.app_id, "platform": "rust", "sdk_version": env!("CARGO_PKG_VERSION"),
    }}))?;
    let name = match (&args.name, &args.command) {
        (Some(name), _) => name.clone(),
        (None, Command::Create { .. }) => "Host".to_owned(),
        (None, Command::Join { .. }) => "Guest".to_owned(),
    };
    let join = match &args.command {
        Command::Create { players } => json!({"type": "JoinRoom", "data": {
            "game_name": args.game, "player_name": name, "max_players": players,
        }}),
        Command::Join { code } => json!({"type": "JoinRoom", "data": {
            "game_name": args.game, "player_name": name, "room_code": code,
        }}),
    };
    client.send(join)?;

    let mut phase = Phase::Joining;
    let mut me = String::new();
    loop {
        let msg = client.recv()?;
        let data = &msg["data"];
        match msg["type"].as_str().unwrap_or_default() {
            "AuthenticationError" => return Err(format!("authentication refused: {data}")),
            "RoomJoinFailed" => return Err(format!("could not join: {data}")),
            "RoomJoined" => {
                me = data["player_id"].as_str().unwrap_or_default().to_owned();
                let code = data["room_code"].as_str().unwrap_or_default();
                println!("* room code: {code}");
                if matches!(args.command, Command::Create { .. }) {
                    println!(
                        "* in another terminal: cargo run --example lobby_client -- join {code}"
                    );
                }
                phase = Phase::Seated { ready_sent: false };
            }
            "PlayerJoined" => println!("* {} joined", data["player"]["name"]),
            "LobbyStateChanged" => {
                if let Phase::Seated { ready_sent } = &mut phase {
                    match data["lobby_state"].as_str() {
                        // `PlayerReady` toggles: send it once per lobby round.
                        Some("lobby") if !*ready_sent => {
                            println!("* the room is full: ready up");
                            client.send(json!({"type": "PlayerReady"}))?;
                            *ready_sent = true;
                        }
                        // Someone left: a new round starts when the room fills again.
                        Some("waiting") => *ready_sent = false,
                        _ => {}
                    }
                }
            }
            "GameStarting" => {
                let peers: Vec<String> = data["peer_connections"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["player_id"].as_str())
                    .filter(|id| *id != me)
                    .map(str::to_owned)
                    .collect();
                println!("* game starting with {} players", peers.len() + 1);
                client.send(json!({"type": "GameData", "data": {
                    "data": {"hello": "from", "name": name},
                }}))?;
                phase = Phase::Playing { waiting_for: peers };
            }
            "GameData" => {
                println!("* game data from {}: {}", data["from_player"], data["data"]);
                heard_from(&mut phase, &data["from_player"]);
            }
            "PlayerLeft" => {
                println!("* {} left", data["player_id"]);
                heard_from(&mut phase, &data["player_id"]);
            }
            "RoomLeft" => {
                println!("* left the room");
                return Ok(());
            }
            "Error" => println!("* error: {data}"),
            _ => {}
        }
        if matches!(&phase, Phase::Playing { waiting_for } if waiting_for.is_empty()) {
            client.send(json!({"type": "LeaveRoom"}))?;
            phase = Phase::Leaving;
        }
    }
}

/// Game data from (or the departure of) `player` ends the wait for it.
fn heard_from(phase: &mut Phase, player: &Value) {
    if let Phase::Playing { waiting_for } = phase {
        waiting_for.retain(|id| id != player);
    }
}
