//! NATS restarts under running nodes: they reconnect on their own, their inboxes, the room
//! directory (kept on disk by NATS) and the liveness watch work again.

use std::time::Duration;

use signal_fish_server::cluster::{
    Body, Claim, DirectoryReply, DirectoryRequest, FromBridge, GoneWhy, Home, NodeEvent,
};
use uuid::Uuid;

use super::{TTL_SECS, join, next_matching, runtime, within};
use crate::common::nats::Nats;

#[test]
fn nodes_ride_out_a_nats_restart() {
    let Some(mut nats) = Nats::start("nodes_ride_out_a_nats_restart") else {
        return;
    };
    let (a, links_a) = join(&nats.url(), "rs-a", 1);
    let (b, links_b) = join(&nats.url(), "rs-b", 1);
    let rt = runtime();
    let joined = next_matching(&rt, &links_a[0], within(5), "rs-b joining", |m| match m {
        FromBridge::Node(e) => Some(e),
        _ => None,
    });
    assert!(
        matches!(&joined, NodeEvent::Joined { node, .. } if node == "rs-b"),
        "{joined:?}"
    );
    let home = Home {
        node: "rs-a".to_owned(),
        instance: Uuid::nil(),
        shard: 0,
        room_id: Uuid::new_v4(),
    };
    let ask = |token, request| {
        links_a[0]
            .directory(token, request)
            .expect("bridge takes it");
        next_matching(
            &rt,
            &links_a[0],
            within(10),
            "a directory reply",
            |m| match m {
                FromBridge::Directory { token: t, reply } if t == token => Some(reply),
                _ => None,
            },
        )
    };
    let create = |token, code: &str, home: &Home| {
        ask(
            token,
            DirectoryRequest::Create {
                game: "g".to_owned(),
                code: code.to_owned(),
                home: home.clone(),
            },
        )
    };
    assert_eq!(
        create(1, "BEFORE", &home),
        DirectoryReply::Created(Claim::Won)
    );

    nats.restart(|| {});

    // B's inbox is back once B has reconnected: probe until one gets through.
    let got_through = (0..50u64).any(|seq| {
        links_a[0]
            .send("rs-b", 0, Body::Probe { seq })
            .expect("bridge takes it");
        rt.block_on(async {
            loop {
                match tokio::time::timeout(Duration::from_millis(200), links_b[0].recv()).await {
                    Ok(Some(FromBridge::Message(_))) => return true,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return false,
                }
            }
        })
    });
    assert!(got_through, "no probe reached rs-b after the restart");
    // The directory kept its entry and takes new ones.
    let before = ask(
        2,
        DirectoryRequest::LookupCode {
            game: "g".to_owned(),
            code: "BEFORE".to_owned(),
        },
    );
    assert_eq!(before, DirectoryReply::Found(Some(home.clone())));
    let after = Home {
        room_id: Uuid::new_v4(),
        ..home
    };
    assert_eq!(
        create(3, "AFTER", &after),
        DirectoryReply::Created(Claim::Won)
    );
    // Liveness works again both ways: B's goodbye lands in the bucket and A's watch sees it
    // (a bucket lost in the restart would leave A to find B silent only after the TTL).
    let stopped = std::time::Instant::now();
    b.stop();
    let gone = next_matching(
        &rt,
        &links_a[0],
        within(TTL_SECS),
        "rs-b leaving",
        |m| match m {
            FromBridge::Node(NodeEvent::Gone {
                node,
                why: GoneWhy::Deleted,
                ..
            }) => Some(node),
            _ => None,
        },
    );
    assert_eq!(gone, "rs-b");
    assert!(stopped.elapsed() < Duration::from_secs(TTL_SECS));
    assert_eq!(
        a.stats()
            .nats_connected
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
