//! Seats and the lobby phases (spec decision 4).
//!
//! `waiting` → `lobby` when the last seat is taken (rooms of two or more seats), `lobby` →
//! `finalized` when every current player is ready (then `GameStarting`, once). Any departure
//! from `lobby` or `finalized` reverts to `waiting` and clears the ready set, so a ready mark
//! can never outlive its player or carry over into the next round (behaviour.md §4.5's bug).
//! A one-seat room has no lobby phase: its player readying finalizes it directly.

use chrono::{DateTime, Utc};

use crate::protocol::types::RawJson;
use crate::protocol::{ConnectionInfo, ErrorCode, LobbyState, PlayerId};

use super::snapshot;
use super::{Audience, Effects, Joiner, LeaveKind, Outbound, Player, Rejection, Room};

impl Room {
    /// Seats a player. The first player ever seated is the creator and holds authority iff the
    /// room supports it. On success: `RoomJoined` to the joiner (the state *after* the join, so
    /// a joiner who fills the room already sees `lobby`), `PlayerJoined` to everyone else, and,
    /// if the room just filled, `LobbyStateChanged{lobby}` to everyone.
    pub fn join(&mut self, joiner: Joiner, now: DateTime<Utc>) -> Result<Effects, Rejection> {
        self.admit(&joiner)?;
        let id = joiner.id;
        if !self.founded {
            self.founded = true;
            if self.settings.supports_authority {
                self.authority = Some(id);
            }
        }
        let addr = joiner.addr;
        let filled = self.seat(joiner, now);

        // The joiner is the last player: it was just pushed.
        let Some(joined) = self.players.last() else {
            return Ok(Vec::new());
        };
        let mut fx = vec![Outbound::session(addr, self.room_joined(joined))];
        self.broadcast(&mut fx, Audience::EveryoneExcept(id), || {
            self.player_joined(joined)
        });
        if filled {
            self.broadcast(&mut fx, Audience::Everyone, || self.lobby_state_changed());
        }
        Ok(fx)
    }

    /// Seats again a player who dropped and reconnected (spec decision 3), under its old id
    /// and name and with its fresh token. Authority comes back if it held it and nobody took
    /// it meanwhile. `Reconnected` (with `missed`) to the player, `PlayerReconnected` to the
    /// others, `AuthorityChanged` to everyone if authority came back, and
    /// `LobbyStateChanged{lobby}` if the room just filled. Refused with `ROOM_FULL` if the
    /// seat was taken meanwhile (a room that is not full is never finalized).
    pub fn rejoin(
        &mut self,
        joiner: Joiner,
        held_authority: bool,
        missed: Vec<RawJson>,
        now: DateTime<Utc>,
    ) -> Result<Effects, Rejection> {
        if self.closed {
            return Err(Rejection::room_closed());
        }
        if self.contains(joiner.id) {
            return Err(Rejection::new(
                "Player is already connected",
                ErrorCode::PlayerAlreadyConnected,
            ));
        }
        if self.seats_full() {
            return Err(Rejection::new("Room is full", ErrorCode::RoomFull));
        }
        let id = joiner.id;
        let restored =
            held_authority && self.settings.supports_authority && self.authority.is_none();
        if restored {
            self.authority = Some(id);
        }
        let addr = joiner.addr;
        let filled = self.seat(joiner, now);

        let Some(back) = self.players.last() else {
            return Ok(Vec::new());
        };
        let mut fx = vec![Outbound::session(addr, self.reconnected(back, missed))];
        self.broadcast(&mut fx, Audience::EveryoneExcept(id), || {
            snapshot::player_reconnected(id)
        });
        if restored {
            fx.extend(self.authority_announcements());
        }
        if filled {
            self.broadcast(&mut fx, Audience::Everyone, || self.lobby_state_changed());
        }
        Ok(fx)
    }

    /// Removes a player. `RoomLeft` to the leaver (voluntary only), `PlayerLeft` to everyone
    /// remaining, `AuthorityChanged{null}` if the leaver held authority (decision 5: nobody is
    /// promoted), and `LobbyStateChanged{waiting}` if the room was in `lobby` or `finalized`.
    /// Empty if `player` has no seat.
    pub fn leave(&mut self, player: PlayerId, kind: LeaveKind, now: DateTime<Utc>) -> Effects {
        let Some(index) = self.players.iter().position(|p| p.id == player) else {
            return Vec::new();
        };
        let gone = self.players.remove(index);
        self.ready.retain(|id| *id != player);
        self.last_activity = now;

        let mut fx = Vec::new();
        match kind {
            LeaveKind::Voluntary => fx.push(Outbound::session(gone.addr, snapshot::room_left())),
            // Decision 3: a dropped player's place in the room is freed at once, as the others
            // see `PlayerLeft` now; the owner machine keeps its seat aside (token, former
            // authority, buffer of missed events) for `server.reconnection_window`.
            LeaveKind::Disconnected => {}
        }
        self.broadcast(&mut fx, Audience::Everyone, || {
            snapshot::player_left(player)
        });
        if self.authority == Some(player) {
            self.authority = None;
            self.broadcast(&mut fx, Audience::Everyone, || {
                snapshot::authority_changed(None, false)
            });
        }
        if self.state != LobbyState::Waiting {
            self.state = LobbyState::Waiting;
            self.ready.clear();
            self.broadcast(&mut fx, Audience::Everyone, || self.lobby_state_changed());
        }
        fx
    }

