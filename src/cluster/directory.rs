//! The room directory: where each room lives, in a JetStream KV bucket every node shares.
//!
//! Two keys per room, both holding its [`Home`] as JSON (readable with `nats kv get`):
//! `code.g<game>.c<code>` (game and code base64url-encoded: a game name may hold spaces, dots
//! or any Unicode, none of which a key may) and `room.<room id>`. A code key is written with
//! KV `create`, which fails when the key holds a value: two nodes can never both create one
//! code. Only the entry naming our room is ever deleted, at the revision we read, so a late
//! delete cannot remove the next room that took the code.

use std::time::Instant;

use async_nats::jetstream::kv::{CreateErrorKind, Operation, Store};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::stats::{ClusterStats, DirOp, DirOutcome};

/// The bucket's name.
pub const BUCKET: &str = "signal_fish_rooms";

/// Where a room lives: the node and shard that own it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Home {
    pub node: String,
    /// The process of `node` that holds the room (its liveness `instance`): a room of a node
    /// that has since restarted is gone, whatever the entry says.
    #[serde(default)]
    pub instance: Uuid,
    pub shard: u32,
    pub room_id: Uuid,
}

/// The outcome of a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The code is ours.
    Won,
    /// Another room holds the code (its home, when it could be read).
    Taken(Option<Home>),
}

/// NATS failed (unreachable, timed out, refused): the caller must fail closed.
#[derive(Debug, thiserror::Error)]
#[error("room directory: {0}")]
pub struct DirectoryError(String);

fn fail(what: &str, err: impl std::fmt::Display) -> DirectoryError {
    DirectoryError(format!("{what}: {err}"))
}

/// The key of a room code in a game.
pub fn code_key(game: &str, code: &str) -> String {
    // The `g`/`c` prefixes keep every token non-empty (an empty game name would otherwise make
    // `code..c…`, not a key).
    format!(
        "code.g{}.c{}",
        URL_SAFE_NO_PAD.encode(game),
        URL_SAFE_NO_PAD.encode(code)
    )
}

/// The key of a room id.
pub fn room_key(room_id: &Uuid) -> String {
    format!("room.{room_id}")
}

/// The directory, on one NATS connection. Cheap to clone.
#[derive(Clone)]
pub struct Directory {
    kv: Store,
}

impl Directory {
    pub fn new(kv: Store) -> Self {
        Directory { kv }
    }

    /// Claims `(game, code)` for `home`; exactly one of several concurrent claims wins.
    pub async fn create(
        &self,
        game: &str,
        code: &str,
        home: &Home,
    ) -> Result<Claim, DirectoryError> {
        let key = code_key(game, code);
        let value = encode(home)?;
        if let Err(err) = self.kv.create(&key, value.clone().into()).await {
            // Lost the race, or NATS failed: what the key holds now tells which. (A race on a
            // deleted key fails with a sequence error rather than AlreadyExists.)
            match self.lookup_key(&key).await? {
                // Ours after all: the write landed and its answer was lost.
                Some(holder) if holder == *home => {}
                Some(other) => return Ok(Claim::Taken(Some(other))),
                None if err.kind() == CreateErrorKind::AlreadyExists => {
                    return Ok(Claim::Taken(None));
                }
                None => return Err(fail("create", err)),
            }
        }
        if let Err(err) = self.kv.put(room_key(&home.room_id), value.into()).await {
            // Half a room is worse than none: give the code back.
            let _ = self.delete(game, code, &home.room_id).await;
            return Err(fail("create", err));
        }
        Ok(Claim::Won)
    }

    /// The home of the room holding `(game, code)`.
    pub async fn lookup_code(
        &self,
        game: &str,
        code: &str,
    ) -> Result<Option<Home>, DirectoryError> {
        self.lookup_key(&code_key(game, code)).await
    }

    /// The home of room `room_id`.
    pub async fn lookup_room(&self, room_id: &Uuid) -> Result<Option<Home>, DirectoryError> {
        self.lookup_key(&room_key(room_id)).await
    }

    /// Removes room `room_id`'s entries. Returns whether its code entry was still its own.
    pub async fn delete(
        &self,
        game: &str,
        code: &str,
        room_id: &Uuid,
    ) -> Result<bool, DirectoryError> {
        let key = code_key(game, code);
        let ours = match self.kv.entry(&key).await.map_err(|e| fail("delete", e))? {
            Some(entry) if entry.operation == Operation::Put => {
                decode(&entry.value).is_some_and(|h| h.room_id == *room_id)
                    && self
                        .kv
                        .delete_expect_revision(&key, Some(entry.revision))
                        .await
                        .is_ok()
            }
            _ => false,
        };
        // Room ids are never reused: remove the key outright (a stream purge by subject leaves
        // no delete marker behind, unlike a KV delete).
        self.kv
            .stream
            .purge()
            .filter(format!("{}{}", self.kv.prefix, room_key(room_id)))
            .await
            .map_err(|e| fail("delete", e))?;
        Ok(ours)
    }

