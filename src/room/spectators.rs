//! Spectators (spec decision 6): they watch without a seat, see every broadcast the players
//! see (they are part of [`Audience::Everyone`]) and receive relayed game data.

use chrono::{DateTime, Utc};

use crate::protocol::{GameDataEncoding, PlayerId, SpectatorStateChangeReason};

use super::{Audience, Effects, Outbound, Rejection, Room, Spectator, SpectatorJoiner};

impl Room {
    /// Adds a spectator: `SpectatorJoined` to it (the list includes itself), then
    /// `NewSpectatorJoined` to everyone else. A repeat join replaces the entry in place.
    /// Spectators are unlimited; only a closed room refuses. A spectator join counts as
    /// activity, like a player join.
    pub fn join_spectator(
        &mut self,
        s: SpectatorJoiner,
        now: DateTime<Utc>,
    ) -> Result<Effects, Rejection> {
        if self.closed {
            return Err(Rejection::room_closed());
        }
        let id = s.id;
        let spectator = Spectator {
            id,
            name: s.name,
            addr: s.addr,
            // Kept across a repeat join: the connection's negotiated format did not change.
            encoding: self
                .spectators
                .iter()
                .find(|old| old.id == id)
                .map_or(GameDataEncoding::Json, |old| old.encoding),
            connected_at: now,
        };
        let addr = spectator.addr;
        match self.spectators.iter_mut().find(|old| old.id == id) {
            Some(old) => *old = spectator,
            None => self.spectators.push(spectator),
        }
        self.last_activity = now;

        let mut fx = vec![Outbound::session(addr, self.spectator_joined(id))];
        if let Some(joined) = self.spectators.iter().find(|s| s.id == id) {
            self.broadcast(&mut fx, Audience::EveryoneExcept(id), || {
                self.new_spectator_joined(joined)
            });
        }
        Ok(fx)
    }

    /// Removes a spectator. One still connected (any reason but `disconnected`) gets
    /// `SpectatorLeft`; everyone remaining gets `SpectatorDisconnected`. Empty if `id` is not
    /// spectating here. Takes no clock, so a spectator leaving is not room activity.
    pub fn leave_spectator(&mut self, id: PlayerId, reason: SpectatorStateChangeReason) -> Effects {
        let Some(index) = self.spectators.iter().position(|s| s.id == id) else {
            return Vec::new();
        };
        let gone = self.spectators.remove(index);

        let mut fx = Vec::new();
        if reason != SpectatorStateChangeReason::Disconnected {
            fx.push(Outbound::session(gone.addr, self.spectator_left(reason)));
        }
        self.broadcast(&mut fx, Audience::Everyone, || {
            self.spectator_disconnected(id, reason)
        });
        fx
    }
}
