//! `AuthorityRequest`: one response per request, personalised announcements.

use super::*;

fn granted() -> Value {
    json!({"type": "AuthorityResponse", "data": {"granted": true, "reason": null}})
}

fn denied(reason: &str, code: &str) -> Value {
    json!({"type": "AuthorityResponse",
           "data": {"granted": false, "reason": reason, "error_code": code}})
}

fn changed(holder: Option<u128>, you: bool) -> Value {
    json!({"type": "AuthorityChanged",
           "data": {"authority_player": holder.map(id), "you_are_authority": you}})
}

#[test]
fn room_without_authority_answers_not_supported_once() {
    let mut room = room_with(4, false, &["Mika", "Ravi"]);
    for become_authority in [true, false] {
        let fx = room.request_authority(id(2), become_authority, t(5));
        assert_eq!(
            render(&fx),
            vec![(
                session(2),
                denied("Room does not support authority", "AUTHORITY_NOT_SUPPORTED")
            )]
        );
    }
    assert_eq!(room.authority(), None);
}

#[test]
fn claim_while_another_holds_is_denied() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    let fx = room.request_authority(id(2), true, t(5));
    assert_eq!(
        render(&fx),
        vec![(
            session(2),
            denied("Another player already has authority", "AUTHORITY_DENIED")
        )]
    );
    assert_eq!(room.authority(), Some(id(1)));
}

#[test]
fn claim_by_the_holder_is_granted_without_announcement() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    let fx = room.request_authority(id(1), true, t(5));
    assert_eq!(render(&fx), vec![(session(1), granted())]);
    assert_eq!(room.authority(), Some(id(1)));
}

#[test]
fn release_by_a_non_holder_is_denied() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    let fx = room.request_authority(id(2), false, t(5));
    assert_eq!(
        render(&fx),
        vec![(
            session(2),
            denied("You do not have authority to release", "AUTHORITY_DENIED")
        )]
    );
}

#[test]
fn release_when_nobody_holds_is_denied() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    room.request_authority(id(1), false, t(5));
    let fx = room.request_authority(id(1), false, t(6));
    assert_eq!(
        render(&fx),
        vec![(
            session(1),
            denied("You do not have authority to release", "AUTHORITY_DENIED")
        )]
    );
}

#[test]
fn release_by_the_holder_is_announced_to_every_member() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("spectator joins");
    let fx = room.request_authority(id(1), false, t(5));
    assert_eq!(
        render(&fx),
        vec![
            (session(1), granted()),
            (session(1), changed(None, false)),
            (session(2), changed(None, false)),
            (session(9), changed(None, false)),
        ]
    );
    assert_eq!(room.authority(), None);
}

#[test]
fn claim_after_release_is_granted_and_personalised() {
    let mut room = room_with(4, true, &["Mika", "Ravi", "Ana"]);
    room.join_spectator(watcher(9, "Caster"), t(3))
        .expect("spectator joins");
    room.request_authority(id(1), false, t(4));
    let fx = room.request_authority(id(2), true, t(5));
    assert_eq!(
        render(&fx),
        vec![
            (session(2), granted()),
            (session(1), changed(Some(2), false)),
            (session(2), changed(Some(2), true)),
            (session(3), changed(Some(2), false)),
            (session(9), changed(Some(2), false)),
        ]
    );
    assert_eq!(room.authority(), Some(id(2)));
    // Exactly one AuthorityResponse per request (decision 5).
    let responses = kinds(&fx)
        .into_iter()
        .filter(|(_, k)| k == "AuthorityResponse")
        .count();
    assert_eq!(responses, 1);
}

#[test]
fn claim_after_the_holder_left_is_granted() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    room.leave(id(1), LeaveKind::Voluntary, t(3));
    let fx = room.request_authority(id(2), true, t(4));
    assert_eq!(
        render(&fx),
        vec![
            (session(2), granted()),
            (session(2), changed(Some(2), true))
        ]
    );
}

#[test]
fn request_from_a_stranger_is_left_to_the_driver() {
    let mut room = room_with(4, true, &["Mika"]);
    assert!(room.request_authority(id(77), true, t(5)).is_empty());
    assert_eq!(room.last_activity(), t(0));
}

#[test]
fn request_from_a_spectator_gets_not_in_room() {
    let mut room = room_with(4, true, &["Mika"]);
    room.join_spectator(watcher(9, "Caster"), t(2))
        .expect("spectator joins");
    let fx = room.request_authority(id(9), true, t(3));
    assert_eq!(
        render(&fx),
        vec![(session(9), denied("Not in a room", "NOT_IN_ROOM"))]
    );
    assert_eq!(room.authority(), Some(id(1)));
}

#[test]
fn snapshots_follow_the_holder() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    room.request_authority(id(1), false, t(2));
    room.request_authority(id(2), true, t(3));
    let fx = room.join(joiner(3, "Ana"), t(4)).expect("joins");
    let data = &render(&fx)[0].1["data"];
    assert_eq!(data["current_players"][0]["is_authority"], json!(false));
    assert_eq!(data["current_players"][1]["is_authority"], json!(true));
    assert_eq!(data["is_authority"], json!(false));
}

#[test]
fn authority_requests_count_as_activity() {
    let mut room = room_with(4, true, &["Mika", "Ravi"]);
    room.request_authority(id(2), true, t(40));
    assert_eq!(room.last_activity(), t(40));
}
