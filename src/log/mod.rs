//! Logging (decision 21): structured records that never make a shard wait.
//!
//! Why `tracing` with a layer of our own:
//! - Call sites use the `tracing` macros (through `events.rs`). A macro compares the level
//!   with a process-wide maximum and a per-call-site cache before it evaluates any field, so a
//!   record that is filtered out costs a load and a branch, and a disabled level nothing more.
//! - `tracing-subscriber`'s `EnvFilter` gives `RUST_LOG` the syntax 0.1.0 accepted.
//! - Its `fmt` layer would format and write on the calling thread, which is the shard. Ours
//!   (`queue.rs`) only copies the fields into an owned [`record::Record`] and offers it to a
//!   bounded `crossbeam-channel` queue with `try_send`; a full queue drops the record and
//!   counts it (`signal_fish_log_records_dropped_total`). One writer thread (`writer.rs`)
//!   formats (`format.rs`), writes to stdout and the file, and rotates (`rotation.rs`).
//! - crossbeam rather than a glommio channel: the receiver is a plain thread, and a shard only
//!   ever `try_send`s, so no executor wake-up is involved.
//!
//! Each server has its own dispatcher, made the default of its shard threads ([`ShardLog`])
//! rather than global, so that several servers in one process (the tests) keep their own
//! settings. Repeated rejections are summarised per shard (`flood.rs`).

pub mod events;
mod filter;
mod flood;
mod format;
mod queue;
mod record;
mod rotation;
mod writer;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use tracing::Dispatch;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::{LogFormat, LoggingConfig};
pub use filter::level_directive;
use queue::{LogQueue, QUEUE_CAPACITY, QueueLayer};
use rotation::RollingFile;
use writer::{Sinks, Writer};

/// A server's logging: its dispatcher and writer thread.
pub struct Logging {
    dispatch: Dispatch,
    writer: Option<Writer>,
    /// The filter in force, as `RUST_LOG` would spell it.
    filter: String,
    /// Why `RUST_LOG` was ignored, reported once the server runs.
    ignored_rust_log: Option<String>,
    /// The file records for now go to, when file logging is on and works.
    file: Option<PathBuf>,
}

impl Logging {
    /// Starts logging as `config` says (`RUST_LOG` is read when `logging.level` is unset).
    /// With everything filtered out no thread starts and no file is created.
    pub fn start(config: &LoggingConfig) -> Logging {
        let ansi = config.format == LogFormat::Text
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none();
        Logging::start_to(config, Box::new(std::io::stdout()), ansi)
    }

    /// [`Logging::start`] with the console copy going to `console` (coloured if `ansi` and
    /// the format is text) instead of stdout.
    pub fn start_to(
        config: &LoggingConfig,
        console: Box<dyn std::io::Write + Send>,
        ansi: bool,
    ) -> Logging {
        let rust_log = std::env::var("RUST_LOG").ok();
        let chosen = filter::choose(config.level.as_deref(), rust_log.as_deref());
        let filter_text = chosen.filter.to_string();
        let (queue, records) = LogQueue::bounded(QUEUE_CAPACITY);
        let mut file_path = None;
        let mut writer = None;
        if chosen.filter.max_level_hint() != Some(LevelFilter::OFF) {
            let now = chrono::Utc::now();
            let file = config
                .enable_file_logging
                .then(|| {
                    let dir = PathBuf::from(&config.dir);
                    match RollingFile::open(&dir, &config.filename, config.rotation, now) {
                        Ok(file) => Some(file),
                        Err(err) => {
                            eprintln!(
                                "Failed to create log directory '{}', continuing with stdout \
                                 logs ({err})",
                                config.dir
                            );
                            None
                        }
                    }
                })
                .flatten();
            file_path = file.as_ref().map(|f| f.path_at(now));
            // Colours only where a person reads them (0.1.0 coloured even pipes).
            let ansi = ansi && config.format == LogFormat::Text;
            let sinks = Sinks {
                format: config.format,
                console: Some((console, ansi)),
                file,
            };
            match Writer::spawn(records, sinks) {
                Ok(w) => writer = Some(w),
                Err(err) => eprintln!("Cannot start the log writer thread ({err}); no logs"),
            }
        }
        let subscriber = Registry::default()
            .with(chosen.filter)
            .with(QueueLayer::new(queue));
        Logging {
            dispatch: Dispatch::new(subscriber),
            writer,
            filter: filter_text,
            ignored_rust_log: chosen.ignored_rust_log,
            file: file_path,
        }
    }

