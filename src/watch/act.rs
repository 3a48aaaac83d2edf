//! The act side and the loop body: [`Watch`] drives any [`Watcher`] —
//! observe → decide → act — at the fixed rate of [`super::runner`]. Acting
//! is moving the gate, publishing the state the gate's HTTP answer shows,
//! logging the reason sentence, telling systemd, and handing the mails to
//! the [`MailSide`] (which never blocks). A SIGHUP is noticed within
//! [`super::runner::SLICE`] (also in the middle of a long check_period) and
//! rebuilds the watcher's rules, the gate's address and the mail side.
//! Shutdown is bounded by [`SHUTDOWN_FLUSH`]. With `[general] fast_path`
//! on, the [`FastPath`] wakes the loop for a check off the schedule (see
//! [`super::fast`]); off, nothing but the schedule runs checks.
//!
//! Gate conflicts ([`crate::serve::conflict`]): a port held by another
//! process at start ends the process (exit 1, one line); while running, a
//! gate that cannot open because the port is taken, or another process
//! answering on a gate meant to be closed, is logged as an error and mailed
//! once per episode, and `/metrics` shows it. The reason line is logged once
//! the port is where it says.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::decision::Decision;
use super::fast::FastPath;
use super::mailside::MailSide;
use super::runner::{self, Cycle, Flow, RunStats, Stop, SystemClock};
use super::watcher::Watcher;
use crate::config::Settings;
use crate::plumbing::sdnotify::Notifier;
use crate::serve::board::{GateState, LastCheck, NodeView, Stats};
use crate::serve::conflict::{Change, Episode};
use crate::serve::{ApiPorts, Board, Gate, Snapshot};

/// How long shutdown waits for reports and queued mail before giving up on
/// them (systemd's TimeoutStopSec in our units is 30 s).
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(10);

/// One watcher with its gate, mail side and systemd notifier.
pub struct Watch<W: Watcher> {
    watcher: W,
    state: W::State,
    gate: Gate,
    mail: MailSide,
    notifier: Notifier,
    /// Whether SIGHUP is honoured (off in tests that share the process).
    watch_sighup: bool,
    /// The snapshot the gate, the API and agent-check ports answer from
    /// (the gate's board).
    api_board: Board,
    /// Those ports (`None` until first bound; a failed bind is retried at
    /// every check).
    api: Option<ApiPorts>,
    /// Counters the API's /metrics shows.
    stats: Stats,
    started: Instant,
    /// Another process holds or answers on the gate's port.
    conflict: Episode,
    /// The API ports are not where the settings say (a bind failed); it
    /// is retried at every check.
    api_failing: bool,
    /// The fast path (`None`: `[general] fast_path = no`).
    fast: Option<FastPath>,
    /// The loop's stop, which the fast path's wake-ups nudge.
    nudge: Option<Stop>,
}

impl<W: Watcher> Watch<W> {
    /// `watcher` with its gate, mail side and the notifier systemd set up.
    pub fn new(watcher: W) -> Watch<W> {
        let name = watcher.program().name();
        let mail = MailSide::new(name, watcher.settings(), watcher.report_target());
        let gate = Gate::new(watcher.bind());
        let mut w = Watch::with_parts(watcher, gate, mail, Notifier::from_env(), true);
        w.resume();
        w
    }

    /// Starts from the gate state the last process left in the spool, so
    /// the first check mails the transition it missed.
    fn resume(&mut self) {
        let Some(record) = self.mail.recovered_state() else {
            return;
        };
        let name = self.name();
        match self.watcher.resume(&record) {
            Some(state) => {
                log::info!("{name}: resuming from the gate state the last run left: {record}");
                self.state = state;
            }
            None => log::warn!(
                "{name}: the gate state the last run left cannot be read ({record:?}); starting afresh"
            ),
        }
    }

