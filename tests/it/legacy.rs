//! The original's own stack for real (issue 16): PostgreSQL 9.6.10, repmgr
//! 3.2.1 and pgpool-II 3.6.28, built from source by bin/legacy and run by
//! `bin/sandbox` with `SANDBOX_DISTRO=legacy`. The core scenarios (poolstatus
//! healthy / standby down / pgpool down in text, JSON and Nagios; pgpwatch
//! stopped and frozen; repmgrwatch with both pgpools down, after a promotion
//! and in split brain) run in tests/it/matrix.rs like every release's; here
//! is what only this stack has: repmgr 3's witness (`witness register` into
//! `repmgr_<cluster>.repl_nodes`), and the report after a failover, where
//! repmgr 3 keeps the old master's row as `type=master, active=f`.
//!
//! Nets: 25 (witness), 26 (failover report), 27 (the original's sample),
//! 28 (pgpwatch and a pgpool without the stats command).

use std::time::Duration;

use crate::matrix::{record, versions_are_the_releases, LEGACY};
use crate::poolstatus::{poolstatus_until, show};
use crate::support::cluster::Cluster;
use crate::support::original_report::missing_original_parts;
use crate::support::watchers::{Tuning, Watcher, SLACK};

/// Long enough for a watcher's first check and a cluster verb on a busy machine.
const START: Duration = Duration::from_secs(20);

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn legacy_repmgr_3_witness_is_no_master_both_pgpools_down_opens_the_master_only() {
    let cluster = Cluster::up_distro_with_witness(25, "legacy");
    let witness = cluster
        .psql(&cluster.witness_addr(), "select version()")
        .unwrap_or_else(|e| panic!("witness: {e}"));
    assert!(
        witness.starts_with("PostgreSQL 9.6.10"),
        "witness runs {witness}"
    );
    let tuning = Tuning::default();
    let mut pgp1 = Watcher::pgpwatch(&cluster, "pgp1", None, &tuning);
    let mut pgp2 = Watcher::pgpwatch(&cluster, "pgp2", None, &tuning);
    pgp1.wait_port(true, START);
    pgp2.wait_port(true, START);
    // db1 reads the master's repl_nodes, the witness host its own copy
    let mut dbs: Vec<Watcher> = ["db1", "db2", "witness"]
        .iter()
        .map(|h| Watcher::repmgrwatch(&cluster, h, None, &tuning))
        .collect();
    for w in &dbs {
        w.wait_checks(2, START);
        assert!(
            !w.is_open(),
            "legacy {}: closed while the pgpools answer",
            w.host
        );
    }
    cluster.stop_pgpool(1);
    cluster.stop_pgpool(2);
    let bound = tuning.reaction_bound() * 2 + SLACK;
    let took = dbs[0].wait_port(true, bound);
    record(&format!(
        "legacy: witness cluster: db1 port open {:.3} s after both stop-pgpool verbs returned (bound {:.1} s)",
        took.as_secs_f64(),
        bound.as_secs_f64()
    ));
    for w in &dbs[1..] {
        w.assert_port_stays(false, tuning.reaction_bound() * 2);
    }
    for w in &dbs {
        w.wait_checks(3, Duration::from_secs(20));
        assert!(
            !w.log().contains("nodes answer as master"),
            "legacy {}: the witness is no second master (repmgrwatch's reason for several masters); log:\n{}",
            w.host,
            w.log_tail(20)
        );
    }
    assert!(
        dbs[0].is_open(),
        "legacy db1 still open; log:\n{}",
        dbs[0].log_tail(20)
    );

    // poolstatus (pgpools back) lists the witness and calls the cluster OK
    cluster.start_pgpool(1);
    let ok = poolstatus_until(&cluster.config_path("pgp1"), Duration::from_secs(30), |p| {
        p.code == 0
    });
    let text = show(&ok);
    assert_eq!(ok.code, 0, "legacy with a witness: healthy\n{text}");
    assert!(
        ok.stdout
            .lines()
            .any(|l| l.contains("witness") && l.contains(&cluster.witness_addr())),
        "legacy: the witness's row in the repmgr section\n{text}"
    );
    for w in dbs.iter_mut() {
        w.stop();
    }
    pgp1.stop();
    pgp2.stop();
}

