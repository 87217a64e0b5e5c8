//! Per-IP limits (decision 10): open connections, room creations and join attempts per IP.
//! Each IP is owned by the shard its address hashes to, which keeps that IP's entry in a plain
//! table; other shards ask it over the inboxes. Pure bookkeeping: no I/O, time passed in.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ahash::AHashMap;

use crate::config::RateLimitConfig;

/// What a `JoinRoom` asks the quota for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// No room code: creates a room (also counts as a join attempt).
    Create,
    /// Join by code.
    Join,
    /// `JoinAsSpectator`: uses a join slot like a join by code (decision 18), so room codes
    /// cannot be probed through it faster than through `JoinRoom`.
    Spectate,
}

/// Why a quota check failed: the message text and the whole seconds left in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub reason: String,
}

#[derive(Debug, Clone)]
struct IpEntry {
    connections: usize,
    window_start: Instant,
    creations: u32,
    joins: u32,
}

/// Per-IP state for the IPs one shard owns.
#[derive(Debug, Default)]
pub struct IpTable {
    entries: AHashMap<IpAddr, IpEntry>,
}

impl IpTable {
    fn entry(&mut self, ip: IpAddr, now: Instant) -> &mut IpEntry {
        self.entries.entry(ip).or_insert(IpEntry {
            connections: 0,
            window_start: now,
            creations: 0,
            joins: 0,
        })
    }

    /// Takes a connection slot for `ip`, or says how many it holds if the limit is reached.
    pub fn admit(&mut self, ip: IpAddr, limit: usize, now: Instant) -> Result<(), usize> {
        let entry = self.entry(ip, now);
        if entry.connections >= limit {
            return Err(entry.connections);
        }
        entry.connections += 1;
        Ok(())
    }

    /// Gives a connection slot back.
    pub fn release(&mut self, ip: IpAddr) {
        if let Some(entry) = self.entries.get_mut(&ip) {
            entry.connections = entry.connections.saturating_sub(1);
        }
    }

    /// Counts a valid `JoinRoom` against the IP's fixed window (0.1.0's algorithm, keyed by IP
    /// instead of connection). A creation needs a creation slot and uses a join slot too.
    pub fn take_quota(
        &mut self,
        ip: IpAddr,
        kind: JoinKind,
        cfg: &RateLimitConfig,
        now: Instant,
    ) -> Result<(), QuotaExceeded> {
        let window = Duration::from_secs(cfg.time_window.max(1));
        let entry = self.entry(ip, now);
        if now.duration_since(entry.window_start) >= window {
            entry.window_start = now;
            entry.creations = 0;
            entry.joins = 0;
        }
        let left = window
            .saturating_sub(now.duration_since(entry.window_start))
            .as_secs();
        match kind {
            JoinKind::Create if entry.creations >= cfg.max_room_creations => Err(QuotaExceeded {
                reason: format!("Room creation rate limit exceeded. Try again in {left} seconds."),
            }),
            JoinKind::Join | JoinKind::Spectate if entry.joins >= cfg.max_join_attempts => {
                Err(QuotaExceeded {
                    reason: format!(
                        "Join attempt rate limit exceeded. Try again in {left} seconds."
                    ),
                })
            }
            JoinKind::Create => {
                entry.creations += 1;
                entry.joins += 1;
                Ok(())
            }
            JoinKind::Join | JoinKind::Spectate => {
                entry.joins += 1;
                Ok(())
            }
        }
    }

    /// Drops entries with no connections whose window has long passed.
    pub fn purge(&mut self, now: Instant, window: Duration) {
        self.entries.retain(|_, e| {
            e.connections > 0 || now.duration_since(e.window_start) < window.saturating_mul(2)
        });
    }

    /// IPs tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no IP is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    fn cfg(creations: u32, joins: u32) -> RateLimitConfig {
        RateLimitConfig {
            max_room_creations: creations,
            time_window: 60,
            max_join_attempts: joins,
        }
    }

    #[test]
    fn connections_are_limited_per_ip() {
        let mut t = IpTable::default();
        let now = Instant::now();
        assert_eq!(t.admit(ip(1), 2, now), Ok(()));
        assert_eq!(t.admit(ip(1), 2, now), Ok(()));
        assert_eq!(t.admit(ip(1), 2, now), Err(2));
        assert_eq!(t.admit(ip(2), 2, now), Ok(()));
        t.release(ip(1));
        assert_eq!(t.admit(ip(1), 2, now), Ok(()));
        assert_eq!(t.admit(ip(3), 0, now), Err(0));
    }

    #[test]
    fn creations_use_both_quotas_and_windows_reset() {
        let mut t = IpTable::default();
        let now = Instant::now();
        let c = cfg(1, 2);
        assert!(t.take_quota(ip(1), JoinKind::Create, &c, now).is_ok());
        let err = t.take_quota(ip(1), JoinKind::Create, &c, now).unwrap_err();
        assert_eq!(
            err.reason,
            "Room creation rate limit exceeded. Try again in 60 seconds."
        );
        assert!(t.take_quota(ip(1), JoinKind::Join, &c, now).is_ok());
        let err = t.take_quota(ip(1), JoinKind::Join, &c, now).unwrap_err();
        assert!(err.reason.starts_with("Join attempt rate limit exceeded"));
        let later = now + Duration::from_secs(61);
        assert!(t.take_quota(ip(1), JoinKind::Create, &c, later).is_ok());
        // Another IP has its own quota.
        assert!(t.take_quota(ip(2), JoinKind::Create, &c, now).is_ok());
    }

    #[test]
    fn spectating_shares_the_join_quota() {
        let mut t = IpTable::default();
        let now = Instant::now();
        let c = cfg(5, 2);
        assert!(t.take_quota(ip(1), JoinKind::Spectate, &c, now).is_ok());
        assert!(t.take_quota(ip(1), JoinKind::Join, &c, now).is_ok());
        let err = t
            .take_quota(ip(1), JoinKind::Spectate, &c, now)
            .unwrap_err();
        assert!(err.reason.starts_with("Join attempt rate limit exceeded"));
        assert!(t.take_quota(ip(1), JoinKind::Join, &c, now).is_err());
        assert!(t.take_quota(ip(2), JoinKind::Spectate, &c, now).is_ok());
    }

    #[test]
    fn purge_keeps_connected_ips() {
        let mut t = IpTable::default();
        let now = Instant::now();
        t.admit(ip(1), 5, now).unwrap();
        t.take_quota(ip(2), JoinKind::Join, &cfg(1, 1), now)
            .unwrap();
        t.purge(now + Duration::from_secs(500), Duration::from_secs(60));
        assert_eq!(t.len(), 1);
    }
}
