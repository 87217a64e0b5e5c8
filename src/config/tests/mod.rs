//! Unit tests of configuration loading and validation. No test reads the process environment
//! or the process working directory.

mod defaults;
mod env;
mod loading;
mod validation;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::load::{Loaded, load_sources};
use super::{Config, ConfigError};

/// Owned env pairs from literals.
pub(super) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A fresh directory removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "signal-fish-config-test-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` in the directory and returns its path.
    pub(super) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads with `env` from an empty directory.
pub(super) fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = TempDir::new();
    Config::load_from(&vars(pairs), dir.path())
}

/// Loads with `env` from an empty directory, keeping the warnings.
pub(super) fn load_report(pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let dir = TempDir::new();
    load_sources(&vars(pairs), dir.path(), None)
}

/// The error text of a failed load; panics on success.
pub(super) fn load_err(pairs: &[(&str, &str)]) -> String {
    match load_env(pairs) {
        Ok(_) => panic!("expected {pairs:?} to fail"),
        Err(e) => e.to_string(),
    }
}
