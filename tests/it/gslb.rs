//! The GSLB helper against plain TCP listeners standing in for the watchers'
//! gates: proves that a real PowerDNS with LUA `ifportup` records follows
//! ports opening and closing, so the watcher scenario tests can rely on it.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::support::gslb::{Gslb, DB_PORT, PGP_PORT};

const PGP1: &str = "127.3.10.1";
const PGP2: &str = "127.3.10.2";
const DB1: &str = "127.3.20.1";
const DB2: &str = "127.3.20.2";
const DB3: &str = "127.3.20.3";
/// Generous bound for one reaction (pdns checks every second).
const REACTION: Duration = Duration::from_secs(15);

/// An open port that accepts and closes every connection, like a watcher's
/// open gate; dropping it closes the port (connection refused).
struct StandInGate {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StandInGate {
    fn open(ip: &str, port: u16) -> StandInGate {
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
