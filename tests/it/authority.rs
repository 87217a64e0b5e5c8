//! `AuthorityRequest` (decision 5): one `AuthorityResponse` per request, `AuthorityChanged`
//! personalised per member, and a holder who leaves frees authority for everyone to see.

use crate::common::{Client, seat_room, start_server, str_of};
use serde_json::{Value, json};

fn request(c: &mut Client, become_authority: bool) {
    c.send(json!({"type":"AuthorityRequest","data":{"become_authority":become_authority}}));
}

fn granted() -> Value {
    json!({"granted":true,"reason":null})
}

/// Three players: P0 and P1 on shard 0, P2 on shard 1, in a room owned by shard 1, so requests
/// and announcements cross shards.
fn three_players(port: u16) -> (Vec<Client>, Vec<String>, String) {
    let mut cs = vec![
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (room, ids) = seat_room(&mut cs, "authority game", 4, Some(1));
    (cs, ids, str_of(&room, "room_code").to_owned())
}

#[test]
fn the_creator_holds_authority() {
    let server = start_server();
    let mut a = Client::connect_to_shard(server.port(), 0);
    let room = a.create_room("authority game", "A", 4);
    assert_eq!(room["is_authority"], true);
    assert_eq!(room["current_players"][0]["is_authority"], true);
    let mut b = Client::connect_to_shard(server.port(), 1);
    let joined = b.join_room("authority game", str_of(&room, "room_code"), "B");
    assert_eq!(joined["is_authority"], false);
    for p in joined["current_players"].as_array().expect("players") {
        assert_eq!(p["is_authority"], p["name"] == "A", "{p}");
    }
    assert_eq!(a.expect("PlayerJoined")["player"]["is_authority"], false);
    server.shutdown();
}

#[test]
fn a_claim_while_someone_holds_it_is_denied_once() {
    let server = start_server();
    let (mut cs, _, _) = three_players(server.port());
    request(&mut cs[2], true);
    assert_eq!(
        cs[2].expect("AuthorityResponse"),
        json!({"granted":false,"reason":"Another player already has authority","error_code":"AUTHORITY_DENIED"})
    );
    request(&mut cs[2], false);
    assert_eq!(
        cs[2].expect("AuthorityResponse"),
        json!({"granted":false,"reason":"You do not have authority to release","error_code":"AUTHORITY_DENIED"})
    );
    cs[2].expect_quiet();
    // The holder re-claiming is granted and changes nothing, so nobody is told; it is also an
    // owner round trip proving the denials were not broadcast to the holder.
    request(&mut cs[0], true);
    assert_eq!(cs[0].expect("AuthorityResponse"), granted());
    for c in &mut cs {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn release_then_claim_moves_authority_and_tells_everyone() {
    let server = start_server();
    let port = server.port();
    let (mut cs, ids, code) = three_players(port);
    request(&mut cs[0], false);
    assert_eq!(cs[0].expect("AuthorityResponse"), granted());
    for c in &mut cs {
        assert_eq!(
            c.expect("AuthorityChanged"),
            json!({"authority_player":null,"you_are_authority":false})
        );
    }
    for c in &mut cs {
        c.expect_quiet();
    }

    request(&mut cs[2], true);
    assert_eq!(cs[2].expect("AuthorityResponse"), granted());
    for (i, c) in cs.iter_mut().enumerate() {
        assert_eq!(
            c.expect("AuthorityChanged"),
            json!({"authority_player":ids[2],"you_are_authority":i == 2}),
            "P{i}"
        );
    }
    for c in &mut cs {
        c.expect_quiet();
    }

    // A later snapshot shows the new holder.
    let mut d = Client::connect(port);
    let joined = d.join_room("authority game", &code, "D");
    assert_eq!(joined["is_authority"], false);
    for p in joined["current_players"].as_array().expect("players") {
        assert_eq!(p["is_authority"], p["id"] == ids[2].as_str(), "{p}");
    }
    server.shutdown();
}

#[test]
fn a_room_without_authority_support_never_grants_it() {
    let server = start_server();
    let mut a = Client::connect_to_shard(server.port(), 0);
    a.send(json!({"type":"JoinRoom","data":{"game_name":"no authority","player_name":"A","max_players":3,"supports_authority":false}}));
    let room = a.expect("RoomJoined");
    assert_eq!(room["supports_authority"], false);
    assert_eq!(room["is_authority"], false);
    assert_eq!(room["current_players"][0]["is_authority"], false);
    let mut b = Client::connect_to_shard(server.port(), 1);
    b.join_room("no authority", str_of(&room, "room_code"), "B");
    a.expect_player_joined("B");
    for c in [&mut a, &mut b] {
        for become_authority in [true, false] {
            request(c, become_authority);
            assert_eq!(
                c.expect("AuthorityResponse"),
                json!({"granted":false,"reason":"Room does not support authority","error_code":"AUTHORITY_NOT_SUPPORTED"})
            );
        }
    }
    a.expect_quiet();
    b.expect_quiet();
    server.shutdown();
}

#[test]
fn the_holder_leaving_frees_authority_for_everyone_to_see() {
    let server = start_server();
    let (mut cs, ids, _) = three_players(server.port());
    let mut holder = cs.remove(0);
    holder.leave();
    for c in &mut cs {
        assert_eq!(c.expect("PlayerLeft")["player_id"], ids[0].as_str());
        assert_eq!(
            c.expect("AuthorityChanged"),
            json!({"authority_player":null,"you_are_authority":false})
        );
    }
    for c in &mut cs {
        c.expect_quiet();
    }
    // Nobody was promoted: anyone may claim it now.
    request(&mut cs[0], true);
    assert_eq!(cs[0].expect("AuthorityResponse"), granted());
    for (i, c) in cs.iter_mut().enumerate() {
        assert_eq!(
            c.expect("AuthorityChanged"),
            json!({"authority_player":ids[1],"you_are_authority":i == 0})
        );
    }
    // The former holder hears nothing of it (it shares shard 0 with the new holder).
    holder.expect_quiet();
    server.shutdown();
}
