//! What nodes send each other through core NATS: a versioned envelope.
//!
//! Wire form: one version byte, then the envelope as MessagePack (`rmp-serde`, positional:
//! no field names on the wire). MessagePack because the server already depends on it for
//! binary game data, it is compact, and serde derives keep new message kinds a one-line
//! change; the version byte comes first and outside the MessagePack so a node can reject a
//! newer layout before trying to read it (a layout change bumps [`VERSION`]). The bench
//! `benches/cluster_bridge.rs` measures its cost next to JSON.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::wire::NodeMsg;

/// The envelope layout this build speaks.
pub const VERSION: u8 = 2;

/// The subject a node listens on for messages addressed to it.
pub fn inbox_subject(node: &str) -> String {
    format!("signal_fish.node.{node}")
}

/// One message from a shard of one node to a shard of another (or the same) node.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node's id.
    pub from: String,
    /// The sending node's process (its liveness instance): a restarted node is another peer.
    pub from_instance: Uuid,
    /// The sending shard, so a reply can find it.
    pub from_shard: u32,
    /// The shard of the receiving node that gets the message.
    pub to_shard: u32,
    pub body: Body,
}

/// What the message says.
#[derive(Debug, Serialize, Deserialize)]
pub enum Body {
    /// Room traffic from one shard to the shards of the receiving node: everything that shard
    /// had for the node in one turn. `seq` counts the batches from the sending shard to this
    /// node (from 1, per sender process), so a lost batch shows as a gap. `to_instance` is the
    /// receiving process the sender means: a restarted node drops what was meant for the old
    /// one's sessions.
    Batch {
        seq: u64,
        to_instance: Uuid,
        msgs: Vec<NodeMsg>,
    },
    /// Asks the receiving shard to answer with [`Body::ProbeReply`] carrying the same `seq`.
    Probe { seq: u64 },
    /// The answer to a [`Body::Probe`].
    ProbeReply { seq: u64 },
}

/// Why bytes from NATS are not an envelope we can read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("envelope version {0} is not {VERSION}: nodes of different versions in one cluster")]
    Version(u8),
    #[error("malformed envelope: {0}")]
    Malformed(String),
}

impl Envelope {
    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        out.push(VERSION);
        // Writing plain structs and enums into a Vec cannot fail.
        let _ = rmp_serde::encode::write(&mut out, self);
        out
    }

    /// Reads the wire form.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let (&version, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        rmp_serde::from_slice(rest).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_other_versions_are_refused() {
        let env = Envelope {
            from: "web-1-3536".to_owned(),
            from_instance: Uuid::from_u128(7),
            from_shard: 1,
            to_shard: 0,
            body: Body::Probe { seq: 42 },
        };
        let bytes = env.encode();
        assert_eq!(bytes[0], VERSION);
        let back = Envelope::decode(&bytes).expect("decodes");
        assert_eq!(
            (
                back.from,
                back.from_instance,
                back.from_shard,
                back.to_shard
            ),
            (env.from, env.from_instance, 1, 0)
        );
        assert!(matches!(back.body, Body::Probe { seq: 42 }));
        let mut newer = bytes.clone();
        newer[0] = VERSION + 1;
        assert!(matches!(
            Envelope::decode(&newer),
            Err(DecodeError::Version(v)) if v == VERSION + 1
        ));
        assert!(matches!(Envelope::decode(&[]), Err(DecodeError::Empty)));
        assert!(matches!(
            Envelope::decode(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Malformed(_))
        ));
    }
}
