//! Admission, decided on the shard that owns the client's IP: connection slots and join
//! quotas (decision 10), and `Authenticate`, whose per-app windows are counted per (app, IP)
//! (decision 18).

use std::net::IpAddr;
use std::time::Instant;

use super::messages::ShardMsg;
use super::{Shard, text_frame};
use crate::auth::{AuthOutcome, authenticate};
use crate::limits::JoinKind;
use crate::protocol::{ErrorCode, ServerMessage, client};
use crate::room::{Rejection, SessionAddr};
use crate::session::mailbox::Control;

impl Shard {
    /// On the IP's owner: decide an `Authenticate` from `ip`, so the (app, IP) window is one
    /// window for the whole process.
    pub(super) fn authenticate(&self, req: client::Authenticate, ip: IpAddr, from: SessionAddr) {
        let outcome = authenticate(
            &self.config,
            &req,
            ip,
            &mut self.app_limiter.borrow_mut(),
            Instant::now(),
        );
        match outcome {
            AuthOutcome::Accepted {
                encoding, replies, ..
            } => {
                let replies = replies.iter().map(text_frame).collect();
                self.control(from, Control::Authenticated { encoding, replies });
            }
            AuthOutcome::Rejected { reply, close } => {
                if let ServerMessage::AuthenticationError(err) = &reply
                    && err.error_code == ErrorCode::RateLimitExceeded
                {
                    self.metrics.count(|c| c.rate_limit_rejections += 1);
                }
                self.deliver(from, text_frame(&reply));
                self.control(from, Control::AuthRefused { close });
            }
        }
    }

    /// On the IP's owner: admit a new connection under `security.max_connections_per_ip`.
    pub(super) fn admit_connection(&self, ip: IpAddr, from: SessionAddr) {
        let limit = self.config.security.max_connections_per_ip;
        let verdict = self.ips.borrow_mut().admit(ip, limit, Instant::now());
        match verdict {
            Ok(()) => self.control(from, Control::Admitted { ip }),
            Err(current) => {
                self.metrics.count(|c| c.connection_errors += 1);
                self.control(from, Control::ConnectionRefused { current });
            }
        }
    }

    /// On the IP's owner: charge a valid `JoinRoom` or `JoinAsSpectator` to the IP's quota
    /// and pass it on, or refuse it with the request's own failure message.
    pub(super) fn join_quota(
        &self,
        ip: IpAddr,
        kind: JoinKind,
        from: SessionAddr,
        next: u32,
        then: ShardMsg,
    ) {
        let verdict =
            self.ips
                .borrow_mut()
                .take_quota(ip, kind, &self.config.rate_limit, Instant::now());
        match verdict {
            Ok(()) => self.send(next, then),
            Err(exceeded) if kind == JoinKind::Spectate => {
                self.metrics.count(|c| c.rate_limit_rejections += 1);
                let reply = Rejection::new(&exceeded.reason, ErrorCode::RateLimitExceeded)
                    .into_spectator_join_failed();
                self.deliver(from, text_frame(&reply));
                self.control(from, Control::SpectateSettled);
            }
            Err(exceeded) => {
                self.metrics.count(|c| c.rate_limit_rejections += 1);
                self.refuse_join(
                    from,
                    ServerMessage::join_failed(exceeded.reason, ErrorCode::RateLimitExceeded),
                );
            }
        }
    }
}
