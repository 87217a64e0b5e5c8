//! Startup validation: the checks of 0.1.0 (operations.md §2.5) in their order, then ours.

use std::collections::BTreeSet;
use std::path::Path;

use super::Config;
use super::error::ConfigError;
use super::sections::MAX_FLUSH_DELAY_MS;

/// The rule line of the metrics-credentials banner, as 0.1.0 prints it.
const RULE: &str = "================================================================";

/// The longest drain we accept (a day): longer is a unit mistake (milliseconds?) rather than
/// a plan, and would hold a rolling restart for good.
pub(crate) const MAX_DRAIN_GRACE_SECS: u64 = 86_400;

/// Log levels `logging.level` accepts (ASCII case ignored, surrounding spaces trimmed).
/// `off` is ours: it turns logging off entirely (0.1.0 had no such level).
const LOG_LEVELS: &[&str] = &[
    "trace", "debug", "info", "warn", "warning", "error", "err", "off",
];

impl Config {
    /// Checks the configuration; the first failure is returned.
    ///
    /// 0.1.0's checks, in its order:
    /// 1. metrics auth on without a token;
    /// 2. TLS on: certificate, key (and client CA bundle for `optional`/`require`) paths must be
    ///    given and exist (their contents are read by `Server::start`, which fails on a bad
    ///    file);
    /// 3. token binding on: `required` needs TLS, `require_client_fingerprint` needs client
    ///    certificates, the subprotocol must not be blank;
    /// 4. `websocket.auth_timeout_secs` within 5..=60.
    ///
    /// Then ours, each a value that would break the server rather than configure it:
    /// - zero `server.room_cleanup_interval`, `server.ping_timeout` or `rate_limit.time_window`
    ///   (0.1.0 panicked a task or expired every connection at once);
    /// - `server.drain_grace_secs` above a day;
    /// - zero `websocket.batch_interval_ms` while `websocket.enable_batching` is on (a zero
    ///   flush period; with batching off the value is unused and accepted);
    /// - `websocket.max_flush_delay_ms` above 1000 (ours);
    /// - `server.default_max_players` 0 or above `protocol.max_players_limit`;
    /// - zero `protocol.room_code_length`, `protocol.max_player_name_length`,
    ///   `protocol.max_game_name_length` or `security.max_message_size` (nothing could pass);
    /// - a `logging.level` that is not a level (0.1.0 ignored it with a warning);
    /// - SDK minimum/recommended versions that are not semver (every client of that platform
    ///   would be rejected with a confusing message);
    /// - an empty or duplicated `app_id` in `security.authorized_apps`, or an app with
    ///   `require_secret` but no `app_secret`;
    /// - a `server.host` that is not an IP address, or a `security.trusted_proxies` entry that
    ///   is neither an IP address nor a CIDR block;
    /// - `cluster.*` (ours): a `nats_url` the NATS client cannot parse, a `node_id` that is not
    ///   a safe subject token, intervals outside 1..=3600 s, a node TTL under twice the
    ///   heartbeat interval.
    ///
    /// Accepted as in 0.1.0: `security.max_connections_per_ip` 0 (refuses everyone, a
    /// deliberate lock-down), zero metrics cache intervals (treated as 1), zero room timeouts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_metrics_auth()?;
        self.check_tls()?;
        self.check_token_binding()?;
        self.check_auth_timeout()?;
        self.check_intervals()?;
        self.check_limits()?;
        self.check_logging()?;
        self.check_sdk_versions()?;
        self.check_apps()?;
        self.check_edge()?;
        self.cluster.validate()
    }

    /// The listening address and the trusted proxies must parse; a typo here would otherwise
    /// bind somewhere unexpected or silently trust nobody (or the wrong network).
    fn check_edge(&self) -> Result<(), ConfigError> {
        self.bind_ip()?;
        crate::net::client_addr::TrustedProxies::parse(&self.security.trusted_proxies).map_err(
            |e| {
                ConfigError::invalid(
                    "security.trusted_proxies",
                    format!("security.trusted_proxies: {e}"),
                )
            },
        )?;
        Ok(())
    }

    /// `server.host` as an IP address.
    pub fn bind_ip(&self) -> Result<std::net::IpAddr, ConfigError> {
        let host = self.server.host.trim();
        host.parse().map_err(|_| {
            ConfigError::invalid(
                "server.host",
                format!(
                    "server.host `{host}` is not an IP address \
                     (use 0.0.0.0, ::, 127.0.0.1, ::1 or an interface's address)"
                ),
            )
        })
    }

    fn check_metrics_auth(&self) -> Result<(), ConfigError> {
        let security = &self.security;
        let token_missing = security
            .metrics_auth_token
            .as_deref()
            .is_none_or(|t| t.trim().is_empty());
        if security.require_metrics_auth && token_missing {
            return Err(ConfigError::invalid(
                "security.metrics_auth_token",
                format!(
                    "\nCRITICAL: Metrics authentication is enabled but no credentials are configured!\n\
                     {RULE}\n\
                     security.require_metrics_auth is true but security.metrics_auth_token is not set.\n\
                     Either set a token:\n\
                     \x20 SIGNAL_FISH_SECURITY__METRICS_AUTH_TOKEN=<at least 16 random characters>\n\
                     \x20 (0.1.0 spelling: SIGNAL_FISH__SECURITY__METRICS_AUTH_TOKEN)\n\
                     or turn metrics authentication off:\n\
                     \x20 SIGNAL_FISH__SECURITY__REQUIRE_METRICS_AUTH=false\n\
                     {RULE}"
                ),
            ));
        }
        Ok(())
    }

    fn check_tls(&self) -> Result<(), ConfigError> {
        let tls = &self.security.transport.tls;
        if !tls.enabled {
            return Ok(());
        }
        require_file(
            "security.transport.tls.certificate_path",
            tls.certificate_path.as_deref(),
            "security.transport.tls.certificate_path must be provided when TLS is enabled",
            "TLS certificate file not found at",
        )?;
        require_file(
            "security.transport.tls.private_key_path",
            tls.private_key_path.as_deref(),
            "security.transport.tls.private_key_path must be provided when TLS is enabled",
            "TLS private key file not found at",
        )?;
        if tls.client_auth.wants_client_certs() {
            let mode = match tls.client_auth {
                super::ClientAuthMode::Optional => "Optional",
                _ => "Require",
            };
            require_file(
                "security.transport.tls.client_ca_cert_path",
                tls.client_ca_cert_path.as_deref(),
                &format!(
                    "security.transport.tls.client_ca_cert_path must be set when client_auth is {mode}"
                ),
                "Client CA bundle not found at",
            )?;
        }
        // The files' contents are checked when the server builds its TLS config at start.
        Ok(())
    }

    fn check_token_binding(&self) -> Result<(), ConfigError> {
        let transport = &self.security.transport;
        let binding = &transport.token_binding;
        if !binding.enabled {
            return Ok(());
        }
        if binding.required && !transport.tls.enabled {
            return Err(ConfigError::invalid(
                "security.transport.token_binding.required",
                "security.transport.token_binding.required=true requires TLS termination \
                 (set security.transport.tls.enabled=true)",
            ));
        }
        if binding.require_client_fingerprint && !transport.tls.client_auth.wants_client_certs() {
            return Err(ConfigError::invalid(
                "security.transport.token_binding.require_client_fingerprint",
                "security.transport.token_binding.require_client_fingerprint=true requires client \
                 certificate authentication (client_auth must be \"optional\" or \"require\")",
            ));
        }
        if binding.subprotocol.trim().is_empty() {
            return Err(ConfigError::invalid(
                "security.transport.token_binding.subprotocol",
                "security.transport.token_binding.subprotocol must not be empty",
            ));
        }
        Ok(())
    }

    fn check_auth_timeout(&self) -> Result<(), ConfigError> {
        let secs = self.websocket.auth_timeout_secs;
        let key = "websocket.auth_timeout_secs";
        if secs < 5 {
            return Err(ConfigError::invalid(
                key,
                format!("{key} must be at least 5 seconds (configured: {secs})"),
            ));
        }
        if secs > 60 {
            return Err(ConfigError::invalid(
                key,
                format!("{key} must not exceed 60 seconds (configured: {secs})"),
            ));
        }
        Ok(())
    }

    fn check_intervals(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "server.room_cleanup_interval",
                self.server.room_cleanup_interval,
                "seconds",
            ),
            ("server.ping_timeout", self.server.ping_timeout, "seconds"),
            (
                "rate_limit.time_window",
                self.rate_limit.time_window,
                "seconds",
            ),
        ];
        for (key, value, unit) in positive {
            must_be_positive(key, value, unit)?;
        }
        let grace = self.server.drain_grace_secs;
        if grace > MAX_DRAIN_GRACE_SECS {
            return Err(ConfigError::invalid(
                "server.drain_grace_secs",
                format!(
                    "server.drain_grace_secs must be at most {MAX_DRAIN_GRACE_SECS} seconds \
                     (configured: {grace})"
                ),
            ));
        }
        if self.websocket.enable_batching {
            must_be_positive(
                "websocket.batch_interval_ms",
                self.websocket.batch_interval_ms,
                "milliseconds when websocket.enable_batching is true",
            )?;
        }
        let flush = self.websocket.max_flush_delay_ms;
        if flush > MAX_FLUSH_DELAY_MS {
            return Err(ConfigError::invalid(
                "websocket.max_flush_delay_ms",
                format!(
                    "websocket.max_flush_delay_ms must be at most {MAX_FLUSH_DELAY_MS} milliseconds \
                     (configured: {flush})"
                ),
            ));
        }
        Ok(())
    }

    fn check_limits(&self) -> Result<(), ConfigError> {
        let players = self.server.default_max_players;
        let limit = self.protocol.max_players_limit;
        if players == 0 || players > limit {
            return Err(ConfigError::invalid(
                "server.default_max_players",
                format!(
                    "server.default_max_players must be between 1 and protocol.max_players_limit \
                     ({limit}) (configured: {players})"
                ),
            ));
        }
        let sizes = [
            ("protocol.room_code_length", self.protocol.room_code_length),
            (
                "protocol.max_player_name_length",
                self.protocol.max_player_name_length,
            ),
            (
                "protocol.max_game_name_length",
                self.protocol.max_game_name_length,
            ),
            ("security.max_message_size", self.security.max_message_size),
        ];
        for (key, value) in sizes {
            must_be_positive(key, value as u64, "")?;
        }
        Ok(())
    }

    fn check_logging(&self) -> Result<(), ConfigError> {
        match self.logging.level.as_deref() {
            Some(level)
                if !LOG_LEVELS
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(level.trim())) =>
            {
                Err(ConfigError::invalid(
                    "logging.level",
                    format!(
                        "logging.level `{level}` is not a log level \
                         (expected trace, debug, info, warn, error or off)"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    fn check_sdk_versions(&self) -> Result<(), ConfigError> {
        let sdk = &self.protocol.sdk_compatibility;
        let tables = [
            (
                "protocol.sdk_compatibility.minimum_versions",
                &sdk.minimum_versions,
            ),
            (
                "protocol.sdk_compatibility.recommended_versions",
                &sdk.recommended_versions,
            ),
        ];
        for (key, table) in tables {
            for (platform, version) in table {
                if let Err(e) = semver::Version::parse(version) {
                    return Err(ConfigError::invalid(
                        key,
                        format!("{key}.{platform}: `{version}` is not a semver version: {e}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_apps(&self) -> Result<(), ConfigError> {
        let key = "security.authorized_apps";
        let mut seen = BTreeSet::new();
        for (i, app) in self.security.authorized_apps.iter().enumerate() {
            if app.app_id.trim().is_empty() {
                return Err(ConfigError::invalid(
                    key,
                    format!("{key}[{i}].app_id must not be empty"),
                ));
            }
            if !seen.insert(app.app_id.as_str()) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{key}[{i}].app_id `{}` is configured twice", app.app_id),
                ));
            }
            if app.require_secret && app.app_secret.as_deref().is_none_or(str::is_empty) {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "{key}[{i}].require_secret is true but {key}[{i}].app_secret is empty \
                         (app `{}`)",
                        app.app_id
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Fails when `value` is 0. `unit` completes "must be at least 1 …".
fn must_be_positive(key: &'static str, value: u64, unit: &str) -> Result<(), ConfigError> {
    if value == 0 {
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        return Err(ConfigError::invalid(
            key,
            format!("{key} must be at least 1{unit} (configured: 0)"),
        ));
    }
    Ok(())
}

/// Fails with `missing` when `path` is absent or blank, or with `not_found <path>` when no file
/// exists there. Paths are trimmed and relative to the working directory.
fn require_file(
    key: &'static str,
    path: Option<&str>,
    missing: &str,
    not_found: &str,
) -> Result<(), ConfigError> {
    match path.map(str::trim).filter(|p| !p.is_empty()) {
        None => Err(ConfigError::invalid(key, missing)),
        Some(p) if !Path::new(p).exists() => {
            Err(ConfigError::invalid(key, format!("{not_found} {p}")))
        }
        Some(_) => Ok(()),
    }
}
