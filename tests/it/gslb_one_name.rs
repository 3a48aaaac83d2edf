//! One GSLB name for the whole topology (issue 10 item 3; this module was
//! `gslb49.rs`): PowerDNS 4.9 (Debian 13's, chrooted in the trixie root of
//! bin/roots) answering the original README's topology with ONE name:
//! `pgp.<zone>` answers the pgpools whose gate (5559) is open while one is,
//! the open database gate (5560, the master's) when no pgpool is, and every
//! pgpool when nothing is up. 4.9's `ifportup` takes sets of addresses but
//! one port for all, and no selector answers nothing, so with two ports the
//! record is a multi-statement LUA snippet over two `ifportup` results, told
//! apart by an address that never listens (support/pdns.rs
//! `combined_pgp_record`, whose doc says how). With both gates on 5559 (the
//! original's default) one `ifportup` over two sets does it (`sets.<zone>`).
//!
//! Against stand-in gates (net 24): the snippet on 4.9 and on the host's
//! 4.7 (which serves it too), the sets form on 4.9. Then the snippet on 4.9
//! with a real sandbox cluster (net 23), the built `pgpwatch` and
//! `repmgrwatch`, reaction times printed.

use std::thread;
use std::time::{Duration, Instant};

use crate::gslb::{
    closed_gates, spawn_sandbox_watcher, step, Figure, Recorder, StandInGate, StopRecorder,
    Topology,
};
use crate::support::cluster::Cluster;
use crate::support::gslb::{watcher_log_dir, Gslb, DB_PORT, PGP_PORT};

/// The addresses of one stand-in scenario (each test its own, so they may
/// run at once).
struct StandIns {
    pgp1: &'static str,
    pgp2: &'static str,
    db1: &'static str,
    db2: &'static str,
    /// Nothing listens here, on any port: the record's "nothing up" marker.
    none_up: &'static str,
}

const ON_49: StandIns = StandIns {
    pgp1: "127.24.10.1",
    pgp2: "127.24.10.2",
    db1: "127.24.20.1",
    db2: "127.24.20.2",
    none_up: "127.24.0.254",
};
const SETS_49: StandIns = StandIns {
    pgp1: "127.24.12.1",
    pgp2: "127.24.12.2",
    db1: "127.24.22.1",
    db2: "127.24.22.2",
    none_up: "127.24.0.251",
};
const ON_47: StandIns = StandIns {
    pgp1: "127.24.11.1",
    pgp2: "127.24.11.2",
    db1: "127.24.21.1",
    db2: "127.24.21.2",
    none_up: "127.24.0.252",
};
impl StandIns {
    fn pgpools(&self) -> [&'static str; 2] {
        [self.pgp1, self.pgp2]
    }

    fn dbs(&self) -> [&'static str; 2] {
        [self.db1, self.db2]
    }
}

/// Which record of the zone a scenario asks.
enum Record {
    /// `pgp.<zone>`: the snippet over two `ifportup` results (pgpools on
    /// 5559, databases on 5560); all down answers every pgpool.
    Snippet,
    /// `sets.<zone>`: one `ifportup` over two sets, both gates on 5559;
    /// all down answers every address of every set.
    Sets,
}

/// Generous bound for one reaction (pdns checks every second).
const REACTION: Duration = Duration::from_secs(15);
/// Queries that must all give the same answer once it has settled.
const REPEATS: usize = 40;

/// Waits until `name` answers `expected` (stable, see `wait_for_answer`),
/// then asks [`REPEATS`] more times and asserts every answer is exactly
/// that: no random fallback slips in. Returns the reaction time.
fn settles(gslb: &Gslb, name: &str, expected: &[&str], what: &str) -> Duration {
    let took = gslb
        .wait_for_answer(name, expected, Instant::now() + REACTION)
        .unwrap_or_else(|e| panic!("{what}: {e}\n--- pdns log ---\n{}", gslb.log()));
    let mut want: Vec<std::net::Ipv4Addr> = expected
        .iter()
        .map(|a| a.parse().expect("test address"))
        .collect();
    want.sort();
    for i in 0..REPEATS {
        let answer = gslb.resolve(name);
        assert_eq!(answer, want, "{what}: query {i} after it settled");
    }
    eprintln!("gslb one name: {what}: {name} -> {expected:?} in {took:?}");
    took
}

#[test]
#[ignore = "needs root and the trixie root of bin/roots (PowerDNS 4.9): bin/test runs it, or cargo test -- --include-ignored"]
fn pdns_49_one_name_answers_pgpools_then_the_master_gate_then_every_pgpool() {
    let s = &ON_49;
    let gslb = Gslb::start_49("pgpoolwatch49.test", &s.pgpools(), &s.dbs(), s.none_up);
    one_name_scenario(
        &gslb,
        s,
        "PowerDNS Authoritative Server 4.9.",
        Record::Snippet,
    );
}

