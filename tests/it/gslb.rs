//! A real GSLB (PowerDNS with LUA `ifportup` records) in front of the
//! watchers' gates. First against plain TCP listeners standing in for the
//! gates: proves that DNS answers follow ports opening and closing, so the
//! scenario can rely on it. Then the original README's "Topology in Action"
//! on a real sandbox cluster with the built `pgpwatch` and `repmgrwatch`:
//! DNS follows the pgpools and the primary as they fail and return, and the
//! gate and DNS reaction times are printed.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::support::cluster::Cluster;
use crate::support::gslb::{watcher_log_dir, Gslb, DB_PORT, PGP_PORT};

const PGP1: &str = "127.3.10.1";
const PGP2: &str = "127.3.10.2";
const DB1: &str = "127.3.20.1";
const DB2: &str = "127.3.20.2";
const DB3: &str = "127.3.20.3";
/// Generous bound for one reaction (pdns checks every second).
const REACTION: Duration = Duration::from_secs(15);

/// An open port that accepts and closes every connection, like a watcher's
/// open gate; dropping it closes the port (connection refused).
pub(crate) struct StandInGate {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StandInGate {
    pub(crate) fn open(ip: &str, port: u16) -> StandInGate {
        let listener = TcpListener::bind((ip, port)).expect("bind stand-in gate");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        StandInGate {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for StandInGate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn wait(gslb: &Gslb, name: &str, expected: &[&str], what: &str) -> Duration {
    let took = gslb
        .wait_for_answer(name, expected, Instant::now() + REACTION)
        .unwrap_or_else(|e| panic!("{what}: {e}\n--- pdns log ---\n{}", gslb.log()));
    eprintln!("gslb: {what}: answer followed in {took:?}");
    took
}

#[test]
#[ignore = "needs PowerDNS 4.7 (pdns-server, pdns-backend-bind): bin/test runs it, or cargo test -- --include-ignored"]
fn dns_answers_follow_gates_opening_and_closing() {
    let gslb = Gslb::start("pgpoolwatch.test", &[PGP1, PGP2], &[DB1, DB2, DB3]);
    let pgp = gslb.pgp_name();
    let db = gslb.db_name();
    eprintln!("gslb: zone {} served at {}", gslb.zone(), gslb.server());

    // Nothing open: pdns falls back to one random configured address per
    // query (backupSelector 'random'), never an empty answer.
    let all_dbs: BTreeSet<Ipv4Addr> = [DB1, DB2, DB3].iter().map(|a| a.parse().unwrap()).collect();
    let mut seen = BTreeSet::new();
    for _ in 0..40 {
        let answer = gslb.resolve(&db);
        assert_eq!(
            answer.len(),
            1,
            "all dbs down: one fallback address, got {answer:?}"
        );
        assert!(
            all_dbs.contains(&answer[0]),
            "fallback {answer:?} is a configured db"
        );
        seen.insert(answer[0]);
    }
    assert!(
        seen.len() > 1,
        "all dbs down: the fallback is random, saw only {seen:?}"
    );

    let mut took = Vec::new();
    let pgp1 = StandInGate::open(PGP1, PGP_PORT);
    let pgp2 = StandInGate::open(PGP2, PGP_PORT);
    took.push(wait(&gslb, &pgp, &[PGP1, PGP2], "both pgpool gates open"));

    drop(pgp1);
    took.push(wait(&gslb, &pgp, &[PGP2], "pgpool 1 gate closed"));

    let pgp1 = StandInGate::open(PGP1, PGP_PORT);
    took.push(wait(&gslb, &pgp, &[PGP1, PGP2], "pgpool 1 gate reopened"));

    let db1 = StandInGate::open(DB1, DB_PORT);
    took.push(wait(&gslb, &db, &[DB1], "only db1 gate open"));

    // The master moves: the new one opens, then the old one closes.
    let db2 = StandInGate::open(DB2, DB_PORT);
    drop(db1);
    took.push(wait(&gslb, &db, &[DB2], "db1 closed, db2 open"));

    // The pgpool record never saw the database gates.
    assert_eq!(
        gslb.resolve(&pgp),
        vec![PGP1.parse::<Ipv4Addr>().unwrap(), PGP2.parse().unwrap()],
        "pgp answer unchanged by db gates"
    );
    drop((pgp1, pgp2, db2));
    let max = took.iter().max().copied().unwrap_or_default();
    eprintln!("gslb: slowest reaction {max:?} of {took:?}");
}

// ---------------------------------------------------------------------------
// The original README's "Topology in Action", on a real cluster with the real
// watchers: pgpwatch beside each pgpool, repmgrwatch on each database host,
// and the GSLB answering from their gates.

/// The net of the cluster this scenario builds (its own, it promotes).
const TOPOLOGY_NET: u8 = 7;
/// Generous bound for a gate to follow a cluster change (check_period 1 s,
/// connect_timeout 2 s) and for DNS to follow a gate.
const GATE_DEADLINE: Duration = Duration::from_secs(20);
const DNS_DEADLINE: Duration = Duration::from_secs(20);
/// How long a gate probe may take; a refused connect returns at once.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// The five gates of a sandbox cluster, each asserted closed before any
/// watcher runs (both topology scenarios start from here).
pub(crate) fn closed_gates(cluster: &Cluster) -> Vec<(&'static str, String, u16)> {
    let gates = vec![
        ("pgp1", cluster.pgpool_addr(1), PGP_PORT),
        ("pgp2", cluster.pgpool_addr(2), PGP_PORT),
        ("db1", cluster.db_addr(1), DB_PORT),
        ("db2", cluster.db_addr(2), DB_PORT),
        ("db3", cluster.db_addr(3), DB_PORT),
    ];
    for (h, addr, port) in &gates {
        assert!(
            !gate_open(addr, *port),
            "{h}: {addr}:{port} is taken before any watcher runs"
        );
    }
    gates
}

/// Starts `exe` for `host` with the config.ini the sandbox generated for it
/// (asserted to have mail off), logging into `logdir`.
pub(crate) fn spawn_sandbox_watcher(
    cluster: &Cluster,
    exe: &str,
    host: &'static str,
    logdir: &std::path::Path,
) -> WatcherProcess {
    let config = cluster.config_path(host);
    let text = std::fs::read_to_string(&config).expect("read generated config");
    assert!(
        text.contains("sendmail = no"),
        "{}: sendmail must be off",
        config.display()
    );
    WatcherProcess::spawn(exe, host, &config, logdir)
}

/// One watcher process (the built binary with the sandbox's config for its
/// host); SIGTERM by pid on drop, SIGKILL if it does not exit in 10 s.
pub(crate) struct WatcherProcess {
    host: &'static str,
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl WatcherProcess {
    pub(crate) fn spawn(
        exe: &str,
        host: &'static str,
        config: &std::path::Path,
        logdir: &std::path::Path,
    ) -> WatcherProcess {
        let log = logdir.join(format!("{host}.log"));
        let out = std::fs::File::create(&log).expect("create watcher log");
        let err = out.try_clone().expect("clone watcher log");
        let child = std::process::Command::new(exe)
            .arg("--config")
            .arg(config)
            .env("PGPOOLWATCH_LOG", "debug")
            .env_remove("NOTIFY_SOCKET")
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {exe} for {host}: {e}"));
        WatcherProcess { host, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Decisions logged so far: every check logs one line `<program>: <reason>`
    /// (debug when the port stays, info when it moves).
    fn decisions(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| {
                (l.contains("] pgpwatch: ") || l.contains("] repmgrwatch: "))
                    && !l.contains("does not answer")
                    && !l.contains("not sent")
                    && !l.contains("stopped")
                    && !l.contains("SIGHUP")
            })
            .count()
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "watcher on {} exited with {status}\n--- its log ---\n{}",
                self.host,
                self.log()
            );
        }
    }
}

impl Drop for WatcherProcess {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= end => {
                    eprintln!("gslb: watcher on {} ignored SIGTERM; killing", self.host);
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// The five watchers and their gate addresses.
pub(crate) struct Topology {
    pub(crate) watchers: Vec<WatcherProcess>,
    pub(crate) gates: Vec<(&'static str, String, u16)>,
}

impl Topology {
    fn watcher(&mut self, host: &str) -> &mut WatcherProcess {
        self.watchers
            .iter_mut()
            .find(|w| w.host == host)
            .expect("known watcher host")
    }

    pub(crate) fn is_open(&self, host: &str) -> bool {
        let (_, addr, port) = self
            .gates
            .iter()
            .find(|(h, _, _)| *h == host)
            .expect("known gate");
        let sa: std::net::SocketAddr = format!("{addr}:{port}").parse().expect("gate address");
        std::net::TcpStream::connect_timeout(&sa, PROBE_TIMEOUT).is_ok()
    }

    /// `host=OPEN/closed ...` for every gate, for messages.
    pub(crate) fn gates_line(&self) -> String {
        self.gates
            .iter()
            .map(|(h, _, _)| format!("{h}={}", if self.is_open(h) { "OPEN" } else { "closed" }))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn logs(&self) -> String {
        self.watchers
            .iter()
            .map(|w| {
                let log = w.log();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                format!("--- {} (last lines) ---\n{tail}", w.host)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub(crate) fn check_alive(&mut self) {
        for w in &mut self.watchers {
            w.assert_running();
        }
    }

    /// Polls until every listed gate is in its wanted state; returns how long
    /// that took from the call.
    fn wait_gates(&mut self, want: &[(&str, bool)], what: &str) -> Duration {
        let begin = Instant::now();
        loop {
            self.check_alive();
            if want.iter().all(|(h, open)| self.is_open(h) == *open) {
                let took = begin.elapsed();
                eprintln!("gslb topology: {what}: gates moved in {took:?}");
                return took;
            }
            if begin.elapsed() >= GATE_DEADLINE {
                panic!(
                    "{what}: wanted {want:?} within {GATE_DEADLINE:?}, gates now {}\n{}",
                    self.gates_line(),
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until each of `hosts` has logged `n` more decisions, then asserts
    /// every database gate is closed: the gate stayed closed through real
    /// checks, not merely before the first one.
    pub(crate) fn assert_db_gates_stay_closed(&mut self, n: usize, what: &str) {
        let hosts = ["db1", "db2", "db3"];
        let start: Vec<usize> = hosts.iter().map(|h| self.watcher(h).decisions()).collect();
        let begin = Instant::now();
        loop {
            self.check_alive();
            for h in hosts {
                assert!(
                    !self.is_open(h),
                    "{what}: {h}'s gate is open, gates {}\n{}",
                    self.gates_line(),
                    self.logs()
                );
            }
            let done = hosts
                .iter()
                .zip(&start)
                .all(|(h, s)| self.watcher(h).decisions() >= s + n);
            if done {
                return;
            }
            if begin.elapsed() >= GATE_DEADLINE {
                panic!(
                    "{what}: repmgrwatch did not log {n} more checks within {GATE_DEADLINE:?}\n{}",
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One look at every gate and both names, taken by the [`Recorder`].
struct Sample {
    at: Instant,
    /// Open gates, by host.
    open: Vec<&'static str>,
    pgp: Result<Vec<Ipv4Addr>, String>,
    db: Result<Vec<Ipv4Addr>, String>,
}

/// Looks at the gates and DNS every 20 ms from its own thread, so the
/// moment a gate moved is known even when it moved while a `bin/sandbox`
/// verb was still running, and DNS reaction times are measured from it.
pub(crate) struct Recorder {
    samples: std::sync::Mutex<Vec<Sample>>,
    stop: AtomicBool,
}

/// Sets the recorder's stop flag when dropped (also while unwinding), so the
/// scope that joins its thread never waits forever.
pub(crate) struct StopRecorder<'a>(pub(crate) &'a Recorder);

impl Drop for StopRecorder<'_> {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

impl Recorder {
    pub(crate) fn new() -> Recorder {
        Recorder {
            samples: std::sync::Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        }
    }

    pub(crate) fn run(&self, gates: &[(&'static str, String, u16)], gslb: &Gslb) {
        let (pgp, db) = (gslb.pgp_name(), gslb.db_name());
        let sorted = |r: Result<Vec<Ipv4Addr>, String>| {
            r.map(|mut a| {
                a.sort();
                a
            })
        };
        while !self.stop.load(Ordering::SeqCst) {
            let at = Instant::now();
            let open = gates
                .iter()
                .filter(|(_, addr, port)| gate_open(addr, *port))
                .map(|(h, _, _)| *h)
                .collect();
            let sample = Sample {
                at,
                open,
                pgp: sorted(gslb.try_resolve(&pgp)),
                db: sorted(gslb.try_resolve(&db)),
            };
            self.samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sample);
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first sample at or after `since` where every gate of `want` is as wanted.
    fn gate_moved_at(&self, since: Instant, want: &[(&str, bool)]) -> Option<Instant> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples
            .iter()
            .filter(|s| s.at >= since)
            .find(|s| want.iter().all(|(h, o)| s.open.contains(h) == *o))
            .map(|s| s.at)
    }

    /// The start of the last run of samples (from `since` on) whose answer
    /// for `name` is `expected`, lasting to the latest sample.
    fn dns_followed_at(&self, since: Instant, pgp: bool, expected: &[Ipv4Addr]) -> Option<Instant> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let mut start = None;
        for s in samples.iter().filter(|s| s.at >= since) {
            let answer = if pgp { &s.pgp } else { &s.db };
            match answer {
                Ok(a) if a.as_slice() == expected => {
                    start.get_or_insert(s.at);
                }
                _ => start = None,
            }
        }
        start
    }
}

pub(crate) fn gate_open(addr: &str, port: u16) -> bool {
    match format!("{addr}:{port}").parse::<std::net::SocketAddr>() {
        Ok(sa) => std::net::TcpStream::connect_timeout(&sa, PROBE_TIMEOUT).is_ok(),
        Err(_) => false,
    }
}

/// One measured step of the scenario.
pub(crate) struct Figure {
    pub(crate) what: &'static str,
    /// How long the `bin/sandbox` verb (or watcher start) took.
    pub(crate) verb: Duration,
    /// From the verb's start to the gate's move.
    pub(crate) gate: Duration,
    /// From the gate's move to the DNS answer (first of the stable run).
    pub(crate) dns: Duration,
}

/// One step: runs `change`, waits for the gates of `want`, then for DNS to
/// answer `expected` for `name`; measures both from the recorder's samples.
#[allow(clippy::too_many_arguments)]
pub(crate) fn step(
    what: &'static str,
    change: impl FnOnce(&mut Topology),
    want: &[(&str, bool)],
    name: &str,
    expected: &[&str],
    topo: &mut Topology,
    gslb: &Gslb,
    recorder: &Recorder,
) -> Figure {
    let begin = Instant::now();
    change(topo);
    let verb = begin.elapsed();
    topo.wait_gates(want, what);
    let moved = recorder.gate_moved_at(begin, want);
    // The recorder may not have sampled the final state yet: wait for it.
    let moved = match moved {
        Some(m) => m,
        None => {
            let end = Instant::now() + Duration::from_secs(2);
            loop {
                if let Some(m) = recorder.gate_moved_at(begin, want) {
                    break m;
                }
                assert!(Instant::now() < end, "{what}: recorder saw no gate move");
                thread::sleep(Duration::from_millis(10));
            }
        }
    };
    gslb.wait_for_answer(name, expected, Instant::now() + DNS_DEADLINE)
        .unwrap_or_else(|e| {
            panic!(
                "{what}: {e}\ngates {}\n{}\n--- pdns log ---\n{}",
                topo.gates_line(),
                topo.logs(),
                gslb.log()
            )
        });
    let mut want_addrs: Vec<Ipv4Addr> = expected.iter().map(|a| a.parse().unwrap()).collect();
    want_addrs.sort();
    let pgp = name.starts_with("pgp.");
    let followed = recorder
        .dns_followed_at(moved, pgp, &want_addrs)
        .unwrap_or_else(|| panic!("{what}: the recorder never saw {name} answer {expected:?}"));
    let figure = Figure {
        what,
        verb,
        gate: moved.saturating_duration_since(begin),
        dns: followed.saturating_duration_since(moved),
    };
    eprintln!(
        "gslb topology: {what}: gates {}; {name} -> {expected:?}; verb {:.2?}, verb start -> gate {:.2?}, gate -> DNS {:.2?}",
        topo.gates_line(),
        figure.verb,
        figure.gate,
        figure.dns
    );
    figure
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn dns_follows_the_original_topology_as_pgpools_and_primary_fail() {
    let cluster = Cluster::up(TOPOLOGY_NET);
    let pgp = |n: u8| cluster.pgpool_addr(n);
    let db = |n: u8| cluster.db_addr(n);
    let (p1, p2, d1, d2, d3) = (pgp(1), pgp(2), db(1), db(2), db(3));
    let gates = closed_gates(&cluster);
    // The GSLB first: it sees every port closed, then follows the watchers.
    let gslb = Gslb::start(
        "topology.test",
        &[p1.as_str(), p2.as_str()],
        &[d1.as_str(), d2.as_str(), d3.as_str()],
    );
    let (pgp_name, db_name) = (gslb.pgp_name(), gslb.db_name());

    let logdir = watcher_log_dir(&format!("gslb-watchers-net{TOPOLOGY_NET}"));
    eprintln!(
        "gslb topology: cluster net {TOPOLOGY_NET}, zone {} at {}, watcher logs in {}",
        gslb.zone(),
        gslb.server(),
        logdir.display()
    );
    let spawn = |exe: &str, host: &'static str| spawn_sandbox_watcher(&cluster, exe, host, &logdir);
    let mut topo = Topology {
        watchers: Vec::new(),
        gates: gates.clone(),
    };
    let recorder = Recorder::new();
    let figures = thread::scope(|scope| {
        let _stop = StopRecorder(&recorder);
        scope.spawn(|| recorder.run(&gates, &gslb));
        let mut figures = Vec::new();

        // Both pgpools up: pgp answers both. pgpwatch starts first, as on
        // real hosts where the pgpools are up long before a database fails
        // over (a repmgrwatch started while no pgpwatch gate is open yet
        // rightly opens for that moment).
        figures.push(step(
            "pgpwatch started, pgpools up",
            |topo| {
                topo.watchers
                    .push(spawn(env!("CARGO_BIN_EXE_pgpwatch"), "pgp1"));
                topo.watchers
                    .push(spawn(env!("CARGO_BIN_EXE_pgpwatch"), "pgp2"));
            },
            &[("pgp1", true), ("pgp2", true)],
            &pgp_name,
            &[&p1, &p2],
            &mut topo,
            &gslb,
            &recorder,
        ));
        // No database opens while a pgpool answers. db.<zone> then gets
        // pdns's random fallback, so the gates themselves are asserted.
        for host in ["db1", "db2", "db3"] {
            topo.watchers
                .push(spawn(env!("CARGO_BIN_EXE_repmgrwatch"), host));
        }
        topo.assert_db_gates_stay_closed(3, "both pgpools up");

        // Pgpool 1 fails: pgp answers pgpool 2 only; still no database opens.
        figures.push(step(
            "pgpool 1 stopped",
            |_| cluster.stop_pgpool(1),
            &[("pgp1", false), ("pgp2", true)],
            &pgp_name,
            &[&p2],
            &mut topo,
            &gslb,
            &recorder,
        ));
        topo.assert_db_gates_stay_closed(2, "pgpool 1 stopped, pgpool 2 up");

        // Both pgpools fail: the master's repmgrwatch opens, the standbys' stay closed.
        figures.push(step(
            "pgpool 2 stopped too",
            |_| cluster.stop_pgpool(2),
            &[
                ("pgp2", false),
                ("db1", true),
                ("db2", false),
                ("db3", false),
            ],
            &db_name,
            &[&d1],
            &mut topo,
            &gslb,
            &recorder,
        ));

        // Pgpool 2 returns: pgp answers it, the master closes its port again.
        figures.push(step(
            "pgpool 2 started",
            |_| cluster.start_pgpool(2),
            &[("pgp2", true), ("db1", false)],
            &pgp_name,
            &[&p2],
            &mut topo,
            &gslb,
            &recorder,
        ));
        topo.assert_db_gates_stay_closed(2, "pgpool 2 back");

        // Both pgpools down again, then the primary is lost and db2
        // promoted: the port moves to the new master.
        figures.push(step(
            "pgpool 2 stopped again",
            |_| cluster.stop_pgpool(2),
            &[("pgp2", false), ("db1", true)],
            &db_name,
            &[&d1],
            &mut topo,
            &gslb,
            &recorder,
        ));
        figures.push(step(
            "db1 stopped, db2 promoted",
            |_| {
                cluster.stop_db(1);
                cluster.promote(2);
            },
            &[("db1", false), ("db2", true), ("db3", false)],
            &db_name,
            &[&d2],
            &mut topo,
            &gslb,
            &recorder,
        ));
        assert!(
            !topo.is_open("pgp1") && !topo.is_open("pgp2"),
            "pgpool gates stay closed: {}",
            topo.gates_line()
        );
        topo.check_alive();
        figures
    });

    eprintln!(
        "gslb topology: measured (verb, verb start -> gate moved, gate moved -> DNS answer):"
    );
    for f in &figures {
        eprintln!(
            "  {:30} {:>10.2?} {:>10.2?} {:>10.2?}",
            f.what, f.verb, f.gate, f.dns
        );
    }
    let worst = figures.iter().map(|f| f.dns).max().unwrap_or_default();
    eprintln!("gslb topology: slowest gate -> DNS {worst:.2?}");
    drop(topo); // SIGTERM to the watchers before the cluster goes down
    drop(gslb);
    drop(cluster);
}
