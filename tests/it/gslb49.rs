//! PowerDNS 4.9 (Debian 13's, chrooted in the trixie root of bin/roots)
//! answering the original README's topology with ONE name (issue 10 item 3):
//! `pgp.<zone>` answers the pgpools whose gate (5559) is open while one is,
//! the open database gate (5560, the master's) when no pgpool is, and every
//! pgpool when nothing is up. 4.9 has no `ifportup` over two ports and no
//! selector that answers nothing, so the record is a multi-statement LUA
//! snippet over two `ifportup` results, told apart by an address that never
//! listens (support/gslb.rs `combined_pgp_record`, whose doc says how).
//! First against stand-in gates, then on a real sandbox cluster (net 23)
//! with the built `pgpwatch` and `repmgrwatch`.

use std::time::{Duration, Instant};

use crate::gslb::StandInGate;
use crate::support::gslb::{Gslb, DB_PORT, PGP_PORT};

const PGP1: &str = "127.24.10.1";
const PGP2: &str = "127.24.10.2";
const DB1: &str = "127.24.20.1";
const DB2: &str = "127.24.20.2";
/// Nothing listens here, on any port: the record's "nothing up" marker.
const NONE_UP: &str = "127.24.0.254";
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
    eprintln!("gslb 4.9: {what}: {name} -> {expected:?} in {took:?}");
    took
}

#[test]
fn pdns_49_one_name_answers_pgpools_then_the_master_gate_then_every_pgpool() {
    let gslb = Gslb::start_49("pgpoolwatch49.test", &[PGP1, PGP2], &[DB1, DB2], NONE_UP);
    let version = gslb.version();
    assert!(
        version.starts_with("PowerDNS Authoritative Server 4.9."),
        "the trixie root's pdns: {version}"
    );
    let pgp = gslb.pgp_name();
    eprintln!(
        "gslb 4.9: {version}, zone {} at {}:\n{}",
        gslb.zone(),
        gslb.server(),
        gslb.zone_file()
    );

    // Nothing up: every pgpool, the same answer on every query (4.7's
    // ifportup alone answers one random address here).
    let mut took = vec![settles(&gslb, &pgp, &[PGP1, PGP2], "nothing up")];

    let db1 = StandInGate::open(DB1, DB_PORT);
    took.push(settles(&gslb, &pgp, &[DB1], "no pgpool, db1 gate open"));

    let pgp1 = StandInGate::open(PGP1, PGP_PORT);
    took.push(settles(
        &gslb,
        &pgp,
        &[PGP1],
        "pgpool 1 up, db1 gate still open",
    ));

    let pgp2 = StandInGate::open(PGP2, PGP_PORT);
    took.push(settles(&gslb, &pgp, &[PGP1, PGP2], "both pgpools up"));

    drop(pgp1);
    took.push(settles(&gslb, &pgp, &[PGP2], "pgpool 1 down"));

    drop(pgp2);
    took.push(settles(
        &gslb,
        &pgp,
        &[DB1],
        "both pgpools down, db1 gate open",
    ));

    // The master moves: the new one opens, then the old one closes.
    let db2 = StandInGate::open(DB2, DB_PORT);
    drop(db1);
    took.push(settles(&gslb, &pgp, &[DB2], "master moved to db2"));

    let pgp2 = StandInGate::open(PGP2, PGP_PORT);
    took.push(settles(
        &gslb,
        &pgp,
        &[PGP2],
        "pgpool 2 back, db2 gate still open",
    ));

    drop((pgp2, db2));
    took.push(settles(&gslb, &pgp, &[PGP1, PGP2], "everything down again"));
    // db.<zone> shares the checks' options: all down is every db, not one at random.
    took.push(settles(
        &gslb,
        &gslb.db_name(),
        &[DB1, DB2],
        "db record, all down",
    ));

    let max = took.iter().max().copied().unwrap_or_default();
    eprintln!("gslb 4.9: slowest reaction {max:?} of {took:?}");
    let log = gslb.log();
    for bad in ["Warning", "Error", "reported:"] {
        assert!(!log.contains(bad), "pdns logged {bad:?}:\n{log}");
    }
}
