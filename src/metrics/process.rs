//! The standard Prometheus process collector's families (`process_*`, as the Go and Rust
//! clients name and type them) and `signal_fish_build_info`.
//!
//! Process figures are read from `/proc/self` at scrape time with the `procfs` crate (the one
//! the `prometheus` crate's own collector uses). They belong to the whole process, so the
//! scraping shard reads them once rather than asking every shard. A scrape costs a handful of
//! small reads: the open-fd count is one `stat` of `/proc/self/fd` on Linux ≥ 6.2 (its size is
//! the count), a directory walk before that.

use std::fmt::Write as _;
use std::sync::OnceLock;

/// The wire this server speaks: `signal-fish-server` 0.1.0's (spec, rule 1).
pub const WIRE_VERSION: &str = "0.1.0";

/// Process figures at one instant. A field is `None` when it could not be read (its family is
/// then left out, as the standard collectors do, rather than reported as a false 0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    pub open_fds: Option<u64>,
    /// The soft `RLIMIT_NOFILE`: what the process may actually open.
    pub max_fds: Option<u64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    /// User plus system CPU time.
    pub cpu_seconds: Option<f64>,
    /// Unix time the process started, in seconds.
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads this process's figures now.
    pub fn read() -> Self {
        let me = procfs::process::Process::myself().ok();
        let stat = me.as_ref().and_then(|p| p.stat().ok());
        let ticks = procfs::ticks_per_second();
        let per_tick = |t: u64| (ticks > 0).then(|| t as f64 / ticks as f64);
        ProcessStats {
            open_fds: me
                .as_ref()
                .and_then(|p| p.fd_count().ok())
                .map(|n| n as u64),
            max_fds: rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft),
            resident_memory_bytes: stat
                .as_ref()
                .map(|s| s.rss.saturating_mul(procfs::page_size())),
            virtual_memory_bytes: stat.as_ref().map(|s| s.vsize),
            cpu_seconds: stat
                .as_ref()
                .and_then(|s| per_tick(s.utime.saturating_add(s.stime))),
            start_time_seconds: start_time_seconds(stat.as_ref(), ticks),
        }
    }
}

/// Boot time plus the start offset; constant for the process, so worked out once (a failed
/// reading is tried again at the next scrape).
fn start_time_seconds(stat: Option<&procfs::process::Stat>, ticks: u64) -> Option<f64> {
    static START: OnceLock<f64> = OnceLock::new();
    if let Some(start) = START.get() {
        return Some(*start);
    }
    let boot = procfs::boot_time_secs().ok()?;
    let since_boot = stat?.starttime as f64 / (ticks > 0).then_some(ticks)? as f64;
    Some(*START.get_or_init(|| boot as f64 + since_boot))
}

/// What this binary is, for `signal_fish_build_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    pub wire_version: &'static str,
    /// `rustc -V` of the compiler that built it (from `build.rs`).
    pub rustc: &'static str,
    /// Short commit id, when built from a git checkout.
    pub git_sha: Option<&'static str>,
}

impl BuildInfo {
    /// This binary's.
    pub const fn current() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION"),
            wire_version: WIRE_VERSION,
            rustc: env!("SIGNAL_FISH_RUSTC"),
            git_sha: option_env!("SIGNAL_FISH_GIT_SHA"),
        }
    }
}

