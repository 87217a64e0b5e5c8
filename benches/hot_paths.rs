//! Criterion benchmarks of the hot paths, without sockets: decoding a client frame, framing
//! relayed game data once and fanning it out to 4/16/64 members, relaying in a room spread
//! over two shards (from the sender's replica, and through the owner), a room join, a
//! cross-shard delivery over a real glommio shared channel between two executors, what a
//! log record costs the shard that emits it, and the process families of a scrape.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use signal_fish_server::config::{Config, LoggingConfig};
use signal_fish_server::log::{Logging, events};
use signal_fish_server::metrics::{BuildInfo, ProcessStats, render_process};
use signal_fish_server::protocol::codec::{decode_client, encode_game_data};
use signal_fish_server::protocol::depth::{MAX_NESTING_DEPTH, json_too_deep};
use signal_fish_server::protocol::{Frame, GameDataEncoding};
use signal_fish_server::room::{Joiner, Room, RoomSettings, SessionAddr};
use signal_fish_server::shard::mailbox::{Control, Mailbox, Outgoing, RoomRef};
use signal_fish_server::shard::messages::{
    CreateRoom, JoinByCode, OwnerCmd, RelayPayload, ShardMsg,
};
use signal_fish_server::shard::{Shard, frame_from_json};
use uuid::Uuid;

const GAME_DATA: &str = r#"{"type":"GameData","data":{"data":{"kind":"pos","x":12.5,"y":-3,"seq":1042,"t":1795773476123}}}"#;

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_client_frame");
    group.throughput(Throughput::Bytes(GAME_DATA.len() as u64));
    group.bench_function("game_data", |b| {
        b.iter(|| decode_client(black_box(GAME_DATA)).is_ok())
    });
    // A 4 KB snapshot: the nesting scan is one more pass over every byte of it.
    let entities: Vec<String> = (0..48)
        .map(|i| {
            format!(
                r#"{{"id":{i},"name":"unit-{i}","pos":[{i}.5,-3.25,7],"hp":90,"tags":["a","b"]}}"#
            )
        })
        .collect();
    let snapshot = format!(
        r#"{{"type":"GameData","data":{{"data":{{"kind":"snapshot","entities":[{}]}}}}}}"#,
        entities.join(",")
    );
    group.throughput(Throughput::Bytes(snapshot.len() as u64));
    group.bench_function("game_data_4kb", |b| {
        b.iter(|| decode_client(black_box(&snapshot)).is_ok())
    });
    group.bench_function("nesting_scan_4kb", |b| {
        b.iter(|| json_too_deep(black_box(snapshot.as_bytes()), MAX_NESTING_DEPTH))
    });
    let join = r#"{"type":"JoinRoom","data":{"game_name":"kart racer","player_name":"Mika","max_players":4,"supports_authority":true}}"#;
    group.bench_function("join_room", |b| {
        b.iter(|| decode_client(black_box(join)).is_ok())
    });
    // A rejected frame pays a second parse to name the field (`missing field data.data`).
    let flat = r#"{"type":"GameData","data":{"kind":"pos","x":12.5,"y":-3,"seq":1042}}"#;
    group.bench_function("invalid_flat_game_data", |b| {
        b.iter(|| decode_client(black_box(flat)).is_err())
    });
    group.finish();
}

/// What a Prometheus scrape adds for the process families: reading /proc/self and rendering.
fn process_metrics(c: &mut Criterion) {
    let build = BuildInfo::current();
    c.bench_function("scrape_process_families", |b| {
        b.iter(|| {
            let mut text = String::with_capacity(1024);
            render_process(&mut text, &ProcessStats::read(), &build);
            text
        })
    });
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_and_fanout_game_data");
    for members in [4usize, 16, 64] {
        let shard = Shard::new(0, 1, Arc::new(Config::default()));
        let mailboxes: Vec<_> = (0..members)
            .map(|_| shard.register(Instant::now()))
            .collect();
        let addrs: Vec<SessionAddr> = mailboxes.iter().map(|(addr, _)| *addr).collect();
        let from = Uuid::new_v4();
        let raw = r#"{"kind":"pos","x":12.5,"y":-3,"seq":1042,"t":1795773476123}"#;
        group.throughput(Throughput::Elements(members as u64 - 1));
        group.bench_with_input(BenchmarkId::from_parameter(members), &members, |b, _| {
            b.iter(|| {
                // One serialisation, shared by every recipient.
                let frame = frame_from_json(encode_game_data(&from, black_box(raw)));
                shard.fanout(addrs.iter().skip(1).copied(), &frame, None);
                for (_, mailbox) in &mailboxes[1..] {
                    black_box(mailbox.pop());
                }
            })
        });
    }
    group.finish();
}