/// The report on the original's own stack has every section and every
/// `- Parameter | Value` row of the original README's "Sample poolstatus
/// Output", with real values (tests/it/support/original_report.rs).
#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn legacy_report_has_every_section_and_row_of_the_original_sample() {
    let cluster = Cluster::up_distro(27, "legacy");
    let run = poolstatus_until(&cluster.config_path("pgp1"), Duration::from_secs(60), |r| {
        r.code == 0
    });
    let text = show(&run);
    assert_eq!(run.code, 0, "legacy: healthy\n{text}");
    let missing = missing_original_parts(&run.stdout);
    assert!(
        missing.is_empty(),
        "legacy: missing from the report: {missing:#?}\n{text}"
    );
    // repmgr 3's own words in its section
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("* master") && l.contains("db1")),
        "legacy: db1 is `* master`, as repmgr 3 prints it\n{text}"
    );
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("  standby"))
            .count(),
        2,
        "legacy: two `  standby` rows\n{text}"
    );
}

/// pgpool 3.6 has no `SHOW pool_health_check_stats` (it logs an ERROR for
/// it, and pgpool 4.1 passes it on to PostgreSQL, which does): pgpwatch
/// asks pgpool its version first and never asks the stats. Measured before
/// the first fix: one ERROR line per check; before the second: one at the
/// first check and every 10 minutes.
#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn legacy_pgpwatch_never_asks_a_pgpool_without_the_stats_command() {
    let cluster = Cluster::up_distro(28, "legacy");
    let log = cluster.dir().join("pgp1/pgpool.log");
    let count = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .to_lowercase()
            .matches("show pool_health_check_stats")
            .count()
    };
    let before = count();
    let tuning = Tuning::default();
    let mut w = Watcher::pgpwatch(&cluster, "pgp1", None, &tuning);
    w.wait_port(true, START);
    w.wait_checks(6, START);
    let asked = count() - before;
    w.stop();
    assert_eq!(
        asked, 0,
        "legacy: pgpool 3.6 asked for its stats {asked} times in 6 checks"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn legacy_report_after_failover_shows_the_old_master_failed_never_a_slave() {
    let cluster = Cluster::up_distro(26, "legacy");
    versions_are_the_releases(&LEGACY, &cluster);
    cluster.stop_db(1);
    cluster.promote(2);
    let config = cluster.config_path("pgp1");
    let run = poolstatus_until(&config, Duration::from_secs(30), |p| {
        p.stdout
            .lines()
            .any(|l| l.contains("db2") && l.contains("master"))
    });
    let text = show(&run);
    let out = &run.stdout;
    let db1 = cluster.db_addr(1);
    let row = out
        .lines()
        .find(|l| l.contains("db1") && l.contains("host="))
        .unwrap_or_else(|| panic!("legacy: db1's row in the repmgr section\n{text}"));
    assert!(
        row.contains("FAILED"),
        "legacy: the old master is FAILED, as repmgr 3 says\n{text}"
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with("- ") && l.contains("(slave)") && l.contains("db1")),
        "legacy: the old master is no slave in the WAL rows\n{text}"
    );
    assert!(
        !out.contains("no walsender for db1"),
        "legacy: no walsender is expected for the failed old master\n{text}"
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with("- SLAVE") && l.contains(&db1)),
        "legacy: the old master is no slave in the disk rows\n{text}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("- MASTER") && l.contains(&cluster.db_addr(2))),
        "legacy: db2 is the master in the disk rows\n{text}"
    );
}
