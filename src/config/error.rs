//! The one error type of configuration loading and validation.

use std::path::PathBuf;

/// Why the configuration could not be loaded or is not acceptable. Every variant's text names
/// the source or key at fault, so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `SIGNAL_FISH_CONFIG_PATH` names a file that does not exist.
    #[error("config file {} (from SIGNAL_FISH_CONFIG_PATH) does not exist", path.display())]
    MissingFile {
        /// The path as resolved against the working directory.
        path: PathBuf,
    },
    /// A config file or stdin could not be read.
    #[error("failed to read config from {source_label}: {source}")]
    Read {
        /// `file <path>` or `stdin`.
        source_label: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A source is not a JSON object (or not JSON at all).
    #[error("failed to parse config from {source_label}: {message}")]
    Parse {
        /// `SIGNAL_FISH_CONFIG_JSON`, `stdin` or `file <path>`.
        source_label: String,
        /// The parser's message.
        message: String,
    },
    /// An environment override cannot be applied to its key.
    #[error("invalid value for `{key}` from environment variable {var}: {message}")]
    Env {
        /// The variable's name.
        var: String,
        /// The dotted config key it targets.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The merged tree has a value of the wrong type or an unknown enum variant.
    #[error("invalid value for `{key}`: {message}")]
    Value {
        /// The dotted config key (array items as `[i]`).
        key: String,
        /// The deserialiser's message.
        message: String,
    },
    /// The configuration loaded but breaks a rule (`Config::validate`).
    #[error("{message}")]
    Invalid {
        /// The dotted config key the rule is about.
        key: &'static str,
        /// The complete message; it names the key.
        message: String,
    },
}

impl ConfigError {
    /// A validation failure about `key`.
    pub(crate) fn invalid(key: &'static str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key,
            message: message.into(),
        }
    }
}
