//! Native TLS (decision 17): HTTPS and WSS on the server's port, client certificates
//! (`client_auth` none / optional / require), token binding keyed by the handshake and the
//! mTLS fingerprint, and TLS setup errors as the binary reports them.
//!
//! Certificates are made at test time with rcgen: a test CA, a server certificate for
//! `localhost` and `127.0.0.1`, client certificates from that CA and from another one.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use signal_fish_server::config::{ClientAuthMode, Config};
use signal_fish_server::{Server, ServerHandle};
use tempfile::TempDir;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;

use crate::common::{Client, EVENT_TIMEOUT, SHARDS, start_with, str_of};

type TlsStream = StreamOwned<ClientConnection, TcpStream>;
type TlsClient = Client<TlsStream>;

const SUBPROTOCOL: &str = "signalfish.tokenbinding.v1";

/// A certificate and its key, as rustls takes them.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Identity {
    /// SHA-256 of the leaf's DER, lower-case hex: the fingerprint format the README documents.
    fn fingerprint(&self) -> String {
        Sha256::digest(self.chain[0].as_ref())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A CA able to issue server and client certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A leaf certificate for `names` (DNS names or IPs).
    fn issue(&self, names: &[&str]) -> (Identity, String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("leaf params");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        let identity = Identity {
            chain: vec![cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        };
        (identity, cert.pem(), key.serialize_pem())
    }
}

/// The files a TLS server is configured with, in a temporary directory.
struct Pki {
    dir: TempDir,
    ca: Ca,
    cert: PathBuf,
    key: PathBuf,
    client_ca: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = Ca::new("Signal Fish test CA");
        let (_, cert_pem, key_pem) = ca.issue(&["localhost", "127.0.0.1"]);
        let cert = dir.path().join("server.pem");
        let key = dir.path().join("server.key");
        let client_ca = dir.path().join("client-ca.pem");
        // The chain file holds the leaf then its CA, as operators usually ship it.
        std::fs::write(&cert, format!("{cert_pem}{}", ca.pem())).expect("write cert");
        std::fs::write(&key, key_pem).expect("write key");
        std::fs::write(&client_ca, ca.pem()).expect("write client CA");
        Pki {
            dir,
            ca,
            cert,
            key,
            client_ca,
        }
    }

    /// A 2-shard TLS server with `client_auth`, after `tweak`.
    fn start(&self, client_auth: ClientAuthMode, tweak: impl FnOnce(&mut Config)) -> ServerHandle {
        start_with(|config| {
            let tls = &mut config.security.transport.tls;
            tls.enabled = true;
            tls.certificate_path = Some(self.cert.display().to_string());
            tls.private_key_path = Some(self.key.display().to_string());
            tls.client_auth = client_auth;
            if client_auth != ClientAuthMode::None {
                tls.client_ca_cert_path = Some(self.client_ca.display().to_string());
            }
            tweak(config);
        })
    }

    /// A client config trusting the test CA, presenting `identity` if given.
    fn client_config(&self, identity: Option<&Identity>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der()).expect("trust the test CA");
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(roots);
        let mut config = match identity {
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), PrivateKeyDer::Pkcs8(id.key.clone_key()))
                .expect("client cert"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// Opens TLS to the server and completes the handshake.
fn tls_connect(port: u16, config: Arc<ClientConfig>) -> std::io::Result<TlsStream> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(EVENT_TIMEOUT))?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").expect("server name");
    let mut conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// A WSS client, or why it could not connect (a refused client certificate surfaces here:
/// in TLS 1.3 the server's verdict on it arrives after the client's handshake is done).
fn try_wss(port: u16, config: Arc<ClientConfig>) -> Result<TlsClient, String> {
    let stream = tls_connect(port, config).map_err(|e| format!("TLS: {e}"))?;
    let url = format!("wss://localhost:{port}/v2/ws");
    let (ws, response) =
        tungstenite::client(url.as_str(), stream).map_err(|e| format!("upgrade: {e}"))?;
    Ok(Client::from_upgrade(ws, &response))
}

