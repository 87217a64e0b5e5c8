//! Which records are kept (operations.md §7): `logging.level` when set, and then it alone
//! decides; otherwise `RUST_LOG` in `tracing`'s env-filter syntax
//! (`info,signal_fish_server::conn=warn`); otherwise, or when `RUST_LOG` does not parse, `info`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The filter in force and, when `RUST_LOG` was given but unusable, why it was ignored.
pub struct Chosen {
    pub filter: EnvFilter,
    pub ignored_rust_log: Option<String>,
}

/// The directive for a `logging.level` value: `trace`, `debug`, `info`, `warn`/`warning`,
/// `error`/`err` or `off`, trimmed, ASCII case ignored. `None` for anything else (config
/// validation rejects those before the server starts).
pub fn level_directive(level: &str) -> Option<LevelFilter> {
    let level = level.trim().to_ascii_lowercase();
    Some(match level.as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" | "warning" => LevelFilter::WARN,
        "error" | "err" => LevelFilter::ERROR,
        "off" => LevelFilter::OFF,
        _ => return None,
    })
}

/// Chooses the filter from `logging.level` and the value of `RUST_LOG`.
pub fn choose(level: Option<&str>, rust_log: Option<&str>) -> Chosen {
    let builder = EnvFilter::builder().with_default_directive(LevelFilter::INFO.into());
    if let Some(level) = level.and_then(level_directive) {
        return Chosen {
            filter: EnvFilter::builder()
                .with_default_directive(level.into())
                .parse_lossy(""),
            ignored_rust_log: None,
        };
    }
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => Chosen {
            filter: builder.parse_lossy(""),
            ignored_rust_log: None,
        },
        Some(text) => match builder.parse(text) {
            Ok(filter) => Chosen {
                filter,
                ignored_rust_log: None,
            },
            Err(err) => Chosen {
                filter: builder.parse_lossy(""),
                ignored_rust_log: Some(format!("RUST_LOG `{text}` ignored: {err}")),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(level: Option<&str>, rust_log: Option<&str>) -> String {
        choose(level, rust_log).filter.to_string()
    }

    #[test]
    fn level_names_and_aliases() {
        assert_eq!(level_directive(" Warning "), Some(LevelFilter::WARN));
        assert_eq!(level_directive("ERR"), Some(LevelFilter::ERROR));
        assert_eq!(level_directive("off"), Some(LevelFilter::OFF));
        assert_eq!(level_directive("trace"), Some(LevelFilter::TRACE));
        assert_eq!(level_directive("verbose"), None);
    }

    #[test]
    fn level_wins_over_rust_log() {
        assert_eq!(shown(Some("debug"), Some("trace")), "debug");
        assert_eq!(shown(Some("off"), Some("info")), "off");
    }

    #[test]
    fn rust_log_uses_env_filter_syntax() {
        let chosen = choose(None, Some("warn,signal_fish_server::conn=debug"));
        assert!(chosen.ignored_rust_log.is_none());
        let text = chosen.filter.to_string();
        assert!(text.contains("signal_fish_server::conn=debug"), "{text}");
        assert!(text.contains("warn"), "{text}");
        assert_eq!(
            chosen.filter.max_level_hint(),
            Some(LevelFilter::DEBUG),
            "the most verbose directive sets the global maximum"
        );
    }

    #[test]
    fn no_or_bad_rust_log_means_info() {
        assert_eq!(shown(None, None), "info");
        assert_eq!(shown(None, Some("  ")), "info");
        let bad = choose(None, Some("signal_fish_server=loud"));
        assert_eq!(bad.filter.to_string(), "info");
        let why = bad.ignored_rust_log.expect("says why");
        assert!(why.contains("signal_fish_server=loud"), "{why}");
    }
}
