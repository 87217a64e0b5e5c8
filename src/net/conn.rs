//! The connection task: one task per TCP connection that answers HTTP, upgrades WebSockets and
//! then alternates between reading frames and writing everything its mailbox holds, with one
//! flush per wake-up.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::{self, Message};
use futures_lite::{AsyncWriteExt, StreamExt};
use futures_rustls::TlsAcceptor;
use futures_util::SinkExt;
use glommio::net::TcpStream;

use super::admission::{Gate, Upgrade, refuse_websocket};
use super::counted::Counted;
use super::flush_window::{FlushWindow, Pending};
use super::http::{
    RequestHead, Route, check_upgrade, read_head, route, text_response, upgrade_response,
};
use super::stream::Stream;
use super::token_binding::{self, Binding};
use crate::log::events;
use crate::protocol::depth::{MAX_NESTING_DEPTH, TOO_DEEP_MESSAGE, json_too_deep};
use crate::protocol::{ErrorCode, Frame, ServerMessage, close_code};
use crate::session::{Session, Verdict};
use crate::shard::drain::LiveConnection;
use crate::shard::mailbox::{Mailbox, Outgoing};
use crate::shard::{IpSlot, Shard, text_frame};

/// Bytes tungstenite reads at a time (see [`ws_config`]).
const READ_BUFFER: usize = 1024;

/// How long a closing connection may take to accept our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// tungstenite's write buffer; also the most a flush window lets wait (a burst never waits).
const WRITE_BUFFER_SIZE: usize = 64 << 10;

/// Serves one accepted TCP connection to the end, over TLS when `tls` is given.
pub async fn serve(shard: Rc<Shard>, tcp: TcpStream, tls: Option<TlsAcceptor>) {
    // Lets a stopping shard wait until this task, socket and all, is done.
    let _live = LiveConnection::new(&shard);
    // The handshake's state (TLS, request head, metrics answers) is large and short-lived:
    // boxed, so this task's future, kept for the connection's whole life, only holds the
    // WebSocket phase (half the size; see `footprint.rs` and tuning.md).
    let Some(Upgraded {
        ws,
        sent,
        ip_slot,
        binding,
        gate: _gate,
    }) = Box::pin(open(&shard, tcp, tls)).await
    else {
        return;
    };
    run_websocket(shard, ws, sent, ip_slot, binding).await;
}

/// A connection upgraded to WebSocket, ready for its session.
struct Upgraded {
    ws: WebSocketStream<Counted<Stream>>,
    sent: Rc<Cell<u64>>,
    ip_slot: IpSlot,
    binding: Option<Binding>,
    /// Holds the connection's place under `security.max_connections` until it ends.
    gate: Gate,
}

