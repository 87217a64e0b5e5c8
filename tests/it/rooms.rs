//! Creating, joining and leaving rooms over real WebSockets, on a two-shard server.

use crate::common::{Client, start_server, start_with};
use serde_json::json;

const ALPHABET: &str = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

#[test]
fn create_then_join_by_lowercase_code() {
    let server = start_server();
    let mut mika = Client::connect(server.port());
    let joined = mika.create_room("kart racer", "Mika", 2);
    let code = joined["room_code"].as_str().expect("code").to_owned();
    assert_eq!(code.len(), 6);
    assert!(code.chars().all(|c| ALPHABET.contains(c)), "{code}");
    assert_eq!(joined["game_name"], "kart racer");
    assert_eq!(joined["max_players"], 2);
    assert_eq!(joined["supports_authority"], true);
    assert_eq!(joined["is_authority"], true);
    assert_eq!(joined["lobby_state"], "waiting");
    assert_eq!(joined["ready_players"], json!([]));
    assert_eq!(joined["relay_type"], "matchbox");
    assert_eq!(joined["current_spectators"], json!([]));
    assert!(
        joined["reconnection_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    let players = joined["current_players"].as_array().expect("players");
    assert_eq!(players.len(), 1);
    assert_eq!(players[0]["id"], joined["player_id"]);
    assert_eq!(players[0]["name"], "Mika");

    let mut ravi = Client::connect(server.port());
    let second = ravi.join_room("kart racer", &code.to_lowercase(), "Ravi");
    assert_eq!(second["room_id"], joined["room_id"]);
    assert_eq!(second["room_code"], code.as_str());
    assert_eq!(second["is_authority"], false);
    assert_eq!(second["current_players"].as_array().map(Vec::len), Some(2));
    // The room is now full: the joiner's snapshot shows the lobby, and everyone is told.
    assert_eq!(second["lobby_state"], "lobby");
    let lobby = ravi.expect("LobbyStateChanged");
    assert_eq!(
        lobby,
        json!({"lobby_state":"lobby","ready_players":[],"all_ready":false})
    );

    let player_joined = mika.expect("PlayerJoined");
    assert_eq!(player_joined["player"]["name"], "Ravi");
    assert_eq!(player_joined["player"]["id"], second["player_id"]);
    assert_eq!(mika.expect("LobbyStateChanged")["lobby_state"], "lobby");
    server.shutdown();
}

#[test]
fn joining_an_unknown_code_fails_without_creating() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    let failed = c.join_failed(json!({"game_name":"g","room_code":"ZZZZZZ","player_name":"A"}));
    assert_eq!(failed["error_code"], "ROOM_NOT_FOUND");
    let mut d = Client::connect(server.port());
    let again = d.join_failed(json!({"game_name":"g","room_code":"zzzzzz","player_name":"B"}));
    assert_eq!(again["error_code"], "ROOM_NOT_FOUND");
    server.shutdown();
}

#[test]
fn relay_type_comes_from_the_game_mapping() {
    let server = start_with(|c| {
        c.relay_types
            .game_relay_mappings
            .insert("fps".to_owned(), "mirror".to_owned());
    });
    let mut a = Client::connect(server.port());
    assert_eq!(a.create_room("fps", "A", 4)["relay_type"], "mirror");
    let mut b = Client::connect(server.port());
    assert_eq!(b.create_room("other", "B", 4)["relay_type"], "matchbox");
    server.shutdown();
}
