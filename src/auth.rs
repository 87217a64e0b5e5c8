//! The `Authenticate` decision (operations.md §4, protocol.md §4.1, spec decision 2). Pure: the
//! caller passes the config, the request, the shard's limiter and the time, and sends the
//! frames it gets back.

mod limiter;
mod sdk;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::time::Instant;

use subtle::ConstantTimeEq;

use crate::config::{AuthorizedApp, Config};
use crate::protocol::client::Authenticate;
use crate::protocol::server::{Authenticated, AuthenticationError};
use crate::protocol::{ErrorCode, GameDataEncoding, RateLimitInfo, ServerMessage};

pub use limiter::AppRateLimiter;
pub use sdk::{advertised_formats, check_sdk, player_name_rules, protocol_info};

/// Advisory per-minute figure for apps without `rate_limit_per_minute` (and with auth off).
const DEFAULT_PER_MINUTE: u32 = 1000;

/// What to do with an `Authenticate` message.
#[derive(Debug)]
pub enum AuthOutcome {
    /// The connection is authenticated.
    Accepted {
        /// Game-data format negotiated for this connection.
        encoding: GameDataEncoding,
        /// The `app_id` the client authenticated as.
        app_id: String,
        /// Frames to send, in order: `Error(UNSUPPORTED_GAME_DATA_FORMAT)` when the requested
        /// format was refused, then `Authenticated`, then `ProtocolInfo`.
        replies: Vec<ServerMessage>,
    },
    /// The attempt failed.
    Rejected {
        /// The `AuthenticationError` frame to send.
        reply: ServerMessage,
        /// Close the connection after sending (`false` for SDK mismatches: the client may retry
        /// within its auth timeout).
        close: bool,
    },
}

/// Decides an `Authenticate` request.
///
/// With `security.require_websocket_auth` off, every `app_id` is accepted with no further
/// check (no rate limit, secret or SDK rule) and named after the configured app if there is one.
/// With it on, in order: the app must be configured (`InvalidAppId`, close); its
/// `rate_limit_per_minute`, if any, is counted in the window of this (app, client IP) pair
/// (`RateLimitExceeded`, close; a passing attempt keeps its slot even if a later step fails, so
/// wrong secrets use up the sender's window and nobody else's); the secret must match
/// (`InvalidCredentials` with `UNAUTHORIZED`, close; see [`secret_ok`]); the SDK must be
/// compatible (`SDK_VERSION_UNSUPPORTED`, connection stays open).
pub fn authenticate(
    cfg: &Config,
    req: &Authenticate,
    ip: IpAddr,
    limiter: &mut AppRateLimiter,
    now: Instant,
) -> AuthOutcome {
    let app = cfg.security.find_app(&req.app_id);
    if cfg.security.require_websocket_auth {
        let Some(app) = app else {
            return reject("InvalidAppId", ErrorCode::InvalidAppId, true);
        };
        if let Some(limit) = app.rate_limit_per_minute
            && !limiter.try_acquire(ip, &app.app_id, limit, now)
        {
            return reject("RateLimitExceeded", ErrorCode::RateLimitExceeded, true);
        }
        if !secret_ok(app, req.app_secret.as_deref()) {
            return reject("InvalidCredentials", ErrorCode::Unauthorized, true);
        }
        let platform = req.platform.as_deref();
        let sdk_version = req.sdk_version.as_deref();
        if let Err(text) = check_sdk(&cfg.protocol.sdk_compatibility, platform, sdk_version) {
            return reject(text, ErrorCode::SdkVersionUnsupported, false);
        }
    }
    accept(cfg, req, app)
}

/// Builds the success frames.
fn accept(cfg: &Config, req: &Authenticate, app: Option<&AuthorizedApp>) -> AuthOutcome {
    let formats = advertised_formats(cfg);
    let mut replies = Vec::with_capacity(3);
    let encoding = match req.game_data_format {
        None => GameDataEncoding::Json,
        Some(wanted) if formats.contains(&wanted) => wanted,
        Some(wanted) => {
            replies.push(unsupported_format(wanted, &formats));
            GameDataEncoding::Json
        }
    };
    let app_name = app.map_or_else(|| req.app_id.clone(), |a| a.app_name.clone());
    let per_minute = app
        .and_then(|a| a.rate_limit_per_minute)
        .unwrap_or(DEFAULT_PER_MINUTE);
    replies.push(ServerMessage::Authenticated(Authenticated {
        app_name,
        organization: None,
        rate_limits: RateLimitInfo::from_per_minute(per_minute),
    }));
    replies.push(ServerMessage::ProtocolInfo(protocol_info(
        cfg,
        req.platform.as_deref(),
        req.sdk_version.as_deref(),
    )));
    AuthOutcome::Accepted {
        encoding,
        app_id: req.app_id.clone(),
        replies,
    }
}

/// The 0.1.0 fallback notice, format names in their Rust Debug spelling.
fn unsupported_format(wanted: GameDataEncoding, offered: &[GameDataEncoding]) -> ServerMessage {
    let offered: Vec<&str> = offered.iter().map(|f| f.debug_name()).collect();
    ServerMessage::error(
        format!(
            "Requested game data format {} is not supported. Server supports: {}. \
             Falling back to JSON.",
            wanted.debug_name(),
            offered.join(", ")
        ),
        ErrorCode::UnsupportedGameDataFormat,
    )
}

/// Whether the client's secret is acceptable (decision 2). A secret the client sends must
/// equal the app's non-empty `app_secret`; a client that sends none passes, as every 0.1.0
/// client does, unless the app sets `require_secret` (config validation guarantees such an app
/// has a secret). Compared in constant time.
fn secret_ok(app: &AuthorizedApp, sent: Option<&str>) -> bool {
    match (app.app_secret.as_deref().filter(|s| !s.is_empty()), sent) {
        (Some(expected), Some(sent)) => bool::from(expected.as_bytes().ct_eq(sent.as_bytes())),
        (_, None) => !app.require_secret,
        (None, Some(_)) => !app.require_secret,
    }
}

/// An `AuthenticationError` outcome.
fn reject(error: impl Into<String>, code: ErrorCode, close: bool) -> AuthOutcome {
    AuthOutcome::Rejected {
        reply: ServerMessage::AuthenticationError(AuthenticationError {
            error: error.into(),
            error_code: code,
        }),
        close,
    }
}
