//! The owner machine's one timer, driven in quinn-proto's manner: a task sleeps until the
//! owner's `poll_timeout()`, calls `handle_timeout(now)`, routes the outputs and sleeps again.
//! After every batch of owner commands the driver hands the owner's new earliest deadline to
//! [`OwnerTimer::rearm`], which wakes the task only when that deadline comes before the one it
//! sleeps for. A deadline that moves later is not chased: the task wakes at the old time, finds
//! nothing due and sleeps until the new one.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use super::Shard;
use crate::signal::Signal;

/// What the timer task is armed for, and the flag that makes it look again.
#[derive(Default)]
pub struct OwnerTimer {
    /// The instant the task sleeps until; `None` while the owner has no deadline.
    armed: Cell<Option<Instant>>,
    /// Raised when an earlier deadline appears.
    moved: Signal,
}

impl OwnerTimer {
    /// Takes the owner's earliest deadline after a batch of commands: re-arms the task if it
    /// comes first. Cheap when nothing changed, which is the relay path's case.
    pub fn rearm(&self, next: Option<Instant>) {
        if let Some(next) = next
            && self.armed.get().is_none_or(|at| next < at)
        {
            self.armed.set(Some(next));
            self.moved.raise();
        }
    }
}

/// Expires the owner's due rooms and seats, at their deadlines, until the shard stops (the task
/// is dropped with the executor).
pub async fn run(shard: Rc<Shard>) {
    loop {
        let timer = &shard.timer;
        match timer.armed.get() {
            Some(at) => {
                let sleep =
                    glommio::timer::Timer::new(at.saturating_duration_since(Instant::now()));
                futures_lite::future::or(
                    async {
                        sleep.await;
                    },
                    timer.moved.wait(),
                )
                .await;
            }
            None => timer.moved.wait().await,
        }
        let next = shard.expire_rooms(Instant::now());
        shard.timer.armed.set(next);
    }
}
