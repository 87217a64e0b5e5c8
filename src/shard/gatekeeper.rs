//! Admission, decided on the shard that owns the client's IP: connection slots and join
//! quotas (decision 10), and `Authenticate`, whose per-app windows are counted per (app, IP)
//! (decision 18).
//!
//! A connection asks for its IP's slot during its handshake (`admit_ip`), as soon as its
//! client address is known: at accept for a direct peer, after the PROXY header or the request
//! head behind a trusted proxy (decision 18: sockets in their handshake count too). The answer
//! is an [`IpSlot`] that gives itself back when dropped, so every way a connection can end
//! returns its place.

use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

use super::mailbox::{Control, Mailbox, Outgoing};
use super::messages::{AdmissionMsg, OwnerCmd, ShardMsg};
use super::{Shard, text_frame};
use crate::auth::{AuthOutcome, authenticate};
use crate::limits::{Admission, JoinKind};
use crate::log::events;
use crate::protocol::server::ReconnectionFailed;
use crate::protocol::{ErrorCode, ServerMessage, client};
use crate::room::{Rejection, SessionAddr};

use super::routing::ip_owner;

/// A connection's place in its IP's count on the IP's owner shard, given back when dropped.
pub struct IpSlot {
    shard: Rc<Shard>,
    ip: IpAddr,
    /// A refusal place (see `limits::REFUSALS_PER_IP`) rather than a connection slot.
    refusal: bool,
}

impl IpSlot {
    /// The client address this place was taken for.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let ip = self.ip;
        let msg = if self.refusal {
            AdmissionMsg::ReleaseRefusal { ip }
        } else {
            AdmissionMsg::ReleaseConnection { ip }
        };
        self.shard
            .send(ip_owner(&ip, self.shard.count), ShardMsg::Admission(msg));
    }
}

/// The IP owner's answer to [`Shard::admit_ip`].
pub enum IpVerdict {
    /// Within `security.max_connections_per_ip`.
    Admitted(IpSlot),
    /// The IP holds `current` connections, its cap. With a place, the client may be told so
    /// (briefly); without, the socket is to be closed at once.
    Refused {
        current: usize,
        place: Option<IpSlot>,
    },
}

/// Removes a handshake's waiting mailbox when its wait ends, and gives back whatever an answer
/// that arrived but was never read took (the handshake timed out at that very moment).
struct Waiting {
    shard: Rc<Shard>,
    slot: u64,
    mailbox: Rc<Mailbox>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.shard.waiting.borrow_mut().remove(&self.slot);
        while let Some(item) = self.mailbox.pop() {
            if let Outgoing::Control(control) = item {
                self.shard.release_unclaimed(control);
            }
        }
    }
}

impl Shard {
    /// Asks `ip`'s owner shard for a connection slot and waits for the answer. Dropping the
    /// future gives back whatever the answer took, whenever it arrives.
    pub async fn admit_ip(self: &Rc<Self>, ip: IpAddr) -> IpVerdict {
        let slot = self.take_slot();
        let mailbox = Rc::new(Mailbox::new(1, Instant::now()));
        self.waiting.borrow_mut().insert(slot, mailbox.clone());
        let waiting = Waiting {
            shard: self.clone(),
            slot,
            mailbox,
        };
        let from = SessionAddr {
            shard: self.index,
            slot,
        };
        self.send(
            ip_owner(&ip, self.count),
            ShardMsg::Admission(AdmissionMsg::AdmitConnection { ip, from }),
        );
        loop {
            while let Some(item) = waiting.mailbox.pop() {
                let slot = |refusal| IpSlot {
                    shard: self.clone(),
                    ip,
                    refusal,
                };
                match item {
                    Outgoing::Control(Control::Admitted { .. }) => {
                        return IpVerdict::Admitted(slot(false));
                    }
                    Outgoing::Control(Control::ConnectionRefused {
                        current, answer, ..
                    }) => {
                        return IpVerdict::Refused {
                            current,
                            place: answer.then(|| slot(true)),
                        };
                    }
                    // Nothing else is addressed to a waiting handshake.
                    _ => {}
                }
            }
            waiting.mailbox.signal.wait().await;
        }
    }

