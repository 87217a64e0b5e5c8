//! The operator files under `deploy/` besides the proxy configs: the systemd unit and its env
//! file (`systemd-analyze verify` and `security`, Debian package `systemd`), the Prometheus
//! scrape config and alert rules (`promtool check config`, `check rules`, `test rules`, Debian
//! package `prometheus`), and the Grafana dashboard. Every metric named by an alert or a
//! dashboard expression must be in a real scrape of a server that has done some traffic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Client, promtool, start_with};
use crate::metrics::get;

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"))
}

/// Runs `systemd-analyze ARGS`; panics naming the Debian package if it is missing.
fn systemd_analyze(args: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!("systemd-analyze not runnable ({err}): install Debian package systemd (.ci/run does)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `Key=value` settings of a unit file by key, in order (a key may repeat).
fn unit_settings(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', ';', '[']) {
            continue;
        }
        let (key, value) = line.split_once('=').expect("Key=value");
        settings
            .entry(key.trim().to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    settings
}

/// `KEY=value` lines of an environment file, comments left out.
fn env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn systemd_unit_is_complete_hardened_and_verifies() {
    let unit = read("deploy/systemd/signal-fish.service");
    let settings = unit_settings(&unit);
    let one = |key: &str| -> &str {
        match settings.get(key).map(Vec::as_slice) {
            Some([value]) => value,
            other => panic!("{key}: expected one setting, found {other:?}"),
        }
    };
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("LimitMEMLOCK", "infinity"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        // Empty: no capability at all (the default port is not privileged).
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("KillSignal", "SIGTERM"),
        ("Restart", "on-failure"),
        ("EnvironmentFile", "-/etc/signal-fish/signal-fish.env"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    let nofile: u64 = one("LimitNOFILE").parse().expect("a number");
    assert!(nofile >= 65_536, "LimitNOFILE {nofile}");
    // io_uring must be allowed by the syscall filter whatever @system-service holds in this
    // systemd version, and no deny list may take it back.
    let filters = &settings["SystemCallFilter"];
    let (deny, allow): (Vec<&String>, Vec<&String>) =
        filters.iter().partition(|f| f.starts_with('~'));
    for call in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert!(
            allow
                .iter()
                .any(|f| f.split_whitespace().any(|w| w == call)),
            "{call} not allowed: {filters:?}"
        );
        assert!(!deny.iter().any(|f| f.contains("io_uring")), "{filters:?}");
    }
    // systemd must be allowed to wait out the drain before it kills.
    let env = env_file(&read("deploy/systemd/signal-fish.env"));
    let drain: u64 = env
        .iter()
        .find(|(k, _)| k == "SIGNAL_FISH_SERVER__DRAIN_GRACE_SECS")
        .map_or(0, |(_, v)| v.parse().expect("drain seconds"));
    let stop: u64 = one("TimeoutStopSec").parse().expect("seconds");
    assert!(
        stop >= drain + 10,
        "TimeoutStopSec {stop} must exceed drain_grace_secs {drain} with room to close"
    );

    // systemd's own checks, on a copy whose ExecStart is the binary cargo just built.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("signal-fish.service");
    let binary = env!("CARGO_BIN_EXE_signal-fish-server");
    let rewritten: String = unit
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                format!("ExecStart={binary}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&copy, rewritten).expect("write unit");
    let copy = copy.to_str().expect("utf-8 path");
    let (ok, report) = systemd_analyze(&["verify", copy]);
    // verify only warns about unknown keys: any output is a finding.
    assert!(
        ok && report.trim().is_empty(),
        "systemd-analyze verify:\n{report}"
    );
    // Exposure score 0 (locked down) to 10 (unsafe); threshold is in tenths.
    let (ok, report) = systemd_analyze(&["security", "--offline=true", "--threshold=20", copy]);
    assert!(ok, "exposure above 2.0:\n{report}");
}

#[test]
fn systemd_env_file_is_a_valid_configuration() {
    let mut env = env_file(&read("deploy/systemd/signal-fish.env"));
    assert!(!env.is_empty());
    // The unit's own `Environment=` lines are configuration too.
    let unit = unit_settings(&read("deploy/systemd/signal-fish.service"));
    for line in unit.get("Environment").into_iter().flatten() {
        let (key, value) = line.split_once('=').expect("Environment=KEY=value");
        env.push((key.to_owned(), value.to_owned()));
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-fish-server"));
    cmd.current_dir(std::env::temp_dir())
        .arg("--validate-config");
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGNAL_FISH") {
            cmd.env_remove(key);
        }
    }
    for (key, value) in &env {
        assert!(key.starts_with("SIGNAL_FISH_"), "{key}");
        cmd.env(key, value);
    }
    let out = cmd.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("unknown config key"), "{stderr}");
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool() {
    // `check config` opens the token file and the rule files: check a copy whose token path
    // is a temporary file, next to a copy of the rules.
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("signal-fish.token");
    std::fs::write(&token, "a-long-enough-metrics-token\n").expect("token");
    let config = read("deploy/prometheus/prometheus.yml");
    assert!(config.contains("credentials_file: /etc/prometheus/signal-fish.token"));
    assert!(config.contains("metrics_path: /metrics/prom"));
    let config = config.replace(
        "/etc/prometheus/signal-fish.token",
        token.to_str().expect("utf-8"),
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
    std::fs::copy(
        repo("deploy/prometheus/alerts.yml"),
        dir.path().join("alerts.yml"),
    )
    .expect("rules");
    let config_path = dir.path().join("prometheus.yml");
    promtool::check(
        &["check", "config", config_path.to_str().expect("utf-8")],
        None,
    );
    let rules = repo("deploy/prometheus/alerts.yml");
    promtool::check(&["check", "rules", rules.to_str().expect("utf-8")], None);
    // The alerts fire on the series they are about, and stay quiet otherwise.
    let tests = repo("deploy/prometheus/alerts_test.yml");
    promtool::check(&["test", "rules", tests.to_str().expect("utf-8")], None);
}

/// A scrape of a two-shard server after rooms, joins, game data and a leave.
fn scrape_after_traffic() -> String {
    let server = start_with(|_| {});
    let port = server.port();
    let mut a = Client::connect(port);
    let code = a.create_room("dash", "A", 4)["room_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let mut b = Client::connect(port);
    b.join_room("dash", &code, "B");
    a.expect("PlayerJoined");
    a.send_game_data(json!({"x": 1}));
    b.expect("GameData");
    b.leave();
    a.expect("PlayerLeft");
    let (status, _, text) = get(port, "/metrics/prom", None);
    assert_eq!(status, 200);
    server.shutdown();
    text
}

/// Every series name a scrape can be queried by: each family, and `_bucket`, `_sum` and
/// `_count` of a histogram. `up` is made by Prometheus itself for every target.
fn queryable_names(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::from(["up".to_owned()]);
    for (name, kind) in scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
    {
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name.to_owned());
        }
    }
    names
}

/// The metric names a PromQL expression selects. Label matchers, ranges, string literals and
/// the label lists of `by`/`without`/`on`/`ignoring`/`group_*` are skipped; an identifier
/// followed by `(` is a function; `$var` is a Grafana variable.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Keywords, and aggregations, which may be followed by `by (...)` before their `(`.
    const KEYWORDS: [&str; 25] = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_next_parens = false;
    while i < chars.len() {
        let c = chars[i];
        let closing = match c {
            '{' => Some('}'),
            '[' => Some(']'),
            '"' | '\'' | '`' => Some(c),
            '(' if skip_next_parens => Some(')'),
            _ => None,
        };
        if let Some(close) = closing {
            skip_next_parens = false;
            i += 1;
            while i < chars.len() && chars[i] != close {
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '$' {
            // A Grafana variable such as $__rate_interval.
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            // A number (including 0.99, 1e3, 5m): never a name.
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let is_call = chars.get(next) == Some(&'(');
            if LABEL_LISTS.contains(&word.as_str()) {
                skip_next_parens = is_call;
            } else if !is_call && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                names.insert(word);
            }
            continue;
        }
        i += 1;
    }
    names
}

/// Every string under an `expr` key, anywhere in the document.
fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// The `expr:` values of a Prometheus rules file (one line, or a `|` block).
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest != "|" {
            out.push(rest.to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let block: Vec<&str> = lines[n + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .copied()
            .collect();
        out.push(block.join("\n"));
    }
    out
}

#[test]
fn promql_name_extraction_skips_labels_functions_and_variables() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{job="x", le=~"0.1"}[$__rate_interval]))) > 0.05 and on (instance) b / ignoring(shard) c_total offset 5m"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["a_bucket", "b", "c_total"]
    );
    assert_eq!(
        metric_names("time() - process_start_time_seconds{x=\"1\"}")
            .into_iter()
            .collect::<Vec<_>>(),
        ["process_start_time_seconds"]
    );
}

