//! Per-key environment overrides.

use super::{TempDir, load_env, load_err, load_report, vars};
use crate::config::{Config, ConfigError, DashboardHistoryField};

#[test]
fn both_prefixes_set_keys() {
    assert_eq!(
        load_env(&[("SIGNAL_FISH_PORT", "4000")]).unwrap().port,
        4000
    );
    assert_eq!(
        load_env(&[("SIGNAL_FISH__PORT", "4001")]).unwrap().port,
        4001
    );
    let cfg = load_env(&[
        ("SIGNAL_FISH_SERVER__PING_TIMEOUT", "12"),
        ("SIGNAL_FISH__SECURITY__MAX_CONNECTIONS_PER_IP", "20"),
        ("SIGNAL_FISH__SERVER__ENABLE_RECONNECTION", "false"),
    ])
    .unwrap();
    assert_eq!(cfg.server.ping_timeout, 12);
    assert_eq!(cfg.security.max_connections_per_ip, 20);
    assert!(!cfg.server.enable_reconnection);
}

#[test]
fn documented_prefix_wins_whatever_the_order() {
    for pairs in [
        [("SIGNAL_FISH_PORT", "5000"), ("SIGNAL_FISH__PORT", "5001")],
        [("SIGNAL_FISH__PORT", "5001"), ("SIGNAL_FISH_PORT", "5000")],
    ] {
        assert_eq!(load_env(&pairs).unwrap().port, 5000);
    }
}

#[test]
fn env_beats_the_config_file() {
    let dir = TempDir::new();
    dir.write(
        "config.json",
        r#"{"server": {"region_id": "file", "ping_timeout": 5}}"#,
    );
    let env = vars(&[("SIGNAL_FISH__SERVER__REGION_ID", "env")]);
    let cfg = Config::load_from(&env, dir.path()).unwrap();
    assert_eq!(cfg.server.region_id, "env");
    assert_eq!(cfg.server.ping_timeout, 5);
}

#[test]
fn string_keys_keep_their_text() {
    let cfg = load_env(&[
        ("SIGNAL_FISH_SERVER__REGION_ID", "123"),
        (
            "SIGNAL_FISH_SECURITY__METRICS_AUTH_TOKEN",
            "0123456789abcdef0",
        ),
        (
            "SIGNAL_FISH_SECURITY__CORS_ORIGINS",
            "https://a.example,https://b.example",
        ),
        ("SIGNAL_FISH_SERVER__ROOM_CODE_PREFIX", "true"),
    ])
    .unwrap();
    assert_eq!(cfg.server.region_id, "123");
    assert_eq!(
        cfg.security.metrics_auth_token.as_deref(),
        Some("0123456789abcdef0")
    );
    assert_eq!(
        cfg.security.cors_origins,
        "https://a.example,https://b.example"
    );
    assert_eq!(cfg.server.room_code_prefix.as_deref(), Some("true"));
}

#[test]
fn optional_strings_clear_with_null() {
    let dir = TempDir::new();
    dir.write("config.json", r#"{"server": {"room_code_prefix": "EU"}}"#);
    let env = vars(&[("SIGNAL_FISH_SERVER__ROOM_CODE_PREFIX", "null")]);
    let cfg = Config::load_from(&env, dir.path()).unwrap();
    assert_eq!(cfg.server.room_code_prefix, None);
}

#[test]
fn lists_accept_comma_lists_and_json_arrays() {
    let cfg = load_env(&[
        (
            "SIGNAL_FISH_PROTOCOL__PLAYER_NAME_VALIDATION__ALLOWED_SYMBOLS",
            "-, _ ,.",
        ),
        (
            "SIGNAL_FISH_METRICS__DASHBOARD_CACHE_HISTORY_FIELDS",
            r#"["ActiveConnections"]"#,
        ),
    ])
    .unwrap();
    assert_eq!(
        cfg.protocol.player_name_validation.allowed_symbols,
        vec!['-', '_', '.']
    );
    assert_eq!(
        cfg.metrics.dashboard_cache_history_fields,
        vec![DashboardHistoryField::ActiveConnections]
    );
    let cfg = load_env(&[(
        "SIGNAL_FISH_METRICS__DASHBOARD_CACHE_HISTORY_FIELDS",
        "RoomsCreated",
    )])
    .unwrap();
    assert_eq!(
        cfg.metrics.dashboard_cache_history_fields,
        vec![DashboardHistoryField::RoomsCreated]
    );
}

#[test]
fn authorized_apps_from_a_json_array() {
    let cfg = load_env(&[(
        "SIGNAL_FISH_SECURITY__AUTHORIZED_APPS",
        r#"[{"app_id":"a","app_name":"A","rate_limit_per_minute":5},{"app_id":"b","app_name":"B"}]"#,
    )])
    .unwrap();
    let apps = &cfg.security.authorized_apps;
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].rate_limit_per_minute, Some(5));
    assert_eq!(apps[1].app_name, "B");
}

