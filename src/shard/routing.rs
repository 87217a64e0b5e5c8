//! Who owns what. Every shard computes the same answers locally, so finding an owner never
//! needs a message.

use std::hash::{BuildHasher, Hash, Hasher};

use uuid::Uuid;

/// Fixed seeds: the mapping must be identical on every shard of the process.
fn hasher() -> ahash::AHasher {
    ahash::RandomState::with_seeds(
        0x5167_6e61_6c46_6973,
        0x6853_6572_7665_7221,
        0x0bad_cafe_f00d_d00d,
        0x1234_5678_9abc_def0,
    )
    .build_hasher()
}

fn bucket(hash: u64, shards: u32) -> u32 {
    // Multiply-shift instead of `%`: unbiased enough and avoids a division.
    (((hash >> 32) * u64::from(shards)) >> 32) as u32
}

/// The shard that owns the room `(game_name, code)`; `code` is the stored upper-case code.
pub fn room_owner(game_name: &str, code: &str, shards: u32) -> u32 {
    let mut h = hasher();
    game_name.hash(&mut h);
    code.hash(&mut h);
    bucket(h.finish(), shards)
}

/// The shard that counts a game's rooms (for `server.max_rooms_per_game`).
pub fn game_owner(game_name: &str, shards: u32) -> u32 {
    let mut h = hasher();
    0xffu8.hash(&mut h);
    game_name.hash(&mut h);
    bucket(h.finish(), shards)
}

/// The shard that keeps an IP's connection count, join quota and `Authenticate` windows.
pub fn ip_owner(ip: &std::net::IpAddr, shards: u32) -> u32 {
    let mut h = hasher();
    0xeeu8.hash(&mut h);
    ip.hash(&mut h);
    bucket(h.finish(), shards)
}

/// Mints a room id that names its owner: the first byte is the owner shard, the rest is random
/// (still a valid v4 UUID), so a `room_id` alone routes a command.
pub fn mint_room_id(owner: u32) -> Uuid {
    let mut bytes = *Uuid::new_v4().as_bytes();
    bytes[0] = owner as u8;
    Uuid::from_bytes(bytes)
}

/// The owner shard encoded in a room id by [`mint_room_id`], if it is a valid shard index.
pub fn room_id_owner(id: &Uuid, shards: u32) -> Option<u32> {
    let owner = u32::from(id.as_bytes()[0]);
    (owner < shards).then_some(owner)
}

/// Most shards a process runs: room ids carry the owner in one byte.
pub const MAX_SHARDS: usize = 256;

/// The bit that marks a shard id as another node's (cluster mode): such an id is
/// `REMOTE | peer << 8 | shard`, with `peer` the node's number in `cluster::nodes` and `shard`
/// its shard there. Sessions and owners on other nodes are addressed with these ids, so the
/// owner machine and the rooms need not know about nodes at all.
const REMOTE: u32 = 0x8000_0000;

/// Most peer processes a node can number.
pub const MAX_PEERS: u32 = 1 << 23;

/// The id of shard `shard` of peer `peer`.
pub fn remote_shard(peer: u32, shard: u32) -> u32 {
    debug_assert!(peer < MAX_PEERS && (shard as usize) < MAX_SHARDS);
    REMOTE | peer << 8 | (shard & 0xff)
}

/// The peer and its shard that a remote shard id names; `None` for a local shard.
pub fn split_remote(id: u32) -> Option<(u32, u32)> {
    (id & REMOTE != 0).then_some(((id & !REMOTE) >> 8, id & 0xff))
}

/// Whether shard id `id` is one of peer `peer`'s (`None`: of any other node).
pub fn is_remote_on(id: u32, peer: Option<u32>) -> bool {
    split_remote(id).is_some_and(|(p, _)| peer.is_none_or(|want| want == p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_stable_and_in_range() {
        for shards in 1..8 {
            let a = room_owner("kart racer", "QX7M4D", shards);
            assert_eq!(a, room_owner("kart racer", "QX7M4D", shards));
            assert!(a < shards);
            assert!(game_owner("kart racer", shards) < shards);
        }
        assert_eq!(room_owner("g", "AAAAAA", 1), 0);
    }

    #[test]
    fn codes_spread_over_shards() {
        let mut seen = [0u32; 4];
        for i in 0..4000 {
            seen[room_owner("game", &format!("C{i:05}"), 4) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }

    #[test]
    fn remote_ids_round_trip_and_never_look_local() {
        for (peer, shard) in [(0, 0), (1, 3), (MAX_PEERS - 1, 255)] {
            let id = remote_shard(peer, shard);
            assert_eq!(split_remote(id), Some((peer, shard)));
            assert!(id as usize >= MAX_SHARDS);
        }
        assert_eq!(split_remote(3), None);
        assert!(is_remote_on(remote_shard(1, 3), None));
        assert!(is_remote_on(remote_shard(1, 3), Some(1)));
        assert!(!is_remote_on(remote_shard(1, 3), Some(2)));
        assert!(!is_remote_on(3, None));
    }

    #[test]
    fn room_ids_carry_their_owner() {
        let id = mint_room_id(3);
        assert_eq!(room_id_owner(&id, 4), Some(3));
        assert_eq!(room_id_owner(&id, 2), None);
        assert_eq!(id.get_version_num(), 4);
    }
}
