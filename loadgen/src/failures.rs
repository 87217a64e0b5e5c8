//! Setup failures: connections that did not get through connect + upgrade + `Authenticate`,
//! and rooms that were not created and filled. A run with more of them than `--max-failures`
//! measured a different load than it was asked for (its delivery ratio only covers the rooms
//! that did fill), so the tool exits 1 instead of reporting it as a result.

use serde::Serialize;
use serde_json::{Value, json};

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Failures {
    /// Connections that failed to connect, upgrade or authenticate (a refused TCP connect, a
    /// TLS or HTTP error, an `Error` such as `TOO_MANY_CONNECTIONS` instead of `Authenticated`).
    pub connections: u64,
    /// Rooms not created and filled: a member failed to connect, the creation or a join was
    /// refused (`RoomJoinFailed`, e.g. `RATE_LIMIT_EXCEEDED`) or timed out. Background and
    /// paced rooms alike.
    pub rooms: u64,
    /// `JoinRoom` requests (creations included) that got no `RoomJoined`; each also fails its
    /// room, so they are shown, not added to the total.
    pub joins: u64,
    /// `connections + rooms`.
    pub total: u64,
    /// The threshold from `--max-failures`.
    pub allowed: u64,
}

impl Failures {
    /// Prints a run's JSON line `out` with its label and these failures, and the failure
    /// line on stderr; an error when there were more failures than allowed.
    pub fn print_result(&self, mut out: Value, label: Option<&str>) -> Result<(), String> {
        out["label"] = json!(label);
        out["failures"] = json!(self);
        eprintln!("  {}", self.line());
        println!("{out}");
        if self.exceeded() {
            return Err(format!(
                "{} setup failures, more than --max-failures {}: these numbers do not describe the load asked for",
                self.total, self.allowed
            ));
        }
        Ok(())
    }

    pub fn new(allowed: u64) -> Failures {
        Failures {
            allowed,
            ..Failures::default()
        }
    }

    pub fn add_connections(&mut self, n: u64) {
        self.connections += n;
        self.total = self.connections + self.rooms;
    }

    pub fn add_rooms(&mut self, rooms: u64, joins: u64) {
        self.rooms += rooms;
        self.joins += joins;
        self.total = self.connections + self.rooms;
    }

    /// More failures than allowed: the run is not a valid measurement.
    pub fn exceeded(&self) -> bool {
        self.total > self.allowed
    }

    /// The summary line printed on stderr.
    pub fn line(&self) -> String {
        format!(
            "failures: {} connections, {} rooms ({} JoinRoom requests); {} allowed (--max-failures){}",
            self.connections,
            self.rooms,
            self.joins,
            self.allowed,
            if self.exceeded() { ": FAILED" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_failure_fails_by_default() {
        let mut f = Failures::new(0);
        assert!(!f.exceeded());
        f.add_connections(0);
        f.add_rooms(0, 0);
        assert!(!f.exceeded(), "{}", f.line());
        f.add_rooms(1, 1);
        assert!(f.exceeded());
        assert!(f.line().ends_with(": FAILED"), "{}", f.line());
    }

    #[test]
    fn the_threshold_counts_connections_and_rooms_not_joins() {
        let mut f = Failures::new(3);
        f.add_connections(2);
        f.add_rooms(1, 5);
        assert_eq!(f.total, 3);
        assert!(!f.exceeded());
        f.add_connections(1);
        assert!(f.exceeded());
        assert_eq!(
            f.line(),
            "failures: 3 connections, 1 rooms (5 JoinRoom requests); 3 allowed (--max-failures): FAILED"
        );
    }
}
