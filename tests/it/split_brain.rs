//! Split brain is critical everywhere, and the report speaks the stack's
//! words (issues 16 item 3 and 18 items 4 and 6), on a real cluster (net
//! 40): the old primary db1, stopped, db2 promoted, then db1 started again
//! without being rejoined — it runs as a primary while repmgr's metadata
//! marks it inactive.
//! - poolstatus: healthy, our report holds every section and row of the
//!   original README's sample (`support::original_report`); after the
//!   restart `--nagios` is CRITICAL (exit 2), and db1 is FAILED, never a
//!   slave;
//! - pgpwatch on pgp1: pgpool shows db1 with pg_role primary beside its own
//!   primary: the gate closes, WARN once, one Error mail,
//!   `pgpoolwatch_split_brain 1`;
//! - repmgrwatch on db2 (the registered master): WARN naming db1, one
//!   Multiple Masters mail, `pgpoolwatch_split_brain 1`; `--run-once`
//!   says so and exits 1.
//! - repmgrwatch `--run-once` on the healthy cluster: the decision, what a
//!   running repmgrwatch would do, exit 0; pgpwatch's no longer claims to
//!   open a port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::poolstatus::{poolstatus, show};
use crate::support::cluster::{eventually, Cluster};
use crate::support::mailbox::{Mailbox, MailboxOptions};
use crate::support::original_report::missing_original_parts;
use crate::support::watchers::{mails_to, subjects_to, wait_mail, Tuning, Watcher};

const NET: u8 = 40;
const API_PORT: u16 = 8008;
/// A watcher's first check and a cluster verb on a busy machine.
const START: Duration = Duration::from_secs(30);

const ERROR: &str = "PGPWATCH - Error";
const MULTIPLE: &str = "PGPWATCH - Repmgr - Multiple Masters";

