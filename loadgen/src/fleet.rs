//! The coordinator and its units: local threads (`--processes 1`) or forked worker processes
//! speaking JSON lines (commands on their stdin, events on their stdout).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::{mono_ns, secs_ns, sleep_until, until};
use crate::engine::{Engine, EngineConfig};
use crate::failures::Failures;
use crate::procstat;
use crate::report::{Cmd, ConnectReport, Event, JoinReport, ProbePlan, StepPlan, StepReport};
use crate::summary::{self, StepSummary};
use crate::{Cli, Mode, assign};

/// A client thread this busy (share of a core) is likely the bottleneck.
const CLIENT_BOUND: f64 = 0.9;

/// Lead time between announcing a step and its start, so every unit has picked it up.
const STEP_LEAD_NS: u64 = 500_000_000;

/// The CPUs this process may run on.
fn usable_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// CPUs for the units of process `proc_id` under `--pin`: consecutive slices of the usable set.
fn pinning(cli: &Cli, proc_id: usize) -> Option<Vec<usize>> {
    if !cli.pin {
        return None;
    }
    let mut cpus = usable_cpus();
    if cpus.is_empty() {
        return None;
    }
    let shift = (proc_id * cli.threads_per_process()) % cpus.len();
    cpus.rotate_left(shift);
    Some(cpus)
}

/// Runs as worker process `id`: units on threads, commands from stdin, events to stdout.
pub fn worker_main(cli: &Cli, id: usize, config: Arc<EngineConfig>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel::<Event>();
    let engine = Engine::start(config, assign(cli, id), tx.clone(), pinning(cli, id))
        .map_err(|e| e.to_string())?;
    let _ = tx.send(Event::Hello {
        units: engine.units(),
    });
    drop(tx);
    let forward = thread::spawn(move || {
        let stdout = std::io::stdout();
        for event in rx {
            let mut out = stdout.lock();
            let line = serde_json::to_string(&event).expect("events serialize");
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                break;
            }
        }
    });
    let mut quit = false;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Cmd>(&line) {
            Ok(cmd) => {
                engine.broadcast(cmd);
                if matches!(cmd, Cmd::Quit) {
                    quit = true;
                    break;
                }
            }
            Err(err) => eprintln!("signal-fish-bench worker {id}: bad command {line:?}: {err}"),
        }
    }
    if !quit {
        engine.broadcast(Cmd::Quit);
    }
    engine.join();
    let _ = forward.join();
    Ok(())
}

/// The coordinator's view of all units.
struct Fleet {
    events: mpsc::Receiver<(usize, Event)>,
    units: usize,
    local: Option<Engine>,
    children: Vec<(Child, ChildStdin)>,
    /// Latest (generation, sent, delivered, highest latency since the last line) per
    /// (worker, unit).
    progress: HashMap<(usize, usize), (u32, u64, u64, u64)>,
    /// Events that arrived while a step was collecting its reports (join mode's `Probed`).
    stash: Vec<Event>,
    quitting: bool,
}

