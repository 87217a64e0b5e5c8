//! The PROXY protocol header (HAProxy's v1 text and v2 binary forms) that load balancers such
//! as HAProxy, AWS NLB and nginx (`proxy_protocol on`) put in front of a connection to say
//! who the client is.
//!
//! The header is found with `peek`, so nothing is consumed until we know exactly how long it
//! is; then precisely those bytes are read. Whatever follows (an HTTP head or a TLS
//! ClientHello) stays in the socket for the next reader, untouched. Parsing is done by the
//! `ppp` crate; this module only finds the header's extent and maps the result.

use std::net::IpAddr;
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;
use ppp::v1::Addresses as V1Addresses;
use ppp::v2::{Addresses as V2Addresses, Command};
use ppp::{HeaderResult, PartialResult};

/// The 12-byte signature that starts a v2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Fixed part of a v2 header: signature, version/command, family/protocol, length.
const V2_FIXED: usize = 16;
/// What starts a v1 header.
const V1_PREFIX: &[u8] = b"PROXY ";
/// Longest v1 header, CRLF included (the protocol's own limit).
const V1_MAX: usize = 107;
/// How much is peeked at once: a whole v1 header or a v2 fixed part.
const PEEK_BUF: usize = V1_MAX + 1;
/// Longest pause between two peeks while a header is arriving in pieces. A proxy sends its
/// header in one segment, so the loop normally runs once; the caller's deadline bounds it.
const MAX_PEEK_BACKOFF: Duration = Duration::from_millis(50);

/// What the first bytes of a connection are, as far as the PROXY protocol is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peeked {
    /// Too few bytes to tell.
    Incomplete,
    /// Not a PROXY header (an HTTP head, a TLS ClientHello, …).
    NotProxy,
    /// A v1 or v2 header of this many bytes starts here.
    Header { len: usize },
    /// Starts like a PROXY header but cannot be one (v1 without CRLF in 107 bytes).
    Invalid,
}

/// Why a trusted peer's PROXY header was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    /// The peer closed or the socket failed before a whole header arrived.
    #[error("connection closed before the PROXY header was complete")]
    Closed,
    /// The connection does not start with a PROXY header.
    #[error("the connection did not start with a PROXY protocol header")]
    Missing,
    /// A PROXY header that does not parse.
    #[error("malformed PROXY protocol header")]
    Malformed,
}

/// Classifies the first bytes of a connection.
pub fn classify(buf: &[u8]) -> Peeked {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        if buf.len() < V2_FIXED {
            return Peeked::Incomplete;
        }
        let payload = u16::from_be_bytes([buf[14], buf[15]]);
        return Peeked::Header {
            len: V2_FIXED + usize::from(payload),
        };
    }
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] != V1_PREFIX[..n] {
        return Peeked::NotProxy;
    }
    let window = &buf[..buf.len().min(V1_MAX)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(cr) => Peeked::Header { len: cr + 2 },
        None if buf.len() >= V1_MAX => Peeked::Invalid,
        None => Peeked::Incomplete,
    }
}

/// The client address a complete header names. `None` means "the peer itself": a v2 `LOCAL`
/// command (the proxy's own health check), v1 `UNKNOWN`, or an address family without an IP
/// (`UNSPEC`, unix sockets). v2 TLVs are ignored.
pub fn source_address(header: &[u8]) -> Result<Option<IpAddr>, ProxyHeaderError> {
    match HeaderResult::parse(header) {
        HeaderResult::V1(Ok(h)) => Ok(match h.addresses {
            V1Addresses::Tcp4(a) => Some(IpAddr::V4(a.source_address)),
            V1Addresses::Tcp6(a) => Some(IpAddr::V6(a.source_address).to_canonical()),
            V1Addresses::Unknown => None,
        }),
        HeaderResult::V2(Ok(h)) if h.command == Command::Local => Ok(None),
        HeaderResult::V2(Ok(h)) => Ok(match h.addresses {
            V2Addresses::IPv4(a) => Some(IpAddr::V4(a.source_address)),
            V2Addresses::IPv6(a) => Some(IpAddr::V6(a.source_address).to_canonical()),
            V2Addresses::Unspecified | V2Addresses::Unix(_) => None,
        }),
        result if result.is_incomplete() => Err(ProxyHeaderError::Closed),
        _ => Err(ProxyHeaderError::Malformed),
    }
}

/// Peeks until the connection's first bytes can be classified. `Err` when the peer closed
/// first. The caller bounds the wait with its handshake deadline.
pub async fn peek_kind(stream: &TcpStream) -> Result<Peeked, ProxyHeaderError> {
    let mut buf = [0u8; PEEK_BUF];
    let mut backoff = Duration::from_millis(1);
    let mut seen = 0;
    loop {
        let n = stream
            .peek(&mut buf)
            .await
            .map_err(|_| ProxyHeaderError::Closed)?;
        if n == 0 {
            return Err(ProxyHeaderError::Closed);
        }
        let kind = classify(&buf[..n]);
        if kind != Peeked::Incomplete {
            return Ok(kind);
        }
        // `peek` returns at once while any byte is queued, so waiting for the rest of a
        // header split over segments needs a timer; back off so a trickling peer costs
        // little.
        if n == seen {
            glommio::timer::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_PEEK_BACKOFF);
        }
        seen = n;
    }
}

