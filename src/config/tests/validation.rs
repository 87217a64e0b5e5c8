//! Every validation rule, and their order.

use super::TempDir;

/// A key and a change that sets it to an invalid value.
type Case = (&'static str, fn(&mut Config));
use crate::config::{AuthorizedApp, ClientAuthMode, Config, ConfigError};

/// The key and message of a failed validation; panics if `cfg` validates.
fn invalid(cfg: &Config) -> (&'static str, String) {
    match cfg.validate() {
        Err(ConfigError::Invalid { key, message }) => (key, message),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// Asserts that `cfg` fails on `key` with exactly `message`.
fn fails(cfg: &Config, key: &str, message: &str) {
    let (k, m) = invalid(cfg);
    assert_eq!(k, key);
    assert_eq!(m, message);
}

fn app(id: &str) -> AuthorizedApp {
    AuthorizedApp {
        app_id: id.to_owned(),
        app_secret: None,
        require_secret: false,
        app_name: id.to_owned(),
        max_rooms: None,
        max_players_per_room: None,
        rate_limit_per_minute: None,
    }
}

#[test]
fn metrics_auth_needs_a_token() {
    let mut cfg = Config::default();
    cfg.security.require_metrics_auth = true;
    let (key, message) = invalid(&cfg);
    assert_eq!(key, "security.metrics_auth_token");
    assert!(message.starts_with(
        "\nCRITICAL: Metrics authentication is enabled but no credentials are configured!\n===="
    ));
    assert!(message.contains("SIGNAL_FISH__SECURITY__REQUIRE_METRICS_AUTH=false"));
    cfg.security.metrics_auth_token = Some("  ".to_owned());
    invalid(&cfg);
    cfg.security.metrics_auth_token = Some("a-long-enough-token".to_owned());
    cfg.validate().unwrap();
}

#[test]
fn tls_paths_are_checked_then_tls_is_accepted() {
    let dir = TempDir::new();
    let cert = dir.write("cert.pem", "x");
    let key = dir.write("key.pem", "x");
    let ca = dir.write("ca.pem", "x");
    let missing = dir.path().join("missing.pem");
    let mut cfg = Config::default();
    cfg.security.transport.tls.enabled = true;
    fails(
        &cfg,
        "security.transport.tls.certificate_path",
        "security.transport.tls.certificate_path must be provided when TLS is enabled",
    );
    cfg.security.transport.tls.certificate_path = Some(missing.display().to_string());
    fails(
        &cfg,
        "security.transport.tls.certificate_path",
        &format!("TLS certificate file not found at {}", missing.display()),
    );
    cfg.security.transport.tls.certificate_path = Some(format!(" {} ", cert.display()));
    fails(
        &cfg,
        "security.transport.tls.private_key_path",
        "security.transport.tls.private_key_path must be provided when TLS is enabled",
    );
    cfg.security.transport.tls.private_key_path = Some(missing.display().to_string());
    fails(
        &cfg,
        "security.transport.tls.private_key_path",
        &format!("TLS private key file not found at {}", missing.display()),
    );
    cfg.security.transport.tls.private_key_path = Some(key.display().to_string());
    cfg.security.transport.tls.client_auth = ClientAuthMode::Optional;
    fails(
        &cfg,
        "security.transport.tls.client_ca_cert_path",
        "security.transport.tls.client_ca_cert_path must be set when client_auth is Optional",
    );
    cfg.security.transport.tls.client_auth = ClientAuthMode::Require;
    cfg.security.transport.tls.client_ca_cert_path = Some(missing.display().to_string());
    fails(
        &cfg,
        "security.transport.tls.client_ca_cert_path",
        &format!("Client CA bundle not found at {}", missing.display()),
    );
    cfg.security.transport.tls.client_ca_cert_path = Some(ca.display().to_string());
    cfg.validate().unwrap();
    cfg.security.transport.tls.client_auth = ClientAuthMode::None;
    cfg.security.transport.tls.client_ca_cert_path = None;
    cfg.validate().unwrap();
}

#[test]
fn token_binding_rules() {
    let mut cfg = Config::default();
    cfg.security.transport.token_binding.enabled = true;
    cfg.validate().unwrap();
    cfg.security.transport.token_binding.subprotocol = " ".to_owned();
    fails(
        &cfg,
        "security.transport.token_binding.subprotocol",
        "security.transport.token_binding.subprotocol must not be empty",
    );
    cfg.security
        .transport
        .token_binding
        .require_client_fingerprint = true;
    fails(
        &cfg,
        "security.transport.token_binding.require_client_fingerprint",
        "security.transport.token_binding.require_client_fingerprint=true requires client \
         certificate authentication (client_auth must be \"optional\" or \"require\")",
    );
    cfg.security.transport.token_binding.required = true;
    fails(
        &cfg,
        "security.transport.token_binding.required",
        "security.transport.token_binding.required=true requires TLS termination \
         (set security.transport.tls.enabled=true)",
    );
}

#[test]
fn auth_timeout_range() {
    let mut cfg = Config::default();
    for ok in [5, 60] {
        cfg.websocket.auth_timeout_secs = ok;
        cfg.validate().unwrap();
    }
    cfg.websocket.auth_timeout_secs = 4;
    fails(
        &cfg,
        "websocket.auth_timeout_secs",
        "websocket.auth_timeout_secs must be at least 5 seconds (configured: 4)",
    );
    cfg.websocket.auth_timeout_secs = 61;
    fails(
        &cfg,
        "websocket.auth_timeout_secs",
        "websocket.auth_timeout_secs must not exceed 60 seconds (configured: 61)",
    );
}

#[test]
fn zero_intervals_are_rejected() {
    let cases: [Case; 3] = [
        ("server.room_cleanup_interval", |c| {
            c.server.room_cleanup_interval = 0
        }),
        ("server.ping_timeout", |c| c.server.ping_timeout = 0),
        ("rate_limit.time_window", |c| c.rate_limit.time_window = 0),
    ];
    for (key, set) in cases {
        let mut cfg = Config::default();
        set(&mut cfg);
        fails(
            &cfg,
            key,
            &format!("{key} must be at least 1 seconds (configured: 0)"),
        );
    }
}

#[test]
fn zero_batch_interval_only_matters_with_batching() {
    let mut cfg = Config::default();
    cfg.websocket.batch_interval_ms = 0;
    fails(
        &cfg,
        "websocket.batch_interval_ms",
        "websocket.batch_interval_ms must be at least 1 milliseconds when \
         websocket.enable_batching is true (configured: 0)",
    );
    cfg.websocket.enable_batching = false;
    cfg.validate().unwrap();
}

#[test]
fn default_max_players_within_limit() {
    let mut cfg = Config::default();
    cfg.server.default_max_players = 0;
    fails(
        &cfg,
        "server.default_max_players",
        "server.default_max_players must be between 1 and protocol.max_players_limit (100) \
         (configured: 0)",
    );
    cfg.server.default_max_players = 8;
    cfg.protocol.max_players_limit = 4;
    let (key, message) = invalid(&cfg);
    assert_eq!(key, "server.default_max_players");
    assert!(message.contains("(4) (configured: 8)"), "{message}");
    cfg.protocol.max_players_limit = 8;
    cfg.validate().unwrap();
}

#[test]
fn zero_sizes_are_rejected() {
    let cases: [Case; 4] = [
        ("protocol.room_code_length", |c| {
            c.protocol.room_code_length = 0
        }),
        ("protocol.max_player_name_length", |c| {
            c.protocol.max_player_name_length = 0
        }),
        ("protocol.max_game_name_length", |c| {
            c.protocol.max_game_name_length = 0
        }),
        ("security.max_message_size", |c| {
            c.security.max_message_size = 0
        }),
    ];
    for (key, set) in cases {
        let mut cfg = Config::default();
        set(&mut cfg);
        fails(
            &cfg,
            key,
            &format!("{key} must be at least 1 (configured: 0)"),
        );
    }
}

#[test]
fn zero_connections_per_ip_is_allowed() {
    let mut cfg = Config::default();
    cfg.security.max_connections_per_ip = 0;
    cfg.metrics.dashboard_cache_refresh_interval_secs = 0;
    cfg.validate().unwrap();
}

#[test]
fn log_level_must_be_a_level() {
    let mut cfg = Config::default();
    for ok in ["info", " WARN ", "Warning", "err", "trace", "off"] {
        cfg.logging.level = Some(ok.to_owned());
        cfg.validate().unwrap();
    }
    cfg.logging.level = Some("verbose".to_owned());
    fails(
        &cfg,
        "logging.level",
        "logging.level `verbose` is not a log level (expected trace, debug, info, warn, error or off)",
    );
}

#[test]
fn sdk_versions_must_be_semver() {
    let mut cfg = Config::default();
    let sdk = &mut cfg.protocol.sdk_compatibility;
    sdk.recommended_versions
        .insert("godot".to_owned(), "1.2".to_owned());
    let (key, message) = invalid(&cfg);
    assert_eq!(key, "protocol.sdk_compatibility.recommended_versions");
    assert!(
        message.starts_with(
            "protocol.sdk_compatibility.recommended_versions.godot: `1.2` is not a semver version: "
        ),
        "{message}"
    );
}

#[test]
fn app_ids_must_be_unique_and_non_empty() {
    let mut cfg = Config::default();
    cfg.security.authorized_apps = vec![app("a"), app("b")];
    cfg.validate().unwrap();
    cfg.security.authorized_apps.push(app("a"));
    fails(
        &cfg,
        "security.authorized_apps",
        "security.authorized_apps[2].app_id `a` is configured twice",
    );
    cfg.security.authorized_apps = vec![app(" ")];
    fails(
        &cfg,
        "security.authorized_apps",
        "security.authorized_apps[0].app_id must not be empty",
    );
}

#[test]
fn first_failure_wins() {
    let mut cfg = Config::default();
    cfg.websocket.auth_timeout_secs = 1;
    cfg.server.room_cleanup_interval = 0;
    assert_eq!(invalid(&cfg).0, "websocket.auth_timeout_secs");
    cfg.security.require_metrics_auth = true;
    assert_eq!(invalid(&cfg).0, "security.metrics_auth_token");
}

#[test]
fn require_secret_needs_a_secret() {
    let mut cfg = Config::default();
    let mut private = app("tools");
    private.require_secret = true;
    cfg.security.authorized_apps = vec![app("game"), private];
    let expected = "security.authorized_apps[1].require_secret is true but \
                    security.authorized_apps[1].app_secret is empty (app `tools`)";
    fails(&cfg, "security.authorized_apps", expected);
    cfg.security.authorized_apps[1].app_secret = Some(String::new());
    fails(&cfg, "security.authorized_apps", expected);
    cfg.security.authorized_apps[1].app_secret = Some("s3cret".to_owned());
    cfg.validate().unwrap();
}

#[test]
fn bind_host_and_trusted_proxies_must_parse() {
    let mut cfg = Config::default();
    assert_eq!(cfg.server.host, "0.0.0.0");
    assert!(cfg.security.trusted_proxies.is_empty());
    for host in ["::", "127.0.0.1", "::1", " 0.0.0.0 "] {
        cfg.server.host = host.to_owned();
        assert!(cfg.validate().is_ok(), "{host}");
    }
    for host in ["localhost", "", "127.0.0.1:80", "[::1]"] {
        cfg.server.host = host.to_owned();
        let (key, message) = invalid(&cfg);
        assert_eq!(key, "server.host", "{host}");
        assert!(message.contains("server.host"), "{message}");
    }
    cfg.server.host = "::".to_owned();
    cfg.security.trusted_proxies = vec!["10.0.0.0/8".into(), "fd00::1".into()];
    assert!(cfg.validate().is_ok());
    cfg.security.trusted_proxies.push("10.0.0.0/40".into());
    let (key, message) = invalid(&cfg);
    assert_eq!(key, "security.trusted_proxies");
    assert!(message.contains("`10.0.0.0/40`"), "{message}");
}

#[test]
fn drain_grace_is_bounded_by_a_day() {
    let mut cfg = Config::default();
    assert_eq!(cfg.server.drain_grace_secs, 0);
    cfg.server.drain_grace_secs = 86_400;
    cfg.validate().unwrap();
    cfg.server.drain_grace_secs = 86_401;
    fails(
        &cfg,
        "server.drain_grace_secs",
        "server.drain_grace_secs must be at most 86400 seconds (configured: 86401)",
    );
}

#[test]
fn flush_delay_is_bounded_by_a_second() {
    let mut cfg = Config::default();
    assert_eq!(cfg.websocket.max_flush_delay_ms, 0);
    cfg.websocket.max_flush_delay_ms = 1000;
    cfg.validate().unwrap();
    cfg.websocket.max_flush_delay_ms = 1001;
    fails(
        &cfg,
        "websocket.max_flush_delay_ms",
        "websocket.max_flush_delay_ms must be at most 1000 milliseconds (configured: 1001)",
    );
}
