//! Sequencing and the seats of disconnected players (spec decision 3).
//!
//! Every event a room emits to its members (a broadcast: joins, leaves, lobby and authority
//! changes, relayed game data) takes the room's next sequence number, `1, 2, 3, …`, kept
//! here next to the room. The number never reaches the wire; it is what buffering and replay
//! are stated in:
//!
//! * a disconnected player's buffer holds, for each event it would have received, the pair
//!   `(seq, event)`, strictly increasing in `seq`;
//! * an event offered twice (the same `seq` again, or an older one, e.g. a frame that was
//!   both still queued for a slow consumer and re-offered by the room) is ignored: it
//!   *arrives twice, has effect once*;
//! * the buffer is bounded by `server.event_buffer_size`: when full, the event with the lowest
//!   `seq` goes first, and is counted;
//! * replay hands the buffer out in `seq` order, so each missed event is replayed once and in
//!   the order the room emitted it.
//!
//! Replies to one session (`RoomJoined`, `RoomLeft`, error answers) are not room events and
//! take no number.
//!
//! Each event also has an id ([`EventId`], `event_id.rs`): the room's number for the events
//! the owner writes itself, the sending shard's relay-lane number for game data a member's
//! shard fanned out from its replica (the owner numbers those too, when their record arrives).
//! The id travels with each frame to the member's mailbox (not to the client), which notes,
//! lane by lane, the highest id its socket accepted. When the connection drops, that summary
//! ([`Delivered`]) comes back with the disconnect; the room keeps its last `event_buffer_size`
//! events (its history), so the new seat's buffer holds every event since the player took its
//! seat that the summary does not cover: those still queued, those a full queue refused, those
//! in flight when the connection went, and those whose record reaches the owner later.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::protocol::binary::msgpack_to_json;
use crate::protocol::codec::encode_game_data;
use crate::protocol::types::RawJson;
use smallvec::SmallVec;

use super::super::event_id::{Delivered, EventId};
use super::super::replica::Replica;
use crate::protocol::{Frame, PlayerId};
use crate::room::Room;

/// A room this shard owns, with the sequencing and seat keeping that surround it.
#[derive(Debug)]
pub(super) struct OwnedRoom {
    pub room: Room,
    /// The number of the last event the room emitted to its members; 0 before the first.
    last_seq: u64,
    /// Players who dropped without `LeaveRoom` and may still come back.
    pub away: Vec<AwaySeat>,
    /// Since when the room has had no seated player while someone may still come back
    /// (`server.empty_room_timeout` counts from here).
    pub emptied_at: Option<Instant>,
    /// When the owner's timer set will next look at this room (`Owner::schedule`): never later
    /// than the room's earliest deadline, possibly earlier (activity pushes deadlines back
    /// without touching the set). `None` while the room has no entry in the set.
    pub wake_at: Option<Instant>,
    /// Players whose windows ran out, so a late `Reconnect` is told `RECONNECTION_EXPIRED`
    /// rather than that no record exists. Lives as long as the room.
    pub expired: Vec<PlayerId>,
    /// The room's last events, `(seq, id, except, event)`, at most `history_limit`.
    history: VecDeque<(u64, EventId, Option<PlayerId>, Missed)>,
    history_limit: usize,
    /// The number of the last event before each seated player took its seat: no event up to
    /// it is ever that player's.
    seated_after: Vec<(PlayerId, u64)>,
    /// Players the owner writes relayed game data to itself: those that took their seat back
    /// with `Reconnect` (`replica.rs` says why).
    pub owner_routed: SmallVec<[PlayerId; 2]>,
    /// Whether some member's session is on another node (set by `publish`): the owner writes
    /// game data to those itself, as to `owner_routed` players.
    pub remote_members: bool,
    /// The replicas last published, by shard (`publish.rs`).
    pub published: SmallVec<[(u32, Replica); 4]>,
    /// The number of the room's last replicas (`replica.rs`).
    pub epoch: u64,
}

impl OwnedRoom {
    /// `history_limit` is `server.event_buffer_size` when reconnection is on, else 0.
    pub fn new(room: Room, history_limit: usize) -> Self {
        OwnedRoom {
            room,
            last_seq: 0,
            away: Vec::new(),
            emptied_at: None,
            wake_at: None,
            expired: Vec::new(),
            history: VecDeque::new(),
            history_limit,
            seated_after: Vec::new(),
            owner_routed: SmallVec::new(),
            remote_members: false,
            published: SmallVec::new(),
            epoch: 0,
        }
    }

