//! The cluster's own counters, shared by the bridge thread and the shards (atomics, relaxed:
//! each is an independent count), and their Prometheus families.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::metrics::prometheus::BUCKETS;

/// Directory operations, as counted and timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirOp {
    Create,
    Lookup,
    Delete,
    /// A room put back after NATS came back.
    Register,
}

impl DirOp {
    const ALL: [DirOp; 4] = [DirOp::Create, DirOp::Lookup, DirOp::Delete, DirOp::Register];

    fn label(self) -> &'static str {
        match self {
            DirOp::Create => "create",
            DirOp::Lookup => "lookup",
            DirOp::Delete => "delete",
            DirOp::Register => "register",
        }
    }
}

/// How a directory operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirOutcome {
    /// Created, found, or deleted.
    Ok,
    /// Create: the code was taken. Lookup: no entry. Delete: nothing of ours to delete.
    Miss,
    /// NATS failed or timed out.
    Error,
}

impl DirOutcome {
    const ALL: [DirOutcome; 3] = [DirOutcome::Ok, DirOutcome::Miss, DirOutcome::Error];

    fn label(self) -> &'static str {
        match self {
            DirOutcome::Ok => "ok",
            DirOutcome::Miss => "miss",
            DirOutcome::Error => "error",
        }
    }
}

/// A latency histogram with the buckets of the other `_duration_seconds` families.
#[derive(Debug, Default)]
struct AtomicHistogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl AtomicHistogram {
    fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some(slot) = BUCKETS.iter().position(|(le, _)| micros <= *le) {
            self.buckets[slot].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
    }
}

/// Everything the cluster counts. One per process, behind an `Arc`.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Envelopes published to a node's inbox.
    pub messages_out: AtomicU64,
    /// Envelopes read from our inbox (those a full shard queue then dropped included).
    pub messages_in: AtomicU64,
    /// Inbox messages that were not an envelope we read (other version, malformed, no such
    /// shard).
    pub messages_rejected: AtomicU64,
    /// Publishes the NATS client refused, and those dropped while the connection was down.
    pub publish_failures: AtomicU64,
    /// Batches from another node found missing by their sequence numbers.
    pub gaps: AtomicU64,
    /// Batches from another node dropped as duplicates, and taken.
    pub duplicates: AtomicU64,
    pub batches_taken: AtomicU64,
    /// Commands forwarded to a room's home on a live node, and to a node known gone.
    pub forwards: AtomicU64,
    pub forwards_unreachable: AtomicU64,
    /// Membership changes sent to members' nodes, and received from homes.
    pub controls_out: AtomicU64,
    pub controls_in: AtomicU64,
    /// Frame deliveries sent to other nodes.
    pub deliveries_out: AtomicU64,
    /// Messages for a node dropped because it was gone.
    pub skipped: AtomicU64,
    /// Shard requests refused because the bridge's queue was full or the bridge gone.
    pub to_bridge_dropped: AtomicU64,
    /// Messages for a shard dropped because that shard's queue was full.
    pub to_shards_dropped: AtomicU64,
    /// Requests queued for the bridge, not yet taken.
    pub to_bridge_depth: AtomicI64,
    /// Messages queued for shards, not yet taken.
    pub to_shards_depth: AtomicI64,
    /// Other nodes seen alive right now.
    pub nodes_alive: AtomicI64,
    pub nodes_joined: AtomicU64,
    pub nodes_gone: AtomicU64,
    /// Liveness heartbeats that NATS did not take.
    pub heartbeat_failures: AtomicU64,
    /// 1 while the NATS connection is up.
    pub nats_connected: AtomicI64,
    /// Directory entries of gone nodes this node removed.
    pub directory_swept: AtomicU64,
    /// Directory operations by `DirOp` × `DirOutcome`.
    dir_ops: [[AtomicU64; 3]; 4],
    /// Directory latency by `DirOp` (requests refused at once while NATS is down not timed).
    dir_latency: [AtomicHistogram; 4],
}

impl ClusterStats {
    /// Counts one directory operation and its latency.
    pub fn directory(&self, op: DirOp, outcome: DirOutcome, elapsed: Duration) {
        self.dir_ops[op as usize][outcome as usize].fetch_add(1, Relaxed);
        self.dir_latency[op as usize].record(elapsed);
    }

    /// Counts one directory operation refused without asking NATS (the connection is down).
    /// Not timed: it took nothing, and would only hide the real latencies.
    pub fn directory_refused(&self, op: DirOp) {
        self.dir_ops[op as usize][DirOutcome::Error as usize].fetch_add(1, Relaxed);
    }

    /// How many directory operations of `op` ended with `outcome`.
    pub fn directory_count(&self, op: DirOp, outcome: DirOutcome) -> u64 {
        self.dir_ops[op as usize][outcome as usize].load(Relaxed)
    }

    /// The original's `cross_instance_messages`: envelopes exchanged with nodes, both ways.
    pub fn cross_instance_messages(&self) -> u64 {
        self.messages_in.load(Relaxed) + self.messages_out.load(Relaxed)
    }

    /// The original's `cross_instance` fields (`metrics::CrossInstance` says what each means).
    pub fn cross_instance(&self) -> crate::metrics::CrossInstance {
        crate::metrics::CrossInstance {
            messages: self.cross_instance_messages(),
            dedup_hits: self.duplicates.load(Relaxed),
            dedup_misses: self.batches_taken.load(Relaxed),
            membership_cache_hits: self.forwards.load(Relaxed),
            membership_cache_misses: self.forwards_unreachable.load(Relaxed),
            updates_published: self.controls_out.load(Relaxed),
            updates_received: self.controls_in.load(Relaxed),
            known_broadcasts: self.deliveries_out.load(Relaxed),
            skipped_broadcasts: self.skipped.load(Relaxed),
        }
    }

