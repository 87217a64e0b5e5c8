//! `cluster.*`: cluster mode on NATS (decision 22). With `nats_url` unset the server is one
//! process, exactly as without this section, and no NATS code runs.

use serde::{Deserialize, Serialize};

use super::error::ConfigError;

/// The longest node id accepted. It names a NATS subject token and a KV key, and shows in
/// metrics labels: short is better, and 64 fits a host name plus a port.
pub const MAX_NODE_ID_LEN: usize = 64;
/// The longest heartbeat interval, node TTL or connect timeout accepted: longer is a unit
/// mistake (milliseconds?) rather than a plan, and would hide a dead node for hours.
pub const MAX_CLUSTER_SECS: u64 = 3600;
/// What a URL's credentials print as.
const REDACTED_USERINFO: &str = "<redacted>";

/// `cluster.*`. Durations are whole seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterConfig {
    /// The NATS server(s) to join, e.g. `nats://127.0.0.1:4222` (several: comma-separated).
    /// Credentials may be given in the URL (`nats://user:pass@host:4222`); `--print-config`
    /// hides them. Unset: no cluster.
    pub nats_url: Option<String>,
    /// This node's name in the cluster: letters, digits, `-` and `_`. Unset: the host name
    /// and the listening port (`web-1-3536`). Two live processes must never share one.
    pub node_id: Option<String>,
    /// How often this node refreshes its liveness key.
    pub heartbeat_interval_secs: u64,
    /// A node whose liveness key is older than this is gone. At least twice the heartbeat
    /// interval, so one late heartbeat does not bury a live node.
    pub node_ttl_secs: u64,
    /// How long startup waits for NATS before giving up with exit 1.
    pub connect_timeout_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats_url: None,
            node_id: None,
            heartbeat_interval_secs: 2,
            node_ttl_secs: 6,
            connect_timeout_secs: 3,
        }
    }
}

impl ClusterConfig {
    /// Whether cluster mode is on.
    pub fn enabled(&self) -> bool {
        self.nats_url.is_some()
    }

    /// The checks of `cluster.*` (called by `Config::validate`).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.nats_url {
            check_nats_url(url)?;
        }
        if let Some(id) = &self.node_id {
            check_node_id(id).map_err(|why| {
                ConfigError::invalid("cluster.node_id", format!("cluster.node_id {why}"))
            })?;
        }
        for (key, value) in [
            (
                "cluster.heartbeat_interval_secs",
                self.heartbeat_interval_secs,
            ),
            ("cluster.node_ttl_secs", self.node_ttl_secs),
            ("cluster.connect_timeout_secs", self.connect_timeout_secs),
        ] {
            if value == 0 || value > MAX_CLUSTER_SECS {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "{key} must be within 1..={MAX_CLUSTER_SECS} seconds (configured: {value})"
                    ),
                ));
            }
        }
        if self.node_ttl_secs < 2 * self.heartbeat_interval_secs {
            return Err(ConfigError::invalid(
                "cluster.node_ttl_secs",
                format!(
                    "cluster.node_ttl_secs must be at least twice cluster.heartbeat_interval_secs \
                     (configured: {} and {})",
                    self.node_ttl_secs, self.heartbeat_interval_secs
                ),
            ));
        }
        Ok(())
    }
}

/// Every comma-separated entry must be a server address the NATS client accepts.
fn check_nats_url(urls: &str) -> Result<(), ConfigError> {
    let entries: Vec<&str> = urls.split(',').map(str::trim).collect();
    if entries.iter().all(|e| e.is_empty()) {
        return Err(ConfigError::invalid(
            "cluster.nats_url",
            "cluster.nats_url is empty; unset it for a single process, or name a NATS server \
             such as nats://127.0.0.1:4222"
                .to_owned(),
        ));
    }
    for entry in entries {
        if let Err(err) = entry.parse::<async_nats::ServerAddr>() {
            return Err(ConfigError::invalid(
                "cluster.nats_url",
                format!(
                    "cluster.nats_url entry `{}` is not a NATS server address: {err}",
                    redact_url(entry)
                ),
            ));
        }
    }
    Ok(())
}

/// Why `id` cannot be a node id, if it cannot. It becomes a NATS subject token and a KV key,
/// whose alphabets exclude `.`, `*`, `>` and spaces; we keep to a set that is safe in both
/// and in a metrics label.
pub fn check_node_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_NODE_ID_LEN {
        return Err(format!(
            "must be 1 to {MAX_NODE_ID_LEN} characters (configured: `{id}`)"
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "may hold only letters, digits, `-` and `_` (configured: `{id}`, found `{bad}`)"
        ));
    }
    Ok(())
}

/// `urls` with the credentials of every comma-separated entry replaced, for printing:
/// `nats://user:pass@host:4222` becomes `nats://<redacted>@host:4222`.
pub fn redact_url(urls: &str) -> String {
    urls.split(',')
        .map(|entry| {
            let (scheme, rest) = match entry.find("://") {
                Some(at) => entry.split_at(at + 3),
                None => ("", entry),
            };
            // The userinfo ends at the last `@` before the path: a password may hold an `@`.
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}{REDACTED_USERINFO}{}", &rest[at..]),
                None => entry.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_hidden_and_the_rest_kept() {
        assert_eq!(
            redact_url("nats://user:p@ss@host:4222"),
            "nats://<redacted>@host:4222"
        );
        assert_eq!(
            redact_url("nats://tok@a:1, tls://b:2"),
            "nats://<redacted>@a:1, tls://b:2"
        );
        assert_eq!(redact_url("127.0.0.1:4222"), "127.0.0.1:4222");
        assert_eq!(redact_url("u:p@host:4222"), "<redacted>@host:4222");
    }

    #[test]
    fn node_ids_are_subject_and_key_safe() {
        assert!(check_node_id("web-1_3536").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", "é", &"x".repeat(65)] {
            assert!(check_node_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        ClusterConfig::default().validate().unwrap();
        type Tweak = fn(&mut ClusterConfig);
        let cases: [(Tweak, &str); 5] = [
            (|c| c.nats_url = Some(" ".into()), "cluster.nats_url"),
            (
                |c| c.nats_url = Some("nats://host:notaport".into()),
                "cluster.nats_url",
            ),
            (
                |c| c.heartbeat_interval_secs = 0,
                "cluster.heartbeat_interval_secs",
            ),
            (|c| c.node_ttl_secs = 3, "cluster.node_ttl_secs"),
            (|c| c.node_id = Some("a.b".into()), "cluster.node_id"),
        ];
        for (tweak, key) in cases {
            let mut cfg = ClusterConfig::default();
            tweak(&mut cfg);
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        let cfg = ClusterConfig {
            nats_url: Some("nats://u:secret@127.0.0.1:4222,tls://10.0.0.1:4222".into()),
            ..ClusterConfig::default()
        };
        cfg.validate().unwrap();
    }
}
