//! `security.cors_origins` (operations.md §3.4, spec decision 17): the CORS headers of plain
//! HTTP responses and the answer to preflights. Built once from the config; pure.
//!
//! WebSocket upgrades are not covered: browsers do not apply CORS to them.

/// Sent on every HTTP response, so caches keep answers for different origins apart.
const VARY: &str =
    "vary: origin, access-control-request-method, access-control-request-headers\r\n";

/// Which origins may read our responses from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    /// `*`, or a list with no usable entry: any origin.
    Any,
    /// Exact origins (as browsers send them, e.g. `https://game.example`); a matching
    /// `Origin` is echoed back.
    List(Vec<String>),
}

impl CorsPolicy {
    /// The policy for a `security.cors_origins` value: `*` exactly, or a comma-separated list
    /// whose entries are trimmed. A list with no usable entry is permissive, as in 0.1.0.
    pub fn from_config(origins: &str) -> Self {
        if origins == "*" {
            return CorsPolicy::Any;
        }
        let list: Vec<String> = origins
            .split(',')
            .map(str::trim)
            // Entries that cannot be a header value could never match an `Origin`.
            .filter(|o| !o.is_empty() && !o.bytes().any(|b| b.is_ascii_control()))
            .map(str::to_owned)
            .collect();
        if list.is_empty() {
            CorsPolicy::Any
        } else {
            CorsPolicy::List(list)
        }
    }

    /// The CORS header lines (each ending in CRLF) for a response to a request carrying
    /// `origin`; `preflight` for the answer to an `OPTIONS` request.
    pub fn header_lines(&self, origin: Option<&str>, preflight: bool) -> String {
        let mut out = String::with_capacity(160);
        match self {
            CorsPolicy::Any => out.push_str("access-control-allow-origin: *\r\n"),
            CorsPolicy::List(list) => {
                if let Some(origin) = origin.filter(|o| list.iter().any(|l| l == o)) {
                    out.push_str("access-control-allow-origin: ");
                    out.push_str(origin);
                    out.push_str("\r\n");
                }
            }
        }
        if preflight {
            out.push_str("access-control-allow-methods: *\r\naccess-control-allow-headers: *\r\n");
        } else if *self == CorsPolicy::Any {
            out.push_str("access-control-expose-headers: *\r\n");
        }
        out.push_str(VARY);
        out
    }

    /// Adds the CORS headers to a complete response built by `net::http` (a head ending in an
    /// empty line, then the body).
    pub fn decorate(&self, response: &mut Vec<u8>, origin: Option<&str>) {
        let lines = self.header_lines(origin, false);
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            // After the last header's CRLF, before the empty line.
            let at = end + 2;
            response.splice(at..at, lines.bytes());
        }
    }

    /// The answer to any `OPTIONS` request, on any path: `200`, empty body.
    pub fn preflight(&self, origin: Option<&str>) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n{}\r\n",
            self.header_lines(origin, true)
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::http::text_response;

    fn list() -> CorsPolicy {
        CorsPolicy::from_config(" https://a.example ,https://b.example,")
    }

    #[test]
    fn parses_star_lists_and_empty_lists() {
        assert_eq!(CorsPolicy::from_config("*"), CorsPolicy::Any);
        assert_eq!(CorsPolicy::from_config(""), CorsPolicy::Any);
        assert_eq!(CorsPolicy::from_config(" , "), CorsPolicy::Any);
        assert_eq!(
            list(),
            CorsPolicy::List(vec!["https://a.example".into(), "https://b.example".into()])
        );
        // `*` inside a list is only an entry that no browser sends.
        assert_eq!(
            CorsPolicy::from_config("*, https://a.example"),
            CorsPolicy::List(vec!["*".into(), "https://a.example".into()])
        );
    }

    #[test]
    fn permissive_allows_any_origin_and_exposes_headers() {
        let lines = CorsPolicy::Any.header_lines(Some("https://x.example"), false);
        assert!(lines.contains("access-control-allow-origin: *\r\n"));
        assert!(lines.contains("access-control-expose-headers: *\r\n"));
        assert!(lines.ends_with(VARY));
        let lines = CorsPolicy::Any.header_lines(None, false);
        assert!(lines.contains("access-control-allow-origin: *\r\n"));
    }

    #[test]
    fn a_list_echoes_only_exact_matches() {
        let lines = list().header_lines(Some("https://b.example"), false);
        assert!(lines.contains("access-control-allow-origin: https://b.example\r\n"));
        assert!(!lines.contains("expose"));
        for other in [Some("https://B.example"), Some("https://b.example/"), None] {
            let lines = list().header_lines(other, false);
            assert!(!lines.contains("allow-origin"), "{other:?}");
            assert_eq!(lines, VARY);
        }
    }

    #[test]
    fn preflight_allows_any_method_and_header() {
        let answer = String::from_utf8(list().preflight(Some("https://a.example"))).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(answer.contains("content-length: 0\r\n"));
        assert!(answer.contains("access-control-allow-origin: https://a.example\r\n"));
        assert!(answer.contains("access-control-allow-methods: *\r\n"));
        assert!(answer.contains("access-control-allow-headers: *\r\n"));
        assert!(answer.contains(VARY));
        assert!(answer.ends_with("\r\n\r\n"));
        let refused = String::from_utf8(list().preflight(Some("https://z.example"))).unwrap();
        assert!(!refused.contains("allow-origin"));
        assert!(refused.contains("access-control-allow-methods: *\r\n"));
    }

    #[test]
    fn decorate_inserts_into_the_head_only() {
        let mut resp = text_response(404, "Not Found", "Not Found", false);
        CorsPolicy::Any.decorate(&mut resp, None);
        let resp = String::from_utf8(resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "Not Found");
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(head.contains("\r\naccess-control-allow-origin: *\r\n"));
        assert!(head.ends_with(VARY.trim_end()));
    }
}
