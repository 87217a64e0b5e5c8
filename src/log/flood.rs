//! Flood summaries (decision 21: repeated rejections from one IP are summarised): per key —
//! the kind of record and its client address — the first `burst` records of a window pass;
//! the rest are counted, and once the window is over one summary says how many were held
//! back. Pure bookkeeping with the time passed in; each shard keeps its own (see `queue.rs`),
//! so no state is shared between threads.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// What to do with one record.
#[derive(Debug, PartialEq)]
pub enum Check<S> {
    /// Write it, after the summary of the window that just ended, if it held records back.
    Keep(S, Option<Summary<S>>),
    /// Held back and counted.
    Suppressed,
}

/// How many records of one key a window held back.
#[derive(Debug, PartialEq)]
pub struct Summary<S> {
    /// The first record held back, as a model for the summary; `None` for records held back
    /// because too many keys were live at once (see `Flood::cap`).
    pub sample: Option<S>,
    pub suppressed: u64,
    /// From the window's start to now.
    pub over: Duration,
}

struct Window<S> {
    started: Instant,
    passed: u32,
    suppressed: u64,
    sample: Option<S>,
}

impl<S> Window<S> {
    fn new(now: Instant) -> Self {
        Window {
            started: now,
            passed: 0,
            suppressed: 0,
            sample: None,
        }
    }

    /// Lets one record through or counts it. `keyed`: whether to keep a sample.
    fn admit(&mut self, burst: u32, record: S, keyed: bool) -> Option<S> {
        if self.passed < burst {
            self.passed += 1;
            return Some(record);
        }
        self.suppressed += 1;
        if keyed && self.sample.is_none() {
            self.sample = Some(record);
        }
        None
    }

    fn summary(self, now: Instant, keyed: bool) -> Option<Summary<S>> {
        (self.suppressed > 0).then(|| Summary {
            sample: if keyed { self.sample } else { None },
            suppressed: self.suppressed,
            over: now.saturating_duration_since(self.started),
        })
    }
}

/// The flood limiter of one shard.
pub struct Flood<K, S> {
    window: Duration,
    burst: u32,
    /// Most keys tracked at once; records of further keys share one window (a flood from many
    /// addresses is summarised as one).
    cap: usize,
    windows: HashMap<K, Window<S>>,
    overflow: Option<Window<S>>,
}

impl<K: Hash + Eq, S> Flood<K, S> {
    pub fn new(window: Duration, burst: u32, cap: usize) -> Self {
        Flood {
            window,
            burst,
            cap,
            windows: HashMap::new(),
            overflow: None,
        }
    }

    /// Decides about one record of `key` at `now`.
    pub fn check(&mut self, now: Instant, key: K, record: S) -> Check<S> {
        let (burst, length) = (self.burst, self.window);
        if !self.windows.contains_key(&key) && self.windows.len() >= self.cap {
            let window = self.overflow.get_or_insert_with(|| Window::new(now));
            return match window.admit(burst, record, false) {
                Some(record) => Check::Keep(record, None),
                None => Check::Suppressed,
            };
        }
        let window = self.windows.entry(key).or_insert_with(|| Window::new(now));
        let mut summary = None;
        if now.saturating_duration_since(window.started) >= length {
            let ended = std::mem::replace(window, Window::new(now));
            summary = ended.summary(now, true);
        }
        match window.admit(burst, record, true) {
            Some(record) => Check::Keep(record, summary),
            // A window just began, so its first record always passes (burst >= 1).
            None => Check::Suppressed,
        }
    }

    /// Ends every window that is over at `now`: the summaries of those that held records back.
    pub fn due(&mut self, now: Instant) -> Vec<Summary<S>> {
        let length = self.window;
        let over = |w: &Window<S>| now.saturating_duration_since(w.started) >= length;
        let mut summaries = Vec::new();
        self.windows.retain(|_, window| {
            if !over(window) {
                return true;
            }
            let ended = std::mem::replace(window, Window::new(now));
            summaries.extend(ended.summary(now, true));
            false
        });
        if self.overflow.as_ref().is_some_and(over)
            && let Some(window) = self.overflow.take()
        {
            summaries.extend(window.summary(now, false));
        }
        summaries
    }

    /// Ends every window now, over or not (the shard is stopping): their summaries.
    pub fn drain(&mut self, now: Instant) -> Vec<Summary<S>> {
        let mut summaries: Vec<_> = self
            .windows
            .drain()
            .filter_map(|(_, window)| window.summary(now, true))
            .collect();
        if let Some(window) = self.overflow.take() {
            summaries.extend(window.summary(now, false));
        }
        summaries
    }

