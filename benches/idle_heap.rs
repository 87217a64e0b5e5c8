//! What the server's heap holds per idle authenticated connection, by allocation size
//! (issue 10 item 3; the breakdown is in tuning.md section 8).
//!
//! Starts the server in this process (one shard, `benches/config.json`, port 0) under a counting
//! global allocator, opens IDLE_CONNS (default 2000) idle authenticated connections with the load
//! generator in a child process (so its allocations are not counted), and prints the live heap
//! bytes and blocks per connection, split by block size.
//!
//!   cargo build --release -p signal-fish-bench && cargo bench --bench idle_heap
//!
//! The figures are requested sizes: glibc adds 8-16 bytes per block, and RSS also holds freed
//! but unreturned memory, so RSS per connection is somewhat above the heap figure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};

use signal_fish_server::Server;
use signal_fish_server::config::Config;

/// Live-block counters by size class: class `i` holds blocks of (2^(i-1), 2^i] bytes.
const CLASSES: usize = 24;
static LIVE_BYTES: [AtomicIsize; CLASSES] = [const { AtomicIsize::new(0) }; CLASSES];
static LIVE_BLOCKS: [AtomicIsize; CLASSES] = [const { AtomicIsize::new(0) }; CLASSES];

struct Counting;

fn class(size: usize) -> usize {
    (usize::BITS - size.saturating_sub(1).leading_zeros()).min(CLASSES as u32 - 1) as usize
}

fn note(size: usize, sign: isize) {
    let c = class(size);
    LIVE_BYTES[c].fetch_add(sign * size as isize, Ordering::Relaxed);
    LIVE_BLOCKS[c].fetch_add(sign, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 1);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(layout.size(), -1);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 1);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(layout.size(), -1);
        note(new_size, 1);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> Vec<(isize, isize)> {
    (0..CLASSES)
        .map(|c| {
            (
                LIVE_BYTES[c].load(Ordering::Relaxed),
                LIVE_BLOCKS[c].load(Ordering::Relaxed),
            )
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and a measurement with a load generator has no place in a test run.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("idle_heap: a measurement, run by `cargo bench --bench idle_heap`");
        return;
    }
    let n: usize = std::env::var("IDLE_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let root = env!("CARGO_MANIFEST_DIR");
    let loadgen = format!("{root}/target/release/signal-fish-bench");
    assert!(
        std::path::Path::new(&loadgen).exists(),
        "{loadgen} is missing: cargo build --release -p signal-fish-bench"
    );
    let mut config = Config::load_with(Some(std::path::Path::new(&format!(
        "{root}/benches/config.json"
    ))))
    .expect("benches/config.json loads");
    config.port = 0;
    config.server.shards = 1;
    config.logging.level = Some("off".to_owned());
    let server = Server::start(config).expect("server starts");
    let before = snapshot();
    let mut child = Command::new(&loadgen)
        .args(["--url", &format!("ws://127.0.0.1:{}/v2/ws", server.port())])
        .args([
            "--mode",
            "idle",
            "-n",
            &n.to_string(),
            "--idle-settle",
            "3600",
        ])
        .args(["--progress", "0", "--source-ip-count", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("load generator starts");
    // The generator says "connected N (F failed)" once every connection has authenticated.
    let stderr = child.stderr.take().expect("piped stderr");
    let line = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("connected"))
        .expect("the load generator reports its connections");
    assert!(
        line.contains(&format!("connected {n} (0 failed)")),
        "not every connection opened: {line}"
    );
    // The last replies may still be on their way out; the heap is read once they are.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let after = snapshot();
    let _ = child.kill();
    let _ = child.wait();
    println!("live heap per idle authenticated connection ({n} connections, 1 shard):");
    println!("| block size | blocks per connection | bytes per connection |");
    println!("|---|---|---|");
    let (mut bytes, mut blocks) = (0.0, 0.0);
    for c in 0..CLASSES {
        let db = (after[c].0 - before[c].0) as f64 / n as f64;
        let dn = (after[c].1 - before[c].1) as f64 / n as f64;
        bytes += db;
        blocks += dn;
        if dn.abs() >= 0.05 {
            let low = if c == 0 { 0 } else { (1usize << (c - 1)) + 1 };
            println!("| {low}–{} B | {dn:.2} | {db:.0} |", 1usize << c);
        }
    }
    println!("| **total** | {blocks:.2} | **{bytes:.0}** |");
    server.shutdown();
}
