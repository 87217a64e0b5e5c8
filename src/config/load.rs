//! Reading the JSON sources, merging them over the defaults, and the typed deserialisation.
//!
//! Order (later wins): defaults ← `SIGNAL_FISH_CONFIG_JSON` ← stdin (when requested) ← the file
//! `SIGNAL_FISH_CONFIG_PATH` (or else `./config.json` if present) ← env overrides. Objects merge
//! key by key; anything else replaces. Unlike 0.1.0, a broken source or a wrong value is an
//! error, never a silent fallback.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::Config;
use super::env::apply_overrides;
use super::error::ConfigError;

/// Deprecated spellings accepted for a key: (section, alias, canonical). 0.1.0 declared
/// `heartbeat_db_throttle_secs` but could never accept it (it always clashed with the default).
pub(crate) const ALIASES: &[(&str, &str, &str)] = &[(
    "server",
    "heartbeat_db_throttle_secs",
    "heartbeat_throttle_secs",
)];

/// Tokens short enough to deserve a warning.
const SHORT_TOKEN_CHARS: usize = 16;

/// A loaded configuration and what to tell the operator about it.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The typed result (not yet validated).
    pub config: Config,
    /// Non-fatal findings, one line each (unknown keys, weak settings).
    pub warnings: Vec<String>,
}

impl Loaded {
    /// Writes the warnings to stderr (logging is not initialised while loading).
    pub fn print_warnings(&self) {
        for warning in &self.warnings {
            eprintln!("{warning}");
        }
    }
}

/// The process variables configuration cares about. Values must be UTF-8.
pub(crate) fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (name, value) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if !(name.starts_with("SIGNAL_FISH") || name == "PRODUCTION" || name == "PROD") {
            continue;
        }
        match value.into_string() {
            Ok(value) => out.push((name, value)),
            Err(_) => {
                return Err(ConfigError::Parse {
                    source_label: format!("environment variable {name}"),
                    message: "value is not valid UTF-8".to_owned(),
                });
            }
        }
    }
    Ok(out)
}

/// Reads stdin to the end when `SIGNAL_FISH_CONFIG_STDIN` is `1`, `true` or `yes`.
pub(crate) fn read_stdin_if_requested(
    env: &[(String, String)],
) -> Result<Option<String>, ConfigError> {
    let requested = lookup(env, "SIGNAL_FISH_CONFIG_STDIN").is_some_and(|v| {
        let v = v.trim();
        ["1", "true", "yes"]
            .iter()
            .any(|yes| v.eq_ignore_ascii_case(yes))
    });
    if !requested {
        return Ok(None);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|source| ConfigError::Read {
            source_label: "stdin".to_owned(),
            source,
        })?;
    Ok(Some(text))
}

/// Loads from `env`, `cwd` and optional stdin text; never touches the process environment.
pub(crate) fn load_sources(
    env: &[(String, String)],
    cwd: &Path,
    stdin: Option<&str>,
) -> Result<Loaded, ConfigError> {
    let defaults = to_tree(&Config::default())?;
    let mut tree = defaults.clone();
    if let Some(text) = lookup(env, "SIGNAL_FISH_CONFIG_JSON") {
        merge_source(&mut tree, text, "SIGNAL_FISH_CONFIG_JSON")?;
    }
    if let Some(text) = stdin {
        merge_source(&mut tree, text, "stdin")?;
    }
    match lookup(env, "SIGNAL_FISH_CONFIG_PATH").filter(|p| !p.trim().is_empty()) {
        Some(path) => {
            let path = cwd.join(path.trim());
            if !path.exists() {
                return Err(ConfigError::MissingFile { path });
            }
            merge_file(&mut tree, &path)?;
        }
        None => {
            let path = cwd.join("config.json");
            if path.is_file() {
                merge_file(&mut tree, &path)?;
            }
        }
    }
    apply_overrides(&mut tree, &defaults, env)?;

    let config: Config =
        serde_path_to_error::deserialize(tree.clone()).map_err(|e| ConfigError::Value {
            key: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    let mut warnings = Vec::new();
    unknown_keys(&tree, &to_tree(&config)?, "", &mut warnings);
    security_warnings(&config, env, &mut warnings);
    Ok(Loaded { config, warnings })
}

/// Merges `from` into `into`: objects key by key, recursively; anything else replaces.
pub(crate) fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

/// The last value of `name` in `env`, like a real environment would hold.
fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Serialises a config into a JSON tree.
fn to_tree(config: &Config) -> Result<Value, ConfigError> {
    // Cannot fail for plain structs with string-keyed maps; mapped rather than unwrapped.
    serde_json::to_value(config).map_err(|e| ConfigError::Value {
        key: String::new(),
        message: e.to_string(),
    })
}

/// Reads a config file and merges it.
fn merge_file(tree: &mut Value, path: &Path) -> Result<(), ConfigError> {
    let label = format!("file {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        source_label: label.clone(),
        source,
    })?;
    merge_source(tree, &text, &label)
}

/// Parses one source and merges it. Blank text is ignored, as in 0.1.0.
fn merge_source(tree: &mut Value, text: &str, label: &str) -> Result<(), ConfigError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let parse_error = |message: String| ConfigError::Parse {
        source_label: label.to_owned(),
        message,
    };
    let mut value: Value = serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?;
    if !value.is_object() {
        return Err(parse_error(
            "the top level must be a JSON object".to_owned(),
        ));
    }
    resolve_aliases(&mut value)?;
    merge(tree, value);
    Ok(())
}

