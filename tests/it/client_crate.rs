//! The `signal-fish-client` 0.4.1 crate, the client the spec names, against our 2-shard server:
//! a plain lobby (join, ready, game start) and the crate's own reconnect path.
//!
//! One gap in the crate: its `RoomJoined` event has a fixed set of fields and drops
//! `reconnection_token`, so a game built on `SignalFishClient` alone cannot learn the token that
//! `reconnect(player_id, room_id, token)` needs. [`Tap`], a `Transport` around the crate's own
//! `WebSocketTransport`, notes it on the way in (any game can do the same); everything else
//! goes through the crate's API.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use signal_fish_client::protocol::LobbyState;
use signal_fish_client::{
    ErrorCode, JoinRoomParams, SignalFishClient, SignalFishConfig, SignalFishError,
    SignalFishEvent, Transport, WebSocketTransport,
};
use tokio::sync::mpsc::Receiver;
use uuid::Uuid;

use crate::common::{EVENT_TIMEOUT, other_shard, start_server};

const GAME: &str = "crate game";

/// Where the latest `reconnection_token` the server sent this connection is kept.
type TokenSlot = Arc<Mutex<Option<String>>>;

/// The crate's WebSocket transport, noting each `reconnection_token` that passes.
struct Tap {
    inner: WebSocketTransport,
    token: TokenSlot,
}

#[async_trait]
impl Transport for Tap {
    async fn send(&mut self, message: String) -> Result<(), SignalFishError> {
        self.inner.send(message).await
    }

    async fn recv(&mut self) -> Option<Result<String, SignalFishError>> {
        // Cancel-safe as the trait asks: nothing happens between the inner recv and returning.
        let msg = self.inner.recv().await;
        if let Some(Ok(text)) = &msg
            && let Ok(value) = serde_json::from_str::<Value>(text)
            && let Some(token) = value["data"]["reconnection_token"].as_str()
            && let Ok(mut slot) = self.token.lock()
        {
            *slot = Some(token.to_owned());
        }
        msg
    }

    async fn close(&mut self) -> Result<(), SignalFishError> {
        self.inner.close().await
    }
}

/// One crate client: its handle, its events, the shard it landed on and its token slot.
struct Player {
    client: SignalFishClient,
    events: Receiver<SignalFishEvent>,
    shard: u32,
    token: TokenSlot,
}

impl Player {
    /// Connects (on `shard`, if given) and starts the crate's client, which authenticates.
    async fn connect(port: u16, shard: Option<u32>) -> Player {
        let url = format!("ws://127.0.0.1:{port}/v2/ws");
        for _ in 0..200 {
            let (stream, response) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .expect("WebSocket handshake");
            let landed: u32 = response
                .headers()
                .get("x-signal-fish-shard")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("x-signal-fish-shard header");
            if shard.is_some_and(|want| want != landed) {
                continue;
            }
            let token = TokenSlot::default();
            let tap = Tap {
                inner: WebSocketTransport::from_stream(stream),
                token: token.clone(),
            };
            // Large enough that the crate never drops an event while a test reads another
            // client (it drops, rather than waits, when its channel is full).
            let config = SignalFishConfig::new("crate-test").with_event_channel_capacity(10_000);
            let (client, events) = SignalFishClient::start(tap, config);
            let mut player = Player {
                client,
                events,
                shard: landed,
                token,
            };
            player
                .until("Authenticated", |e| {
                    matches!(e, SignalFishEvent::Authenticated { .. })
                })
                .await;
            return player;
        }
        panic!("no connection landed on shard {shard:?}");
    }

    /// The next event, within the suite's event timeout.
    async fn next(&mut self) -> SignalFishEvent {
        match tokio::time::timeout(EVENT_TIMEOUT, self.events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the client's event channel closed"),
            Err(_) => panic!("no event within {EVENT_TIMEOUT:?}"),
        }
    }

    /// Skips events until one matches; returns it.
    async fn until(
        &mut self,
        what: &str,
        matches: impl Fn(&SignalFishEvent) -> bool,
    ) -> SignalFishEvent {
        loop {
            let event = self.next().await;
            if matches(&event) {
                return event;
            }
            assert!(
                !matches!(
                    event,
                    SignalFishEvent::Error { .. }
                        | SignalFishEvent::RoomJoinFailed { .. }
                        | SignalFishEvent::Disconnected { .. }
                ),
                "waiting for {what}, got {event:?}"
            );
        }
    }

