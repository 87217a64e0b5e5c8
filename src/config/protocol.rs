//! `protocol.*`: protocol limits, SDK compatibility rules and player-name rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::validation::PlayerNameRules;

/// `protocol.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProtocolConfig {
    /// Longest accepted `game_name`, in characters.
    pub max_game_name_length: usize,
    /// Length of generated room codes.
    pub room_code_length: usize,
    /// Longest accepted player name; also advertised in `player_name_rules.max_length`.
    pub max_player_name_length: usize,
    /// Upper bound for a room's `max_players`.
    pub max_players_limit: u8,
    /// Whether `message_pack` is advertised as a game-data format.
    pub enable_message_pack_game_data: bool,
    /// Which SDKs may authenticate, and what `ProtocolInfo` tells them.
    pub sdk_compatibility: SdkCompatibilityConfig,
    /// Which characters player and spectator names may contain.
    pub player_name_validation: PlayerNameValidationConfig,
}

impl ProtocolConfig {
    /// The player-name rules these settings describe, for validating names and for
    /// advertising them in `ProtocolInfo`.
    pub fn player_name_rules(&self) -> PlayerNameRules {
        let v = &self.player_name_validation;
        PlayerNameRules {
            max_length: self.max_player_name_length,
            allow_unicode_alphanumeric: v.allow_unicode_alphanumeric,
            allow_spaces: v.allow_spaces,
            allow_leading_trailing_whitespace: v.allow_leading_trailing_whitespace,
            allowed_symbols: v.allowed_symbols.clone(),
            additional_allowed_characters: v.additional_allowed_characters.clone(),
        }
    }
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            max_game_name_length: 64,
            room_code_length: 6,
            max_player_name_length: 32,
            max_players_limit: 100,
            enable_message_pack_game_data: true,
            sdk_compatibility: SdkCompatibilityConfig::default(),
            player_name_validation: PlayerNameValidationConfig::default(),
        }
    }
}

/// `protocol.sdk_compatibility.*`. Map keys are lower-case platform names; the key `_default`
/// of `capabilities` and `notes` applies to every platform.
///
/// Maps are merged additively across sources (as in 0.1.0): an entry can be overridden but a
/// default entry cannot be removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SdkCompatibilityConfig {
    /// Whether a platform (with a minimum version) is required to authenticate.
    pub enforce: bool,
    /// Platform → lowest accepted semver.
    pub minimum_versions: BTreeMap<String, String>,
    /// Platform → advertised recommended semver.
    pub recommended_versions: BTreeMap<String, String>,
    /// Platform → capability names advertised in `ProtocolInfo`.
    pub capabilities: BTreeMap<String, Vec<String>>,
    /// Platform → note advertised in `ProtocolInfo`.
    pub notes: BTreeMap<String, String>,
}

/// Builds a string map from literal pairs.
fn map<V: Clone>(pairs: &[(&str, V)]) -> BTreeMap<String, V> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Builds an owned string list from literals.
fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for SdkCompatibilityConfig {
    fn default() -> Self {
        SdkCompatibilityConfig {
            enforce: true,
            minimum_versions: map(&[
                ("unity", "1.10.0".to_owned()),
                ("godot", "0.9.0".to_owned()),
                ("godot-rust", "0.9.0".to_owned()),
                ("test", "1.0.0".to_owned()),
            ]),
            recommended_versions: map(&[
                ("unity", "1.12.0".to_owned()),
                ("godot-rust", "0.9.2".to_owned()),
            ]),
            capabilities: map(&[
                (
                    "_default",
                    strings(&["reconnection", "spectator-mode", "rate-limits-v2"]),
                ),
                (
                    "unity",
                    strings(&["relay-matchbox", "relay-mirror", "relay-fishnet"]),
                ),
            ]),
            notes: map(&[(
                "unity",
                "Upgrade to 1.12.x for deterministic reconnect handling and spectator patches."
                    .to_owned(),
            )]),
        }
    }
}

/// `protocol.player_name_validation.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlayerNameValidationConfig {
    /// Letters and digits of any script (else ASCII only).
    pub allow_unicode_alphanumeric: bool,
    /// Inner spaces.
    pub allow_spaces: bool,
    /// Whitespace at either end.
    pub allow_leading_trailing_whitespace: bool,
    /// Extra single characters allowed (each a one-character string in JSON).
    pub allowed_symbols: Vec<char>,
    /// Every character of this string is allowed too.
    pub additional_allowed_characters: Option<String>,
}

impl Default for PlayerNameValidationConfig {
    fn default() -> Self {
        PlayerNameValidationConfig {
            allow_unicode_alphanumeric: true,
            allow_spaces: true,
            allow_leading_trailing_whitespace: false,
            allowed_symbols: vec!['-', '_'],
            additional_allowed_characters: None,
        }
    }
}
