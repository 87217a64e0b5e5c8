//! Signal Fish: a thread-per-core WebSocket signaling and lobby server for peer-to-peer games.
//!
//! Each shard is a pinned glommio executor that accepts its own connections, owns the rooms
//! whose `(game, code)` hash to it, and talks to other shards only through batched messages.
//! Start one with [`Server::start`].

pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod drain;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod room;
pub mod server;
pub mod session;
pub mod shard;
mod signal;
pub mod waking_channel;

pub use drain::{Drain, DrainEnd};
pub use server::{Server, ServerHandle, StartError};
