//! Sources, merging, strictness and unknown keys.

use super::{TempDir, load_env, load_err, load_report, vars};
use crate::config::load::load_sources;
use crate::config::{Config, ConfigError, LogFormat, LogRotation};

/// The configuration the benchmark runs 0.1.0 with (shared/bench/upstream-0.1.0.json).
const BENCH_CONFIG: &str = r#"{
  "port": 3601,
  "server": { "max_rooms_per_game": 1000000 },
  "rate_limit": { "max_room_creations": 1000000, "time_window": 60, "max_join_attempts": 1000000 },
  "logging": { "enable_file_logging": false },
  "security": {
    "require_websocket_auth": true,
    "require_metrics_auth": false,
    "max_connections_per_ip": 1000000,
    "authorized_apps": [
      {
        "app_id": "bench",
        "app_secret": "unused-by-0.1.0",
        "app_name": "Bench",
        "max_rooms": 1000000,
        "max_players_per_room": 100,
        "rate_limit_per_minute": 100000000
      }
    ]
  }
}"#;

#[test]
fn no_sources_gives_defaults() {
    assert_eq!(load_env(&[]).unwrap(), Config::default());
}

#[test]
fn bench_config_loads_and_validates() {
    let dir = TempDir::new();
    dir.write("config.json", BENCH_CONFIG);
    let loaded = load_sources(&[], dir.path(), None).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let cfg = loaded.config;
    cfg.validate().unwrap();
    assert_eq!(cfg.port, 3601);
    assert_eq!(cfg.server.max_rooms_per_game, 1_000_000);
    assert_eq!(cfg.server.ping_timeout, 30, "untouched keys keep defaults");
    assert!(cfg.security.require_websocket_auth);
    assert!(!cfg.logging.enable_file_logging);
    let app = cfg.security.find_app("bench").unwrap();
    assert_eq!(app.app_name, "Bench");
    assert_eq!(app.app_secret.as_deref(), Some("unused-by-0.1.0"));
    assert_eq!(app.max_players_per_room, Some(100));
    assert_eq!(app.rate_limit_per_minute, Some(100_000_000));
}

#[test]
fn cwd_config_json_is_read() {
    let dir = TempDir::new();
    dir.write("config.json", r#"{"port": 4100}"#);
    assert_eq!(Config::load_from(&[], dir.path()).unwrap().port, 4100);
}

#[test]
fn config_path_replaces_cwd_file_and_is_relative_to_cwd() {
    let dir = TempDir::new();
    dir.write(
        "config.json",
        r#"{"port": 4100, "server": {"region_id": "cwd"}}"#,
    );
    dir.write("other.json", r#"{"port": 4200}"#);
    let env = vars(&[("SIGNAL_FISH_CONFIG_PATH", "other.json")]);
    let cfg = Config::load_from(&env, dir.path()).unwrap();
    assert_eq!(cfg.port, 4200);
    assert_eq!(cfg.server.region_id, "default", "./config.json is not read");
}

#[test]
fn missing_config_path_file_is_an_error() {
    let dir = TempDir::new();
    let env = vars(&[("SIGNAL_FISH_CONFIG_PATH", "nope.json")]);
    let err = Config::load_from(&env, dir.path()).unwrap_err();
    assert!(matches!(err, ConfigError::MissingFile { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.json"), "{err}");
}

#[test]
fn precedence_env_over_file_over_inline_json_over_defaults() {
    let dir = TempDir::new();
    dir.write(
        "config.json",
        r#"{"port": 4002, "server": {"ping_timeout": 42, "region_id": "file"}}"#,
    );
    let env = vars(&[
        (
            "SIGNAL_FISH_CONFIG_JSON",
            r#"{"port": 4001, "server": {"ping_timeout": 41, "event_buffer_size": 7}}"#,
        ),
        ("SIGNAL_FISH_PORT", "4003"),
    ]);
    let cfg = Config::load_from(&env, dir.path()).unwrap();
    assert_eq!(cfg.port, 4003, "env wins");
    assert_eq!(cfg.server.ping_timeout, 42, "file beats inline JSON");
    assert_eq!(cfg.server.region_id, "file");
    assert_eq!(
        cfg.server.event_buffer_size, 7,
        "inline JSON beats defaults"
    );
    assert_eq!(
        cfg.server.room_cleanup_interval, 60,
        "defaults fill the rest"
    );
}

#[test]
fn stdin_sits_between_inline_json_and_file() {
    let dir = TempDir::new();
    dir.write("config.json", r#"{"port": 4002}"#);
    let env = vars(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"port": 4001, "server": {"ping_timeout": 41, "region_id": "inline"}}"#,
    )]);
    let stdin = r#"{"port": 4005, "server": {"ping_timeout": 45}}"#;
    let cfg = load_sources(&env, dir.path(), Some(stdin)).unwrap().config;
    assert_eq!(cfg.port, 4002);
    assert_eq!(cfg.server.ping_timeout, 45);
    assert_eq!(cfg.server.region_id, "inline");
}

#[test]
fn maps_merge_additively_and_lists_replace() {
    let cfg = load_env(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"protocol": {"sdk_compatibility": {"minimum_versions": {"unity": "1.11.0", "bevy": "0.1.0"}},
            "player_name_validation": {"allowed_symbols": ["."]}}}"#,
    )])
    .unwrap();
    let sdk = &cfg.protocol.sdk_compatibility;
    assert_eq!(sdk.minimum_versions["unity"], "1.11.0");
    assert_eq!(sdk.minimum_versions["bevy"], "0.1.0");
    assert_eq!(
        sdk.minimum_versions["godot"], "0.9.0",
        "default entries stay"
    );
    assert_eq!(
        cfg.protocol.player_name_validation.allowed_symbols,
        vec!['.']
    );
}

