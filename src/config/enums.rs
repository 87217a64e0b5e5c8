//! Enumerated config values.
//!
//! `logging.format`, `logging.rotation` and `security.transport.tls.client_auth` are read without
//! regard to ASCII case: 0.1.0's own example file writes `"format": "Json"`, which 0.1.0 then
//! rejected. They are always written in lower case.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// Reads a string and matches it against `variants` ignoring ASCII case.
fn case_insensitive<'de, D, T>(
    deserializer: D,
    variants: &[(&'static str, T)],
    names: &'static [&'static str],
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Copy,
{
    let text = String::deserialize(deserializer)?;
    variants
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
        .map(|(_, value)| *value)
        .ok_or_else(|| de::Error::unknown_variant(&text, names))
}

/// Output format of log lines (`logging.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &["json", "text"];
        case_insensitive(
            d,
            &[("json", LogFormat::Json), ("text", LogFormat::Text)],
            NAMES,
        )
    }
}

/// Rotation of the log file (`logging.rotation`).
///
/// 0.1.0 silently used `daily` for any unknown text; here an unknown value is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogRotation {
    /// A new file per UTC day (`server.log.YYYY-MM-DD`).
    #[default]
    Daily,
    /// A new file per UTC hour (`server.log.YYYY-MM-DD-HH`).
    Hourly,
    /// One file, never rotated.
    Never,
}

impl<'de> Deserialize<'de> for LogRotation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &["daily", "hourly", "never"];
        let variants = [
            ("daily", LogRotation::Daily),
            ("hourly", LogRotation::Hourly),
            ("never", LogRotation::Never),
        ];
        case_insensitive(d, &variants, NAMES)
    }
}

/// Whether TLS clients must present a certificate (`security.transport.tls.client_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthMode {
    /// No client certificates.
    #[default]
    None,
    /// Verified when presented.
    Optional,
    /// Mandatory.
    Require,
}

impl ClientAuthMode {
    /// True for `optional` and `require`: the modes that need a client CA bundle.
    pub fn wants_client_certs(self) -> bool {
        !matches!(self, ClientAuthMode::None)
    }
}

impl<'de> Deserialize<'de> for ClientAuthMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &["none", "optional", "require"];
        let variants = [
            ("none", ClientAuthMode::None),
            ("optional", ClientAuthMode::Optional),
            ("require", ClientAuthMode::Require),
        ];
        case_insensitive(d, &variants, NAMES)
    }
}

/// Token-binding proof scheme (`security.transport.token_binding.scheme`); one value exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenBindingScheme {
    /// HMAC-SHA256 keyed with the decoded `Sec-WebSocket-Key`.
    #[default]
    SecWebsocketKeySha256,
}

/// A series kept in the metrics dashboard history (`metrics.dashboard_cache_history_fields`),
/// spelled in PascalCase exactly as 0.1.0 does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DashboardHistoryField {
    /// Number of open rooms.
    ActiveRooms,
    /// Rooms per game name.
    RoomsByGame,
    /// Player-count percentiles.
    PlayerPercentiles,
    /// Per-game percentiles.
    GamePercentiles,
    /// Number of open connections.
    ActiveConnections,
    /// Rooms created.
    RoomsCreated,
}