/// Answers HTTP on an accepted connection until it is upgraded to WebSocket (`Some`) or done.
async fn open(shard: &Rc<Shard>, mut tcp: TcpStream, tls: Option<TlsAcceptor>) -> Option<Upgraded> {
    // Connection cap, PROXY header, per-IP slot (see `admission`), before any TLS byte.
    let mut gate = Gate::open(shard, &mut tcp, Instant::now()).await?;
    // Forwarded fingerprint headers are believed only from trusted proxies.
    let peer_is_trusted_proxy = gate.peer_is_trusted();
    // The PROXY header, the TLS handshake and the request head share one deadline from
    // accept: a client that stalls in any of them is cut (10 s; 2 s for a refused socket).
    let head_time = gate.deadline().saturating_duration_since(Instant::now());
    let opened = glommio::timer::timeout(head_time, async {
        let mut stream = match Stream::accept(tcp, tls.as_ref()).await {
            Ok(stream) => stream,
            Err(_) => {
                // A failed TLS handshake (not TLS, bad or missing client certificate): the
                // client already got rustls's alert, so just close.
                shard.metrics.count(|c| c.connection_errors += 1);
                return Ok(None);
            }
        };
        let head = read_head(&mut stream).await;
        Ok(Some((stream, head)))
    })
    .await;
    let Ok(Some((mut stream, head))) = opened else {
        return None;
    };
    let (head, leftover) = match head {
        Ok(parsed) => parsed,
        Err(super::http::HeadError::Malformed) => {
            let mut response = text_response(400, "Bad Request", "Bad Request", false);
            shard.cors.decorate(&mut response, None);
            let _ = stream.write_all(&response).await;
            let _ = stream.close().await;
            return None;
        }
        Err(super::http::HeadError::Io) => return None,
    };
    let head_only = head.method == "HEAD";
    let origin = head.header("origin");
    let mut binding = None;
    let mut ip_slot: Option<IpSlot> = None;
    let mut response = match route(&head.path) {
        // Any OPTIONS request is a CORS preflight, whatever the path (operations.md §3.4).
        _ if head.method == "OPTIONS" => shard.cors.preflight(origin),
        // Draining (decision 20): tell load balancers to stop sending players here.
        Route::Health if (head.method == "GET" || head_only) && shard.drain.is_draining() => {
            text_response(503, "Service Unavailable", "Draining", head_only)
        }
        Route::Health if head.method == "GET" || head_only => {
            text_response(200, "OK", "OK", head_only)
        }
        Route::Health => text_response(405, "Method Not Allowed", "", false),
        Route::NotFound => text_response(404, "Not Found", "Not Found", head_only),
        route @ (Route::Metrics | Route::MetricsProm) => {
            super::metrics::respond(shard, &head, route).await
        }
        Route::WebSocket if shard.drain.is_draining() => {
            text_response(503, "Service Unavailable", "Server is draining", head_only)
        }
        Route::WebSocket => match upgrade(shard, &stream, &head, peer_is_trusted_proxy) {
            Ok((response, bound)) => match gate.websocket(shard, &head).await {
                Upgrade::Admitted(slot) => {
                    ip_slot = Some(slot);
                    binding = bound;
                    response
                }
                Upgrade::TooMany { current, place } => {
                    let sent =
                        stream.write_all(&response).await.is_ok() && stream.flush().await.is_ok();
                    if sent {
                        let limit = shard.config.security.max_connections_per_ip;
                        refuse_websocket(stream, leftover, current, limit, place).await;
                    }
                    return None;
                }
                Upgrade::Unavailable => {
                    events::limit_reached(
                        Some(gate.client()),
                        "security.max_connections",
                        "server at connection capacity",
                    );
                    text_response(
                        503,
                        "Service Unavailable",
                        "Server at connection capacity",
                        head_only,
                    )
                }
                Upgrade::Close => return None,
            },
            Err((status, reason, body)) => text_response(status, reason, body, head_only),
        },
    };
    let upgraded = response.starts_with(b"HTTP/1.1 101");
    if !upgraded && head.method != "OPTIONS" {
        shard.cors.decorate(&mut response, origin);
    }
    // Flush: over TLS the response may otherwise wait in rustls's buffer.
    let sent = stream.write_all(&response).await.is_ok() && stream.flush().await.is_ok();
    let ip_slot = match ip_slot {
        Some(slot) if sent && upgraded => slot,
        _ => {
            let _ = stream.close().await;
            return None;
        }
    };
    // Counts what the socket takes, so a drop knows which frames left whole (decision 3).
    let sent = Rc::new(Cell::new(0));
    let ws = WebSocketStream::from_partially_read(
        Counted::new(stream, sent.clone()),
        leftover,
        Role::Server,
        Some(ws_config(shard.config.security.max_message_size)),
    )
    .await;
    Some(Upgraded {
        ws,
        sent,
        ip_slot,
        binding,
        gate,
    })
}

/// The answer to a WebSocket upgrade request: the 101 (naming the token-binding subprotocol
/// whenever the connection is bound) and the binding, or a refusal.
fn upgrade(
    shard: &Shard,
    stream: &Stream,
    head: &RequestHead,
    peer_is_trusted_proxy: bool,
) -> Result<(Vec<u8>, Option<Binding>), token_binding::Refusal> {
    let key = check_upgrade(head)?;
    let config = &shard.config.security.transport.token_binding;
    if !config.enabled {
        return Ok((upgrade_response(key, shard.index, None), None));
    }
    let fingerprint =
        token_binding::client_fingerprint(stream.client_fingerprint(), head, peer_is_trusted_proxy);
    let binding = token_binding::negotiate(config, head, fingerprint)?;
    let echo = binding.as_ref().map(Binding::subprotocol);
    Ok((upgrade_response(key, shard.index, echo), binding))
}

/// A text frame of a bound connection: its proof is checked, and only the message without the
/// proof reaches the session.
fn on_bound_text(shard: &Shard, session: &mut Session, binding: &Binding, text: &str) -> Verdict {
    // The nesting limit holds before the proof is parsed, with the same reply as unbound.
    if json_too_deep(text.as_bytes(), MAX_NESTING_DEPTH) {
        shard.metrics.count(|c| c.validation_errors += 1);
        session.push_frame(text_frame(&ServerMessage::error(
            TOO_DEEP_MESSAGE,
            ErrorCode::InvalidInput,
        )));
        return Verdict::Continue;
    }
    match binding.verify(text) {
        Ok(canonical) => session.on_text(&canonical),
        Err(violation) => {
            shard.metrics.count(|c| c.validation_errors += 1);
            session.push_frame(text_frame(&ServerMessage::error(
                violation.message(),
                violation.error_code(),
            )));
            if violation.disconnects() {
                Verdict::Close {
                    code: close_code::POLICY_VIOLATION,
                    reason: "token binding violation",
                }
            } else {
                Verdict::Continue
            }
        }
    }
}

