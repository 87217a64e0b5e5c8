//! Signal Fish: a thread-per-core WebSocket signaling and lobby server for peer-to-peer games.

pub mod auth;
pub mod config;
pub mod protocol;