/// Renames alias keys of one source to their canonical names.
fn resolve_aliases(source: &mut Value) -> Result<(), ConfigError> {
    for (section, alias, canonical) in ALIASES {
        let Some(Value::Object(map)) = source.get_mut(*section) else {
            continue;
        };
        let Some(value) = map.remove(*alias) else {
            continue;
        };
        if map.contains_key(*canonical) {
            return Err(ConfigError::Value {
                key: format!("{section}.{alias}"),
                message: format!("is an alias of `{section}.{canonical}`; set only one of them"),
            });
        }
        map.insert((*canonical).to_owned(), value);
    }
    Ok(())
}

/// Collects a warning for every key of `given` that the typed config did not keep.
fn unknown_keys(given: &Value, kept: &Value, path: &str, out: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (given, kept) {
        (Value::Object(given), Value::Object(kept)) => {
            for (key, value) in given {
                match kept.get(key) {
                    Some(kept_value) => unknown_keys(value, kept_value, &join(key), out),
                    None => out.push(format!(
                        "WARNING: unknown config key `{}` ignored",
                        join(key)
                    )),
                }
            }
        }
        (Value::Array(given), Value::Array(kept)) => {
            for (i, (g, k)) in given.iter().zip(kept).enumerate() {
                unknown_keys(g, k, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The non-fatal metrics-auth warnings of 0.1.0 (operations.md §2.5 step 1).
fn security_warnings(config: &Config, env: &[(String, String)], out: &mut Vec<String>) {
    let security = &config.security;
    if security.require_metrics_auth {
        let len = security
            .metrics_auth_token
            .as_deref()
            .map_or(0, |t| t.trim().chars().count());
        if (1..SHORT_TOKEN_CHARS).contains(&len) {
            out.push(format!(
                "WARNING: Metrics auth token is very short ({len} chars). \
                 Use at least {SHORT_TOKEN_CHARS} random characters."
            ));
        }
    } else if is_production(env) {
        out.push(
            "SECURITY WARNING: Metrics Authentication Disabled in Production! \
             Anyone who can reach the server can read /metrics; set \
             SIGNAL_FISH_SECURITY__REQUIRE_METRICS_AUTH=true and \
             SIGNAL_FISH_SECURITY__METRICS_AUTH_TOKEN."
                .to_owned(),
        );
    }
}

/// Production mode (operations.md §2.6): `SIGNAL_FISH__ENVIRONMENT` (or the documented single
/// underscore spelling) decides when set, otherwise any of the marker variables.
fn is_production(env: &[(String, String)]) -> bool {
    let declared =
        lookup(env, "SIGNAL_FISH__ENVIRONMENT").or_else(|| lookup(env, "SIGNAL_FISH_ENVIRONMENT"));
    match declared {
        Some(value) => {
            let value = value.trim().to_ascii_lowercase();
            value == "production" || value == "prod"
        }
        None => ["SIGNAL_FISH_PRODUCTION", "PRODUCTION", "PROD"]
            .iter()
            .any(|name| lookup(env, name).is_some()),
    }
}
