//! The owner machine's inputs carry monotonic time (`Instant`); rooms show wall time
//! (`created_at`, `connected_at`). One anchor pair converts between them, so the machine never
//! reads a clock and a test drives it with any `Instant` it likes.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

/// A monotonic instant and the wall time it stands for.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    at: Instant,
    wall: DateTime<Utc>,
}

impl WallClock {
    /// Anchored at this moment (read once, when a shard starts).
    pub fn now() -> Self {
        WallClock::anchored(Instant::now(), Utc::now())
    }

    /// Anchored at `at`, which stands for `wall`.
    pub fn anchored(at: Instant, wall: DateTime<Utc>) -> Self {
        WallClock { at, wall }
    }

    /// The wall time of a monotonic instant. Instants before the anchor map to the anchor
    /// (inputs never carry one).
    pub fn wall(&self, now: Instant) -> DateTime<Utc> {
        let since =
            TimeDelta::from_std(now.saturating_duration_since(self.at)).unwrap_or(TimeDelta::MAX);
        self.wall.checked_add_signed(since).unwrap_or(self.wall)
    }

    /// The monotonic instant of a wall time this clock produced.
    pub fn instant_of(&self, wall: DateTime<Utc>) -> Instant {
        let since = (wall - self.wall).to_std().unwrap_or(Duration::ZERO);
        self.at.checked_add(since).unwrap_or(self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_and_instant_round_trip() {
        let at = Instant::now();
        let clock = WallClock::anchored(at, Utc::now());
        let later = at + Duration::from_millis(1500);
        assert_eq!(clock.instant_of(clock.wall(later)), later);
        assert_eq!(clock.wall(at), clock.wall);
    }
}
