//! The command line of the `signal-fish-server` binary: 0.1.0's flags (`-c`/`--validate-config`,
//! `--print-config`) plus `--config` and `--port`, and the help text an operator needs without
//! the README (environment variables, where the configuration comes from, signals).

use std::path::PathBuf;

use clap::Parser;

use crate::config::{Config, ConfigError};

/// What `--version` prints after the binary's name: what this is, and which wire it speaks.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (Signal Fish; wire-compatible with signal-fish-server 0.1.0)"
);

/// Printed after the flags by `--help`.
const AFTER_HELP: &str = "\
Configuration, later sources winning:
  1. compiled defaults: port 3536, WebSocket and metrics auth off
  2. SIGNAL_FISH_CONFIG_JSON (inline JSON), then stdin when SIGNAL_FISH_CONFIG_STDIN=1
  3. the file from --config, else the file named by SIGNAL_FISH_CONFIG_PATH,
     else ./config.json when present
  4. one environment variable per key, levels separated by `__`:
       SIGNAL_FISH_<KEY> / SIGNAL_FISH_<SECTION>__<KEY>    e.g. SIGNAL_FISH_PORT=4000,
                                                            SIGNAL_FISH_SERVER__DRAIN_GRACE_SECS=30
       SIGNAL_FISH__<SECTION>__<KEY> (0.1.0's spelling)     e.g. SIGNAL_FISH__SERVER__PING_TIMEOUT=30
     when both spellings set a key, SIGNAL_FISH_ wins
  5. --port

Signals: the first SIGTERM or SIGINT drains for server.drain_grace_secs (health answers 503,
no new connections or rooms, rooms in play go on), then closes every WebSocket with 1001 and
exits 0; a second signal ends the drain at once. With drain_grace_secs 0 (the default) the
first signal closes at once.";

/// A lightweight, in-memory WebSocket signaling server for P2P game networking.
#[derive(Parser, Debug)]
#[command(name = "signal-fish-server", version = VERSION, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Load and validate the configuration, print a summary, and exit (1 if invalid).
    #[arg(short = 'c', long = "validate-config", conflicts_with = "print_config")]
    pub validate_config: bool,
    /// Validate the configuration, then print it as JSON with secrets redacted, and exit.
    #[arg(long = "print-config")]
    pub print_config: bool,
    /// Read this config file instead of SIGNAL_FISH_CONFIG_PATH or ./config.json; environment
    /// variables still apply on top.
    #[arg(long = "config", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Listen on this port, overriding the config file and SIGNAL_FISH_PORT (0: any free port,
    /// printed in the start line).
    #[arg(long = "port", value_name = "N")]
    pub port: Option<u16>,
}

impl Cli {
    /// The configuration these flags select: loaded (with `--config`), then `--port` on top.
    /// Not validated.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load_with(self.config.as_deref())?;
        if let Some(port) = self.port {
            config.port = port;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_flags_parse_and_0_1_0_spellings_stay() {
        let cli =
            Cli::try_parse_from(["x", "--config", "a.json", "--port", "0", "-c"]).expect("parses");
        assert_eq!(cli.config.as_deref(), Some(std::path::Path::new("a.json")));
        assert_eq!(cli.port, Some(0));
        assert!(cli.validate_config);
        assert!(Cli::try_parse_from(["x", "-c", "--print-config"]).is_err());
        assert!(Cli::try_parse_from(["x", "--port", "70000"]).is_err());
        Cli::command().debug_assert();
    }
}
