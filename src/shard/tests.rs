//! The driver with no executor: one shard, real mailboxes, the owner machine behind it.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use uuid::Uuid;

use super::Shard;
use super::mailbox::{Control, Mailbox, Outgoing};
use super::messages::{CreateRoom, JoinByCode, OwnerCmd, ShardMsg};
use crate::config::Config;
use crate::protocol::{Frame, GameDataEncoding};
use crate::room::{Joiner, SessionAddr};

fn joiner(n: u128, addr: SessionAddr) -> Joiner {
    Joiner {
        id: Uuid::from_u128(n),
        name: format!("player{n}"),
        addr,
        encoding: GameDataEncoding::Json,
        reconnection_token: format!("token{n}"),
    }
}

/// What a mailbox holds, frames as their `type` and controls as themselves.
fn drain(mailbox: &Mailbox) -> Vec<(String, Option<Value>)> {
    std::iter::from_fn(|| mailbox.pop())
        .map(|item| match item {
            Outgoing::Frame(Frame::Text(text)) => {
                let v: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
                (v["type"].as_str().unwrap_or("?").to_owned(), Some(v))
            }
            Outgoing::Frame(Frame::Binary(_)) => ("binary".to_owned(), None),
            Outgoing::Control(control) => (format!("{control:?}"), None),
        })
        .collect()
}

#[test]
fn a_join_that_lands_after_its_session_left_is_undone() {
    let shard = Shard::new(0, 1, Arc::new(Config::default()));
    let (creator, creator_box) = shard.register(Instant::now());
    shard.dispatch_local(ShardMsg::Owner(OwnerCmd::CreateRoom(Box::new(
        CreateRoom {
            game_name: "kart racer".to_owned(),
            max_players: 4,
            supports_authority: true,
            code: String::new(),
            creator: joiner(1, creator),
        },
    ))));
    let seen = drain(&creator_box);
    assert!(seen[0].0.starts_with("Joined"), "{seen:?}");
    let code = seen[1].1.as_ref().expect("RoomJoined")["data"]["room_code"]
        .as_str()
        .expect("a code")
        .to_owned();

    // A session that is already gone (never registered here) joins: the driver finds no
    // mailbox for its `Joined` and has the owner take the seat back, after the join's own
    // broadcast.
    let gone = SessionAddr {
        shard: 0,
        slot: 999,
    };
    shard.dispatch_local(ShardMsg::Owner(OwnerCmd::JoinRoom(Box::new(JoinByCode {
        game_name: "kart racer".to_owned(),
        code,
        joiner: joiner(2, gone),
    }))));
    let kinds: Vec<String> = drain(&creator_box).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["PlayerJoined", "PlayerLeft"]);
    assert_eq!(shard.owned_rooms(), 1);
    assert_eq!(shard.metrics.gauges.borrow().players_active, 1);
}

#[test]
fn controls_for_a_local_session_reach_its_mailbox_in_order() {
    let shard = Shard::new(0, 1, Arc::new(Config::default()));
    let (addr, mailbox) = shard.register(Instant::now());
    shard.refuse_join(
        addr,
        crate::protocol::ServerMessage::join_failed("no", crate::protocol::ErrorCode::RoomFull),
    );
    assert!(matches!(mailbox.pop(), Some(Outgoing::Frame(_))));
    assert!(matches!(
        mailbox.pop(),
        Some(Outgoing::Control(Control::JoinRefused))
    ));
}
