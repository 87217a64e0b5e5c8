//! The owner machine in cluster mode: claims, lookups and forwards, lost peers. The
//! directory's answers are fed in by hand, as the bridge would bring them.

use super::*;
use crate::cluster::{Claim, DirectoryReply, DirectoryRequest, Home};
use crate::shard::owner::{ClusterView, Lost};
use crate::shard::routing::remote_shard;

fn clustered() -> Harness {
    let mut h = Harness::new(|_| {});
    h.owner.join_cluster(ClusterView {
        node: "node-a".into(),
        instance: Uuid::from_u128(0xa),
    });
    h
}

fn create_request(n: u64) -> OwnerCmd {
    OwnerCmd::CreateRoom(Box::new(CreateRoom {
        game_name: GAME.to_owned(),
        max_players: 4,
        supports_authority: true,
        code: String::new(),
        creator: joiner(n),
    }))
}

impl Harness {
    fn answer(&mut self, token: u64, reply: DirectoryReply) {
        self.feed(OwnerCmd::Directory { token, reply });
    }

    fn last_asked(&mut self) -> (u64, DirectoryRequest) {
        self.asked.pop().expect("the directory was asked")
    }
}

#[test]
fn a_room_is_built_only_once_its_code_is_claimed() {
    let mut h = clustered().scripted_codes(&["AAAAAA", "BBBBBB"]);
    h.feed(create_request(1));
    assert!(
        h.take(1).is_empty(),
        "nothing for the creator before the claim"
    );
    assert_eq!(h.owner.room_count(), 0);
    let (token, request) = h.last_asked();
    let DirectoryRequest::Create { code, home, .. } = request else {
        panic!("not a claim: {request:?}");
    };
    assert_eq!(code, "AAAAAA");
    assert_eq!((&*home.node, home.shard), ("node-a", 0));
    // Another node holds that code: the next code is claimed.
    h.answer(token, DirectoryReply::Created(Claim::Taken(None)));
    let (token, request) = h.last_asked();
    assert!(matches!(&request, DirectoryRequest::Create { code, .. } if code == "BBBBBB"));
    h.answer(token, DirectoryReply::Created(Claim::Won));
    let seen = h.take(1);
    assert_eq!(kinds(&seen), ["Joined", "RoomJoined"]);
    let room = h
        .owner
        .room_by_code(GAME, "BBBBBB")
        .expect("built under the won code");
    assert_eq!(Some(room), Some(home_room_id(&request)));
}

fn home_room_id(request: &DirectoryRequest) -> RoomId {
    match request {
        DirectoryRequest::Create { home, .. } => home.room_id,
        other => panic!("not a claim: {other:?}"),
    }
}

#[test]
fn creation_fails_closed_when_the_directory_is_unreachable() {
    let mut h = clustered();
    h.feed(create_request(1));
    let (token, _) = h.last_asked();
    h.answer(token, DirectoryReply::Failed("NATS is down".into()));
    let seen = h.take(1);
    assert_eq!(kinds(&seen), ["RoomJoinFailed", "JoinRefused"]);
    assert_eq!(error_code(&seen[0]), "ROOM_CREATION_FAILED");
    assert_eq!(h.owner.room_count(), 0);
    assert_eq!(
        h.owner.game_room_count(GAME),
        0,
        "the game's slot is given back"
    );
}

#[test]
fn a_join_for_a_room_held_elsewhere_is_forwarded_to_its_home() {
    let mut h = clustered();
    h.join(1, "QQQQQQ");
    assert!(h.take(1).is_empty());
    let (token, request) = h.last_asked();
    assert!(matches!(&request, DirectoryRequest::LookupCode { code, .. } if code == "QQQQQQ"));
    let home = Home {
        node: "node-b".into(),
        instance: Uuid::from_u128(0xb),
        shard: 1,
        room_id: Uuid::new_v4(),
    };
    h.answer(token, DirectoryReply::Found(Some(home.clone())));
    let (to, cmd) = h.homed.pop().expect("forwarded");
    assert_eq!(to, home);
    assert!(matches!(cmd, OwnerCmd::JoinRoom(req) if req.joiner.addr == addr(1)));

    // Not anywhere, or the directory down: refused, never left waiting.
    h.join(2, "ZZZZZZ");
    let (token, _) = h.last_asked();
    h.answer(token, DirectoryReply::Found(None));
    let seen = h.take(2);
    assert_eq!(error_code(&seen[0]), "ROOM_NOT_FOUND");
    h.join(3, "ZZZZZZ");
    let (token, _) = h.last_asked();
    h.answer(token, DirectoryReply::Failed("down".into()));
    let seen = h.take(3);
    assert_eq!(error_code(&seen[0]), "SERVICE_UNAVAILABLE");
    assert_eq!(kinds(&seen), ["RoomJoinFailed", "JoinRefused"]);
}

