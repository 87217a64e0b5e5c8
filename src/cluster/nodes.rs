//! The other nodes' processes, numbered for this process's use. A shard addresses a session
//! or owner on another node by a remote shard id (`shard::routing::remote_shard`) holding
//! the peer's number here, so the owner machine and the rooms treat remote sessions like any
//! other. One table per process, shared by its shards: a number given out by one shard must
//! mean the same peer on every shard.
//!
//! Numbers are never reused. A peer that is gone keeps its number, marked gone, so a stale
//! address can never reach whatever process comes next under the same node id: that process
//! is another [`Peer`] (a new instance) with a number of its own. A peer judged gone while
//! NATS was away is revived when its heartbeat is seen again.

use std::sync::RwLock;

use ahash::AHashMap;

use super::link::Peer;
use crate::shard::routing::MAX_PEERS;

#[derive(Default)]
struct Inner {
    peers: Vec<(Peer, bool)>,
    numbers: AHashMap<Peer, u32>,
}

/// Peer processes by number, and numbers by peer.
#[derive(Default)]
pub struct NodeTable {
    inner: RwLock<Inner>,
}

impl NodeTable {
    /// The number of `peer`, given one on first sight. `None` when the table is full, or the
    /// peer is known gone (a late message from a dead process).
    pub fn number(&self, peer: &Peer) -> Option<u32> {
        {
            let inner = self.read();
            if let Some(&n) = inner.numbers.get(peer) {
                return inner.peers[n as usize].1.then_some(n);
            }
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&n) = inner.numbers.get(peer) {
            return inner.peers[n as usize].1.then_some(n);
        }
        let n = u32::try_from(inner.peers.len())
            .ok()
            .filter(|&n| n < MAX_PEERS)?;
        inner.peers.push((peer.clone(), true));
        inner.numbers.insert(peer.clone(), n);
        Some(n)
    }

    /// The peer numbered `n`, while it is alive.
    pub fn peer(&self, n: u32) -> Option<Peer> {
        let inner = self.read();
        inner
            .peers
            .get(n as usize)
            .filter(|(_, alive)| *alive)
            .map(|(peer, _)| peer.clone())
    }

    /// Marks `peer` gone; returns its number if it had one. Idempotent: every shard calls it
    /// when it hears the peer went.
    pub fn gone(&self, peer: &Peer) -> Option<u32> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let n = match inner.numbers.get(peer) {
            Some(&n) => n,
            None => {
                // Never seen: number it anyway, gone, so a late message from it is refused.
                let n = u32::try_from(inner.peers.len())
                    .ok()
                    .filter(|&n| n < MAX_PEERS)?;
                inner.peers.push((peer.clone(), false));
                inner.numbers.insert(peer.clone(), n);
                return None;
            }
        };
        inner.peers[n as usize].1 = false;
        Some(n)
    }

    /// Marks `peer` alive again (a process judged gone that turned out to be alive: NATS was
    /// away longer than the TTL).
    pub fn revive(&self, peer: &Peer) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&n) = inner.numbers.get(peer) {
            inner.peers[n as usize].1 = true;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn peer(node: &str, instance: u128) -> Peer {
        Peer {
            node: node.to_owned(),
            instance: Uuid::from_u128(instance),
        }
    }

    #[test]
    fn numbers_are_stable_and_never_reused() {
        let t = NodeTable::default();
        let a = t.number(&peer("a", 1)).expect("numbered");
        let b = t.number(&peer("b", 1)).expect("numbered");
        assert_ne!(a, b);
        assert_eq!(t.number(&peer("a", 1)), Some(a));
        assert_eq!(t.peer(a), Some(peer("a", 1)));
        assert_eq!(t.gone(&peer("a", 1)), Some(a));
        assert_eq!(t.gone(&peer("a", 1)), Some(a), "idempotent");
        assert_eq!(t.peer(a), None);
        assert_eq!(t.number(&peer("a", 1)), None, "a dead process stays dead");
        t.revive(&peer("a", 1));
        assert_eq!(
            t.number(&peer("a", 1)),
            Some(a),
            "unless it is seen alive again"
        );
        assert_eq!(t.gone(&peer("a", 1)), Some(a));
        let a2 = t
            .number(&peer("a", 2))
            .expect("the restarted node is a new peer");
        assert_ne!(a2, a);
        assert_eq!(t.gone(&peer("c", 1)), None);
        assert_eq!(
            t.number(&peer("c", 1)),
            None,
            "gone before it was ever seen"
        );
    }
}
