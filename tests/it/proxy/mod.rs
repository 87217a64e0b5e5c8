//! Real reverse proxies in front of a real server, for `tests/nginx.rs` and `tests/haproxy.rs`:
//! a test CA and server certificate made at test time, the repository's deploy config with its
//! placeholders filled in, the proxy process in a temporary directory (killed on drop), and WSS
//! clients that connect from a chosen loopback address so the proxy sees distinct clients.

#![allow(dead_code)]

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{Value, json};
use signal_fish_server::config::Config;
use signal_fish_server::{Server, ServerHandle};
use socket2::{Domain, Socket, Type};
use tempfile::TempDir;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::{HeaderName, HeaderValue};

use crate::common::{Client, EVENT_TIMEOUT, SHARDS};

/// A WebSocket over TLS over TCP, as a client of the proxy.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Longest a proxy may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The name in the server certificate, and the one the clients ask for.
const SERVER_NAME: &str = "localhost";

/// A throw-away CA, a server certificate it signed for `localhost` and 127.0.0.1, the files a
/// proxy reads, and a client configuration that trusts only this CA.
pub struct TestPki {
    pub dir: TempDir,
    /// PEM certificate chain (leaf, then CA).
    pub cert: PathBuf,
    /// PEM private key of the leaf.
    pub key: PathBuf,
    /// Chain followed by the key in one file (HAProxy's `crt`).
    pub bundle: PathBuf,
    /// The CA alone, as a client would be given it.
    pub ca: PathBuf,
    pub client: Arc<ClientConfig>,
}

impl TestPki {
    pub fn generate() -> TestPki {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Signal Fish test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");

        let leaf_key = KeyPair::generate().expect("server key");
        let mut leaf_params =
            CertificateParams::new(vec![SERVER_NAME.to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, SERVER_NAME);
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca)
            .expect("server certificate");

        let chain = format!("{}{}", leaf.pem(), ca.pem());
        let key_pem = leaf_key.serialize_pem();
        let path = |name: &str| dir.path().join(name);
        fs::write(path("server.crt"), &chain).expect("write chain");
        fs::write(path("server.key"), &key_pem).expect("write key");
        fs::write(path("server.pem"), format!("{chain}{key_pem}")).expect("write bundle");
        fs::write(path("ca.crt"), ca.pem()).expect("write CA");

        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).expect("trust the test CA");
        let client =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        TestPki {
            cert: path("server.crt"),
            key: path("server.key"),
            bundle: path("server.pem"),
            ca: path("ca.crt"),
            dir,
            client: Arc::new(client),
        }
    }
}

/// A server configured from `json` (the way an operator writes config.json), on port 0 with
/// two shards. Fails clearly if the server does not know one of the `required` keys
/// (dotted paths), rather than running with it ignored.
pub fn start_server_from_json(json: Value, required: &[&str]) -> ServerHandle {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("SIGNAL_FISH_CONFIG_JSON".to_owned(), json.to_string())];
    let mut config = Config::load_from(&env, dir.path()).expect("test config loads");
    let effective: Value =
        serde_json::from_str(&config.to_pretty_json()).expect("config prints as JSON");
    for key in required {
        let pointer = format!("/{}", key.replace('.', "/"));
        assert!(
            effective.pointer(&pointer).is_some(),
            "the server has no configuration key `{key}`: the proxy tests need it"
        );
    }
    config.port = 0;
    config.server.shards = SHARDS as usize;
    crate::common::quiet(&mut config);
    Server::start(config).expect("server starts")
}

/// The configuration of a server behind a proxy on 127.0.0.1: per-IP limits as given, and the
/// rest lifted.
pub fn config_behind_proxy(
    max_connections_per_ip: usize,
    max_room_creations: u32,
    proxy_protocol: bool,
) -> Value {
    let mut security = json!({
        "trusted_proxies": ["127.0.0.1"],
        "max_connections_per_ip": max_connections_per_ip,
    });
    if proxy_protocol {
        security["proxy_protocol"] = json!(true);
    }
    json!({
        "security": security,
        "rate_limit": {
            "max_room_creations": max_room_creations,
            "max_join_attempts": 100_000,
            "time_window": 60
        }
    })
}

/// The repository file `relative` with every `@NAME@` placeholder replaced; panics if one is
/// left, so a placeholder added to a deploy file cannot go unnoticed by its test.
pub fn render(relative: &str, values: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let mut text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {relative}: {e}"));
    for (name, value) in values {
        let placeholder = format!("@{name}@");
        assert!(
            text.contains(&placeholder),
            "{relative} has no placeholder {placeholder}"
        );
        text = text.replace(&placeholder, value);
    }
    let left: Vec<&str> = text
        .split('@')
        .skip(1)
        .step_by(2)
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    assert!(left.is_empty(), "{relative}: placeholders left: {left:?}");
    text
}

/// A port nobody listens on right now (the kernel's pick), for a proxy to bind.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A proxy process, killed when dropped.
pub struct ProxyProcess {
    name: &'static str,
    child: Child,
    /// Where the proxy writes its errors; shown when it fails.
    log: PathBuf,
}

impl ProxyProcess {
    /// Starts `binary` with `args`, its stdout and stderr going to `log`. A missing binary fails
    /// the test with the Debian package to install.
    pub fn spawn(
        name: &'static str,
        binary: &str,
        package: &str,
        args: &[&str],
        log: PathBuf,
    ) -> ProxyProcess {
        assert!(
            Path::new(binary).exists(),
            "{name} not found: install Debian package {package} (.ci/run does)"
        );
        let out = fs::File::create(&log).expect("proxy log file");
        let err = out.try_clone().expect("proxy log file");
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        ProxyProcess { name, child, log }
    }

