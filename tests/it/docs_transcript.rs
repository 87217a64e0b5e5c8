//! Keeps `docs/protocol.md` honest: its transcript is played against a real server, frame by
//! frame. Client lines (`A -> {...}`) are sent as written, with placeholders replaced by the
//! values bound earlier; server lines (`A <- {...}`) must match the next frame that client
//! receives: the same keys at every level, the same array lengths, equal values, and a
//! placeholder string (`"<name>"`) matching any value — the same value wherever the same name
//! appears. Afterwards neither client may have anything more queued, so the transcript lists
//! every frame.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::common::{Client, start_server};

const DOC: &str = include_str!("../../docs/protocol.md");

/// The line that introduces the transcript's fenced block in the doc.
const MARKER: &str = "<!-- transcript: checked by tests/it/docs_transcript.rs -->";

/// One line of the transcript.
#[derive(Debug)]
enum Step {
    Send { client: String, frame: Value },
    Recv { client: String, frame: Value },
}

/// The transcript's steps: the lines of the first fenced block after [`MARKER`]. Blank lines
/// and `#` comments are skipped; anything else must be `<client> -> <json>` or
/// `<client> <- <json>`.
fn transcript(doc: &str) -> Vec<Step> {
    let after = doc
        .split_once(MARKER)
        .unwrap_or_else(|| panic!("docs/protocol.md has no `{MARKER}` line"))
        .1;
    let mut lines = after.lines().skip_while(|l| !l.starts_with("```"));
    assert!(lines.next().is_some(), "no fenced block after the marker");
    lines
        .take_while(|l| !l.starts_with("```"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (client, rest) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("transcript line without a direction: {line}"));
            let (dir, json) = rest
                .trim_start()
                .split_once(' ')
                .unwrap_or_else(|| panic!("transcript line without a frame: {line}"));
            let frame: Value = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("transcript frame is not JSON ({e}): {json}"));
            let client = client.to_owned();
            match dir {
                "->" => Step::Send { client, frame },
                "<-" => Step::Recv { client, frame },
                other => panic!("direction must be -> or <-, got {other:?} in: {line}"),
            }
        })
        .collect()
}

/// The placeholder name of a doc value, if it is one (`"<A.player_id>"` → `A.player_id`).
fn placeholder(value: &Value) -> Option<&str> {
    let s = value.as_str()?;
    let name = s.strip_prefix('<')?.strip_suffix('>')?;
    (!name.is_empty() && !name.contains(' ')).then_some(name)
}

/// Checks `actual` against the doc's `expected`, binding placeholders; `path` names the spot
/// for the failure message.
fn matches(
    expected: &Value,
    actual: &Value,
    bound: &mut HashMap<String, Value>,
    path: &str,
) -> Result<(), String> {
    if let Some(name) = placeholder(expected) {
        return match bound.get(name) {
            Some(value) if value == actual => Ok(()),
            Some(value) => Err(format!(
                "{path}: <{name}> was {value} earlier but the server sent {actual}"
            )),
            None => {
                bound.insert(name.to_owned(), actual.clone());
                Ok(())
            }
        };
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys = |m: &Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            if keys(e) != keys(a) {
                return Err(format!(
                    "{path}: the doc shows keys {:?}, the server sent {:?}",
                    keys(e),
                    keys(a)
                ));
            }
            e.iter()
                .try_for_each(|(k, ev)| matches(ev, &a[k.as_str()], bound, &format!("{path}.{k}")))
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: the doc shows {} elements, the server sent {}",
                    e.len(),
                    a.len()
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .try_for_each(|(i, (ev, av))| matches(ev, av, bound, &format!("{path}[{i}]")))
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!(
            "{path}: the doc shows {expected}, the server sent {actual}"
        )),
    }
}

/// A client frame with its placeholders replaced by the values bound so far.
fn fill(frame: &Value, bound: &HashMap<String, Value>) -> Value {
    if let Some(name) = placeholder(frame) {
        return bound
            .get(name)
            .unwrap_or_else(|| panic!("<{name}> is sent before any server frame showed it"))
            .clone();
    }
    match frame {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), fill(v, bound))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, bound)).collect()),
        other => other.clone(),
    }
}

#[test]
fn the_protocol_doc_transcript_is_what_a_real_server_sends() {
    let steps = transcript(DOC);
    assert!(
        steps.len() > 10,
        "the transcript looks truncated: {steps:?}"
    );
    // The server a newcomer runs: compiled defaults (the harness only lifts per-IP limits,
    // which never show on this path).
    let server = start_server();
    let mut clients: HashMap<String, Client> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut bound = HashMap::new();
    for (n, step) in steps.iter().enumerate() {
        let (name, frame) = match step {
            Step::Send { client, frame } | Step::Recv { client, frame } => (client, frame),
        };
        let client = clients.entry(name.clone()).or_insert_with(|| {
            order.push(name.clone());
            Client::connect(server.port())
        });
        match step {
            Step::Send { .. } => client.send(fill(frame, &bound)),
            Step::Recv { .. } => {
                let got = client.recv();
                if let Err(why) = matches(frame, &got, &mut bound, "frame") {
                    panic!(
                        "transcript line {} ({name} <- {}): {why}\nfull frame: {got}",
                        n + 1,
                        frame["type"]
                    );
                }
            }
        }
    }
    for name in &order {
        if let Some(client) = clients.get_mut(name) {
            client.expect_quiet();
        }
    }
    server.shutdown();
}

#[test]
fn placeholders_bind_once_and_must_agree() {
    let mut bound = HashMap::new();
    let doc: Value = serde_json::json!({"a":"<x>","b":["<x>", 1]});
    assert!(
        matches(
            &doc,
            &serde_json::json!({"a":"q","b":["q",1]}),
            &mut bound,
            "f"
        )
        .is_ok()
    );
    let mut bound = HashMap::new();
    assert!(
        matches(
            &doc,
            &serde_json::json!({"a":"q","b":["r",1]}),
            &mut bound,
            "f"
        )
        .is_err()
    );
    let mut bound = HashMap::new();
    assert!(
        matches(
            &doc,
            &serde_json::json!({"a":"q","b":["q",1],"c":0}),
            &mut bound,
            "f"
        )
        .is_err()
    );
    let mut bound = HashMap::new();
    assert!(
        matches(
            &doc,
            &serde_json::json!({"a":"q","b":["q",2]}),
            &mut bound,
            "f"
        )
        .is_err()
    );
    assert_eq!(
        fill(&serde_json::json!({"code":"<x>"}), &bound),
        serde_json::json!({"code":"q"})
    );
}
