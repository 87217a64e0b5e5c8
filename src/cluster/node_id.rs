//! The default node id: this machine's host name and the listening port, which is unique
//! among the processes of one host and readable on a dashboard.

use crate::config::MAX_NODE_ID_LEN;

/// `<host>-<port>`, with every character a node id may not hold replaced by `-`.
pub fn default_node_id(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    let suffix = format!("-{port}");
    let room = MAX_NODE_ID_LEN.saturating_sub(suffix.len());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(room)
        .collect();
    format!("{host}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::check_node_id;

    #[test]
    fn the_default_is_a_valid_node_id_ending_in_the_port() {
        let id = default_node_id(3536);
        assert!(id.ends_with("-3536"), "{id}");
        check_node_id(&id).unwrap();
    }
}