    /// Joins (or creates, without a code); returns the room id, code and own player id.
    async fn join(&mut self, params: JoinRoomParams) -> (Uuid, String, Uuid) {
        self.client.join_room(params).expect("connected");
        match self
            .until("RoomJoined", |e| {
                matches!(e, SignalFishEvent::RoomJoined { .. })
            })
            .await
        {
            SignalFishEvent::RoomJoined {
                room_id,
                room_code,
                player_id,
                ..
            } => (room_id, room_code, player_id),
            _ => unreachable!(),
        }
    }

    fn token(&self) -> String {
        self.token
            .lock()
            .ok()
            .and_then(|t| t.clone())
            .expect("the server sent a reconnection_token")
    }

    fn send_n(&self, n: u64) {
        self.client
            .send_game_data(json!({ "n": n }))
            .expect("connected");
    }

    /// Reads `GameData` until number `last`; returns every number seen on the way.
    async fn game_data_until(&mut self, last: u64) -> Vec<u64> {
        let mut seen = Vec::new();
        loop {
            if let SignalFishEvent::GameData { data, .. } = self
                .until("GameData", |e| {
                    matches!(e, SignalFishEvent::GameData { .. })
                })
                .await
            {
                let n = data["n"].as_u64().expect("numbered game data");
                seen.push(n);
                if n == last {
                    return seen;
                }
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn a_lobby_through_the_crate_fills_readies_and_starts() {
    let server = start_server();
    let port = server.port();
    runtime().block_on(async {
        let mut host = Player::connect(port, Some(0)).await;
        let (room_id, code, host_id) = host
            .join(JoinRoomParams::new(GAME, "Host").with_max_players(2))
            .await;
        let mut guest = Player::connect(port, Some(1)).await;
        let (guest_room, _, guest_id) = guest
            .join(JoinRoomParams::new(GAME, "Guest").with_room_code(code.clone()))
            .await;
        assert_eq!(guest_room, room_id);
        assert_eq!(host.client.current_room_code().await, Some(code));

        match host
            .until("PlayerJoined", |e| {
                matches!(e, SignalFishEvent::PlayerJoined { .. })
            })
            .await
        {
            SignalFishEvent::PlayerJoined { player } => assert_eq!(player.id, guest_id),
            _ => unreachable!(),
        }
        host.until("LobbyStateChanged{lobby}", |e| {
            matches!(e, SignalFishEvent::LobbyStateChanged { lobby_state, .. } if *lobby_state == LobbyState::Lobby)
        })
        .await;

        host.client.set_ready().expect("connected");
        guest.client.set_ready().expect("connected");
        for player in [&mut host, &mut guest] {
            match player
                .until("LobbyStateChanged{finalized}", |e| {
                    matches!(e, SignalFishEvent::LobbyStateChanged { lobby_state, .. } if *lobby_state == LobbyState::Finalized)
                })
                .await
            {
                SignalFishEvent::LobbyStateChanged {
                    ready_players,
                    all_ready,
                    ..
                } => {
                    assert!(all_ready);
                    assert_eq!(ready_players.len(), 2);
                }
                _ => unreachable!(),
            }
            match player
                .until("GameStarting", |e| {
                    matches!(e, SignalFishEvent::GameStarting { .. })
                })
                .await
            {
                SignalFishEvent::GameStarting { peer_connections } => {
                    let mut ids: Vec<Uuid> =
                        peer_connections.iter().map(|p| p.player_id).collect();
                    ids.sort();
                    let mut expected = vec![host_id, guest_id];
                    expected.sort();
                    assert_eq!(ids, expected);
                }
                _ => unreachable!(),
            }
        }
        host.client.shutdown().await;
        guest.client.shutdown().await;
    });
    server.shutdown();
}

#[test]
fn the_crates_reconnect_gets_every_missed_message_once_then_live_traffic() {
    const BEFORE: u64 = 5;
    const MISSED: u64 = 50;
    const LIVE: u64 = 10;
    let server = start_server();
    let port = server.port();
    runtime().block_on(async {
        let mut host = Player::connect(port, None).await;
        let (room_id, code, _) = host
            .join(JoinRoomParams::new(GAME, "Host").with_max_players(4))
            .await;
        let mut guest = Player::connect(port, None).await;
        let (_, _, guest_id) = guest
            .join(JoinRoomParams::new(GAME, "Guest").with_room_code(code.clone()))
            .await;
        let token = guest.token();
        // A third player sees what the room relays: once it has the last missed message, the
        // room has numbered (and buffered) all of them.
        let mut witness = Player::connect(port, None).await;
        witness
            .join(JoinRoomParams::new(GAME, "Witness").with_room_code(code))
            .await;
        for _ in 0..2 {
            host.until("PlayerJoined", |e| {
                matches!(e, SignalFishEvent::PlayerJoined { .. })
            })
            .await;
        }
        for n in 1..=BEFORE {
            host.send_n(n);
        }
        assert_eq!(
            guest.game_data_until(BEFORE).await,
            (1..=BEFORE).collect::<Vec<_>>()
        );

        // The guest goes away without LeaveRoom: the crate closes its transport.
        let first_shard = guest.shard;
        guest.client.shutdown().await;
        drop(guest);
        match host
            .until("PlayerLeft", |e| {
                matches!(e, SignalFishEvent::PlayerLeft { .. })
            })
            .await
        {
            SignalFishEvent::PlayerLeft { player_id } => assert_eq!(player_id, guest_id),
            _ => unreachable!(),
        }
        for n in BEFORE + 1..=BEFORE + MISSED {
            host.send_n(n);
        }
        witness.game_data_until(BEFORE + MISSED).await;

        // A new crate client, on the other shard, takes the seat back.
        let mut back = Player::connect(port, Some(other_shard(first_shard))).await;
        let missed = claim(&mut back, guest_id, room_id, &token).await;
        let missed_numbers: Vec<u64> = missed
            .iter()
            .filter_map(|e| match e {
                SignalFishEvent::GameData { data, .. } => data["n"].as_u64(),
                _ => None,
            })
            .collect();
        assert_eq!(
            missed_numbers,
            (BEFORE + 1..=BEFORE + MISSED).collect::<Vec<_>>(),
            "every missed message once, in order"
        );
        assert_eq!(back.client.current_player_id().await, Some(guest_id));
        assert_ne!(back.token(), token, "the token is rotated");
        match host
            .until("PlayerReconnected", |e| {
                matches!(e, SignalFishEvent::PlayerReconnected { .. })
            })
            .await
        {
            SignalFishEvent::PlayerReconnected { player_id } => assert_eq!(player_id, guest_id),
            _ => unreachable!(),
        }

        // Live traffic carries on from there, without a gap or a duplicate.
        let first_live = BEFORE + MISSED + 1;
        let last = BEFORE + MISSED + LIVE;
        for n in first_live..=last {
            host.send_n(n);
        }
        assert_eq!(
            back.game_data_until(last).await,
            (first_live..=last).collect::<Vec<_>>()
        );
        host.client.shutdown().await;
        back.client.shutdown().await;
        witness.client.shutdown().await;
    });
    server.shutdown();
}

/// Claims the seat through the crate's `reconnect`; returns `Reconnected.missed_events`. The
/// old connection counts as connected until the server has finished closing it, so
/// `PLAYER_ALREADY_CONNECTED` is answered by trying again (each try waits for its answer).
async fn claim(
    player: &mut Player,
    player_id: Uuid,
    room_id: Uuid,
    token: &str,
) -> Vec<SignalFishEvent> {
    for _ in 0..1_000 {
        player
            .client
            .reconnect(player_id, room_id, token.to_owned())
            .expect("connected");
        let answer = player
            .until("Reconnected or ReconnectionFailed", |e| {
                matches!(
                    e,
                    SignalFishEvent::Reconnected { .. }
                        | SignalFishEvent::ReconnectionFailed { .. }
                )
            })
            .await;
        match answer {
            SignalFishEvent::Reconnected {
                room_id: back_in,
                player_id: back_as,
                missed_events,
                ..
            } => {
                assert_eq!(back_in, room_id);
                assert_eq!(back_as, player_id, "the same player id");
                return missed_events;
            }
            SignalFishEvent::ReconnectionFailed {
                error_code: ErrorCode::PlayerAlreadyConnected,
                ..
            } => continue,
            other => panic!("unexpected answer to Reconnect: {other:?}"),
        }
    }
    panic!("the seat never became claimable");
}