#[test]
fn dashboard_and_alerts_name_only_metrics_a_real_scrape_has() {
    let scrape = scrape_after_traffic();
    let known = queryable_names(&scrape);

    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana/signal-fish.json")).expect("dashboard JSON");
    assert_eq!(dashboard["uid"], "signal-fish");
    let mut dashboard_exprs = Vec::new();
    exprs(&dashboard, &mut dashboard_exprs);
    let alert_exprs = rule_exprs(&read("deploy/prometheus/alerts.yml"));
    assert!(dashboard_exprs.len() >= 20, "{dashboard_exprs:?}");
    assert!(alert_exprs.len() >= 8, "{alert_exprs:?}");

    let mut used = BTreeSet::new();
    for (file, expr) in dashboard_exprs
        .iter()
        .map(|e| ("deploy/grafana/signal-fish.json", e))
        .chain(
            alert_exprs
                .iter()
                .map(|e| ("deploy/prometheus/alerts.yml", e)),
        )
    {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{file}: no metric in {expr}");
        for name in names {
            assert!(
                known.contains(&name),
                "{file}: `{name}` (in {expr}) is not in a real scrape"
            );
            used.insert(name);
        }
    }
    // The families an operator reaches for first are all on the dashboard or in an alert.
    for name in [
        "process_open_fds",
        "process_max_fds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
        "signal_fish_build_info",
        "signal_fish_rooms_active",
        "signal_fish_connections_active",
        "signal_fish_game_data_relay_duration_seconds_bucket",
        "signal_fish_websocket_messages_dropped_total",
        "signal_fish_reconnection_events_dropped_total",
        "signal_fish_log_records_dropped_total",
        "signal_fish_draining",
    ] {
        assert!(used.contains(name), "{name} is on no panel and in no alert");
    }
}
