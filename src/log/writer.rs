//! The writer thread: takes records off the queue, formats them, writes them to stdout and the
//! log file, rotates the file, and flushes once per batch (whatever was queued when it woke).
//! It is the only place logging does I/O, so a slow disk or a stalled terminal holds up this
//! thread and fills the queue, never a shard.

use std::io::{self, Write};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::Utc;
use crossbeam_channel::{Receiver, Sender, select};

use super::format::write_line;
use super::record::Record;
use super::rotation::RollingFile;
use crate::config::LogFormat;

/// How long the writer rests after a batch before it waits for records again. While it rests
/// nobody waits on the queue, so a shard's `try_send` never has to wake a thread: under a
/// stream of records the writer wakes at most 1/`BATCH_PAUSE` times a second instead of once
/// per record (each wake-up a futex call and, on a busy core, a context switch taken from the
/// shard). A lone record still goes out at once. The queue holds far more than a pause's worth.
const BATCH_PAUSE: Duration = Duration::from_millis(20);

/// Where lines go.
pub struct Sinks {
    pub format: LogFormat,
    /// The console stream and whether it gets ANSI colours (text format on a terminal).
    pub console: Option<(Box<dyn Write + Send>, bool)>,
    pub file: Option<RollingFile>,
}

impl Sinks {
    /// Formats `record`: the console copy into `batch` (written with one call at the next
    /// flush; stdout is line-buffered, which would mean one system call per record), the file
    /// copy into the file's buffer.
    fn write(&mut self, record: &Record, line: &mut Vec<u8>, batch: &mut Vec<u8>) {
        if let Some((_, ansi)) = &self.console {
            write_line(batch, record, self.format, *ansi);
        }
        if let Some(file) = &mut self.file {
            line.clear();
            write_line(line, record, self.format, false);
            if let Err(err) = file.write(Utc::now(), line) {
                self.file_failed(&err);
            }
        }
    }

    fn flush(&mut self, batch: &mut Vec<u8>) {
        if let Some((out, _)) = &mut self.console {
            // A closed stdout (say a pipe whose reader left) must not stop the file copy.
            let _ = out.write_all(batch);
            let _ = out.flush();
        }
        batch.clear();
        if let Some(file) = &mut self.file
            && let Err(err) = file.flush()
        {
            self.file_failed(&err);
        }
    }

    /// The file went bad (disk full, removed directory…): say so once and keep the console.
    fn file_failed(&mut self, err: &io::Error) {
        eprintln!("Writing the log file failed ({err}); continuing with stdout logs");
        self.file = None;
    }
}

/// The running writer thread.
pub struct Writer {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Writer {
    /// Starts the thread reading `records`.
    pub fn spawn(records: Receiver<Record>, sinks: Sinks) -> io::Result<Writer> {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("signal-fish-log".to_owned())
            .spawn(move || run(records, stopped, sinks))?;
        Ok(Writer { stop, thread })
    }

    /// Writes what is queued, flushes and ends the thread. Records offered later are dropped
    /// (and counted).
    pub fn close(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

fn run(records: Receiver<Record>, stop: Receiver<()>, mut sinks: Sinks) {
    let mut line = Vec::with_capacity(512);
    let mut batch = Vec::with_capacity(64 << 10);
    loop {
        select! {
            recv(records) -> record => match record {
                Ok(record) => {
                    sinks.write(&record, &mut line, &mut batch);
                    // Everything that queued meanwhile goes out with one flush.
                    while let Ok(record) = records.try_recv() {
                        sinks.write(&record, &mut line, &mut batch);
                    }
                    sinks.flush(&mut batch);
                    std::thread::sleep(BATCH_PAUSE);
                }
                // Every sender is gone.
                Err(_) => break,
            },
            recv(stop) -> signal => {
                if signal.is_err() {
                    // The handle was dropped without `close`: serve until the senders go.
                    for record in records.iter() {
                        sinks.write(&record, &mut line, &mut batch);
                        sinks.flush(&mut batch);
                    }
                    break;
                }
                while let Ok(record) = records.try_recv() {
                    sinks.write(&record, &mut line, &mut batch);
                }
                break;
            }
        }
    }
    sinks.flush(&mut batch);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::Level;

    use super::super::queue::LogQueue;
    use super::*;

    /// A console that tests can read.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn close_writes_everything_queued_to_console_and_file() {
        let tmp = tempfile::tempdir().unwrap();
        let console = Shared::default();
        let file = RollingFile::open(
            tmp.path(),
            "w.log",
            crate::config::LogRotation::Never,
            Utc::now(),
        )
        .unwrap();
        let (queue, rx) = LogQueue::bounded(100);
        let sinks = Sinks {
            format: LogFormat::Text,
            console: Some((Box::new(console.clone()), true)),
            file: Some(file),
        };
        let writer = Writer::spawn(rx, sinks).unwrap();
        for i in 0..50 {
            assert!(queue.push(Record::new(Level::INFO, "t", format!("record {i}"))));
        }
        writer.close();
        let file = std::fs::read_to_string(tmp.path().join("w.log")).unwrap();
        assert_eq!(file.lines().count(), 50);
        assert!(file.lines().last().unwrap().ends_with("record 49"));
        assert!(!file.contains('\x1b'), "the file copy is never coloured");
        let console = String::from_utf8(console.0.lock().unwrap().clone()).unwrap();
        assert_eq!(console.lines().count(), 50);
        assert!(console.contains('\x1b'));
        // The writer is gone: a record now is dropped, not queued forever.
        assert!(!queue.push(Record::new(Level::INFO, "t", "late")));
    }
}
