//! Sweeping the directory entries of a node that is gone: its rooms died with its process,
//! and entries naming them would send joiners to nowhere until the code was reused.
//!
//! Every node hears every `Gone` and sweeps: the sweep is idempotent (`Directory::sweep`),
//! and no node has to be elected to do it. It runs on the bridge, never on a shard.
//!
//! A `Gone` may be wrong: this node may only have heard nothing (its own link was down, or
//! its watch had not caught up after NATS came back). Sweeping a live node's entries would
//! leave its rooms unfindable, so a sweep is skipped while our NATS connection is down, and
//! otherwise waits a heartbeat interval and more: a live node puts its liveness key in that
//! time, and a node whose key moved since the `Gone` (same process) is left alone. That
//! check is made again after each batch of entries is read and before they go, so a node
//! coming back during the sweep stops it. A node back from an outage always puts its liveness
//! key before it puts its rooms back (`nats_state.rs`, `DirectoryRequest::Register`), so an
//! entry it wrote again is never swept: seeing the key unmoved after reading an entry proves
//! the entry is the old one.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_nats::jetstream::kv::{Operation, Store};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::directory::{CALL_TIMEOUT, Directory};
use super::liveness::Beat;
use super::nats_state::NatsUp;
use super::stats::ClusterStats;

/// Slack on top of the heartbeat interval before a sweep starts.
const SETTLE_SLACK: Duration = Duration::from_secs(1);

/// A node process whose entries should go.
#[derive(Debug, Clone)]
pub(crate) struct Departed {
    pub node: String,
    pub instance: Uuid,
}

/// Sweeps for each departed node `gone` brings, each on its own task, until the bridge stops.
pub(crate) async fn sweeper(
    mut gone: mpsc::UnboundedReceiver<Departed>,
    directory: Directory,
    nodes: Store,
    heartbeat: Duration,
    up: NatsUp,
    stats: Arc<ClusterStats>,
) {
    // Dropped with this task when the bridge stops, which ends the sweeps under way.
    let mut sweeps = tokio::task::JoinSet::new();
    while let Some(departed) = gone.recv().await {
        let (directory, nodes, up, stats) =
            (directory.clone(), nodes.clone(), up.clone(), stats.clone());
        sweeps.spawn(async move {
            sweep_one(
                departed,
                &directory,
                &nodes,
                heartbeat + SETTLE_SLACK,
                &up,
                &stats,
            )
            .await;
        });
        while sweeps.try_join_next().is_some() {}
    }
}

async fn sweep_one(
    Departed { node, instance }: Departed,
    directory: &Directory,
    nodes: &Store,
    settle: Duration,
    up: &NatsUp,
    stats: &ClusterStats,
) {
    let skip = |why| super::events::sweep_skipped(&node, why);
    if !up.get() {
        return skip("NATS connection down");
    }
    let Some(before) = key_of(nodes, &node).await else {
        return skip("its liveness key is unreadable");
    };
    tokio::time::sleep(settle).await;
    let still_gone = || async {
        up.get()
            && key_of(nodes, &node)
                .await
                .is_some_and(|now| !alive_since(&before, &now, instance))
    };
    if !still_gone().await {
        return skip("it is alive, or NATS is away");
    }
    match directory.sweep(&node, instance, still_gone).await {
        Ok(swept) => {
            stats.directory_swept.fetch_add(swept, Relaxed);
            super::events::swept(&node, swept);
        }
        Err(err) => super::events::sweep_failed(&node, &err.to_string()),
    }
}

/// A node's liveness key as read: `(instance, revision)` of its heartbeat, `None` inside when
/// there is none (deleted, expired, unreadable value).
type Key = Option<(Uuid, u64)>;

/// Reads `node`'s liveness key; `None` when NATS did not answer.
async fn key_of(nodes: &Store, node: &str) -> Option<Key> {
    let entry = tokio::time::timeout(CALL_TIMEOUT, nodes.entry(node))
        .await
        .ok()?
        .ok()?;
    Some(
        entry
            .filter(|e| e.operation == Operation::Put)
            .and_then(|e| {
                let beat: Beat = serde_json::from_slice(&e.value).ok()?;
                Some((beat.instance, e.revision))
            }),
    )
}

/// Whether process `instance` has put a heartbeat since `before` was read.
fn alive_since(before: &Key, now: &Key, instance: Uuid) -> bool {
    matches!(now, Some((i, _)) if *i == instance) && now != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_heartbeat_of_the_same_process_means_alive() {
        let (me, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        // Its old key, still there (not expired yet) or expired: dead.
        assert!(!alive_since(&Some((me, 7)), &Some((me, 7)), me));
        assert!(!alive_since(&Some((me, 7)), &None, me));
        assert!(!alive_since(&None, &None, me));
        // A new process under the node's name: the old one is still dead.
        assert!(!alive_since(&Some((me, 7)), &Some((other, 9)), me));
        // A new heartbeat of the same process, or its key back after it was gone: alive.
        assert!(alive_since(&Some((me, 7)), &Some((me, 8)), me));
        assert!(alive_since(&None, &Some((me, 8)), me));
    }
}
