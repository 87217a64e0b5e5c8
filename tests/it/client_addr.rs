//! The client's real address (decision 16): PROXY protocol headers and forwarding headers from
//! trusted proxies decide which IP a connection counts against; anyone else's are ignored.

use std::io::Write;
use std::net::SocketAddr;

use crate::common::raw::{
    HEALTH, admitted, dial, http_status, local, loopback, refused_too_many, upgrade,
};
use crate::common::{Client, start_with};
use ppp::v2::{Builder, Command, Protocol, Version};

fn v1(source: &str) -> Vec<u8> {
    format!("PROXY TCP4 {source} 10.0.0.1 51000 3536\r\n").into_bytes()
}

fn v1_tcp6(source: &str) -> Vec<u8> {
    format!("PROXY TCP6 {source} 2001:db8::1 51000 3536\r\n").into_bytes()
}

fn v2(command: Command, source: &str) -> Vec<u8> {
    let src: SocketAddr = format!("{source}:51000").parse().expect("source");
    let dst: SocketAddr = "10.0.0.1:3536".parse().expect("destination");
    Builder::with_addresses(Version::Two | command, Protocol::Stream, (src, dst))
        .build()
        .expect("v2 header")
}

#[test]
fn proxy_protocol_headers_name_the_client_that_per_ip_limits_count() {
    let server = start_with(|c| {
        c.security.trusted_proxies = vec!["127.0.0.1".into()];
        c.security.proxy_protocol = true;
        c.security.max_connections_per_ip = 1;
    });
    let addr = local(server.port());
    let _first = admitted(addr, None, &v1("203.0.113.7"), &[]);
    // The same client through a v2 header: the limit holds for the address in the header.
    refused_too_many(addr, None, &v2(Command::Proxy, "203.0.113.7"), &[], 1);
    refused_too_many(addr, None, &v1("203.0.113.7"), &[], 1);
    // Another client through the same proxy has its own count.
    let _second = admitted(addr, None, &v2(Command::Proxy, "203.0.113.8"), &[]);
    let _third = admitted(addr, None, &v1_tcp6("2001:db8::8"), &[]);
    // A header that arrives in two segments is put together (the pause only splits it; the
    // outcome does not depend on its length).
    let header = v1("203.0.113.9");
    let mut split = dial(addr, None);
    split.write_all(&header[..9]).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(30));
    split.write_all(&header[9..]).expect("write");
    let mut split = upgrade(split, b"", &[]).expect("upgrade after a split header");
    split.expect_quiet();
    refused_too_many(addr, None, &v1("203.0.113.9"), &[], 1);
    // v2 LOCAL (the proxy's own health check) is the proxy itself.
    assert_eq!(
        http_status(dial(addr, None), &v2(Command::Local, "0.0.0.0"), HEALTH),
        Some(200)
    );
    server.shutdown();
}

#[test]
fn proxy_headers_from_untrusted_peers_are_refused_and_trusted_peers_must_send_one() {
    let server = start_with(|c| {
        c.security.trusted_proxies = vec!["127.0.0.2".into()];
        c.security.proxy_protocol = true;
    });
    let addr = local(server.port());
    // 127.0.0.1 is not trusted: a PROXY header from it is refused without an answer…
    assert_eq!(
        http_status(dial(addr, None), &v1("203.0.113.7"), HEALTH),
        None
    );
    assert_eq!(
        http_status(dial(addr, None), &v2(Command::Proxy, "203.0.113.7"), HEALTH),
        None
    );
    assert_eq!(
        upgrade(dial(addr, None), &v1("203.0.113.7"), &[]).err(),
        Some(0)
    );
    // …and without one it is served as a direct client.
    assert_eq!(http_status(dial(addr, None), b"", HEALTH), Some(200));
    let _direct = admitted(addr, None, b"", &[]);
    // The trusted proxy 127.0.0.2 must send a header: a bare request is a misconfiguration.
    assert_eq!(http_status(dial(addr, loopback(2)), b"", HEALTH), None);
    assert_eq!(
        http_status(dial(addr, loopback(2)), b"PROXY TCP4 garbage\r\n", HEALTH),
        None
    );
    assert_eq!(
        http_status(dial(addr, loopback(2)), &v1("203.0.113.7"), HEALTH),
        Some(200)
    );
    server.shutdown();
}

