//! The version matrix (issue 10 item 2): the core scenarios on the other two
//! Debian releases our users run, with the real binaries against real
//! servers. `Cluster::up_distro` runs PostgreSQL, repmgr, pgpool-II and sshd
//! chrooted in a cached debootstrap root of that release (bin/roots), on the
//! usual loopback addresses; the watchers and poolstatus run on the host.
//!
//! - bullseye (Debian 11): PostgreSQL 13, repmgr 5.2, pgpool-II 4.1, net 19
//! - trixie (Debian 13): PostgreSQL 17, repmgr 5.5, pgpool-II 4.6, net 20
//! - legacy (the original's own 2017 stack, issue 16): PostgreSQL 9.6.10,
//!   repmgr 3.2.1, pgpool-II 3.6.28 built from source by bin/legacy and run
//!   on the host, net 24 (its witness, report and failover checks:
//!   tests/it/legacy.rs)
//!
//! bookworm (the host's PostgreSQL 15, repmgr 5.3, pgpool-II 4.3) is covered
//! by the poolstatus and watchers suites. Each test checks first that the
//! servers answering are the release's (their own version queries), then
//! runs: poolstatus healthy / standby down / pgpool down; pgpwatch with its
//! pgpool stopped and frozen; repmgrwatch with both pgpools down, after a
//! promotion, and on a split brain (a second fresh cluster). Reaction times
//! and each phase's time are printed (`-- --nocapture`).

use std::time::{Duration, Instant};

use crate::poolstatus::{poolstatus, poolstatus_until, show};
use crate::support::cluster::Cluster;
use crate::support::watchers::{Tuning, Watcher, SLACK};

/// Long enough for a watcher's first check and a cluster verb on a busy machine.
const START: Duration = Duration::from_secs(20);

