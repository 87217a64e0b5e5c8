//! Why a text frame is not a client message, in words a developer can act on:
//! `missing field data.data in GameData`, `wrong type for data.max_players in JoinRoom:
//! expected u8, got a string`, `unknown message type Teleport`.
//!
//! Runs only after the fast decode failed, so relayed game data never pays for it. The frame is
//! parsed again: first as JSON at all, then as an envelope (`type`, `data`), then rebuilt with
//! `type` first and decoded with `serde_path_to_error`, which knows the field path only when
//! serde does not have to buffer `data` before it has seen `type`.
//!
//! The text is built from our own vocabulary only (field names, type names, what was
//! expected): values the client sent are never echoed, except a message type or field name
//! that looks like an identifier. The result is capped at [`MAX_LEN`] characters.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::client::ClientMessage;

/// Longest description returned, in characters.
pub const MAX_LEN: usize = 200;

/// Longest client-sent identifier (message type, field name) repeated back.
const MAX_IDENT: usize = 40;

/// The top level of every client message.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// Describes why `text` (already within the size and nesting limits) is not a client message.
pub fn describe(text: &str) -> String {
    cap(describe_uncapped(text))
}

fn describe_uncapped(text: &str) -> String {
    if let Err(err) = parse::<IgnoredAny>(text) {
        return format!(
            "not valid JSON (line {}, column {})",
            err.line(),
            err.column()
        );
    }
    let envelope = match parse::<Envelope>(text) {
        Ok(envelope) => envelope,
        Err(err) => {
            let message = bare_message(&err);
            return match message.strip_prefix("duplicate field `") {
                Some(rest) => format!("duplicate field {}", ident(rest.trim_end_matches('`'))),
                None => "expected a JSON object with a \"type\" field".to_owned(),
            };
        }
    };
    let Some(kind) = envelope.kind else {
        return "missing field type".to_owned();
    };
    let Ok(type_name) = serde_json::from_str::<String>(kind.get()) else {
        return "wrong type for type: expected a string naming the message".to_owned();
    };
    // Rebuilt with `type` first, so serde decodes `data` straight from the text and the path
    // to the failing field is known.
    let rebuilt = match envelope.data {
        Some(data) => format!(r#"{{"type":{},"data":{}}}"#, kind.get(), data.get()),
        None => format!(r#"{{"type":{}}}"#, kind.get()),
    };
    let mut de = serde_json::Deserializer::from_str(&rebuilt);
    de.disable_recursion_limit();
    match serde_path_to_error::deserialize::<_, ClientMessage>(&mut de) {
        // Only the envelope's extra keys or order differed, and neither makes a frame invalid:
        // nothing more precise to say.
        Ok(_) => format!("not a valid {}", ident(&type_name)),
        Err(err) => explain(
            &path_text(err.path()),
            &type_name,
            &bare_message(err.inner()),
        ),
    }
}

/// `data.connection_info.ice_candidates[0]`; empty at the top level.
fn path_text(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&ident(key));
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

/// Turns one of serde's standard error texts into ours. `path` is where serde was (empty at
/// the top level).
fn explain(path: &str, type_name: &str, message: &str) -> String {
    let at = if path.is_empty() { "the message" } else { path };
    let field = |name: &str| {
        let name = ident(name.trim_end_matches('`'));
        if path.is_empty() {
            name
        } else {
            format!("{path}.{name}")
        }
    };
    let in_type = format!("in {}", ident(type_name));
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if path == "type" {
            let sent = rest.split('`').next().unwrap_or_default();
            return format!("unknown message type {}", ident(sent));
        }
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return format!(
            "unknown variant for {at} {in_type}: expected {}",
            unquote(expected)
        );
    }
    if let Some(name) = message.strip_prefix("missing field `") {
        return format!("missing field {} {in_type}", field(name));
    }
    if let Some(name) = message.strip_prefix("duplicate field `") {
        return format!("duplicate field {} {in_type}", field(name));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        if expected.starts_with("unit") {
            return format!("unexpected data {in_type}: it takes none (omit data or send null)");
        }
        return format!(
            "wrong type for {at} {in_type}: expected {}, got {}",
            unquote(expected),
            kind_of(got)
        );
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return format!(
            "invalid value for {at} {in_type}: expected {}",
            unquote(expected)
        );
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return format!(
            "wrong length for {at} {in_type}: expected {}",
            unquote(expected)
        );
    }
    // A custom error from a field's own parser (a malformed UUID, say): its wording may quote
    // the input, so only say where.
    format!("invalid value for {at} {in_type}")
}

fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    // The caller checked the nesting depth; serde_json's own limit would refuse earlier.
    de.disable_recursion_limit();
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// serde_json's message without its ` at line L column C` suffix.
fn bare_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_owned()
}

/// What kind of JSON value serde saw, from its `Unexpected` text, without the value itself.
fn kind_of(unexpected: &str) -> &'static str {
    const KINDS: [(&str, &str); 9] = [
        ("string", "a string"),
        ("integer", "a number"),
        ("floating point", "a number"),
        ("boolean", "a boolean"),
        ("map", "an object"),
        ("sequence", "an array"),
        ("null", "null"),
        ("unit", "null"),
        ("char", "a string"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| unexpected.starts_with(prefix))
        .map_or("something else", |(_, kind)| kind)
}

