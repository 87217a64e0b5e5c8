//! The per-app limit on `Authenticate` handshakes (`rate_limit_per_minute`), counted per
//! (app, client IP) so that one client, failing or not, can only use up its own window and
//! never lock the app's other players out (spec decision 18).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ahash::AHashMap;

/// Length of the sliding window.
const WINDOW: Duration = Duration::from_secs(60);

/// Sliding-log limiter keyed by (client IP, `app_id`): an attempt is allowed while fewer than
/// the limit were allowed for that pair in the last 60 s. Every attempt for a known app is
/// counted, failed ones included (a wrong secret uses a slot of the sender's own window).
/// Rejected attempts are not recorded, so a flood cannot push the window forward. Plain data
/// with no locks: each shard keeps the windows of the IPs it owns and passes `now` in.
#[derive(Debug, Default)]
pub struct AppRateLimiter {
    /// Allowed attempts per IP and app, oldest first. Keyed by IP first so a lookup needs no
    /// allocation.
    logs: AHashMap<IpAddr, HashMap<String, VecDeque<Instant>>>,
}

impl AppRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one attempt from `ip` for `app_id` against `limit` per minute; `false` when over
    /// the limit. A limit of 0 refuses every attempt.
    pub fn try_acquire(&mut self, ip: IpAddr, app_id: &str, limit: u32, now: Instant) -> bool {
        let apps = self.logs.entry(ip).or_default();
        // Look up before inserting so a known app costs no allocation.
        let log = match apps.get_mut(app_id) {
            Some(log) => log,
            None => apps.entry(app_id.to_owned()).or_default(),
        };
        expire(log, now);
        if log.len() >= limit as usize {
            return false;
        }
        log.push_back(now);
        true
    }

    /// Forgets windows with no attempt in the last minute; call it now and then to bound
    /// memory.
    pub fn purge(&mut self, now: Instant) {
        self.logs.retain(|_, apps| {
            apps.retain(|_, log| {
                expire(log, now);
                !log.is_empty()
            });
            !apps.is_empty()
        });
    }

    /// Number of (IP, app) windows currently tracked.
    pub fn tracked(&self) -> usize {
        self.logs.values().map(HashMap::len).sum()
    }
}

/// Drops the entries strictly older than the window.
fn expire(log: &mut VecDeque<Instant>, now: Instant) {
    while log
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) > WINDOW)
    {
        log.pop_front();
    }
}
