//! `AuthorityRequest` (spec decision 5): exactly one `AuthorityResponse` per request.
//!
//! At most one player holds authority. The creator gets it at creation if the room supports
//! it; afterwards it changes hands only by request (claim when nobody holds it, release by the
//! holder). A holder who leaves frees it (see `lobby.rs`) and nobody is promoted.

use chrono::{DateTime, Utc};

use crate::protocol::{ErrorCode, PlayerId};

use super::snapshot;
use super::{Effects, Outbound, Room};

impl Room {
    /// Claims (`become_authority`) or releases authority. The requester gets one
    /// `AuthorityResponse`; a change of holder is then announced to every player and spectator
    /// with an `AuthorityChanged` personalised per recipient. Claiming authority one already
    /// holds is granted without announcement.
    pub fn request_authority(
        &mut self,
        player: PlayerId,
        become_authority: bool,
        now: DateTime<Utc>,
    ) -> Effects {
        let Some(addr) = self.player_addr(player) else {
            return self.answer_outsider(player, snapshot::not_in_room_authority_response);
        };
        self.last_activity = now;
        let reply = |msg| vec![Outbound::session(addr, msg)];

        if !self.settings.supports_authority {
            return reply(snapshot::authority_denied(
                "Room does not support authority",
                ErrorCode::AuthorityNotSupported,
            ));
        }
        let holder = self.authority;
        let new_holder = match (become_authority, holder) {
            // Idempotent: nothing changes, so nobody needs to hear about it.
            (true, Some(h)) if h == player => return reply(snapshot::authority_granted()),
            (true, Some(_)) => {
                return reply(snapshot::authority_denied(
                    "Another player already has authority",
                    ErrorCode::AuthorityDenied,
                ));
            }
            (true, None) => Some(player),
            (false, Some(h)) if h == player => None,
            (false, _) => {
                return reply(snapshot::authority_denied(
                    "You do not have authority to release",
                    ErrorCode::AuthorityDenied,
                ));
            }
        };
        self.authority = new_holder;

        let mut fx = reply(snapshot::authority_granted());
        fx.extend(self.authority_announcements());
        fx
    }

    /// One `AuthorityChanged` per member, each telling the recipient whether it is the holder.
    pub(super) fn authority_announcements(&self) -> impl Iterator<Item = Outbound> + '_ {
        let holder = self.authority;
        let players = self.players.iter().map(move |p| {
            let msg = snapshot::authority_changed(holder, holder == Some(p.id));
            Outbound::session(p.addr, msg)
        });
        let spectators = self
            .spectators
            .iter()
            .map(move |s| Outbound::session(s.addr, snapshot::authority_changed(holder, false)));
        players.chain(spectators)
    }
}