    /// Notes that `player` was just seated: events numbered from now on are its own.
    pub fn seated(&mut self, player: PlayerId) {
        let seq = self.last_seq;
        match self.seated_after.iter_mut().find(|(p, _)| *p == player) {
            Some(entry) => entry.1 = seq,
            None => self.seated_after.push((player, seq)),
        }
    }

    /// Keeps the seat of a player who dropped after its socket accepted the events `delivered`
    /// covers. The room numbered its events up to `before_leave` before the player's
    /// departure; the departure's own broadcasts (`PlayerLeft`, …) came after and are not for
    /// the player. The buffer starts with the events since the player's seating, up to
    /// `before_leave`, that it had not been written, taken from the history; older ones the
    /// history no longer holds count as dropped (those after the last owner event the player
    /// had: game data from other lanes among them may have reached it, so this may overcount).
    /// Returns what was buffered.
    pub fn keep_seat(
        &mut self,
        mut seat: AwaySeat,
        delivered: &Delivered,
        before_leave: u64,
    ) -> Buffered {
        let index = self
            .seated_after
            .iter()
            .position(|(p, _)| *p == seat.player);
        let joined = index.map_or(before_leave, |i| self.seated_after.swap_remove(i).1);
        let after = delivered.owner_seq().max(joined).min(before_leave);
        let mut counts = Buffered::default();
        let oldest_kept = self
            .history
            .front()
            .map_or(self.last_seq + 1, |(seq, ..)| *seq);
        counts.dropped += oldest_kept
            .saturating_sub(after + 1)
            .min(before_leave - after);
        seat.missed = MissedEvents::new(seat.missed.limit, joined, delivered.clone());
        for (seq, id, except, event) in &self.history {
            if *seq > before_leave {
                break;
            }
            if *except != Some(seat.player) {
                counts.add(seat.missed.push(*seq, *id, event.clone()));
            }
        }
        // Everything numbered so far is accounted for; the next event is the first to buffer.
        seat.missed.high = self.last_seq;
        self.away.push(seat);
        counts
    }

    /// Forgets a player who left for good.
    pub fn unseated(&mut self, player: PlayerId) {
        self.seated_after.retain(|(p, _)| *p != player);
    }

    /// The number of the last event emitted so far.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Numbers one event the owner writes to the room's members (its id is on the owner lane:
    /// [`OwnedRoom::last_event`]), and buffers it for every disconnected player it would have
    /// reached (`except` is the one member the event skips, if any). Returns how many copies
    /// were buffered and how many old ones that pushed out.
    pub fn emit(&mut self, except: Option<PlayerId>, event: impl FnOnce() -> Missed) -> Buffered {
        self.number(except, None, event)
    }

    /// Numbers game data a member's shard already fanned out as event `id` of its relay lane,
    /// and buffers it for every disconnected player whose socket had not accepted it.
    pub fn emit_relayed(&mut self, id: EventId, event: impl FnOnce() -> Missed) -> Buffered {
        self.number(None, Some(id), event)
    }

    /// The owner-lane id of the last event numbered.
    pub fn last_event(&self) -> EventId {
        EventId::owner(self.last_seq)
    }

    fn number(
        &mut self,
        except: Option<PlayerId>,
        id: Option<EventId>,
        event: impl FnOnce() -> Missed,
    ) -> Buffered {
        self.last_seq += 1;
        let mut counts = Buffered::default();
        if self.history_limit == 0 {
            return counts;
        }
        let seq = self.last_seq;
        let id = id.unwrap_or(EventId::owner(seq));
        let event = event();
        for seat in self.away.iter_mut().filter(|s| Some(s.player) != except) {
            counts.add(seat.missed.push(seq, id, event.clone()));
        }
        if self.history.len() >= self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back((seq, id, except, event));
        counts
    }
}

/// What one emitted event did to the buffers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Buffered {
    /// Copies stored.
    pub stored: u64,
    /// Older copies pushed out to make room (counted as dropped).
    pub dropped: u64,
}

