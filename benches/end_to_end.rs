//! End-to-end relay through real sockets: an in-process server (one shard, then two), two
//! WebSocket clients in a room, and the time from one client's send to the other's receive.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use signal_fish_server::Server;
use signal_fish_server::config::Config;
use tungstenite::{Message, WebSocket};

fn connect(port: u16) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (ws, _) =
        tungstenite::client(format!("ws://127.0.0.1:{port}/v2/ws").as_str(), stream).expect("ws");
    ws
}

fn next_text(ws: &mut WebSocket<TcpStream>) -> String {
    loop {
        if let Message::Text(text) = ws.read().expect("read") {
            return text.as_str().to_owned();
        }
    }
}

fn relay(c: &mut Criterion) {
    let mut group = c.benchmark_group("end_to_end_relay");
    group.measurement_time(Duration::from_secs(5));
    for shards in [1usize, 2] {
        let mut config = Config {
            port: 0,
            ..Config::default()
        };
        config.server.shards = shards;
        // No logs on the test output, no `logs/` directory.
        config.logging.level = Some("off".to_owned());
        config.logging.enable_file_logging = false;
        config.security.max_connections_per_ip = 1000;
        let server = Server::start(config).expect("server");
        let port = server.port();
        let mut a = connect(port);
        a.send(Message::text(
            r#"{"type":"JoinRoom","data":{"game_name":"bench","player_name":"A","max_players":2}}"#,
        ))
        .expect("send");
        let joined = next_text(&mut a);
        let code = joined
            .split("\"room_code\":\"")
            .nth(1)
            .and_then(|rest| rest.get(..6))
            .expect("room code")
            .to_owned();
        let mut b = connect(port);
        b.send(Message::text(format!(
            r#"{{"type":"JoinRoom","data":{{"game_name":"bench","room_code":"{code}","player_name":"B"}}}}"#
        )))
        .expect("send");
        next_text(&mut b); // RoomJoined
        next_text(&mut b); // LobbyStateChanged
        next_text(&mut a); // PlayerJoined
        next_text(&mut a); // LobbyStateChanged
        let payload = Message::text(r#"{"type":"GameData","data":{"data":{"x":1.5,"y":-2}}}"#);
        group.bench_function(BenchmarkId::new("game_data_one_way", shards), |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    a.send(payload.clone()).expect("send");
                    next_text(&mut b);
                }
                start.elapsed()
            })
        });
        drop(a);
        drop(b);
        server.shutdown();
    }
    group.finish();
}

criterion_group!(benches, relay);
criterion_main!(benches);
