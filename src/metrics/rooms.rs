//! Room statistics per game, kept up to date by each owner shard as rooms fill and empty, so a
//! scrape reads them in O(games) instead of walking every room.

use std::collections::BTreeMap;

/// One game's rooms on a shard (or merged over shards).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GameRooms {
    /// How many rooms the game has.
    pub rooms: u64,
    /// `by_players[n]` = rooms with exactly `n` players.
    pub by_players: Vec<u64>,
}

/// Rooms by game.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomSummary {
    pub games: BTreeMap<String, GameRooms>,
}

impl RoomSummary {
    /// A room appeared with `players` players.
    pub fn room_added(&mut self, game: &str, players: usize) {
        let entry = self.games.entry(game.to_owned()).or_default();
        entry.rooms += 1;
        bump(&mut entry.by_players, players, true);
    }

    /// A room with `players` players went away.
    pub fn room_removed(&mut self, game: &str, players: usize) {
        if let Some(entry) = self.games.get_mut(game) {
            entry.rooms = entry.rooms.saturating_sub(1);
            bump(&mut entry.by_players, players, false);
            if entry.rooms == 0 {
                self.games.remove(game);
            }
        }
    }

    /// A room's player count changed.
    pub fn players_changed(&mut self, game: &str, from: usize, to: usize) {
        if from == to {
            return;
        }
        if let Some(entry) = self.games.get_mut(game) {
            bump(&mut entry.by_players, from, false);
            bump(&mut entry.by_players, to, true);
        }
    }

    /// Adds another shard's summary to this one.
    pub fn add(&mut self, other: &RoomSummary) {
        for (game, theirs) in &other.games {
            let mine = self.games.entry(game.clone()).or_default();
            mine.rooms += theirs.rooms;
            if mine.by_players.len() < theirs.by_players.len() {
                mine.by_players.resize(theirs.by_players.len(), 0);
            }
            for (n, count) in theirs.by_players.iter().enumerate() {
                mine.by_players[n] += count;
            }
        }
    }

    /// Rooms over all games.
    pub fn active_rooms(&self) -> u64 {
        self.games.values().map(|g| g.rooms).sum()
    }
}

fn bump(counts: &mut Vec<u64>, index: usize, up: bool) {
    if counts.len() <= index {
        counts.resize(index + 1, 0);
    }
    if up {
        counts[index] += 1;
    } else {
        counts[index] = counts[index].saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_and_merges_rooms_by_player_count() {
        let mut a = RoomSummary::default();
        a.room_added("demo", 1);
        a.players_changed("demo", 1, 2);
        a.room_added("other", 1);
        let mut b = RoomSummary::default();
        b.room_added("demo", 3);
        a.add(&b);
        assert_eq!(a.active_rooms(), 3);
        assert_eq!(a.games["demo"].by_players, vec![0, 0, 1, 1]);
        a.room_removed("other", 1);
        assert!(!a.games.contains_key("other"));
    }
}