    /// `PlayerReady`: toggles the sender's ready mark. Allowed only in the lobby phase (or for
    /// the single player of a one-seat room); otherwise the sender gets `INVALID_ROOM_STATE`.
    /// Broadcasts `LobbyStateChanged`; when the last player readies, the room is `finalized`
    /// and `GameStarting` follows.
    pub fn toggle_ready(&mut self, player: PlayerId, now: DateTime<Utc>) -> Effects {
        let Some(addr) = self.player_addr(player) else {
            return self.answer_outsider(player, snapshot::not_in_room_error);
        };
        self.last_activity = now;
        if !self.ready_allowed() {
            return vec![Outbound::session(addr, snapshot::not_in_lobby())];
        }

        if let Some(i) = self.ready.iter().position(|id| *id == player) {
            self.ready.remove(i);
        } else {
            self.ready.push(player);
        }
        // Every mark belongs to a current player (leaving clears it), so equal counts mean
        // everyone is ready; the explicit check keeps that true even if the invariant broke.
        let all_ready = self.players.iter().all(|p| self.ready.contains(&p.id));
        if all_ready {
            self.state = LobbyState::Finalized;
        }

        let mut fx = vec![Outbound {
            to: Audience::Everyone,
            msg: self.lobby_state_changed(),
        }];
        if all_ready {
            fx.push(Outbound {
                to: Audience::Everyone,
                msg: self.game_starting(),
            });
        }
        fx
    }

    /// `ProvideConnectionInfo`: stores (replacing) the sender's connection info. Nothing is
    /// sent on success; the info shows up in later snapshots and in `GameStarting`.
    pub fn set_connection_info(
        &mut self,
        player: PlayerId,
        info: ConnectionInfo,
        now: DateTime<Utc>,
    ) -> Effects {
        let Some(p) = self.players.iter_mut().find(|p| p.id == player) else {
            return self.answer_outsider(player, snapshot::not_in_room_error);
        };
        p.connection_info = Some(info);
        self.last_activity = now;
        Vec::new()
    }

    /// Checks a joiner against the room, first failure wins.
    fn admit(&self, joiner: &Joiner) -> Result<(), Rejection> {
        if self.closed {
            return Err(Rejection::room_closed());
        }
        if self.contains(joiner.id) {
            return Err(Rejection::new(
                "Already in a room",
                ErrorCode::AlreadyInRoom,
            ));
        }
        if self.state == LobbyState::Finalized {
            return Err(Rejection::new(
                "Game has already started in this room",
                ErrorCode::InvalidRoomState,
            ));
        }
        let name = joiner.name.to_lowercase();
        if self.players.iter().any(|p| p.name.to_lowercase() == name) {
            return Err(Rejection::new(
                "Player name already exists in this room",
                ErrorCode::InvalidPlayerName,
            ));
        }
        if self.seats_full() {
            return Err(Rejection::new("Room is full", ErrorCode::RoomFull));
        }
        Ok(())
    }

    /// Gives `joiner` a seat (a join or a reconnect). A room this fills (with more than one
    /// seat) enters `lobby` with an empty ready set. Returns whether it filled.
    fn seat(&mut self, joiner: Joiner, now: DateTime<Utc>) -> bool {
        self.players.push(Player {
            id: joiner.id,
            name: joiner.name,
            addr: joiner.addr,
            encoding: joiner.encoding,
            connected_at: now,
            connection_info: None,
            reconnection_token: joiner.reconnection_token,
        });
        let filled = self.seats_full() && self.settings.max_players > 1;
        if filled {
            self.state = LobbyState::Lobby;
            self.ready.clear();
        }
        self.last_activity = now;
        filled
    }

    /// Every seat is taken.
    fn seats_full(&self) -> bool {
        self.players.len() >= usize::from(self.settings.max_players)
    }

    /// Whether `PlayerReady` may toggle now.
    fn ready_allowed(&self) -> bool {
        match self.state {
            LobbyState::Lobby => true,
            // A one-seat room never enters `lobby` (a lobby is for waiting on others), so its
            // seated player readies straight from `waiting`.
            LobbyState::Waiting => self.settings.max_players == 1 && self.seats_full(),
            LobbyState::Finalized => false,
        }
    }
}
