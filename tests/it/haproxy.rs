//! HAProxy (Debian `haproxy`) in front of the server, run with the repository's configs: with
//! `deploy/haproxy/signal-fish.cfg` HAProxy terminates TLS (certificate from a test CA), with
//! `deploy/haproxy/signal-fish-passthrough.cfg` it passes TLS through to the server's native
//! TLS. Either way it relays each connection in TCP mode behind a PROXY protocol v2 header; the
//! server expects that header from its trusted proxy (127.0.0.1) and takes each client's address
//! from it (decision 16). Clients connect from 127.0.0.2, 127.0.0.3, … so HAProxy sees
//! distinct addresses.

use std::net::Ipv4Addr;

use crate::proxy::{
    ProxyProcess, TestPki, TlsStream, config_behind_proxy, connect_wss, free_port, render,
};
use serde_json::json;
use signal_fish_server::ServerHandle;

use crate::common::Client;

const HAPROXY: &str = "/usr/sbin/haproxy";

/// Where TLS ends.
#[derive(Clone, Copy, PartialEq)]
enum Tls {
    /// In HAProxy (`signal-fish.cfg`); the server is plain.
    Terminated,
    /// In the server (`signal-fish-passthrough.cfg`).
    PassedThrough,
}

/// HAProxy in the foreground in front of the server on `upstream`.
struct Haproxy {
    port: u16,
    // Dropped before the PKI, whose directory holds HAProxy's files.
    _process: ProxyProcess,
}

impl Haproxy {
    fn start(upstream: u16, pki: &TestPki, tls: Tls) -> Haproxy {
        let dir = pki.dir.path();
        let port = free_port();
        let mut values = vec![
            ("LISTEN", format!("127.0.0.1:{port}")),
            ("UPSTREAM", format!("127.0.0.1:{upstream}")),
        ];
        let file = match tls {
            Tls::Terminated => {
                values.push(("CERTIFICATE", pki.bundle.display().to_string()));
                "deploy/haproxy/signal-fish.cfg"
            }
            Tls::PassedThrough => "deploy/haproxy/signal-fish-passthrough.cfg",
        };
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, render(file, &values)).expect("write haproxy config");
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
            _process: process,
        }
    }

    fn connect(
        &self,
        pki: &TestPki,
        source: Ipv4Addr,
        headers: &[(&str, &str)],
    ) -> Client<TlsStream> {
        connect_wss(pki, self.port, source, headers)
    }
}

fn server_behind_haproxy(
    pki: &TestPki,
    tls: Tls,
    max_connections_per_ip: usize,
    max_room_creations: u32,
) -> ServerHandle {
    let mut config = config_behind_proxy(max_connections_per_ip, max_room_creations, true);
    if tls == Tls::PassedThrough {
        config["security"]["transport"] = json!({"tls": {
            "enabled": true,
            "certificate_path": pki.cert.display().to_string(),
            "private_key_path": pki.key.display().to_string(),
        }});
    }
    crate::proxy::start_server_from_json(
        config,
        &["security.trusted_proxies", "security.proxy_protocol"],
    )
}

fn limits_are_per_address(tls: Tls) {
    let pki = TestPki::generate();
    let server = server_behind_haproxy(&pki, tls, 2, 1);
    let haproxy = Haproxy::start(server.port(), &pki, tls);
    crate::proxy::limits_are_per_client_address(|ip, headers| haproxy.connect(&pki, ip, headers));
    drop(haproxy);
    server.shutdown();
}

fn lobby_plays(tls: Tls) {
    let pki = TestPki::generate();
    let server = server_behind_haproxy(&pki, tls, 100, 100);
    let haproxy = Haproxy::start(server.port(), &pki, tls);
    crate::proxy::lobby_flow(|ip| haproxy.connect(&pki, ip, &[]));
    drop(haproxy);
    server.shutdown();
}

#[test]
fn clients_behind_haproxy_are_limited_per_address_not_as_one() {
    limits_are_per_address(Tls::Terminated);
}

#[test]
fn a_lobby_plays_through_haproxy() {
    lobby_plays(Tls::Terminated);
}

#[test]
fn with_tls_passed_through_clients_are_limited_per_address() {
    limits_are_per_address(Tls::PassedThrough);
}

#[test]
fn with_tls_passed_through_a_lobby_plays() {
    lobby_plays(Tls::PassedThrough);
}
