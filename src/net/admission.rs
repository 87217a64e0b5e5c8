//! The gate every accepted socket passes before it may become a WebSocket (decisions 16, 18):
//! a place under `security.max_connections`, the PROXY header of a trusted proxy, the
//! client's real address, and a slot under `security.max_connections_per_ip` from the IP's
//! owner shard.
//!
//! Steps, all inside the handshake deadline:
//! 1. [`Gate::open`], before anything is read: the process-wide place (past the cap, a small
//!    overflow budget may still ask for health and metrics; past that the socket is closed);
//!    the PROXY header when `security.proxy_protocol` is on (required from trusted peers,
//!    refused from others); and, for a client whose address is already known (a direct peer,
//!    or the source a PROXY header named), its per-IP slot. A direct peer is thus counted from
//!    accept, so silent sockets cannot pile up: past the cap an IP gets a few refusals that
//!    are answered within [`REFUSAL_DEADLINE`], and further sockets are closed at once.
//! 2. The request head is read by the caller.
//! 3. [`Gate::websocket`], for an upgrade: behind a trusted proxy without a PROXY header, the
//!    address comes from the forwarding headers and the per-IP slot is asked for now.
//!    Health and metrics requests need no per-IP slot of their own.

use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use futures_lite::{AsyncRead, AsyncWrite, StreamExt};
use glommio::net::TcpStream;

use super::capacity::{Slot, Ticket};
use super::http::RequestHead;
use super::proxy_header::{self, Peeked};
use crate::log::events;
use crate::protocol::{ErrorCode, ServerMessage};
use crate::protocol::{Frame, close_code};
use crate::shard::{IpSlot, IpVerdict, Shard, text_frame};

/// How long a new connection may take from accept to a complete request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// The same for a socket that is only answered and closed: one past the process-wide cap, or
/// one of an IP's refusals past its per-IP cap. Short, so these places turn over quickly.
pub const REFUSAL_DEADLINE: Duration = Duration::from_secs(2);
/// How long a refused WebSocket may take to accept our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A socket that passed step 1.
pub struct Gate {
    /// Its place under `security.max_connections` (or in the overflow budget).
    _capacity: Slot,
    /// Past the process-wide cap: health and metrics only.
    overflow: bool,
    /// The TCP peer, IPv4-mapped addresses unmapped.
    peer: IpAddr,
    /// Whether the TCP peer is a trusted proxy.
    peer_trusted: bool,
    /// The client as known so far: the peer, or the source its PROXY header named.
    client: IpAddr,
    /// The per-IP verdict, once asked for.
    verdict: Option<IpVerdict>,
    /// When the request head must be complete.
    deadline: Instant,
}

/// What an upgrade request gets.
pub enum Upgrade {
    /// Serve it: the connection holds this per-IP slot.
    Admitted(IpSlot),
    /// The IP is at its cap: upgrade, say `TOO_MANY_CONNECTIONS`, close (0.1.0's answer).
    TooMany { current: usize, place: IpSlot },
    /// The process is at `security.max_connections`: `503`.
    Unavailable,
    /// Close without a word (the IP used up its refusals, or the deadline passed).
    Close,
}

impl Gate {
    /// Step 1. `None`: close the socket now.
    pub async fn open(
        shard: &Rc<Shard>,
        stream: &mut TcpStream,
        accepted: Instant,
    ) -> Option<Gate> {
        let (capacity, overflow) = match shard.edge.capacity.admit() {
            Ticket::Normal(slot) => (slot, false),
            Ticket::Overflow(slot) => (slot, true),
            Ticket::Full => {
                shard.metrics.count(|c| c.connection_errors += 1);
                events::capacity_reached(|| stream.peer_addr().ok().map(|a| a.ip().to_canonical()));
                return None;
            }
        };
        let peer = stream.peer_addr().ok()?.ip().to_canonical();
        let peer_trusted = shard.edge.is_trusted(peer);
        let mut deadline = accepted
            + if overflow {
                REFUSAL_DEADLINE
            } else {
                HEAD_DEADLINE
            };
        let client = if shard.edge.proxy_protocol && peer_trusted {
            within(deadline, proxy_source(stream, peer)).await??
        } else {
            peer
        };
        let mut gate = Gate {
            _capacity: capacity,
            overflow,
            peer,
            peer_trusted,
            client,
            verdict: None,
            deadline,
        };
        // Overflow sockets only ever get health and metrics answers; the overflow budget
        // bounds them, so they take no per-IP slot.
        if !overflow && !shard.edge.is_trusted(client) {
            let verdict = within(deadline, shard.admit_ip(client)).await?;
            if let IpVerdict::Refused { place: None, .. } = verdict {
                return None;
            }
            if let IpVerdict::Refused { .. } = verdict {
                deadline = deadline.min(Instant::now() + REFUSAL_DEADLINE);
            }
            gate.verdict = Some(verdict);
            gate.deadline = deadline;
        }
        // Only now, with the socket counted, wait for an untrusted peer's first bytes: one
        // that tries to name its own address with a PROXY header is refused.
        if shard.edge.proxy_protocol && !peer_trusted {
            match within(deadline, proxy_header::peek_kind(stream)).await? {
                Ok(Peeked::NotProxy) => {}
                Ok(_) => {
                    events::connection_refused(peer, "PROXY header from an untrusted peer");
                    return None;
                }
                Err(_) => return None,
            }
        }
        Some(gate)
    }