/// Reads a trusted peer's PROXY header, consuming exactly its bytes, and returns the client
/// address it names (`None`: the peer itself).
pub async fn read(stream: &mut TcpStream) -> Result<Option<IpAddr>, ProxyHeaderError> {
    let len = match peek_kind(stream).await? {
        Peeked::Header { len } => len,
        Peeked::NotProxy => return Err(ProxyHeaderError::Missing),
        Peeked::Invalid | Peeked::Incomplete => return Err(ProxyHeaderError::Malformed),
    };
    let mut header = vec![0u8; len];
    stream
        .read_exact(&mut header)
        .await
        .map_err(|_| ProxyHeaderError::Closed)?;
    source_address(&header)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use ppp::v2::{Builder, Protocol, Type, Version};

    use super::*;

    fn v2(command: Command, src: &str, dst: &str) -> Vec<u8> {
        let src: SocketAddr = src.parse().expect("src");
        let dst: SocketAddr = dst.parse().expect("dst");
        Builder::with_addresses(Version::Two | command, Protocol::Stream, (src, dst))
            .write_tlv(Type::NoOp, &[0u8; 5])
            .expect("tlv")
            .build()
            .expect("header")
    }

    #[test]
    fn classifies_v1_and_keeps_what_follows() {
        let raw = b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\nGET / HTTP/1.1\r\n";
        let Peeked::Header { len } = classify(raw) else {
            panic!("not a header: {:?}", classify(raw));
        };
        assert_eq!(&raw[len..len + 3], b"GET");
        assert_eq!(
            source_address(&raw[..len]),
            Ok(Some("203.0.113.7".parse().expect("ip")))
        );
        let raw6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n";
        assert_eq!(
            source_address(raw6),
            Ok(Some("2001:db8::7".parse().expect("ip")))
        );
        assert_eq!(source_address(b"PROXY UNKNOWN\r\n"), Ok(None));
        assert_eq!(
            source_address(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
            Ok(None)
        );
    }

    #[test]
    fn partial_headers_ask_for_more_and_others_are_not_proxy() {
        assert_eq!(classify(b""), Peeked::Incomplete);
        assert_eq!(classify(b"PRO"), Peeked::Incomplete);
        assert_eq!(classify(b"PROXY TCP4 1.2.3.4"), Peeked::Incomplete);
        assert_eq!(classify(b"\r\n\r\n\0\r\nQU"), Peeked::Incomplete);
        assert_eq!(classify(b"GET /v2/ws HTTP/1.1\r\n"), Peeked::NotProxy);
        assert_eq!(classify(b"POST / HTTP/1.1\r\n"), Peeked::NotProxy);
        assert_eq!(classify(&[0x16, 0x03, 0x01, 0x00]), Peeked::NotProxy);
        assert_eq!(classify(&[b'P'; 200]), Peeked::NotProxy);
        let mut long = b"PROXY ".to_vec();
        long.extend([b'1'; 120]);
        assert_eq!(classify(&long), Peeked::Invalid);
    }

    #[test]
    fn malformed_headers_are_errors() {
        for bad in [
            &b"PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n"[..],
            b"PROXY TCP5 1.2.3.4 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 10.0.0.1 99999 2\r\n",
            b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",
            b"PROXY \r\n",
        ] {
            assert_eq!(
                source_address(bad),
                Err(ProxyHeaderError::Malformed),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // A v2 header with an unknown version nibble.
        let mut header = v2(Command::Proxy, "203.0.113.7:1", "10.0.0.1:2");
        header[12] = 0x31;
        assert_eq!(source_address(&header), Err(ProxyHeaderError::Malformed));
    }

    #[test]
    fn v2_proxy_local_and_tlvs() {
        let header = v2(Command::Proxy, "203.0.113.7:51000", "10.0.0.1:443");
        let mut raw = header.clone();
        raw.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(classify(&raw), Peeked::Header { len: header.len() });
        assert_eq!(classify(&raw[..10]), Peeked::Incomplete);
        assert_eq!(
            source_address(&header),
            Ok(Some("203.0.113.7".parse().expect("ip")))
        );
        let header6 = v2(Command::Proxy, "[2001:db8::7]:51000", "[2001:db8::1]:443");
        assert_eq!(
            source_address(&header6),
            Ok(Some("2001:db8::7".parse().expect("ip")))
        );
        // An IPv4-mapped source is reported as IPv4.
        let mapped = v2(Command::Proxy, "[::ffff:203.0.113.9]:1", "[::1]:2");
        assert_eq!(
            source_address(&mapped),
            Ok(Some("203.0.113.9".parse().expect("ip")))
        );
        let local = v2(Command::Local, "203.0.113.7:51000", "10.0.0.1:443");
        assert_eq!(source_address(&local), Ok(None));
    }
}
