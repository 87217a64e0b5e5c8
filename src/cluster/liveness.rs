//! Node liveness: every node refreshes a key of its own in a JetStream KV bucket whose
//! `max_age` is the node TTL, and every node watches the bucket to learn who joined and who
//! is gone.
//!
//! Gone is detected two ways. A node that stops cleanly deletes its key, and the watch sees
//! the delete marker at once. A node that dies (SIGKILL, power, partition) leaves its key to
//! expire by `max_age`, and nats-server 2.9 (Debian bookworm's) removes expired messages
//! without telling a watcher: no delete marker (per-key delete markers on expiry came in
//! 2.11). So the watcher keeps, per node, when it last saw a heartbeat, and a node silent for
//! longer than the TTL is gone; a check every [`CHECK_EVERY`] bounds the delay to
//! TTL + [`CHECK_EVERY`] after its last heartbeat. Times are this process's receipt times,
//! never another machine's clock; so a key already present when the watch starts counts as
//! fresh, and a node that died just before is reported joined, then gone within the TTL.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{Operation, Store};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::stats::ClusterStats;

/// The bucket's name.
pub const BUCKET: &str = "signal_fish_nodes";
/// How often silent nodes are looked for.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);
/// The shortest bound on one heartbeat's put (the interval, when longer).
const PUT_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause before watching again after the watch ended (NATS restarted, bucket recreated).
const REWATCH_AFTER: Duration = Duration::from_millis(500);

/// What a node's liveness key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beat {
    pub node: String,
    /// Differs on every start, so a node that restarted within the TTL is seen leaving (its
    /// rooms died with the old process) and joining again.
    pub instance: Uuid,
    pub shards: u32,
}

/// A change in the set of other live nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// `node`'s process `instance` was seen alive for the first time (or again, after it was
    /// judged gone: an outage longer than the TTL ends).
    Joined { node: String, instance: Uuid },
    /// `node`'s process `instance` is gone: the rooms it held died with it.
    Gone {
        node: String,
        instance: Uuid,
        why: GoneWhy,
    },
}

/// How a node was seen to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneWhy {
    /// It deleted its key (a clean stop), or someone purged it.
    Deleted,
    /// No heartbeat for longer than the TTL.
    Silent,
    /// Its key now names a new process: the old one is gone.
    Restarted,
}

/// The other nodes this node believes alive. Pure: the watcher feeds it.
#[derive(Debug)]
pub struct Members {
    me: String,
    ttl: Duration,
    /// Node → (instance, last heartbeat seen).
    seen: HashMap<String, (Uuid, Instant)>,
}

impl Members {
    pub fn new(me: &str, ttl: Duration) -> Self {
        Members {
            me: me.to_owned(),
            ttl,
            seen: HashMap::new(),
        }
    }

    /// A heartbeat of `node` was seen at `now`.
    pub fn beat(&mut self, node: &str, instance: Uuid, now: Instant) -> Vec<NodeEvent> {
        if node == self.me {
            return Vec::new();
        }
        match self.seen.insert(node.to_owned(), (instance, now)) {
            None => vec![NodeEvent::Joined {
                node: node.to_owned(),
                instance,
            }],
            Some((before, _)) if before != instance => vec![
                NodeEvent::Gone {
                    node: node.to_owned(),
                    instance: before,
                    why: GoneWhy::Restarted,
                },
                NodeEvent::Joined {
                    node: node.to_owned(),
                    instance,
                },
            ],
            Some(_) => Vec::new(),
        }
    }

    /// `node`'s key was deleted or purged.
    pub fn removed(&mut self, node: &str) -> Option<NodeEvent> {
        self.seen.remove(node).map(|(instance, _)| NodeEvent::Gone {
            node: node.to_owned(),
            instance,
            why: GoneWhy::Deleted,
        })
    }

    /// Every node silent for longer than the TTL at `now`, forgotten.
    pub fn expire(&mut self, now: Instant) -> Vec<NodeEvent> {
        let ttl = self.ttl;
        let mut gone: Vec<NodeEvent> = Vec::new();
        self.seen.retain(|node, (instance, last)| {
            let alive = now.saturating_duration_since(*last) <= ttl;
            if !alive {
                gone.push(NodeEvent::Gone {
                    node: node.clone(),
                    instance: *instance,
                    why: GoneWhy::Silent,
                });
            }
            alive
        });
        gone
    }

    /// How many other nodes are alive.
    pub fn alive(&self) -> usize {
        self.seen.len()
    }
}

