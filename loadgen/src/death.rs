//! Kill mode: how long the members of a room on the surviving nodes of a cluster take to learn
//! that the room's home node died.
//!
//! Rooms are filled exactly as in relay mode, spread over the `--url`s by join order (the
//! creator, and so the room, on the first URL). Once every room is full and `-w` s have passed,
//! this process sends SIGKILL to `--kill-pid` itself, so the kill's instant is known to the
//! nanosecond on the same clock the members read, then times each member on another URL from
//! the kill to its `Error{error_code: ROOM_NOT_FOUND}`. Members on the dead node only lose
//! their connection; they are counted, not timed.
//!
//! It runs on one thread: the figures are seconds (the node TTL), far above the scheduling
//! noise of a thousand idle sockets on one runtime.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::spawn_local;
use tokio::time::sleep;

use crate::Cli;
use crate::clock::{mono_ns, secs_ns};
use crate::engine::{EngineConfig, PING, Ws, clip, close, frame_type, join_one, open, room_code};
use crate::failures::Failures;
use crate::report::{new_hist, note_error};
use crate::summary::Latency;

/// What a member on a surviving node saw after the kill.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// `Error{ROOM_NOT_FOUND}` at this instant.
    Notice(u64),
    /// Something else ended the wait: a frame of another kind, or the connection's end.
    Other(String),
}

/// State shared by the members' readers (one thread).
struct Watch {
    /// When the SIGKILL left (0 = not yet).
    killed_at: Cell<u64>,
    quit: Cell<bool>,
    /// Readers still running.
    live: Cell<usize>,
    /// Per member on a surviving node: what it saw after the kill.
    seen: RefCell<Vec<Option<Seen>>>,
    /// Members on the dead node whose connection ended after the kill.
    home_lost: Cell<u64>,
    /// Errors or ends seen before the kill (the rooms should be quiet then).
    before_kill: RefCell<Vec<String>>,
    /// Other frames received after the kill, by type (they do not end a wait).
    frames_after_kill: RefCell<BTreeMap<String, u64>>,
}

/// Runs kill mode and prints its JSON line.
pub fn run(cli: &Cli, config: Arc<EngineConfig>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let mut failures = Failures::new(cli.max_failures);
    let out = local.block_on(&runtime, scenario(cli, config, &mut failures))?;
    failures.print_result(out, cli.label.as_deref())
}

/// The `error_code` of a frame, if it has one.
fn error_code(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    Some(value.get("data")?.get("error_code")?.as_str()?.to_owned())
}

/// Whether a frame is `Error` with `error_code` `ROOM_NOT_FOUND`.
fn is_room_not_found(text: &str) -> bool {
    frame_type(text) == Some("Error") && error_code(text).as_deref() == Some("ROOM_NOT_FOUND")
}

/// Connects and fills one room; returns its members (global number and socket) once full.
async fn fill(config: &EngineConfig, room: usize) -> Result<Vec<(usize, Ws)>, String> {
    let size = config.room_size;
    let mut members = Vec::with_capacity(size);
    let mut code: Option<String> = None;
    for k in 0..size {
        let number = room * size + k;
        let mut ws = open(config, number).await?;
        let (text, _, _) = join_one(config, &mut ws, k, code.as_deref()).await?;
        if k == 0 {
            code = Some(
                room_code(&text)
                    .ok_or_else(|| format!("RoomJoined without room_code: {}", clip(&text)))?,
            );
        }
        members.push((number, ws));
    }
    Ok(members)
}

