//! Unit tests of the parent module.

use super::*;
use crate::cluster::pgpool::PgpoolError;
use crate::cluster::ProbeError;
use crate::config::Program;
use crate::mail::Message;
use crate::mailqueue::{MailQueue, QueueConfig};
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
    bind: SocketAddr,
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
        self.bind
    }
}

fn pgp_watch(script: Vec<bool>, stop: Stop) -> (Watch<Scripted>, mpsc::Receiver<String>) {
    pgp_watch_on(script, stop, SocketAddr::from(([127, 0, 0, 1], 0)))
}

fn pgp_watch_on(
    script: Vec<bool>,
    stop: Stop,
    bind: SocketAddr,
) -> (Watch<Scripted>, mpsc::Receiver<String>) {
    let rules = PgpRules {
        rise: 1,
        fall: 1,
        success_period: 100,
        mail_on_success: false,
        sendmail: true,
        hostname: "pgp1".into(),
        open_port: 0,
        dry_run: false,
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
        bind,
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
    let json = w.gate.board().current().gate_json().render();
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
    let json = w.gate.board().current().gate_json().render();
    assert!(
        json.contains(r#""port_open":true"#) && json.contains(r#""check":1"#),
        "{json}"
    );
    w.run_cycle(2);
    assert!(!w.gate.is_open(), "failed check closes");
    w.run_cycle(3);
    assert!(w.gate.is_open(), "recovery opens");
    // The gate's counters reach the state JSON.
    let json = w.gate.board().current().gate_json().render();
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

/// Issue 18 item 3: a gate port taken by another process is a conflict,
/// logged and mailed once, shown on /metrics, whether the gate is meant
/// open (it cannot open) or closed (something else answers on it).
#[test]
fn a_gate_port_held_by_another_process_is_one_conflict_mail_and_a_metric() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let bind = holder.local_addr().expect("addr");
    let stop = Stop::new();
    let (mut w, rx) = pgp_watch_on(vec![true, true, false, false, true, true], stop, bind);
    let metric = |w: &Watch<Scripted>| {
        crate::serve::metrics::render(&w.api_board().current())
            .lines()
            .find(|l| l.starts_with("pgpoolwatch_gate_conflict "))
            .map(str::to_string)
    };
    // Healthy, but the port is taken: the gate stays closed, one mail.
    w.check(1);
    assert!(!w.gate().is_open());
    assert_eq!(metric(&w).as_deref(), Some("pgpoolwatch_gate_conflict 1"));
    w.check(2);
    // Unhealthy (meant closed) while the holder still answers: same episode.
    w.check(3);
    assert_eq!(metric(&w).as_deref(), Some("pgpoolwatch_gate_conflict 1"));
    drop(holder);
    w.check(4);
    assert_eq!(metric(&w).as_deref(), Some("pgpoolwatch_gate_conflict 0"));
    w.check(5);
    assert!(w.gate().is_open(), "free again: opens");
    let got = recv_all(&rx, 3);
    assert_eq!(
        got,
        vec![
            "PGPWATCH - Gate Conflict",
            "PGPWATCH - Status Change - PGP Down",
            "PGPWATCH - Error"
        ],
        "one conflict mail for the episode"
    );
    // Meant closed, and another process starts answering: a new episode.
    w.check(6);
    w.gate.close();
    let squatter = std::net::TcpListener::bind(bind).expect("take the port");
    let (next, d) = w.watcher.decide(
        &w.state,
        &PgpObservation::Unhealthy(PgpoolError::Probe(ProbeError::failed(
            "127.0.0.1",
            1,
            "connect",
            "refused",
        ))),
    );
    w.state = next;
    w.act(7, &d, Duration::ZERO);
    assert_eq!(
        recv_all(&rx, 4),
        vec![
            "PGPWATCH - Status Change - PGP Up",
            "PGPWATCH - Status Change - PGP Down",
            "PGPWATCH - Error",
            "PGPWATCH - Gate Conflict"
        ]
    );
    assert!(w.conflict.active());
    drop(squatter);
    w.finish(Instant::now() + Duration::from_secs(5));
}

#[test]
fn situation_drops_the_port_clause_of_a_reason() {
    assert_eq!(
        situation("pgpool is healthy; the port stays open."),
        "pgpool is healthy"
    );
    assert_eq!(
        situation("pgpool failed 1 of 2 check(s) needed to close: x; y; the port stays open."),
        "pgpool failed 1 of 2 check(s) needed to close: x; y"
    );
    assert_eq!(situation("no clause."), "no clause");
}
