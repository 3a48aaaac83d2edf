//! The fast path (`[general] fast_path`, issue 20): at check_period 10 s
//! and connect_timeout 2 s the gates follow a stopped or started pgpool,
//! both pgpools gone, a killed primary and a promotion within a second or
//! two (bounds here are generous; `bin/bench reaction` measures p50/p99),
//! while with `fast_path = no` a gate waits for the next tick, as the
//! original did. pgpool runs with `client_idle_limit = 2` so the held
//! session must keep itself alive; neither pgpool nor PostgreSQL may log an
//! ERROR or FATAL line the fast path caused.
//!
//! Own clusters on nets 32 (pgpool), 35 (repmgr: both pgpools stopped,
//! kill, promote) and 34 (fast path off). On the other stacks (legacy:
//! PostgreSQL 9.6 and pgpool-II 3.6, net 38; bullseye: 13 and 4.1, net 39;
//! trixie: 17 and 4.6, net 40) one compact test each drives the probes
//! and proves with a sentinel line that no server logged them (PostgreSQL
//! before 12 logs a connection closed without a byte: the probe of a
//! node sends a TLS request first).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::cluster::{tcp_accepts, Cluster};
use crate::support::watchers::{Tuning, Watcher};

fn tuning(fast: bool) -> Tuning {
    Tuning {
        check_period: 10.0,
        connect_timeout: 2.0,
        extra: vec![
            (
                "general".into(),
                "fast_path".into(),
                (if fast { "yes" } else { "no" }).into(),
            ),
            ("repmgr".into(), "startup_grace".into(), "0".into()),
        ],
        ..Tuning::default()
    }
}

/// Lines of `path` past its first `from` bytes.
fn log_after(path: &Path, from: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.get(from..).unwrap_or_default().to_string()
}

fn log_len(path: &Path) -> usize {
    std::fs::metadata(path).map_or(0, |m| m.len() as usize)
}

/// ERROR and FATAL lines of `text` that are not in `expected` (lines the
/// test's own faults make servers write, for every session they have).
fn errors(text: &str, expected: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("ERROR:") || l.contains("FATAL:"))
        .filter(|l| !expected.iter().any(|e| l.contains(e)))
        .map(str::to_string)
        .collect()
}

/// Restarts pgpool `n` with `client_idle_limit = 2` (pgpool ends an idle
/// client after it with an ERROR line).
fn idle_limit(cluster: &Cluster, n: u8) {
    let conf = cluster.dir().join(format!("pgp{n}/pgpool.conf"));
    let mut text = std::fs::read_to_string(&conf).expect("read pgpool.conf");
    text.push_str("\nclient_idle_limit = 2\n");
    std::fs::write(&conf, text).expect("write pgpool.conf");
    cluster.stop_pgpool(n);
    cluster.start_pgpool(n);
}

/// `pg_ctl stop -m immediate` of node `n`: a crash, as a kill -9 would.
fn kill_immediate(cluster: &Cluster, n: u8) {
    let data = cluster.dir().join(format!("db{n}/data"));
    let out = Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/15/bin/pg_ctl",
            "-D",
        ])
        .arg(&data)
        .args(["-w", "-t", "60", "stop", "-m", "immediate"])
        .output()
        .expect("run pg_ctl");
    assert!(out.status.success(), "pg_ctl stop -m immediate: {out:?}");
}

