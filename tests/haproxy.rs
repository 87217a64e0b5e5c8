//! HAProxy (Debian `haproxy`) in front of the server, run with the repository's
//! `deploy/haproxy/signal-fish.cfg`: HAProxy terminates TLS with a certificate from a test CA and
//! relays each connection in TCP mode behind a PROXY protocol v2 header; the server expects that
//! header from its trusted proxy (127.0.0.1) and takes each client's address from it
//! (decision 16). Clients connect from 127.0.0.2, 127.0.0.3, … so HAProxy sees distinct
//! addresses.

mod common;
mod proxy;

use std::net::Ipv4Addr;

use proxy::{
    ProxyProcess, TestPki, TlsStream, config_behind_proxy, connect_wss, free_port, render,
};
use signal_fish_server::ServerHandle;

use common::Client;

const HAPROXY: &str = "/usr/sbin/haproxy";

/// HAProxy in the foreground in front of the server on `upstream`.
struct Haproxy {
    port: u16,
    pki: TestPki,
    // Dropped before `pki`, whose directory holds HAProxy's files.
    _process: ProxyProcess,
}

impl Haproxy {
    fn start(upstream: u16) -> Haproxy {
        let pki = TestPki::generate();
        let dir = pki.dir.path();
        let port = free_port();
        let cfg = render(
            "deploy/haproxy/signal-fish.cfg",
            &[
                ("LISTEN", format!("127.0.0.1:{port}")),
                ("UPSTREAM", format!("127.0.0.1:{upstream}")),
                ("CERTIFICATE", pki.bundle.display().to_string()),
            ],
        );
        let path = dir.join("signal-fish.cfg");
        std::fs::write(&path, cfg).expect("write haproxy config");
        // -db: stay in the foreground, one process, so dropping the child stops it.
        let mut process = ProxyProcess::spawn(
            "haproxy",
            HAPROXY,
            "haproxy",
            &["-db", "-f", &path.display().to_string()],
            dir.join("haproxy.log"),
        );
        process.wait_listening(port);
        Haproxy {
            port,
            pki,
            _process: process,
        }
    }

    fn connect(&self, source: Ipv4Addr, headers: &[(&str, &str)]) -> Client<TlsStream> {
        connect_wss(&self.pki, self.port, source, headers)
    }
}

fn server_behind_haproxy(max_connections_per_ip: usize, max_room_creations: u32) -> ServerHandle {
    proxy::start_server_from_json(
        config_behind_proxy(max_connections_per_ip, max_room_creations, true),
        &["security.trusted_proxies", "security.proxy_protocol"],
    )
}

#[test]
fn clients_behind_haproxy_are_limited_per_address_not_as_one() {
    let server = server_behind_haproxy(2, 1);
    let haproxy = Haproxy::start(server.port());
    proxy::limits_are_per_client_address(|ip, headers| haproxy.connect(ip, headers));
    drop(haproxy);
    server.shutdown();
}

#[test]
fn a_lobby_plays_through_haproxy() {
    let server = server_behind_haproxy(100, 100);
    let haproxy = Haproxy::start(server.port());
    proxy::lobby_flow(|ip| haproxy.connect(ip, &[]));
    drop(haproxy);
    server.shutdown();
}