/// Transport limits: frames are buffered until our one flush per wake-up; nothing larger than
/// `max_message_size` is ever buffered. The read buffer is small because every connection keeps
/// it for life, idle or not (tungstenite's 128 KiB default alone would cost ~137 KB per idle
/// connection; 4 KiB was 40% of an idle connection, tuning.md): 1 KiB still takes a relay frame
/// in one read, and a larger message grows the buffer to its size, read 1 KiB at a time.
fn ws_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER_SIZE)
        .max_write_buffer_size((4 * max_message_size).max(1 << 20))
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// What the flush window needs to know about the queue: anything but frames, or a connection
/// about to close, is written at once.
fn pending(mailbox: &Mailbox, verdict: Verdict) -> Pending {
    let (frames, bytes) = mailbox.queued();
    Pending {
        frames,
        bytes,
        urgent: verdict != Verdict::Continue
            || mailbox.has_control()
            || mailbox.overflowed()
            || mailbox.close_requested().is_some(),
    }
}

/// New mail, or the end of the open flush window.
async fn mail_or_window(mailbox: &Mailbox, window: &mut FlushWindow) {
    futures_lite::future::or(mailbox.signal.wait(), window.expired()).await;
}

enum Wake {
    Inbound(Option<Result<Message, tungstenite::Error>>),
    Mail,
}

/// Writes every queued frame (applying queued controls on the way) and flushes once. Frames
/// queued after a decision to close still go out: they usually explain the close. `Err` means
/// the socket failed.
async fn write_queued(
    ws: &mut WebSocketStream<Counted<Stream>>,
    mailbox: &Mailbox,
    session: &mut Session,
    verdict: &mut Verdict,
) -> Result<Option<Verdict>, ()> {
    let mut wrote = false;
    while let Some(item) = mailbox.pop() {
        let message = match item {
            Outgoing::Frame(Frame::Text(text)) => Message::Text(text),
            Outgoing::Frame(Frame::Binary(bytes)) => Message::Binary(bytes),
            Outgoing::Control(control) => {
                if *verdict == Verdict::Continue {
                    *verdict = session.on_control(control);
                }
                continue;
            }
        };
        // Should this write be abandoned (a slow client) or fail, the frame counts as dropped.
        mailbox.set_in_transit(true);
        mailbox.feeding(wire_len(&message));
        ws.feed(message).await.map_err(|_| ())?;
        mailbox.set_in_transit(false);
        wrote = true;
    }
    if wrote {
        ws.flush().await.map_err(|_| ())?;
        // Everything fed left whole: settle the batch's room events at once.
        mailbox.flushed();
    }
    Ok(None)
}

/// Bytes a server frame (unmasked) takes on the wire: header, extended length, payload.
fn wire_len(message: &Message) -> usize {
    let payload = message.len();
    let extended = match payload {
        0..=125 => 0,
        126..=65535 => 2,
        _ => 8,
    };
    2 + extended + payload
}