impl Buffered {
    fn add(&mut self, pushed: Pushed) {
        match pushed {
            Pushed::Stored => self.stored += 1,
            Pushed::StoredDroppingOldest => {
                self.stored += 1;
                self.dropped += 1;
            }
            Pushed::Refused => self.dropped += 1,
            Pushed::Duplicate => {}
        }
    }
}

/// The seat of a player who dropped without `LeaveRoom`: claimable with its token until
/// `deadline` (`server.reconnection_window` after the drop).
#[derive(Debug)]
pub struct AwaySeat {
    pub player: PlayerId,
    pub name: String,
    /// The token handed out in the player's last `RoomJoined` (or `Reconnected`).
    pub token: String,
    /// Whether the player held authority when it dropped (restored if nobody took it).
    pub held_authority: bool,
    pub deadline: Instant,
    /// The server is still closing the old socket, which may flush more events to it: the
    /// seat is not claimable until the close says which events left (`RoomOp::Closed`).
    pub closing: bool,
    /// What the player would have received meanwhile.
    pub missed: MissedEvents,
}

/// One event a disconnected player missed, kept in the form it was emitted in; replay turns
/// it into the JSON object `Reconnected.missed_events` lists.
#[derive(Debug, Clone)]
pub enum Missed {
    /// A text frame (a server message, or JSON game data).
    Frame(Frame),
    /// MessagePack game data from `from`, kept raw and converted only if it is replayed.
    MessagePack { from: PlayerId, raw: Bytes },
}

/// What [`MissedEvents::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Stored,
    /// Stored, and the oldest buffered event was dropped to make room.
    StoredDroppingOldest,
    /// Not stored: the buffer holds nothing (`server.event_buffer_size` is 0).
    Refused,
    /// Not stored: an event with this number (or a later one) is already buffered.
    Duplicate,
}

/// A bounded buffer of `(seq, id, event)`, strictly increasing in `seq`.
#[derive(Debug)]
pub struct MissedEvents {
    limit: usize,
    events: VecDeque<(u64, EventId, Missed)>,
    /// The highest number ever offered; anything at or below it is a duplicate.
    high: u64,
    /// What the player's socket accepted: never buffered.
    delivered: Delivered,
    dropped: u64,
}

impl MissedEvents {
    /// An empty buffer that holds at most `limit` events. Nothing numbered at or below
    /// `after` is buffered (the player was not seated yet), nor anything `delivered` covers.
    pub fn new(limit: usize, after: u64, delivered: Delivered) -> Self {
        MissedEvents {
            limit,
            events: VecDeque::with_capacity(limit.min(64)),
            high: after,
            delivered,
            dropped: 0,
        }
    }

    /// Offers event `seq` (id `id`). Stored once, whatever the number of offers, and never if
    /// the player's socket accepted it; the oldest event makes room when the buffer is full.
    pub fn push(&mut self, seq: u64, id: EventId, event: Missed) -> Pushed {
        if seq <= self.high {
            return Pushed::Duplicate;
        }
        self.high = seq;
        if self.delivered.covers(id) {
            return Pushed::Duplicate;
        }
        if self.limit == 0 {
            self.dropped += 1;
            return Pushed::Refused;
        }
        let full = self.events.len() >= self.limit;
        if full {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back((seq, id, event));
        if full {
            Pushed::StoredDroppingOldest
        } else {
            Pushed::Stored
        }
    }

    /// Forgets the events `delivered` covers: the client got them after all (the close of its
    /// socket flushed them). Offered again later, they stay forgotten.
    pub fn forget_delivered(&mut self, delivered: &Delivered) {
        self.delivered.merge(delivered);
        let covered = &self.delivered;
        self.events.retain(|(_, id, _)| !covered.covers(*id));
    }

    /// The buffered events as `Reconnected.missed_events` lists them: complete server
    /// messages, oldest first. MessagePack game data is converted the way a JSON member gets
    /// it; a payload that cannot be converted is left out, as it is for live JSON members.
    /// At most `budget` bytes of them: the oldest beyond it are dropped, so the `Reconnected`
    /// frame stays one the transport can write. Returns the events and how many were dropped.
    pub fn replay(&self, budget: usize) -> (Vec<RawJson>, u64) {
        let mut kept = Vec::new();
        let mut left = budget;
        let mut dropped = 0;
        for event in self.events.iter().rev().map(|(_, _, event)| event) {
            let text = match event {
                Missed::Frame(Frame::Text(text)) => text.as_str().to_owned(),
                Missed::Frame(Frame::Binary(_)) => continue,
                Missed::MessagePack { from, raw } => {
                    let Some(json) = msgpack_to_json(raw) else {
                        continue;
                    };
                    match String::from_utf8(encode_game_data(from, &json).to_vec()) {
                        Ok(text) => text,
                        Err(_) => continue,
                    }
                }
            };
            // One more byte for the comma between events.
            if text.len() + 1 > left {
                dropped += 1;
                left = 0;
                continue;
            }
            left -= text.len() + 1;
            if let Ok(raw) = RawValue::from_string(text) {
                kept.push(raw);
            }
        }
        kept.reverse();
        (kept, dropped)
    }

    /// The buffered numbers, oldest first.
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.events.iter().map(|(seq, ..)| *seq)
    }

