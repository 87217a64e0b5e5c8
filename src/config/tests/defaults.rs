//! Defaults, derived values and output texts.

use serde_json::json;

use crate::config::Config;

#[test]
fn default_tree_matches_the_key_reference() {
    let expected = json!({
        "port": 3536,
        "server": {
            "default_max_players": 8, "ping_timeout": 30, "room_cleanup_interval": 60,
            "max_rooms_per_game": 1000, "empty_room_timeout": 300, "inactive_room_timeout": 3600,
            "reconnection_window": 300, "event_buffer_size": 100, "enable_reconnection": true,
            "heartbeat_throttle_secs": 30, "region_id": "default", "room_code_prefix": null,
            "shards": 0,
            "host": "0.0.0.0",
            "drain_grace_secs": 0
        },
        "rate_limit": { "max_room_creations": 5, "time_window": 60, "max_join_attempts": 20 },
        "protocol": {
            "max_game_name_length": 64, "room_code_length": 6, "max_player_name_length": 32,
            "max_players_limit": 100, "enable_message_pack_game_data": true,
            "sdk_compatibility": {
                "enforce": true,
                "minimum_versions": {
                    "unity": "1.10.0", "godot": "0.9.0", "godot-rust": "0.9.0", "test": "1.0.0"
                },
                "recommended_versions": { "unity": "1.12.0", "godot-rust": "0.9.2" },
                "capabilities": {
                    "_default": ["reconnection", "spectator-mode", "rate-limits-v2"],
                    "unity": ["relay-matchbox", "relay-mirror", "relay-fishnet"]
                },
                "notes": {
                    "unity": "Upgrade to 1.12.x for deterministic reconnect handling and spectator patches."
                }
            },
            "player_name_validation": {
                "allow_unicode_alphanumeric": true, "allow_spaces": true,
                "allow_leading_trailing_whitespace": false, "allowed_symbols": ["-", "_"],
                "additional_allowed_characters": null
            }
        },
        "logging": {
            "dir": "logs", "filename": "server.log", "rotation": "daily", "level": null,
            "enable_file_logging": true, "format": "json"
        },
        "security": {
            "cors_origins": "http://localhost:3000,http://localhost:5173",
            "require_websocket_auth": false,
            "require_metrics_auth": false,
            "metrics_auth_token": null,
            "max_message_size": 65536,
            "max_connections_per_ip": 10,
            "max_connections": 0,
            "trusted_proxies": [],
            "proxy_protocol": false,
            "transport": {
                "tls": {
                    "enabled": false, "certificate_path": null, "private_key_path": null,
                    "client_ca_cert_path": null, "client_auth": "none"
                },
                "token_binding": {
                    "enabled": false, "required": false, "require_client_fingerprint": false,
                    "subprotocol": "signalfish.tokenbinding.v1",
                    "scheme": "sec_websocket_key_sha256"
                }
            },
            "authorized_apps": []
        },
        "websocket": {
            "enable_batching": true, "batch_size": 10, "batch_interval_ms": 16,
            "auth_timeout_secs": 10, "max_flush_delay_ms": 0
        },
        "metrics": {
            "dashboard_cache_refresh_interval_secs": 5, "dashboard_cache_ttl_secs": 30,
            "dashboard_cache_history_window_secs": 300,
            "dashboard_cache_history_fields":
                ["ActiveRooms", "RoomsByGame", "PlayerPercentiles", "GamePercentiles"]
        },
        "relay_types": { "game_relay_mappings": {}, "default_relay_type": "matchbox" },
        "auth": {
            "rate_limit_cache_cleanup_interval_secs": 300,
            "rate_limit_cache_retention_secs": 172800,
            "rate_limit_cache_alert_rows": 100000
        },
        "coordination": {
            "dedup_cache": { "capacity": 100000, "ttl_secs": 60, "cleanup_interval_secs": 30 },
            "membership_snapshot_interval_secs": 0
        },
        "cluster": {
            "nats_url": null, "node_id": null, "heartbeat_interval_secs": 2,
            "node_ttl_secs": 6, "connect_timeout_secs": 3
        }
    });
    assert_eq!(serde_json::to_value(Config::default()).unwrap(), expected);
}

#[test]
fn both_auth_switches_default_to_off() {
    let cfg = Config::default();
    assert!(!cfg.security.require_websocket_auth);
    assert!(!cfg.security.require_metrics_auth);
}

#[test]
fn defaults_start_a_working_server() {
    Config::default().validate().unwrap();
}

#[test]
fn empty_json_object_deserialises_to_defaults() {
    let cfg: Config = serde_json::from_str("{}").unwrap();
    assert_eq!(cfg, Config::default());
}

#[test]
fn validation_summary_text() {
    let mut cfg = Config {
        port: 4000,
        ..Config::default()
    };
    cfg.server.region_id = "eu-west".to_owned();
    assert_eq!(
        cfg.validation_summary(),
        "Configuration validation passed\n\
         \n\
         Configuration summary:\n\
         \x20 Port: 4000\n\
         \x20 Storage backend: InMemory\n\
         \x20 TLS enabled: false\n\
         \x20 Metrics auth required: false\n\
         \x20 Reconnection enabled: true\n\
         \x20 Max players per room: 8\n\
         \x20 Deployment region: eu-west"
    );
}

#[test]
fn pretty_json_is_two_space_indented_sorted_and_round_trips() {
    let cfg = Config::default();
    let text = cfg.to_pretty_json();
    assert!(text.starts_with("{\n  \"port\": 3536,\n  \"server\": {\n    \""));
    let godot = text.find("\"godot\"").unwrap();
    let unity = text.find("\"unity\"").unwrap();
    assert!(godot < unity, "map keys print in sorted order");
    let back: Config = serde_json::from_str(&text).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn effective_shards() {
    let mut cfg = Config::default();
    assert_eq!(cfg.effective_shards(6), 6);
    assert_eq!(cfg.effective_shards(0), 1);
    cfg.server.shards = 3;
    assert_eq!(cfg.effective_shards(6), 3);
    assert_eq!(cfg.effective_shards(2), 3);
}

#[test]
fn relay_type_for_uses_mapping_then_default() {
    let mut cfg = Config::default();
    let map = &mut cfg.relay_types.game_relay_mappings;
    map.insert("Kart".to_owned(), "mirror".to_owned());
    map.insert("chess".to_owned(), "fishnet".to_owned());
    map.insert("CHESS".to_owned(), "exact".to_owned());
    assert_eq!(cfg.relay_type_for("Kart"), "mirror");
    assert_eq!(cfg.relay_type_for("kart"), "mirror");
    assert_eq!(cfg.relay_type_for("CHESS"), "exact");
    assert_eq!(cfg.relay_type_for("Chess"), "exact"); // first case-insensitive key in order
    assert_eq!(cfg.relay_type_for("go"), "matchbox");
}
