//! What the edge of the server knows before any request is read: which peers are trusted
//! proxies, whether they speak the PROXY protocol, and the process-wide connection cap. One
//! `Edge` is built at start and shared (read-only, plus the cap's atomics) by every shard.

use std::net::IpAddr;
use std::sync::Arc;

use super::capacity::{Capacity, auto_limit};
use super::client_addr::{InvalidProxyEntry, TrustedProxies};
use crate::config::SecurityConfig;

/// The edge settings of a running server.
#[derive(Debug)]
pub struct Edge {
    /// `security.trusted_proxies`.
    pub trusted: TrustedProxies,
    /// `security.proxy_protocol`: trusted peers start every connection with a PROXY header.
    pub proxy_protocol: bool,
    /// `security.max_connections`, shared by all shards.
    pub capacity: Arc<Capacity>,
}

impl Edge {
    /// Builds the edge from `security.*`. `nofile_soft` is the open-file soft limit the
    /// process runs with, from which an unset (0) `max_connections` is derived.
    pub fn new(security: &SecurityConfig, nofile_soft: u64) -> Result<Self, InvalidProxyEntry> {
        let limit = match security.max_connections {
            0 => auto_limit(nofile_soft),
            n => n,
        };
        Ok(Edge {
            trusted: TrustedProxies::parse(&security.trusted_proxies)?,
            proxy_protocol: security.proxy_protocol,
            capacity: Capacity::new(limit),
        })
    }

    /// No trusted proxies and no cap: for a shard built outside `Server::start` (benchmarks).
    pub fn open() -> Self {
        Edge {
            trusted: TrustedProxies::default(),
            proxy_protocol: false,
            capacity: Capacity::new(0),
        }
    }

    /// Whether `ip` (a TCP peer) is a trusted proxy, whose forwarding headers, PROXY header
    /// and certificate-fingerprint headers are believed. Cheap enough for every connection.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.is_trusted(ip)
    }
}