    /// The filter in force, as `RUST_LOG` would spell it.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The log file in use now, if any.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Runs `f` with this server's logging as the current thread's (for records from outside
    /// the shards: start and stop).
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// Reports a `RUST_LOG` that could not be used (once, from the thread that starts the
    /// server).
    pub fn report_filter(&self) {
        if let Some(why) = &self.ignored_rust_log {
            self.scope(|| events::filter_ignored(why));
        }
    }

    /// What a shard thread needs to log through this server.
    pub fn for_shard(&self, index: u32) -> ShardLog {
        ShardLog {
            dispatch: self.dispatch.clone(),
            index,
        }
    }

    /// Writes everything queued, flushes, and stops the writer thread. Call after the shards
    /// stopped; later records are dropped.
    pub fn close(self) {
        if let Some(writer) = self.writer {
            writer.close();
        }
    }
}

/// A shard's entry into its server's logging.
#[derive(Clone)]
pub struct ShardLog {
    dispatch: Dispatch,
    index: u32,
}

impl ShardLog {
    /// Runs the shard's future with this logging as its thread's default and the shard index
    /// stamped on its records. Call on the shard's own thread.
    pub async fn run<F: Future>(self, shard: F) -> F::Output {
        let _default = tracing::dispatcher::set_default(&self.dispatch);
        queue::set_shard(Some(self.index));
        let output = shard.await;
        // Floods still being counted are summarised now rather than lost.
        if let Some(layer) = self.dispatch.downcast_ref::<QueueLayer>() {
            layer.tick(Instant::now(), true);
        }
        queue::set_shard(None);
        output
    }
}

/// Records the current thread (shard) dropped because the writer's queue was full.
pub fn dropped_records() -> u64 {
    queue::dropped_here()
}

/// Writes the flood summaries of the current shard whose windows are over. The shard's sweep
/// calls it about once a second.
pub fn tick() {
    tracing::dispatcher::get_default(|dispatch| {
        if let Some(layer) = dispatch.downcast_ref::<QueueLayer>() {
            layer.tick(Instant::now(), false);
        }
    });
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use tracing::Level;

    use super::queue::FLOOD_BURST;
    use super::*;

    #[test]
    fn shard_records_carry_the_shard_and_rejections_are_summarised() {
        // A fresh thread: the flood limiter and the shard index are per thread.
        std::thread::spawn(|| {
            let (queue, records) = LogQueue::bounded(1000);
            let subscriber = Registry::default()
                .with(filter::choose(Some("info"), None).filter)
                .with(QueueLayer::new(queue));
            let shard = ShardLog {
                dispatch: Dispatch::new(subscriber),
                index: 3,
            };
            let flooder = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
            let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
            futures_lite::future::block_on(shard.run(async {
                tracing::debug!("below the filter");
                for _ in 0..50 {
                    events::limit_reached(Some(flooder), "security.max_connections_per_ip", "x");
                }
                events::limit_reached(Some(other), "security.max_connections_per_ip", "x");
                // The normal life of connections is never summarised.
                for conn in 0..50 {
                    events::connection_opened(flooder, conn);
                }
            }));
            let records: Vec<_> = records.try_iter().collect();
            let warnings = |ip: &str| {
                records
                    .iter()
                    .filter(|r| r.level == Level::WARN && r.client_ip() == Some(ip))
                    .count()
            };
            assert_eq!(warnings("198.51.100.1"), FLOOD_BURST as usize + 1);
            assert_eq!(warnings("198.51.100.2"), 1);
            // The held-back rest became one summary when the shard stopped.
            let summary = records
                .iter()
                .find(|r| r.message.contains("similar records suppressed"))
                .expect("a summary");
            assert_eq!(summary.client_ip(), Some("198.51.100.1"));
            assert!(
                summary
                    .fields
                    .contains(&("suppressed", record::Value::U64(45)))
            );
            let opened = records.iter().filter(|r| r.message == "connection opened");
            assert_eq!(opened.count(), 50);
            assert!(records.iter().all(|r| r.shard == Some(3)));
            assert!(!records.iter().any(|r| r.message == "below the filter"));
        })
        .join()
        .unwrap();
    }
}
