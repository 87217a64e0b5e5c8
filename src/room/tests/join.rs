//! Joining: admission checks, the creator's authority, and the join sequence.

use super::*;
use crate::protocol::{ErrorCode, LobbyState};
use crate::room::Rejection;

#[test]
fn creator_gets_exactly_its_room_joined() {
    let mut room = Room::new(settings(4, true), t(0));
    let fx = room.join(joiner(1, "Mika"), t(0)).expect("creator joins");

    let expected = json!({"type": "RoomJoined", "data": {
        "room_id": Uuid::from_u128(ROOM), "room_code": "QX7M4D", "player_id": id(1),
        "game_name": "kart racer", "max_players": 4, "supports_authority": true,
        "current_players": [player_json(1, "Mika", true, false, 0)],
        "is_authority": true, "lobby_state": "waiting", "ready_players": [],
        "relay_type": "matchbox", "current_spectators": [], "reconnection_token": "token-1",
    }});
    // Nobody else is there, so no PlayerJoined is built.
    assert_eq!(render(&fx), vec![(session(1), expected)]);
    assert_eq!(room.authority(), Some(id(1)));
    assert_eq!(room.lobby_state(), LobbyState::Waiting);
}

#[test]
fn creator_of_room_without_authority_is_not_flagged_anywhere() {
    // The original's bug 7: its PlayerInfo said true while RoomJoined said false.
    let mut room = Room::new(settings(4, false), t(0));
    let fx = room.join(joiner(1, "Mika"), t(0)).expect("creator joins");
    let v = &render(&fx)[0].1["data"];
    assert_eq!(v["is_authority"], json!(false));
    assert_eq!(v["current_players"][0]["is_authority"], json!(false));
    assert_eq!(room.authority(), None);
}

#[test]
fn second_joiner_sequence_and_recipients() {
    let mut room = room_with(3, true, &["Mika"]);
    let fx = room.join(joiner(2, "Ravi"), t(5)).expect("joins");

    let rendered = render(&fx);
    assert_eq!(rendered.len(), 2);
    assert_eq!(rendered[0].0, session(2));
    let data = &rendered[0].1["data"];
    assert_eq!(rendered[0].1["type"], "RoomJoined");
    assert_eq!(data["player_id"], json!(id(2)));
    assert_eq!(data["is_authority"], json!(false));
    assert_eq!(
        data["current_players"],
        json!([
            player_json(1, "Mika", true, false, 0),
            player_json(2, "Ravi", false, false, 5)
        ])
    );
    assert_eq!(data["reconnection_token"], "token-2");
    assert_eq!(data["lobby_state"], "waiting");

    assert_eq!(
        rendered[1],
        (
            Audience::EveryoneExcept(id(2)),
            json!({"type": "PlayerJoined", "data": {"player": player_json(2, "Ravi", false, false, 5)}})
        )
    );
    assert_eq!(inbox_kinds(&room, &fx, 1), ["PlayerJoined"]);
    assert_eq!(inbox_kinds(&room, &fx, 2), ["RoomJoined"]);
}

#[test]
fn filling_join_enters_lobby_and_tells_everyone() {
    let mut room = room_with(2, true, &["Mika"]);
    let fx = room.join(joiner(2, "Ravi"), t(1)).expect("joins");

    assert_eq!(
        kinds(&fx),
        [
            (session(2), "RoomJoined".to_owned()),
            (Audience::EveryoneExcept(id(2)), "PlayerJoined".to_owned()),
            (Audience::Everyone, "LobbyStateChanged".to_owned()),
        ]
    );
    assert_eq!(render(&fx)[2].1, lobby_changed("lobby", &[], false));
    // The joiner's snapshot already shows the true state after its join.
    assert_eq!(render(&fx)[0].1["data"]["lobby_state"], "lobby");
    assert_eq!(room.lobby_state(), LobbyState::Lobby);
    assert_eq!(
        inbox_kinds(&room, &fx, 1),
        ["PlayerJoined", "LobbyStateChanged"]
    );
    assert_eq!(
        inbox_kinds(&room, &fx, 2),
        ["RoomJoined", "LobbyStateChanged"]
    );
}

#[test]
fn two_joiners_for_the_last_seat_second_gets_room_full() {
    let mut room = room_with(3, true, &["Mika", "Ravi"]);
    assert!(room.join(joiner(3, "Ana"), t(2)).is_ok());
    let refused = room.join(joiner(4, "Bo"), t(2)).expect_err("no seat left");
    assert_eq!(
        refused,
        Rejection {
            reason: "Room is full".to_owned(),
            code: ErrorCode::RoomFull
        }
    );
    assert_eq!(room.player_count(), 3);
    assert!(!room.contains(id(4)));
}

#[test]
fn duplicate_name_is_refused_case_insensitively() {
    let mut room = room_with(4, true, &["Ravi"]);
    let refused = room.join(joiner(2, "RAVI"), t(1)).expect_err("same name");
    assert_eq!(refused.reason, "Player name already exists in this room");
    assert_eq!(refused.code, ErrorCode::InvalidPlayerName);
    assert_eq!(room.player_count(), 1);
}

