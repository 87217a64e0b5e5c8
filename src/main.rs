//! The `signal-fish-server` binary: parse flags, load the configuration, run until a signal.

use std::process::ExitCode;

use clap::Parser;
use signal_fish_server::Server;
use signal_fish_server::config::Config;

/// A lightweight, in-memory WebSocket signaling server for P2P game networking.
#[derive(Parser, Debug)]
#[command(name = "signal-fish-server", version, about)]
struct Cli {
    /// Load and validate the configuration, print the result, and exit.
    #[arg(short = 'c', long = "validate-config", conflicts_with = "print_config")]
    validate_config: bool,
    /// Print the effective configuration as JSON and exit.
    #[arg(long = "print-config")]
    print_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("Configuration error: {err}");
            return ExitCode::from(1);
        }
    };
    if cli.print_config {
        println!("{}", config.to_pretty_json());
        return ExitCode::SUCCESS;
    }
    if let Err(err) = config.validate() {
        eprintln!("Configuration validation failed:\n{err}");
        return ExitCode::from(1);
    }
    if cli.validate_config {
        println!("{}", config.validation_summary());
        return ExitCode::SUCCESS;
    }
    run(config)
}

fn run(config: Config) -> ExitCode {
    // Many connections need many descriptors: take everything the hard limit allows.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let handle = match Server::start(config) {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "Signal Fish listening on {} with {} shard(s) (open-file limit {nofile}, max connections {}) - WebSocket: /v2/ws, health: /v2/health",
        handle.local_addr(),
        handle.shards(),
        handle.max_connections()
    );
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("Error: cannot install signal handlers: {err}");
            return ExitCode::from(1);
        }
    };
    if let Some(signal) = signals.forever().next() {
        eprintln!("Received signal {signal}; closing connections");
    }
    handle.shutdown();
    eprintln!("Signal Fish stopped");
    ExitCode::SUCCESS
}
