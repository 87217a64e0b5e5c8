//! The shard side of logging: a `tracing` layer that copies each enabled event into a
//! [`Record`], passes rejections through this thread's flood limiter, and offers the record
//! to the writer thread's bounded queue with `try_send`. A full queue drops the record and
//! counts it; nothing here ever waits.
//!
//! Per-thread state (each shard is one thread, so this is per shard, untouched by others):
//! the shard index stamped on records, the count of dropped records (reported by the shard's
//! metrics), and the flood limiter.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tracing::callsite::Identifier;
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::flood::{Check, Flood, Summary};
use super::record::{Record, Value};

/// Records that may wait for the writer before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 16 * 1024;
/// Flood summaries: per (kind of record, client address), `FLOOD_BURST` records per
/// `FLOOD_WINDOW` are written and the rest summarised.
pub const FLOOD_WINDOW: Duration = Duration::from_secs(10);
pub const FLOOD_BURST: u32 = 5;
/// Most (kind, address) pairs a shard tracks at once; beyond, they are summarised together.
pub const FLOOD_KEYS: usize = 4096;

type FloodKey = (Identifier, String);

thread_local! {
    static SHARD: Cell<Option<u32>> = const { Cell::new(None) };
    static DROPPED: Cell<u64> = const { Cell::new(0) };
    static FLOOD: RefCell<Flood<FloodKey, Record>> =
        RefCell::new(Flood::new(FLOOD_WINDOW, FLOOD_BURST, FLOOD_KEYS));
}

/// Marks the current thread as shard `index`: its records carry `"shard": index`.
pub fn set_shard(index: Option<u32>) {
    SHARD.with(|s| s.set(index));
}

/// Records this thread dropped because the queue was full, since it started.
pub fn dropped_here() -> u64 {
    DROPPED.with(Cell::get)
}

/// The sending end of the queue to the writer thread.
#[derive(Clone)]
pub struct LogQueue {
    tx: Sender<Record>,
}

impl LogQueue {
    /// A queue holding at most `capacity` records, and its receiving end.
    pub fn bounded(capacity: usize) -> (LogQueue, Receiver<Record>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        (LogQueue { tx }, rx)
    }

    /// Offers a record without waiting; `false` (and counted) when it was dropped.
    pub fn push(&self, record: Record) -> bool {
        match self.tx.try_send(record) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                DROPPED.with(|d| d.set(d.get() + 1));
                false
            }
        }
    }
}

/// The layer every server's dispatcher ends with.
pub struct QueueLayer {
    queue: LogQueue,
}

impl QueueLayer {
    pub fn new(queue: LogQueue) -> Self {
        QueueLayer { queue }
    }

    /// Writes the summaries of this thread's flood windows that are over at `now`, or of all
    /// of them when the shard stops (`all`).
    pub fn tick(&self, now: Instant, all: bool) {
        let due = FLOOD.with(|f| {
            let mut flood = f.borrow_mut();
            if all {
                flood.drain(now)
            } else {
                flood.due(now)
            }
        });
        for summary in due {
            self.queue.push(summary_record(summary));
        }
    }

    fn offer(&self, event: &tracing::Event<'_>) {
        let record = Record::capture(event, SHARD.with(Cell::get));
        // Only rejections and failures are summarised; the normal life of connections and
        // rooms (info and below) is always written.
        if record.level > Level::WARN {
            self.queue.push(record);
            return;
        }
        let key = (
            event.metadata().callsite(),
            record.client_ip().unwrap_or_default().to_owned(),
        );
        let check = FLOOD.with(|f| f.borrow_mut().check(Instant::now(), key, record));
        if let Check::Keep(record, summary) = check {
            if let Some(summary) = summary {
                self.queue.push(summary_record(summary));
            }
            self.queue.push(record);
        }
    }
}

impl<S: Subscriber> Layer<S> for QueueLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        self.offer(event);
    }
}

/// The record that stands for the records a window held back: the first one's level, target
/// and fields, with `suppressed` and `of` (the held-back records' message) in front.
pub fn summary_record(summary: Summary<Record>) -> Record {
    let secs = summary.over.as_secs_f64().ceil() as u64;
    let n = summary.suppressed;
    match summary.sample {
        Some(sample) => {
            let mut record = Record::new(
                sample.level,
                sample.target,
                format!("{n} similar records suppressed in the last {secs} s"),
            )
            .with("suppressed", Value::U64(n))
            .with("of", Value::Str(sample.message));
            record.shard = sample.shard;
            record.fields.extend(sample.fields);
            record
        }
        None => {
            let mut record = Record::new(
                Level::WARN,
                "signal_fish_server::log",
                format!(
                    "{n} records suppressed in the last {secs} s \
                     (from more than {FLOOD_KEYS} client addresses at once)"
                ),
            )
            .with("suppressed", Value::U64(n));
            record.shard = SHARD.with(Cell::get);
            record
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        // Run on a fresh thread so the thread-local count starts at zero.
        std::thread::spawn(|| {
            let (queue, rx) = LogQueue::bounded(2);
            let record = || Record::new(Level::INFO, "t", "m");
            assert!(queue.push(record()));
            assert!(queue.push(record()));
            // Nobody is reading: these return at once instead of waiting for room.
            for _ in 0..1000 {
                assert!(!queue.push(record()));
            }
            assert_eq!(dropped_here(), 1000);
            assert_eq!(rx.len(), 2);
            // Room again: records flow and the count stays.
            rx.recv().unwrap();
            assert!(queue.push(record()));
            assert_eq!(dropped_here(), 1000);
            // A writer that is gone counts as a drop too, never as a wait.
            drop(rx);
            assert!(!queue.push(record()));
            assert_eq!(dropped_here(), 1001);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_summary_keeps_the_kind_and_the_address() {
        let sample = Record::new(
            Level::WARN,
            "signal_fish_server::conn",
            "connection refused",
        )
        .with("client_ip", Value::Str("198.51.100.4".into()))
        .with(
            "limit",
            Value::Str("security.max_connections_per_ip".into()),
        );
        let record = summary_record(Summary {
            sample: Some(sample),
            suppressed: 41,
            over: Duration::from_millis(10_200),
        });
        assert_eq!(
            record.message,
            "41 similar records suppressed in the last 11 s"
        );
        assert_eq!(record.level, Level::WARN);
        assert_eq!(record.target, "signal_fish_server::conn");
        assert_eq!(record.client_ip(), Some("198.51.100.4"));
        assert_eq!(record.fields[0], ("suppressed", Value::U64(41)));
        assert_eq!(
            record.fields[1],
            ("of", Value::Str("connection refused".into()))
        );
    }
}
