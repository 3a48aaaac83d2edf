//! A repmgr witness on a real cluster (issue 8, defect 1): `bin/sandbox up`
//! with `SANDBOX_WITNESS=on` adds a fourth PostgreSQL of its own at
//! 127.N.40.1, registered with `repmgr witness register`. A witness is
//! active in `repmgr.nodes` and never in recovery, so a watcher that asked
//! every active node `pg_is_in_recovery()` saw two masters forever: the
//! master's port never opened and every repmgrwatch mailed Multiple
//! Masters. Only primary/standby nodes are candidates now, and poolstatus
//! shows the witness with its role and does not count it as a problem.
//!
//! Each test builds its own cluster (net 13 for the watchers, net 14 for
//! poolstatus), so they may run side by side.

use std::process::Command;
use std::time::Duration;

use crate::support::cluster::Cluster;
use crate::support::mailbox::{Mailbox, MailboxOptions};
use crate::support::watchers::{subjects_to, wait_mail, Tuning, Watcher, SLACK};

const REPMGR_UP_BAD: &str = "PGPWATCH - Repmgr - UP (This is bad)";

/// Long enough for a watcher's first check and a cluster verb on a busy machine.
const START: Duration = Duration::from_secs(20);

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn witness_is_no_master_both_pgpools_down_opens_the_master_only() {
    let cluster = Cluster::up_with_witness(13);
    let mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    let mut pgp1 = Watcher::pgpwatch(&cluster, "pgp1", None, &tuning);
    let mut pgp2 = Watcher::pgpwatch(&cluster, "pgp2", None, &tuning);
    pgp1.wait_port(true, START);
    pgp2.wait_port(true, START);
    // db1 reads the primary's repmgr.nodes, the witness host its own copy.
    let mut dbs: Vec<Watcher> = ["db1", "db2", "witness"]
        .iter()
        .map(|h| Watcher::repmgrwatch(&cluster, h, Some(&mailbox), &tuning))
        .collect();
    for w in &dbs {
        w.wait_checks(2, START);
        assert!(!w.is_open(), "{}: closed while the pgpools answer", w.host);
    }

    cluster.stop_pgpool(1);
    cluster.stop_pgpool(2);
    // Both pgpwatch gates close, then db1's next check opens it.
    let bound = tuning.reaction_bound() * 2 + SLACK;
    let took = dbs[0].wait_port(true, bound);
    println!(
        "witness: db1 port open {:.3}s after both stop-pgpool verbs returned (bound {:.1}s)",
        took.as_secs_f64(),
        bound.as_secs_f64()
    );
    assert!(!pgp1.is_open() && !pgp2.is_open(), "pgpwatch ports closed");
    for w in &dbs[1..] {
        w.assert_port_stays(false, tuning.reaction_bound() * 2);
    }
    wait_mail(
        &mailbox,
        &dbs[0].receiver(),
        REPMGR_UP_BAD,
        Duration::from_secs(20),
    );
    // Several checks later: only db1's one mail, no Multiple Masters anywhere.
    for w in &dbs {
        w.wait_checks(3, Duration::from_secs(20));
    }
    assert!(
        dbs[0].is_open(),
        "db1 still open; log:\n{}",
        dbs[0].log_tail(20)
    );
    assert_eq!(
        subjects_to(&mailbox, &dbs[0].receiver()),
        vec![REPMGR_UP_BAD],
        "db1: the master's one mail"
    );
    for w in &dbs[1..] {
        assert_eq!(
            subjects_to(&mailbox, &w.receiver()),
            Vec::<String>::new(),
            "{}: a standby and the witness see one master and send nothing",
            w.host
        );
    }
    for w in &dbs {
        let log = w.log();
        assert!(
            !log.to_ascii_lowercase().contains("multiple masters"),
            "{}: no multiple masters; log tail:\n{}",
            w.host,
            w.log_tail(20)
        );
    }
    for w in dbs.iter_mut().chain([&mut pgp1, &mut pgp2]) {
        w.stop();
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn poolstatus_lists_the_witness_with_its_role_and_stays_ok() {
    let cluster = Cluster::up_with_witness(14);
    let out = Command::new(env!("CARGO_BIN_EXE_poolstatus"))
        .arg("--config")
        .arg(cluster.config_path("pgp1"))
        .output()
        .expect("run poolstatus");
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let row = text
        .lines()
        .find(|l| l.contains(&format!("host={} ", cluster.witness_addr())))
        .unwrap_or_else(|| panic!("no witness in repmgr cluster show:\n{text}\n{stderr}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(
        cells.get(1..4),
        Some(&["witness", "witness", "* running"][..]),
        "name, role and status of the witness: {row:?}\n{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("- WITNESS")
            && l.contains(&cluster.witness_addr())
            && l.contains("Disk")),
        "the witness's disk row:\n{text}"
    );
    assert!(
        !text.contains("NOT IN RECOVERY") && !text.contains("run as primary"),
        "the witness is neither a standby nor a second primary:\n{text}"
    );
    assert!(
        text.trim_end().ends_with("Status: OK"),
        "a healthy witness is no problem:\n{text}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(0), "exit code\n{text}\n{stderr}");

    let json = Command::new(env!("CARGO_BIN_EXE_poolstatus"))
        .arg("--json")
        .arg("--config")
        .arg(cluster.config_path("pgp1"))
        .output()
        .expect("run poolstatus --json");
    let doc = String::from_utf8_lossy(&json.stdout);
    for part in [
        r#""name":"witness","role":"witness""#.to_string(),
        format!(
            r#""host":"{}","port":5432,"name":"witness""#,
            cluster.witness_addr()
        ),
        format!(r#""primary":"{}:5432""#, cluster.db_addr(1)),
        r#""role":"witness","current_lsn""#.to_string(),
        r#""exit_code":0"#.to_string(),
    ] {
        assert!(doc.contains(&part), "missing {part}\n{doc}");
    }
    assert_eq!(json.status.code(), Some(0), "--json exit code\n{doc}");
}