/// 4.9's `ifportup` also takes sets (the first with an address up wins),
/// but one port for all: it expresses the topology when both watchers open
/// 5559 (the original's default for both). All down, `backupSelector='all'`
/// answers every address of every set.
#[test]
#[ignore = "needs root and the trixie root of bin/roots (PowerDNS 4.9): bin/test runs it, or cargo test -- --include-ignored"]
fn pdns_49_ifportup_over_sets_answers_the_same_when_both_gates_use_5559() {
    let s = &SETS_49;
    let gslb = Gslb::start_49("sets49.test", &s.pgpools(), &s.dbs(), s.none_up);
    one_name_scenario(&gslb, s, "PowerDNS Authoritative Server 4.9.", Record::Sets);
}

/// The host's 4.7 (bookworm) runs the same record: its `ifportup` takes one
/// set, `backupSelector='all'` and a leading `;` are there already.
#[test]
#[ignore = "needs PowerDNS 4.7 (pdns-server, pdns-backend-bind): bin/test runs it, or cargo test -- --include-ignored"]
fn pdns_47_serves_the_same_one_name_record() {
    let s = &ON_47;
    let gslb = Gslb::start_combined_47("pgpoolwatch47.test", &s.pgpools(), &s.dbs(), s.none_up);
    one_name_scenario(
        &gslb,
        s,
        "PowerDNS Authoritative Server 4.7.",
        Record::Snippet,
    );
}

/// The stand-in gates (pgpools on 5559, databases on the record's port)
/// open and close; the record's name must follow each step.
fn one_name_scenario(gslb: &Gslb, s: &StandIns, version_prefix: &str, record: Record) {
    let (name, db_port, all_down) = match record {
        Record::Snippet => (gslb.pgp_name(), DB_PORT, s.pgpools().to_vec()),
        Record::Sets => (gslb.sets_name(), PGP_PORT, [s.pgpools(), s.dbs()].concat()),
    };
    let (name, all_down) = (name.as_str(), all_down.as_slice());
    let version = gslb.version();
    assert!(
        version.starts_with(version_prefix),
        "expected {version_prefix}x, pdns says: {version}"
    );
    eprintln!(
        "gslb one name: {version}, zone {} at {}:\n{}",
        gslb.zone(),
        gslb.server(),
        gslb.zone_file()
    );
    let (pgps, dbs) = (s.pgpools(), s.dbs());

    // Nothing up: every pgpool, the same answer on every query (ifportup
    // alone with the default backupSelector answers one random address).
    let mut took = vec![settles(gslb, name, all_down, "nothing up")];

    let db1 = StandInGate::open(s.db1, db_port);
    took.push(settles(gslb, name, &[s.db1], "no pgpool, db1 gate open"));

    let pgp1 = StandInGate::open(s.pgp1, PGP_PORT);
    took.push(settles(
        gslb,
        name,
        &[s.pgp1],
        "pgpool 1 up, db1 gate still open",
    ));

    let pgp2 = StandInGate::open(s.pgp2, PGP_PORT);
    took.push(settles(gslb, name, &pgps, "both pgpools up"));

    drop(pgp1);
    took.push(settles(gslb, name, &[s.pgp2], "pgpool 1 down"));

    drop(pgp2);
    took.push(settles(
        gslb,
        name,
        &[s.db1],
        "both pgpools down, db1 gate open",
    ));

    // The master moves: the new one opens, then the old one closes.
    let db2 = StandInGate::open(s.db2, db_port);
    drop(db1);
    took.push(settles(gslb, name, &[s.db2], "master moved to db2"));

    let pgp2 = StandInGate::open(s.pgp2, PGP_PORT);
    took.push(settles(
        gslb,
        name,
        &[s.pgp2],
        "pgpool 2 back, db2 gate still open",
    ));

    drop((pgp2, db2));
    took.push(settles(gslb, name, all_down, "everything down again"));
    // db.<zone> shares the checks' options: all down is every db, not one at random.
    took.push(settles(gslb, &gslb.db_name(), &dbs, "db record, all down"));

    let max = took.iter().max().copied().unwrap_or_default();
    eprintln!("gslb one name: slowest reaction {max:?} of {took:?}");
    let log = gslb.log();
    for bad in ["Warning", "Error", "reported:"] {
        assert!(!log.contains(bad), "pdns logged {bad:?}:\n{log}");
    }
}

// ---------------------------------------------------------------------------
// The same one name on a real cluster with the real watchers (as the net-7
// scenario of gslb.rs, which asks two names of 4.7).