    /// A watch of given parts (tests).
    pub fn with_parts(
        watcher: W,
        gate: Gate,
        mail: MailSide,
        notifier: Notifier,
        watch_sighup: bool,
    ) -> Watch<W> {
        let started = Instant::now();
        let api_board = gate.board();
        api_board.publish(Snapshot::starting(
            watcher.program().name(),
            started,
            watcher.liveness_bound(),
        ));
        let mut w = Watch {
            watcher,
            state: W::State::default(),
            gate,
            mail,
            notifier,
            watch_sighup,
            api_board,
            api: None,
            stats: Stats::default(),
            started,
            conflict: Episode::default(),
            api_failing: false,
            fast: None,
            nudge: None,
        };
        w.fast = fast_path_of(&w.watcher);
        w.bind_api();
        w
    }

    /// Opens (or moves) the API and agent-check ports to the watcher's
    /// addresses. A port that cannot be bound at its new address keeps
    /// serving at its old one; the error is logged once and the bind
    /// retried at every check until it succeeds (logged too).
    fn bind_api(&mut self) {
        let name = self.name();
        let (api, agent) = self.watcher.api_binds();
        let result = match &mut self.api {
            Some(ports) => ports.rebind(api, agent),
            None if api.is_none() && agent.is_none() => Ok(()),
            None => ApiPorts::open(self.api_board.clone(), api, agent).map(|p| {
                self.api = Some(p);
            }),
        };
        let serving = |(a, b): (Option<SocketAddr>, Option<SocketAddr>)| match (a, b) {
            (None, None) => "no API port".to_string(),
            (a, b) => [
                a.map(|a| format!("api {a}")),
                b.map(|b| format!("agent {b}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        };
        match result {
            Err(e) if !self.api_failing => {
                self.api_failing = true;
                log::error!(
                    "{name}: {e}; still serving on {} (retried at every check)",
                    serving(self.api_addrs())
                );
            }
            Err(e) => log::debug!("{name}: {e} (retried at every check)"),
            Ok(()) if self.api_failing => {
                self.api_failing = false;
                log::info!("{name}: now serving on {}", serving(self.api_addrs()));
            }
            Ok(()) => {}
        }
    }

    /// The board every port answers from (tests look at it).
    pub fn api_board(&self) -> &Board {
        &self.api_board
    }

    /// Where the API and agent-check ports listen (tests).
    pub fn api_addrs(&self) -> (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>) {
        match &self.api {
            Some(p) => (p.api_addr(), p.agent_addr()),
            None => (None, None),
        }
    }

    fn name(&self) -> &'static str {
        self.watcher.program().name()
    }

    /// The gate (tests look at it).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// One check: observe, decide, act. Returns the decision.
    pub fn check(&mut self, n: u64) -> Decision {
        let started = Instant::now();
        if let Some(f) = &mut self.fast {
            f.check_started(started);
        }
        let obs = self.watcher.observe();
        let (next, d) = self.watcher.decide(&self.state, &obs);
        self.state = next;
        if let Some(f) = &mut self.fast {
            f.update(self.watcher.fast_targets(&obs));
        }
        let was_open = self.gate.is_open();
        let took = started.elapsed();
        self.act(n, &d, took);
        self.publish_api(n, &d, self.watcher.view(&obs), was_open, took);
        d
    }

    /// Publishes what the API answers from after check `n`.
    fn publish_api(
        &mut self,
        n: u64,
        d: &Decision,
        view: Option<NodeView>,
        was_open: bool,
        took: Duration,
    ) {
        let s = &mut self.stats;
        let ok = match &view {
            Some(NodeView::Repmgr(r)) => r.masters_error.is_none(),
            Some(NodeView::Pgpool(p)) => p.error.is_none(),
            _ => true,
        };
        if ok {
            s.checks_ok += 1;
        } else {
            s.checks_failed += 1;
        }
        if was_open != self.gate.is_open() {
            s.transitions += 1;
        }
        if self.mail.is_on() {
            s.mails_queued += d.mails.len() as u64;
        }
        s.gate_conflict = self.conflict.active();
        if let Some(q) = self.mail.stats() {
            s.mails_sent = q.sent;
            s.mails_failed = q.given_up + q.permanent + q.dropped;
        }
        s.duration.observe(took.as_secs_f64());
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let snap = Snapshot {
            program: self.name(),
            started: self.started,
            last: Some(LastCheck {
                n,
                finished: Instant::now(),
                finished_unix: unix,
                seconds: took.as_secs_f64(),
            }),
            gate_open: self.gate.is_open(),
            reason: d.reason.clone(),
            liveness_bound: self.watcher.liveness_bound(),
            node: view.unwrap_or(NodeView::Starting),
            stats: self.stats.clone(),
            gate: self.api_board.read(|s| s.gate.clone()),
        };
        self.api_board.publish(snap);
        if self.api_failing {
            self.bind_api();
        }
    }

    /// Carries `d` out: board, gate, log, systemd, mail.
    fn act(&mut self, n: u64, d: &Decision, took: Duration) {
        let name = self.name();
        let was_open = self.gate.is_open();
        // The board is right before a client can see the gate open.
        self.publish(n, d, d.port_open, took);
        let moved = self.gate.set(d.port_open);
        if self.gate.is_open() != d.port_open {
            self.publish(n, d, self.gate.is_open(), took);
        }
        let (change, holder) = self.watch_conflict(d.port_open, &moved);
        // Logged once the port is where the line says it is.
        let why = situation(&d.reason);
        match &moved {
            Ok(()) if change == Change::Ended && !was_open && d.port_open => log::info!(
                "{name}: {why}; port {} opened now that no other process holds it.",
                self.gate.bind_addr()
            ),
            Ok(()) if d.warn => log::warn!("{name}: {}", d.reason),
            Ok(()) if was_open != d.port_open || !d.mails.is_empty() => {
                log::info!("{name}: {}", d.reason)
            }
            Ok(()) => log::debug!("{name}: {}", d.reason),
            Err(e) if self.conflict.active() && change == Change::Same => {
                log::debug!("{name}: {why}, but the port stays closed: {e}")
            }
            Err(e) => log::error!(
                "{name}: {why}, but the port stays closed: {e}{}",
                holder
                    .as_deref()
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default()
            ),
        }
        let mut mails = d.mails.clone();
        if let (Change::Began, Some(h), true) = (change, &holder, self.mail.is_on()) {
            mails.push(self.conflict_mail(d.port_open, h));
        }
        if n == 1 {
            self.notifier.ready(&d.reason);
        } else {
            self.notifier.status(&d.reason);
        }
        self.notifier.watchdog_tick(Instant::now());
        let record = self.watcher.record(&self.state);
        self.mail.send(&mails, record.as_deref());
    }

    fn publish(&self, n: u64, d: &Decision, listening: bool, took: Duration) {
        let counters = self.gate.stats();
        self.api_board.update(|s| {
            s.reason = d.reason.clone();
            s.gate = Some(GateState {
                port_open: d.port_open,
                listening,
                check: n,
                check_seconds: took.as_secs_f64(),
                counters,
            });
        });
    }

    /// Reads the configuration again when SIGHUP asked for it; returns the
    /// new period when new settings were taken.
    fn maybe_reload(&mut self) -> Option<Duration> {
        if !self.watch_sighup || !crate::plumbing::signals::take_reload() {
            return None;
        }
        let name = self.name();
        let path = self.watcher.settings().source.clone();
        log::info!(
            "{name}: SIGHUP: reloading the configuration from {}",
            path.display()
        );
        let new = match Settings::load_with(&path, self.watcher.program(), self.watcher.overrides())
        {
            Ok(s) => s,
            Err(e) => {
                log::error!("{name}: reload failed, keeping the old configuration: {e}");
                return None;
            }
        };
        for w in &new.warnings {
            log::warn!("{name}: {w}");
        }
        self.watcher.reload(new);
        let bind = self.watcher.bind();
        if bind != self.gate.bind_addr() {
            log::info!(
                "{name}: the port moves from {} to {bind}",
                self.gate.bind_addr()
            );
            // The next decision opens the new gate if the port is open.
            self.gate.close();
            self.gate = Gate::on_board(bind, self.api_board.clone());
        }
        self.mail
            .reload(self.watcher.settings(), self.watcher.report_target());
        self.bind_api();
        match (&mut self.fast, self.watcher.settings().general.fast_path) {
            (Some(f), true) => f.retime(timeout_of(&self.watcher), self.watcher.period()),
            (Some(_), false) => self.fast = None,
            (None, true) => {
                self.fast = fast_path_of(&self.watcher);
                if let (Some(f), Some(stop)) = (&self.fast, &self.nudge) {
                    f.wake().attach(stop);
                }
            }
            (None, false) => {}
        }
        log::info!("{name}: configuration reloaded");
        Some(self.watcher.period())
    }

    /// Closes the port, tells systemd, and flushes mail until `deadline`.
    pub fn finish(mut self, deadline: Instant) {
        let name = self.name();
        self.notifier.stopping();
        if let Some(mut f) = self.fast.take() {
            f.stop(Instant::now() + Duration::from_secs(1));
        }
        self.gate.close();
        if let Some(mut api) = self.api.take() {
            api.close();
        }
        let left = self.mail.finish(deadline);
        if left > 0 {
            log::error!("{name}: {left} mail(s) not sent at shutdown");
        }
        log::info!("{name}: stopped");
    }
}

impl<W: Watcher> Cycle for Watch<W> {
    fn run_cycle(&mut self, n: u64) -> Flow {
        let flow = match self.maybe_reload() {
            Some(p) => Flow::Reschedule(p),
            None => Flow::Continue,
        };
        self.check(n);
        flow
    }

    fn idle(&mut self) -> Flow {
        self.notifier.watchdog_tick(Instant::now());
        if let Some(p) = self.maybe_reload() {
            return Flow::Reschedule(p);
        }
        let name = self.name();
        match self.fast.as_mut().and_then(|f| f.due(Instant::now())) {
            Some(why) => {
                log::debug!("{name}: fast path: {why}; checking now");
                Flow::CheckNow
            }
            None => Flow::Continue,
        }
    }
}

/// Runs `watch` until `stop` (SIGTERM/SIGINT when it watches
/// [`crate::plumbing::signals::STOP`]), then closes the port and flushes mail for at
/// most [`SHUTDOWN_FLUSH`].
pub fn run_watch<W: Watcher>(mut watch: Watch<W>, stop: &Stop) -> RunStats {
    let period = watch.watcher.period();
    if let Some(f) = &watch.fast {
        f.wake().attach(stop);
    }
    watch.nudge = Some(stop.clone());
    let stats = runner::run(&SystemClock, period, stop, &mut watch);
    watch.finish(Instant::now() + SHUTDOWN_FLUSH);
    stats
}

/// A watcher's connect_timeout (its liveness bound less two periods).
fn timeout_of<W: Watcher>(w: &W) -> Duration {
    w.liveness_bound()
        .saturating_sub(w.period().saturating_mul(2))
        .max(Duration::from_millis(100))
}

/// The fast path a watcher's settings ask for (`None`: off).
fn fast_path_of<W: Watcher>(w: &W) -> Option<FastPath> {
    w.settings()
        .general
        .fast_path
        .then(|| FastPath::new(timeout_of(w), w.period()))
}

/// The decision's reason without its closing port clause ("pgpool is
/// healthy; the port stays open." -> "pgpool is healthy"), for lines that
/// must not claim the port moved.
fn situation(reason: &str) -> &str {
    reason
        .rsplit_once("; ")
        .map_or(reason.trim_end_matches('.'), |(why, _)| why)
}

/// A watcher's process: signals, the loop, the bounded shutdown. Returns
/// the exit code: 1 when a port it needs is held by another process.
pub fn run<W: Watcher>(watcher: W) -> u8 {
    let name = watcher.program().name();
    if let Err(held) = ports_free(&watcher) {
        log::error!("{name}: {held}");
        return 1;
    }
    if let Err(e) = crate::plumbing::signals::install() {
        log::warn!("{name}: {e}; stop it with SIGKILL");
    }
    log::info!("{}", super::watcher::start_line(&watcher));
    let stop = Stop::watching(&[&crate::plumbing::signals::STOP]);
    run_watch(Watch::new(watcher), &stop);
    0
}

mod conflicts;
use conflicts::ports_free;

#[cfg(test)]
mod tests;
