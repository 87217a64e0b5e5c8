//! Rooms across two in-process nodes on a real nats-server: the shortest path through the
//! cross-node routing (the multi-process tests are in `routing*.rs`).

use serde_json::json;

use super::cluster_config;
use crate::common::nats::Nats;
use crate::common::{Client, http_get, start_with};

#[test]
fn a_room_created_on_one_node_is_joined_and_played_from_another() {
    let Some(nats) = Nats::start("a_room_created_on_one_node_is_joined_and_played_from_another")
    else {
        return;
    };
    let url = nats.url();
    let a = start_with(|c| c.cluster = cluster_config(&url, "smoke-a"));
    let b = start_with(|c| c.cluster = cluster_config(&url, "smoke-b"));
    let mut host = Client::connect(a.port());
    let created = host.create_room("smoke", "host", 2);
    let code = created["room_code"].as_str().expect("code").to_owned();
    let mut guest = Client::connect(b.port());
    let joined = guest.join_room("smoke", &code, "guest");
    assert_eq!(joined["room_id"], created["room_id"]);
    host.expect("PlayerJoined");
    // The room is full: both hear it go to the lobby.
    assert_eq!(host.expect("LobbyStateChanged")["lobby_state"], "lobby");
    assert_eq!(guest.expect("LobbyStateChanged")["lobby_state"], "lobby");
    for i in 0..20 {
        guest.send_game_data(json!({ "n": i }));
        host.send_game_data(json!({ "m": i }));
    }
    for i in 0..20 {
        assert_eq!(host.expect("GameData")["data"]["n"], i);
        assert_eq!(guest.expect("GameData")["data"]["m"], i);
    }
    guest.ready();
    let guest_id = joined["player_id"].clone();
    for c in [&mut host, &mut guest] {
        let lobby = c.expect("LobbyStateChanged");
        assert_eq!(lobby["ready_players"], json!([guest_id]), "{lobby}");
    }
    guest.leave();
    host.expect("PlayerLeft");

    // The original's cross_instance families count it: A sent B frames and membership
    // changes; B forwarded its player's join to A and heard back about its membership.
    let counter = |port: u16, name: &str| -> u64 {
        let (_, text) = http_get(
            port,
            "GET /metrics/prom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    let known = "signal_fish_cross_instance_membership_known_broadcasts_total";
    assert!(
        counter(a.port(), known) >= 20,
        "A's game data and lobby frames to B"
    );
    let published = "signal_fish_cross_instance_membership_updates_published_total";
    assert!(
        counter(a.port(), published) >= 2,
        "Joined and Left went to B"
    );
    let received = "signal_fish_cross_instance_membership_updates_received_total";
    assert!(counter(b.port(), received) >= 2);
    let hits = "signal_fish_cross_instance_membership_cache_hits_total";
    assert_eq!(counter(b.port(), hits), 1, "B forwarded one join to A");
    assert_eq!(
        counter(a.port(), "signal_fish_cross_instance_dedup_hits_total"),
        0
    );
    assert!(counter(a.port(), "signal_fish_cross_instance_dedup_misses_total") >= 1);
}
