//! The bridge: the NATS client on a thread of its own, in a current-thread tokio runtime,
//! between the shards and NATS.
//!
//! `async-nats` needs tokio; the shards are glommio executors and must never block, nor host
//! a second runtime. So the client lives here, and shards talk to it through bounded
//! channels that wake the other side (`channel.rs`): requests in one queue shared by all
//! shards, answers and inbound messages in one queue per shard. The bridge never waits on a
//! shard either: a shard whose queue is full loses the message, counted.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::connect::Connected;
use super::directory::Directory;
use super::envelope::{Body, Envelope, inbox_subject};
use super::link::{FromBridge, Peer, ToBridge, deliver};
use super::liveness::{self, Beat, NodeEvent};
use super::nats_state::{self, NatsUp};
use super::sequence::{Sequences, Verdict};
use super::stats::ClusterStats;
use super::sweep::{self, Departed};
use super::wire::{NodeBody, NodeMsg};
use crate::waking_channel::{WakingReceiver, WakingSender};

/// How long a clean stop may spend telling NATS this node is gone.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// Everything the bridge thread owns.
pub(crate) struct Bridge {
    pub node: String,
    pub instance: Uuid,
    pub shards: u32,
    pub heartbeat: Duration,
    pub ttl: Duration,
    pub connected: Connected,
    pub requests: WakingReceiver<ToBridge>,
    pub to_shards: Vec<WakingSender<FromBridge>>,
    pub stats: Arc<ClusterStats>,
}

impl Bridge {
    /// Serves until `stop` fires (or its sender is dropped), then deletes this node's liveness
    /// key so the other nodes learn at once that it left.
    pub async fn run(self, stop: oneshot::Receiver<()>) {
        let Bridge {
            node,
            instance,
            shards,
            heartbeat,
            ttl,
            connected,
            requests,
            to_shards,
            stats,
        } = self;
        let Connected {
            client,
            rooms,
            nodes,
            inbox,
            changes,
        } = connected;
        let to_shards = Arc::new(to_shards);
        let beat = Beat {
            node: node.clone(),
            instance,
            shards,
        };
        let up = NatsUp::new();
        let directory = Directory::new(rooms);
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(liveness::heartbeat(
            nodes.clone(),
            beat.clone(),
            heartbeat,
            stats.clone(),
        ));
        tasks.spawn(nats_state::follow(
            changes,
            up.clone(),
            nodes.clone(),
            beat,
            to_shards.clone(),
            stats.clone(),
        ));
        let (departed, gone) = tokio::sync::mpsc::unbounded_channel();
        tasks.spawn(sweep::sweeper(
            gone,
            directory.clone(),
            nodes.clone(),
            heartbeat,
            up.clone(),
            stats.clone(),
        ));
        {
            let (to_shards, stats2) = (to_shards.clone(), stats.clone());
            tasks.spawn(liveness::watch(
                nodes.clone(),
                node.clone(),
                ttl,
                stats.clone(),
                move |event| {
                    super::events::node(&event);
                    if let NodeEvent::Gone { node, instance, .. } = &event {
                        let _ = departed.send(Departed {
                            node: node.clone(),
                            instance: *instance,
                        });
                    }
                    for shard in to_shards.iter() {
                        deliver(shard, &stats2, FromBridge::Node(event.clone()));
                    }
                },
            ));
        }
        tasks.spawn(receive(instance, inbox, to_shards.clone(), stats.clone()));
        let serve = async {
            while let Some(request) = requests.recv().await {
                stats.to_bridge_depth.fetch_sub(1, Relaxed);
                match request {
                    // While NATS is away, fail at once: the client would buffer a publish
                    // and deliver it late, and a directory call would wait for its timeout.
                    ToBridge::Send { .. } if !up.get() => {
                        stats.publish_failures.fetch_add(1, Relaxed);
                    }
                    ToBridge::Directory {
                        shard,
                        token,
                        request,
                    } if !up.get() => {
                        let reply = request.refuse(&stats, "the NATS connection is down");
                        if let Some(to) = to_shards.get(shard as usize) {
                            deliver(to, &stats, FromBridge::Directory { token, reply });
                        }
                    }
                    ToBridge::Send { to_node, envelope } => {
                        let sent = client
                            .publish(inbox_subject(&to_node), envelope.encode().into())
                            .await;
                        let counter = match sent {
                            Ok(()) => &stats.messages_out,
                            Err(_) => &stats.publish_failures,
                        };
                        counter.fetch_add(1, Relaxed);
                    }
                    ToBridge::Directory {
                        shard,
                        token,
                        request,
                    } => {
                        // Concurrently: one slow directory call must not hold the others.
                        let (directory, to_shards, stats) =
                            (directory.clone(), to_shards.clone(), stats.clone());
                        tasks.spawn(async move {
                            let reply = directory.serve(request, &stats).await;
                            if let Some(to) = to_shards.get(shard as usize) {
                                deliver(to, &stats, FromBridge::Directory { token, reply });
                            }
                        });
                    }
                }
                // Reap finished directory tasks as we go.
                while tasks.try_join_next().is_some() {}
            }
        };
        tokio::select! {
            () = serve => {}
            _ = stop => {}
        }
        tasks.abort_all();
        let goodbye = async {
            let _ = nodes.delete(&node).await;
            let _ = client.flush().await;
        };
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, goodbye).await;
        stats.nats_connected.store(0, Relaxed);
    }
}