/// Appends the `process_*` families and `signal_fish_build_info` in the text format 0.0.4.
#[rustfmt::skip]
pub fn render_process(out: &mut String, stats: &ProcessStats, build: &BuildInfo) {
    // `fmt::Write` into a `String` cannot fail. f64 Display never uses exponent notation.
    let int = |v: Option<u64>| v.map(|v| v.to_string());
    let float = |v: Option<f64>| v.map(|v| v.to_string());
    for (name, kind, help, value) in [
        ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", float(stats.cpu_seconds)),
        ("process_open_fds", "gauge", "Number of open file descriptors.", int(stats.open_fds)),
        ("process_max_fds", "gauge", "Maximum number of open file descriptors.", int(stats.max_fds)),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", int(stats.virtual_memory_bytes)),
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", int(stats.resident_memory_bytes)),
        ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", float(stats.start_time_seconds)),
    ] {
        if let Some(value) = value {
            header(out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
    let name = "signal_fish_build_info";
    header(out, name, "gauge", "Always 1; the labels say which server version this is, the wire version it speaks, the compiler and the commit.");
    let _ = write!(
        out,
        "{name}{{version=\"{}\",wire_version=\"{}\",rustc=\"{}\"",
        escape(build.version),
        escape(build.wire_version),
        escape(build.rustc),
    );
    if let Some(sha) = build.git_sha {
        let _ = write!(out, ",git_sha=\"{}\"", escape(sha));
    }
    let _ = writeln!(out, "}} 1");
}

/// Appends `signal_fish_draining`: 1 from a drain (`server.drain_grace_secs`) or stop on, so an
/// alert can catch a drain that never ends. Every shard drains together, so the scraping
/// shard's own state is the process's.
pub fn render_draining(out: &mut String, draining: bool) {
    let name = "signal_fish_draining";
    header(
        out,
        name,
        "gauge",
        "1 while the server drains before stopping (health answers 503, no new rooms), else 0.",
    );
    let _ = writeln!(out, "{name} {}", u8::from(draining));
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (text format 0.0.4: backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn reads_this_process() {
        let stats = ProcessStats::read();
        let open = stats.open_fds.expect("open fds");
        // stdin, stdout, stderr at least, and never more than the limit allows.
        assert!(open >= 3, "{open}");
        assert!(stats.max_fds.expect("max fds") >= open);
        let rss = stats.resident_memory_bytes.expect("rss");
        assert!(rss > 0);
        assert!(stats.virtual_memory_bytes.expect("vsize") >= rss);
        assert!(stats.cpu_seconds.expect("cpu") >= 0.0);
        let started = stats.start_time_seconds.expect("start time");
        let now = chrono::Utc::now().timestamp() as f64;
        // This test process started a moment ago (allow for a clock tick of rounding).
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
    }

    #[test]
    fn renders_standard_names_and_escaped_build_labels() {
        let stats = ProcessStats {
            open_fds: Some(12),
            max_fds: Some(1_048_576),
            resident_memory_bytes: Some(5_000_000),
            virtual_memory_bytes: Some(90_000_000),
            cpu_seconds: Some(1.25),
            start_time_seconds: Some(1_764_600_000.5),
        };
        let build = BuildInfo {
            version: "0.2.0",
            wire_version: WIRE_VERSION,
            rustc: "rustc 1.95.0 \"x\"\\",
            git_sha: Some("abc123"),
        };
        let mut text = String::new();
        render_process(&mut text, &stats, &build);
        assert_eq!(
            sample_lines(&text),
            [
                "process_cpu_seconds_total 1.25",
                "process_open_fds 12",
                "process_max_fds 1048576",
                "process_virtual_memory_bytes 90000000",
                "process_resident_memory_bytes 5000000",
                "process_start_time_seconds 1764600000.5",
                r#"signal_fish_build_info{version="0.2.0",wire_version="0.1.0",rustc="rustc 1.95.0 \"x\"\\",git_sha="abc123"} 1"#,
            ]
        );
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
        assert!(text.contains("# TYPE signal_fish_build_info gauge\n"));
    }

    #[test]
    fn unreadable_figures_are_left_out() {
        let build = BuildInfo {
            git_sha: None,
            ..BuildInfo::current()
        };
        let mut text = String::new();
        render_process(&mut text, &ProcessStats::default(), &build);
        assert!(!text.contains("process_"));
        let info = sample_lines(&text);
        assert_eq!(info.len(), 1);
        assert!(!info[0].contains("git_sha"));
        assert!(info[0].contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))));
    }

    #[test]
    fn build_info_names_this_build() {
        let build = BuildInfo::current();
        assert_eq!(build.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(build.wire_version, "0.1.0");
        assert!(build.rustc.starts_with("rustc "), "{}", build.rustc);
    }
}
