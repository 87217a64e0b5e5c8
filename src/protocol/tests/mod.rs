//! Wire-format tests: exact JSON in both directions, against the examples of protocol.md.

mod client_messages;
mod error_codes;
mod server_messages;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The example ids of protocol.md.
const PLAYER_A: &str = "5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04";
const PLAYER_B: &str = "c41f9a83-6e27-4d10-b5a2-93e0d8f76c15";
const ROOM: &str = "e9a2d4b6-3f71-4c8e-8d05-6b1f2a9c7e33";
const SPECTATOR: &str = "0f6d3b91-a2c4-47e8-9b15-d8e2c7a4f560";

fn id(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap()
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}