fn wss(port: u16, config: Arc<ClientConfig>) -> TlsClient {
    try_wss(port, config).unwrap_or_else(|e| panic!("wss connect failed: {e}"))
}

/// A WSS client on `shard` (the kernel spreads connections over the shards).
fn wss_to_shard(port: u16, config: &Arc<ClientConfig>, shard: u32) -> TlsClient {
    for _ in 0..200 {
        let client = wss(port, config.clone());
        if client.shard == shard {
            return client;
        }
    }
    panic!("no connection landed on shard {shard}");
}

/// One HTTPS request; returns the negotiated ALPN protocol, the status and the body.
fn https(port: u16, config: Arc<ClientConfig>, request: &str) -> (Option<Vec<u8>>, u16, String) {
    let mut stream = tls_connect(port, config).expect("TLS handshake");
    let alpn = stream.conn.alpn_protocol().map(<[u8]>::to_vec);
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    // The server closes with close_notify after its answer, so this ends cleanly.
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (alpn, status, body)
}

#[test]
fn health_over_https_and_only_http1_is_negotiated() {
    let pki = Pki::new();
    let server = pki.start(ClientAuthMode::None, |_| {});
    let config = pki.client_config(None, &[b"h2", b"http/1.1"]);
    let (alpn, status, body) = https(
        server.port(),
        config,
        "GET /v2/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!((status, body.as_str()), (200, "OK"));
    let (_, status, _) = https(
        server.port(),
        pki.client_config(None, &[]),
        "GET /v2/nothing HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status, 404);
    // Plain HTTP on a TLS port is not served.
    let mut plain = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    plain
        .set_read_timeout(Some(EVENT_TIMEOUT))
        .expect("timeout");
    plain
        .write_all(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "plain HTTP answered on the TLS port"
    );
    server.shutdown();
}

#[test]
fn full_lobby_flow_over_wss_across_shards() {
    let pki = Pki::new();
    let server = pki.start(ClientAuthMode::None, |_| {});
    let config = pki.client_config(None, &[b"http/1.1"]);
    let mut a = wss_to_shard(server.port(), &config, 0);
    let mut b = wss_to_shard(server.port(), &config, (SHARDS - 1) % SHARDS);
    let created = a.create_room("tls game", "A", 2);
    let code = str_of(&created, "room_code");
    let a_id = str_of(&created, "player_id").to_owned();
    let joined = b.join_room("tls game", code, "B");
    let b_id = str_of(&joined, "player_id").to_owned();
    assert_eq!(joined["lobby_state"], "lobby");
    a.expect_player_joined("B");
    for c in [&mut a, &mut b] {
        assert_eq!(c.expect("LobbyStateChanged")["lobby_state"], "lobby");
    }
    a.ready();
    for c in [&mut a, &mut b] {
        assert_eq!(
            c.expect("LobbyStateChanged")["ready_players"],
            json!([a_id])
        );
    }
    b.ready();
    for c in [&mut a, &mut b] {
        let lobby = c.expect("LobbyStateChanged");
        assert_eq!(lobby["lobby_state"], "finalized", "{lobby}");
        assert_eq!(lobby["all_ready"], true, "{lobby}");
        let starting = c.expect("GameStarting");
        assert_eq!(
            starting["peer_connections"].as_array().map(Vec::len),
            Some(2),
            "{starting}"
        );
    }
    a.send_game_data(json!({"move": [1, 2], "note": "über TLS"}));
    let data = b.expect("GameData");
    assert_eq!(data["from_player"], a_id.as_str());
    assert_eq!(data["data"], json!({"move": [1, 2], "note": "über TLS"}));
    b.send_game_data(json!("pong"));
    assert_eq!(a.expect("GameData")["from_player"], b_id.as_str());
    a.expect_quiet();
    b.expect_quiet();
    server.shutdown();
}

#[test]
fn shutdown_closes_wss_connections_with_1001() {
    let pki = Pki::new();
    let server = pki.start(ClientAuthMode::None, |_| {});
    let mut client = wss(server.port(), pki.client_config(None, &[]));
    client.expect_quiet();
    let stopping = std::thread::spawn(move || server.shutdown());
    assert_eq!(client.expect_close(), Some(1001));
    stopping.join().expect("shutdown");
}

#[test]
fn client_auth_require_admits_only_certificates_from_the_ca() {
    let pki = Pki::new();
    let server = pki.start(ClientAuthMode::Require, |_| {});
    let port = server.port();
    let err = try_wss(port, pki.client_config(None, &[])).err();
    assert!(err.is_some(), "a client without a certificate was admitted");
    let (trusted, _, _) = pki.ca.issue(&["player-1"]);
    let mut ok = wss(port, pki.client_config(Some(&trusted), &[]));
    ok.expect_quiet();
    let (stranger, _, _) = Ca::new("Another CA").issue(&["player-2"]);
    let err = try_wss(port, pki.client_config(Some(&stranger), &[])).err();
    assert!(err.is_some(), "a certificate from another CA was admitted");
    // HTTPS is behind the same check, and the two refused handshakes were counted.
    let trusted_config = pki.client_config(Some(&trusted), &[]);
    let errors = || {
        let (_, status, body) = https(
            port,
            trusted_config.clone(),
            "GET /v2/metrics?includeSnapshot=true HTTP/1.1\r\nHost: localhost\r\n\r\n",
        );
        assert_eq!(status, 200, "{body}");
        let doc: Value = serde_json::from_str(&body).expect("metrics JSON");
        doc["metricsSnapshot"]["connections"]["connection_errors"]
            .as_u64()
            .unwrap_or_else(|| panic!("no connection_errors in {doc}"))
    };
    // Each refusal is counted as its handshake fails, which may be a moment after the client
    // saw the alert: poll, bounded by the event timeout.
    let deadline = std::time::Instant::now() + EVENT_TIMEOUT;
    while errors() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "failed handshakes not counted"
        );
    }
    assert_eq!(errors(), 2);
    server.shutdown();
}