impl Fleet {
    fn start(cli: &Cli, config: Arc<EngineConfig>) -> Result<Fleet, String> {
        let (tx, events) = mpsc::channel();
        let mut fleet = Fleet {
            events,
            units: 0,
            local: None,
            children: Vec::new(),
            progress: HashMap::new(),
            stash: Vec::new(),
            quitting: false,
        };
        if cli.processes == 1 {
            let (etx, erx) = mpsc::channel::<Event>();
            let engine = Engine::start(config, assign(cli, 0), etx, pinning(cli, 0))
                .map_err(|e| e.to_string())?;
            thread::spawn(move || {
                for event in erx {
                    if tx.send((0, event)).is_err() {
                        break;
                    }
                }
            });
            fleet.units = engine.units();
            fleet.local = Some(engine);
            return Ok(fleet);
        }
        let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
        for id in 0..cli.processes {
            let mut child = Command::new(&exe)
                .args(std::env::args_os().skip(1))
                .arg("--worker-id")
                .arg(id.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("cannot start worker {id}: {e}"))?;
            let stdout = child.stdout.take().expect("piped stdout");
            let stdin = child.stdin.take().expect("piped stdin");
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let event =
                        serde_json::from_str::<Event>(&line).unwrap_or_else(|e| Event::Failed {
                            message: format!("worker {id} wrote {line:?}: {e}"),
                        });
                    if tx.send((id, event)).is_err() {
                        return;
                    }
                }
                let _ = tx.send((
                    id,
                    Event::Failed {
                        message: format!("worker {id} exited"),
                    },
                ));
            });
            fleet.children.push((child, stdin));
        }
        let hellos = fleet.collect_n(
            cli.processes,
            "start",
            Duration::from_secs(30),
            |e| match e {
                Event::Hello { units } => Some(units),
                _ => None,
            },
        )?;
        fleet.units = hellos.iter().sum();
        Ok(fleet)
    }

    /// CPU seconds of the client processes (this one and the workers).
    fn client_cpu_s(&self) -> f64 {
        let own = procstat::sample(std::process::id()).map_or(0.0, |s| s.cpu_s);
        own + self
            .children
            .iter()
            .filter_map(|(child, _)| procstat::sample(child.id()))
            .map(|s| s.cpu_s)
            .sum::<f64>()
    }

    /// (machine busy seconds, client CPU seconds), if /proc/stat is readable.
    fn machine(&self) -> Option<(f64, f64)> {
        procstat::machine_busy_s().map(|busy| (busy, self.client_cpu_s()))
    }

    fn broadcast(&mut self, cmd: Cmd) {
        if let Some(engine) = &self.local {
            engine.broadcast(cmd);
        }
        let line = serde_json::to_string(&cmd).expect("commands serialize");
        for (_, stdin) in &mut self.children {
            let _ = writeln!(stdin, "{line}").and_then(|_| stdin.flush());
        }
    }

    /// Handles one event; returns it if it is not bookkeeping.
    fn absorb(&mut self, worker: usize, event: Event) -> Result<Option<Event>, String> {
        match event {
            Event::Progress {
                unit,
                generation,
                sent,
                delivered,
                max_ns,
            } => {
                let entry = self.progress.entry((worker, unit)).or_insert((0, 0, 0, 0));
                let max = if entry.0 == generation {
                    entry.3.max(max_ns)
                } else {
                    max_ns
                };
                *entry = (generation, sent, delivered, max);
                Ok(None)
            }
            Event::Failed { message } if !self.quitting => Err(message),
            Event::Failed { .. } => Ok(None),
            other => Ok(Some(other)),
        }
    }

    /// Waits for `n` events that `pick` accepts.
    fn collect_n<T>(
        &mut self,
        n: usize,
        what: &str,
        timeout: Duration,
        mut pick: impl FnMut(Event) -> Option<T>,
    ) -> Result<Vec<T>, String> {
        let deadline = mono_ns() + timeout.as_nanos() as u64;
        let mut out = Vec::with_capacity(n);
        for event in std::mem::take(&mut self.stash) {
            if out.len() < n
                && let Some(item) = pick(event)
            {
                out.push(item);
            }
        }
        while out.len() < n {
            match self.events.recv_timeout(until(deadline)) {
                Ok((worker, event)) => {
                    if let Some(event) = self.absorb(worker, event)?
                        && let Some(item) = pick(event)
                    {
                        out.push(item);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{what}: only {} of {n} units answered within {timeout:?}",
                        out.len()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("{what}: units went away"));
                }
            }
        }
        Ok(out)
    }

    fn connect(&mut self, cli: &Cli) -> Result<Vec<ConnectReport>, String> {
        self.broadcast(Cmd::Connect);
        let per_unit = cli.total_connections().div_ceil(self.units.max(1));
        let waves = per_unit.div_ceil(cli.connect_concurrency.max(1)) as f64;
        let timeout = Duration::from_secs_f64(60.0 + waves * cli.setup_timeout);
        self.collect_n(self.units, "connect", timeout, |e| match e {
            Event::Connected(r) => Some(r),
            _ => None,
        })
    }

    fn join(&mut self, cli: &Cli) -> Result<Vec<JoinReport>, String> {
        self.broadcast(Cmd::Join);
        let per_unit = cli.room_count().div_ceil(self.units.max(1));
        let waves = per_unit.div_ceil(cli.join_concurrency.max(1)) as f64;
        let timeout = Duration::from_secs_f64(60.0 + 2.0 * waves * cli.setup_timeout);
        self.collect_n(self.units, "join", timeout, |e| match e {
            Event::Joined(r) => Some(r),
            _ => None,
        })
    }

    /// Runs one step, printing progress; samples the server at the window's edges.
    fn step(&mut self, cli: &Cli, plan: StepPlan) -> Result<StepSummary, String> {
        self.broadcast(Cmd::Step(plan));
        let pid = &cli.server_pid;
        let mut at_start = None;
        let mut at_end = None;
        let mut reports: Vec<StepReport> = Vec::new();
        let progress_ns = secs_ns(cli.progress);
        // Units report every `progress` seconds from the window's start; print just after.
        let mut next_print = if progress_ns > 0 {
            plan.window_start() + progress_ns + 100_000_000
        } else {
            u64::MAX
        };
        let mut last_print: Option<(u64, u64, Option<procstat::Sample>)> = None;
        let deadline = plan.window_end() + plan.drain_ns + secs_ns(30.0);
        while reports.len() < self.units {
            let now = mono_ns();
            if now > deadline {
                return Err(format!(
                    "step {}: only {} of {} units reported",
                    plan.generation,
                    reports.len(),
                    self.units
                ));
            }
            if at_start.is_none() && now >= plan.window_start() {
                at_start = Some((procstat::sample_all(pid), self.machine()));
            }
            if at_end.is_none() && now >= plan.window_end() {
                at_end = Some((procstat::sample_all(pid), self.machine()));
            }
            if now >= next_print {
                next_print += progress_ns;
                let (sent, delivered, max_ns) = self
                    .progress
                    .values_mut()
                    .filter(|p| p.0 == plan.generation)
                    .fold((0, 0, 0), |(s, d, m), p| {
                        (s + p.1, d + p.2, m.max(std::mem::take(&mut p.3)))
                    });
                let sample = procstat::sample_all(pid);
                let phase = if now < plan.window_start() {
                    "warm-up"
                } else if now < plan.window_end() {
                    "measure"
                } else {
                    "drain"
                };
                let mut line = format!(
                    "  [{} msg/s/player] {phase:<7} t={:>5.1}s sent {sent} delivered {delivered}",
                    plan.rate_per_player,
                    now.saturating_sub(plan.go_ns) as f64 / 1e9,
                );
                if let Some((t0, d0, s0)) = last_print {
                    let dt = now.saturating_sub(t0) as f64 / 1e9;
                    if dt > 0.0 && delivered >= d0 && phase == "measure" {
                        line += &format!(
                            " ({:.0}/s, max latency {:.1} ms)",
                            (delivered - d0) as f64 / dt,
                            max_ns as f64 / 1e6
                        );
                    }
                    if let (Some(a), Some(b)) = (s0, sample) {
                        let wall = b.at_ns.saturating_sub(a.at_ns) as f64 / 1e9;
                        if wall > 0.0 {
                            line += &format!(
                                ", server cpu {:.0}% rss {} MiB",
                                100.0 * (b.cpu_s - a.cpu_s) / wall,
                                b.rss_kb / 1024
                            );
                        }
                    }
                }
                eprintln!("{line}");
                last_print = Some((now, delivered, sample));
            }
            let mut wake = next_print;
            if at_start.is_none() {
                wake = wake.min(plan.window_start());
            }
            if at_end.is_none() {
                wake = wake.min(plan.window_end());
            }
            let wait = until(wake).min(Duration::from_millis(200));
            match self.events.recv_timeout(wait) {
                Ok((worker, event)) => match self.absorb(worker, event)? {
                    Some(Event::Stepped(report)) => reports.push(report),
                    Some(other) => self.stash.push(other),
                    None => {}
                },
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err("units went away".into()),
            }
        }
        let at_end = at_end.unwrap_or_else(|| (procstat::sample_all(pid), self.machine()));
        let at_start = at_start.unwrap_or((None, None));
        let edges = summary::Edges {
            server: at_start.0.zip(at_end.0),
            machine: at_start.1.zip(at_end.1),
        };
        Ok(summary::step(&plan, &reports, edges))
    }

    fn quit(mut self) {
        self.quitting = true;
        self.broadcast(Cmd::Quit);
        let _ = self.collect_n(self.units, "quit", Duration::from_secs(10), |e| match e {
            Event::Closed => Some(()),
            _ => None,
        });
        if let Some(engine) = self.local.take() {
            engine.join();
        }
        for (mut child, stdin) in self.children.drain(..) {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// Runs the whole scenario and prints the JSON result on stdout.
pub fn coordinate(cli: &Cli, config: Arc<EngineConfig>) -> Result<(), String> {
    let pid = &cli.server_pid;
    let before = procstat::sample_all(pid);
    if !pid.is_empty() && before.is_none() {
        return Err(format!("cannot read /proc/{pid:?} (--server-pid)"));
    }
    let mut fleet = Fleet::start(cli, config)?;
    eprintln!(
        "signal-fish-bench: {:?} against {}: {} connections{}, {} thread(s) in {} process(es)",
        cli.mode,
        cli.urls(),
        cli.total_connections(),
        if cli.mode == Mode::Idle {
            String::new()
        } else {
            format!(" in {} rooms of {}", cli.room_count(), cli.room_size)
        },
        fleet.units,
        cli.processes,
    );
    let mut failures = Failures::new(cli.max_failures);
    let result = run(cli, &mut fleet, before, &mut failures);
    fleet.quit();
    failures.print_result(result?, cli.label.as_deref())
}

/// CPU spent on the connect phase (TCP + TLS + upgrade + auth): the server's per connection
/// and per second of its CPU (its handshake capacity, whoever the bottleneck was), and this
/// process's share of a core (near 1 per thread: the generator limited the rate). /proc counts
/// in clock ticks (10 ms), so short phases read coarsely.
fn connect_cpu(
    connect: &summary::ConnectSummary,
    server_start: Option<procstat::Sample>,
    server_end: Option<procstat::Sample>,
    client_start: Option<procstat::Sample>,
    client_end: Option<procstat::Sample>,
) -> Value {
    let mut out = json!({});
    if let (Some(a), Some(b)) = (server_start, server_end) {
        let cpu = b.cpu_s - a.cpu_s;
        out["server_cpu_s"] = json!(cpu);
        if connect.ok > 0 && cpu > 0.0 {
            out["server_cpu_us_per_conn"] = json!((cpu * 1e6 / connect.ok as f64).round());
            out["conns_per_server_cpu_s"] = json!((connect.ok as f64 / cpu).round());
        }
    }
    if let (Some(a), Some(b)) = (client_start, client_end) {
        let wall = (b.at_ns - a.at_ns) as f64 / 1e9;
        if wall > 0.0 {
            out["client_cpu_util"] = json!(((b.cpu_s - a.cpu_s) / wall * 1000.0).round() / 1000.0);
        }
    }
    out
}

/// Runs the scenario. Setup failures go into `failures`; once they exceed the threshold the run
/// stops after that phase (what was measured so far is still returned).
fn run(
    cli: &Cli,
    fleet: &mut Fleet,
    before: Option<procstat::Sample>,
    failures: &mut Failures,
) -> Result<Value, String> {
    let pid = &cli.server_pid;
    let server_start = procstat::sample_all(pid);
    let client_start = procstat::sample(std::process::id());
    let connect = summary::connect(&fleet.connect(cli)?);
    let connect_cpu = connect_cpu(
        &connect,
        server_start,
        procstat::sample_all(pid),
        client_start,
        procstat::sample(std::process::id()),
    );
    eprintln!(
        "  connected {} ({} failed) in {:.2} s: {:.0} conn/s, connect+auth p50 {:.2} ms p99 {:.2} ms{}",
        connect.ok,
        connect.failed,
        connect.elapsed_s,
        connect.conns_per_s,
        connect.latency.p50_ms,
        connect.latency.p99_ms,
        first_error(&connect.errors),
    );
    let mut out = json!({
        "mode": format!("{:?}", cli.mode).to_lowercase(),
        "url": cli.urls(),
        "connections": cli.total_connections(),
        "processes": cli.processes,
        "threads": fleet.units,
        "server_pid": pid,
        "connect": connect,
        "connect_cpu": connect_cpu,
    });
    failures.add_connections(connect.failed);
    if failures.exceeded() {
        return Ok(out);
    }
    if cli.mode == Mode::Idle {
        sleep_until(mono_ns() + secs_ns(cli.idle_settle));
        let after = procstat::sample_all(pid);
        let idle = match (before, after) {
            (Some(b), Some(a)) => {
                let per = (a.rss_kb as f64 - b.rss_kb as f64) * 1024.0 / connect.ok.max(1) as f64;
                eprintln!(
                    "  server RSS {} KiB -> {} KiB: {:.0} bytes per idle connection",
                    b.rss_kb, a.rss_kb, per
                );
                json!({"rss_before_kb": b.rss_kb, "rss_after_kb": a.rss_kb,
                       "rss_per_conn_bytes": per.round(), "open": connect.ok})
            }
            _ => json!({"open": connect.ok}),
        };
        out["idle"] = idle;
        return Ok(out);
    }
    // Join mode may run without background rooms (an idle server).
    let background = cli.room_count() > 0;
    if background {
        let join = summary::join(&fleet.join(cli)?);
        eprintln!(
            "  rooms {} ok / {} failed in {:.2} s; create p50 {:.2} ms p99 {:.2} ms; join p50 {:.2} ms p99 {:.2} ms{}",
            join.rooms_ok,
            join.rooms_failed,
            join.elapsed_s,
            join.create.p50_ms,
            join.create.p99_ms,
            join.join.p50_ms,
            join.join.p99_ms,
            first_error(&join.errors),
        );
        failures.add_rooms(join.rooms_failed, join.joins_failed);
        out["join"] = json!(join);
        if failures.exceeded() {
            return Ok(out);
        }
    }
    out["room_size"] = json!(cli.room_size);
    out["rooms"] = json!(cli.room_count());
    out["payload_bytes"] = json!(cli.payload_bytes);
    if let Some(b) = before {
        out["server_rss_before_kb"] = json!(b.rss_kb);
    }
    let mut generation = 0;
    let mut step = |rate: f64, warmup: f64, duration: f64| {
        generation += 1;
        let plan = StepPlan {
            generation,
            go_ns: mono_ns() + STEP_LEAD_NS,
            rate_per_player: rate,
            warmup_ns: secs_ns(warmup),
            duration_ns: secs_ns(duration).max(1),
            drain_ns: secs_ns(cli.drain),
            progress_ns: secs_ns(cli.progress),
        };
        let summary = fleet.step(cli, plan)?;
        eprintln!(
            "  {}{}",
            summary::step_line(&summary),
            first_error(&summary.errors)
        );
        Ok::<_, String>(summary)
    };
    match cli.mode {
        Mode::Relay => {
            let s = step(cli.rate, cli.warmup, cli.duration)?;
            out["rate_per_player"] = json!(cli.rate);
            out["warmup_s"] = json!(cli.warmup);
            out["duration_s"] = json!(cli.duration);
            out["relay"] = json!(s);
        }
        Mode::Ramp => {
            let passes = |s: &StepSummary| s.complete() && s.relay.p99_ms < cli.ramp_p99_ms;
            // The climb ends when the system is overloaded: deliveries missing, the offered
            // rate not achieved, or two steps in a row with p99 ten times over the bound. A
            // step that only misses the latency bound does not end it (batching servers get
            // faster as their batches fill, and a noisy machine produces stray slow steps).
            let broken = |s: &StepSummary| !s.complete() || s.sent_per_s < 0.97 * s.offered_per_s;
            let very_slow = |s: &StepSummary| s.relay.p99_ms >= 10.0 * cli.ramp_p99_ms;
            let pause = || sleep_until(mono_ns() + secs_ns(cli.ramp_pause));
            let mut steps: Vec<(StepSummary, bool)> = Vec::new();
            let mut rate = cli.ramp_start;
            let mut slow_in_a_row = 0;
            loop {
                let s = step(rate, cli.ramp_warmup, cli.ramp_duration)?;
                slow_in_a_row = if very_slow(&s) { slow_in_a_row + 1 } else { 0 };
                // Past this the load generator measures itself, not the server.
                let client_bound = s.client_busiest_thread_util >= CLIENT_BOUND;
                let stop = broken(&s) || slow_in_a_row >= 2 || client_bound;
                let ok = passes(&s);
                steps.push((s, ok));
                rate *= cli.ramp_factor;
                if stop || rate > cli.ramp_max {
                    break;
                }
                pause();
            }
            // Bisect between the highest passing rate and the next rate above it.
            let highest_pass = |steps: &[(StepSummary, bool)]| {
                steps
                    .iter()
                    .filter(|(_, ok)| *ok)
                    .map(|(s, _)| s.rate_per_player)
                    .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))))
            };
            if let Some(lo) = highest_pass(&steps) {
                let mut lo = lo;
                let mut hi = steps
                    .iter()
                    .map(|(s, _)| s.rate_per_player)
                    .filter(|&r| r > lo)
                    .fold(f64::INFINITY, f64::min);
                for _ in 0..cli.ramp_refine {
                    if !hi.is_finite() {
                        break;
                    }
                    pause();
                    let mid = ((lo + hi) / 2.0).round();
                    if mid <= lo || mid >= hi {
                        break;
                    }
                    let s = step(mid, cli.ramp_warmup, cli.ramp_duration)?;
                    let ok = passes(&s);
                    steps.push((s, ok));
                    if ok {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
            }
            let best = highest_pass(&steps).and_then(|b| {
                steps
                    .iter()
                    .find(|(s, ok)| *ok && s.rate_per_player == b)
                    .map(|(s, _)| s.clone())
            });
            let best_complete = steps
                .iter()
                .filter(|(s, _)| s.complete())
                .max_by(|a, b| a.0.rate_per_player.total_cmp(&b.0.rate_per_player))
                .map(|(s, _)| s.clone());
            match &best {
                Some(s) => eprintln!(
                    "  highest sustainable rate: {} msg/s per player = {:.0} sent/s = {:.0} deliveries/s (p99 {:.3} ms)",
                    s.rate_per_player, s.sent_per_s, s.delivered_per_s, s.relay.p99_ms
                ),
                None => eprintln!("  no rate met the criteria"),
            }
            let brief = |s: &StepSummary| {
                json!({
                    "rate_per_player": s.rate_per_player,
                    "sent_per_s": s.sent_per_s,
                    "delivered_per_s": s.delivered_per_s,
                    "p99_ms": s.relay.p99_ms,
                    "server_cpu_util": s.server.as_ref().map(|u| u.cpu_util),
                    "client_busiest_thread_util": s.client_busiest_thread_util,
                    "other_cpu_cores": s.other_cpu_cores,
                })
            };
            let client_bound = steps
                .iter()
                .any(|(s, _)| s.client_busiest_thread_util >= CLIENT_BOUND);
            if client_bound {
                eprintln!(
                    "  note: a client thread was at least {:.0}% busy: results are a lower bound for the server",
                    CLIENT_BOUND * 100.0
                );
            }
            out["ramp"] = json!({
                "criteria": {"delivery_ratio": 1.0, "p99_ms_below": cli.ramp_p99_ms},
                "client_bound": client_bound,
                "steps": steps.iter().map(|(s, ok)| {
                    let mut v = json!(s);
                    v["pass"] = json!(ok);
                    v
                }).collect::<Vec<_>>(),
                "max_sustainable": best.as_ref().map(brief),
                "max_complete_delivery": best_complete.as_ref().map(brief),
            });
        }
        Mode::Join => {
            // The background window spans the whole schedule plus time for the last room.
            let schedule_s = cli.join_rooms.saturating_sub(1) as f64 / cli.join_rate;
            let window_s = schedule_s + 2.0;
            let probe = |go_ns| ProbePlan {
                go_ns,
                rooms_per_s: cli.join_rate,
                drain_ns: secs_ns(cli.drain),
            };
            out["join_rooms"] = json!(cli.join_rooms);
            out["join_rate"] = json!(cli.join_rate);
            out["join_connect"] = json!(format!("{:?}", cli.join_connect).to_lowercase());
            let plan = StepPlan {
                generation: 1,
                go_ns: mono_ns() + STEP_LEAD_NS,
                rate_per_player: cli.rate,
                warmup_ns: secs_ns(cli.warmup),
                duration_ns: secs_ns(window_s),
                drain_ns: secs_ns(cli.drain),
                progress_ns: secs_ns(cli.progress),
            };
            eprintln!(
                "  {} paced rooms at {}/s ({:?} connections){}",
                cli.join_rooms,
                cli.join_rate,
                cli.join_connect,
                if background {
                    format!(" beside the relay rooms at {} msg/s per player", cli.rate)
                } else {
                    String::new()
                }
            );
            // Paced rooms start when the background's measured window does.
            fleet.broadcast(Cmd::Probe(probe(if background {
                plan.window_start()
            } else {
                plan.go_ns
            })));
            if background {
                let s = fleet.step(cli, plan)?;
                eprintln!(
                    "  background {}{}",
                    summary::step_line(&s),
                    first_error(&s.errors)
                );
                out["rate_per_player"] = json!(cli.rate);
                out["warmup_s"] = json!(cli.warmup);
                out["duration_s"] = json!(window_s);
                out["relay"] = json!(s);
            }
            let per_room = cli.room_size as f64 * 2.0 * cli.setup_timeout + cli.drain;
            let timeout = Duration::from_secs_f64(30.0 + cli.warmup + schedule_s + per_room);
            let reports = fleet.collect_n(1, "paced joins", timeout, |e| match e {
                Event::Probed(r) => Some(r),
                _ => None,
            })?;
            if background && reports.iter().any(|r| r.end_ns > plan.window_end()) {
                eprintln!(
                    "  note: the paced rooms outlasted the background window (slow joins); the last ones ran without background load"
                );
            }
            let paced = summary::paced(&reports);
            eprintln!(
                "  {}{}",
                summary::paced_line(&paced),
                first_error(&paced.errors)
            );
            failures.add_rooms(paced.rooms_failed, paced.joins_failed);
            out["paced"] = json!(paced);
        }
        Mode::Idle => unreachable!("handled above"),
        Mode::Kill => return Err("kill mode runs in death::run, not in the fleet".into()),
    }
    Ok(out)
}

fn first_error(errors: &[String]) -> String {
    errors
        .first()
        .map_or(String::new(), |e| format!(" (first error: {e})"))
}