    async fn lookup_key(&self, key: &str) -> Result<Option<Home>, DirectoryError> {
        let entry = self.kv.entry(key).await.map_err(|e| fail("lookup", e))?;
        Ok(entry
            .filter(|e| e.operation == Operation::Put)
            .and_then(|e| decode(&e.value)))
    }
}

/// A directory request a shard hands to the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryRequest {
    Create {
        game: String,
        code: String,
        home: Home,
    },
    LookupCode {
        game: String,
        code: String,
    },
    LookupRoom {
        room_id: Uuid,
    },
    Delete {
        game: String,
        code: String,
        room_id: Uuid,
    },
}

/// The answer to a [`DirectoryRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryReply {
    Created(Claim),
    Found(Option<Home>),
    Deleted(bool),
    /// NATS failed; the message says how.
    Failed(String),
}

impl Directory {
    /// Runs one request, counting and timing it.
    pub async fn serve(&self, request: DirectoryRequest, stats: &ClusterStats) -> DirectoryReply {
        let started = Instant::now();
        let (op, outcome, reply) = match request {
            DirectoryRequest::Create { game, code, home } => {
                match self.create(&game, &code, &home).await {
                    Ok(Claim::Won) => (
                        DirOp::Create,
                        DirOutcome::Ok,
                        DirectoryReply::Created(Claim::Won),
                    ),
                    Ok(taken) => (
                        DirOp::Create,
                        DirOutcome::Miss,
                        DirectoryReply::Created(taken),
                    ),
                    Err(e) => (
                        DirOp::Create,
                        DirOutcome::Error,
                        DirectoryReply::Failed(e.to_string()),
                    ),
                }
            }
            DirectoryRequest::LookupCode { game, code } => {
                found(self.lookup_code(&game, &code).await)
            }
            DirectoryRequest::LookupRoom { room_id } => found(self.lookup_room(&room_id).await),
            DirectoryRequest::Delete {
                game,
                code,
                room_id,
            } => match self.delete(&game, &code, &room_id).await {
                Ok(true) => (DirOp::Delete, DirOutcome::Ok, DirectoryReply::Deleted(true)),
                Ok(false) => (
                    DirOp::Delete,
                    DirOutcome::Miss,
                    DirectoryReply::Deleted(false),
                ),
                Err(e) => (
                    DirOp::Delete,
                    DirOutcome::Error,
                    DirectoryReply::Failed(e.to_string()),
                ),
            },
        };
        stats.directory(op, outcome, started.elapsed());
        reply
    }
}

fn found(result: Result<Option<Home>, DirectoryError>) -> (DirOp, DirOutcome, DirectoryReply) {
    match result {
        Ok(Some(home)) => (
            DirOp::Lookup,
            DirOutcome::Ok,
            DirectoryReply::Found(Some(home)),
        ),
        Ok(None) => (DirOp::Lookup, DirOutcome::Miss, DirectoryReply::Found(None)),
        Err(e) => (
            DirOp::Lookup,
            DirOutcome::Error,
            DirectoryReply::Failed(e.to_string()),
        ),
    }
}

fn encode(home: &Home) -> Result<Vec<u8>, DirectoryError> {
    serde_json::to_vec(home).map_err(|e| fail("encode", e))
}

/// A value another build wrote in a shape we do not read counts as no entry.
fn decode(bytes: &[u8]) -> Option<Home> {
    serde_json::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The characters a NATS KV key may hold.
    fn valid_key(key: &str) -> bool {
        !key.starts_with('.')
            && !key.ends_with('.')
            && !key.contains("..")
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-/_=.".contains(c))
    }

    #[test]
    fn any_game_name_makes_a_valid_distinct_key() {
        let games = ["", "My Game", "a.b", "ゲーム 🎮", "x>*", "A", "a"];
        let keys: Vec<String> = games.iter().map(|g| code_key(g, "ABC123")).collect();
        for key in &keys {
            assert!(valid_key(key), "{key}");
        }
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        assert_ne!(code_key("ab", "c"), code_key("a", "bc"));
        assert!(valid_key(&room_key(&Uuid::new_v4())));
    }
}