/// Hands every envelope of this node's inbox to the shard it names; a batch of room traffic
/// is checked for gaps and split among the shards its messages are for, in order.
async fn receive(
    instance: Uuid,
    mut inbox: async_nats::Subscriber,
    to_shards: Arc<Vec<WakingSender<FromBridge>>>,
    stats: Arc<ClusterStats>,
) {
    let mut sequences = Sequences::default();
    while let Some(msg) = inbox.next().await {
        let envelope = match Envelope::decode(&msg.payload) {
            Ok(envelope) => envelope,
            Err(_) => {
                stats.messages_rejected.fetch_add(1, Relaxed);
                continue;
            }
        };
        if let Body::Batch {
            seq,
            to_instance,
            msgs,
        } = envelope.body
        {
            let from = Peer {
                node: envelope.from,
                instance: envelope.from_instance,
            };
            stats.messages_in.fetch_add(1, Relaxed);
            match sequences.check(&from, envelope.from_shard, seq) {
                Verdict::InOrder => {
                    stats.batches_taken.fetch_add(1, Relaxed);
                }
                Verdict::Stale => {
                    stats.duplicates.fetch_add(1, Relaxed);
                    continue;
                }
                Verdict::Gap => {
                    stats.batches_taken.fetch_add(1, Relaxed);
                    stats.gaps.fetch_add(1, Relaxed);
                    super::events::gap(&from.node);
                    for to in to_shards.iter() {
                        deliver(to, &stats, FromBridge::Gap(from.clone()));
                    }
                }
            }
            // Sessions of an earlier process of this node are not ours: deliveries meant for
            // them are dropped. Owner work (a join, a reconnect) is still served: it names
            // rooms, not our sessions.
            let for_us = to_instance == instance;
            split(msgs, for_us, &from, &to_shards, &stats);
            continue;
        }
        let Some(to) = to_shards.get(envelope.to_shard as usize) else {
            stats.messages_rejected.fetch_add(1, Relaxed);
            continue;
        };
        // Counted first: the shard may look at the counter as soon as it has the message.
        stats.messages_in.fetch_add(1, Relaxed);
        deliver(to, &stats, FromBridge::Message(envelope));
    }
}

/// Hands each shard its part of a batch, in the batch's order.
fn split(
    msgs: Vec<NodeMsg>,
    for_us: bool,
    from: &Peer,
    to_shards: &[WakingSender<FromBridge>],
    stats: &ClusterStats,
) {
    let mut parts: Vec<Vec<NodeMsg>> = Vec::new();
    for msg in msgs {
        if !for_us && !matches!(msg.body, NodeBody::Owner(_)) {
            stats.messages_rejected.fetch_add(1, Relaxed);
            continue;
        }
        let shard = msg.to_shard as usize;
        if shard >= to_shards.len() {
            stats.messages_rejected.fetch_add(1, Relaxed);
            continue;
        }
        if parts.len() <= shard {
            parts.resize_with(shard + 1, Vec::new);
        }
        parts[shard].push(msg);
    }
    for (shard, msgs) in parts.into_iter().enumerate() {
        if !msgs.is_empty() {
            let routed = FromBridge::Routed {
                from: from.clone(),
                msgs,
            };
            deliver(&to_shards[shard], stats, routed);
        }
    }
}
