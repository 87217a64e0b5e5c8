//! `LeaveRoom` (decision 8: leaving means leaving): `RoomLeft` to the leaver, `PlayerLeft` to
//! the rest, nothing more from that room afterwards, and an emptied room is gone.

use crate::common::{Client, other_shard, owner_of, seat_room, start_server, str_of};
use serde_json::json;

#[test]
fn the_leaver_gets_room_left_the_others_player_left_and_then_nothing() {
    let server = start_server();
    let port = server.port();
    // The leaver and a witness share shard 0; the sender and the room's owner are shard 1.
    let mut cs = vec![
        Client::connect_to_shard(port, 1),
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 0),
    ];
    let (room, ids) = seat_room(&mut cs, "leave game", 4, Some(1));
    let mut leaver = cs.pop().expect("P2");
    leaver.leave();
    for c in &mut cs {
        assert_eq!(
            c.expect("PlayerLeft"),
            json!({"player_id": ids[2]}),
            "PlayerLeft is the whole notice"
        );
    }
    cs[0].send_game_data(json!({"after":"leave"}));
    assert_eq!(cs[1].expect("GameData")["data"], json!({"after":"leave"}));
    cs[1].send_game_data(json!({"from":"witness"}));
    assert_eq!(cs[0].expect("GameData")["data"], json!({"from":"witness"}));
    // Owner round trip, then the local barrier: nothing from the room reached the leaver.
    leaver.owner_barrier("leave game", owner_of(&room));
    leaver.expect_quiet();
    for c in &mut cs {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn leaving_when_not_in_a_room_gets_no_reply() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    c.send(json!({"type":"LeaveRoom"}));
    c.expect_quiet();
    c.create_room("leave game", "A", 2);
    c.leave();
    c.send(json!({"type":"LeaveRoom"}));
    c.expect_quiet();
    server.shutdown();
}

#[test]
fn after_leaving_one_can_join_another_room_or_come_back() {
    let server = start_server();
    let port = server.port();
    let mut cs = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (room, ids) = seat_room(&mut cs, "hop game", 3, None);
    let code = str_of(&room, "room_code").to_owned();
    cs[1].leave();
    assert_eq!(cs[0].expect("PlayerLeft")["player_id"], ids[1].as_str());

    let other = cs[1].create_room("hop game", "Hopper", 3);
    assert_ne!(other["room_id"], room["room_id"]);
    cs[1].leave();

    let back = cs[1].join_room("hop game", &code, "P1");
    assert_eq!(back["room_id"], room["room_id"]);
    // The same connection keeps its id.
    assert_eq!(back["player_id"], ids[1].as_str());
    cs[0].expect_player_joined("P1");
    cs[0].send_game_data(json!(1));
    assert_eq!(cs[1].expect("GameData")["data"], 1);
    server.shutdown();
}

#[test]
fn a_room_is_deleted_when_its_last_player_leaves() {
    let server = start_server();
    let port = server.port();
    let mut a = Client::connect_to_shard(port, 0);
    let room = a.create_room("empty game", "A", 2);
    let code = str_of(&room, "room_code").to_owned();
    a.leave();
    // Joining by its code now fails, from either shard (the owner deleted the room before
    // it sent RoomLeft).
    let mut b = Client::connect_to_shard(port, other_shard(0));
    let failed =
        b.join_failed(json!({"game_name":"empty game","room_code":code,"player_name":"B"}));
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND");
    let failed =
        a.join_failed(json!({"game_name":"empty game","room_code":code,"player_name":"A"}));
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND");
    server.shutdown();
}
