//! The room directory: where each room lives, in a JetStream KV bucket every node shares.
//!
//! Two keys per room, both holding its [`Home`] as JSON (readable with `nats kv get`):
//! `code.g<game>.c<code>` (game and code base64url-encoded: a game name may hold spaces, dots
//! or any Unicode, none of which a key may) and `room.<room id>`. A code key is written with
//! KV `create`, which fails when the key holds a value: two nodes can never both create one
//! code. Only the entry naming our room is ever deleted, at the revision we read, so a late
//! delete cannot remove the next room that took the code.
//!
//! Every KV call is bounded by [`CALL_TIMEOUT`]: a NATS that hangs fails the request rather
//! than hold it for ever. When a node is gone, [`Directory::sweep`] removes the entries that
//! name its process; a node back from a NATS outage puts its rooms again with
//! [`Directory::register`].

use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{CreateErrorKind, Operation, Store, UpdateErrorKind};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::stats::{ClusterStats, DirOp, DirOutcome};

/// The bucket's name.
pub const BUCKET: &str = "signal_fish_rooms";
/// The longest one KV call may take before the request fails. A request makes at most three
/// (a create that loses its answer: create, read, put); a sweep makes many, each bounded.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

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

/// `call`, failed as `what` when it takes longer than [`CALL_TIMEOUT`].
async fn bounded<T, E>(
    what: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<Result<T, E>, DirectoryError> {
    tokio::time::timeout(CALL_TIMEOUT, call).await.map_err(|_| {
        fail(
            what,
            format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
        )
    })
}

/// The longest a sweep may take to list the directory's keys.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);
/// A sweep reads the entries this many keys at a time, then removes the ones to go.
const SWEEP_CHUNK: usize = 512;
/// KV calls a sweep keeps in flight at once.
const SWEEP_IN_FLIGHT: usize = 32;

/// The prefix of code keys, and of room keys.
const CODE_PREFIX: &str = "code.";
const ROOM_PREFIX: &str = "room.";

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
        if let Err(err) = bounded("create", self.kv.create(&key, value.clone().into())).await? {
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
        self.put_room(game, code, home, value).await
    }

    /// Puts the room id's entry of a room whose code entry is ours.
    async fn put_room(
        &self,
        game: &str,
        code: &str,
        home: &Home,
        value: Vec<u8>,
    ) -> Result<Claim, DirectoryError> {
        let put = bounded("create", self.kv.put(room_key(&home.room_id), value.into())).await;
        if let Err(err) = put.and_then(|r| r.map_err(|e| fail("create", e))) {
            // Half a room is worse than none: give the code back.
            let _ = self.delete(game, code, &home.room_id).await;
            return Err(err);
        }
        Ok(Claim::Won)
    }

    /// Puts room `home` in the directory again, after NATS came back (a sweep may have removed
    /// it while this node seemed gone). Like [`Directory::create`], and won when the code's
    /// entry already names `home`: then the entry is written again, so a sweep that read it
    /// before fails its expected-revision delete.
    pub async fn register(
        &self,
        game: &str,
        code: &str,
        home: &Home,
    ) -> Result<Claim, DirectoryError> {
        let key = code_key(game, code);
        let value = encode(home)?;
        let entry = bounded("register", self.kv.entry(&key))
            .await?
            .map_err(|e| fail("register", e))?;
        let Some(entry) = entry.filter(|e| e.operation == Operation::Put) else {
            return self.create(game, code, home).await;
        };
        match decode(&entry.value) {
            Some(holder) if holder == *home => {}
            other => return Ok(Claim::Taken(other)),
        }
        let rewrite = self.kv.update(&key, value.clone().into(), entry.revision);
        match bounded("register", rewrite).await? {
            Ok(_) => {}
            // Changed since we read it (swept, or deleted): start over as a create.
            Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => {
                return self.create(game, code, home).await;
            }
            Err(err) => return Err(fail("register", err)),
        }
        self.put_room(game, code, home, value).await
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
        let entry = bounded("delete", self.kv.entry(&key))
            .await?
            .map_err(|e| fail("delete", e))?;
        let ours = match entry {
            Some(entry) if entry.operation == Operation::Put => {
                decode(&entry.value).is_some_and(|h| h.room_id == *room_id)
                    && bounded(
                        "delete",
                        self.kv.delete_expect_revision(&key, Some(entry.revision)),
                    )
                    .await?
                    .is_ok()
            }
            _ => false,
        };
        // Room ids are never reused: remove the key outright (a stream purge by subject leaves
        // no delete marker behind, unlike a KV delete).
        let purge =
            self.kv
                .stream
                .purge()
                .filter(format!("{}{}", self.kv.prefix, room_key(room_id)));
        bounded("delete", purge.into_future())
            .await?
            .map_err(|e| fail("delete", e))?;
        Ok(ours)
    }

    /// Removes every entry naming process `instance` of `node` (a node gone: its rooms died
    /// with it). Returns how many this call removed. Safe to run on every node at once: a code
    /// entry goes only at the revision read, a room entry's purge keeps anything written after
    /// it. `still_gone` is asked after each batch of matching entries is read and before they
    /// are removed; `false` ends the sweep there (the node turned out alive, see `sweep.rs`).
    pub async fn sweep<F>(
        &self,
        node: &str,
        instance: Uuid,
        mut still_gone: impl FnMut() -> F,
    ) -> Result<u64, DirectoryError>
    where
        F: Future<Output = bool>,
    {
        let listing = async {
            let keys = self.kv.keys().await.map_err(|e| e.to_string())?;
            keys.try_collect::<Vec<String>>()
                .await
                .map_err(|e| e.to_string())
        };
        // The one call whose work grows with the directory: bounded, but more loosely.
        let keys = tokio::time::timeout(LIST_TIMEOUT, listing)
            .await
            .map_err(|_| fail("sweep", "listing the keys timed out"))?
            .map_err(|e| fail("sweep", e))?;
        let mut swept = 0;
        for chunk in keys.chunks(SWEEP_CHUNK) {
            // Owned keys: borrowed ones make the future too general to spawn (a rustc limit).
            let read = futures_util::stream::iter(chunk.to_vec())
                .map(|key| async move {
                    let entry = bounded("sweep", self.kv.entry(&key))
                        .await?
                        .map_err(|e| fail("sweep", e))?;
                    Ok::<_, DirectoryError>(
                        entry
                            .filter(|e| e.operation == Operation::Put)
                            .filter(|e| {
                                decode(&e.value)
                                    .is_some_and(|h| h.node == node && h.instance == instance)
                            })
                            .map(|e| (key, e.revision)),
                    )
                })
                .buffer_unordered(SWEEP_IN_FLIGHT);
            let doomed: Vec<(String, u64)> = read
                .try_filter_map(|found| async move { Ok(found) })
                .try_collect()
                .await?;
            if doomed.is_empty() {
                continue;
            }
            // Checked after the entries were read: see `sweep.rs` for why that order.
            if !still_gone().await {
                break;
            }
            let removed: Vec<bool> = futures_util::stream::iter(doomed)
                .map(|(key, revision)| async move { self.remove(&key, revision).await })
                .buffer_unordered(SWEEP_IN_FLIGHT)
                .try_collect()
                .await?;
            swept += removed.into_iter().filter(|r| *r).count() as u64;
        }
        Ok(swept)
    }

    /// Removes `key` as it was at `revision`; whether this call removed it.
    async fn remove(&self, key: &str, revision: u64) -> Result<bool, DirectoryError> {
        if key.starts_with(CODE_PREFIX) {
            let delete = self.kv.delete_expect_revision(key, Some(revision));
            match bounded("sweep", delete).await? {
                Ok(()) => Ok(true),
                // Another node swept it first, or it was written again since.
                Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
                Err(err) => Err(fail("sweep", err)),
            }
        } else if key.starts_with(ROOM_PREFIX) {
            // Up to and including the revision read: a put after it survives.
            let purge = self
                .kv
                .stream
                .purge()
                .filter(format!("{}{key}", self.kv.prefix))
                .sequence(revision + 1);
            let purged = bounded("sweep", purge.into_future())
                .await?
                .map_err(|e| fail("sweep", e))?;
            Ok(purged.purged > 0)
        } else {
            Ok(false)
        }
    }

    async fn lookup_key(&self, key: &str) -> Result<Option<Home>, DirectoryError> {
        let entry = bounded("lookup", self.kv.entry(key))
            .await?
            .map_err(|e| fail("lookup", e))?;
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
    /// Puts a room of this node back after NATS came back; answered `Created`, won when the
    /// code's entry already names `home` (see [`Directory::register`]).
    Register {
        game: String,
        code: String,
        home: Home,
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

impl DirectoryRequest {
    /// The operation it counts as.
    fn op(&self) -> DirOp {
        match self {
            DirectoryRequest::Create { .. } => DirOp::Create,
            DirectoryRequest::LookupCode { .. } | DirectoryRequest::LookupRoom { .. } => {
                DirOp::Lookup
            }
            DirectoryRequest::Delete { .. } => DirOp::Delete,
            DirectoryRequest::Register { .. } => DirOp::Register,
        }
    }

    /// Answers the request `Failed` without asking NATS (its connection is down), counted.
    pub fn refuse(&self, stats: &ClusterStats, why: &str) -> DirectoryReply {
        stats.directory_refused(self.op());
        DirectoryReply::Failed(format!("room directory: {why}"))
    }
}

impl Directory {
    /// Runs one request, counting and timing it.
    pub async fn serve(&self, request: DirectoryRequest, stats: &ClusterStats) -> DirectoryReply {
        let started = Instant::now();
        let (op, outcome, reply) = match request {
            DirectoryRequest::Create { game, code, home } => {
                created(DirOp::Create, self.create(&game, &code, &home).await)
            }
            DirectoryRequest::Register { game, code, home } => {
                created(DirOp::Register, self.register(&game, &code, &home).await)
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

fn created(
    op: DirOp,
    result: Result<Claim, DirectoryError>,
) -> (DirOp, DirOutcome, DirectoryReply) {
    match result {
        Ok(Claim::Won) => (op, DirOutcome::Ok, DirectoryReply::Created(Claim::Won)),
        Ok(taken) => (op, DirOutcome::Miss, DirectoryReply::Created(taken)),
        Err(e) => (op, DirOutcome::Error, DirectoryReply::Failed(e.to_string())),
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
