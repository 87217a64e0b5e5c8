//! The cluster bridge's cost (issue 11): the envelope encoding, and the round trip from a
//! shard through the bridge thread and a real nats-server back to a shard, on loopback.
//!
//!   cargo bench --bench cluster_bridge
//!
//! Needs `nats-server` (Debian package `nats-server`) on PATH or in /usr/sbin; starts its own
//! on a free port with JetStream in a temporary directory. Each "shard" is a glommio executor
//! holding a real `ShardLink`, as a server's shard does. Two figures:
//! - self: a shard sends a probe to its own node's inbox and waits for it (shard → bridge →
//!   NATS → bridge → shard, one hop through NATS);
//! - two nodes: a shard of node A probes node B, whose shard answers (the reply crosses NATS
//!   too: two hops, what a room command and its answer will cost).
//!
//! - NATS alone: a tokio task publishes to its own subscription and waits for the message,
//!   on one async-nats client (what the bridge adds is the difference to "self").
//!
//! One probe at a time; `ROUNDS` (default 20000) each, after 1000 warm-up probes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use signal_fish_server::cluster::{Body, Cluster, Envelope, FromBridge, ShardLink};
use signal_fish_server::config::ClusterConfig;

const WARMUP: u64 = 1000;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and a debug build's timings would only mislead (tests/it/cluster covers the path).
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("cluster_bridge: a measurement, run by `cargo bench --bench cluster_bridge`");
        return;
    }
    let rounds: u64 = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    encoding_cost();
    let nats = NatsServer::start();
    let url = nats.url();
    let config = |node: &str| ClusterConfig {
        nats_url: Some(url.clone()),
        node_id: Some(node.to_owned()),
        ..ClusterConfig::default()
    };
    let (a, mut links_a) =
        Cluster::start(&config("bench-a"), "bench-a".into(), 1).expect("A joins");
    let (b, mut links_b) =
        Cluster::start(&config("bench-b"), "bench-b".into(), 1).expect("B joins");
    // B's shard answers probes as a server's shard does.
    let link_b = links_b.pop().expect("link");
    let answering = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("shard-b")
        .spawn(move || signal_fish_server::cluster::serve_shard(Rc::new(link_b)))
        .expect("executor");
    let link_a = links_a.pop().expect("link");
    let results = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("shard-a")
        .spawn(move || async move {
            let own = probe_loop(&link_a, "bench-a", rounds, |b| {
                matches!(b, Body::Probe { .. })
            })
            .await;
            let remote = probe_loop(&link_a, "bench-b", rounds, |b| {
                matches!(b, Body::ProbeReply { .. })
            })
            .await;
            (own, remote)
        })
        .expect("executor")
        .join()
        .expect("probes ran");
    report(
        "NATS alone (1 hop, tokio task, no bridge)",
        &nats_alone(&url, rounds),
    );
    report("self (1 hop through NATS)", &results.0);
    report("two nodes (2 hops, B's shard answers)", &results.1);
    let stats = a.stats();
    println!(
        "bridge drops: {} to NATS, {} to shards",
        stats
            .to_bridge_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        stats
            .to_shards_dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    drop(a);
    drop(b); // stops B's bridge, which ends B's shard task
    let _ = answering.join();
}

/// The same one-hop round trip without the bridge: publish and receive on one client.
fn nats_alone(url: &str, rounds: u64) -> Histogram<u64> {
    use futures_util::StreamExt as _;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = async_nats::connect(url).await.expect("connects");
        let mut sub = client.subscribe("bench.alone").await.expect("subscribes");
        client.flush().await.expect("flushes");
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        let payload = Envelope {
            from: "bench-a".to_owned(),
            from_instance: uuid::Uuid::nil(),
            from_shard: 0,
            to_shard: 0,
            body: Body::Probe { seq: 0 },
        }
        .encode();
        for seq in 0..WARMUP + rounds {
            let sent = Instant::now();
            client
                .publish("bench.alone", payload.clone().into())
                .await
                .expect("publishes");
            sub.next().await.expect("message");
            if seq >= WARMUP {
                let _ = h.record(sent.elapsed().as_nanos() as u64);
            }
        }
        h
    })
}

/// Sends `rounds` probes (after the warm-up) one at a time to shard 0 of `node`, timing each
/// until `arrived` recognises what comes back with the same sequence number.
async fn probe_loop(
    link: &ShardLink,
    node: &str,
    rounds: u64,
    arrived: impl Fn(&Body) -> bool,
) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for seq in 0..WARMUP + rounds {
        let sent = Instant::now();
        link.send(node, 0, Body::Probe { seq })
            .expect("bridge takes it");
        loop {
            match link.recv().await {
                Some(FromBridge::Message(Envelope { body, .. })) if arrived(&body) => {
                    let (Body::Probe { seq: got } | Body::ProbeReply { seq: got }) = body else {
                        continue;
                    };
                    if got == seq {
                        break;
                    }
                }
                Some(_) => {}
                None => panic!("bridge stopped"),
            }
        }
        if seq >= WARMUP {
            let _ = h.record(sent.elapsed().as_nanos() as u64);
        }
    }
    h
}

fn report(what: &str, h: &Histogram<u64>) {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "round trip, {what}: p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs ({} probes)",
        us(0.5),
        us(0.9),
        us(0.99),
        h.max() as f64 / 1000.0,
        h.len()
    );
}

/// Encode + decode of one probe envelope, ours (version byte + MessagePack) against JSON.
fn encoding_cost() {
    const N: u32 = 1_000_000;
    let env = Envelope {
        from: "web-1-3536".to_owned(),
        from_instance: uuid::Uuid::nil(),
        from_shard: 1,
        to_shard: 0,
        body: Body::Probe { seq: 123_456 },
    };
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..N {
        let wire = std::hint::black_box(&env).encode();
        bytes = wire.len();
        std::hint::black_box(Envelope::decode(&wire).expect("decodes"));
    }
    let ours = started.elapsed() / N;
    let started = Instant::now();
    let mut json_bytes = 0;
    for _ in 0..N {
        let wire = serde_json::to_vec(std::hint::black_box(&env)).expect("encodes");
        json_bytes = wire.len();
        std::hint::black_box(serde_json::from_slice::<Envelope>(&wire).expect("decodes"));
    }
    let json = started.elapsed() / N;
    println!(
        "envelope encode+decode: MessagePack {} ns ({bytes} bytes), JSON {} ns ({json_bytes} bytes)",
        ours.as_nanos(),
        json.as_nanos()
    );
}

/// nats-server with JetStream on a free port, killed on drop.
struct NatsServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    fn start() -> Self {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .unwrap_or("nats-server");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nats-server runs (apt install nats-server)");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("nats-server says it is ready");
            if line.contains("Server is ready") {
                break;
            }
        }
        NatsServer {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