    /// When the request head must be complete.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The client's address as known so far (the real one once `websocket` resolved it).
    pub fn client(&self) -> IpAddr {
        self.client
    }

    /// The TCP peer (not the client behind it).
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// Whether the TCP peer is a trusted proxy, whose headers may be believed.
    pub fn peer_is_trusted(&self) -> bool {
        self.peer_trusted
    }

    /// Step 3, for a valid upgrade request.
    pub async fn websocket(&mut self, shard: &Rc<Shard>, head: &RequestHead) -> Upgrade {
        if self.overflow {
            shard.metrics.count(|c| c.connection_errors += 1);
            return Upgrade::Unavailable;
        }
        let verdict = match self.verdict.take() {
            Some(verdict) => verdict,
            None => {
                let headers = head.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
                self.client = shard.edge.trusted.resolve(self.client, headers);
                match within(self.deadline, shard.admit_ip(self.client)).await {
                    Some(verdict) => verdict,
                    None => return Upgrade::Close,
                }
            }
        };
        match verdict {
            IpVerdict::Admitted(slot) => Upgrade::Admitted(slot),
            IpVerdict::Refused {
                current,
                place: Some(place),
            } => Upgrade::TooMany { current, place },
            IpVerdict::Refused { place: None, .. } => Upgrade::Close,
        }
    }
}

/// The client address a trusted peer's PROXY header names, when `security.proxy_protocol` is
/// on. `None` if it sent none or a malformed one: a misconfigured proxy, refused rather than
/// have every client share the proxy's address.
async fn proxy_source(stream: &mut TcpStream, peer: IpAddr) -> Option<IpAddr> {
    match proxy_header::read(stream).await {
        Ok(source) => Some(source.unwrap_or(peer)),
        Err(_) => None,
    }
}

/// Runs `fut` until `deadline`; `None` if it passed first.
async fn within<T>(deadline: Instant, fut: impl Future<Output = T>) -> Option<T> {
    let left = deadline.saturating_duration_since(Instant::now());
    glommio::timer::timeout(left, async { Ok(fut.await) })
        .await
        .ok()
}

/// Answers an upgraded WebSocket whose IP is at its cap as 0.1.0 did: one
/// `Error{TOO_MANY_CONNECTIONS}` frame, then a close (1008). `leftover` holds bytes read past
/// the request head. The refusal place is held until the socket is done.
pub async fn refuse_websocket<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    leftover: Vec<u8>,
    current: usize,
    limit: usize,
    place: IpSlot,
) {
    let mut ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, None).await;
    let Frame::Text(text) = text_frame(&ServerMessage::error(
        format!("Too many connections from your IP ({current}/{limit})"),
        ErrorCode::TooManyConnections,
    )) else {
        return;
    };
    let frame = CloseFrame {
        code: CloseCode::from(close_code::POLICY_VIOLATION),
        reason: "too many connections".into(),
    };
    let _ = glommio::timer::timeout(CLOSE_TIMEOUT, async {
        if ws.send(Message::Text(text)).await.is_ok() && ws.close(Some(frame)).await.is_ok() {
            // Let the peer answer the close so the socket ends cleanly.
            while let Some(Ok(_)) = ws.next().await {}
        }
        Ok(())
    })
    .await;
    drop(place);
}
