//! SDK compatibility rules (operations.md §4.4) and the `ProtocolInfo` they advertise.

use semver::Version;

use crate::config::{Config, SdkCompatibilityConfig};
use crate::protocol::server::ProtocolInfoPayload;
use crate::protocol::{GameDataEncoding, PlayerNameRulesPayload};

/// Key of the `capabilities` / `notes` entries that apply to every platform.
const DEFAULT_KEY: &str = "_default";

/// Checks the client's SDK against `sdk`; `Err` holds the exact 0.1.0 text.
///
/// Lookups use the lower-cased platform; texts quote the client's own spelling. Enforcement
/// (`enforce` with a non-empty minimum table) requires a known platform; a platform that has a
/// minimum version is version-checked even without enforcement.
pub fn check_sdk(
    sdk: &SdkCompatibilityConfig,
    platform: Option<&str>,
    sdk_version: Option<&str>,
) -> Result<(), String> {
    let enforcing = sdk.enforce && !sdk.minimum_versions.is_empty();
    let Some(platform) = platform else {
        if enforcing {
            return Err("SDK platform is required for compatibility validation".to_owned());
        }
        return Ok(());
    };
    let Some(minimum) = sdk.minimum_versions.get(&platform.to_lowercase()) else {
        if enforcing {
            return Err(format!("SDK platform `{platform}` is not recognized"));
        }
        return Ok(());
    };
    let Some(version_text) = sdk_version else {
        return Err(format!("SDK version is required for platform `{platform}`"));
    };
    let version = Version::parse(version_text).map_err(|e| {
        format!("SDK version `{version_text}` for platform `{platform}` is invalid: {e}")
    })?;
    // `Config::validate` guarantees minimums are semver; an unchecked bad one cannot reject.
    match Version::parse(minimum) {
        Ok(min) if version < min => Err(format!(
            "SDK version `{version_text}` for platform `{platform}` is below the minimum \
             supported version `{minimum}`"
        )),
        _ => Ok(()),
    }
}

/// Game-data formats the server offers: JSON, plus MessagePack unless disabled.
pub fn advertised_formats(cfg: &Config) -> Vec<GameDataEncoding> {
    let mut formats = vec![GameDataEncoding::Json];
    if cfg.protocol.enable_message_pack_game_data {
        formats.push(GameDataEncoding::MessagePack);
    }
    formats
}

/// The player-name rules advertised to clients.
pub fn player_name_rules(cfg: &Config) -> PlayerNameRulesPayload {
    cfg.protocol.player_name_rules().to_payload()
}

/// `ProtocolInfo` for a client (protocol.md §3.2): the platform echoed as sent, versions and
/// notes for the lower-cased platform, `_default` capabilities then the platform's extras
/// without duplicates.
pub fn protocol_info(
    cfg: &Config,
    platform: Option<&str>,
    sdk_version: Option<&str>,
) -> ProtocolInfoPayload {
    let sdk = &cfg.protocol.sdk_compatibility;
    let key = platform.map(str::to_lowercase);
    let key = key.as_deref();
    let lookup =
        |map: &std::collections::BTreeMap<String, String>| key.and_then(|k| map.get(k)).cloned();

    let mut capabilities: Vec<String> = Vec::new();
    let lists = [Some(DEFAULT_KEY), key]
        .into_iter()
        .flatten()
        .filter_map(|k| sdk.capabilities.get(k));
    for capability in lists.flatten() {
        if !capabilities.contains(capability) {
            capabilities.push(capability.clone());
        }
    }

    ProtocolInfoPayload {
        platform: platform.map(str::to_owned),
        sdk_version: sdk_version.map(str::to_owned),
        minimum_version: lookup(&sdk.minimum_versions),
        recommended_version: lookup(&sdk.recommended_versions),
        capabilities,
        notes: lookup(&sdk.notes).or_else(|| sdk.notes.get(DEFAULT_KEY).cloned()),
        game_data_formats: advertised_formats(cfg),
        player_name_rules: Some(player_name_rules(cfg)),
    }
}
