//! The `signal-fish-server` binary: parse flags, load the configuration, run until a signal,
//! drain, stop.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use signal_fish_server::cli::Cli;
use signal_fish_server::config::Config;
use signal_fish_server::{DrainEnd, Server};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.load_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("Configuration error: {err}");
            return ExitCode::from(1);
        }
    };
    // Validate before anything is printed: a dump of a configuration that would not start
    // is misleading (0.1.0 printed it and exited 0).
    if let Err(err) = config.validate() {
        eprintln!("Configuration validation failed:\n{err}");
        return ExitCode::from(1);
    }
    if cli.print_config {
        return print(&config.to_redacted_json());
    }
    if cli.validate_config {
        return print(&config.validation_summary());
    }
    run(config)
}

/// Writes `text` and a newline to stdout. A closed pipe (`--print-config | head`) is not a
/// crash: exit 0 quietly, as other tools do.
fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("Error: cannot write to stdout: {err}");
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

fn run(config: Config) -> ExitCode {
    let grace = Duration::from_secs(config.server.drain_grace_secs);
    // Handlers first: a signal that arrives once the start line is out must find them.
    let signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("Error: cannot install signal handlers: {err}");
            return ExitCode::from(1);
        }
    };
    // Signals arrive on a channel, so a drain can wait for "a second signal" next to its own
    // events and deadline.
    let signal_rx = match forward_signals(signals) {
        Ok(rx) => rx,
        Err(err) => {
            eprintln!("Error: cannot start the signal thread: {err}");
            return ExitCode::from(1);
        }
    };
    // Many connections need many descriptors: take everything the hard limit allows.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let handle = match Server::start(config) {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::from(1);
        }
    };
    let cluster = handle
        .cluster_node_id()
        .map(|node| format!(" - cluster node {node}"))
        .unwrap_or_default();
    eprintln!(
        "Signal Fish listening on {} with {} shard(s) (open-file limit {nofile}, max connections {}) - WebSocket: /v2/ws, health: /v2/health{cluster}",
        handle.local_addr(),
        handle.shards(),
        handle.max_connections()
    );
    if let Ok(signal) = signal_rx.recv() {
        if grace.is_zero() {
            eprintln!("Received signal {signal}; closing connections");
        } else {
            let mut drain = handle.drain(grace);
            // Printed once every shard drains, so whoever reads it can rely on the 503s.
            eprintln!(
                "Received signal {signal}; draining for up to {}s with {} room(s) in play (health answers 503, no new connections or rooms; a second signal closes at once)",
                grace.as_secs(),
                drain.rooms_in_play()
            );
            match drain.wait(&signal_rx) {
                DrainEnd::Idle => eprintln!("Drained: no room in play; closing connections"),
                DrainEnd::GraceExpired => eprintln!(
                    "Drain grace period over with {} room(s) in play; closing connections",
                    drain.rooms_in_play()
                ),
                DrainEnd::Cancelled => eprintln!("Received a second signal; closing connections"),
            }
        }
    }
    handle.shutdown();
    eprintln!("Signal Fish stopped");
    ExitCode::SUCCESS
}

/// Sends every SIGINT/SIGTERM to the returned channel from a thread of its own.
fn forward_signals(
    mut signals: signal_hook::iterator::Signals,
) -> std::io::Result<crossbeam_channel::Receiver<i32>> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                if tx.send(signal).is_err() {
                    break;
                }
            }
        })?;
    Ok(rx)
}
