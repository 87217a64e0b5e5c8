//! Capacity limits (decision 18): the process-wide `security.max_connections` keeps health and
//! metrics answering, and sockets still in their handshake count toward the per-IP cap.

use std::time::Duration;

use crate::common::raw::{
    HEALTH, admitted, closed_within, dial, http_status, local, loopback, upgrade,
};
use crate::common::start_with;
use signal_fish_server::limits::REFUSALS_PER_IP;
use signal_fish_server::net::admission::REFUSAL_DEADLINE;

#[test]
fn at_max_connections_websockets_are_refused_while_health_and_metrics_answer() {
    let server = start_with(|c| c.security.max_connections = 3);
    let addr = local(server.port());
    assert_eq!(server.max_connections(), 3);
    let mut open: Vec<_> = (0..3).map(|_| admitted(addr, None, b"", &[])).collect();
    assert_eq!(upgrade(dial(addr, None), b"", &[]).err(), Some(503));
    assert_eq!(http_status(dial(addr, None), b"", HEALTH), Some(200));
    assert_eq!(
        http_status(dial(addr, None), b"", "GET /health HTTP/1.1\r\n\r\n"),
        Some(200)
    );
    assert_eq!(
        http_status(dial(addr, None), b"", "GET /metrics/prom HTTP/1.1\r\n\r\n"),
        Some(200)
    );
    // A place comes back once the server has seen a close: retry until a WebSocket is served.
    open.pop().expect("a client").close();
    let served = (0..200).any(|_| upgrade(dial(addr, None), b"", &[]).is_ok());
    assert!(served, "a closed connection never gave its place back");
    server.shutdown();
}

#[test]
fn the_default_cap_follows_the_open_file_limit() {
    let server = start_with(|_| {});
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
    let soft = usize::try_from(soft).expect("fits");
    let reserve = (soft / 100).max(64);
    assert_eq!(
        server.max_connections(),
        soft.saturating_sub(reserve).max(1)
    );
    server.shutdown();
}

#[test]
fn silent_sockets_beyond_an_ips_cap_are_closed_promptly_while_others_are_served() {
    silent_sockets_are_bounded(false);
}

/// With the PROXY protocol on, an untrusted peer is still counted from accept, before the
/// server waits for its first bytes to check that it sends no PROXY header.
#[test]
fn silent_untrusted_sockets_are_bounded_with_the_proxy_protocol_on() {
    silent_sockets_are_bounded(true);
}

fn silent_sockets_are_bounded(proxy_protocol: bool) {
    const CAP: usize = 2;
    const EXTRA: usize = 10;
    let server = start_with(|c| {
        c.security.max_connections_per_ip = CAP;
        if proxy_protocol {
            c.security.proxy_protocol = true;
            c.security.trusted_proxies = vec!["127.0.0.1".into()];
        }
    });
    let addr = local(server.port());
    // Sockets from 127.0.0.2 that connect and never send a byte.
    let mut silent: Vec<_> = (0..CAP + REFUSALS_PER_IP + EXTRA)
        .map(|_| dial(addr, loopback(2)))
        .collect();
    // Another IP is served meanwhile.
    let _other = admitted(addr, loopback(3), b"", &[]);
    // Past the cap and the few refusals being answered, sockets are closed at once; the
    // refusals within their short deadline; those within the cap stay (until the 10 s head
    // deadline).
    let closes: Vec<Option<Duration>> = std::thread::scope(|s| {
        let waits: Vec<_> = silent
            .iter_mut()
            .map(|sock| s.spawn(|| closed_within(sock, REFUSAL_DEADLINE + Duration::from_secs(1))))
            .collect();
        waits
            .into_iter()
            .map(|w| w.join().expect("reader"))
            .collect()
    });
    let prompt = closes
        .iter()
        .flatten()
        .filter(|t| **t < REFUSAL_DEADLINE / 2)
        .count();
    let still_open = closes.iter().filter(|t| t.is_none()).count();
    assert!(prompt >= EXTRA, "only {prompt} closed promptly: {closes:?}");
    assert_eq!(still_open, CAP, "{closes:?}");
    server.shutdown();
}

#[test]
fn a_refused_ip_still_gets_health_answers_and_the_refusal_reply() {
    let server = start_with(|c| c.security.max_connections_per_ip = 1);
    let addr = local(server.port());
    let _held = admitted(addr, loopback(4), b"", &[]);
    assert_eq!(http_status(dial(addr, loopback(4)), b"", HEALTH), Some(200));
    crate::common::raw::refused_too_many(addr, loopback(4), b"", &[], 1);
    server.shutdown();
}