#[test]
fn list_items_cannot_be_addressed() {
    let err = load_env(&[("SIGNAL_FISH__SECURITY__AUTHORIZED_APPS__0__APP_ID", "x")]).unwrap_err();
    match &err {
        ConfigError::Env { var, key, .. } => {
            assert_eq!(var, "SIGNAL_FISH__SECURITY__AUTHORIZED_APPS__0__APP_ID");
            assert_eq!(key, "security.authorized_apps.0.app_id");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("JSON array"), "{err}");
}

#[test]
fn bools_are_strict() {
    assert!(
        load_env(&[("SIGNAL_FISH_SECURITY__REQUIRE_WEBSOCKET_AUTH", "TRUE")])
            .unwrap()
            .security
            .require_websocket_auth
    );
    for bad in ["yes", "1", ""] {
        let err = load_err(&[("SIGNAL_FISH_SECURITY__REQUIRE_WEBSOCKET_AUTH", bad)]);
        assert!(err.contains("`security.require_websocket_auth`"), "{err}");
        assert!(
            err.contains("SIGNAL_FISH_SECURITY__REQUIRE_WEBSOCKET_AUTH"),
            "{err}"
        );
    }
}

#[test]
fn bad_numbers_name_the_key() {
    let err = load_err(&[("SIGNAL_FISH_PORT", "abc")]);
    assert_eq!(
        err,
        "invalid value for `port` from environment variable SIGNAL_FISH_PORT: \
         expected a number, got `abc`"
    );
    let err = load_err(&[("SIGNAL_FISH__PORT", "70000")]);
    assert!(err.starts_with("invalid value for `port`: "), "{err}");
    let err = load_err(&[("SIGNAL_FISH_SERVER__PING_TIMEOUT", "-1")]);
    assert!(err.contains("`server.ping_timeout`"), "{err}");
}

#[test]
fn objects_accept_json_and_merge() {
    let cfg = load_env(&[
        (
            "SIGNAL_FISH_RELAY_TYPES__GAME_RELAY_MAPPINGS",
            r#"{"Kart":"mirror"}"#,
        ),
        ("SIGNAL_FISH_SERVER", r#"{"ping_timeout": 9}"#),
    ])
    .unwrap();
    assert_eq!(cfg.relay_type_for("Kart"), "mirror");
    assert_eq!(cfg.server.ping_timeout, 9);
    assert_eq!(cfg.server.region_id, "default");
    let err = load_err(&[("SIGNAL_FISH_SERVER", "ping_timeout=9")]);
    assert!(err.contains("`server`"), "{err}");
}

#[test]
fn map_entries_can_be_added() {
    let cfg = load_env(&[
        (
            "SIGNAL_FISH_PROTOCOL__SDK_COMPATIBILITY__MINIMUM_VERSIONS__BEVY",
            "0.1.0",
        ),
        (
            "SIGNAL_FISH_PROTOCOL__SDK_COMPATIBILITY__CAPABILITIES__BEVY",
            "relay-a,relay-b",
        ),
        (
            "SIGNAL_FISH_PROTOCOL__SDK_COMPATIBILITY__CAPABILITIES___DEFAULT",
            "reconnection",
        ),
        (
            "SIGNAL_FISH__RELAY_TYPES__GAME_RELAY_MAPPINGS__KART",
            "mirror",
        ),
    ])
    .unwrap();
    let sdk = &cfg.protocol.sdk_compatibility;
    assert_eq!(sdk.minimum_versions["bevy"], "0.1.0");
    assert_eq!(sdk.capabilities["bevy"], vec!["relay-a", "relay-b"]);
    assert_eq!(sdk.capabilities["_default"], vec!["reconnection"]);
    assert_eq!(cfg.relay_type_for("Kart"), "mirror");
}

#[test]
fn non_key_variables_are_skipped() {
    let loaded = load_report(&[
        ("SIGNAL_FISH_CONFIG_JSON", "{}"),
        ("SIGNAL_FISH_CONFIG_STDIN", "0"),
        ("SIGNAL_FISH_PRODUCTION", "1"),
        ("SIGNAL_FISH__ENVIRONMENT", "staging"),
        ("SIGNAL_FISH__", "x"),
        ("SIGNAL_FISHY", "x"),
        ("OTHER", "x"),
    ])
    .unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn unknown_env_keys_warn() {
    let loaded = load_report(&[("SIGNAL_FISH_SERVER__COLOUR", "red")]).unwrap();
    assert_eq!(
        loaded.warnings,
        vec!["WARNING: unknown config key `server.colour` ignored"]
    );
    let err = load_err(&[("SIGNAL_FISH_PORT__X", "1")]);
    assert!(err.contains("`port` is not a section"), "{err}");
}

#[test]
fn edge_keys_from_the_environment() {
    let cfg = load_env(&[
        ("SIGNAL_FISH_SECURITY__TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
        ("SIGNAL_FISH_SECURITY__PROXY_PROTOCOL", "true"),
        ("SIGNAL_FISH_SECURITY__MAX_CONNECTIONS", "5000"),
        ("SIGNAL_FISH_SERVER__HOST", "::"),
    ])
    .unwrap();
    assert_eq!(cfg.security.trusted_proxies, vec!["10.0.0.0/8", "::1"]);
    assert!(cfg.security.proxy_protocol);
    assert_eq!(cfg.security.max_connections, 5000);
    assert_eq!(cfg.server.host, "::");
    let cfg = load_env(&[(
        "SIGNAL_FISH__SECURITY__TRUSTED_PROXIES",
        r#"["192.168.0.0/16"]"#,
    )])
    .unwrap();
    assert_eq!(cfg.security.trusted_proxies, vec!["192.168.0.0/16"]);
}

#[test]
fn drain_grace_comes_from_either_prefix() {
    for var in [
        "SIGNAL_FISH_SERVER__DRAIN_GRACE_SECS",
        "SIGNAL_FISH__SERVER__DRAIN_GRACE_SECS",
    ] {
        assert_eq!(
            load_env(&[(var, "45")]).unwrap().server.drain_grace_secs,
            45,
            "{var}"
        );
    }
}

#[test]
fn flush_delay_comes_from_either_prefix() {
    for var in [
        "SIGNAL_FISH_WEBSOCKET__MAX_FLUSH_DELAY_MS",
        "SIGNAL_FISH__WEBSOCKET__MAX_FLUSH_DELAY_MS",
    ] {
        assert_eq!(
            load_env(&[(var, "16")])
                .unwrap()
                .websocket
                .max_flush_delay_ms,
            16,
            "{var}"
        );
    }
}

#[test]
fn cluster_keys_come_from_either_prefix() {
    for prefix in ["SIGNAL_FISH_", "SIGNAL_FISH__"] {
        let url = format!("{prefix}CLUSTER__NATS_URL");
        let id = format!("{prefix}CLUSTER__NODE_ID");
        let ttl = format!("{prefix}CLUSTER__NODE_TTL_SECS");
        let cfg = load_env(&[
            (url.as_str(), "nats://127.0.0.1:4222"),
            (id.as_str(), "web-1"),
            (ttl.as_str(), "9"),
        ])
        .unwrap();
        assert_eq!(
            cfg.cluster.nats_url.as_deref(),
            Some("nats://127.0.0.1:4222"),
            "{prefix}"
        );
        assert_eq!(cfg.cluster.node_id.as_deref(), Some("web-1"), "{prefix}");
        assert_eq!(cfg.cluster.node_ttl_secs, 9, "{prefix}");
    }
}