async fn scenario(
    cli: &Cli,
    config: Arc<EngineConfig>,
    failures: &mut Failures,
) -> Result<Value, String> {
    let rooms = cli.room_count();
    let setup_start = mono_ns();
    let gate = Arc::new(Semaphore::new(cli.join_concurrency.max(1)));
    let tasks: Vec<_> = (0..rooms)
        .map(|room| {
            let config = config.clone();
            let gate = gate.clone();
            spawn_local(async move {
                let _permit = gate.acquire_owned().await;
                let limit = config.setup_timeout * config.room_size as u32;
                crate::engine::with_timeout(limit, fill(&config, room)).await
            })
        })
        .collect();
    let mut full = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        match task.await.map_err(|e| format!("room task: {e}"))? {
            Ok(members) => full.push(members),
            Err(err) => note_error(&mut errors, err),
        }
    }
    let failed = (rooms - full.len()) as u64;
    failures.add_rooms(failed, failed);
    eprintln!(
        "signal-fish-bench: kill mode against {}: {} rooms of {} full, {} failed in {:.2} s{}",
        cli.urls(),
        full.len(),
        cli.room_size,
        failed,
        (mono_ns() - setup_start) as f64 / 1e9,
        errors
            .first()
            .map_or(String::new(), |e| format!(" (first error: {e})")),
    );
    let mut out = json!({
        "mode": "kill",
        "url": cli.urls(),
        "rooms": rooms,
        "room_size": cli.room_size,
        "rooms_ok": full.len(),
        "setup_errors": errors,
    });
    if failures.exceeded() || full.is_empty() {
        return Ok(out);
    }

    let watch = Rc::new(Watch {
        killed_at: Cell::new(0),
        quit: Cell::new(false),
        live: Cell::new(0),
        seen: RefCell::new(Vec::new()),
        home_lost: Cell::new(0),
        before_kill: RefCell::new(Vec::new()),
        frames_after_kill: RefCell::new(BTreeMap::new()),
    });
    let mut home_members = 0u64;
    for (number, ws) in full.into_iter().flatten() {
        let slot = if config.endpoint_index(number) == 0 {
            home_members += 1;
            None
        } else {
            let mut seen = watch.seen.borrow_mut();
            seen.push(None);
            Some(seen.len() - 1)
        };
        watch.live.set(watch.live.get() + 1);
        spawn_local(member(watch.clone(), ws, slot, config.heartbeat_ns));
    }
    let watchers = watch.seen.borrow().len();

    sleep(Duration::from_secs_f64(cli.warmup.max(0.0))).await;
    let Some(pid) = cli.kill_pid else {
        return Err("kill mode needs --kill-pid".into());
    };
    let killed_at = mono_ns();
    watch.killed_at.set(killed_at);
    // SAFETY: kill(2) with a pid and a signal number has no memory-safety preconditions.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } != 0 {
        watch.quit.set(true);
        return Err(format!(
            "cannot SIGKILL {pid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    eprintln!("  SIGKILL sent to {pid}; {watchers} members on other nodes wait for ROOM_NOT_FOUND");

    let give_up = killed_at + secs_ns(cli.kill_wait);
    let mut next_line = mono_ns() + 1_000_000_000;
    loop {
        let done = watch.seen.borrow().iter().all(Option::is_some);
        if done || mono_ns() >= give_up {
            break;
        }
        if cli.progress > 0.0 && mono_ns() >= next_line {
            next_line += secs_ns(cli.progress);
            let seen = watch.seen.borrow();
            eprintln!(
                "  {:.1} s after the kill: {} of {watchers} noticed",
                (mono_ns() - killed_at) as f64 / 1e9,
                seen.iter().filter(|s| s.is_some()).count()
            );
        }
        sleep(Duration::from_millis(5)).await;
    }
    watch.quit.set(true);

    let mut hist = new_hist();
    let mut other: BTreeMap<String, u64> = BTreeMap::new();
    let mut missing = 0u64;
    for seen in watch.seen.borrow().iter() {
        match seen {
            Some(Seen::Notice(at)) => {
                hist.saturating_record(at.saturating_sub(killed_at).max(1));
            }
            Some(Seen::Other(what)) => *other.entry(what.clone()).or_default() += 1,
            None => missing += 1,
        }
    }
    let notice = Latency::of(&hist);
    eprintln!(
        "  ROOM_NOT_FOUND after the kill: {} of {watchers} (p50 {:.0} ms, max {:.0} ms); {missing} heard nothing, {} saw something else {:?}",
        notice.count,
        notice.p50_ms,
        notice.max_ms,
        other.values().sum::<u64>(),
        other,
    );
    out["kill"] = json!({
        "pid": pid,
        "watchers": watchers,
        "home_members": home_members,
        "home_members_lost": watch.home_lost.get(),
        "notice": notice,
        "noticed": hist.len(),
        "missing": missing,
        "other": other,
        "before_kill": *watch.before_kill.borrow(),
        "frames_after_kill": *watch.frames_after_kill.borrow(),
        "wait_s": cli.kill_wait,
    });
    // Let the readers close their sockets (bounded).
    let stop = mono_ns() + 3_000_000_000;
    while watch.live.get() > 0 && mono_ns() < stop {
        sleep(Duration::from_millis(10)).await;
    }
    Ok(out)
}

/// One member until `quit`: pings every heartbeat and notes the first thing that happens to it
/// after the kill. `slot` is its place in `seen` (members on surviving nodes) or `None` (a
/// member on the node that dies).
async fn member(watch: Rc<Watch>, mut ws: Ws, slot: Option<usize>, heartbeat_ns: u64) {
    let heartbeat = Duration::from_nanos(heartbeat_ns.max(1));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    // What ended this member's wait, if anything.
    let mut outcome: Option<Seen> = None;
    let mut lost = false;
    while !watch.quit.get() && outcome.is_none() {
        tokio::select! {
            _ = ping.tick() => {
                if ws.send(Message::text(PING)).await.is_err() {
                    lost = true;
                    outcome = Some(Seen::Other("connection lost".into()));
                }
            }
            _ = poll.tick() => {}
            frame = ws.next() => {
                let at = mono_ns();
                let killed = watch.killed_at.get();
                let after_kill = killed != 0 && at >= killed;
                let seen = match frame {
                    Some(Ok(Message::Text(text))) => {
                        let text = text.as_str();
                        match frame_type(text) {
                            Some("Pong") => None,
                            _ if is_room_not_found(text) => Some(Seen::Notice(at)),
                            Some("Error") => Some(Seen::Other(format!(
                                "Error {}",
                                error_code(text).unwrap_or_default()
                            ))),
                            // Room traffic (the joins' PlayerJoined and lobby updates, or
                            // whatever the home sent last) does not end the wait.
                            Some(kind) => {
                                if after_kill {
                                    *watch.frames_after_kill.borrow_mut().entry(kind.to_owned()).or_default() += 1;
                                }
                                None
                            }
                            None => Some(Seen::Other(clip(text))),
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        lost = true;
                        Some(Seen::Other(match frame {
                            Some(f) => format!("close {} {}", u16::from(f.code), f.reason),
                            None => "close".to_owned(),
                        }))
                    }
                    Some(Ok(_)) => None,
                    Some(Err(_)) | None => {
                        lost = true;
                        Some(Seen::Other("connection lost".into()))
                    }
                };
                if let Some(seen) = seen {
                    if after_kill {
                        outcome = Some(seen);
                    } else {
                        // The rooms are quiet before the kill: an error or a lost connection
                        // then is worth reporting (and a lost one ends this member).
                        let what = match &seen {
                            Seen::Notice(_) => "ROOM_NOT_FOUND".to_owned(),
                            Seen::Other(what) => what.clone(),
                        };
                        note_error(&mut watch.before_kill.borrow_mut(), what);
                        if lost {
                            outcome = Some(seen);
                        }
                    }
                }
            }
        }
    }
    match (slot, outcome) {
        (Some(i), Some(seen)) => watch.seen.borrow_mut()[i] = Some(seen),
        (None, Some(_)) if lost && watch.killed_at.get() != 0 => {
            watch.home_lost.set(watch.home_lost.get() + 1);
        }
        _ => {}
    }
    if !lost {
        close(&mut ws).await;
    }
    watch.live.set(watch.live.get() - 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_not_found_is_told_apart() {
        assert!(is_room_not_found(
            r#"{"type":"Error","data":{"message":"Room not found","error_code":"ROOM_NOT_FOUND"}}"#
        ));
        assert!(!is_room_not_found(
            r#"{"type":"Error","data":{"message":"x","error_code":"INTERNAL_ERROR"}}"#
        ));
        assert!(!is_room_not_found(
            r#"{"type":"RoomJoinFailed","data":{"reason":"x","error_code":"ROOM_NOT_FOUND"}}"#
        ));
    }
}
