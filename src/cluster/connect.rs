//! The startup check: reach NATS within the connect timeout, make sure JetStream is on, open
//! (or create) the two KV buckets and subscribe to this node's inbox. Anything missing fails
//! the start, so a node never serves believing it is part of a cluster it cannot reach.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use async_nats::{Client, ConnectOptions, Event, Subscriber};
use tokio::sync::mpsc;

use super::error::ClusterError;
use super::stats::ClusterStats;
use super::{directory, envelope, liveness};
use crate::config::{ClusterConfig, redact_url};

/// A node's connection, ready for the bridge.
pub(crate) struct Connected {
    pub client: Client,
    pub rooms: kv::Store,
    pub nodes: kv::Store,
    pub inbox: Subscriber,
    /// The connection's changes after startup: `false` lost, `true` back (the first
    /// connection may show up as a `true` too).
    pub changes: mpsc::UnboundedReceiver<bool>,
}

/// Connects as node `node`. `stats.nats_connected` follows the connection from then on.
pub(crate) async fn establish(
    cfg: &ClusterConfig,
    node: &str,
    stats: Arc<ClusterStats>,
) -> Result<Connected, ClusterError> {
    let urls = cfg.nats_url.clone().unwrap_or_default();
    let shown = redact_url(&urls);
    let timeout = Duration::from_secs(cfg.connect_timeout_secs);
    let events = stats.clone();
    let (changed, changes) = mpsc::unbounded_channel();
    let options = ConnectOptions::new()
        .name(format!("signal-fish {node}"))
        .connection_timeout(timeout)
        // After startup, reconnect for ever: NATS restarts must not end the process.
        .max_reconnects(None)
        .event_callback(move |event| {
            let (events, changed) = (events.clone(), changed.clone());
            async move {
                // The bridge tells the shards (`nats_state.rs`); it ignores the first
                // connection, which `events::joined` reports.
                match event {
                    Event::Connected => {
                        events.nats_connected.store(1, Relaxed);
                        let _ = changed.send(true);
                    }
                    Event::Disconnected => {
                        events.nats_connected.store(0, Relaxed);
                        let _ = changed.send(false);
                    }
                    Event::Closed => events.nats_connected.store(0, Relaxed),
                    _ => {}
                }
            }
        });
    let servers: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .filter_map(|u| u.parse().ok())
        .collect();
    let unreachable = |reason: String| ClusterError::Unreachable {
        url: shown.clone(),
        timeout_secs: cfg.connect_timeout_secs,
        reason,
    };
    let client = match tokio::time::timeout(timeout, options.connect(servers)).await {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => return Err(unreachable(err.to_string())),
        Err(_) => return Err(unreachable("timed out".to_owned())),
    };
    stats.nats_connected.store(1, Relaxed);

    // Subscribed before the JetStream query: the server reads a connection in order, so its
    // answer proves the subscription is in place before anyone can learn this node exists.
    let subject = envelope::inbox_subject(node);
    let inbox = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| ClusterError::Subscribe {
            subject,
            reason: e.to_string(),
        })?;
    if let Err(reason) = jetstream_on(&client, timeout).await {
        return Err(ClusterError::JetStreamOff { url: shown, reason });
    }
    let js = jetstream::new(client.clone());
    let rooms = bucket(
        &js,
        directory::BUCKET,
        kv::Config {
            description: "Signal Fish room directory: room code and room id to home node"
                .to_owned(),
            history: 1,
            // Survives a NATS restart, so rooms stay findable while it comes back.
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        },
        timeout,
    )
    .await?;
    let nodes = bucket(
        &js,
        liveness::BUCKET,
        kv::Config {
            description: "Signal Fish node liveness: one key per live node".to_owned(),
            history: 1,
            max_age: Duration::from_secs(cfg.node_ttl_secs),
            // On disk like the directory: a memory bucket would vanish when NATS restarts,
            // and every heartbeat after that would fail.
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        },
        timeout,
    )
    .await?;
    Ok(Connected {
        client,
        rooms,
        nodes,
        inbox,
        changes,
    })
}

/// Asks the JetStream API for the account's info. We read the raw answer rather than use
/// `Context::query_account`, whose typed reply needs fields nats-server 2.9 (Debian
/// bookworm's) does not send.
async fn jetstream_on(client: &Client, timeout: Duration) -> Result<(), String> {
    let asked = client.request("$JS.API.INFO", bytes::Bytes::new());
    let reply = match tokio::time::timeout(timeout, asked).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(err)) => return Err(err.to_string()),
        Err(_) => return Err("no answer to the JetStream account query".to_owned()),
    };
    let answer: serde_json::Value =
        serde_json::from_slice(&reply.payload).map_err(|e| format!("unreadable answer: {e}"))?;
    match answer.get("error") {
        Some(error) => Err(error
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("JetStream error")
            .to_owned()),
        None => Ok(()),
    }
}

/// Opens the bucket, or creates it when no node has yet. A bucket that exists is used as it
/// is, so nodes started with a different `node_ttl_secs` share the first one's `max_age`
/// (which only decides when a dead node's key is cleaned up; each node judges silence by its
/// own TTL).
///
/// The bucket's stream is created with the settings `Context::create_key_value` would use,
/// without that call's account query (see [`jetstream_on`]).
async fn bucket(
    js: &jetstream::Context,
    name: &'static str,
    config: kv::Config,
    timeout: Duration,
) -> Result<kv::Store, ClusterError> {
    let config = kv::Config {
        bucket: name.to_owned(),
        ..config
    };
    let fail = |reason: String| ClusterError::Bucket {
        bucket: name,
        reason,
    };
    let attempt = async {
        if let Ok(store) = js.get_key_value(name).await {
            return Ok(store);
        }
        // Two nodes starting together on a fresh NATS both get here. nats-server 2.9 may
        // refuse the second create ("subjects overlap with an existing stream") while the
        // first one's stream is being made: then the bucket exists, and opening it is right.
        let created = js.create_stream(stream_config(&config)).await;
        match js.get_key_value(name).await {
            Ok(store) => Ok(store),
            Err(open) => Err(match created {
                Err(create) => create.to_string(),
                Ok(_) => open.to_string(),
            }),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result.map_err(fail),
        Err(_) => Err(fail("timed out".to_owned())),
    }
}

/// The stream behind a KV bucket, as the NATS clients lay it out (`KV_<bucket>`, subjects
/// `$KV.<bucket>.>`, rollups allowed, deletes through markers only).
fn stream_config(config: &kv::Config) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: format!("KV_{}", config.bucket),
        description: Some(config.description.clone()),
        subjects: vec![format!("$KV.{}.>", config.bucket)],
        max_messages_per_subject: config.history.max(1),
        max_age: config.max_age,
        storage: config.storage,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        num_replicas: 1,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    }
}
