//! The HTTP side of the port: reading one request head, routing it, and plain responses.
//! Everything but the WebSocket upgrade is answered once and the connection closed.

use futures_lite::{AsyncRead, AsyncReadExt};

/// Longest request head we accept; browsers and SDKs send well under 2 KiB.
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;

/// The parts of a request head the server looks at.
#[derive(Debug)]
pub struct RequestHead {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
}

impl RequestHead {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Why no request head could be read.
#[derive(Debug)]
pub enum HeadError {
    /// The peer closed or the socket failed.
    Io,
    /// Not HTTP, or a head over the size limit.
    Malformed,
}

/// Reads and parses one request head. Returns it with any bytes that followed it.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(RequestHead, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Io);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let target = req.path.unwrap_or("/");
                let (path, query) = match target.split_once('?') {
                    Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
                    None => (target.to_owned(), None),
                };
                let head = RequestHead {
                    minor_version: req.version.unwrap_or(1),
                    method: req.method.unwrap_or("GET").to_owned(),
                    path,
                    query,
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                };
                let rest = buf.split_off(len);
                return Ok((head, rest));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            _ => return Err(HeadError::Malformed),
        }
    }
}

/// What a request path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    WebSocket,
    /// The JSON metrics document.
    Metrics,
    /// Prometheus text.
    MetricsProm,
    NotFound,
}

/// Maps a path to a route: the binary's `/v2/...` paths and the bare-router aliases.
pub fn route(path: &str) -> Route {
    match path {
        "/v2/health" | "/health" => Route::Health,
        "/v2/ws" | "/ws" => Route::WebSocket,
        "/metrics" | "/v1/metrics" | "/v2/metrics" => Route::Metrics,
        "/metrics/prom" | "/v1/metrics/prom" | "/v2/metrics/prom" => Route::MetricsProm,
        _ => Route::NotFound,
    }
}

/// Content type of plain-text responses.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// A complete plain-text response that closes the connection.
pub fn text_response(status: u16, reason: &str, body: &str, head_only: bool) -> Vec<u8> {
    response(status, reason, TEXT_PLAIN, body, head_only)
}

/// A complete response that closes the connection. An empty body sends no content type.
pub fn response(
    status: u16,
    reason: &str,
    content_type: &str,
    body: &str,
    head_only: bool,
) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    if !body.is_empty() {
        out.push_str(&format!("content-type: {content_type}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n",
        body.len()
    ));
    if status == 405 {
        out.push_str("allow: GET,HEAD\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(body);
    }
    out.into_bytes()
}

/// Why an upgrade request was refused: status and body, as 0.1.0 words them.
pub fn check_upgrade(head: &RequestHead) -> Result<&str, (u16, &'static str, &'static str)> {
    if head.method != "GET" {
        return Err((405, "Method Not Allowed", "Request method must be `GET`"));
    }
    if !head.header_has_token("connection", "upgrade") {
        return Err((
            400,
            "Bad Request",
            "Connection header did not include 'upgrade'",
        ));
    }
    if !head.header_has_token("upgrade", "websocket") {
        return Err((
            400,
            "Bad Request",
            "`Upgrade` header did not include 'websocket'",
        ));
    }
    let Some(key) = head.header("sec-websocket-key") else {
        return Err((400, "Bad Request", "`Sec-WebSocket-Key` header missing"));
    };
    if head.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err((
            400,
            "Bad Request",
            "`Sec-WebSocket-Version` header did not include '13'",
        ));
    }
    // Checks 0.1.0 left to hyper, after its own so its answers keep their order (decision 18).
    if head.minor_version < 1 {
        return Err((400, "Bad Request", "WebSocket upgrade requires HTTP/1.1"));
    }
    if head.header("host").is_none() {
        return Err((400, "Bad Request", "`Host` header missing"));
    }
    let key = key.trim();
    if !is_websocket_key(key) {
        return Err((
            400,
            "Bad Request",
            "`Sec-WebSocket-Key` header is not base64 of 16 bytes",
        ));
    }
    Ok(key)
}

/// Whether a `Sec-WebSocket-Key` is the base64 encoding of exactly 16 bytes (RFC 6455 §4.1):
/// 24 characters, padding included.
fn is_websocket_key(key: &str) -> bool {
    use base64::Engine as _;
    // 24 characters decode to at most 18 bytes; the buffer must allow for that estimate.
    let mut decoded = [0u8; 18];
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode_slice(key, &mut decoded)
            .is_ok_and(|n| n == 16)
}

