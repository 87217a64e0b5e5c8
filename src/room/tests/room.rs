//! Relay targets, connection info, activity, audiences and `close`.

use super::*;
use crate::protocol::{ConnectionInfo, ErrorCode, LobbyState};

fn webrtc() -> ConnectionInfo {
    ConnectionInfo::WebRtc {
        sdp: None,
        ice_candidates: vec!["candidate:1".to_owned()],
    }
}

#[test]
fn relay_targets_exclude_the_sender_and_include_spectators() {
    let mut room = room_with(4, true, &["Mika", "Ravi", "Ana"]);
    room.join_spectator(watcher(9, "Caster"), t(3))
        .expect("joins");
    assert!(room.set_encoding(id(3), GameDataEncoding::MessagePack));

    let targets: Vec<_> = room.relay_targets(id(2)).collect();
    assert_eq!(
        targets,
        [
            (addr(1), GameDataEncoding::Json),
            (addr(3), GameDataEncoding::MessagePack),
            (addr(9), GameDataEncoding::Json),
        ]
    );
}

#[test]
fn relay_targets_use_the_joiner_encoding_and_spectator_overrides() {
    let mut room = room_with(4, true, &["Mika"]);
    let mut j = joiner(2, "Ravi");
    j.encoding = GameDataEncoding::MessagePack;
    room.join(j, t(1)).expect("joins");
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("joins");
    assert!(room.set_encoding(id(9), GameDataEncoding::MessagePack));
    assert!(!room.set_encoding(id(77), GameDataEncoding::MessagePack));
    // A repeat spectator join keeps the negotiated format.
    room.join_spectator(watcher(9, "Caster"), t(3))
        .expect("joins");

    let targets: Vec<_> = room.relay_targets(id(1)).collect();
    assert_eq!(
        targets,
        [
            (addr(2), GameDataEncoding::MessagePack),
            (addr(9), GameDataEncoding::MessagePack),
        ]
    );
}

#[test]
fn relay_targets_of_a_lone_player_are_empty() {
    let room = room_with(4, true, &["Mika"]);
    assert_eq!(room.relay_targets(id(1)).count(), 0);
}

#[test]
fn connection_info_is_stored_silently_and_replaced() {
    let mut room = room_with(4, true, &["Mika"]);
    let first = ConnectionInfo::Direct {
        host: "203.0.113.7".to_owned(),
        port: 7777,
    };
    assert!(room.set_connection_info(id(1), first, t(1)).is_empty());
    assert!(room.set_connection_info(id(1), webrtc(), t(2)).is_empty());
    assert_eq!(room.last_activity(), t(2));

    // Shown in the next joiner's snapshot, never in PlayerJoined.
    let fx = room.join(joiner(2, "Ravi"), t(3)).expect("joins");
    assert_eq!(
        render(&fx)[0].1["data"]["current_players"][0]["connection_info"],
        json!({"type": "webrtc", "sdp": null, "ice_candidates": ["candidate:1"]})
    );
    room.set_connection_info(id(2), webrtc(), t(4));
    let fx = room.join(joiner(3, "Ana"), t(5)).expect("joins");
    let joined = &render(&fx)[1].1;
    assert_eq!(joined["type"], "PlayerJoined");
    assert!(joined["data"]["player"].get("connection_info").is_none());

    // And in a spectator's snapshot.
    let fx = room
        .join_spectator(watcher(9, "Caster"), t(6))
        .expect("joins");
    let players = &render(&fx)[0].1["data"]["current_players"];
    assert_eq!(players[1]["connection_info"]["type"], "webrtc");
    assert!(players[2].get("connection_info").is_none());
}

#[test]
fn connection_info_from_outsiders() {
    let mut room = room_with(4, true, &["Mika"]);
    assert!(room.set_connection_info(id(77), webrtc(), t(1)).is_empty());
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("joins");
    let fx = room.set_connection_info(id(9), webrtc(), t(3));
    assert_eq!(
        render(&fx),
        vec![(session(9), error_json("Not in a room", "NOT_IN_ROOM"))]
    );
}

#[test]
fn activity_is_recorded_by_every_member_action() {
    let mut room = Room::new(settings(2, true), t(0));
    assert_eq!(room.created_at(), t(0));
    assert_eq!(room.last_activity(), t(0));
    room.join(joiner(1, "Mika"), t(1)).expect("joins");
    assert_eq!(room.last_activity(), t(1));
    room.touch(t(2));
    assert_eq!(room.last_activity(), t(2));
    room.join(joiner(2, "Ravi"), t(3)).expect("joins");
    assert_eq!(room.last_activity(), t(3));
    room.toggle_ready(id(1), t(4));
    assert_eq!(room.last_activity(), t(4));
    room.request_authority(id(2), true, t(5));
    assert_eq!(room.last_activity(), t(5));
    room.set_connection_info(id(2), webrtc(), t(6));
    assert_eq!(room.last_activity(), t(6));
    room.join_spectator(watcher(9, "Caster"), t(7))
        .expect("joins");
    assert_eq!(room.last_activity(), t(7));
    room.leave(id(2), LeaveKind::Disconnected, t(8));
    assert_eq!(room.last_activity(), t(8));
    // A spectator leaving takes no clock and is not activity.
    room.leave_spectator(
        id(9),
        crate::protocol::SpectatorStateChangeReason::Disconnected,
    );
    assert_eq!(room.last_activity(), t(8));
}

