//! Per-key environment overrides: `SIGNAL_FISH__SECTION__KEY` (what 0.1.0 read) and
//! `SIGNAL_FISH_SECTION__KEY` (what its documentation promised).
//!
//! The name after the prefix is split on `__`, empty pieces dropped, each piece lower-cased: that
//! is the key path. Unlike 0.1.0, a value is coerced against the type of the key it targets
//! (read from the default tree), so a string key never turns into a number or a list.

use serde_json::{Map, Value};

use super::error::ConfigError;
use super::load::{ALIASES, merge};

/// 0.1.0's spelling; applied first so the documented spelling wins when both set a key.
const PREFIX_0_1_0: &str = "SIGNAL_FISH__";
/// The documented spelling.
const PREFIX_DOCUMENTED: &str = "SIGNAL_FISH_";

/// Variables under the prefixes that select sources or modes rather than keys.
const NOT_KEYS: &[&str] = &[
    "config_json",
    "config_path",
    "config_stdin",
    "production",
    "environment",
];

/// Maps whose entries may be added through the environment even though the default tree lacks
/// them, with the shape of their values.
const OPEN_MAPS: &[(&str, Kind)] = &[
    ("protocol.sdk_compatibility.minimum_versions", Kind::Str),
    ("protocol.sdk_compatibility.recommended_versions", Kind::Str),
    ("protocol.sdk_compatibility.capabilities", Kind::List),
    ("protocol.sdk_compatibility.notes", Kind::Str),
    ("relay_types.game_relay_mappings", Kind::Str),
];

/// The shape a key expects, which decides how its text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Kept verbatim.
    Str,
    /// Kept verbatim, except that `null` clears it.
    OptStr,
    /// `true` / `false` (ASCII case ignored).
    Bool,
    /// A JSON number.
    Number,
    /// A JSON array, or a comma-separated list of strings.
    List,
    /// A JSON object (merged into the section).
    Object,
    /// Not a key of ours: kept verbatim, later reported as unknown.
    Unknown,
}

/// One override, parsed from a variable name.
struct Override<'a> {
    /// 0 for `SIGNAL_FISH__`, 1 for `SIGNAL_FISH_`: the order of application.
    rank: u8,
    /// Lower-cased key path.
    path: Vec<String>,
    var: &'a str,
    value: &'a str,
}

/// Applies every override in `env` to `tree`. `defaults` is the default tree, used to learn
/// each key's type. Overrides are applied in a fixed order (0.1.0 spelling first, then by key
/// path, so a whole section comes before its keys) whatever the order of `env`.
pub(crate) fn apply_overrides(
    tree: &mut Value,
    defaults: &Value,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    let mut overrides: Vec<Override<'_>> = env
        .iter()
        .filter_map(|(var, value)| parse_name(var, value))
        .collect();
    overrides.sort_by(|a, b| (a.rank, &a.path).cmp(&(b.rank, &b.path)));
    for o in overrides {
        let key = o.path.join(".");
        let fail = |message: String| ConfigError::Env {
            var: o.var.to_owned(),
            key: key.clone(),
            message,
        };
        let kind = kind_at(defaults, &o.path).map_err(fail)?;
        let value = coerce(o.value, kind).map_err(fail)?;
        set_path(tree, &o.path, value);
    }
    Ok(())
}

/// Recognises an override variable and computes its key path; `None` for anything else.
fn parse_name<'a>(var: &'a str, value: &'a str) -> Option<Override<'a>> {
    let (rank, rest) = if let Some(rest) = var.strip_prefix(PREFIX_0_1_0) {
        (0, rest)
    } else {
        (1, var.strip_prefix(PREFIX_DOCUMENTED)?)
    };
    let mut path: Vec<String> = rest
        .split("__")
        .filter(|piece| !piece.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    if path.is_empty() || (path.len() == 1 && NOT_KEYS.contains(&path[0].as_str())) {
        return None;
    }
    for (section, alias, canonical) in ALIASES {
        if path.len() == 2 && path[0] == *section && path[1] == *alias {
            path[1] = (*canonical).to_owned();
        }
    }
    Some(Override {
        rank,
        path,
        var,
        value,
    })
}

/// The kind of the key at `path`, from the default tree.
fn kind_at(defaults: &Value, path: &[String]) -> Result<Kind, String> {
    let mut node = defaults;
    for (depth, piece) in path.iter().enumerate() {
        let here = path[..depth].join(".");
        match node {
            Value::Object(map) => match map.get(piece) {
                Some(child) => node = child,
                None => {
                    let open = OPEN_MAPS.iter().find(|(p, _)| *p == here);
                    return match open {
                        Some((_, kind)) if depth + 1 == path.len() => Ok(*kind),
                        Some(_) => Err(format!("`{here}.{piece}` is not a section")),
                        None => Ok(Kind::Unknown),
                    };
                }
            },
            Value::Array(_) => {
                return Err(format!(
                    "`{here}` is a list and cannot be indexed; set it whole as a JSON array"
                ));
            }
            _ => return Err(format!("`{here}` is not a section")),
        }
    }
    Ok(match node {
        Value::String(_) => Kind::Str,
        Value::Null => Kind::OptStr,
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::Array(_) => Kind::List,
        Value::Object(_) => Kind::Object,
    })
}

/// Reads `text` as a value of `kind`.
fn coerce(text: &str, kind: Kind) -> Result<Value, String> {
    let trimmed = text.trim();
    match kind {
        Kind::Str | Kind::Unknown => Ok(Value::String(text.to_owned())),
        Kind::OptStr if trimmed == "null" => Ok(Value::Null),
        Kind::OptStr => Ok(Value::String(text.to_owned())),
        Kind::Bool if trimmed.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        Kind::Bool if trimmed.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        Kind::Bool => Err(format!("expected `true` or `false`, got `{text}`")),
        Kind::Number => match serde_json::from_str::<Value>(trimmed) {
            Ok(n @ Value::Number(_)) => Ok(n),
            _ => Err(format!("expected a number, got `{text}`")),
        },
        Kind::List if trimmed.starts_with('[') => match serde_json::from_str::<Value>(trimmed) {
            Ok(list @ Value::Array(_)) => Ok(list),
            Ok(_) => Err("expected a JSON array".to_owned()),
            Err(e) => Err(format!("invalid JSON array: {e}")),
        },
        Kind::List => Ok(Value::Array(
            trimmed
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        )),
        Kind::Object => match serde_json::from_str::<Value>(trimmed) {
            Ok(object @ Value::Object(_)) => Ok(object),
            Ok(_) => Err("expected a JSON object".to_owned()),
            Err(e) => Err(format!("invalid JSON object: {e}")),
        },
    }
}

/// Puts `value` at `path`, creating sections on the way; an object value is merged into an
/// existing object (the same rule as for files), anything else replaces.
fn set_path(tree: &mut Value, path: &[String], value: Value) {
    let mut node = tree;
    for piece in path {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return; // made an object just above
        };
        node = map.entry(piece.clone()).or_insert(Value::Null);
    }
    merge(node, value);
}