    /// Appends this node's cluster families to a Prometheus scrape, labelled `node`.
    #[rustfmt::skip]
    pub fn render_prometheus(&self, out: &mut String, node: &str) {
        let n = escape(node);
        let mut single = |name: &str, kind: &str, help: &str, value: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{node=\"{n}\"}} {value}");
        };
        let get = |a: &AtomicU64| a.load(Relaxed) as i64;
        let gauge = |a: &AtomicI64| a.load(Relaxed).max(0);
        single("signal_fish_cluster_nats_connected", "gauge", "1 while this node's NATS connection is up.", gauge(&self.nats_connected));
        single("signal_fish_cluster_nodes_alive", "gauge", "Other nodes whose liveness key is fresh.", gauge(&self.nodes_alive));
        single("signal_fish_cluster_node_joins_total", "counter", "Other nodes seen joining (or coming back).", get(&self.nodes_joined));
        single("signal_fish_cluster_node_departures_total", "counter", "Other nodes seen gone (key deleted, or older than cluster.node_ttl_secs).", get(&self.nodes_gone));
        single("signal_fish_cluster_heartbeat_failures_total", "counter", "Liveness heartbeats NATS did not take.", get(&self.heartbeat_failures));
        single("signal_fish_cluster_messages_out_total", "counter", "Envelopes published to node inboxes.", get(&self.messages_out));
        single("signal_fish_cluster_messages_in_total", "counter", "Envelopes received in this node's inbox.", get(&self.messages_in));
        single("signal_fish_cluster_messages_rejected_total", "counter", "Inbox messages dropped unread (other envelope version, malformed, unknown shard).", get(&self.messages_rejected));
        single("signal_fish_cluster_publish_failures_total", "counter", "Publishes the NATS client refused, or the bridge dropped while the NATS connection was down.", get(&self.publish_failures));
        single("signal_fish_cluster_batch_gaps_total", "counter", "Batches from other nodes found lost by their sequence numbers (the members concerned are closed to reconnect).", get(&self.gaps));
        single("signal_fish_cluster_directory_swept_total", "counter", "Room directory entries of gone nodes this node removed (every node sweeps; each entry is counted by the node that removed it).", get(&self.directory_swept));
        single("signal_fish_cluster_bridge_queue_depth", "gauge", "Shard requests waiting for the NATS bridge thread.", gauge(&self.to_bridge_depth));
        single("signal_fish_cluster_bridge_inbound_depth", "gauge", "Messages from the NATS bridge waiting for shards.", gauge(&self.to_shards_depth));
        single("signal_fish_cluster_bridge_dropped_total", "counter", "Shard requests refused because the bridge queue was full.", get(&self.to_bridge_dropped));
        single("signal_fish_cluster_bridge_inbound_dropped_total", "counter", "Messages for a shard dropped because its queue from the bridge was full.", get(&self.to_shards_dropped));

        let name = "signal_fish_cluster_directory_operations_total";
        let _ = writeln!(out, "# HELP {name} Room directory operations in NATS KV, by operation and outcome (miss: code taken, no entry, nothing to delete; error: NATS failed, timed out, or was down).\n# TYPE {name} counter");
        for op in DirOp::ALL {
            for outcome in DirOutcome::ALL {
                let _ = writeln!(out, "{name}{{node=\"{n}\",op=\"{}\",outcome=\"{}\"}} {}", op.label(), outcome.label(), self.directory_count(op, outcome));
            }
        }
        let name = "signal_fish_cluster_directory_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time for a room directory operation in NATS KV, by operation.\n# TYPE {name} histogram");
        for op in DirOp::ALL {
            let h = &self.dir_latency[op as usize];
            let labels = format!("node=\"{n}\",op=\"{}\"", op.label());
            let mut cumulative = 0;
            for ((_, le), bucket) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += bucket.load(Relaxed);
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            let count = h.count.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_micros.load(Relaxed) as f64 / 1_000_000.0);
            let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
        }
    }
}

/// A label value with `\`, `"` and newlines escaped (node ids are validated, this is belt
/// and braces).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_operations_are_counted_and_timed() {
        let stats = ClusterStats::default();
        stats.directory(DirOp::Create, DirOutcome::Ok, Duration::from_micros(700));
        stats.directory(DirOp::Create, DirOutcome::Miss, Duration::from_micros(90));
        stats.messages_out.fetch_add(2, Relaxed);
        stats.messages_in.fetch_add(1, Relaxed);
        assert_eq!(stats.cross_instance_messages(), 3);
        let mut text = String::new();
        stats.render_prometheus(&mut text, "a-1");
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(
            has(
                "signal_fish_cluster_directory_operations_total{node=\"a-1\",op=\"create\",outcome=\"ok\"} 1"
            ),
            "{text}"
        );
        assert!(
            has(
                "signal_fish_cluster_directory_duration_seconds_bucket{node=\"a-1\",op=\"create\",le=\"0.0001\"} 1"
            ),
            "{text}"
        );
        assert!(
            has(
                "signal_fish_cluster_directory_duration_seconds_bucket{node=\"a-1\",op=\"create\",le=\"0.001\"} 2"
            ),
            "{text}"
        );
        assert!(
            has(
                "signal_fish_cluster_directory_duration_seconds_count{node=\"a-1\",op=\"create\"} 2"
            ),
            "{text}"
        );
        assert!(
            has("signal_fish_cluster_messages_out_total{node=\"a-1\"} 2"),
            "{text}"
        );
    }
}