/// Game data from a member of a room spread over two shards (owner on shard 0, the sender on
/// shard 1, members half on each), both ways: fanned out by the sender's shard from its replica
/// (what runs), and through the owner (sender's shard → owner → members' shard, as before
/// issue 10). Both shards run on this thread and batches are handed over by hand, so this is
/// the CPU work of each path without the channel hops (`cross_shard_delivery` prices a hop).
fn relay_two_shards(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay_two_shards");
    for members in [4usize, 16] {
        let room = SpreadRoom::new(members);
        group.throughput(Throughput::Elements(members as u64 - 1));
        for path in ["replica", "through_owner"] {
            group.bench_with_input(BenchmarkId::new(path, members), &members, |b, _| {
                b.iter(|| {
                    let payload = RelayPayload::Json(encode_game_data(
                        &room.sender,
                        black_box(r#"{"kind":"pos","x":12.5,"y":-3}"#),
                    ));
                    if path == "replica" {
                        room.shards[1].relay(room.at, room.sender, payload, Instant::now());
                    } else {
                        let cmd = OwnerCmd::Relay {
                            room_id: room.at.id,
                            from: room.sender,
                            payload,
                            received_at: Instant::now(),
                        };
                        room.shards[1].send(0, ShardMsg::Owner(cmd));
                    }
                    room.settle();
                    for mailbox in &room.mailboxes {
                        while mailbox.pop().is_some() {}
                    }
                })
            });
        }
    }
    group.finish();
}

/// Two shards without executors and a room spread over them.
struct SpreadRoom {
    shards: [Shard; 2],
    at: RoomRef,
    sender: Uuid,
    mailboxes: Vec<std::rc::Rc<Mailbox>>,
}

impl SpreadRoom {
    fn new(members: usize) -> Self {
        let config = Arc::new(Config::default());
        let shards = [Shard::new(0, 2, config.clone()), Shard::new(1, 2, config)];
        let mut mailboxes = Vec::new();
        let mut spread = SpreadRoom {
            shards,
            at: RoomRef {
                id: Uuid::nil(),
                owner: 0,
            },
            sender: Uuid::nil(),
            mailboxes: Vec::new(),
        };
        let mut code = String::new();
        for n in 0..members {
            let shard = &spread.shards[n % 2];
            let (addr, mailbox) = shard.register(Instant::now());
            let mut joiner = joiner(n as u64);
            joiner.addr = addr;
            if n == 1 {
                spread.sender = joiner.id;
            }
            let cmd = if n == 0 {
                OwnerCmd::BuildRoom(Box::new(CreateRoom {
                    game_name: "kart racer".into(),
                    max_players: members as u8,
                    supports_authority: true,
                    code: String::new(),
                    creator: joiner,
                }))
            } else {
                OwnerCmd::JoinRoom(Box::new(JoinByCode {
                    game_name: "kart racer".into(),
                    code: code.clone(),
                    joiner,
                }))
            };
            shard.send(0, ShardMsg::Owner(cmd));
            spread.settle();
            while let Some(item) = mailbox.pop() {
                match item {
                    Outgoing::Control(Control::Joined { room, .. }) => spread.at = room,
                    Outgoing::Frame(Frame::Text(text)) if n == 0 && code.is_empty() => {
                        let v: serde_json::Value =
                            serde_json::from_str(text.as_str()).expect("RoomJoined");
                        code = v["data"]["room_code"].as_str().unwrap_or("").to_owned();
                    }
                    _ => {}
                }
            }
            mailboxes.push(mailbox);
        }
        for mailbox in &mailboxes {
            while mailbox.pop().is_some() {}
        }
        spread.mailboxes = mailboxes;
        spread
    }

    /// Hands each shard what the other has for it until both are quiet.
    fn settle(&self) {
        loop {
            let mut moved = false;
            for (from, to) in [(0, 1), (1, 0)] {
                for msg in self.shards[from].take_batch(to as u32) {
                    moved = true;
                    self.shards[to].dispatch_local(msg);
                }
            }
            if !moved {
                break;
            }
        }
    }
}

fn room_join(c: &mut Criterion) {
    c.bench_function("room_join_into_room_of_3", |b| {
        b.iter_batched(
            || {
                let mut room = Room::new(
                    RoomSettings {
                        id: Uuid::new_v4(),
                        code: "QX7M4D".into(),
                        game_name: "kart racer".into(),
                        max_players: 8,
                        supports_authority: true,
                        relay_type: "matchbox".into(),
                    },
                    Utc::now(),
                );
                for n in 0..3 {
                    let _ = room.join(joiner(n), Utc::now());
                }
                room
            },
            |mut room| room.join(joiner(3), Utc::now()).is_ok(),
            criterion::BatchSize::SmallInput,
        )
    });
}

fn joiner(n: u64) -> Joiner {
    Joiner {
        id: Uuid::new_v4(),
        name: format!("Player{n}"),
        addr: SessionAddr { shard: 0, slot: n },
        encoding: GameDataEncoding::Json,
        reconnection_token: Uuid::new_v4().to_string(),
    }
}

/// Round trips of one batch between two pinned-free executors over a glommio shared channel:
/// the cost of a cross-shard hop, including waking the other thread.
fn cross_shard(c: &mut Criterion) {
    use glommio::LocalExecutorBuilder;
    use glommio::channels::shared_channel;

    let mut group = c.benchmark_group("cross_shard_delivery");
    group.measurement_time(Duration::from_secs(5));
    for batch in [1usize, 64] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new("round_trip_batch", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    let (to_peer, from_main) = shared_channel::new_bounded::<Vec<Frame>>(16);
                    let (to_main, from_peer) = shared_channel::new_bounded::<Vec<Frame>>(16);
                    let peer = LocalExecutorBuilder::default()
                        .spawn(move || async move {
                            let rx = from_main.connect().await;
                            let tx = to_main.connect().await;
                            while let Some(frames) = rx.recv().await {
                                if tx.send(frames).await.is_err() {
                                    break;
                                }
                            }
                        })
                        .expect("peer executor");
                    let main = LocalExecutorBuilder::default()
                        .spawn(move || async move {
                            let tx = to_peer.connect().await;
                            let rx = from_peer.connect().await;
                            let frame =
                                frame_from_json(bytes::Bytes::from_static(GAME_DATA.as_bytes()));
                            let start = Instant::now();
                            for _ in 0..iters {
                                let _ = tx.send(vec![frame.clone(); batch]).await;
                                black_box(rx.recv().await);
                            }
                            start.elapsed()
                        })
                        .expect("main executor");
                    let elapsed = main.join().expect("main ran");
                    peer.join().expect("peer ran");
                    elapsed
                })
            },
        );
    }
    group.finish();
}

/// What a record costs the shard that emits it (the writer thread's formatting and writing
/// are not in the loop): filtered out by the level, kept (copied and queued; when the writer
/// cannot keep up with the loop the queue is full and the copy is dropped), and a `warn`
/// record from one address past its flood budget (copied, then counted).
fn log_record(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_record");
    let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    for level in ["off", "info"] {
        let config = LoggingConfig {
            level: Some(level.to_owned()),
            enable_file_logging: false,
            ..LoggingConfig::default()
        };
        let logging = Logging::start_to(&config, Box::new(std::io::sink()), false);
        logging.scope(|| {
            group.bench_function(format!("connection_opened_{level}"), |b| {
                b.iter(|| events::connection_opened(black_box(ip), black_box(7)))
            });
            if level == "info" {
                group.bench_function("limit_reached_flooded", |b| {
                    b.iter(|| {
                        events::limit_reached(
                            Some(black_box(ip)),
                            "security.max_connections_per_ip",
                            "x",
                        )
                    })
                });
            }
        });
        logging.close();
    }
    group.finish();
}

criterion_group!(
    benches,
    decode,
    fanout,
    relay_two_shards,
    room_join,
    cross_shard,
    log_record,
    process_metrics
);
criterion_main!(benches);