pub(crate) async fn run_websocket(
    shard: Rc<Shard>,
    mut ws: WebSocketStream<Counted<Stream>>,
    sent: Rc<Cell<u64>>,
    ip_slot: IpSlot,
    binding: Option<Binding>,
) {
    let now = Instant::now();
    let (addr, mailbox) = shard.register(now);
    mailbox.count_transport(sent);
    let mut session = Session::new(shard.clone(), addr, mailbox.clone(), ip_slot, now);
    events::connection_opened(session.ip(), addr.slot);
    // Why the connection ended when the server did not close it (for the log).
    let mut ended_by = "connection lost";
    let mut verdict = Verdict::Continue;
    // Opt-in (`websocket.max_flush_delay_ms`): frames may wait a little to share a write.
    let mut window = FlushWindow::new(
        Duration::from_millis(shard.config.websocket.max_flush_delay_ms),
        WRITE_BUFFER_SIZE,
        mailbox.limit(),
    );
    let closing = loop {
        let holding = window.hold(|| pending(&mailbox, verdict));
        // While the window is open, the frames that keep coming need not wake this task: its
        // timer will (or reaching the size that ends a window early).
        mailbox.quiet_wakes_below(if holding { WRITE_BUFFER_SIZE } else { 0 });
        // Write everything queued and flush once, raced against the client being too slow
        // (its queue overflowing while the socket takes nothing) or a close being requested:
        // a client that stops reading can wedge neither the write nor the flush.
        let written = if holding {
            Ok(None)
        } else {
            window.written();
            futures_lite::future::or(
                write_queued(&mut ws, &mailbox, &mut session, &mut verdict),
                async {
                    // Polled only when the write could not complete at once: the socket is full.
                    mailbox.flush_blocked.set(true);
                    loop {
                        if mailbox.overflowed() {
                            return Ok(Some(Verdict::Close {
                                code: close_code::POLICY_VIOLATION,
                                reason: events::SLOW_CONSUMER,
                            }));
                        }
                        if let Some((code, reason)) = mailbox.close_requested() {
                            return Ok(Some(Verdict::Close { code, reason }));
                        }
                        mailbox.signal.wait().await;
                    }
                },
            )
            .await
        };
        mailbox.flush_blocked.set(false);
        match written {
            Err(()) => break None,
            Ok(Some(stuck)) => verdict = stuck,
            Ok(None) => {}
        }
        if mailbox.overflowed() {
            verdict = Verdict::Close {
                code: close_code::POLICY_VIOLATION,
                reason: events::SLOW_CONSUMER,
            };
        }
        if let Verdict::Close { code, reason } = verdict {
            break Some((code, reason));
        }
        // Mail that arrived while the write was racing may have consumed its wake-up.
        if !holding && !mailbox.is_empty() {
            continue;
        }
        // Wait for a frame or for mail. While a join or leave is settling, only mail.
        let wake = if session.reading_paused() {
            mail_or_window(&mailbox, &mut window).await;
            Wake::Mail
        } else {
            futures_lite::future::or(async { Wake::Inbound(ws.next().await) }, async {
                mail_or_window(&mailbox, &mut window).await;
                Wake::Mail
            })
            .await
        };
        let Wake::Inbound(inbound) = wake else {
            continue;
        };
        mailbox.last_seen.set(Instant::now());
        let inbound_verdict = match inbound {
            Some(Ok(Message::Text(text))) => match &binding {
                None => session.on_text(text.as_str()),
                Some(binding) => on_bound_text(&shard, &mut session, binding, text.as_str()),
            },
            Some(Ok(Message::Binary(data))) => session.on_binary(data),
            Some(Ok(Message::Pong(_))) => {
                session.on_ws_pong();
                Verdict::Continue
            }
            Some(Ok(Message::Ping(payload))) => {
                // The transport answers with a Pong of its own, ahead of our next frames.
                mailbox.feeding_untracked(wire_len(&Message::Pong(payload)));
                Verdict::Continue
            }
            Some(Ok(Message::Frame(_))) => Verdict::Continue,
            Some(Ok(Message::Close(_))) => {
                ended_by = "client closed";
                // tungstenite queued the answering close frame; send it so the client sees a
                // clean closing handshake.
                // Boxed, like the close below: rare states kept out of the long-lived future.
                let _ = Box::pin(glommio::timer::timeout(CLOSE_TIMEOUT, async {
                    let _ = ws.flush().await;
                    Ok(())
                }))
                .await;
                break None;
            }
            None => break None,
            Some(Err(tungstenite::Error::Capacity(
                tungstenite::error::CapacityError::MessageTooLong { size, max_size },
            ))) => {
                shard.metrics.count(|c| c.websocket_errors += 1);
                // The transport refused to buffer it: say why, then close, since the rest of
                // the oversized message would follow on the stream.
                session.push_frame(text_frame(&ServerMessage::error(
                    format!("Message too large ({size} bytes, max {max_size} bytes)"),
                    ErrorCode::MessageTooLarge,
                )));
                Verdict::Close {
                    code: close_code::MESSAGE_TOO_BIG,
                    reason: "message too large",
                }
            }
            Some(Err(err)) => {
                shard.metrics.count(|c| c.websocket_errors += 1);
                break super::ws_errors::close_for(&err);
            }
        };
        if let Verdict::Close { .. } = inbound_verdict {
            // Go round once more: write the reply that explains the close, then close.
            verdict = inbound_verdict;
        }
        // A client streaming frames must not hog the shard: let deliveries and other
        // connections run once this task's time slice is used up.
        glommio::yield_if_needed().await;
    };
    session.on_disconnect(closing.is_some());
    shard.unregister(addr);
    let (code, reason) = closing.map_or((None, ended_by), |(code, reason)| (Some(code), reason));
    events::connection_closed(session.ip(), addr.slot, code, reason, now);
    if let Some((code, reason)) = closing {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        // Boxed: the closing handshake's state would otherwise size the future every idle
        // connection keeps (`footprint.rs`).
        let _ = Box::pin(glommio::timer::timeout(CLOSE_TIMEOUT, async {
            let _ = ws.close(Some(frame)).await;
            // Every frame before the close frame is out: the room learns what left whole.
            session.on_closed();
            // Let the peer answer the close so the socket ends cleanly.
            while let Some(Ok(_)) = ws.next().await {}
            Ok(())
        }))
        .await;
        // The close frame never went out: what left whole is final now.
        session.on_closed();
    }
}
