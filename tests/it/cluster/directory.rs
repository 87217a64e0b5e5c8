//! The room directory through the bridges of two nodes, each on its own NATS connection.

use signal_fish_server::cluster::{Claim, DirectoryReply, DirectoryRequest, FromBridge, Home};
use uuid::Uuid;

use super::{join, next_matching, runtime, within};
use crate::common::nats::Nats;

/// Sends `request` on `link` and waits for its answer.
fn ask(
    rt: &tokio::runtime::Runtime,
    link: &signal_fish_server::cluster::ShardLink,
    token: u64,
    request: DirectoryRequest,
) -> DirectoryReply {
    link.directory(token, request).expect("bridge takes it");
    next_matching(rt, link, within(10), "a directory reply", |msg| match msg {
        FromBridge::Directory { token: t, reply } if t == token => Some(reply),
        _ => None,
    })
}

#[test]
fn two_nodes_creating_one_code_at_once_exactly_one_wins() {
    let Some(nats) = Nats::start("two_nodes_creating_one_code_at_once_exactly_one_wins") else {
        return;
    };
    let (_a, links_a) = join(&nats.url(), "dir-a", 1);
    let (_b, links_b) = join(&nats.url(), "dir-b", 1);
    let (a, b) = (&links_a[0], &links_b[0]);
    let rt = runtime();
    // A game name a NATS key could not hold as it is.
    let game = "Space Race: ゲーム 🎮 v1.2";
    for round in 0..20u64 {
        let code = format!("R{round:05}");
        let home = |node: &str| Home {
            node: node.to_owned(),
            instance: Uuid::nil(),
            shard: 0,
            room_id: Uuid::new_v4(),
        };
        let (home_a, home_b) = (home("dir-a"), home("dir-b"));
        // Both requests are queued before either answer is read: the two bridges race.
        for (link, home) in [(a, &home_a), (b, &home_b)] {
            link.directory(
                round,
                DirectoryRequest::Create {
                    game: game.to_owned(),
                    code: code.clone(),
                    home: home.clone(),
                },
            )
            .expect("bridge takes it");
        }
        let reply = |link| {
            next_matching(&rt, link, within(10), "a create reply", |msg| match msg {
                FromBridge::Directory { token, reply } if token == round => Some(reply),
                _ => None,
            })
        };
        let (got_a, got_b) = (reply(a), reply(b));
        let won = |r: &DirectoryReply| *r == DirectoryReply::Created(Claim::Won);
        assert!(
            won(&got_a) != won(&got_b),
            "round {round}: {got_a:?} / {got_b:?}"
        );
        let (winner, loser_reply) = if won(&got_a) {
            (&home_a, &got_b)
        } else {
            (&home_b, &got_a)
        };
        assert_eq!(
            *loser_reply,
            DirectoryReply::Created(Claim::Taken(Some(winner.clone()))),
            "round {round}"
        );
        // Both nodes now find the winner, by code and by room id.
        for link in [a, b] {
            let by_code = ask(
                &rt,
                link,
                1000 + round,
                DirectoryRequest::LookupCode {
                    game: game.to_owned(),
                    code: code.clone(),
                },
            );
            assert_eq!(by_code, DirectoryReply::Found(Some(winner.clone())));
        }
        let by_id = ask(
            &rt,
            b,
            2000 + round,
            DirectoryRequest::LookupRoom {
                room_id: winner.room_id,
            },
        );
        assert_eq!(by_id, DirectoryReply::Found(Some(winner.clone())));
    }
    // The counters saw 20 wins and 20 losses over the two nodes.
    use signal_fish_server::cluster::stats::{DirOp, DirOutcome};
    let wins = _a.stats().directory_count(DirOp::Create, DirOutcome::Ok)
        + _b.stats().directory_count(DirOp::Create, DirOutcome::Ok);
    let losses = _a.stats().directory_count(DirOp::Create, DirOutcome::Miss)
        + _b.stats().directory_count(DirOp::Create, DirOutcome::Miss);
    assert_eq!((wins, losses), (20, 20));
}

