//! Spectators: join and leave sequences, and that they see every broadcast.

use super::*;
use crate::protocol::SpectatorStateChangeReason;

#[test]
fn spectator_join_sequence_and_recipients() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    room.join_spectator(watcher(8, "First"), t(2))
        .expect("joins");
    let fx = room
        .join_spectator(watcher(9, "Caster"), t(3))
        .expect("joins");

    let spectators = json!([
        spectator_json(8, "First", 2),
        spectator_json(9, "Caster", 3)
    ]);
    assert_eq!(
        render(&fx),
        vec![
            (
                session(9),
                json!({"type": "SpectatorJoined", "data": {
                    "room_id": Uuid::from_u128(ROOM), "room_code": "QX7M4D", "spectator_id": id(9),
                    "game_name": "kart racer",
                    "current_players": [
                        player_json(1, "Mika", true, false, 0),
                        player_json(2, "Ravi", false, false, 1),
                    ],
                    "current_spectators": spectators, "lobby_state": "waiting", "reason": "joined",
                }})
            ),
            (
                Audience::EveryoneExcept(id(9)),
                json!({"type": "NewSpectatorJoined", "data": {
                    "spectator": spectator_json(9, "Caster", 3),
                    "current_spectators": spectators, "reason": "joined",
                }})
            ),
        ]
    );
    assert_eq!(inbox_kinds(&room, &fx, 1), ["NewSpectatorJoined"]);
    assert_eq!(inbox_kinds(&room, &fx, 8), ["NewSpectatorJoined"]);
    assert_eq!(inbox_kinds(&room, &fx, 9), ["SpectatorJoined"]);
    assert_eq!(room.spectator_count(), 2);
    assert!(room.contains_spectator(id(9)));
    assert!(!room.contains(id(9)));
}

#[test]
fn spectator_joining_an_empty_room_gets_only_its_snapshot() {
    let mut room = Room::new(settings(4, true), t(0));
    let fx = room
        .join_spectator(watcher(9, "Caster"), t(1))
        .expect("joins");
    assert_eq!(kinds(&fx), [(session(9), "SpectatorJoined".to_owned())]);
}

#[test]
fn repeat_spectator_join_replaces_the_entry() {
    let mut room = room_with(4, true, &["Mika"]);
    room.join_spectator(watcher(9, "Caster"), t(1))
        .expect("joins");
    room.join_spectator(watcher(8, "Other"), t(2))
        .expect("joins");
    let fx = room
        .join_spectator(watcher(9, "Renamed"), t(3))
        .expect("joins");
    assert_eq!(room.spectator_count(), 2);
    assert_eq!(
        render(&fx)[0].1["data"]["current_spectators"],
        json!([
            spectator_json(9, "Renamed", 3),
            spectator_json(8, "Other", 2)
        ])
    );
}

#[test]
fn voluntary_spectator_leave_sequence() {
    let mut room = room_with(4, true, &["Mika"]);
    room.join_spectator(watcher(8, "First"), t(1))
        .expect("joins");
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("joins");
    let fx = room.leave_spectator(id(9), SpectatorStateChangeReason::VoluntaryLeave);

    let remaining = json!([spectator_json(8, "First", 1)]);
    assert_eq!(
        render(&fx),
        vec![
            (
                session(9),
                json!({"type": "SpectatorLeft", "data": {
                    "room_id": Uuid::from_u128(ROOM), "room_code": "QX7M4D",
                    "reason": "voluntary_leave", "current_spectators": remaining,
                }})
            ),
            (
                Audience::Everyone,
                json!({"type": "SpectatorDisconnected", "data": {
                    "spectator_id": id(9), "reason": "voluntary_leave",
                    "current_spectators": remaining,
                }})
            ),
        ]
    );
    assert_eq!(inbox_kinds(&room, &fx, 1), ["SpectatorDisconnected"]);
    assert_eq!(inbox_kinds(&room, &fx, 8), ["SpectatorDisconnected"]);
    assert_eq!(inbox_kinds(&room, &fx, 9), ["SpectatorLeft"]);
    assert!(!room.contains_spectator(id(9)));
}

#[test]
fn disconnected_spectator_is_not_addressed() {
    let mut room = room_with(4, true, &["Mika"]);
    room.join_spectator(watcher(9, "Caster"), t(1))
        .expect("joins");
    let fx = room.leave_spectator(id(9), SpectatorStateChangeReason::Disconnected);
    assert_eq!(
        render(&fx),
        vec![(
            Audience::Everyone,
            json!({"type": "SpectatorDisconnected", "data": {
                "spectator_id": id(9), "reason": "disconnected", "current_spectators": [],
            }})
        )]
    );
}

#[test]
fn leaving_when_not_spectating_does_nothing() {
    let mut room = room_with(4, true, &["Mika"]);
    assert!(
        room.leave_spectator(id(9), SpectatorStateChangeReason::VoluntaryLeave)
            .is_empty()
    );
    // A player is not a spectator.
    assert!(
        room.leave_spectator(id(1), SpectatorStateChangeReason::VoluntaryLeave)
            .is_empty()
    );
    assert!(room.contains(id(1)));
}

#[test]
fn spectators_receive_every_player_broadcast() {
    let mut room = room_with(2, true, &["Mika"]);
    room.join_spectator(watcher(9, "Caster"), t(1))
        .expect("joins");

    let fx = room.join(joiner(2, "Ravi"), t(2)).expect("joins");
    assert_eq!(
        inbox_kinds(&room, &fx, 9),
        ["PlayerJoined", "LobbyStateChanged"]
    );
    let fx = room.toggle_ready(id(2), t(3));
    assert_eq!(inbox_kinds(&room, &fx, 9), ["LobbyStateChanged"]);
    let fx = room.leave(id(1), LeaveKind::Voluntary, t(4));
    assert_eq!(
        inbox_kinds(&room, &fx, 9),
        ["PlayerLeft", "AuthorityChanged", "LobbyStateChanged"]
    );
    let fx = room.request_authority(id(2), true, t(5));
    assert_eq!(inbox_kinds(&room, &fx, 9), ["AuthorityChanged"]);
}

#[test]
fn spectators_do_not_take_seats() {
    let mut room = room_with(2, true, &["Mika"]);
    for n in 10..20 {
        room.join_spectator(watcher(n, "Watcher"), t(1))
            .expect("unlimited");
    }
    assert!(room.join(joiner(2, "Ravi"), t(2)).is_ok());
    assert_eq!(room.player_count(), 2);
    assert_eq!(room.spectator_count(), 10);
}

#[test]
fn a_room_with_only_spectators_is_empty() {
    let mut room = room_with(2, true, &["Mika"]);
    room.join_spectator(watcher(9, "Caster"), t(1))
        .expect("joins");
    room.leave(id(1), LeaveKind::Voluntary, t(2));
    assert!(room.is_empty());
    assert_eq!(room.spectator_count(), 1);
}

#[test]
fn a_player_may_also_spectate_but_never_hears_its_own_echo() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    room.join_spectator(watcher(1, "Mika"), t(2))
        .expect("joins");
    let targets: Vec<_> = room.relay_targets(id(1)).map(|(a, _)| a).collect();
    assert_eq!(targets, [addr(2)]);
}