/// One HTTP/1.0 GET of `path` on `addr:port`; the body.
fn get(addr: &str, port: u16, path: &str) -> String {
    let mut s =
        TcpStream::connect((addr, port)).unwrap_or_else(|e| panic!("connect {addr}:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map_or(out.clone(), |(_, b)| b.to_string())
}

/// A binary's `--run-once` with `config`: (exit code, stdout, stderr).
fn run_once(binary: &str, config: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("--run-once")
        .output()
        .expect("run --run-once");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn with_api(section: &str) -> Tuning {
    let mut t = Tuning::default();
    t.extra
        .push((section.into(), "api_port".into(), API_PORT.to_string()));
    t
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn old_primary_restarted_after_failover_is_critical_and_alarms_once() {
    let cluster = Cluster::up(NET);
    let pgp_config = cluster.config_path("pgp1");

    // Healthy: the original README's sections and rows, all with values.
    let r = crate::poolstatus::poolstatus_until(&pgp_config, START, |r| r.code == 0);
    assert_eq!(r.code, 0, "{}", show(&r));
    assert_eq!(
        missing_original_parts(&r.stdout),
        Vec::<String>::new(),
        "{}",
        show(&r)
    );
    // repmgrwatch --run-once on db1 (the master) and db2: the healthy path.
    for (host, open) in [
        ("db1", "would open port 5560"),
        ("db2", "would keep port 5560 closed"),
    ] {
        let (code, out, err) = run_once(
            env!("CARGO_BIN_EXE_repmgrwatch"),
            &cluster.config_path(host),
        );
        // The pgpools' gates are closed (no pgpwatch runs): db1 would open.
        assert_eq!(code, 0, "{host}: {out}{err}");
        assert!(
            out.starts_with("repmgrwatch --run-once: ") && out.contains(open),
            "{host}: {out}{err}"
        );
        assert!(
            !out.contains("opening") && !out.contains("closing"),
            "{out}"
        );
    }
    let (code, out, err) = run_once(env!("CARGO_BIN_EXE_pgpwatch"), &pgp_config);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("a running pgpwatch would open the port (--run-once opens none)")
            && !out.contains("opening the port"),
        "{out}{err}"
    );

    let mailbox = Mailbox::start(MailboxOptions::default());
    let alarms = |to: &str, subject: &str, needle: &str| {
        mails_to(&mailbox, to)
            .iter()
            .filter(|m| m.subject == subject && m.html_body().contains(needle))
            .count()
    };
    let pgp1 = Watcher::pgpwatch(&cluster, "pgp1", Some(&mailbox), &with_api("pgp"));
    pgp1.wait_port(true, START);
    let db2 = Watcher::repmgrwatch(&cluster, "db2", Some(&mailbox), &with_api("repmgr"));
    db2.wait_checks(2, START);
    for w in [&pgp1, &db2] {
        w.wait_log(&format!("[INFO] {} ", w.program.name()), START);
        assert!(
            w.log().contains(&format!(
                "{} {} starting: config ",
                w.program.name(),
                env!("CARGO_PKG_VERSION")
            )),
            "start line\n{}",
            w.log()
        );
    }

    cluster.stop_db(1);
    cluster.promote(2);
    // pgpool serves again from db2 before the old primary comes back.
    pgp1.wait_port(true, START);
    let started = Instant::now();
    cluster.start_db(1);
    let verb = started.elapsed();
    pgp1.wait_port(false, START);
    let gate_closed = started.elapsed();
    pgp1.wait_log("[WARN] pgpwatch: ", START);
    let pgp1_warn = started.elapsed();
    db2.wait_log("[WARN] repmgrwatch: ", START);
    let db2_warn = started.elapsed();
    println!(
        "split brain: from the start of start-db 1 (which took {:.2}s, pgpool attaching db1), \
         pgp1's gate closed within {:.2}s, its WARN within {:.2}s, db2's WARN within {:.2}s \
         (check_period {}s, connect_timeout {}s)",
        verb.as_secs_f64(),
        gate_closed.as_secs_f64(),
        pgp1_warn.as_secs_f64(),
        db2_warn.as_secs_f64(),
        pgp1.tuning().check_period,
        pgp1.tuning().connect_timeout
    );

    // poolstatus: CRITICAL, db1 failed and running as primary, never a slave.
    let r = crate::poolstatus::poolstatus_until(&pgp_config, START, |r| {
        r.stdout.contains("FAILED, RUNNING AS PRIMARY")
    });
    let text = show(&r);
    assert_eq!(r.code, 2, "{text}");
    let db1 = cluster.db_addr(1);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("- FAILED") && l.contains(&db1)),
        "{text}"
    );
    for l in r.stdout.lines() {
        assert!(
            !((l.contains("(slave)") || l.starts_with("- SLAVE"))
                && (l.contains("db1") || l.contains(&db1))),
            "db1 shown as a slave: {l:?}\n{text}"
        );
    }
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("| db1 ") && l.contains("| primary | ! running ")),
        "repmgr 5's words for an inactive primary that runs\n{text}"
    );
    let n = poolstatus(&pgp_config, &["--nagios"]);
    assert_eq!(n.code, 2, "--nagios: split brain is CRITICAL\n{}", show(&n));
    assert!(
        n.stdout.starts_with("POOLSTATUS CRITICAL - ") && n.stdout.contains("(split brain)"),
        "{}",
        show(&n)
    );

    // pgpwatch: pgpool's pg_role says db1 is a primary too.
    assert!(
        pgp1.log().contains("split brain seen through pgpool"),
        "{}",
        pgp1.log_tail(30)
    );
    assert!(
        eventually(START, || get(pgp1.addr(), API_PORT, "/metrics")
            .contains("pgpoolwatch_split_brain 1\n")),
        "{}",
        get(pgp1.addr(), API_PORT, "/metrics")
    );
    assert!(
        eventually(START, || alarms(
            &pgp1.receiver(),
            ERROR,
            "split brain seen through pgpool"
        ) > 0),
        "{:?}",
        subjects_to(&mailbox, &pgp1.receiver())
    );

    // repmgrwatch on db2, the registered master.
    let warn = db2
        .log()
        .lines()
        .find(|l| l.contains("[WARN] repmgrwatch: "))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        warn.contains("but db1, marked inactive in repmgr's metadata, answers as primary beside this master db2"),
        "{warn}"
    );
    wait_mail(&mailbox, &db2.receiver(), MULTIPLE, START);
    assert!(
        eventually(START, || alarms(
            &db2.receiver(),
            MULTIPLE,
            "db1, marked inactive"
        ) > 0),
        "{:?}",
        subjects_to(&mailbox, &db2.receiver())
    );
    assert!(
        eventually(START, || get(db2.addr(), API_PORT, "/metrics")
            .contains("pgpoolwatch_split_brain 1\n")),
        "{}",
        get(db2.addr(), API_PORT, "/metrics")
    );
    let status = get(db2.addr(), API_PORT, "/status");
    assert!(
        status.contains(r#""schema":2"#) && status.contains(r#""stale_primaries":["db1"]"#),
        "{status}"
    );
    // With db2's watcher's own config (mail on): it names the mails it
    // would send, and sends none.
    let before = mails_to(&mailbox, &db2.receiver()).len();
    let (code, out, err) = run_once(env!("CARGO_BIN_EXE_repmgrwatch"), &db2.config_path());
    assert_eq!(code, 1, "an alarm is no healthy path: {out}{err}");
    assert!(out.contains("db1, marked inactive"), "{out}");
    assert!(
        out.contains(&format!("would mail: {MULTIPLE}")) && out.contains("(--run-once sends none)"),
        "{out}"
    );

    // Once: more checks, no second alarm mail or WARN from either, and
    // nothing from --run-once.
    db2.wait_checks(4, START);
    pgp1.wait_checks(4, START);
    assert_eq!(
        mails_to(&mailbox, &db2.receiver()).len(),
        before,
        "{:?}",
        subjects_to(&mailbox, &db2.receiver())
    );
    assert_eq!(
        alarms(&db2.receiver(), MULTIPLE, "db1, marked inactive"),
        1,
        "{:?}",
        subjects_to(&mailbox, &db2.receiver())
    );
    assert_eq!(
        alarms(&pgp1.receiver(), ERROR, "split brain seen through pgpool"),
        1,
        "{:?}",
        subjects_to(&mailbox, &pgp1.receiver())
    );
    let warns = |w: &Watcher, needle: &str| {
        w.log()
            .lines()
            .filter(|l| l.contains("[WARN]") && l.contains(needle))
            .count()
    };
    assert_eq!(warns(&db2, "marked inactive"), 1, "{}", db2.log_tail(20));
    assert_eq!(warns(&pgp1, "split brain"), 1, "{}", pgp1.log_tail(20));
}
