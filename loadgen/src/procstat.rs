//! The server's resident memory and CPU time, read from `/proc/<pid>`.

use std::fs;

/// One reading of a process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// `VmRSS` in KiB.
    pub rss_kb: u64,
    /// utime + stime in seconds.
    pub cpu_s: f64,
    /// When it was taken (`CLOCK_MONOTONIC` ns).
    pub at_ns: u64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`; `None` if the process is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: count fields after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3 overall, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(Sample {
        rss_kb,
        cpu_s: (utime + stime) as f64 / ticks,
        at_ns: crate::clock::mono_ns(),
    })
}

/// The sum over several processes (the nodes of a cluster): RSS and CPU time added up;
/// `None` without processes or when any of them is gone.
pub fn sample_all(pids: &[u32]) -> Option<Sample> {
    let mut total: Option<Sample> = None;
    for &pid in pids {
        let one = sample(pid)?;
        total = Some(match total {
            None => one,
            Some(t) => Sample {
                rss_kb: t.rss_kb + one.rss_kb,
                cpu_s: t.cpu_s + one.cpu_s,
                at_ns: one.at_ns,
            },
        });
    }
    total
}

/// Busy CPU time of the whole machine (all CPUs), in seconds, from `/proc/stat`.
pub fn machine_busy_s() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait,
    // without guest time (already counted in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((total - idle) as f64 / ticks)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_process() {
        let s = super::sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kb > 0);
        assert!(s.cpu_s >= 0.0);
        assert!(super::machine_busy_s().is_some());
        let me = std::process::id();
        let twice = super::sample_all(&[me, me]).expect("own /proc entry");
        assert!(twice.cpu_s >= 2.0 * s.cpu_s && twice.rss_kb > s.rss_kb);
        assert!(super::sample_all(&[]).is_none());
    }
}
