//! TEMPORARY STUB: replaced by the real auth from branch wt-config.
#![allow(unused_variables, dead_code)]
use crate::config::Config;
use crate::protocol::{client::Authenticate, GameDataEncoding, ServerMessage};
#[derive(Default)]
pub struct AppRateLimiter;
pub enum AuthOutcome {
    Accepted { encoding: GameDataEncoding, app_id: String, replies: Vec<ServerMessage> },
    Rejected { reply: ServerMessage, close: bool },
}
pub fn authenticate(cfg: &Config, req: &Authenticate, limiter: &mut AppRateLimiter, now: std::time::Instant) -> AuthOutcome {
    todo!()
}