/// What one release must be running.
pub(crate) struct Release {
    distro: &'static str,
    net: u8,
    /// `select version()` starts with this.
    postgres: &'static str,
    /// `show pool_version` starts with this.
    pgpool: &'static str,
    /// `repmgr --version` says this.
    repmgr: &'static str,
    /// The healthy primary's row of the report's repmgr section holds this
    /// (repmgr 3 calls it the master).
    primary_row: &'static str,
    /// pg_stat_replication's sent position row (9.6: `sent_location`).
    sent_row: &'static str,
    /// A stopped standby's row of the repmgr section holds this (repmgr 3's
    /// `cluster show` prints an unreachable node as `FAILED`).
    unreachable_row: &'static str,
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn bullseye_postgresql_13_pgpool_4_1_repmgr_5_2_core_scenarios() {
    core_scenarios(&Release {
        distro: "bullseye",
        net: 19,
        postgres: "PostgreSQL 13.",
        pgpool: "4.1.",
        repmgr: "repmgr 5.2.",
        primary_row: "* running",
        sent_row: "- sent_lsn",
        unreachable_row: "? unreachable",
    });
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn trixie_postgresql_17_pgpool_4_6_repmgr_5_5_core_scenarios() {
    core_scenarios(&Release {
        distro: "trixie",
        net: 20,
        postgres: "PostgreSQL 17.",
        pgpool: "4.6.",
        repmgr: "repmgr 5.5.",
        primary_row: "* running",
        sent_row: "- sent_lsn",
        unreachable_row: "? unreachable",
    });
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn legacy_postgresql_9_6_pgpool_3_6_repmgr_3_2_core_scenarios() {
    core_scenarios(&LEGACY);
}

/// The original's own stack (SANDBOX_DISTRO=legacy).
pub(crate) const LEGACY: Release = Release {
    distro: "legacy",
    net: 24,
    postgres: "PostgreSQL 9.6.10",
    pgpool: "3.6.28",
    repmgr: "repmgr 3.2.1",
    primary_row: "master",
    sent_row: "- sent_location",
    unreachable_row: "  FAILED ",
};

/// The file the timing lines also go to, for bin/test to print after the
/// suite (libtest swallows a passing test's output).
fn times_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("matrix-times.txt")
}

/// Prints `line` and appends it to [`times_file`].
pub(crate) fn record(line: &str) {
    use std::io::Write;
    println!("{line}");
    let path = times_file();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        println!("cannot append to {}: {e}", path.display());
    }
}

/// Records how long a phase took, from `since`; returns now.
fn phase(r: &Release, what: &str, since: Instant) -> Instant {
    record(&format!(
        "matrix {}: {what} in {:.1} s",
        r.distro,
        since.elapsed().as_secs_f64()
    ));
    Instant::now()
}

/// Runs `verb`, then waits until `w`'s gate is `open`; asserts it moved within
/// `periods` reaction bounds (one check period + one connect timeout each)
/// + slack after the verb returned.
pub(crate) fn gate_follows(
    r: &Release,
    w: &Watcher,
    what: &str,
    open: bool,
    periods: u32,
    verb: impl FnOnce(),
) {
    let t = Instant::now();
    verb();
    let took = t.elapsed();
    let bound = w.tuning().reaction_bound() * periods + SLACK;
    let moved = w.wait_port(open, START);
    println!(
        "matrix {}: {what}: {} {} {:.3} s after the verb returned (verb {:.3} s, bound {:.1} s)",
        r.distro,
        w.host,
        if open { "opened" } else { "closed" },
        moved.as_secs_f64(),
        took.as_secs_f64(),
        bound.as_secs_f64()
    );
    assert!(
        moved < bound,
        "{} {what}: {} took {moved:?} after the verb, bound {bound:?}; log:\n{}",
        r.distro,
        w.host,
        w.log_tail(30)
    );
}

fn core_scenarios(r: &Release) {
    let t0 = Instant::now();
    let cluster = Cluster::up_distro(r.net, r.distro);
    // the root's build time (when this up built it) and the versions
    for line in cluster.up_report().lines() {
        record(line);
    }
    let mut t = phase(r, "up", t0);
    versions_are_the_releases(r, &cluster);
    poolstatus_scenarios(r, &cluster);
    t = phase(r, "poolstatus healthy / standby down / pgpool down", t);
    pgpwatch_scenarios(r, &cluster);
    t = phase(r, "pgpwatch stop and freeze", t);
    both_pgpools_down_and_promote(r, &cluster);
    t = phase(r, "repmgrwatch both pgpools down, promote", t);
    drop(cluster);
    t = phase(r, "down", t);

    let cluster = Cluster::up_distro(r.net, r.distro);
    t = phase(r, "second up", t);
    split_brain(r, &cluster);
    phase(r, "repmgrwatch split brain", t);
    drop(cluster);
    phase(r, "all (two ups and downs included)", t0);
}

/// The servers answering are the release's, not the host's.
pub(crate) fn versions_are_the_releases(r: &Release, cluster: &Cluster) {
    let said = cluster.verb(&["versions"]);
    println!("{}", said.trim());
    assert!(said.contains(r.repmgr), "{}: {said}", r.distro);
    for n in 1..=3 {
        let v = cluster
            .psql(&cluster.db_addr(n), "select version()")
            .unwrap_or_else(|e| panic!("{}: db{n}: {e}", r.distro));
        assert!(v.starts_with(r.postgres), "{}: db{n} runs {v}", r.distro);
    }
    for k in 1..=2 {
        let v = cluster
            .psql(&cluster.pgpool_addr(k), "show pool_version")
            .unwrap_or_else(|e| panic!("{}: pgp{k}: {e}", r.distro));
        assert!(v.starts_with(r.pgpool), "{}: pgp{k} runs {v}", r.distro);
    }
}

pub(crate) fn poolstatus_scenarios(r: &Release, cluster: &Cluster) {
    let config = cluster.config_path("pgp1");
    let net = format!("127.{}.", r.net);

    // healthy
    let ok = poolstatus_until(&config, Duration::from_secs(30), |p| p.code == 0);
    let text = show(&ok);
    assert_eq!(ok.code, 0, "{}: healthy\n{text}", r.distro);
    let out = &ok.stdout;
    assert!(out.contains("Status: OK"), "{}\n{text}", r.distro);
    assert!(out.contains("(3 rows)"), "{}: pool_nodes\n{text}", r.distro);
    let repmgr: Vec<&str> = out.lines().filter(|l| l.contains("host=")).collect();
    assert_eq!(repmgr.len(), 3, "{}: repmgr cluster show\n{text}", r.distro);
    assert!(
        repmgr
            .iter()
            .any(|l| l.contains("db1") && l.contains(r.primary_row)),
        "{}: db1 the running primary\n{text}",
        r.distro
    );
    assert_eq!(out.matches(r.sent_row).count(), 2, "{}\n{text}", r.distro);
    let slaves = out
        .lines()
        .filter(|l| l.starts_with("- xlog_location (slave)") && l.contains('/'))
        .count();
    assert_eq!(slaves, 2, "{}: two standby LSNs\n{text}", r.distro);
    let disks = out
        .lines()
        .filter(|l| (l.starts_with("- MASTER") || l.starts_with("- SLAVE")) && l.ends_with('%'))
        .count();
    assert_eq!(disks, 3, "{}: disk use over ssh\n{text}", r.distro);
    println!(
        "matrix {}: poolstatus healthy: exit 0 in {:.3} s",
        r.distro,
        ok.took.as_secs_f64()
    );
    other_formats_agree(r, &config, 0, "OK", "POOLSTATUS OK - 3/3 backends up");

    // standby down
    cluster.stop_db(3);
    let deg = poolstatus_until(&config, Duration::from_secs(30), |p| p.code == 1);
    let text = show(&deg);
    assert_eq!(deg.code, 1, "{}: standby down\n{text}", r.distro);
    assert!(
        deg.stdout.contains("Status: DEGRADED"),
        "{}\n{text}",
        r.distro
    );
    assert!(
        deg.stdout
            .lines()
            .any(|l| l.contains("db3") && l.contains(r.unreachable_row)),
        "{}: db3 unreachable\n{text}",
        r.distro
    );
    other_formats_agree(
        r,
        &config,
        1,
        "DEGRADED",
        "POOLSTATUS WARNING - 2/3 backends up",
    );
    cluster.start_db(3);
    let back = poolstatus_until(&config, Duration::from_secs(30), |p| p.code == 0);
    assert_eq!(back.code, 0, "{}: db3 back\n{}", r.distro, show(&back));

    // pgpool down
    cluster.stop_pgpool(1);
    let crit = poolstatus(&config, &[]);
    let text = show(&crit);
    assert_eq!(crit.code, 2, "{}: pgpool down\n{text}", r.distro);
    assert!(
        crit.took < Duration::from_secs(3),
        "{}: connect_timeout 2 s + 1 s\n{text}",
        r.distro
    );
    assert!(
        crit.stdout
            .contains(&format!("error: connect {net}10.1:5432: ")),
        "{}\n{text}",
        r.distro
    );
    assert!(
        crit.stdout.contains("Status: CRITICAL: pgpool unreachable"),
        "{}\n{text}",
        r.distro
    );
    other_formats_agree(r, &config, 2, "CRITICAL", "POOLSTATUS CRITICAL - ");
    cluster.start_pgpool(1);
}

/// `--json` and `--nagios` say what the text report said: the same exit
/// code, the JSON status word, the Nagios line's state and summary.
fn other_formats_agree(
    r: &Release,
    config: &std::path::Path,
    code: i32,
    status: &str,
    nagios: &str,
) {
    let json = poolstatus(config, &["--json"]);
    let text = show(&json);
    assert_eq!(json.code, code, "{}: --json exit code\n{text}", r.distro);
    assert!(
        json.stdout.contains(&format!("\"status\":\"{status}\"")),
        "{}: --json status {status}\n{text}",
        r.distro
    );
    let n = poolstatus(config, &["--nagios"]);
    let text = show(&n);
    assert_eq!(n.code, code, "{}: --nagios exit code\n{text}", r.distro);
    assert!(
        n.stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with(nagios)),
        "{}: --nagios first line starts with {nagios:?}\n{text}",
        r.distro
    );
}

