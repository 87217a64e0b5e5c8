//! The shard's periodic sweep: closes connections that went silent (decision 9) or never
//! authenticated in time, and every `server.room_cleanup_interval` prunes the rate-limit windows
//! (per-IP room creations and joins, per-(app, IP) `Authenticate`) that only grow between
//! purges. Runs in a low-priority queue; it only queues controls. Rooms and kept seats are not
//! swept: the owner's own timer expires them at their deadlines (`timer.rs`).

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::Shard;
use super::mailbox::Control;
use crate::protocol::{ErrorCode, ServerMessage, close_code};

/// How often the sweep runs for a given ping timeout: often enough that a silent connection is
/// closed within a quarter of the timeout past it, and at least once a second.
pub fn sweep_period(ping_timeout: Duration) -> Duration {
    (ping_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// Sweeps until the shard stops (the task is dropped with the executor).
pub async fn run(shard: Rc<Shard>) {
    let ping_timeout = Duration::from_secs(shard.config.server.ping_timeout);
    let auth_timeout = shard.config.websocket.auth_timeout_secs;
    let period = sweep_period(ping_timeout);
    let mut last_purge = Instant::now();
    let cleanup = Duration::from_secs(shard.config.server.room_cleanup_interval);
    loop {
        glommio::timer::sleep(period).await;
        let now = Instant::now();
        crate::log::tick();
        if now.duration_since(last_purge) >= cleanup {
            last_purge = now;
            shard.app_limiter.borrow_mut().purge(now);
            let window = Duration::from_secs(shard.config.rate_limit.time_window);
            shard.ips.borrow_mut().purge(now, window);
        }
        for mailbox in shard.mailboxes() {
            if mailbox
                .auth_deadline
                .get()
                .is_some_and(|deadline| now >= deadline)
            {
                mailbox.auth_deadline.set(None);
                mailbox.push_frame(super::text_frame(&ServerMessage::error(
                    format!(
                        "Authentication timeout - must authenticate within {auth_timeout} seconds"
                    ),
                    ErrorCode::AuthenticationTimeout,
                )));
                mailbox.push_control(Control::Close {
                    code: close_code::POLICY_VIOLATION,
                    reason: "authentication timeout",
                });
            } else if now.duration_since(mailbox.last_seen.get()) > ping_timeout {
                // Push the last-seen time forward so one silent connection is told once.
                mailbox.last_seen.set(now);
                shard.metrics.count(|c| c.expired_players_cleaned += 1);
                mailbox.push_control(Control::Close {
                    code: close_code::POLICY_VIOLATION,
                    reason: "ping timeout",
                });
            }
            glommio::yield_if_needed().await;
        }
    }
}
