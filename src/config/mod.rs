//! TEMPORARY STUB: replaced by the real config from branch wt-config.
#![allow(dead_code)]
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub port: u16,
    pub server: ServerConfig,
    pub protocol: ProtocolConfig,
    pub security: SecurityConfig,
    pub websocket: WebSocketSettings,
    pub relay_types: RelayTypesConfig,
}
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub default_max_players: u8,
    pub ping_timeout: u64,
    pub max_rooms_per_game: usize,
    pub room_code_prefix: Option<String>,
    pub shards: usize,
}
#[derive(Debug, Clone, Default)]
pub struct ProtocolConfig {
    pub max_game_name_length: usize,
    pub room_code_length: usize,
    pub max_player_name_length: usize,
    pub max_players_limit: u8,
    pub player_name_validation: PlayerNameValidationConfig,
}
#[derive(Debug, Clone, Default)]
pub struct PlayerNameValidationConfig {
    pub allow_unicode_alphanumeric: bool,
    pub allow_spaces: bool,
    pub allow_leading_trailing_whitespace: bool,
    pub allowed_symbols: Vec<char>,
    pub additional_allowed_characters: Option<String>,
}
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    pub require_websocket_auth: bool,
    pub max_message_size: usize,
    pub max_connections_per_ip: usize,
}
#[derive(Debug, Clone, Default)]
pub struct WebSocketSettings {
    pub batch_size: usize,
    pub auth_timeout_secs: u64,
}
#[derive(Debug, Clone, Default)]
pub struct RelayTypesConfig {
    pub game_relay_mappings: BTreeMap<String, String>,
    pub default_relay_type: String,
}
impl Config {
    pub fn relay_type_for(&self, game: &str) -> &str {
        self.relay_types
            .game_relay_mappings
            .get(game)
            .unwrap_or(&self.relay_types.default_relay_type)
    }
}
#[derive(Debug)]
pub struct ConfigError;
impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stub")
    }
}
impl std::error::Error for ConfigError {}
impl Config {
    pub fn load() -> Result<Config, ConfigError> {
        Ok(Config::default())
    }
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
    pub fn to_pretty_json(&self) -> String {
        String::new()
    }
    pub fn validation_summary(&self) -> String {
        String::new()
    }
}
