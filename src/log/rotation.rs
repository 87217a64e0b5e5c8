//! The log file and its rotation (operations.md §7): `<dir>/<filename>.YYYY-MM-DD` (daily),
//! `<filename>.YYYY-MM-DD-HH` (hourly) or `<filename>` (never), by UTC time. A new period
//! opens a new file; old files are left alone (no retention). Only the writer thread uses it;
//! the time is passed in.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::LogRotation;

/// The file name for records written at `at`.
pub fn file_name(base: &str, rotation: LogRotation, at: DateTime<Utc>) -> String {
    match rotation {
        LogRotation::Daily => format!("{base}.{}", at.format("%Y-%m-%d")),
        LogRotation::Hourly => format!("{base}.{}", at.format("%Y-%m-%d-%H")),
        LogRotation::Never => base.to_owned(),
    }
}

/// An append-only log file that moves to a new file when the period changes.
pub struct RollingFile {
    dir: PathBuf,
    base: String,
    rotation: LogRotation,
    /// The open file and its name.
    current: Option<(String, BufWriter<File>)>,
}

impl RollingFile {
    /// Creates `dir` if missing and opens the file for `now`, so an unusable directory is
    /// reported at start rather than at the first record.
    pub fn open(
        dir: &Path,
        base: &str,
        rotation: LogRotation,
        now: DateTime<Utc>,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut file = RollingFile {
            dir: dir.to_owned(),
            base: base.to_owned(),
            rotation,
            current: None,
        };
        file.roll(now)?;
        Ok(file)
    }

    /// The path records written at `now` go to.
    pub fn path_at(&self, now: DateTime<Utc>) -> PathBuf {
        self.dir.join(file_name(&self.base, self.rotation, now))
    }

    /// Appends `bytes` to the file for `now`.
    pub fn write(&mut self, now: DateTime<Utc>, bytes: &[u8]) -> io::Result<()> {
        let file = self.roll(now)?;
        file.write_all(bytes)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.current {
            Some((_, file)) => file.flush(),
            None => Ok(()),
        }
    }

    /// The writer for `now`'s period, opening it (and flushing the last one) when it changed.
    fn roll(&mut self, now: DateTime<Utc>) -> io::Result<&mut BufWriter<File>> {
        let name = file_name(&self.base, self.rotation, now);
        if self.current.as_ref().is_none_or(|(open, _)| *open != name) {
            if let Some((_, mut old)) = self.current.take() {
                old.flush()?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(&name))?;
            self.current = Some((name, BufWriter::with_capacity(64 << 10, file)));
        }
        match &mut self.current {
            Some((_, file)) => Ok(file),
            None => Err(io::Error::other("log file not open")),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, min, 0).unwrap()
    }

    #[test]
    fn names_follow_the_rotation_in_utc() {
        let t = at(1, 9, 30);
        assert_eq!(
            file_name("server.log", LogRotation::Daily, t),
            "server.log.2026-12-01"
        );
        assert_eq!(
            file_name("server.log", LogRotation::Hourly, t),
            "server.log.2026-12-01-09"
        );
        assert_eq!(file_name("server.log", LogRotation::Never, t), "server.log");
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap_or_default()
    }

    #[test]
    fn a_new_period_opens_a_new_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/logs");
        let mut file = RollingFile::open(&dir, "s.log", LogRotation::Hourly, at(1, 9, 0)).unwrap();
        file.write(at(1, 9, 10), b"a\n").unwrap();
        file.write(at(1, 9, 59), b"b\n").unwrap();
        file.write(at(1, 10, 0), b"c\n").unwrap();
        file.flush().unwrap();
        assert_eq!(read(&dir, "s.log.2026-12-01-09"), "a\nb\n");
        assert_eq!(read(&dir, "s.log.2026-12-01-10"), "c\n");
        assert_eq!(file.path_at(at(2, 0, 0)), dir.join("s.log.2026-12-02-00"));
    }

    #[test]
    fn daily_and_never_keep_appending() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut daily = RollingFile::open(dir, "d.log", LogRotation::Daily, at(1, 0, 0)).unwrap();
        daily.write(at(1, 0, 0), b"1\n").unwrap();
        daily.write(at(1, 23, 59), b"2\n").unwrap();
        daily.write(at(2, 0, 1), b"3\n").unwrap();
        daily.flush().unwrap();
        assert_eq!(read(dir, "d.log.2026-12-01"), "1\n2\n");
        assert_eq!(read(dir, "d.log.2026-12-02"), "3\n");

        let mut never = RollingFile::open(dir, "n.log", LogRotation::Never, at(1, 0, 0)).unwrap();
        never.write(at(1, 0, 0), b"x\n").unwrap();
        never.write(at(9, 0, 0), b"y\n").unwrap();
        never.flush().unwrap();
        drop(never);
        // Reopening appends rather than truncating.
        let mut again = RollingFile::open(dir, "n.log", LogRotation::Never, at(9, 0, 0)).unwrap();
        again.write(at(9, 0, 0), b"z\n").unwrap();
        again.flush().unwrap();
        assert_eq!(read(dir, "n.log"), "x\ny\nz\n");
    }

    #[test]
    fn an_unusable_directory_is_an_error_at_open() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, b"").unwrap();
        assert!(
            RollingFile::open(
                &blocker.join("logs"),
                "s.log",
                LogRotation::Daily,
                at(1, 0, 0)
            )
            .is_err()
        );
    }
}