#[test]
fn blank_sources_are_ignored() {
    let dir = TempDir::new();
    dir.write("config.json", "  \n");
    let env = vars(&[("SIGNAL_FISH_CONFIG_JSON", " ")]);
    assert_eq!(
        Config::load_from(&env, dir.path()).unwrap(),
        Config::default()
    );
}

#[test]
fn broken_json_names_its_source() {
    let err = load_err(&[("SIGNAL_FISH_CONFIG_JSON", "{port: 1}")]);
    assert!(
        err.starts_with("failed to parse config from SIGNAL_FISH_CONFIG_JSON: "),
        "{err}"
    );
    let dir = TempDir::new();
    let path = dir.write("config.json", "[1, 2]");
    let err = Config::load_from(&[], dir.path()).unwrap_err().to_string();
    assert!(err.contains(&format!("file {}", path.display())), "{err}");
    assert!(err.contains("must be a JSON object"), "{err}");
}

#[test]
fn wrong_type_in_a_file_names_the_key() {
    let dir = TempDir::new();
    dir.write("config.json", r#"{"server": {"ping_timeout": "soon"}}"#);
    let err = Config::load_from(&[], dir.path()).unwrap_err();
    match &err {
        ConfigError::Value { key, .. } => assert_eq!(key, "server.ping_timeout"),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("invalid value for `server.ping_timeout`: ")
    );
}

#[test]
fn out_of_range_and_bad_items_name_the_key() {
    let err = load_err(&[("SIGNAL_FISH_CONFIG_JSON", r#"{"port": 70000}"#)]);
    assert!(err.contains("`port`"), "{err}");
    let err = load_err(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"security": {"authorized_apps": [{"app_id": "a"}]}}"#,
    )]);
    assert!(err.contains("security.authorized_apps[0]"), "{err}");
    assert!(err.contains("app_name"), "{err}");
    let err = load_err(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"protocol": {"player_name_validation": {"allowed_symbols": ["ab"]}}}"#,
    )]);
    assert!(
        err.contains("protocol.player_name_validation.allowed_symbols[0]"),
        "{err}"
    );
}

#[test]
fn enum_values_ignore_case_but_unknown_ones_fail() {
    let cfg = load_env(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"logging": {"format": "Json", "rotation": "HOURLY"}}"#,
    )])
    .unwrap();
    assert_eq!(cfg.logging.format, LogFormat::Json);
    assert_eq!(cfg.logging.rotation, LogRotation::Hourly);
    let err = load_err(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"logging": {"rotation": "weekly"}}"#,
    )]);
    assert!(err.contains("`logging.rotation`"), "{err}");
    let err = load_err(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"metrics": {"dashboard_cache_history_fields": ["activeRooms"]}}"#,
    )]);
    assert!(
        err.contains("metrics.dashboard_cache_history_fields[0]"),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_accepted_with_a_warning() {
    let loaded = load_report(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"storage": {"kind": "redis"}, "server": {"colour": "red"},
            "security": {"authorized_apps": [{"app_id": "a", "app_name": "A", "tier": 2}]},
            "relay_types": {"game_relay_mappings": {"kart": "mirror"}}}"#,
    )])
    .unwrap();
    assert_eq!(
        loaded.warnings,
        vec![
            "WARNING: unknown config key `security.authorized_apps[0].tier` ignored",
            "WARNING: unknown config key `server.colour` ignored",
            "WARNING: unknown config key `storage` ignored",
        ]
    );
    assert_eq!(loaded.config.relay_type_for("kart"), "mirror");
}

#[test]
fn heartbeat_alias_is_accepted_once() {
    let cfg = load_env(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"server": {"heartbeat_db_throttle_secs": 5}}"#,
    )])
    .unwrap();
    assert_eq!(cfg.server.heartbeat_throttle_secs, 5);
    let err = load_err(&[(
        "SIGNAL_FISH_CONFIG_JSON",
        r#"{"server": {"heartbeat_db_throttle_secs": 5, "heartbeat_throttle_secs": 6}}"#,
    )]);
    assert!(err.contains("server.heartbeat_db_throttle_secs"), "{err}");
    let cfg = load_env(&[("SIGNAL_FISH__SERVER__HEARTBEAT_DB_THROTTLE_SECS", "9")]).unwrap();
    assert_eq!(cfg.server.heartbeat_throttle_secs, 9);
}

#[test]
fn short_metrics_token_warns() {
    let loaded = load_report(&[
        ("SIGNAL_FISH_SECURITY__REQUIRE_METRICS_AUTH", "true"),
        ("SIGNAL_FISH_SECURITY__METRICS_AUTH_TOKEN", "short"),
    ])
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0].starts_with("WARNING: Metrics auth token is very short (5 chars)."),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn metrics_auth_off_in_production_warns() {
    let banner = "SECURITY WARNING: Metrics Authentication Disabled in Production!";
    for env in [
        vec![("SIGNAL_FISH__ENVIRONMENT", "Production")],
        vec![("SIGNAL_FISH__ENVIRONMENT", "prod")],
        vec![("PROD", "")],
        vec![("SIGNAL_FISH_PRODUCTION", "1")],
    ] {
        let loaded = load_report(&env).unwrap();
        assert_eq!(loaded.warnings.len(), 1, "{env:?}");
        assert!(loaded.warnings[0].starts_with(banner));
    }
    for env in [
        vec![],
        vec![("SIGNAL_FISH__ENVIRONMENT", "staging"), ("PRODUCTION", "1")],
    ] {
        assert!(load_report(&env).unwrap().warnings.is_empty(), "{env:?}");
    }
}