/// serde's "expected" text from our own types, with its backticks dropped and Rust's
/// `struct X` said the JSON way.
fn unquote(expected: &str) -> String {
    if expected.starts_with("struct ") || expected == "a map" {
        return "an object".to_owned();
    }
    let text = expected.replace('`', "");
    if text.is_empty() {
        "something else".to_owned()
    } else {
        text
    }
}

/// `name` if it looks like an identifier (letters, digits, `_`, `-`, `.`; at most
/// [`MAX_IDENT`] characters), else `?`: never repeat arbitrary client text.
fn ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name.chars().count() <= MAX_IDENT
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if plain {
        name.to_owned()
    } else {
        "?".to_owned()
    }
}

/// Cuts `text` to [`MAX_LEN`] characters.
fn cap(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_LEN) {
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_and_the_message_type() {
        for (text, expected) in [
            // The issue's example: a flat GameData body.
            (
                r#"{"type":"GameData","data":{"x":1}}"#,
                "missing field data.data in GameData",
            ),
            (r#"{"type":"GameData"}"#, "missing field data in GameData"),
            (
                r#"{"type":"JoinRoom","data":{"game_name":"g"}}"#,
                "missing field data.player_name in JoinRoom",
            ),
            // Key order does not matter.
            (
                r#"{"data":{"game_name":"g"},"type":"JoinRoom"}"#,
                "missing field data.player_name in JoinRoom",
            ),
            (
                r#"{"type":"AuthorityRequest","data":{}}"#,
                "missing field data.become_authority in AuthorityRequest",
            ),
            (
                r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"p","max_players":"four"}}"#,
                "wrong type for data.max_players in JoinRoom: expected u8, got a string",
            ),
            (
                r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"p","max_players":300}}"#,
                "invalid value for data.max_players in JoinRoom: expected u8",
            ),
            (
                r#"{"type":"GameData","data":5}"#,
                "wrong type for data in GameData: expected an object, got a number",
            ),
            (
                r#"{"type":"PlayerReady","data":{"ready":true}}"#,
                "unexpected data in PlayerReady: it takes none (omit data or send null)",
            ),
            (
                r#"{"type":"Authenticate","data":{"app_id":"a","game_data_format":"xml"}}"#,
                "unknown variant for data.game_data_format in Authenticate: expected one of json, message_pack, rkyv",
            ),
            (
                r#"{"type":"JoinRoom","data":{"game_name":"g","game_name":"h","player_name":"p"}}"#,
                "duplicate field data.game_name in JoinRoom",
            ),
            (
                r#"{"type":"Teleport","data":{}}"#,
                "unknown message type Teleport",
            ),
            // Message types are case-sensitive.
            (r#"{"type":"ping"}"#, "unknown message type ping"),
            ("{}", "missing field type"),
            (
                r#"{"type":1}"#,
                "wrong type for type: expected a string naming the message",
            ),
            (
                r#"{"type":"JoinRoom","type":"Ping"}"#,
                "duplicate field type",
            ),
            ("[]", "expected a JSON object with a \"type\" field"),
            ("not json", "not valid JSON (line 1, column 2)"),
            (
                "{\"type\":\"JoinRoom\"",
                "not valid JSON (line 1, column 18)",
            ),
            (r#"{"type":"Ping"} x"#, "not valid JSON (line 1, column 17)"),
        ] {
            assert_eq!(describe(text), expected, "{text}");
        }
    }

    #[test]
    fn never_echoes_client_values() {
        for text in [
            r#"{"type":"<script>alert(1)</script>"}"#,
            r#"{"type":"Reconnect","data":{"player_id":"secret-ish","room_id":"nope","auth_token":"t"}}"#,
            r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"p","max_players":"secret-ish"}}"#,
            r#"{"type":"ProvideConnectionInfo","data":{"connection_info":{"type":"secret-ish"}}}"#,
        ] {
            let said = describe(text);
            assert!(
                !said.contains("secret-ish") && !said.contains("script"),
                "{text} => {said}"
            );
        }
        assert_eq!(describe(r#"{"type":"<b>"}"#), "unknown message type ?");
        // A UUID parser's own wording may quote the input: only the place is named.
        assert_eq!(
            describe(
                r#"{"type":"Reconnect","data":{"player_id":"nope","room_id":"nope","auth_token":"t"}}"#
            ),
            "invalid value for data.player_id in Reconnect"
        );
        let long = format!(r#"{{"type":"{}"}}"#, "A".repeat(MAX_IDENT + 1));
        assert_eq!(describe(&long), "unknown message type ?");
    }

    #[test]
    fn is_capped() {
        // Many keys: the path and the expected list stay ours, and the whole text is capped.
        let deep = format!(
            r#"{{"type":"JoinRoom","data":{{"game_name":"g","player_name":"p","max_players":{}}}}}"#,
            "1".repeat(400)
        );
        assert!(describe(&deep).chars().count() <= MAX_LEN);
        assert_eq!(cap("é".repeat(MAX_LEN + 10)).chars().count(), MAX_LEN);
    }
}
