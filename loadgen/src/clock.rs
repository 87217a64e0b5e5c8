//! Clocks. Send timestamps are `CLOCK_MONOTONIC` nanoseconds, which is one clock for the whole
//! machine, so a message sent by one process and received by another is timed correctly.

use std::time::Duration;

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and both clock ids exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CLOCK_MONOTONIC` in nanoseconds (system-wide; the clock `std::time::Instant` uses).
pub fn mono_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// CPU time consumed by the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    read(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Time left until the monotonic instant `deadline_ns` (zero when it has passed).
pub fn until(deadline_ns: u64) -> Duration {
    Duration::from_nanos(deadline_ns.saturating_sub(mono_ns()))
}

/// Blocks the calling (non-executor) thread until `deadline_ns`.
pub fn sleep_until(deadline_ns: u64) {
    let left = until(deadline_ns);
    if !left.is_zero() {
        std::thread::sleep(left);
    }
}

/// Seconds to nanoseconds.
pub fn secs_ns(secs: f64) -> u64 {
    (secs.max(0.0) * 1e9) as u64
}
