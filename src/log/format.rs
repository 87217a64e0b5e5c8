//! Turning a record into one line (operations.md §7), on the writer thread.
//!
//! - json: `{"timestamp":"2026-11-27T09:03:15.061825172Z","level":"INFO","fields":{"message":"…",
//!   <fields>},"target":"…"}` — 0.1.0's shape: RFC 3339 UTC with nanoseconds, fields (and the
//!   shard, when a shard emitted it) under `fields`.
//! - text: `2026-11-27T09:03:15.061825Z  INFO target: message key=value …`, coloured only
//!   when asked (a terminal), never in the file.

use std::io::Write;

use chrono::SecondsFormat;
use tracing::Level;

use super::record::{Record, Value};
use crate::config::LogFormat;

/// Appends `record` as one line (with its `\n`) to `out`.
pub fn write_line(out: &mut Vec<u8>, record: &Record, format: LogFormat, ansi: bool) {
    match format {
        LogFormat::Json => json(out, record),
        LogFormat::Text => text(out, record, ansi),
    }
    out.push(b'\n');
}

fn json(out: &mut Vec<u8>, record: &Record) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    out.extend_from_slice(
        record
            .time
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
            .as_bytes(),
    );
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(record.level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"fields\":{\"message\":");
    json_str(out, &record.message);
    for (name, value) in &record.fields {
        out.push(b',');
        json_str(out, name);
        out.push(b':');
        json_value(out, value);
    }
    if let Some(shard) = record.shard {
        let _ = write!(out, ",\"shard\":{shard}");
    }
    out.extend_from_slice(b"},\"target\":");
    json_str(out, record.target);
    out.push(b'}');
}

fn json_str(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn json_value(out: &mut Vec<u8>, value: &Value) {
    let _ = match value {
        Value::Str(text) => serde_json::to_writer(&mut *out, text),
        Value::U64(n) => serde_json::to_writer(&mut *out, n),
        Value::I64(n) => serde_json::to_writer(&mut *out, n),
        // serde_json writes `null` for NaN and infinities, keeping the line valid JSON.
        Value::F64(n) => serde_json::to_writer(&mut *out, n),
        Value::Bool(b) => serde_json::to_writer(&mut *out, b),
    };
}

/// ANSI SGR sequences for the text format.
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

fn text(out: &mut Vec<u8>, record: &Record, ansi: bool) {
    let paint = |out: &mut Vec<u8>, colour: &str, text: &str| {
        if ansi {
            let _ = write!(out, "{colour}{text}{RESET}");
        } else {
            out.extend_from_slice(text.as_bytes());
        }
    };
    let time = record.time.to_rfc3339_opts(SecondsFormat::Micros, true);
    paint(out, DIM, &time);
    out.push(b' ');
    paint(
        out,
        level_colour(record.level),
        &format!("{:>5}", record.level.as_str()),
    );
    out.push(b' ');
    paint(out, DIM, &format!("{}:", record.target));
    out.push(b' ');
    out.extend_from_slice(record.message.as_bytes());
    for (name, value) in &record.fields {
        out.push(b' ');
        paint(out, BOLD, name);
        out.push(b'=');
        text_value(out, value);
    }
    if let Some(shard) = record.shard {
        out.push(b' ');
        paint(out, BOLD, "shard");
        let _ = write!(out, "={shard}");
    }
}

/// Plain words stay bare; anything a reader could split wrongly is quoted (JSON escaping).
fn text_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Str(text) if needs_quotes(text) => json_str(out, text),
        Value::Str(text) => out.extend_from_slice(text.as_bytes()),
        Value::U64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::F64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
    }
}

fn needs_quotes(text: &str) -> bool {
    text.is_empty()
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=')
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike, Utc};

    use super::*;

    fn sample() -> Record {
        let mut record = Record::new(
            Level::WARN,
            "signal_fish_server::auth",
            "authentication failed",
        )
        .with("client_ip", Value::Str("203.0.113.7".into()))
        .with("app_id", Value::Str("my \"game\"".into()))
        .with("attempts", Value::U64(3))
        .with("delta", Value::I64(-2))
        .with("closed", Value::Bool(true));
        record.time = Utc
            .with_ymd_and_hms(2026, 11, 27, 9, 3, 15)
            .unwrap()
            .with_nanosecond(61_825_172)
            .unwrap();
        record.shard = Some(1);
        record
    }

    fn line(record: &Record, format: LogFormat, ansi: bool) -> String {
        let mut out = Vec::new();
        write_line(&mut out, record, format, ansi);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_has_the_0_1_0_shape_with_typed_fields() {
        let text = line(&sample(), LogFormat::Json, false);
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
        assert!(text.starts_with("{\"timestamp\":\"2026-11-27T09:03:15.061825172Z\""));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "signal_fish_server::auth");
        let fields = &v["fields"];
        assert_eq!(fields["message"], "authentication failed");
        assert_eq!(fields["client_ip"], "203.0.113.7");
        assert_eq!(fields["app_id"], "my \"game\"");
        assert_eq!(fields["attempts"], 3);
        assert_eq!(fields["delta"], -2);
        assert_eq!(fields["closed"], true);
        assert_eq!(fields["shard"], 1);
        assert_eq!(v.as_object().unwrap().len(), 4, "{text}");
    }

    #[test]
    fn json_escapes_control_characters_and_keeps_one_line() {
        let record =
            Record::new(Level::INFO, "t", "two\nlines\u{1b}[31m").with("f", Value::F64(f64::NAN));
        let text = line(&record, LogFormat::Json, false);
        assert_eq!(text.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["fields"]["message"], "two\nlines\u{1b}[31m");
        assert!(v["fields"]["f"].is_null());
        assert!(v["fields"].get("shard").is_none());
    }

    #[test]
    fn text_is_one_readable_line() {
        let text = line(&sample(), LogFormat::Text, false);
        assert_eq!(
            text,
            "2026-11-27T09:03:15.061825Z  WARN signal_fish_server::auth: authentication failed \
             client_ip=203.0.113.7 app_id=\"my \\\"game\\\"\" attempts=3 delta=-2 closed=true \
             shard=1\n"
        );
    }

    #[test]
    fn text_colours_only_when_asked() {
        let plain = line(&sample(), LogFormat::Text, false);
        assert!(!plain.contains('\x1b'));
        let coloured = line(&sample(), LogFormat::Text, true);
        assert!(coloured.contains("\x1b[33m WARN\x1b[0m"), "{coloured:?}");
        let stripped = coloured
            .replace(DIM, "")
            .replace(BOLD, "")
            .replace(RESET, "")
            .replace("\x1b[33m", "");
        assert_eq!(stripped, plain);
    }
}
