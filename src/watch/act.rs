//! The act side and the loop body: [`Watch`] drives any [`Watcher`] —
//! observe → decide → act — at the fixed rate of [`super::runner`]. Acting
//! is moving the gate, publishing the state the gate's HTTP answer shows,
//! logging the reason sentence, telling systemd, and handing the mails to
//! the [`MailSide`] (which never blocks). A SIGHUP is noticed within
//! [`super::runner::SLICE`] (also in the middle of a long check_period) and
//! rebuilds the watcher's rules, the gate's address and the mail side.
//! Shutdown is bounded by [`SHUTDOWN_FLUSH`].

use std::time::{Duration, Instant};

use super::decision::Decision;
use super::mailside::MailSide;
use super::runner::{self, Cycle, Flow, RunStats, Stop, SystemClock};
use super::watcher::Watcher;
use crate::api::{snapshot::LastCheck, ApiBoard, ApiPorts, Snapshot, Stats};
use crate::config::Settings;
use crate::gate::Gate;
use crate::plumbing::json::Json;
use crate::plumbing::sdnotify::Notifier;

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
    /// The snapshot the API and agent-check ports answer from.
    api_board: ApiBoard,
    /// Those ports (`None` until first bound; a failed bind is retried at
    /// every check).
    api: Option<ApiPorts>,
    /// Counters the API's /metrics shows.
    stats: Stats,
    started: Instant,
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
        let api_board = ApiBoard::new(Snapshot::starting(
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
        };
        w.bind_api();
        w
    }

    /// Opens (or moves) the API and agent-check ports to the watcher's
    /// addresses; an error is logged and the bind retried at the next check.
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
        if let Err(e) = result {
            log::error!("{name}: {e}");
        }
    }

    /// The API's snapshot board (tests look at it).
    pub fn api_board(&self) -> &ApiBoard {
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
        let obs = self.watcher.observe();
        let (next, d) = self.watcher.decide(&self.state, &obs);
        self.state = next;
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
        view: Option<crate::api::NodeView>,
        was_open: bool,
        took: Duration,
    ) {
        let s = &mut self.stats;
        let ok = match &view {
            Some(crate::api::NodeView::Repmgr(r)) => r.masters_error.is_none(),
            Some(crate::api::NodeView::Pgpool(p)) => p.error.is_none(),
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
            node: view.unwrap_or(crate::api::NodeView::Starting),
            stats: self.stats.clone(),
        };
        self.api_board.publish(snap);
        if self.api.is_none() {
            self.bind_api();
        }
    }

    /// Carries `d` out: log, board, gate, systemd, mail.
    fn act(&mut self, n: u64, d: &Decision, took: Duration) {
        let name = self.name();
        let was_open = self.gate.is_open();
        // Said before the port moves, so the log never lags the port.
        if was_open != d.port_open || !d.mails.is_empty() {
            log::info!("{name}: {}", d.reason);
        } else {
            log::debug!("{name}: {}", d.reason);
        }
        // The board is right before a client can see the gate open.
        self.publish(n, d, d.port_open, took);
        if let Err(e) = self.gate.set(d.port_open) {
            log::error!("{name}: {e}");
        }
        if self.gate.is_open() != d.port_open {
            self.publish(n, d, self.gate.is_open(), took);
        }
        if n == 1 {
            self.notifier.ready(&d.reason);
        } else {
            self.notifier.status(&d.reason);
        }
        self.notifier.watchdog_tick(Instant::now());
        let record = self.watcher.record(&self.state);
        self.mail.send(&d.mails, record.as_deref());
    }

    fn publish(&self, n: u64, d: &Decision, listening: bool, took: Duration) {
        let st = self.gate.stats();
        self.gate.board().publish(
            d.to_json(self.name())
                .with("listening", listening)
                .with("check", n)
                .with("check_seconds", took.as_secs_f64())
                .with(
                    "gate",
                    Json::object()
                        .with("accepted", st.accepted)
                        .with("http", st.http)
                        .with("evicted", st.evicted)
                        .with("peer_capped", st.peer_capped)
                        .with("accept_errors", st.accept_errors),
                ),
        );
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
            self.gate = Gate::new(bind);
        }
        self.mail
            .reload(self.watcher.settings(), self.watcher.report_target());
        self.bind_api();
        log::info!("{name}: configuration reloaded");
        Some(self.watcher.period())
    }

    /// Closes the port, tells systemd, and flushes mail until `deadline`.
    pub fn finish(mut self, deadline: Instant) {
        let name = self.name();
        self.notifier.stopping();
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
        match self.maybe_reload() {
            Some(p) => Flow::Reschedule(p),
            None => Flow::Continue,
        }
    }
}

/// Runs `watch` until `stop` (SIGTERM/SIGINT when it watches
/// [`crate::plumbing::signals::STOP`]), then closes the port and flushes mail for at
/// most [`SHUTDOWN_FLUSH`].
pub fn run_watch<W: Watcher>(mut watch: Watch<W>, stop: &Stop) -> RunStats {
    let period = watch.watcher.period();
    let stats = runner::run(&SystemClock, period, stop, &mut watch);
    watch.finish(Instant::now() + SHUTDOWN_FLUSH);
    stats
}