/// Puts `beat` under the node's key every `every`, for ever.
pub async fn heartbeat(kv: Store, beat: Beat, every: Duration, stats: Arc<ClusterStats>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Bounded: a put stuck on a dead link must not hold the next one.
        if !put_beat(&kv, &beat, every.max(PUT_TIMEOUT)).await {
            stats.heartbeat_failures.fetch_add(1, Relaxed);
        }
    }
}

/// Puts `beat` under the node's key once; whether NATS stored it within `limit`.
pub async fn put_beat(kv: &Store, beat: &Beat, limit: Duration) -> bool {
    let value: bytes::Bytes = serde_json::to_vec(beat).unwrap_or_default().into();
    matches!(
        tokio::time::timeout(limit, kv.put(&beat.node, value)).await,
        Ok(Ok(_))
    )
}

/// Watches the bucket for ever, telling `sink` of every [`NodeEvent`].
pub async fn watch(
    kv: Store,
    me: String,
    ttl: Duration,
    stats: Arc<ClusterStats>,
    mut sink: impl FnMut(NodeEvent),
) {
    let mut members = Members::new(&me, ttl);
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut entries = match kv.watch_all().await {
            Ok(entries) => entries,
            Err(_) => {
                // NATS is away: nobody can be judged alive or not by their heartbeats until
                // it is back, and silent nodes still expire below.
                tokio::time::sleep(REWATCH_AFTER).await;
                report(&mut members, &stats, &mut sink, Vec::new(), Instant::now());
                continue;
            }
        };
        loop {
            tokio::select! {
                entry = entries.next() => {
                    let Some(Ok(entry)) = entry else { break };
                    let events = match entry.operation {
                        Operation::Put => serde_json::from_slice::<Beat>(&entry.value)
                            .map(|beat| members.beat(&entry.key, beat.instance, Instant::now()))
                            .unwrap_or_default(),
                        Operation::Delete | Operation::Purge => {
                            members.removed(&entry.key).into_iter().collect()
                        }
                    };
                    report(&mut members, &stats, &mut sink, events, Instant::now());
                }
                _ = check.tick() => report(&mut members, &stats, &mut sink, Vec::new(), Instant::now()),
            }
        }
        tokio::time::sleep(REWATCH_AFTER).await;
    }
}

/// Hands `events` and the nodes that fell silent to `sink`, and counts them.
fn report(
    members: &mut Members,
    stats: &ClusterStats,
    sink: &mut impl FnMut(NodeEvent),
    mut events: Vec<NodeEvent>,
    now: Instant,
) {
    events.extend(members.expire(now));
    // The gauge first: whoever hears an event may look at it.
    stats.nodes_alive.store(members.alive() as i64, Relaxed);
    for event in events {
        match &event {
            NodeEvent::Joined { .. } => stats.nodes_joined.fetch_add(1, Relaxed),
            NodeEvent::Gone { .. } => stats.nodes_gone.fetch_add(1, Relaxed),
        };
        sink(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_restarts_deletes_and_silence() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(6);
        let mut m = Members::new("me", ttl);
        let (a, a2) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(m.beat("me", a, t0).is_empty(), "our own key is not news");
        assert_eq!(
            m.beat("b", a, t0),
            vec![NodeEvent::Joined {
                node: "b".into(),
                instance: a
            }]
        );
        assert!(m.beat("b", a, t0 + Duration::from_secs(2)).is_empty());
        assert_eq!(
            m.beat("b", a2, t0 + Duration::from_secs(3)),
            vec![
                NodeEvent::Gone {
                    node: "b".into(),
                    instance: a,
                    why: GoneWhy::Restarted
                },
                NodeEvent::Joined {
                    node: "b".into(),
                    instance: a2
                }
            ]
        );
        m.beat("c", a, t0);
        assert_eq!(m.alive(), 2);
        assert!(
            m.expire(t0 + ttl).is_empty(),
            "exactly the TTL is still alive"
        );
        assert_eq!(
            m.expire(t0 + ttl + Duration::from_millis(1)),
            vec![NodeEvent::Gone {
                node: "c".into(),
                instance: a,
                why: GoneWhy::Silent
            }]
        );
        assert_eq!(
            m.removed("b"),
            Some(NodeEvent::Gone {
                node: "b".into(),
                instance: a2,
                why: GoneWhy::Deleted
            })
        );
        assert_eq!(m.removed("b"), None);
        assert_eq!(m.alive(), 0);
    }
}
