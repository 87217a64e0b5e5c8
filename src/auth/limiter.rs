//! The per-app limit on `Authenticate` handshakes (`rate_limit_per_minute`).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Length of the sliding window.
const WINDOW: Duration = Duration::from_secs(60);

/// Sliding-log limiter keyed by `app_id`: an attempt is allowed while fewer than the limit were
/// allowed in the last 60 s. Rejected attempts are not recorded, so a flood cannot push the
/// window forward. Plain data with no locks: each shard owns one and passes `now` in.
#[derive(Debug, Default)]
pub struct AppRateLimiter {
    /// Allowed attempts per app, oldest first.
    logs: HashMap<String, VecDeque<Instant>>,
}

impl AppRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one attempt for `app_id` against `limit` per minute; `false` when over the limit.
    /// A limit of 0 refuses every attempt.
    pub fn try_acquire(&mut self, app_id: &str, limit: u32, now: Instant) -> bool {
        // Look up before inserting so a known app costs no allocation.
        let log = match self.logs.get_mut(app_id) {
            Some(log) => log,
            None => self.logs.entry(app_id.to_owned()).or_default(),
        };
        expire(log, now);
        if log.len() >= limit as usize {
            return false;
        }
        log.push_back(now);
        true
    }

    /// Forgets apps with no attempt in the last minute; call it now and then to bound memory.
    pub fn purge(&mut self, now: Instant) {
        self.logs.retain(|_, log| {
            expire(log, now);
            !log.is_empty()
        });
    }

    /// Number of apps currently tracked.
    pub fn tracked_apps(&self) -> usize {
        self.logs.len()
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