/// A watcher's process: signals, the loop, the bounded shutdown. Returns
/// the exit code.
pub fn run<W: Watcher>(watcher: W) -> u8 {
    let name = watcher.program().name();
    if let Err(e) = crate::plumbing::signals::install() {
        log::warn!("{name}: {e}; stop it with SIGKILL");
    }
    let stop = Stop::watching(&[&crate::plumbing::signals::STOP]);
    run_watch(Watch::new(watcher), &stop);
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Program;
    use crate::mail::Message;
    use crate::mailqueue::{MailQueue, QueueConfig};
    use crate::probe::pgpool::PgpoolError;
    use crate::probe::ProbeError;
    use crate::watch::pgp::{self, PgpObservation, PgpRules, PgpState};
    use std::collections::VecDeque;
    use std::net::{SocketAddr, TcpStream};
    use std::sync::mpsc;

    /// pgpwatch's rules over a scripted pgpool: `true` healthy, `false` not.
    struct Scripted {
        settings: Settings,
        rules: PgpRules,
        script: VecDeque<bool>,
        stop: Stop,
    }

    impl Watcher for Scripted {
        type State = PgpState;
        type Observation = PgpObservation;
        fn program(&self) -> Program {
            Program::Pgpwatch
        }
        fn settings(&self) -> &Settings {
            &self.settings
        }
        fn observe(&mut self) -> PgpObservation {
            let next = self.script.pop_front();
            if self.script.is_empty() {
                self.stop.request();
            }
            match next {
                Some(true) | None => PgpObservation::Healthy,
                Some(false) => PgpObservation::Unhealthy(PgpoolError::Probe(ProbeError::failed(
                    "127.0.0.1",
                    1,
                    "connect",
                    "refused",
                ))),
            }
        }
        fn decide(&self, s: &PgpState, o: &PgpObservation) -> (PgpState, Decision) {
            pgp::decide(s, o, &self.rules)
        }
        fn reload(&mut self, settings: Settings) {
            self.settings = settings;
        }
        fn period(&self) -> Duration {
            Duration::from_millis(20)
        }
        fn bind(&self) -> SocketAddr {
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    }

    fn pgp_watch(script: Vec<bool>, stop: Stop) -> (Watch<Scripted>, mpsc::Receiver<String>) {
        let rules = PgpRules {
            rise: 1,
            fall: 1,
            success_period: 100,
            mail_on_success: false,
            sendmail: true,
            hostname: "pgp1".into(),
            open_port: 0,
        };
        let (tx, rx) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let queue = MailQueue::start(QueueConfig::default(), move |m: &Message| {
            tx.lock()
                .map_err(|_| "poisoned".to_string())?
                .send(m.subject.clone())
                .map_err(|e| e.to_string())
        })
        .expect("mail thread");
        let watcher = Scripted {
            settings: Settings::defaults(Program::Pgpwatch),
            rules,
            script: VecDeque::from(script),
            stop,
        };
        let gate = Gate::new(watcher.bind());
        let mail = MailSide::with_queue("pgpwatch", queue, None);
        let watch = Watch::with_parts(
            watcher,
            gate,
            mail,
            Notifier::new(None, None, None, 0),
            false,
        );
        (watch, rx)
    }

    fn recv_all(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                rx.recv_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("mail {i}: {e}"))
            })
            .collect()
    }

    #[test]
    fn each_cycle_moves_the_gate_publishes_state_and_queues_mail() {
        let stop = Stop::new();
        let (mut w, rx) = pgp_watch(vec![true, false, true, true], stop);
        // Before any check the board does not claim an open gate.
        let json = w.gate.board().current().render();
        assert!(
            !json.contains(r#""port_open":true"#) && !json.contains(r#""gate":"open""#),
            "{json}"
        );
        w.run_cycle(1);
        assert!(w.gate.is_open(), "healthy first check opens");
        let addr = w.gate.local_addr().expect("listening");
        TcpStream::connect(addr).expect("gate answers");
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.gate.accepted() < 1 {
            assert!(Instant::now() < deadline, "the gate never accepted");
            std::thread::sleep(Duration::from_millis(5));
        }
        let json = w.gate.board().current().render();
        assert!(
            json.contains(r#""port_open":true"#) && json.contains(r#""check":1"#),
            "{json}"
        );
        w.run_cycle(2);
        assert!(!w.gate.is_open(), "failed check closes");
        w.run_cycle(3);
        assert!(w.gate.is_open(), "recovery opens");
        // The gate's counters reach the state JSON.
        let json = w.gate.board().current().render();
        assert!(json.contains(r#""accepted":1"#), "{json}");
        assert_eq!(
            recv_all(&rx, 3),
            vec![
                "PGPWATCH - Status Change - PGP Down",
                "PGPWATCH - Error",
                "PGPWATCH - Status Change - PGP Up"
            ]
        );
        w.finish(Instant::now() + Duration::from_secs(5));
    }

    #[test]
    fn run_watch_stops_closes_the_port_and_flushes_mail() {
        let stop = Stop::new();
        let (w, rx) = pgp_watch(vec![true, false, false, true], stop.clone());
        let stats = run_watch(w, &stop);
        assert_eq!(stats.cycles, 4);
        // Shutdown flushed the queue before returning.
        let got: Vec<String> = rx.try_iter().collect();
        assert_eq!(
            got,
            vec![
                "PGPWATCH - Status Change - PGP Down",
                "PGPWATCH - Error",
                "PGPWATCH - Status Change - PGP Up"
            ]
        );
    }
}