    /// Keys tracked now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(10);

    fn kept(check: Check<u32>) -> (u32, Option<Summary<u32>>) {
        match check {
            Check::Keep(record, summary) => (record, summary),
            Check::Suppressed => panic!("expected the record to pass"),
        }
    }

    #[test]
    fn a_flood_from_one_ip_passes_a_burst_then_one_summary() {
        let t0 = Instant::now();
        let mut flood = Flood::new(WINDOW, 3, 100);
        let mut passed = 0;
        for i in 0..1000u32 {
            let at = t0 + Duration::from_millis(i as u64);
            if let Check::Keep(..) = flood.check(at, ("refused", "203.0.113.7"), i) {
                passed += 1;
            }
        }
        assert_eq!(passed, 3);
        // Nothing is due before the window is over.
        assert!(flood.due(t0 + Duration::from_secs(9)).is_empty());
        let summaries = flood.due(t0 + Duration::from_secs(11));
        assert_eq!(
            summaries,
            vec![Summary {
                sample: Some(3),
                suppressed: 997,
                over: Duration::from_secs(11),
            }]
        );
        assert!(flood.is_empty(), "ended windows are forgotten");
        // A quiet key produces no summary.
        assert!(flood.due(t0 + Duration::from_secs(30)).is_empty());
    }

    #[test]
    fn kinds_and_addresses_are_counted_apart() {
        let t0 = Instant::now();
        let mut flood = Flood::new(WINDOW, 1, 100);
        kept(flood.check(t0, ("refused", "a"), 1));
        kept(flood.check(t0, ("refused", "b"), 2));
        kept(flood.check(t0, ("auth", "a"), 3));
        assert_eq!(flood.check(t0, ("refused", "a"), 4), Check::Suppressed);
        assert_eq!(flood.len(), 3);
    }

    #[test]
    fn the_next_record_after_a_window_carries_its_summary() {
        let t0 = Instant::now();
        let mut flood = Flood::new(WINDOW, 1, 100);
        kept(flood.check(t0, "k", 1));
        assert_eq!(flood.check(t0 + WINDOW / 2, "k", 2), Check::Suppressed);
        assert_eq!(flood.check(t0 + WINDOW / 2, "k", 3), Check::Suppressed);
        let (record, summary) = kept(flood.check(t0 + WINDOW, "k", 4));
        assert_eq!(record, 4);
        let summary = summary.expect("summary of the ended window");
        assert_eq!((summary.sample, summary.suppressed), (Some(2), 2));
        assert_eq!(summary.over, WINDOW);
        // The new window started with record 4.
        assert_eq!(flood.check(t0 + WINDOW, "k", 5), Check::Suppressed);
    }

    #[test]
    fn drain_ends_open_windows_too() {
        let t0 = Instant::now();
        let mut flood = Flood::new(WINDOW, 1, 1);
        kept(flood.check(t0, "a", 1));
        assert_eq!(flood.check(t0, "a", 2), Check::Suppressed);
        kept(flood.check(t0, "b", 3));
        assert_eq!(flood.check(t0, "b", 4), Check::Suppressed);
        let mut summaries = flood.drain(t0 + Duration::from_secs(2));
        summaries.sort_by_key(|s| s.sample);
        let counts: Vec<_> = summaries.iter().map(|s| (s.sample, s.suppressed)).collect();
        assert_eq!(counts, vec![(None, 1), (Some(2), 1)]);
        assert!(flood.is_empty());
        assert!(flood.drain(t0 + WINDOW).is_empty());
    }

    #[test]
    fn too_many_keys_share_one_window() {
        let t0 = Instant::now();
        let mut flood = Flood::new(WINDOW, 2, 4);
        for key in 0..4u32 {
            kept(flood.check(t0, key, key));
        }
        // Keys 4.. find the table full: two more pass, then they are held back together.
        let passed = (4..100u32)
            .filter(|&key| matches!(flood.check(t0, key, key), Check::Keep(..)))
            .count();
        assert_eq!(passed, 2);
        assert_eq!(flood.len(), 4, "the table stays bounded");
        let summaries = flood.due(t0 + WINDOW);
        assert_eq!(
            summaries,
            vec![Summary {
                sample: None,
                suppressed: 94,
                over: WINDOW,
            }]
        );
    }
}
