//! Why cluster mode could not start. Each message is one line that says what to fix.

/// A failed cluster start: the process exits 1 with this message.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No NATS server answered in time (refused, unresolvable, or silent).
    #[error("cannot reach NATS at {url} within {timeout_secs} s (cluster.nats_url): {reason}")]
    Unreachable {
        /// The URL with its credentials hidden.
        url: String,
        timeout_secs: u64,
        reason: String,
    },
    /// The server answered but JetStream, which holds the room directory and node liveness,
    /// is off.
    #[error(
        "the NATS server at {url} has JetStream off; cluster mode needs it (start nats-server \
         with -js, or add `jetstream {{}}` to its configuration): {reason}"
    )]
    JetStreamOff { url: String, reason: String },
    /// A KV bucket could not be opened or created.
    #[error("cannot open the NATS KV bucket {bucket}: {reason}")]
    Bucket {
        bucket: &'static str,
        reason: String,
    },
    /// The node's inbox subscription failed.
    #[error("cannot subscribe to {subject} on NATS: {reason}")]
    Subscribe { subject: String, reason: String },
    /// The bridge thread could not start or died while starting.
    #[error("the NATS bridge thread failed: {0}")]
    Thread(String),
}