/// The `101 Switching Protocols` answer. `X-Signal-Fish-Shard` names the shard that serves the
/// connection, which operators and the tests use to see where connections land. `subprotocol`
/// is echoed as the chosen `Sec-WebSocket-Protocol` (token binding).
pub fn upgrade_response(key: &str, shard: u32, subprotocol: Option<&str>) -> Vec<u8> {
    let accept = async_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let protocol = subprotocol
        .map(|p| format!("sec-websocket-protocol: {p}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: {accept}\r\n{protocol}x-signal-fish-shard: {shard}\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> (RequestHead, Vec<u8>) {
        let mut cursor = futures_lite::io::Cursor::new(raw.as_bytes().to_vec());
        futures_lite::future::block_on(read_head(&mut cursor)).expect("head")
    }

    #[test]
    fn parses_head_and_keeps_leftover() {
        let (head, rest) =
            parse("GET /v2/ws?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\n\r\nXY");
        assert_eq!(head.method, "GET");
        assert_eq!(head.path, "/v2/ws");
        assert_eq!(head.query.as_deref(), Some("x=1"));
        assert_eq!(head.header("host"), Some("a"));
        assert!(head.header_has_token("upgrade", "websocket"));
        assert_eq!(rest, b"XY");
    }

    #[test]
    fn routes() {
        assert_eq!(route("/v2/health"), Route::Health);
        assert_eq!(route("/health"), Route::Health);
        assert_eq!(route("/v2/ws"), Route::WebSocket);
        assert_eq!(route("/ws"), Route::WebSocket);
        assert_eq!(route("/v1/metrics"), Route::Metrics);
        assert_eq!(route("/metrics/prom"), Route::MetricsProm);
        assert_eq!(route("/"), Route::NotFound);
        assert_eq!(route("/v2/unknown"), Route::NotFound);
    }

    #[test]
    fn upgrade_checks_in_order() {
        let (plain, _) = parse("GET /v2/ws HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            check_upgrade(&plain).unwrap_err().2,
            "Connection header did not include 'upgrade'"
        );
        let (post, _) = parse("POST /v2/ws HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(check_upgrade(&post).unwrap_err().0, 405);
        let (no_key, _) = parse(
            "GET /v2/ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
        );
        assert_eq!(
            check_upgrade(&no_key).unwrap_err().2,
            "`Sec-WebSocket-Key` header missing"
        );
        let (ok, _) = parse(
            "GET /v2/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        assert_eq!(check_upgrade(&ok), Ok("dGhlIHNhbXBsZSBub25jZQ=="));
        let resp =
            String::from_utf8(upgrade_response("dGhlIHNhbXBsZSBub25jZQ==", 1, None)).unwrap();
        assert!(resp.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert!(!resp.contains("sec-websocket-protocol"));
        let bound = upgrade_response("dGhlIHNhbXBsZSBub25jZQ==", 1, Some("sf.v1"));
        let bound = String::from_utf8(bound).unwrap();
        assert!(
            bound.contains("\r\nsec-websocket-protocol: sf.v1\r\n"),
            "{bound}"
        );
    }

    /// An upgrade request with one line replaced or removed (`None`).
    fn upgrade_with(version: &str, replace: &str, with: Option<&str>) -> RequestHead {
        let lines = [
            "Host: a",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ];
        let mut raw = format!("GET /v2/ws HTTP/{version}\r\n");
        for line in lines {
            match (line.starts_with(replace), with) {
                (true, Some(other)) => raw.push_str(other),
                (true, None) => continue,
                (false, _) => raw.push_str(line),
            }
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        parse(&raw).0
    }

    fn refusal(head: &RequestHead) -> (u16, &'static str) {
        let (status, _, body) = check_upgrade(head).unwrap_err();
        (status, body)
    }

    #[test]
    fn new_upgrade_checks_come_after_0_1_0s() {
        assert!(check_upgrade(&upgrade_with("1.1", "Host", Some("Host: b"))).is_ok());
        assert_eq!(
            refusal(&upgrade_with("1.1", "Host", None)),
            (400, "`Host` header missing")
        );
        assert_eq!(
            refusal(&upgrade_with("1.0", "X", None)),
            (400, "WebSocket upgrade requires HTTP/1.1")
        );
        for bad in [
            "Sec-WebSocket-Key: x",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=!",
            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==",
        ] {
            assert_eq!(
                refusal(&upgrade_with("1.1", "Sec-WebSocket-Key", Some(bad))),
                (400, "`Sec-WebSocket-Key` header is not base64 of 16 bytes"),
                "{bad}"
            );
        }
        assert_eq!(
            refusal(&upgrade_with(
                "1.1",
                "Sec-WebSocket-Version",
                Some("Sec-WebSocket-Version: 8")
            )),
            (400, "`Sec-WebSocket-Version` header did not include '13'")
        );
        // 0.1.0's checks win when both fail: an HTTP/1.0 request with no key is told about
        // the key.
        assert_eq!(
            refusal(&upgrade_with("1.0", "Sec-WebSocket-Key", None)),
            (400, "`Sec-WebSocket-Key` header missing")
        );
    }

    #[test]
    fn text_response_shape() {
        let r = String::from_utf8(text_response(200, "OK", "OK", false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.ends_with("\r\n\r\nOK"));
        assert!(r.contains("content-length: 2\r\n"));
    }
}