    /// Returns once the proxy accepts TCP connections on `port`; panics with its log if it
    /// exits or takes too long. (A process gives no other signal that it is listening.)
    pub fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before listening on {port}:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} is not listening on {port} after {START_TIMEOUT:?}:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WSS client of the proxy on `port`, connecting from `source` (e.g. 127.0.0.2) and adding
/// `headers` to its upgrade request.
pub fn connect_wss(
    pki: &TestPki,
    port: u16,
    source: Ipv4Addr,
    headers: &[(&str, &str)],
) -> Client<TlsStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::from((source, 0)).into())
        .unwrap_or_else(|e| panic!("bind {source}: {e}"));
    socket
        .connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
        .unwrap_or_else(|e| panic!("connect to the proxy on {port}: {e}"));
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(EVENT_TIMEOUT)).expect("timeout");
    tcp.set_nodelay(true).expect("nodelay");
    let name = ServerName::try_from(SERVER_NAME).expect("server name");
    let tls = ClientConnection::new(pki.client.clone(), name).expect("TLS client");
    let stream = StreamOwned::new(tls, tcp);

    let mut request = format!("wss://{SERVER_NAME}:{port}/v2/ws")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    let (ws, response) = tungstenite::client(request, stream)
        .unwrap_or_else(|e| panic!("WSS upgrade through the proxy from {source}: {e}"));
    Client::from_upgrade(ws, &response)
}

/// The client address `n` of the test: 127.0.0.`n`.
pub fn client_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// `Ping` → `Pong`: the connection was admitted and works end to end.
pub fn assert_admitted(client: &mut Client<TlsStream>) {
    client.send(json!({"type":"Ping"}));
    assert_eq!(client.expect("Pong"), Value::Null);
}

/// The shared per-address scenario: the server allows 2 connections and 1 room creation per
/// client address; `connect(ip, headers)` opens a WSS connection through the proxy from `ip`.
/// Clients behind one proxy must be limited one by one, not as one, and forwarding headers a
/// client writes itself must not let it pass for another.
pub fn limits_are_per_client_address(
    mut connect: impl FnMut(Ipv4Addr, &[(&str, &str)]) -> Client<TlsStream>,
) {
    let (a, b) = (client_ip(2), client_ip(3));
    let mut a1 = connect(a, &[]);
    let mut a2 = connect(a, &[]);
    assert_admitted(&mut a1);
    assert_admitted(&mut a2);

    // A third connection from the same address is refused...
    let mut a3 = connect(a, &[]);
    a3.expect_error("TOO_MANY_CONNECTIONS");
    assert_eq!(a3.expect_close(), Some(1008), "refusal closes with 1008");
    // ...also when it claims, in every forwarding header, to be someone else.
    let spoofed = "127.0.0.99";
    let mut a4 = connect(
        a,
        &[
            ("X-Forwarded-For", spoofed),
            ("X-Real-IP", spoofed),
            ("Forwarded", "for=127.0.0.99"),
        ],
    );
    a4.expect_error("TOO_MANY_CONNECTIONS");
    assert_eq!(a4.expect_close(), Some(1008));

    // Another address behind the same proxy still gets in.
    let mut b1 = connect(b, &[]);
    assert_admitted(&mut b1);

    // Room creations: one per address.
    a1.create_room("proxy game", "A1", 4);
    let refused =
        a2.join_failed(json!({"game_name":"proxy game","player_name":"A2","max_players":4}));
    assert_eq!(refused["error_code"], "RATE_LIMIT_EXCEEDED", "{refused}");
    b1.create_room("proxy game", "B1", 4);
}

/// A short lobby through the proxy: create, join by code, lobby, game data both ways, leave.
pub fn lobby_flow(mut connect: impl FnMut(Ipv4Addr) -> Client<TlsStream>) {
    let mut host = connect(client_ip(4));
    let mut guest = connect(client_ip(5));
    let created = host.create_room("proxy lobby", "Host", 2);
    let code = created["room_code"].as_str().expect("room code").to_owned();
    let joined = guest.join_room("proxy lobby", &code, "Guest");
    assert_eq!(joined["room_code"], code.as_str());
    assert_eq!(joined["current_players"].as_array().map(Vec::len), Some(2));
    host.expect_player_joined("Guest");
    for c in [&mut host, &mut guest] {
        assert_eq!(c.expect("LobbyStateChanged")["lobby_state"], "lobby");
    }

    let payload = json!({"pos":[1.5,-2],"note":"through the proxy ✓"});
    host.send_game_data(payload.clone());
    let got = guest.expect("GameData");
    assert_eq!(got["from_player"], created["player_id"]);
    assert_eq!(got["data"], payload);
    // A frame larger than one TLS record (16 KiB) crosses intact too.
    let big = json!({"blob": "x".repeat(40_000)});
    guest.send_game_data(big.clone());
    assert_eq!(host.expect("GameData")["data"], big);

    guest.leave();
    assert_eq!(host.expect("PlayerLeft")["player_id"], joined["player_id"]);
    assert_eq!(host.expect("LobbyStateChanged")["lobby_state"], "waiting");
    host.expect_quiet();
}