#[test]
fn recipients_resolve_audiences_in_member_order() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("joins");
    let everyone: Vec<_> = room.recipients(Audience::Everyone).collect();
    assert_eq!(everyone, [addr(1), addr(2), addr(9)]);
    let except: Vec<_> = room.recipients(Audience::EveryoneExcept(id(2))).collect();
    assert_eq!(except, [addr(1), addr(9)]);
    let except: Vec<_> = room.recipients(Audience::EveryoneExcept(id(9))).collect();
    assert_eq!(except, [addr(1), addr(2)]);
    // A session need not be a member (it may have just left).
    let one: Vec<_> = room.recipients(session(42)).collect();
    assert_eq!(one, [addr(42)]);
}

#[test]
fn accessors_describe_the_room() {
    let room = lobby_of_two();
    assert_eq!(room.settings(), &settings(2, true));
    assert_eq!(room.player_count(), 2);
    assert!(!room.is_empty());
    assert!(room.contains(id(2)));
    assert_eq!(room.player_addr(id(2)), Some(addr(2)));
    assert_eq!(room.player_addr(id(3)), None);
    assert_eq!(room.reconnection_token(id(2)), Some("token-2"));
    assert_eq!(room.lobby_state(), LobbyState::Lobby);
}

#[test]
fn close_tells_every_member_and_empties_the_room() {
    let mut room = lobby_of_two();
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("joins");
    room.toggle_ready(id(1), t(3));
    let fx = room.close();
    let gone = error_json("Room no longer exists", "ROOM_NOT_FOUND");
    assert_eq!(
        render(&fx),
        vec![
            (session(1), gone.clone()),
            (session(2), gone.clone()),
            (session(9), gone),
        ]
    );
    assert!(room.is_empty());
    assert_eq!(room.spectator_count(), 0);
    assert_eq!(room.authority(), None);
    assert!(room.ready_players().is_empty());
    // Nothing more to anyone.
    assert!(room.close().is_empty());
    assert_eq!(room.recipients(Audience::Everyone).count(), 0);
}

#[test]
fn a_closed_room_refuses_joins() {
    let mut room = room_with(4, true, &["Mika"]);
    room.close();
    let refused = room.join(joiner(2, "Ravi"), t(5)).expect_err("closed");
    assert_eq!(refused.code, ErrorCode::RoomNotFound);
    let refused = room
        .join_spectator(watcher(9, "Caster"), t(5))
        .expect_err("closed");
    assert_eq!(refused.code, ErrorCode::RoomNotFound);
}

#[test]
fn not_in_room_helpers_have_the_wire_shapes() {
    assert_eq!(
        serde_json::to_value(crate::room::not_in_room_error()).expect("serialises"),
        error_json("Not in a room", "NOT_IN_ROOM")
    );
    assert_eq!(
        serde_json::to_value(crate::room::not_in_room_authority_response()).expect("serialises"),
        json!({"type": "AuthorityResponse",
               "data": {"granted": false, "reason": "Not in a room", "error_code": "NOT_IN_ROOM"}})
    );
}

#[test]
fn a_full_game_round_trip() {
    // Create, fill, ready, start, someone drops, the seat refills, and the round repeats.
    let mut room = room_with(3, true, &["Mika", "Ravi", "Ana"]);
    assert_eq!(room.lobby_state(), LobbyState::Lobby);
    for n in 1..=3 {
        room.toggle_ready(id(n), t(10 + n as i64));
    }
    assert_eq!(room.lobby_state(), LobbyState::Finalized);
    room.leave(id(3), LeaveKind::Disconnected, t(20));
    assert_eq!(room.lobby_state(), LobbyState::Waiting);
    room.join(joiner(4, "Bo"), t(21)).expect("refills");
    assert_eq!(room.lobby_state(), LobbyState::Lobby);
    let mut started = 0;
    for n in [1, 2, 4] {
        let fx = room.toggle_ready(id(n), t(30));
        started += kinds(&fx)
            .iter()
            .filter(|(_, k)| k == "GameStarting")
            .count();
    }
    assert_eq!(started, 1);
    assert_eq!(room.lobby_state(), LobbyState::Finalized);
}
