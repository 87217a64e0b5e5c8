//! The `/metrics` query string and the metrics bearer-token check (`metrics.md` §1, §2.1).
//!
//! Parsing mirrors what 0.1.0's framework did with its query extractor: the query is
//! `application/x-www-form-urlencoded`, `time_range` is echoed verbatim, `includeSnapshot`
//! accepts only the literals `true` / `false`, and unknown keys are ignored.

use subtle::ConstantTimeEq;

/// Parsed `/metrics` query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsQuery {
    /// Echoed as the top-level `timeRange`; no filtering is done with it.
    pub time_range: String,
    /// Whether the raw `metricsSnapshot` object is added to the document.
    pub include_snapshot: bool,
}

impl Default for MetricsQuery {
    fn default() -> Self {
        MetricsQuery {
            time_range: DEFAULT_TIME_RANGE.to_owned(),
            include_snapshot: false,
        }
    }
}

/// `time_range` when the query does not give one.
pub const DEFAULT_TIME_RANGE: &str = "1h";

/// Prefix of every 400 body for a malformed query, as 0.1.0 words it.
const REJECTION_PREFIX: &str = "Failed to deserialize query string: ";

/// Parses the raw query string (without the leading `?`); `None` means the URL had none.
///
/// `Err` carries the exact text/plain body of the 400 reply.
pub fn parse_query(query: Option<&str>) -> Result<MetricsQuery, String> {
    let mut time_range: Option<String> = None;
    let mut include_snapshot: Option<bool> = None;
    for pair in query.unwrap_or("").split('&') {
        // `a&&b` and a trailing `&` yield empty pairs; form decoding skips them.
        if pair.is_empty() {
            continue;
        }
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = form_decode(raw_key);
        match key.as_str() {
            "time_range" => {
                if time_range.is_some() {
                    return Err(duplicate("time_range"));
                }
                time_range = Some(form_decode(raw_value));
            }
            "includeSnapshot" => {
                if include_snapshot.is_some() {
                    return Err(duplicate("includeSnapshot"));
                }
                include_snapshot = Some(match form_decode(raw_value).as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(format!(
                            "{REJECTION_PREFIX}includeSnapshot: provided string was not `true` or `false`"
                        ));
                    }
                });
            }
            // Unknown keys (including `timeRange`) are ignored, as in 0.1.0.
            _ => {}
        }
    }
    Ok(MetricsQuery {
        time_range: time_range.unwrap_or_else(|| DEFAULT_TIME_RANGE.to_owned()),
        include_snapshot: include_snapshot.unwrap_or(false),
    })
}

/// The derive-generated struct deserializer of 0.1.0 refuses a repeated field.
fn duplicate(field: &str) -> String {
    format!("{REJECTION_PREFIX}duplicate field `{field}`")
}

/// Decodes one form-urlencoded component: `+` is a space, `%XX` a byte; a `%` not followed by
/// two hex digits stays literal; invalid UTF-8 is replaced rather than rejected.
fn form_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).and_then(|b| hex_value(*b)),
                bytes.get(i + 2).and_then(|b| hex_value(*b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether an `Authorization` header value grants metrics access for `token`.
///
/// Exactly `Bearer <token>`: capital `B`, one space, the token byte for byte. The token bytes
/// are compared in constant time so response timing does not reveal how much of a guess was
/// right (only the length can leak). An empty configured token never matches: startup refuses
/// it when auth is required, and an empty secret must not open the door if that check is
/// bypassed.
pub fn bearer_ok(authorization: Option<&str>, token: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    match authorization.and_then(|h| h.strip_prefix("Bearer ")) {
        Some(given) => given.as_bytes().ct_eq(token.as_bytes()).into(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD_BOOL: &str = "Failed to deserialize query string: includeSnapshot: provided string was not `true` or `false`";

    #[test]
    fn defaults_without_query() {
        assert_eq!(parse_query(None), Ok(MetricsQuery::default()));
        assert_eq!(parse_query(Some("")), Ok(MetricsQuery::default()));
        let q = parse_query(None).expect("ok");
        assert_eq!(q.time_range, "1h");
        assert!(!q.include_snapshot);
    }

    #[test]
    fn reads_both_parameters_and_decodes_values() {
        let q = parse_query(Some("time_range=24h&includeSnapshot=true")).expect("ok");
        assert_eq!(q.time_range, "24h");
        assert!(q.include_snapshot);
        let q =
            parse_query(Some("includeSnapshot=false&time_range=last%2024+hours%21")).expect("ok");
        assert_eq!(q.time_range, "last 24 hours!");
        assert!(!q.include_snapshot);
        // Keys are decoded too.
        let q = parse_query(Some("include%53napshot=%74rue")).expect("ok");
        assert!(q.include_snapshot);
        // A stray `%` stays literal.
        let q = parse_query(Some("time_range=100%&x=%zz")).expect("ok");
        assert_eq!(q.time_range, "100%");
    }

    #[test]
    fn unknown_and_camel_case_time_range_are_ignored() {
        let q = parse_query(Some("timeRange=7d&foo=bar&&flag")).expect("ok");
        assert_eq!(q, MetricsQuery::default());
        // An empty time_range is echoed as empty, not replaced by the default.
        let q = parse_query(Some("time_range=")).expect("ok");
        assert_eq!(q.time_range, "");
    }

    #[test]
    fn include_snapshot_accepts_only_literal_booleans() {
        for bad in [
            "includeSnapshot=1",
            "includeSnapshot=yes",
            "includeSnapshot=True",
            "includeSnapshot=",
            "includeSnapshot",
            "time_range=1h&includeSnapshot=on",
        ] {
            assert_eq!(parse_query(Some(bad)), Err(BAD_BOOL.to_owned()), "{bad}");
        }
    }

    #[test]
    fn repeated_known_parameters_are_rejected() {
        assert_eq!(
            parse_query(Some("time_range=1h&time_range=2h")),
            Err("Failed to deserialize query string: duplicate field `time_range`".to_owned())
        );
        assert!(parse_query(Some("includeSnapshot=true&includeSnapshot=true")).is_err());
    }

    #[test]
    fn bearer_requires_exact_scheme_and_token() {
        let token = "0123456789abcdef";
        assert!(bearer_ok(Some("Bearer 0123456789abcdef"), token));
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Bearer wrong"),
            Some("bearer 0123456789abcdef"),
            Some("Basic 0123456789abcdef"),
            Some("Bearer  0123456789abcdef"),
            Some("Bearer 0123456789abcdef "),
            Some("Bearer 0123456789abcde"),
            Some("0123456789abcdef"),
        ] {
            assert!(!bearer_ok(bad, token), "{bad:?}");
        }
        assert!(!bearer_ok(Some("Bearer "), ""));
    }
}