#[test]
fn only_the_owner_deletes_and_a_freed_code_can_be_created_again() {
    let Some(nats) = Nats::start("only_the_owner_deletes_and_a_freed_code_can_be_created_again")
    else {
        return;
    };
    let (_a, links) = join(&nats.url(), "del-a", 1);
    let link = &links[0];
    let rt = runtime();
    let (game, code) = ("g", "ABC123");
    let first = Home {
        node: "del-a".to_owned(),
        instance: Uuid::nil(),
        shard: 0,
        room_id: Uuid::new_v4(),
    };
    let create = |token, home: &Home| {
        ask(
            &rt,
            link,
            token,
            DirectoryRequest::Create {
                game: game.to_owned(),
                code: code.to_owned(),
                home: home.clone(),
            },
        )
    };
    let delete = |token, room_id| {
        ask(
            &rt,
            link,
            token,
            DirectoryRequest::Delete {
                game: game.to_owned(),
                code: code.to_owned(),
                room_id,
            },
        )
    };
    let lookup = |token| {
        ask(
            &rt,
            link,
            token,
            DirectoryRequest::LookupCode {
                game: game.to_owned(),
                code: code.to_owned(),
            },
        )
    };
    assert_eq!(create(1, &first), DirectoryReply::Created(Claim::Won));
    // A late delete naming another room leaves the entry alone.
    assert_eq!(delete(2, Uuid::new_v4()), DirectoryReply::Deleted(false));
    assert_eq!(lookup(3), DirectoryReply::Found(Some(first.clone())));
    assert_eq!(delete(4, first.room_id), DirectoryReply::Deleted(true));
    assert_eq!(lookup(5), DirectoryReply::Found(None));
    let by_id = ask(
        &rt,
        link,
        6,
        DirectoryRequest::LookupRoom {
            room_id: first.room_id,
        },
    );
    assert_eq!(by_id, DirectoryReply::Found(None));
    // The code is free again (its key holds a delete marker now).
    let second = Home {
        room_id: Uuid::new_v4(),
        ..first.clone()
    };
    assert_eq!(create(7, &second), DirectoryReply::Created(Claim::Won));
    assert_eq!(lookup(8), DirectoryReply::Found(Some(second)));
}

#[test]
fn register_puts_a_room_back_and_never_takes_anothers_code() {
    let Some(nats) = Nats::start("register_puts_a_room_back_and_never_takes_anothers_code") else {
        return;
    };
    let (_a, links) = join(&nats.url(), "reg-a", 1);
    let link = &links[0];
    let rt = runtime();
    let home = |code_holder: &str| Home {
        node: code_holder.to_owned(),
        instance: link.instance(),
        shard: 0,
        room_id: Uuid::new_v4(),
    };
    let mut token = 0;
    let mut ask = |request| {
        token += 1;
        ask(&rt, link, token, request)
    };
    let register = |code: &str, home: &Home| DirectoryRequest::Register {
        game: "g".to_owned(),
        code: code.to_owned(),
        home: home.clone(),
    };
    let mine = home("reg-a");
    let create = DirectoryRequest::Create {
        game: "g".to_owned(),
        code: "KEEP01".to_owned(),
        home: mine.clone(),
    };
    assert_eq!(ask(create), DirectoryReply::Created(Claim::Won));
    // Already ours: won again, as often as it is asked.
    for _ in 0..2 {
        assert_eq!(
            ask(register("KEEP01", &mine)),
            DirectoryReply::Created(Claim::Won)
        );
    }
    // Another room's code stays its own.
    let other = home("reg-b");
    assert_eq!(
        ask(register("KEEP01", &other)),
        DirectoryReply::Created(Claim::Taken(Some(mine.clone())))
    );
    // A code whose entry was swept (or never written): put back, by code and by room id.
    let swept = home("reg-a");
    assert_eq!(
        ask(register("GONE01", &swept)),
        DirectoryReply::Created(Claim::Won)
    );
    let by_code = ask(DirectoryRequest::LookupCode {
        game: "g".to_owned(),
        code: "GONE01".to_owned(),
    });
    assert_eq!(by_code, DirectoryReply::Found(Some(swept.clone())));
    let by_id = ask(DirectoryRequest::LookupRoom {
        room_id: swept.room_id,
    });
    assert_eq!(by_id, DirectoryReply::Found(Some(swept)));
    // Deleted, then registered again (the key holds a delete marker now).
    let deleted = ask(DirectoryRequest::Delete {
        game: "g".to_owned(),
        code: "KEEP01".to_owned(),
        room_id: mine.room_id,
    });
    assert_eq!(deleted, DirectoryReply::Deleted(true));
    assert_eq!(
        ask(register("KEEP01", &mine)),
        DirectoryReply::Created(Claim::Won)
    );
    use signal_fish_server::cluster::stats::{DirOp, DirOutcome};
    assert_eq!(
        _a.stats().directory_count(DirOp::Register, DirOutcome::Ok),
        4
    );
    assert_eq!(
        _a.stats()
            .directory_count(DirOp::Register, DirOutcome::Miss),
        1
    );
}
