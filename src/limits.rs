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
    /// `Reconnect`: uses a join slot too, so reconnection tokens cannot be guessed faster
    /// than room codes.
    Reconnect,
}

/// Why a quota check failed: the message text and the whole seconds left in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub reason: String,
}

/// Sockets an IP may hold beyond `security.max_connections_per_ip` while they are told why they
/// are refused (a WebSocket gets 0.1.0's `TOO_MANY_CONNECTIONS` and a close; a health check is
/// answered). Past this many, further sockets are closed without a word, so no IP ever holds
/// more than its cap plus this.
pub const REFUSALS_PER_IP: usize = 4;

/// The IP owner's answer to a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A connection slot was taken; give it back with [`IpTable::release`].
    Admitted,
    /// The IP holds `current` connections, its cap. With `answer` the socket holds one of the
    /// IP's [`REFUSALS_PER_IP`] places (give it back with [`IpTable::release_refusal`]) and
    /// may be told why; without, it is to be closed at once.
    Refused { current: usize, answer: bool },
}

#[derive(Debug, Clone)]
struct IpEntry {
    connections: usize,
    /// Refused sockets being answered.
    refusals: usize,
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
            refusals: 0,
            window_start: now,
            creations: 0,
            joins: 0,
        })
    }

    /// Takes a connection slot for `ip`, or a refusal place, or neither (see [`Admission`]).
    pub fn admit(&mut self, ip: IpAddr, limit: usize, now: Instant) -> Admission {
        let entry = self.entry(ip, now);
        if entry.connections < limit {
            entry.connections += 1;
            return Admission::Admitted;
        }
        let answer = entry.refusals < REFUSALS_PER_IP;
        if answer {
            entry.refusals += 1;
        }
        Admission::Refused {
            current: entry.connections,
            answer,
        }
    }

    /// Gives a connection slot back.
    pub fn release(&mut self, ip: IpAddr) {
        if let Some(entry) = self.entries.get_mut(&ip) {
            entry.connections = entry.connections.saturating_sub(1);
        }
    }

    /// Gives a refusal place back.
    pub fn release_refusal(&mut self, ip: IpAddr) {
        if let Some(entry) = self.entries.get_mut(&ip) {
            entry.refusals = entry.refusals.saturating_sub(1);
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
            JoinKind::Join | JoinKind::Spectate | JoinKind::Reconnect
                if entry.joins >= cfg.max_join_attempts =>
            {
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
            JoinKind::Join | JoinKind::Spectate | JoinKind::Reconnect => {
                entry.joins += 1;
                Ok(())
            }
        }
    }

    /// Drops entries with no connections whose window has long passed.
    pub fn purge(&mut self, now: Instant, window: Duration) {
        self.entries.retain(|_, e| {
            e.connections > 0
                || e.refusals > 0
                || now.duration_since(e.window_start) < window.saturating_mul(2)
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
        assert_eq!(t.admit(ip(1), 2, now), Admission::Admitted);
        assert_eq!(t.admit(ip(1), 2, now), Admission::Admitted);
        let refused = |answer| Admission::Refused { current: 2, answer };
        assert_eq!(t.admit(ip(1), 2, now), refused(true));
        assert_eq!(t.admit(ip(2), 2, now), Admission::Admitted);
        t.release(ip(1));
        assert_eq!(t.admit(ip(1), 2, now), Admission::Admitted);
        assert_eq!(
            t.admit(ip(3), 0, now),
            Admission::Refused {
                current: 0,
                answer: true
            }
        );
    }

    #[test]
    fn refusals_beyond_the_cap_are_bounded_per_ip() {
        let mut t = IpTable::default();
        let now = Instant::now();
        assert_eq!(t.admit(ip(1), 1, now), Admission::Admitted);
        let refused = |answer| Admission::Refused { current: 1, answer };
        for _ in 0..REFUSALS_PER_IP {
            assert_eq!(t.admit(ip(1), 1, now), refused(true));
        }
        assert_eq!(t.admit(ip(1), 1, now), refused(false));
        assert_eq!(t.admit(ip(1), 1, now), refused(false));
        t.release_refusal(ip(1));
        assert_eq!(t.admit(ip(1), 1, now), refused(true));
        // A refusal being answered keeps the entry alive through a purge.
        t.release(ip(1));
        t.purge(now + Duration::from_secs(500), Duration::from_secs(60));
        assert_eq!(t.len(), 1);
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
    fn spectating_and_reconnecting_share_the_join_quota() {
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
        assert!(t.take_quota(ip(2), JoinKind::Reconnect, &c, now).is_ok());
        assert!(
            t.take_quota(ip(2), JoinKind::Reconnect, &c, now).is_err(),
            "a reconnect uses the join slots too"
        );
    }

    #[test]
    fn purge_keeps_connected_ips() {
        let mut t = IpTable::default();
        let now = Instant::now();
        assert_eq!(t.admit(ip(1), 5, now), Admission::Admitted);
        t.take_quota(ip(2), JoinKind::Join, &cfg(1, 1), now)
            .unwrap();
        t.purge(now + Duration::from_secs(500), Duration::from_secs(60));
        assert_eq!(t.len(), 1);
    }
}
