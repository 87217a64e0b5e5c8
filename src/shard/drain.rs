//! A shard's side of draining and stopping (decision 20).
//!
//! While draining, the shard answers health checks and WebSocket upgrades with 503 and refuses
//! new rooms (those checks read [`DrainState::is_draining`]), keeps serving the connections it
//! has, and reports to the process how many of its rooms are still in play, so the process can
//! stop as soon as every room is over. On stop, every WebSocket is closed with 1001.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crossbeam_channel::Sender;

use super::Shard;
use super::control::ShardReport;
use super::mailbox::Control;
use crate::protocol::close_code;
use crate::signal::Signal;

/// How long a stopping shard waits for its connections to finish the close handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether the shard drains, and the wake-ups its drain tasks wait on.
#[derive(Default)]
pub struct DrainState {
    draining: Cell<bool>,
    /// Raised after owner work while draining: rooms may have emptied or been deleted.
    rooms_changed: Signal,
    /// Connection tasks running on this shard (HTTP, handshakes and WebSockets alike).
    connections: Cell<usize>,
    /// Raised whenever a connection task ends, for the stop to know when all are closed.
    connection_ended: Signal,
}

impl DrainState {
    /// True from the drain (or stop) on: no new upgrades, no new rooms, health answers 503.
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Marks the shard draining; false if it already was.
    pub(super) fn begin(&self) -> bool {
        !self.draining.replace(true)
    }

    /// Owner work just ran; while draining, the room watcher takes another look.
    pub(super) fn owner_worked(&self) {
        if self.draining.get() {
            self.rooms_changed.raise();
        }
    }
}

/// Held by a connection task from accept to its end, socket closed included: a stopping shard
/// waits for these, not just for sessions to unregister, because a task still finishing its
/// close handshake when the executor ends would leave its socket open and the client waiting.
pub struct LiveConnection(Rc<Shard>);

impl LiveConnection {
    /// Counts a connection task of `shard` until the returned value is dropped.
    pub fn new(shard: &Rc<Shard>) -> Self {
        let drain = &shard.drain;
        drain.connections.set(drain.connections.get() + 1);
        LiveConnection(shard.clone())
    }
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        let drain = &self.0.drain;
        drain
            .connections
            .set(drain.connections.get().saturating_sub(1));
        drain.connection_ended.raise();
    }
}

/// Tells the process this shard's rooms in play now.
pub(super) fn report_rooms(shard: &Shard, reports: &Sender<ShardReport>) -> usize {
    let rooms = shard.rooms_in_play();
    // The process's end lives as long as the server handle; without it nobody is listening.
    let _ = reports.send(ShardReport::RoomsInPlay {
        shard: shard.index,
        rooms,
    });
    rooms
}

/// Reports the shard's rooms in play each time owner work changes their number, from the
/// value already reported (`last`) on. Ends with the shard.
pub(super) async fn watch_rooms(shard: Rc<Shard>, reports: Sender<ShardReport>, mut last: usize) {
    loop {
        shard.drain.rooms_changed.wait().await;
        if shard.rooms_in_play() != last {
            last = report_rooms(&shard, &reports);
        }
    }
}

/// Closes every WebSocket of the shard with 1001 ("going away") and waits until every
/// connection task ended, or `CLOSE_TIMEOUT` passed (a client that never answers the close, or
/// a socket still in its handshake, does not hold the process).
pub(super) async fn close_all(shard: &Shard) {
    shard.drain.draining.set(true);
    shard.control_all_local(Control::Close {
        code: close_code::GOING_AWAY,
        reason: "server shutting down",
    });
    // Members of our rooms on other nodes (cluster mode) are closed alike.
    shard.close_remote_members(close_code::GOING_AWAY, "server shutting down");
    let closed = async {
        while shard.drain.connections.get() > 0 {
            shard.drain.connection_ended.wait().await;
        }
    };
    let _ = glommio::timer::timeout(CLOSE_TIMEOUT, async {
        closed.await;
        Ok(())
    })
    .await;
}
