//! Connections the plain `Client::connect` cannot make: from a chosen loopback source address
//! (127.0.0.2, 127.0.0.3, … all reach the server on Linux), to an IPv6 server address, with
//! bytes written before the HTTP request (a PROXY protocol header), or with extra request
//! headers (`X-Forwarded-For`).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;

use super::{Client, EVENT_TIMEOUT};

/// A TCP connection to `server` from `source` (any port), with the harness's read timeout.
pub fn dial(server: SocketAddr, source: Option<IpAddr>) -> TcpStream {
    let socket = Socket::new(Domain::for_address(server), Type::STREAM, None).expect("socket");
    if let Some(source) = source {
        socket
            .bind(&SocketAddr::new(source, 0).into())
            .unwrap_or_else(|e| panic!("bind the client socket to {source}: {e}"));
    }
    socket.connect(&server.into()).expect("tcp connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(EVENT_TIMEOUT))
        .expect("timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// The server on 127.0.0.1.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A loopback source address 127.0.0.`n`.
pub fn loopback(n: u8) -> Option<IpAddr> {
    Some(IpAddr::from([127, 0, 0, n]))
}

/// Upgrades `stream` to a WebSocket on `/v2/ws`, first writing `prefix` and sending
/// `headers` with the request. `Err` carries the HTTP status when the server refused the
/// upgrade, or 0 when it closed the connection without an answer.
pub fn upgrade(
    mut stream: TcpStream,
    prefix: &[u8],
    headers: &[(&str, &str)],
) -> Result<Client, u16> {
    stream.write_all(prefix).expect("write prefix");
    let addr = stream.peer_addr().expect("peer");
    let mut request = format!("ws://{addr}/v2/ws")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        let name: tungstenite::http::HeaderName = name.parse().expect("header name");
        request
            .headers_mut()
            .append(name, HeaderValue::from_str(value).expect("header value"));
    }
    match tungstenite::client(request, stream) {
        Ok((ws, response)) => Ok(Client::from_upgrade(ws, &response)),
        Err(tungstenite::handshake::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            Err(r.status().as_u16())
        }
        Err(_) => Err(0),
    }
}

/// A WebSocket from `source` that must be admitted (it answers a `Ping`).
pub fn admitted(
    server: SocketAddr,
    source: Option<IpAddr>,
    prefix: &[u8],
    headers: &[(&str, &str)],
) -> Client {
    let mut client = upgrade(dial(server, source), prefix, headers)
        .unwrap_or_else(|status| panic!("upgrade refused with {status}"));
    client.expect_quiet();
    client
}

/// A WebSocket that must be refused as 0.1.0 refused it: `Error{TOO_MANY_CONNECTIONS}`
/// with `(current/limit)`, then close code 1008.
pub fn refused_too_many(
    server: SocketAddr,
    source: Option<IpAddr>,
    prefix: &[u8],
    headers: &[(&str, &str)],
    limit: usize,
) {
    let mut client = upgrade(dial(server, source), prefix, headers)
        .unwrap_or_else(|status| panic!("upgrade refused with {status}"));
    let error = client.expect_error("TOO_MANY_CONNECTIONS");
    assert_eq!(
        error["message"],
        format!("Too many connections from your IP ({limit}/{limit})")
    );
    assert_eq!(client.expect_close(), Some(1008));
}

/// Sends a raw HTTP request (after `prefix`) and returns the status, or `None` if the server
/// closed the connection without answering.
pub fn http_status(mut stream: TcpStream, prefix: &[u8], request: &str) -> Option<u16> {
    stream.write_all(prefix).expect("write prefix");
    // The server may already have closed: a failed write then reads as "no answer".
    if stream.write_all(request.as_bytes()).is_err() {
        return None;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split(' ').nth(1).and_then(|s| s.parse().ok())
}

/// `GET /v2/health`.
pub const HEALTH: &str = "GET /v2/health HTTP/1.1\r\nHost: test\r\n\r\n";

/// Waits until the server closes `stream` without having sent anything; returns how long it
/// took, or `None` if it stayed open for `within`.
pub fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => Some(start.elapsed()),
        Ok(_) => panic!("the server sent data on a socket that sent nothing"),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(_) => Some(start.elapsed()),
    }
}
