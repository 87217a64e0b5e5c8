//! The ready toggle, finalization and `GameStarting`.

use super::*;
use crate::protocol::{ConnectionInfo, LobbyState};

const NOT_IN_LOBBY: &str =
    "Cannot change ready status. Room must be in lobby state (full with all players joined).";

#[test]
fn ready_while_waiting_is_refused_to_the_sender_only() {
    let mut room = room_with(3, true, &["Mika", "Ravi"]);
    let fx = room.toggle_ready(id(2), t(5));
    assert_eq!(
        render(&fx),
        vec![(session(2), error_json(NOT_IN_LOBBY, "INVALID_ROOM_STATE"))]
    );
    assert!(room.ready_players().is_empty());
    assert_eq!(room.lobby_state(), LobbyState::Waiting);
}

#[test]
fn ready_from_a_stranger_is_left_to_the_driver() {
    let mut room = lobby_of_two();
    assert!(room.toggle_ready(id(77), t(5)).is_empty());
    assert_eq!(room.last_activity(), t(1));
}

#[test]
fn ready_from_a_spectator_gets_not_in_room() {
    let mut room = lobby_of_two();
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("spectator joins");
    let fx = room.toggle_ready(id(9), t(3));
    assert_eq!(
        render(&fx),
        vec![(session(9), error_json("Not in a room", "NOT_IN_ROOM"))]
    );
}

#[test]
fn ready_toggles_on_and_off_in_the_lobby() {
    let mut room = lobby_of_two();
    let fx = room.toggle_ready(id(1), t(2));
    assert_eq!(
        render(&fx),
        vec![(Audience::Everyone, lobby_changed("lobby", &[1], false))]
    );
    assert_eq!(inbox_kinds(&room, &fx, 1), ["LobbyStateChanged"]);
    assert_eq!(inbox_kinds(&room, &fx, 2), ["LobbyStateChanged"]);

    let fx = room.toggle_ready(id(1), t(3));
    assert_eq!(
        render(&fx),
        vec![(Audience::Everyone, lobby_changed("lobby", &[], false))]
    );
    assert_eq!(room.last_activity(), t(3));
}

#[test]
fn ready_players_are_listed_in_readiness_order() {
    let mut room = room_with(3, true, &["Mika", "Ravi", "Ana"]);
    room.toggle_ready(id(3), t(3));
    let fx = room.toggle_ready(id(1), t(4));
    assert_eq!(render(&fx)[0].1, lobby_changed("lobby", &[3, 1], false));
    assert_eq!(room.ready_players(), [id(3), id(1)]);
}

#[test]
fn last_ready_finalizes_and_starts_the_game_once() {
    let mut room = lobby_of_two();
    let direct = ConnectionInfo::Direct {
        host: "203.0.113.7".to_owned(),
        port: 7777,
    };
    room.set_connection_info(id(1), direct, t(2));
    room.toggle_ready(id(1), t(3));
    let fx = room.toggle_ready(id(2), t(4));

    let starting = json!({"type": "GameStarting", "data": {"peer_connections": [
        {"player_id": id(1), "player_name": "Mika", "is_authority": true, "relay_type": "matchbox",
         "connection_info": {"type": "direct", "host": "203.0.113.7", "port": 7777}},
        {"player_id": id(2), "player_name": "Ravi", "is_authority": false, "relay_type": "matchbox"},
    ]}});
    assert_eq!(
        render(&fx),
        vec![
            (
                Audience::Everyone,
                lobby_changed("finalized", &[1, 2], true)
            ),
            (Audience::Everyone, starting),
        ]
    );
    assert_eq!(room.lobby_state(), LobbyState::Finalized);

    // Finalized: no more toggles, so GameStarting cannot repeat.
    for n in [1, 2] {
        let fx = room.toggle_ready(id(n), t(5));
        assert_eq!(
            render(&fx),
            vec![(session(n), error_json(NOT_IN_LOBBY, "INVALID_ROOM_STATE"))]
        );
    }
    assert_eq!(room.ready_players(), [id(1), id(2)]);
}

#[test]
fn one_seat_room_starts_when_its_player_readies() {
    let mut room = room_with(1, true, &["Solo"]);
    let fx = room.toggle_ready(id(1), t(1));
    assert_eq!(
        render(&fx),
        vec![
            (Audience::Everyone, lobby_changed("finalized", &[1], true)),
            (
                Audience::Everyone,
                json!({"type": "GameStarting", "data": {"peer_connections": [
                    {"player_id": id(1), "player_name": "Solo", "is_authority": true,
                     "relay_type": "matchbox"},
                ]}})
            ),
        ]
    );
    assert_eq!(room.lobby_state(), LobbyState::Finalized);
    assert_eq!(
        room.toggle_ready(id(1), t(2)).first().map(|o| o.to),
        Some(session(1))
    );
}

#[test]
fn one_seat_room_emptied_after_start_reverts() {
    let mut room = room_with(1, true, &["Solo"]);
    room.join_spectator(watcher(9, "Caster"), t(1))
        .expect("spectator joins");
    room.toggle_ready(id(1), t(2));
    let fx = room.leave(id(1), LeaveKind::Voluntary, t(3));
    assert_eq!(
        inbox(&room, &fx, 9).last(),
        Some(&lobby_changed("waiting", &[], false))
    );
    assert_eq!(room.lobby_state(), LobbyState::Waiting);
}

#[test]
fn game_starting_shows_the_current_authority_holder() {
    let mut room = lobby_of_two();
    room.request_authority(id(1), false, t(2));
    room.request_authority(id(2), true, t(3));
    room.toggle_ready(id(1), t(4));
    let fx = room.toggle_ready(id(2), t(5));
    let peers = &render(&fx)[1].1["data"]["peer_connections"];
    assert_eq!(peers[0]["is_authority"], json!(false));
    assert_eq!(peers[1]["is_authority"], json!(true));
}

#[test]
fn snapshots_show_ready_flags_and_lobby_state() {
    let mut room = lobby_of_two();
    room.toggle_ready(id(2), t(2));
    let fx = room
        .join_spectator(watcher(9, "Caster"), t(3))
        .expect("spectator joins");
    let data = &render(&fx)[0].1["data"];
    assert_eq!(data["lobby_state"], "lobby");
    assert_eq!(
        data["current_players"],
        json!([
            player_json(1, "Mika", true, false, 0),
            player_json(2, "Ravi", false, true, 1)
        ])
    );
}

#[test]
fn spectators_see_the_lobby_and_the_game_start() {
    let mut room = lobby_of_two();
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("spectator joins");
    room.toggle_ready(id(1), t(3));
    let fx = room.toggle_ready(id(2), t(4));
    assert_eq!(
        inbox_kinds(&room, &fx, 9),
        ["LobbyStateChanged", "GameStarting"]
    );
}
