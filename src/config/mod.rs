//! Server configuration: the key tree of `signal-fish-server` 0.1.0, its defaults, loading from
//! JSON sources and environment overrides, and validation.
//!
//! Field names are the JSON key names, so `serde` maps the tree one to one and `--print-config`
//! shows exactly what an operator can write. Every section struct has `#[serde(default)]`: a
//! partial tree is completed from the defaults.
//!
//! Layout: [`sections`], [`protocol`] and [`security`] hold the types and their defaults,
//! [`load`] reads and merges the sources, [`env`] applies per-key environment overrides,
//! [`validate`] checks the result, [`error`] is the one error type.

mod cluster;
mod enums;
mod env;
mod error;
mod load;
mod protocol;
mod redact;
mod sections;
mod security;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use cluster::{ClusterConfig, MAX_NODE_ID_LEN, check_node_id, redact_url};
pub use enums::{
    ClientAuthMode, DashboardHistoryField, LogFormat, LogRotation, TokenBindingScheme,
};
pub use error::ConfigError;
pub use protocol::{PlayerNameValidationConfig, ProtocolConfig, SdkCompatibilityConfig};
pub use sections::{
    AuthConfig, CoordinationConfig, DedupCacheConfig, LoggingConfig, MetricsConfig,
    RateLimitConfig, RelayTypesConfig, ServerConfig, WebSocketSettings,
};
pub use security::{AuthorizedApp, SecurityConfig, TlsConfig, TokenBindingConfig, TransportConfig};

/// The whole configuration tree, one field per top-level JSON key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// TCP port the server listens on (`0.0.0.0:<port>`).
    pub port: u16,
    /// Rooms, timeouts, reconnection, sharding.
    pub server: ServerConfig,
    /// Per-connection room creation / join limits.
    pub rate_limit: RateLimitConfig,
    /// Protocol limits, SDK compatibility rules, player-name rules.
    pub protocol: ProtocolConfig,
    /// Log filter, format and file output.
    pub logging: LoggingConfig,
    /// CORS, auth switches, message and connection limits, TLS, authorized apps.
    pub security: SecurityConfig,
    /// Outbound batching and the auth timeout.
    pub websocket: WebSocketSettings,
    /// Dashboard cache behind the JSON metrics endpoint.
    pub metrics: MetricsConfig,
    /// Relay labels reported in room data.
    pub relay_types: RelayTypesConfig,
    /// Parsed for compatibility with 0.1.0 configs; unused.
    pub auth: AuthConfig,
    /// Parsed for compatibility with 0.1.0 configs; unused.
    pub coordination: CoordinationConfig,
    /// New in this server: cluster mode on NATS (decision 22); unset `nats_url` = one process.
    pub cluster: ClusterConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 3536,
            server: ServerConfig::default(),
            rate_limit: RateLimitConfig::default(),
            protocol: ProtocolConfig::default(),
            logging: LoggingConfig::default(),
            security: SecurityConfig::default(),
            websocket: WebSocketSettings::default(),
            metrics: MetricsConfig::default(),
            relay_types: RelayTypesConfig::default(),
            auth: AuthConfig::default(),
            coordination: CoordinationConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Config {
    /// Loads the configuration from the process environment and the current directory.
    ///
    /// Sources, later ones winning: defaults, `SIGNAL_FISH_CONFIG_JSON`, stdin (only when
    /// `SIGNAL_FISH_CONFIG_STDIN` is `1`/`true`/`yes`), the file named by
    /// `SIGNAL_FISH_CONFIG_PATH` or else `./config.json`, then per-key env overrides.
    /// Warnings (unknown keys, weak metrics token) go to stderr. Does not validate.
    pub fn load() -> Result<Config, ConfigError> {
        Self::load_with(None)
    }

    /// Like [`Config::load`], but `config_path` (the binary's `--config`), when given, is the
    /// file read in place of `SIGNAL_FISH_CONFIG_PATH` or `./config.json`; it must exist.
    pub fn load_with(config_path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut env = load::process_env()?;
        if let Some(path) = config_path {
            // The file must be there: a typo must not fall back to another source silently.
            if let Err(source) = std::fs::metadata(path) {
                return Err(ConfigError::Read {
                    source_label: format!("file {} (from --config)", path.display()),
                    source,
                });
            }
            let Some(text) = path.to_str() else {
                return Err(ConfigError::Parse {
                    source_label: format!("--config {}", path.display()),
                    message: "the path is not valid UTF-8".to_owned(),
                });
            };
            // The lookup takes the last value of a variable, so this one wins.
            env.push(("SIGNAL_FISH_CONFIG_PATH".to_owned(), text.to_owned()));
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
        let stdin = load::read_stdin_if_requested(&env)?;
        let loaded = load::load_sources(&env, &cwd, stdin.as_deref())?;
        loaded.print_warnings();
        Ok(loaded.config)
    }

    /// Like [`Config::load`], but the environment is `env` and `./config.json` is looked up in
    /// `cwd`; the process environment and stdin are never read, so tests can run in parallel.
    pub fn load_from(env: &[(String, String)], cwd: &Path) -> Result<Config, ConfigError> {
        let loaded = load::load_sources(env, cwd, None)?;
        loaded.print_warnings();
        Ok(loaded.config)
    }

    /// The effective configuration as pretty JSON (2-space indent), for `--print-config`.
    /// Secrets are printed verbatim, as 0.1.0 does; maps print in key order.
    pub fn to_pretty_json(&self) -> String {
        // Serialising plain structs and string-keyed maps cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The `--validate-config` success text (no trailing newline; print it with `println!`).
    pub fn validation_summary(&self) -> String {
        format!(
            "Configuration validation passed\n\
             \n\
             Configuration summary:\n\
             \x20 Port: {}\n\
             \x20 Storage backend: InMemory\n\
             \x20 TLS enabled: {}\n\
             \x20 Metrics auth required: {}\n\
             \x20 Reconnection enabled: {}\n\
             \x20 Max players per room: {}\n\
             \x20 Deployment region: {}",
            self.port,
            self.security.transport.tls.enabled,
            self.security.require_metrics_auth,
            self.server.enable_reconnection,
            self.server.default_max_players,
            self.server.region_id,
        )
    }

    /// How many shards (threads) to run: `server.shards`, or one per usable core when it is 0.
    pub fn effective_shards(&self, available_cores: usize) -> usize {
        match self.server.shards {
            0 => available_cores.max(1),
            n => n,
        }
    }

    /// The relay label for a game: its `relay_types.game_relay_mappings` entry, else
    /// `relay_types.default_relay_type`.
    ///
    /// An exact match wins; otherwise the lookup ignores ASCII case, because keys set through
    /// environment variables arrive lower-cased.
    pub fn relay_type_for(&self, game: &str) -> &str {
        let map = &self.relay_types.game_relay_mappings;
        map.get(game)
            .or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(game))
                    .map(|(_, v)| v)
            })
            .unwrap_or(&self.relay_types.default_relay_type)
    }
}