fn pgpwatch_scenarios(r: &Release, cluster: &Cluster) {
    let tuning = Tuning::default();
    let mut w = Watcher::pgpwatch(cluster, "pgp1", None, &tuning);
    w.wait_port(true, START);
    gate_follows(r, &w, "pgpool stopped", false, 1, || cluster.stop_pgpool(1));
    gate_follows(r, &w, "pgpool started", true, 1, || cluster.start_pgpool(1));
    gate_follows(r, &w, "pgpool frozen", false, 1, || {
        cluster.freeze_pgpool(1)
    });
    w.wait_log("timed out", Duration::from_secs(5));
    gate_follows(r, &w, "pgpool thawed", true, 1, || cluster.thaw_pgpool(1));
    w.stop();
}

pub(crate) fn db_watchers(cluster: &Cluster, tuning: &Tuning) -> Vec<Watcher> {
    ["db1", "db2", "db3"]
        .iter()
        .map(|h| Watcher::repmgrwatch(cluster, h, None, tuning))
        .collect()
}

fn both_pgpools_down_and_promote(r: &Release, cluster: &Cluster) {
    let tuning = Tuning::default();
    let mut pgp1 = Watcher::pgpwatch(cluster, "pgp1", None, &tuning);
    let mut pgp2 = Watcher::pgpwatch(cluster, "pgp2", None, &tuning);
    pgp1.wait_port(true, START);
    pgp2.wait_port(true, START);
    let mut dbs = db_watchers(cluster, &tuning);
    for w in &dbs {
        w.wait_checks(2, START);
        assert!(
            !w.is_open(),
            "{}: {} closed while the pgpools answer",
            r.distro,
            w.host
        );
    }
    gate_follows(r, &dbs[0], "both pgpools stopped", true, 2, || {
        cluster.stop_pgpool(1);
        cluster.stop_pgpool(2);
    });
    for w in &dbs[1..] {
        w.assert_port_stays(false, tuning.reaction_bound() * 2);
    }
    gate_follows(r, &dbs[0], "pgpool 1 back", false, 2, || {
        cluster.start_pgpool(1)
    });
    // No pgpwatch: no check_port answers, so the master's gate opens again.
    pgp1.stop();
    pgp2.stop();
    dbs[0].wait_port(true, START);

    gate_follows(r, &dbs[0], "primary db1 stopped", false, 1, || {
        cluster.stop_db(1)
    });
    gate_follows(r, &dbs[1], "db2 promoted", true, 1, || cluster.promote(2));
    assert!(!dbs[0].is_open(), "{}: db1 is down and closed", r.distro);
    dbs[2].assert_port_stays(false, tuning.reaction_bound() * 2);
    for w in dbs.iter_mut() {
        w.stop();
    }
}

fn split_brain(r: &Release, cluster: &Cluster) {
    let tuning = Tuning::default();
    let mut dbs = db_watchers(cluster, &tuning);
    dbs[0].wait_port(true, START);
    for w in &dbs[1..] {
        w.wait_checks(2, START);
        assert!(
            !w.is_open(),
            "{}: {} a standby stays closed",
            r.distro,
            w.host
        );
    }
    gate_follows(r, &dbs[0], "split brain", false, 1, || {
        cluster.split_brain()
    });
    for w in &dbs {
        w.wait_checks(4, Duration::from_secs(20));
        assert!(
            !w.is_open(),
            "{}: {} closed during split brain",
            r.distro,
            w.host
        );
    }
    for w in dbs.iter_mut() {
        w.stop();
    }
}
