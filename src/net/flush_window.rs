//! The opt-in flush window (`websocket.max_flush_delay_ms`): a connection's outbound frames
//! may wait up to that long so several share one write, trading latency for fewer `send`s and
//! TCP segments (0.1.0 held frames up to 16 ms). With 0, the default, nothing is ever held and
//! no clock is read.
//!
//! The window opens when the connection task, free to write, first finds frames queued; it
//! ends at its deadline, rounded down to a process-wide grid of a quarter of the delay, so the
//! windows of many connections end in the same executor turn and their writes reach the
//! kernel together instead of one wake-up each (a frame waits between 3/4 of the delay and
//! the delay). It ends earlier or at once when holding would be wrong or wasteful: a control is
//! queued (a close, a join settling), the connection is closing, or the queue reached the
//! write-buffer size or the mailbox's frame limit (a burst never waits). A glommio timer
//! exists only while a window is open: an idle connection has none, and nothing walks the
//! connections.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use glommio::timer::Timer;

/// The origin of the grid window deadlines fall on; any fixed instant will do.
static GRID_ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// What is queued for the connection, as far as the window cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub frames: usize,
    pub bytes: usize,
    /// A control (close, join settled, …) is queued, or the connection is closing or cut off.
    pub urgent: bool,
}

/// Whether to write now or keep holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Write,
    /// Hold until this instant.
    Hold(Instant),
}

/// The window's state machine, without I/O or clock: the time is passed in.
#[derive(Debug)]
pub struct Window {
    delay: Duration,
    max_bytes: usize,
    max_frames: usize,
    /// Deadlines fall on multiples of `delay / 4` after this instant.
    origin: Instant,
    /// The deadline of the open window, if one is open.
    deadline: Option<Instant>,
}

impl Window {
    /// A window of `delay` (zero: never hold) that lets at most `max_bytes` or `max_frames`
    /// wait, its deadlines on a grid that starts at `origin` (no later than any `now`).
    pub fn new(delay: Duration, max_bytes: usize, max_frames: usize, origin: Instant) -> Self {
        Window {
            delay,
            max_bytes,
            max_frames,
            origin,
            deadline: None,
        }
    }

    /// `now + delay`, rounded down to the grid (so never later than the delay allows).
    fn deadline_for(&self, now: Instant) -> Instant {
        let step = (self.delay / 4).as_nanos().max(1);
        let end = (now + self.delay)
            .saturating_duration_since(self.origin)
            .as_nanos();
        let snapped = end - end % step;
        // `snapped` < `end`, and `end` fits a `Duration` since it came from one.
        self.origin + Duration::from_nanos(u64::try_from(snapped).unwrap_or(u64::MAX))
    }

    /// Whether windows are on at all.
    pub fn enabled(&self) -> bool {
        !self.delay.is_zero()
    }

    /// What to do with `pending` at `now`; opens a window on the first frames found.
    pub fn decide(&mut self, now: Instant, pending: Pending) -> Decision {
        if pending.frames == 0
            || pending.urgent
            || pending.bytes >= self.max_bytes
            || pending.frames >= self.max_frames
        {
            return Decision::Write;
        }
        let deadline = match self.deadline {
            Some(deadline) => deadline,
            None => *self.deadline.insert(self.deadline_for(now)),
        };
        if now >= deadline {
            Decision::Write
        } else {
            Decision::Hold(deadline)
        }
    }

    /// Everything queued was written: the next frame starts a new window.
    pub fn written(&mut self) {
        self.deadline = None;
    }
}

/// A [`Window`] with the glommio timer that ends it, armed only while the window is open.
pub struct FlushWindow {
    window: Window,
    timer: Option<Timer>,
}

impl FlushWindow {
    pub fn new(delay: Duration, max_bytes: usize, max_frames: usize) -> Self {
        FlushWindow {
            window: Window::new(delay, max_bytes, max_frames, *GRID_ORIGIN),
            timer: None,
        }
    }

