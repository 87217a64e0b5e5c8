//! The configuration as `--print-config` shows it: every key, secrets replaced.
//!
//! 0.1.0 printed `metrics_auth_token` and every `app_secret` in clear text, so a config dump in
//! a ticket or a CI log leaked them. TLS settings are paths, not key material, and stay.

use serde_json::Value;

use super::Config;

/// What a secret that is set prints as. A secret that is not set stays `null`, so the output
/// still says whether one is configured.
pub const REDACTED: &str = "<redacted>";

impl Config {
    /// The effective configuration as pretty JSON (2-space indent), with
    /// `security.metrics_auth_token` and every `security.authorized_apps[].app_secret`
    /// replaced by `"<redacted>"`, and the credentials in `cluster.nats_url` hidden.
    pub fn to_redacted_json(&self) -> String {
        let mut tree = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(security) = tree.get_mut("security") {
            redact(security.get_mut("metrics_auth_token"));
            if let Some(Value::Array(apps)) = security.get_mut("authorized_apps") {
                for app in apps {
                    redact(app.get_mut("app_secret"));
                }
            }
        }
        if let (Some(url), Some(Value::String(shown))) = (
            &self.cluster.nats_url,
            tree.get_mut("cluster").and_then(|c| c.get_mut("nats_url")),
        ) {
            *shown = super::redact_url(url);
        }
        // Serialising a JSON tree cannot fail.
        serde_json::to_string_pretty(&tree).unwrap_or_default()
    }
}

fn redact(value: Option<&mut Value>) {
    if let Some(value) = value.filter(|v| !v.is_null()) {
        *value = Value::String(REDACTED.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthorizedApp;

    #[test]
    fn secrets_are_replaced_and_unset_ones_stay_null() {
        let mut cfg = Config::default();
        cfg.security.metrics_auth_token = Some("token-that-must-not-leak".to_owned());
        for (id, secret) in [("a", Some("app-secret-that-must-not-leak")), ("b", None)] {
            cfg.security.authorized_apps.push(AuthorizedApp {
                app_id: id.to_owned(),
                app_secret: secret.map(str::to_owned),
                require_secret: false,
                app_name: id.to_owned(),
                max_rooms: None,
                max_players_per_room: None,
                rate_limit_per_minute: None,
            });
        }
        let text = cfg.to_redacted_json();
        assert!(!text.contains("must-not-leak"), "{text}");
        let tree: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(tree["security"]["metrics_auth_token"], REDACTED);
        assert_eq!(
            tree["security"]["authorized_apps"][0]["app_secret"],
            REDACTED
        );
        assert_eq!(
            tree["security"]["authorized_apps"][1]["app_secret"],
            Value::Null
        );
        assert_eq!(tree["security"]["authorized_apps"][0]["app_id"], "a");
        assert_eq!(tree["port"], 3536);
        cfg.cluster.nats_url =
            Some("nats://ops:hunter2-must-not-leak@nats.internal:4222".to_owned());
        let text = cfg.to_redacted_json();
        assert!(!text.contains("must-not-leak"), "{text}");
        let tree: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            tree["cluster"]["nats_url"],
            "nats://<redacted>@nats.internal:4222"
        );
    }
}