/// The net of this scenario's cluster (its own: it promotes).
const TOPOLOGY_NET: u8 = 23;
/// The topology's "nothing up" marker (net 24 holds no cluster).
const TOPOLOGY_NONE_UP: &str = "127.24.0.253";

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn pdns_49_one_name_follows_the_real_topology_as_pgpools_and_primary_fail() {
    let cluster = Cluster::up(TOPOLOGY_NET);
    let (p1, p2) = (cluster.pgpool_addr(1), cluster.pgpool_addr(2));
    let (d1, d2, d3) = (cluster.db_addr(1), cluster.db_addr(2), cluster.db_addr(3));
    let gates = closed_gates(&cluster);
    let gslb = Gslb::start_49(
        "topology49.test",
        &[p1.as_str(), p2.as_str()],
        &[d1.as_str(), d2.as_str(), d3.as_str()],
        TOPOLOGY_NONE_UP,
    );
    let pgp = gslb.pgp_name();
    let logdir = watcher_log_dir(&format!("gslb-one-name-watchers-net{TOPOLOGY_NET}"));
    eprintln!(
        "gslb 4.9 topology: cluster net {TOPOLOGY_NET}, {} at {}, watcher logs in {}",
        gslb.version(),
        gslb.server(),
        logdir.display()
    );
    let spawn = |exe: &str, host: &'static str| spawn_sandbox_watcher(&cluster, exe, host, &logdir);
    let mut topo = Topology {
        watchers: Vec::new(),
        gates: gates.clone(),
    };
    let recorder = Recorder::new();
    let figures: Vec<Figure> = thread::scope(|scope| {
        let _stop = StopRecorder(&recorder);
        scope.spawn(|| recorder.run(&gates, &gslb));
        let mut figures = Vec::new();
        let run = |topo: &mut Topology,
                   what,
                   change: &dyn Fn(&mut Topology),
                   want: &[(&str, bool)],
                   expected: &[&str]| {
            step(what, change, want, &pgp, expected, topo, &gslb, &recorder)
        };
        // Nothing is up yet, so pgp already answers both pgpools (the
        // all-down answer); the gates prove the watchers opened.
        figures.push(run(
            &mut topo,
            "pgpwatch started, pgpools up",
            &|topo| {
                topo.watchers
                    .push(spawn(env!("CARGO_BIN_EXE_pgpwatch"), "pgp1"));
                topo.watchers
                    .push(spawn(env!("CARGO_BIN_EXE_pgpwatch"), "pgp2"));
            },
            &[("pgp1", true), ("pgp2", true)],
            &[&p1, &p2],
        ));
        // No database gate opens while a pgpool answers.
        for host in ["db1", "db2", "db3"] {
            topo.watchers
                .push(spawn(env!("CARGO_BIN_EXE_repmgrwatch"), host));
        }
        topo.assert_db_gates_stay_closed(3, "both pgpools up");
        figures.push(run(
            &mut topo,
            "pgpool 1 stopped",
            &|_| cluster.stop_pgpool(1),
            &[("pgp1", false), ("pgp2", true)],
            &[&p2],
        ));
        topo.assert_db_gates_stay_closed(2, "pgpool 1 stopped, pgpool 2 up");
        figures.push(run(
            &mut topo,
            "pgpool 2 stopped too",
            &|_| cluster.stop_pgpool(2),
            &[
                ("pgp2", false),
                ("db1", true),
                ("db2", false),
                ("db3", false),
            ],
            &[&d1],
        ));
        figures.push(run(
            &mut topo,
            "pgpool 2 started",
            &|_| cluster.start_pgpool(2),
            &[("pgp2", true), ("db1", false)],
            &[&p2],
        ));
        topo.assert_db_gates_stay_closed(2, "pgpool 2 back");
        figures.push(run(
            &mut topo,
            "pgpool 2 stopped again",
            &|_| cluster.stop_pgpool(2),
            &[("pgp2", false), ("db1", true)],
            &[&d1],
        ));
        figures.push(run(
            &mut topo,
            "db1 stopped, db2 promoted",
            &|_| {
                cluster.stop_db(1);
                cluster.promote(2);
            },
            &[("db1", false), ("db2", true), ("db3", false)],
            &[&d2],
        ));
        figures.push(run(
            &mut topo,
            "pgpool 1 started",
            &|_| cluster.start_pgpool(1),
            &[("pgp1", true), ("db2", false)],
            &[&p1],
        ));
        topo.check_alive();
        figures
    });
    eprintln!(
        "gslb 4.9 topology: measured (verb, verb start -> gate moved, gate moved -> pgp answer):"
    );
    for f in &figures {
        eprintln!(
            "  {:30} {:>10.2?} {:>10.2?} {:>10.2?}",
            f.what, f.verb, f.gate, f.dns
        );
    }
    let worst = figures.iter().map(|f| f.dns).max().unwrap_or_default();
    eprintln!("gslb 4.9 topology: slowest gate -> pgp answer {worst:.2?}");
    drop(topo); // SIGTERM to the watchers before the cluster goes down
    drop(gslb);
    drop(cluster);
}