#[test]
fn spoofed_forwarding_headers_from_untrusted_peers_are_ignored() {
    let server = start_with(|c| {
        c.security.trusted_proxies = vec!["10.0.0.0/8".into()];
        c.security.max_connections_per_ip = 1;
    });
    let addr = local(server.port());
    let _first = admitted(addr, None, b"", &[("X-Forwarded-For", "198.51.100.1")]);
    // Claiming another address does not escape the peer's own limit.
    for header in ["X-Forwarded-For", "X-Real-IP"] {
        refused_too_many(addr, None, b"", &[(header, "198.51.100.2")], 1);
    }
    refused_too_many(addr, None, b"", &[("Forwarded", "for=198.51.100.3")], 1);
    server.shutdown();
}

#[test]
fn forwarding_headers_from_trusted_peers_name_the_right_most_untrusted_hop() {
    let server = start_with(|c| {
        c.security.trusted_proxies = vec!["127.0.0.1".into(), "10.0.0.0/8".into()];
        c.security.max_connections_per_ip = 1;
    });
    let addr = local(server.port());
    // The client typed 6.6.6.6; the edge proxy appended the real 198.51.100.1, the inner
    // proxy (10.0.0.5, trusted) appended its own hop.
    let xff = ("X-Forwarded-For", "6.6.6.6, 198.51.100.1, 10.0.0.5");
    let _a = admitted(addr, None, b"", &[xff]);
    refused_too_many(addr, None, b"", &[("X-Forwarded-For", "198.51.100.1")], 1);
    // The same spoofed left-most hop with another real client: a separate count.
    let _b = admitted(
        addr,
        None,
        b"",
        &[("X-Forwarded-For", "6.6.6.6, 198.51.100.2")],
    );
    // Forwarded wins over X-Forwarded-For.
    refused_too_many(
        addr,
        None,
        b"",
        &[
            ("Forwarded", "for=\"198.51.100.2:4711\""),
            ("X-Forwarded-For", "198.51.100.9"),
        ],
        1,
    );
    let _c = admitted(addr, None, b"", &[("X-Real-IP", "198.51.100.3")]);
    // Health checks from the proxy itself are answered.
    assert_eq!(http_status(dial(addr, None), b"", HEALTH), Some(200));
    server.shutdown();
}

#[test]
fn source_addresses_are_limited_separately() {
    let server = start_with(|c| c.security.max_connections_per_ip = 1);
    let addr = local(server.port());
    let _two = admitted(addr, loopback(2), b"", &[]);
    refused_too_many(addr, loopback(2), b"", &[], 1);
    let _three = admitted(addr, loopback(3), b"", &[]);
    let _one = Client::connect(server.port());
    server.shutdown();
}

#[test]
fn server_host_chooses_the_listening_address() {
    for host in ["127.0.0.1", "::1", "::"] {
        let server = start_with(|c| c.server.host = host.to_owned());
        let port = server.port();
        assert_eq!(server.local_addr().ip().to_string(), host);
        let v6: SocketAddr = format!("[::1]:{port}").parse().expect("addr");
        // `local_addr` is what the listening socket reports, so it proves the bind; the
        // connections prove it serves there.
        match host {
            "127.0.0.1" => {
                let _c = admitted(local(port), None, b"", &[]);
            }
            "::1" => {
                let _c = admitted(v6, None, b"", &[]);
                assert_eq!(http_status(dial(v6, None), b"", HEALTH), Some(200));
            }
            _ => {
                // Dual-stack: both families.
                let _c4 = admitted(local(port), None, b"", &[]);
                let _c6 = admitted(v6, None, b"", &[]);
            }
        }
        server.shutdown();
    }
}
