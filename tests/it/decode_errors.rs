//! A frame that is not a client message is answered with `Error{INVALID_INPUT}` whose message
//! keeps 0.1.0's wording and names the field and message type; the connection stays.

use serde_json::json;

use crate::common::{Client, start_server};

#[test]
fn decode_errors_name_the_field_and_keep_the_code() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    for (frame, message) in [
        (
            json!({"type":"GameData","data":{"x":1}}).to_string(),
            "Invalid client message: missing field data.data in GameData",
        ),
        (
            json!({"type":"JoinRoom","data":{"game_name":"g","player_name":"p","max_players":"4"}})
                .to_string(),
            "Invalid client message: wrong type for data.max_players in JoinRoom: expected u8, got a string",
        ),
        (
            json!({"type":"Teleport"}).to_string(),
            "Invalid client message: unknown message type Teleport",
        ),
        (
            "not json".to_owned(),
            "Invalid client message: not valid JSON (line 1, column 2)",
        ),
    ] {
        c.send_text(&frame);
        let error = c.expect_error("INVALID_INPUT");
        assert_eq!(error["message"], message, "{frame}");
    }
    // Still connected and served.
    c.create_room("decode", "A", 2);
    server.shutdown();
}
