//! Integration tests: one binary, so the suite links once and one failing module never stops
//! cargo before the others run. Each module starts real servers on loopback.

mod common;
mod proxy;

mod abuse;
mod auth;
mod authority;
mod capacity;
mod cli;
mod client_addr;
mod client_crate;
mod cross_shard;
mod decode_errors;
mod deploy;
mod disconnect;
mod docs_links;
mod docs_transcript;
mod drain;
mod example_client;
mod expiry;
mod flush_window;
mod game_data;
mod haproxy;
mod http;
mod join_errors;
mod leave;
mod limits;
mod liveness;
mod lobby;
mod logging;
mod metrics;
mod nginx;
mod not_in_room;
mod process_metrics;
mod quotas;
mod reconnect;
mod relay_races;
mod restart;
mod rooms;
mod slow_client;
mod spectators;
mod tls;