#[test]
fn client_auth_optional_admits_both_but_verifies_what_is_presented() {
    let pki = Pki::new();
    let server = pki.start(ClientAuthMode::Optional, |_| {});
    let port = server.port();
    wss(port, pki.client_config(None, &[])).expect_quiet();
    let (trusted, _, _) = pki.ca.issue(&["player-1"]);
    wss(port, pki.client_config(Some(&trusted), &[])).expect_quiet();
    let (stranger, _, _) = Ca::new("Another CA").issue(&["player-2"]);
    assert!(
        try_wss(port, pki.client_config(Some(&stranger), &[])).is_err(),
        "a certificate from another CA was admitted"
    );
    server.shutdown();
}

/// A bound WSS client: offers the subprotocol (and `extra` headers) and remembers its key.
struct Bound {
    client: TlsClient,
    key: Vec<u8>,
}

/// Upgrades with token binding; `Err` carries the refusal's status and body, or the error.
fn try_bound(
    port: u16,
    config: Arc<ClientConfig>,
    offer: Option<&str>,
    extra: &[(&'static str, &str)],
) -> Result<(Bound, Option<String>), (u16, String)> {
    let stream = tls_connect(port, config).map_err(|e| (0, e.to_string()))?;
    let mut request = format!("wss://localhost:{port}/v2/ws")
        .into_client_request()
        .expect("request");
    if let Some(offer) = offer {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(offer).expect("header"),
        );
    }
    for (name, value) in extra {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    let key = request.headers()["sec-websocket-key"]
        .to_str()
        .expect("key")
        .to_owned();
    match tungstenite::client(request, stream) {
        Ok((ws, response)) => {
            let protocol = response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().expect("ascii").to_owned());
            let key = BASE64_STANDARD.decode(key).expect("our key is base64");
            Ok((
                Bound {
                    client: Client::from_upgrade(ws, &response),
                    key,
                },
                protocol,
            ))
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(other) => Err((0, other.to_string())),
    }
}

impl Bound {
    /// Sends `message` with a proof: HMAC-SHA256 keyed with the handshake key over the
    /// message's canonical JSON (compact, keys sorted) followed by the fingerprint, if any.
    fn send_signed(&mut self, message: Value, fingerprint: Option<&str>) {
        let canonical = serde_json::to_string(&message).expect("canonical");
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac key");
        mac.update(canonical.as_bytes());
        if let Some(fp) = fingerprint {
            mac.update(fp.as_bytes());
        }
        let signature = BASE64_STANDARD.encode(mac.finalize().into_bytes());
        let mut proof = json!({"scheme": "sec_websocket_key_sha256", "signature": signature});
        if let Some(fp) = fingerprint {
            proof["fingerprint"] = json!(fp);
        }
        let mut framed = message;
        framed["token_binding"] = proof;
        self.client.send(framed);
    }
}

fn start_binding(pki: &Pki, client_auth: ClientAuthMode, require_fp: bool) -> ServerHandle {
    pki.start(client_auth, |config| {
        let binding = &mut config.security.transport.token_binding;
        binding.enabled = true;
        binding.required = true;
        binding.require_client_fingerprint = require_fp;
    })
}

#[test]
fn token_binding_accepts_signed_frames_and_closes_on_bad_proofs() {
    let pki = Pki::new();
    let server = start_binding(&pki, ClientAuthMode::None, false);
    let port = server.port();
    let config = pki.client_config(None, &[]);
    // The subprotocol is required, and echoed even when offered in another case.
    let refused = try_bound(port, config.clone(), None, &[]).err();
    assert_eq!(
        refused,
        Some((400, "token binding subprotocol required".to_owned()))
    );
    let (mut bound, echoed) = try_bound(
        port,
        config.clone(),
        Some("SignalFish.TokenBinding.V1"),
        &[],
    )
    .map_err(|e| format!("{e:?}"))
    .expect("bound");
    // Named in the client's own spelling: a client fails a connection whose server picks a
    // protocol it did not offer.
    assert_eq!(echoed.as_deref(), Some("SignalFish.TokenBinding.V1"));
    bound.send_signed(json!({"type": "Ping"}), None);
    bound.client.expect("Pong");
    let created = {
        bound.send_signed(
            json!({"type":"JoinRoom","data":{"game_name":"bound game","player_name":"Signed","max_players":2}}),
            None,
        );
        bound.client.expect("RoomJoined")
    };
    assert_eq!(created["current_players"][0]["name"], "Signed", "{created}");
    // Garbage is answered and the connection stays.
    bound.client.send_text("not json");
    let error = bound.client.expect_error("INVALID_INPUT");
    assert_eq!(error["message"], "Invalid client message");
    // So is a message nested too deeply, before its proof is even parsed.
    bound
        .client
        .send_text(&format!(r#"{{"type":"Ping","data":{}}}"#, "[".repeat(200)));
    let error = bound.client.expect_error("INVALID_INPUT");
    assert_eq!(
        error["message"],
        "Message nested too deeply (max depth 128)"
    );
    bound.send_signed(json!({"type": "Ping"}), None);
    bound.client.expect("Pong");
    // An unsigned frame is refused and the connection closed.
    bound.client.send(json!({"type": "Ping"}));
    let error = bound.client.expect_error("UNAUTHORIZED");
    assert_eq!(error["message"], "Token binding proof missing");
    assert_eq!(bound.client.expect_close(), Some(1008));

    // A signature made with another connection's key.
    let (mut first, _) = try_bound(port, config.clone(), Some(SUBPROTOCOL), &[]).expect("bound");
    let (mut second, _) = try_bound(port, config.clone(), Some(SUBPROTOCOL), &[]).expect("bound");
    std::mem::swap(&mut first.key, &mut second.key);
    first.send_signed(json!({"type": "Ping"}), None);
    let error = first.client.expect_error("UNAUTHORIZED");
    assert_eq!(error["message"], "Invalid token binding signature");
    assert_eq!(first.client.expect_close(), Some(1008));
    // A tampered message: signed, then changed.
    let mut proofed = json!({"type":"GameData","data":{"data":1}});
    let canonical = serde_json::to_string(&proofed).expect("json");
    let mut mac = Hmac::<Sha256>::new_from_slice(&second.key).expect("key");
    mac.update(canonical.as_bytes());
    proofed["token_binding"] = json!({
        "scheme": "sec_websocket_key_sha256",
        "signature": BASE64_STANDARD.encode(mac.finalize().into_bytes()),
    });
    proofed["data"]["data"] = json!(2);
    second.client.send(proofed);
    let error = second.client.expect_error("UNAUTHORIZED");
    assert_eq!(error["message"], "Invalid token binding signature");
    server.shutdown();
}

#[test]
fn require_client_fingerprint_uses_the_mtls_certificate() {
    let pki = Pki::new();
    let server = start_binding(&pki, ClientAuthMode::Optional, true);
    let port = server.port();
    // No client certificate: no fingerprint, refused at the upgrade.
    let refused = try_bound(port, pki.client_config(None, &[]), Some(SUBPROTOCOL), &[]).err();
    assert_eq!(
        refused,
        Some((401, "client certificate fingerprint required".to_owned()))
    );
    let (id, _, _) = pki.ca.issue(&["player-1"]);
    let fingerprint = id.fingerprint();
    assert_eq!(fingerprint.len(), 64);
    let config = pki.client_config(Some(&id), &[]);
    let (mut bound, _) = try_bound(port, config.clone(), Some(SUBPROTOCOL), &[]).expect("bound");
    bound.send_signed(json!({"type": "Ping"}), Some(&fingerprint));
    bound.client.expect("Pong");
    // A proof without the fingerprint.
    bound.send_signed(json!({"type": "Ping"}), None);
    let error = bound.client.expect_error("UNAUTHORIZED");
    assert_eq!(error["message"], "Client fingerprint required");
    assert_eq!(bound.client.expect_close(), Some(1008));
    // Another fingerprint, correctly signed.
    let (mut bound, _) = try_bound(port, config, Some(SUBPROTOCOL), &[]).expect("bound");
    bound.send_signed(json!({"type": "Ping"}), Some(&"0".repeat(64)));
    let error = bound.client.expect_error("UNAUTHORIZED");
    assert_eq!(error["message"], "Client fingerprint mismatch");
    server.shutdown();
}

#[test]
fn fingerprint_headers_from_an_untrusted_peer_are_ignored() {
    let pki = Pki::new();
    let server = start_binding(&pki, ClientAuthMode::Optional, true);
    let port = server.port();
    let forged = "a".repeat(64);
    for header in [
        "x-signalfish-client-cert-sha256",
        "x-forwarded-client-cert-sha256",
        "x-amzn-mtls-clientcert",
    ] {
        let refused = try_bound(
            port,
            pki.client_config(None, &[]),
            Some(SUBPROTOCOL),
            &[(header, &forged)],
        )
        .err();
        assert_eq!(
            refused,
            Some((401, "client certificate fingerprint required".to_owned())),
            "{header} was honoured from an untrusted peer"
        );
    }
    // With a real certificate, a forged header does not replace its fingerprint.
    let (id, _, _) = pki.ca.issue(&["player-1"]);
    let (mut bound, _) = try_bound(
        port,
        pki.client_config(Some(&id), &[]),
        Some(SUBPROTOCOL),
        &[("x-signalfish-client-cert-sha256", &forged)],
    )
    .expect("bound");
    bound.send_signed(json!({"type": "Ping"}), Some(&forged));
    assert_eq!(
        bound.client.expect_error("UNAUTHORIZED")["message"],
        "Client fingerprint mismatch"
    );
    server.shutdown();
}

#[test]
fn a_silent_client_is_cut_during_the_tls_handshake() {
    let pki = Pki::new();
    let server = pki.start(ClientAuthMode::None, |_| {});
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    // Longer than the 10 s deadline; a read that ends before it means the server hung up.
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tcp
        .read(&mut buf)
        .expect("the server closes, not the timeout");
    assert_eq!(n, 0);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(9) && waited < std::time::Duration::from_secs(15),
        "cut after {waited:?}"
    );
    server.shutdown();
}

/// The binary, with no config file and no inherited `SIGNAL_FISH*` variables.
fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-fish-server"));
    cmd.current_dir(std::env::temp_dir());
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGNAL_FISH") {
            cmd.env_remove(key);
        }
    }
    cmd.env("SIGNAL_FISH_PORT", "0")
        .env("SIGNAL_FISH__SECURITY__TRANSPORT__TLS__ENABLED", "true");
    cmd
}

