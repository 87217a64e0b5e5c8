//! Leaving: sequences, authority release, lobby reversion, and what a leaver still receives.

use super::*;
use crate::protocol::LobbyState;
use crate::room::LeaveKind;

fn player_left(n: u128) -> Value {
    json!({"type": "PlayerLeft", "data": {"player_id": id(n)}})
}

#[test]
fn voluntary_leave_sequence_while_waiting() {
    let mut room = room_with(4, true, &["Mika", "Ravi", "Ana"]);
    let fx = room.leave(id(2), LeaveKind::Voluntary, t(10));
    assert_eq!(
        render(&fx),
        vec![
            (session(2), json!({"type": "RoomLeft"})),
            (Audience::Everyone, player_left(2)),
        ]
    );
    assert_eq!(inbox_kinds(&room, &fx, 1), ["PlayerLeft"]);
    assert_eq!(inbox_kinds(&room, &fx, 3), ["PlayerLeft"]);
    // Decision 8: after RoomLeft the leaver gets nothing more from the room.
    assert_eq!(inbox_kinds(&room, &fx, 2), ["RoomLeft"]);
    assert!(!room.contains(id(2)));
    assert_eq!(room.player_count(), 2);
}

#[test]
fn disconnect_is_the_same_minus_room_left() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    let fx = room.leave(id(2), LeaveKind::Disconnected, t(10));
    assert_eq!(render(&fx), vec![(Audience::Everyone, player_left(2))]);
}

#[test]
fn leaving_twice_or_as_a_stranger_does_nothing() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    assert_eq!(room.leave(id(2), LeaveKind::Voluntary, t(1)).len(), 2);
    assert!(room.leave(id(2), LeaveKind::Voluntary, t(2)).is_empty());
    assert!(room.leave(id(77), LeaveKind::Disconnected, t(2)).is_empty());
    assert_eq!(room.last_activity(), t(1));
}

#[test]
fn last_player_leaving_gets_only_room_left() {
    let mut room = room_with(4, false, &["Mika"]);
    let fx = room.leave(id(1), LeaveKind::Voluntary, t(1));
    assert_eq!(render(&fx), vec![(session(1), json!({"type": "RoomLeft"}))]);
    assert!(room.is_empty());
}

#[test]
fn authority_holder_leaving_broadcasts_null_and_promotes_nobody() {
    let mut room = room_with(4, true, &["Mika", "Ravi", "Ana"]);
    let fx = room.leave(id(1), LeaveKind::Voluntary, t(5));
    assert_eq!(
        render(&fx),
        vec![
            (session(1), json!({"type": "RoomLeft"})),
            (Audience::Everyone, player_left(1)),
            (
                Audience::Everyone,
                json!({"type": "AuthorityChanged",
                       "data": {"authority_player": null, "you_are_authority": false}})
            ),
        ]
    );
    assert_eq!(room.authority(), None);
}

#[test]
fn authority_holder_disconnecting_also_broadcasts_null() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    let fx = room.leave(id(1), LeaveKind::Disconnected, t(5));
    assert_eq!(
        inbox_kinds(&room, &fx, 2),
        ["PlayerLeft", "AuthorityChanged"]
    );
}

#[test]
fn leave_from_lobby_reverts_to_waiting_and_clears_ready() {
    let mut room = room_with(3, true, &["Mika", "Ravi", "Ana"]);
    room.toggle_ready(id(2), t(5));
    room.toggle_ready(id(3), t(6));
    let fx = room.leave(id(3), LeaveKind::Voluntary, t(7));
    assert_eq!(
        render(&fx),
        vec![
            (session(3), json!({"type": "RoomLeft"})),
            (Audience::Everyone, player_left(3)),
            (Audience::Everyone, lobby_changed("waiting", &[], false)),
        ]
    );
    assert_eq!(room.lobby_state(), LobbyState::Waiting);
    assert!(room.ready_players().is_empty());
}

#[test]
fn holder_leaving_a_full_room_sends_player_left_then_authority_then_lobby() {
    let mut room = lobby_of_two();
    let fx = room.leave(id(1), LeaveKind::Disconnected, t(5));
    assert_eq!(
        kinds(&fx),
        [
            (Audience::Everyone, "PlayerLeft".to_owned()),
            (Audience::Everyone, "AuthorityChanged".to_owned()),
            (Audience::Everyone, "LobbyStateChanged".to_owned()),
        ]
    );
    assert_eq!(render(&fx)[2].1, lobby_changed("waiting", &[], false));
}

#[test]
fn leave_from_finalized_reverts_and_the_seat_can_be_taken_again() {
    let mut room = lobby_of_two();
    room.toggle_ready(id(1), t(2));
    room.toggle_ready(id(2), t(3));
    assert_eq!(room.lobby_state(), LobbyState::Finalized);

    let fx = room.leave(id(2), LeaveKind::Voluntary, t(4));
    assert_eq!(
        render(&fx).last().map(|(_, v)| v.clone()),
        Some(lobby_changed("waiting", &[], false))
    );
    assert_eq!(room.lobby_state(), LobbyState::Waiting);
    assert!(room.ready_players().is_empty());

    let fx = room
        .join(joiner(3, "Ana"), t(5))
        .expect("seat is free again");
    assert_eq!(render(&fx)[0].1["data"]["lobby_state"], "lobby");
    assert_eq!(
        render(&fx)[0].1["data"]["current_players"][0]["is_ready"],
        json!(false)
    );
}

#[test]
fn stale_ready_marks_cannot_start_a_game() {
    // behaviour.md §4.5: B readies and leaves, C joins, A readies. The original counted B's
    // stale mark and started the game although C never readied.
    let mut room = lobby_of_two();
    room.toggle_ready(id(2), t(2));
    room.leave(id(2), LeaveKind::Voluntary, t(3));
    let fx = room.join(joiner(3, "Ana"), t(4)).expect("joins");
    assert_eq!(
        render(&fx).last().map(|(_, v)| v.clone()),
        Some(lobby_changed("lobby", &[], false))
    );

    let fx = room.toggle_ready(id(1), t(5));
    assert_eq!(
        render(&fx),
        vec![(Audience::Everyone, lobby_changed("lobby", &[1], false))]
    );
    assert_eq!(room.lobby_state(), LobbyState::Lobby);

    let fx = room.toggle_ready(id(3), t(6));
    assert_eq!(render(&fx)[0].1, lobby_changed("finalized", &[1, 3], true));
    assert_eq!(kinds(&fx)[1].1, "GameStarting");
}

#[test]
fn waiting_room_leave_sends_no_lobby_change() {
    let mut room = room_with(3, true, &["Mika", "Ravi"]);
    let fx = room.leave(id(2), LeaveKind::Voluntary, t(1));
    assert!(
        kinds(&fx)
            .iter()
            .all(|(_, kind)| kind != "LobbyStateChanged")
    );
}