fn since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn pgpool_stopped_or_started_moves_its_gate_within_a_second_not_a_period() {
    let cluster = Cluster::up(32);
    idle_limit(&cluster, 1);
    let log = cluster.dir().join("pgp1/pgpool.log");
    let from = log_len(&log);
    let w = Watcher::pgpwatch(&cluster, "pgp1", None, &tuning(true));
    w.wait_port(true, Duration::from_secs(20));
    // Past client_idle_limit twice: the held session keeps itself alive.
    for round in 0..2 {
        let idle = Instant::now();
        while idle.elapsed() < Duration::from_secs(5) {
            assert!(
                tcp_accepts(w.addr(), w.port()),
                "gate closed while pgpool is up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster.stop_pgpool(1);
        let t = Instant::now();
        let d = w.wait_port(false, Duration::from_secs(12));
        println!(
            "round {round}: stopped -> closed {:.3}s after the verb",
            since(t)
        );
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "gate closed {d:?} after the stop began, {:.3}s after the verb returned; log:\n{}",
            since(t),
            w.log_tail(30)
        );
        cluster.start_pgpool(1);
        let t = Instant::now();
        w.wait_port(true, Duration::from_secs(12));
        println!(
            "round {round}: started -> open {:.3}s after the verb",
            since(t)
        );
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "gate opened {:.3}s after pgpool answered; log:\n{}",
            since(t),
            w.log_tail(30)
        );
    }
    let bad = errors(&log_after(&log, from), &[]);
    assert!(bad.is_empty(), "pgpool logged errors: {bad:#?}");
    assert!(!w.log().contains("client_idle_limit"), "{}", w.log_tail(30));
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn masters_gate_follows_both_pgpools_a_killed_primary_and_a_promotion_at_once() {
    let cluster = Cluster::up(35);
    let t = tuning(true);
    let pgp1 = Watcher::pgpwatch(&cluster, "pgp1", None, &t);
    let pgp2 = Watcher::pgpwatch(&cluster, "pgp2", None, &t);
    let db1 = Watcher::repmgrwatch(&cluster, "db1", None, &t);
    let db2 = Watcher::repmgrwatch(&cluster, "db2", None, &t);
    pgp1.wait_port(true, Duration::from_secs(20));
    pgp2.wait_port(true, Duration::from_secs(20));
    db1.wait_checks(1, Duration::from_secs(20));
    let logs: Vec<_> = [1, 2, 3]
        .iter()
        .map(|n| cluster.dir().join(format!("db{n}/postgresql.log")))
        .collect();
    let from: Vec<usize> = logs.iter().map(|l| log_len(l)).collect();

    cluster.stop_pgpool(1);
    cluster.stop_pgpool(2);
    let t0 = Instant::now();
    db1.wait_port(true, Duration::from_secs(15));
    println!(
        "both pgpools stopped -> master's gate open {:.3}s after the verbs",
        since(t0)
    );
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "{}",
        db1.log_tail(30)
    );

    kill_immediate(&cluster, 1);
    let t0 = Instant::now();
    db1.wait_port(false, Duration::from_secs(15));
    println!(
        "primary killed -> its gate closed {:.3}s after pg_ctl",
        since(t0)
    );
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "{}",
        db1.log_tail(30)
    );

    cluster.promote(2);
    let t0 = Instant::now();
    db2.wait_port(true, Duration::from_secs(15));
    println!(
        "promote -> new master's gate open {:.3}s after the verb",
        since(t0)
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "{}",
        db2.log_tail(30)
    );

    // The watchers' sessions are repmgr@repmgr (log_line_prefix '%u@%d');
    // the only line allowed is the server ending every session it has when
    // db3 restarts to follow the new primary (`standby follow`). The WAL
    // receivers' FATAL lines after the kill are the replication's own.
    for (log, from) in logs.iter().zip(from) {
        let text = log_after(log, from);
        let ours: String = text
            .lines()
            .filter(|l| l.contains(" repmgr@repmgr "))
            .map(|l| format!("{l}\n"))
            .collect();
        let bad = errors(
            &ours,
            &["terminating connection due to administrator command"],
        );
        assert!(bad.is_empty(), "{}: {bad:#?}", log.display());
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn with_the_fast_path_off_a_stopped_pgpool_waits_for_the_next_tick() {
    let cluster = Cluster::up(34);
    let w = Watcher::pgpwatch(&cluster, "pgp1", None, &tuning(false));
    w.wait_port(true, Duration::from_secs(20));
    // The first check opened the gate just now: the next is ~10 s away.
    let opened = Instant::now();
    cluster.stop_pgpool(1);
    while opened.elapsed() < Duration::from_secs(7) {
        assert!(
            tcp_accepts(w.addr(), w.port()),
            "gate closed {:.3}s after the first check with fast_path = no: before the tick; log:\n{}",
            since(opened),
            w.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    w.wait_port(false, Duration::from_secs(10));
    assert!(!w.log().contains("fast path"), "{}", w.log_tail(30));
}

/// Lines a server wrote for a connection that never said who it is:
/// PostgreSQL prints `[unknown]@[unknown]` for them (log_line_prefix
/// `%u@%d`, 9.6 to 17); pgpool names no client, so its lines about a
/// client that closed early, sent no startup packet or a cancel request.
fn probe_lines(text: &str) -> Vec<String> {
    const PGPOOL: [&str; 5] = [
        "from frontend",
        "startup packet",
        "cancel request",
        "SSL",
        "frontend error",
    ];
    text.lines()
        .filter(|l| l.contains("[unknown]@[unknown]") || PGPOOL.iter().any(|p| l.contains(p)))
        .map(str::to_string)
        .collect()
}

/// `text` without the sentinel's lines: pgpool logs the unknown database
/// `tag` from one child (`pid N:`) as a run of lines around the one naming it.
fn without_sentinel(text: &str, tag: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = lines.iter().position(|l| l.contains(tag)) else {
        return text.to_string();
    };
    let pid = lines[at]
        .split(": ")
        .find(|w| w.contains("pid "))
        .unwrap_or(tag)
        .to_string();
    let run = at.saturating_sub(1)..(at + 4).min(lines.len());
    let sentinels = |i: usize, l: &str| l.contains(tag) || (run.contains(&i) && l.contains(&pid));
    lines
        .iter()
        .enumerate()
        .filter(|(i, l)| !sentinels(*i, l))
        .map(|(_, l)| format!("{l}\n"))
        .collect()
}

/// Runs the fast path's probes against `distro`'s servers on `net` and
/// asserts they left no line in pgpool's or PostgreSQL's log: pgpwatch's
/// pgpool stopped and started (the probes after its session broke, while
/// it refused, and while it accepted until the session was held again),
/// repmgrwatch's first probe of each node, and a standby stopped and
/// started (the probes while it shut down, while it refused, and while it
/// accepted until the next check). Proven, not slept on: once the watchers
/// have stopped, each server logs a sentinel line (a `RAISE LOG` on each
/// node, an unknown database through pgpool) and the test reads the logs
/// only after the sentinel is in them. Nor may pgpwatch's checks have
/// asked a pgpool before 4.2 the stats command (its PostgreSQL logs it).
fn probes_leave_no_line(distro: &str, net: u8) {
    let t0 = Instant::now();
    let cluster = Cluster::up_distro(net, distro);
    print!("{}", cluster.up_report());
    let logs: Vec<_> = ["pgp1/pgpool.log", "db1/postgresql.log"]
        .iter()
        .map(|p| p.to_string())
        .chain((2..=3).map(|n| format!("db{n}/postgresql.log")))
        .map(|p| cluster.dir().join(p))
        .collect();
    let from: Vec<usize> = logs.iter().map(|l| log_len(l)).collect();
    let mut t = tuning(true);
    t.check_period = 3.0;
    let mut pgp = Watcher::pgpwatch(&cluster, "pgp1", None, &t);
    let mut db1 = Watcher::repmgrwatch(&cluster, "db1", None, &t);
    pgp.wait_port(true, Duration::from_secs(20));
    db1.wait_checks(1, Duration::from_secs(20));

    cluster.stop_pgpool(1);
    pgp.wait_port(false, Duration::from_secs(15));
    cluster.start_pgpool(1);
    pgp.wait_port(true, Duration::from_secs(15));
    cluster.stop_db(3);
    cluster.start_db(3);
    // two checks after db3 accepts again: the probes ran in between
    db1.wait_checks(2, Duration::from_secs(20));
    pgp.stop();
    db1.stop();

    let tag = format!(
        "sentinel{}",
        std::process::id() as u64 * 1000 + u64::from(net)
    );
    for n in 1..=3 {
        let sql = format!("DO $$BEGIN RAISE LOG '{tag}'; END$$");
        cluster
            .psql(&cluster.db_addr(n), &sql)
            .unwrap_or_else(|e| panic!("{distro}: sentinel on db{n}: {e}"));
    }
    let through_pgpool = Command::new("timeout")
        .args(["10", "psql", "-X", "-qAt", "-h", &cluster.pgpool_addr(1)])
        .args(["-p", "5432", "-U", "pgpool", "-d", &tag, "-c", "select 1"])
        .env("PGCONNECT_TIMEOUT", "2")
        .output();
    assert!(through_pgpool.is_ok(), "{distro}: psql: {through_pgpool:?}");
    let (mut seen, mut checks) = (Vec::new(), Vec::new());
    for (log, from) in logs.iter().zip(from) {
        let end = Instant::now() + Duration::from_secs(15);
        while !log_after(log, from).contains(&tag) {
            assert!(
                Instant::now() < end,
                "{distro}: no sentinel line in {} within 15 s",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = without_sentinel(&log_after(log, from), &tag);
        // kept for a reader: every line the servers wrote meanwhile
        let name = log.strip_prefix(cluster.dir()).unwrap_or(log);
        let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "fast-path-quiet-{distro}-{}",
            name.display().to_string().replace('/', "-")
        ));
        let _ = std::fs::write(&kept, &text);
        println!(
            "{distro}: {}: {} lines since the watchers started (kept in {})",
            name.display(),
            text.lines().count(),
            kept.display()
        );
        seen.extend(
            probe_lines(&text)
                .into_iter()
                .map(|l| format!("{}: {l}", log.display())),
        );
        // The checks' own: a pgpool before 4.2 passes the stats command
        // on to PostgreSQL, which logs an ERROR for it.
        checks.extend(
            text.lines()
                .filter(|l| l.contains("pool_health_check_stats"))
                .map(|l| format!("{}: {l}", log.display())),
        );
    }
    println!("{distro}: all in {:.1}s", since(t0));
    assert!(
        seen.is_empty(),
        "{distro}: the fast path's probes were logged:\n{}",
        seen.join("\n")
    );
    assert!(
        checks.is_empty(),
        "{distro}: pgpwatch's checks asked a pgpool the stats it does not have:\n{}",
        checks.join("\n")
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn legacy_postgresql_9_6_and_pgpool_3_6_log_nothing_for_the_fast_paths_probes() {
    probes_leave_no_line("legacy", 38);
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn bullseye_postgresql_13_and_pgpool_4_1_log_nothing_for_the_fast_paths_probes() {
    probes_leave_no_line("bullseye", 39);
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn trixie_postgresql_17_and_pgpool_4_6_log_nothing_for_the_fast_paths_probes() {
    probes_leave_no_line("trixie", 40);
}