    /// Handles admission work for the IPs this shard owns.
    pub(super) fn admission(&self, msg: AdmissionMsg) {
        match msg {
            AdmissionMsg::Authenticate { req, ip, from } => self.authenticate(*req, ip, from),
            AdmissionMsg::AdmitConnection { ip, from } => self.admit_connection(ip, from),
            AdmissionMsg::ReleaseConnection { ip } => self.ips.borrow_mut().release(ip),
            AdmissionMsg::ReleaseRefusal { ip } => self.ips.borrow_mut().release_refusal(ip),
            AdmissionMsg::JoinQuota {
                ip,
                kind,
                from,
                next,
                then,
            } => self.join_quota(ip, kind, from, next, *then),
        }
    }

    /// On the IP's owner: decide an `Authenticate` from `ip`, so the (app, IP) window is one
    /// window for the whole process.
    fn authenticate(&self, req: client::Authenticate, ip: IpAddr, from: SessionAddr) {
        let outcome = authenticate(
            &self.config,
            &req,
            ip,
            &mut self.app_limiter.borrow_mut(),
            Instant::now(),
        );
        match outcome {
            AuthOutcome::Accepted {
                encoding,
                replies,
                app_id,
            } => {
                events::authenticated(
                    ip,
                    &app_id,
                    req.sdk_version.as_deref(),
                    req.platform.as_deref(),
                );
                let replies = replies.iter().map(text_frame).collect();
                self.control(from, Control::Authenticated { encoding, replies });
            }
            AuthOutcome::Rejected { reply, close } => {
                if let ServerMessage::AuthenticationError(err) = &reply {
                    events::auth_failed(ip, &req.app_id, err.error_code, &err.error);
                }
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
    fn admit_connection(&self, ip: IpAddr, from: SessionAddr) {
        let limit = self.config.security.max_connections_per_ip;
        let verdict = self.ips.borrow_mut().admit(ip, limit, Instant::now());
        match verdict {
            Admission::Admitted => self.control(from, Control::Admitted { ip }),
            Admission::Refused { current, answer } => {
                self.metrics.count(|c| c.connection_errors += 1);
                let why = "too many connections from this IP";
                events::limit_reached(Some(ip), "security.max_connections_per_ip", why);
                self.control(
                    from,
                    Control::ConnectionRefused {
                        ip,
                        current,
                        answer,
                    },
                );
            }
        }
    }

    /// On the IP's owner: charge a valid `JoinRoom`, `JoinAsSpectator` or `Reconnect` to the IP's
    /// quota
    /// and pass it on, or refuse it with the request's own failure message.
    fn join_quota(&self, ip: IpAddr, kind: JoinKind, from: SessionAddr, next: u32, then: OwnerCmd) {
        let verdict =
            self.ips
                .borrow_mut()
                .take_quota(ip, kind, &self.config.rate_limit, Instant::now());
        if let Err(exceeded) = &verdict {
            events::join_quota_exceeded(ip, kind, &exceeded.reason);
        }
        match verdict {
            Ok(()) => self.send(next, ShardMsg::Owner(then)),
            Err(exceeded) if kind == JoinKind::Spectate => {
                self.metrics.count(|c| c.rate_limit_rejections += 1);
                let reply = Rejection::new(&exceeded.reason, ErrorCode::RateLimitExceeded)
                    .into_spectator_join_failed();
                self.deliver(from, text_frame(&reply));
                self.control(from, Control::SpectateSettled);
            }
            Err(exceeded) if kind == JoinKind::Reconnect => {
                self.metrics.count(|c| c.rate_limit_rejections += 1);
                let reply = ServerMessage::ReconnectionFailed(ReconnectionFailed {
                    reason: exceeded.reason,
                    error_code: ErrorCode::RateLimitExceeded,
                });
                self.refuse_join(from, reply);
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
