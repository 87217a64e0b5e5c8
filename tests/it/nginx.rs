//! nginx (Debian `nginx-light`) in front of the server, run with the repository's
//! `deploy/nginx/signal-fish.conf`: nginx terminates TLS with a certificate from a test CA and
//! proxies WebSockets; the server trusts nginx (127.0.0.1) and takes each client's address from
//! the forwarding headers nginx sets (decision 16). Clients connect from 127.0.0.2, 127.0.0.3, …
//! so nginx sees distinct addresses.

use std::net::Ipv4Addr;

use crate::proxy::{
    ProxyProcess, TestPki, TlsStream, config_behind_proxy, connect_wss, free_port, render,
};
use signal_fish_server::ServerHandle;

use crate::common::Client;

const NGINX: &str = "/usr/sbin/nginx";

/// nginx in a temporary prefix in front of the server on `upstream`.
struct Nginx {
    port: u16,
    pki: TestPki,
    // Dropped before `pki`, whose directory holds nginx's files.
    _process: ProxyProcess,
}

impl Nginx {
    fn start(upstream: u16) -> Nginx {
        let pki = TestPki::generate();
        let dir = pki.dir.path();
        let port = free_port();
        let site = render(
            "deploy/nginx/signal-fish.conf",
            &[
                ("LISTEN", format!("127.0.0.1:{port}")),
                ("UPSTREAM", format!("127.0.0.1:{upstream}")),
                ("CERTIFICATE", pki.cert.display().to_string()),
                ("PRIVATE_KEY", pki.key.display().to_string()),
            ],
        );
        std::fs::write(dir.join("signal-fish.conf"), site).expect("write site config");
        // What a distribution's nginx.conf provides around a conf.d file, kept inside the
        // temporary prefix: one foreground process, logs and temp files here.
        let d = dir.display();
        let main = format!(
            "daemon off;\n\
             master_process off;\n\
             worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log notice;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
             access_log off;\n\
             client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n\
             include {d}/signal-fish.conf;\n\
             }}\n"
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, main).expect("write nginx.conf");
        let prefix = format!("{d}/");
        let error_log = dir.join("error.log");
        let mut process = ProxyProcess::spawn(
            "nginx",
            NGINX,
            "nginx-light",
            &[
                "-p",
                &prefix,
                "-e",
                &error_log.display().to_string(),
                "-c",
                &conf.display().to_string(),
            ],
            dir.join("nginx.out"),
        );
        process.wait_listening(port);
        Nginx {
            port,
            pki,
            _process: process,
        }
    }

    fn connect(&self, source: Ipv4Addr, headers: &[(&str, &str)]) -> Client<TlsStream> {
        connect_wss(&self.pki, self.port, source, headers)
    }
}

fn server_behind_nginx(max_connections_per_ip: usize, max_room_creations: u32) -> ServerHandle {
    crate::proxy::start_server_from_json(
        config_behind_proxy(max_connections_per_ip, max_room_creations, false),
        &["security.trusted_proxies"],
    )
}

#[test]
fn clients_behind_nginx_are_limited_per_address_not_as_one() {
    let server = server_behind_nginx(2, 1);
    let nginx = Nginx::start(server.port());
    crate::proxy::limits_are_per_client_address(|ip, headers| nginx.connect(ip, headers));
    drop(nginx);
    server.shutdown();
}

#[test]
fn a_lobby_plays_through_nginx() {
    let server = server_behind_nginx(100, 100);
    let nginx = Nginx::start(server.port());
    crate::proxy::lobby_flow(|ip| nginx.connect(ip, &[]));
    drop(nginx);
    server.shutdown();
}