    /// `true` when the queued frames should wait: a timer is then armed for the deadline.
    /// Reads the clock only when windows are on.
    pub fn hold(&mut self, pending: impl FnOnce() -> Pending) -> bool {
        if !self.window.enabled() {
            return false;
        }
        let now = Instant::now();
        match self.window.decide(now, pending()) {
            Decision::Write => false,
            Decision::Hold(deadline) => {
                if self.timer.is_none() {
                    self.timer = Some(Timer::new(deadline.saturating_duration_since(now)));
                }
                true
            }
        }
    }

    /// The queue was written out: close the window and drop its timer.
    pub fn written(&mut self) {
        self.window.written();
        self.timer = None;
    }

    /// Resolves when the open window's timer fires; never when no window is open.
    pub async fn expired(&mut self) {
        match self.timer.as_mut() {
            Some(timer) => {
                timer.await;
            }
            None => futures_lite::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn frames(frames: usize, bytes: usize) -> Pending {
        Pending {
            frames,
            bytes,
            urgent: false,
        }
    }

    #[test]
    fn zero_delay_never_holds() {
        let mut w = Window::new(Duration::ZERO, 1 << 16, 1024, Instant::now());
        assert!(!w.enabled());
        assert_eq!(w.decide(Instant::now(), frames(1, 10)), Decision::Write);
    }

    #[test]
    fn the_first_frame_opens_the_window_and_later_ones_share_its_deadline() {
        // On the grid (a multiple of 4 ms from the origin), the deadline is exactly 16 ms on.
        let t0 = Instant::now();
        let mut w = Window::new(16 * MS, 1 << 16, 1024, t0);
        assert_eq!(w.decide(t0, frames(1, 10)), Decision::Hold(t0 + 16 * MS));
        // More frames later in the window do not push the deadline back.
        assert_eq!(
            w.decide(t0 + 10 * MS, frames(3, 30)),
            Decision::Hold(t0 + 16 * MS)
        );
        assert_eq!(w.decide(t0 + 16 * MS, frames(3, 30)), Decision::Write);
        w.written();
        // After a write the next frame starts a fresh window.
        assert_eq!(
            w.decide(t0 + 20 * MS, frames(1, 10)),
            Decision::Hold(t0 + 36 * MS)
        );
    }

    #[test]
    fn deadlines_snap_down_to_a_quarter_of_the_delay() {
        let t0 = Instant::now();
        let mut w = Window::new(16 * MS, 1 << 16, 1024, t0);
        // 3 ms + 16 ms = 19 ms, snapped down to the 4 ms grid: 16 ms.
        assert_eq!(
            w.decide(t0 + 3 * MS, frames(1, 10)),
            Decision::Hold(t0 + 16 * MS)
        );
        w.written();
        // Another connection opening a window a little later ends in the same turn.
        assert_eq!(
            w.decide(t0 + 3500 * MS / 1000, frames(1, 10)),
            Decision::Hold(t0 + 16 * MS)
        );
    }

    #[test]
    fn nothing_queued_opens_no_window() {
        let t0 = Instant::now();
        let mut w = Window::new(16 * MS, 1 << 16, 1024, t0);
        assert_eq!(w.decide(t0, frames(0, 0)), Decision::Write);
        assert_eq!(
            w.decide(t0 + 5 * MS, frames(1, 10)),
            Decision::Hold(t0 + 20 * MS)
        );
    }

    #[test]
    fn a_full_batch_or_an_urgent_item_is_written_at_once() {
        let t0 = Instant::now();
        let mut w = Window::new(16 * MS, 100, 4, t0);
        assert!(matches!(w.decide(t0, frames(1, 10)), Decision::Hold(_)));
        assert_eq!(w.decide(t0, frames(2, 100)), Decision::Write, "bytes");
        assert_eq!(w.decide(t0, frames(4, 40)), Decision::Write, "frames");
        let close = Pending {
            frames: 1,
            bytes: 10,
            urgent: true,
        };
        assert_eq!(w.decide(t0, close), Decision::Write, "urgent");
    }
}