    /// The buffered events in the order they were emitted, each once.
    pub fn events(&self) -> impl Iterator<Item = &Missed> + '_ {
        self.events.iter().map(|(_, _, event)| event)
    }

    /// How many events were dropped (pushed out, or refused by a zero-sized buffer).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u8) -> Missed {
        Missed::MessagePack {
            from: PlayerId::nil(),
            raw: Bytes::from(vec![n]),
        }
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_counts_it() {
        let mut buf = MissedEvents::new(3, 0, Delivered::none());
        for seq in 1..=5 {
            buf.push(seq, EventId::owner(seq), ev(seq as u8));
        }
        assert_eq!(buf.seqs().collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(buf.dropped(), 2);
    }

    #[test]
    fn an_event_offered_twice_is_stored_once() {
        let mut buf = MissedEvents::new(10, 2, Delivered::none());
        assert_eq!(
            buf.push(2, EventId::owner(2), ev(2)),
            Pushed::Duplicate,
            "the player had 2 already"
        );
        assert_eq!(buf.push(3, EventId::owner(3), ev(3)), Pushed::Stored);
        assert_eq!(buf.push(3, EventId::owner(3), ev(3)), Pushed::Duplicate);
        assert_eq!(buf.push(4, EventId::owner(4), ev(4)), Pushed::Stored);
        assert_eq!(
            buf.push(3, EventId::owner(3), ev(3)),
            Pushed::Duplicate,
            "older than the newest"
        );
        assert_eq!(buf.seqs().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(buf.dropped(), 0);
    }

    #[test]
    fn events_the_client_got_after_all_are_forgotten_for_good() {
        let mut buf = MissedEvents::new(10, 0, Delivered::none());
        for seq in 1..=4 {
            buf.push(seq, EventId::owner(seq), ev(seq as u8));
        }
        buf.forget_delivered(&Delivered::through_owner(2));
        assert_eq!(buf.seqs().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(buf.push(2, EventId::owner(2), ev(2)), Pushed::Duplicate);
        assert_eq!(buf.dropped(), 0, "forgotten, not dropped");
    }

    #[test]
    fn game_data_the_socket_accepted_on_another_lane_is_not_buffered() {
        let mut delivered = Delivered::none();
        delivered.note(EventId::relayed(1, 5));
        let mut buf = MissedEvents::new(10, 0, delivered);
        // The owner numbers the record of lane 1's frame 5 late, after its own event 1.
        assert_eq!(buf.push(1, EventId::owner(1), ev(1)), Pushed::Stored);
        assert_eq!(
            buf.push(2, EventId::relayed(1, 5), ev(2)),
            Pushed::Duplicate
        );
        assert_eq!(buf.push(3, EventId::relayed(1, 6), ev(3)), Pushed::Stored);
        let mut closed = Delivered::through_owner(1);
        closed.note(EventId::relayed(1, 6));
        buf.forget_delivered(&closed);
        assert!(buf.is_empty(), "the close flushed both");
    }

    #[test]
    fn a_zero_sized_buffer_stores_nothing_and_counts_every_event() {
        let mut buf = MissedEvents::new(0, 0, Delivered::none());
        assert_eq!(buf.push(1, EventId::owner(1), ev(1)), Pushed::Refused);
        assert_eq!(buf.push(1, EventId::owner(1), ev(1)), Pushed::Duplicate);
        assert!(buf.is_empty());
        assert_eq!(buf.dropped(), 1);
    }
}