fn with_files(cmd: &mut Command, cert: &std::path::Path, key: &std::path::Path) {
    cmd.env(
        "SIGNAL_FISH__SECURITY__TRANSPORT__TLS__CERTIFICATE_PATH",
        cert,
    )
    .env(
        "SIGNAL_FISH__SECURITY__TRANSPORT__TLS__PRIVATE_KEY_PATH",
        key,
    );
}

#[test]
fn validate_config_accepts_tls() {
    let pki = Pki::new();
    let mut cmd = binary();
    with_files(&mut cmd, &pki.cert, &pki.key);
    let out = cmd.arg("--validate-config").output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("TLS enabled: true"), "{stdout}");
}

#[test]
fn bad_tls_files_exit_1_naming_the_file_and_the_problem() {
    let pki = Pki::new();
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").expect("write");
    let missing = pki.dir.path().join("missing.pem");
    let (_, _, other_key) = pki.ca.issue(&["localhost"]);
    let other_key_path = pki.dir.path().join("other.key");
    std::fs::write(&other_key_path, other_key).expect("write");
    let cases = [
        (
            &garbage,
            &pki.key,
            format!(
                "Error: failed to initialize TLS configuration: no certificates were found in {}",
                garbage.display()
            ),
        ),
        (
            &pki.cert,
            &garbage,
            format!(
                "Error: failed to initialize TLS configuration: no supported private key (pkcs8/pkcs1/sec1) was found in {}",
                garbage.display()
            ),
        ),
        (
            &pki.cert,
            &other_key_path,
            "Error: failed to initialize TLS configuration: invalid TLS certificate/private key pair".to_owned(),
        ),
        // A missing file is caught by validation, before the server starts.
        (
            &missing,
            &pki.key,
            format!("TLS certificate file not found at {}", missing.display()),
        ),
        (
            &pki.cert,
            &missing,
            format!("TLS private key file not found at {}", missing.display()),
        ),
    ];
    for (cert, key, expected) in cases {
        let mut cmd = binary();
        with_files(&mut cmd, cert, key);
        let out = cmd.output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{expected}: {stderr}");
        assert!(
            stderr.contains(&expected),
            "expected {expected:?} in {stderr}"
        );
    }
}

/// An in-process start with a bad file fails with the error naming it.
#[test]
fn server_start_fails_on_an_empty_ca_bundle() {
    let pki = Pki::new();
    let empty = pki.dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let mut config = Config {
        port: 0,
        ..Config::default()
    };
    config.server.shards = 1;
    let tls = &mut config.security.transport.tls;
    tls.enabled = true;
    tls.certificate_path = Some(pki.cert.display().to_string());
    tls.private_key_path = Some(pki.key.display().to_string());
    tls.client_auth = ClientAuthMode::Require;
    tls.client_ca_cert_path = Some(empty.display().to_string());
    let err = Server::start(config).err().expect("start must fail");
    assert_eq!(
        err.to_string(),
        format!(
            "failed to initialize TLS configuration: no certificates were found in {}",
            empty.display()
        )
    );
}