#[test]
fn a_join_from_another_node_is_not_looked_up_again() {
    let mut h = clustered();
    let mut joiner = joiner(7);
    joiner.addr.shard = remote_shard(3, 0);
    h.feed(OwnerCmd::JoinRoom(Box::new(JoinByCode {
        game_name: GAME.to_owned(),
        code: "NOPE00".to_owned(),
        joiner,
    })));
    assert!(
        h.asked.is_empty(),
        "the sender's node asked the directory already"
    );
    assert_eq!(error_code(&h.take(7)[0]), "ROOM_NOT_FOUND");
}

#[test]
fn members_on_a_lost_node_are_let_go_and_the_room_remembers_them() {
    let mut h = clustered();
    h.feed(create_request(1));
    let (token, request) = h.last_asked();
    let room = home_room_id(&request);
    h.answer(token, DirectoryReply::Created(Claim::Won));
    let code = h.owner.room(&room).map(|r| r.settings().code.clone());
    let code = code.expect("built");
    let mut far = joiner(9);
    far.addr.shard = remote_shard(5, 1);
    h.feed(OwnerCmd::JoinRoom(Box::new(JoinByCode {
        game_name: GAME.to_owned(),
        code,
        joiner: far,
    })));
    h.forget_sent();
    // A gap: the remote member is told to close (and will say what reached it).
    h.owner.peer_lost(h.now, Some(5), Lost::Gap);
    h.drain();
    assert_eq!(kinds(&h.take(9)), ["Close"]);
    assert!(h.owner.room(&room).is_some_and(|r| r.contains(id(9))));
    // Another peer going changes nothing here.
    h.owner.peer_lost(h.now, Some(4), Lost::Gone);
    h.drain();
    assert!(h.owner.room(&room).is_some_and(|r| r.contains(id(9))));
    // Its node gone: the player is a disconnected one, seat kept for a reconnect.
    h.owner.peer_lost(h.now, Some(5), Lost::Gone);
    h.drain();
    assert!(h.owner.room(&room).is_some_and(|r| !r.contains(id(9))));
    assert_eq!(h.owner.away_seats(&room).len(), 1);
    assert_eq!(kinds(&h.take(1)), ["PlayerLeft"]);
}

#[test]
fn a_deleted_room_leaves_the_directory() {
    let mut h = clustered();
    h.feed(create_request(1));
    let (token, request) = h.last_asked();
    let room = home_room_id(&request);
    h.answer(token, DirectoryReply::Created(Claim::Won));
    h.leave(room, 1, LeaveKind::Voluntary);
    let (_, request) = h.last_asked();
    assert!(
        matches!(request, DirectoryRequest::Delete { room_id, .. } if room_id == room),
        "{request:?}"
    );
}

#[test]
fn rooms_are_registered_again_when_nats_comes_back() {
    let mut h = clustered();
    h.feed(create_request(1));
    let (token, request) = h.last_asked();
    let room = home_room_id(&request);
    h.answer(token, DirectoryReply::Created(Claim::Won));
    h.owner.reregister();
    h.drain();
    let (_, request) = h.last_asked();
    assert!(
        matches!(&request, DirectoryRequest::Register { home, .. } if home.room_id == room),
        "{request:?}"
    );
}

#[test]
fn a_directory_answer_that_never_comes_fails_the_request_in_time() {
    let mut h = clustered();
    h.feed(create_request(1));
    h.join(2, "QQQQQQ");
    assert_eq!(h.asked.len(), 2);
    let deadline = h.owner.poll_timeout().expect("the owner wakes for them");
    assert!(deadline <= h.now + Duration::from_secs(10));
    h.advance(Duration::from_secs(10));
    let now = h.now;
    h.owner.handle_timeout(now);
    h.drain();
    let created = h.take(1);
    assert_eq!(error_code(&created[0]), "ROOM_CREATION_FAILED");
    assert_eq!(h.owner.game_room_count(GAME), 0, "the slot is given back");
    let joined = h.take(2);
    assert_eq!(error_code(&joined[0]), "SERVICE_UNAVAILABLE");
    assert_eq!(h.owner.poll_timeout(), None, "nothing left to wait for");
}

#[test]
fn answered_requests_leave_no_deadline_behind() {
    let mut h = clustered();
    h.join(2, "QQQQQQ");
    let (token, _) = h.last_asked();
    h.answer(token, DirectoryReply::Found(None));
    assert_eq!(h.owner.poll_timeout(), None);
}
