//! Relaying game data: JSON `GameData` to every other member, and MessagePack binary frames
//! (negotiated with `Authenticate{game_data_format:"message_pack"}`) as the 3-entry envelope to
//! MessagePack clients and as decoded JSON to JSON clients.

use crate::common::{Client, SHARDS, seat_room, start_server, str_of};
use serde_json::{Value, json};
use uuid::Uuid;

/// Two clients on each shard.
fn four_clients(port: u16) -> Vec<Client> {
    (0..4)
        .map(|i| Client::connect_to_shard(port, i % SHARDS))
        .collect()
}

#[test]
fn json_game_data_reaches_every_other_member_once_with_its_payload() {
    let server = start_server();
    let mut clients = four_clients(server.port());
    // Five seats: the room stays `waiting`, so only game data flows.
    let (_, ids) = seat_room(&mut clients, "relay game", 5, None);
    let payloads = [
        json!({"kind":"pos","x":12.5,"y":-3,"nested":{"b":[1,2,{"c":null}],"a":true}}),
        json!([
            "unicode ✓ 玩家",
            "quote \" and \\ backslash",
            18446744073709551615u64,
            -9223372036854775808i64
        ]),
        json!("just a string"),
        json!(null),
    ];
    for (sender, payload) in payloads.iter().enumerate() {
        clients[sender].send_game_data(payload.clone());
        for (i, receiver) in clients.iter_mut().enumerate() {
            if i == sender {
                continue;
            }
            let data = receiver.expect("GameData");
            assert_eq!(data["from_player"], ids[sender].as_str());
            assert_eq!(&data["data"], payload, "payload from P{sender} to P{i}");
        }
    }
    // Nobody got an echo or a second copy. Each client shares its shard with a receiver of the
    // last relay, so anything sent with it would already be queued.
    for c in &mut clients {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn numbers_and_odd_formatting_survive_the_relay_as_json() {
    let server = start_server();
    let mut clients = vec![
        Client::connect_to_shard(server.port(), 0),
        Client::connect_to_shard(server.port(), 1),
    ];
    seat_room(&mut clients, "format game", 3, None);
    // Whitespace, exponent floats and key order are the sender's; the parsed value must match.
    let raw =
        r#"{ "type" : "GameData" , "data" : { "data" : { "z" : 1e2 , "a" : [ 1.50 , -0.0 ] } } }"#;
    clients[0].send_text(raw);
    let data = clients[1].expect("GameData");
    let expected: Value = serde_json::from_str(r#"{"z":1e2,"a":[1.50,-0.0]}"#).expect("json");
    assert_eq!(data["data"], expected);
    server.shutdown();
}

/// The envelope a MessagePack client receives, taken apart by hand (protocol.md §1.8).
pub(crate) struct Envelope {
    pub(crate) from_player: Uuid,
    pub(crate) encoding: String,
    pub(crate) payload: Vec<u8>,
}

pub(crate) fn parse_envelope(bytes: &[u8]) -> Envelope {
    let mut at = 0usize;
    let mut take = |n: usize| {
        let slice = &bytes[at..at + n];
        at += n;
        slice.to_vec()
    };
    assert_eq!(take(1), [0x83], "a fixmap of 3 entries: {bytes:02x?}");
    let fixstr = |take: &mut dyn FnMut(usize) -> Vec<u8>| {
        let head = take(1)[0];
        assert_eq!(head & 0xe0, 0xa0, "fixstr expected, got {head:02x}");
        String::from_utf8(take(usize::from(head & 0x1f))).expect("utf-8")
    };
    let bin = |take: &mut dyn FnMut(usize) -> Vec<u8>| {
        let len = match take(1)[0] {
            0xc4 => usize::from(take(1)[0]),
            0xc5 => usize::from(u16::from_be_bytes([take(1)[0], take(1)[0]])),
            0xc6 => {
                let b = take(4);
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
            other => panic!("bin expected, got {other:02x}"),
        };
        take(len)
    };
    assert_eq!(fixstr(&mut take), "from_player");
    let from = bin(&mut take);
    assert_eq!(from.len(), 16, "from_player is the 16 raw UUID bytes");
    assert_eq!(fixstr(&mut take), "encoding");
    let encoding = fixstr(&mut take);
    assert_eq!(fixstr(&mut take), "payload");
    let payload = bin(&mut take);
    assert_eq!(at, bytes.len(), "nothing after the payload");
    Envelope {
        from_player: Uuid::from_slice(&from).expect("uuid"),
        encoding,
        payload,
    }
}

fn message_pack_client(port: u16, shard: u32) -> Client {
    let mut c = Client::connect_to_shard(port, shard);
    let (_, info) = c.authenticate(json!({"app_id":"mp","game_data_format":"message_pack"}));
    assert_eq!(info["game_data_formats"], json!(["json", "message_pack"]));
    c
}

#[test]
fn message_pack_frames_reach_message_pack_clients_as_envelopes_and_json_clients_as_json() {
    let server = start_server();
    let port = server.port();
    // Two MessagePack clients on different shards, JSON clients on both shards.
    let mut clients = vec![
        message_pack_client(port, 0),
        message_pack_client(port, 1),
        Client::connect_to_shard(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (_, ids) = seat_room(&mut clients, "binary game", 6, None);
    let sender = Uuid::parse_str(&ids[0]).expect("uuid");

    // {"hp":90}
    let small = vec![0x81, 0xa2, b'h', b'p', 0x5a];
    clients[0].send_binary(small.clone());
    let bytes = clients[1].recv_binary();
    let mut expected = vec![0x83, 0xab];
    expected.extend_from_slice(b"from_player");
    expected.extend_from_slice(&[0xc4, 0x10]);
    expected.extend_from_slice(sender.as_bytes());
    expected.push(0xa8);
    expected.extend_from_slice(b"encoding");
    expected.push(0xac);
    expected.extend_from_slice(b"message_pack");
    expected.push(0xa7);
    expected.extend_from_slice(b"payload");
    expected.extend_from_slice(&[0xc4, 0x05]);
    expected.extend_from_slice(&small);
    assert_eq!(bytes, expected, "the 68-byte envelope of protocol.md §1.8");
    for json_client in &mut clients[2..] {
        let data = json_client.expect("GameData");
        assert_eq!(data["from_player"], ids[0].as_str());
        assert_eq!(data["data"], json!({"hp":90}));
    }

    // A payload over 255 bytes travels in a bin16.
    let long_text = "x".repeat(300);
    let big = rmp_serde::to_vec(&json!({"text": long_text, "list": [1, -2, 3.5, null, true]}))
        .expect("msgpack");
    clients[1].send_binary(big.clone());
    let envelope = parse_envelope(&clients[0].recv_binary());
    assert_eq!(envelope.from_player.to_string(), ids[1]);
    assert_eq!(envelope.encoding, "message_pack");
    assert_eq!(envelope.payload, big);
    for json_client in &mut clients[2..] {
        let data = json_client.expect("GameData");
        assert_eq!(data["from_player"], ids[1].as_str());
        assert_eq!(
            data["data"],
            json!({"text": long_text, "list": [1, -2, 3.5, null, true]})
        );
    }

    // JSON game data reaches MessagePack clients as text.
    clients[2].send_game_data(json!({"from":"json"}));
    for i in [0, 1, 3] {
        let data = clients[i].expect("GameData");
        assert_eq!(data["from_player"], ids[2].as_str());
        assert_eq!(data["data"], json!({"from":"json"}));
    }
    for c in &mut clients {
        c.expect_quiet();
    }
    server.shutdown();
}

#[test]
fn undecodable_message_pack_reaches_only_message_pack_clients() {
    let server = start_server();
    let port = server.port();
    let mut clients = vec![
        message_pack_client(port, 0),
        message_pack_client(port, 1),
        Client::connect_to_shard(port, 0),
    ];
    let (_, ids) = seat_room(&mut clients, "binary game", 4, None);
    // A MessagePack bin value has no JSON form.
    let opaque = vec![0xc4, 0x02, 0xde, 0xad];
    clients[0].send_binary(opaque.clone());
    let envelope = parse_envelope(&clients[1].recv_binary());
    assert_eq!(envelope.payload, opaque);
    assert_eq!(envelope.from_player.to_string(), ids[0]);
    // Relays from one sender stay in order, so the JSON client's next message is the next
    // relay: the undecodable one was dropped for it.
    clients[0].send_binary(vec![0x2a]);
    let data = clients[2].expect("GameData");
    assert_eq!(data["data"], json!(42));
    assert_eq!(parse_envelope(&clients[1].recv_binary()).payload, [0x2a]);
    server.shutdown();
}

#[test]
fn a_json_client_sending_binary_gets_invalid_input_and_stays_connected() {
    let server = start_server();
    let mut clients = vec![
        Client::connect_to_shard(server.port(), 0),
        Client::connect_to_shard(server.port(), 1),
    ];
    let (_, ids) = seat_room(&mut clients, "binary game", 3, None);
    clients[0].send_binary(vec![0x81, 0xa2, b'h', b'p', 0x5a]);
    let error = clients[0].expect_error("INVALID_INPUT");
    assert_eq!(
        error["message"],
        "Binary payloads are disabled for this connection"
    );
    clients[0].expect_quiet();
    // Nothing was relayed: the other player's next message is the next real game data.
    clients[0].send_game_data(json!("after"));
    let data = clients[1].expect("GameData");
    assert_eq!(data["from_player"], ids[0].as_str());
    assert_eq!(data["data"], "after");
    server.shutdown();
}

#[test]
fn game_data_outside_a_room_is_dropped_silently() {
    let server = start_server();
    let mut c = Client::connect(server.port());
    c.send_game_data(json!({"x":1}));
    c.expect_quiet();
    let mut mp = Client::connect(server.port());
    mp.authenticate(json!({"app_id":"mp","game_data_format":"message_pack"}));
    mp.send_binary(vec![0x01]);
    mp.expect_quiet();
    server.shutdown();
}

#[test]
fn a_flat_game_data_body_is_invalid_input() {
    let server = start_server();
    let mut clients = vec![
        Client::connect_to_shard(server.port(), 0),
        Client::connect_to_shard(server.port(), 1),
    ];
    let (created, _) = seat_room(&mut clients, "flat game", 3, None);
    assert!(!str_of(&created, "room_code").is_empty());
    clients[0].send(json!({"type":"GameData","data":{"x":1}}));
    clients[0].expect_error("INVALID_INPUT");
    clients[0].send_game_data(json!("next"));
    assert_eq!(clients[1].expect("GameData")["data"], "next");
    server.shutdown();
}

#[test]
fn authenticating_for_message_pack_after_joining_switches_delivery_to_envelopes() {
    let server = start_server();
    let port = server.port();
    let mut clients = vec![
        message_pack_client(port, 0),
        Client::connect_to_shard(port, 1),
    ];
    let (_, ids) = seat_room(&mut clients, "late format", 3, None);
    // P1 negotiates MessagePack while already seated: Authenticate is its only way to do so,
    // and nothing limits it to before the join.
    clients[1].authenticate(json!({"app_id":"late","game_data_format":"message_pack"}));
    let payload = vec![0x92, 0x01, 0x02];
    clients[0].send_binary(payload.clone());
    let envelope = parse_envelope(&clients[1].recv_binary());
    assert_eq!(envelope.from_player.to_string(), ids[0]);
    assert_eq!(envelope.payload, payload);
    server.shutdown();
}

#[test]
fn a_message_pack_spectator_gets_envelopes_like_a_message_pack_player() {
    let server = start_server();
    let port = server.port();
    let mut clients = vec![message_pack_client(port, 0), message_pack_client(port, 1)];
    let (room, ids) = seat_room(&mut clients, "watched binary", 3, None);
    let mut spectator = message_pack_client(port, 1);
    spectator.send(json!({"type":"JoinAsSpectator","data":{"game_name":"watched binary","room_code":room["room_code"],"spectator_name":"Watcher"}}));
    spectator.expect("SpectatorJoined");
    for c in &mut clients {
        c.expect("NewSpectatorJoined");
    }
    // {"hp":90}, then a bin value, which has no JSON form: only an envelope can carry it.
    for payload in [vec![0x81, 0xa2, b'h', b'p', 0x5a], vec![0xc4, 0x01, 0x07]] {
        clients[0].send_binary(payload.clone());
        assert_eq!(parse_envelope(&clients[1].recv_binary()).payload, payload);
        let message = spectator.recv_message();
        let tungstenite::Message::Binary(bytes) = message else {
            panic!("expected the binary envelope, got {message:?}");
        };
        let envelope = parse_envelope(&bytes);
        assert_eq!(envelope.from_player.to_string(), ids[0]);
        assert_eq!(envelope.payload, payload);
    }
    server.shutdown();
}

#[test]
fn a_burst_of_game_data_arrives_complete_and_in_order_everywhere() {
    let server = start_server();
    let port = server.port();
    let mut clients = four_clients(port);
    let (_, ids) = seat_room(&mut clients, "burst game", 4, None);
    // Two senders on different shards interleave; each one's stream must stay in order.
    const N: u64 = 300;
    for seq in 0..N {
        clients[0].send_game_data(json!({"seq":seq}));
        clients[1].send_game_data(json!({"seq":seq}));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut next = [0u64; 2];
        let expected_total = if i < 2 { N } else { 2 * N };
        for _ in 0..expected_total {
            let data = c.expect("GameData");
            let from = ids
                .iter()
                .position(|id| data["from_player"] == id.as_str())
                .expect("a member");
            assert!(from < 2 && from != i, "P{i} got data from P{from}");
            assert_eq!(data["data"]["seq"], next[from], "P{i} from P{from}");
            next[from] += 1;
        }
    }
    for c in &mut clients {
        c.expect_quiet();
    }
    server.shutdown();
}