#[test]
fn duplicate_name_uses_unicode_lower_casing() {
    let mut room = room_with(4, true, &["Ölaf"]);
    let refused = room.join(joiner(2, "öLAF"), t(1)).expect_err("same name");
    assert_eq!(refused.code, ErrorCode::InvalidPlayerName);
}

#[test]
fn name_is_checked_before_capacity() {
    let mut room = room_with(2, true, &["Mika", "Ravi"]);
    let refused = room
        .join(joiner(3, "mika"), t(2))
        .expect_err("taken and full");
    assert_eq!(refused.code, ErrorCode::InvalidPlayerName);
    let refused = room.join(joiner(3, "Ana"), t(2)).expect_err("full");
    assert_eq!(refused.code, ErrorCode::RoomFull);
}

#[test]
fn a_name_is_free_again_once_its_player_left() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    room.leave(id(2), LeaveKind::Voluntary, t(3));
    assert!(room.join(joiner(3, "RAVI"), t(4)).is_ok());
}

#[test]
fn spectator_names_do_not_block_player_names() {
    let mut room = room_with(4, true, &["Mika"]);
    room.join_spectator(watcher(9, "Ravi"), t(1))
        .expect("spectator joins");
    assert!(room.join(joiner(2, "Ravi"), t(2)).is_ok());
}

#[test]
fn finalized_room_refuses_joins_with_invalid_room_state() {
    let mut room = lobby_of_two();
    room.toggle_ready(id(1), t(2));
    room.toggle_ready(id(2), t(3));
    assert_eq!(room.lobby_state(), LobbyState::Finalized);
    let refused = room.join(joiner(3, "Ana"), t(4)).expect_err("game started");
    assert_eq!(refused.code, ErrorCode::InvalidRoomState);
    assert_eq!(room.player_count(), 2);
}

#[test]
fn a_seated_player_cannot_join_twice() {
    let mut room = room_with(4, true, &["Mika"]);
    let refused = room
        .join(joiner(1, "Other"), t(1))
        .expect_err("already seated");
    assert_eq!(refused.code, ErrorCode::AlreadyInRoom);
    assert_eq!(room.player_count(), 1);
}

#[test]
fn a_refused_join_changes_nothing() {
    let mut room = room_with(2, true, &["Mika", "Ravi"]);
    let before = room.last_activity();
    assert!(room.join(joiner(3, "Ana"), t(50)).is_err());
    assert_eq!(room.last_activity(), before);
    assert_eq!(room.lobby_state(), LobbyState::Lobby);
}

#[test]
fn only_the_creator_is_given_authority() {
    let mut room = room_with(4, true, &["Mika"]);
    room.leave(id(1), LeaveKind::Voluntary, t(1));
    assert!(room.is_empty());
    // A newcomer to the emptied room is not promoted (decision 5); it may request authority.
    let fx = room.join(joiner(2, "Ravi"), t(2)).expect("joins");
    assert_eq!(render(&fx)[0].1["data"]["is_authority"], json!(false));
    assert_eq!(room.authority(), None);
}

#[test]
fn joiner_snapshot_shows_stored_connection_info_spectators_and_ready_list() {
    let mut room = room_with(3, true, &["Mika"]);
    let info = crate::protocol::ConnectionInfo::Direct {
        host: "203.0.113.7".to_owned(),
        port: 7777,
    };
    room.set_connection_info(id(1), info, t(1));
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("spectator joins");

    let fx = room.join(joiner(2, "Ravi"), t(3)).expect("joins");
    let data = &render(&fx)[0].1["data"];
    assert_eq!(
        data["current_players"][0]["connection_info"],
        json!({"type": "direct", "host": "203.0.113.7", "port": 7777})
    );
    assert_eq!(
        data["current_spectators"],
        json!([spectator_json(9, "Caster", 2)])
    );
    assert_eq!(data["ready_players"], json!([]));
}

#[test]
fn one_seat_room_has_no_lobby_phase_on_join() {
    let mut room = Room::new(settings(1, true), t(0));
    let fx = room.join(joiner(1, "Solo"), t(0)).expect("joins");
    assert_eq!(kinds(&fx), [(session(1), "RoomJoined".to_owned())]);
    assert_eq!(room.lobby_state(), LobbyState::Waiting);
    let refused = room.join(joiner(2, "Other"), t(1)).expect_err("one seat");
    assert_eq!(refused.code, ErrorCode::RoomFull);
}

#[test]
fn rejection_becomes_the_right_failure_message() {
    let r = Rejection {
        reason: "Room is full".to_owned(),
        code: ErrorCode::RoomFull,
    };
    assert_eq!(
        serde_json::to_value(r.clone().into_join_failed()).expect("serialises"),
        json!({"type": "RoomJoinFailed", "data": {"reason": "Room is full", "error_code": "ROOM_FULL"}})
    );
    assert_eq!(
        serde_json::to_value(r.into_spectator_join_failed()).expect("serialises"),
        json!({"type": "SpectatorJoinFailed", "data": {"reason": "Room is full", "error_code": "ROOM_FULL"}})
    );
}
