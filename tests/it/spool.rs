//! No alert lost (issue 18 item 1). Each watcher mail is spooled (written and
//! fsync'd under `[general] state_dir`/<program>) before it counts as
//! queued and removed only once the SMTP server accepted it; the last gate
//! state is kept beside it. These tests kill the built watchers on the
//! shared cluster while mail cannot be delivered and count what arrives
//! after a restart: each mail exactly once, and the transition a dead
//! repmgrwatch missed.
//!
//! Before the spool a SIGKILL (or a SIGTERM during a send) lost the queued
//! mails: after the restart pgpwatch's first check sent only "Error", never
//! the "PGP Down", and repmgrwatch started closed and never sent "Down
//! (This is good)" for the port the dead process had held open.
//!
//! Figures (`cargo test --test it spool:: -- --nocapture`): spool files
//! left by the kill, and the watcher's own "spooled ... in N ms" lines.

use std::path::Path;
use std::time::Duration;

use crate::support::cluster::Cluster;
use crate::support::mailbox::{Mailbox, MailboxOptions};
use crate::support::scenes::{
    pgpwatch_open, stop_all, stop_pgpool_with_mail_server_down,
    stop_pgpool_with_mail_server_frozen, PGP_DOWN, PGP_ERROR, PGP_UP, REPMGR_DOWN_GOOD,
    REPMGR_UP_BAD, START,
};
use crate::support::watchers::{subjects_to, wait_mail, Program, Tuning, Watcher, SLACK};

/// Mail files in a watcher's spool.
fn spooled(w: &Watcher) -> usize {
    let dir = w.state_dir().join(w.program.name());
    std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".mail"))
                .count()
        })
        .unwrap_or(0)
}

/// The watcher's "spooled ... in N ms" figures.
fn spool_times(w: &Watcher) -> Vec<String> {
    w.log()
        .lines()
        .filter_map(|l| l.find(": spooled ").map(|i| l[i + 2..].to_string()))
        .collect()
}

/// Waits `n` checks, then asserts `w`'s mails are `want`, in order.
fn assert_mails_settle(w: &Watcher, mailbox: &Mailbox, want: &[&str], what: &str) {
    w.wait_checks(4, Duration::from_secs(30));
    let got = subjects_to(mailbox, &w.receiver());
    assert_eq!(
        got,
        want,
        "{what}: each mail exactly once, in order; log tail:\n{}",
        w.log_tail(30)
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn pgpwatch_sigkilled_with_mail_queued_sends_each_mail_once_after_restart() {
    let cluster = Cluster::shared();
    let mut mailbox = Mailbox::start(MailboxOptions::default());
    let mut w = pgpwatch_open(&cluster, "pgp1", Some(&mailbox), &Tuning::default());

    stop_pgpool_with_mail_server_down(&cluster, &mut mailbox, &w);
    w.kill9();
    let left = spooled(&w);
    assert!(left >= 1, "the queued mails are on disk after SIGKILL");

    mailbox.restart();
    w.start_again();
    wait_mail(&mailbox, &w.receiver(), PGP_ERROR, Duration::from_secs(40));
    assert_mails_settle(
        &w,
        &mailbox,
        &[PGP_DOWN, PGP_ERROR],
        "pgpool down, SIGKILL, mail server and pgpwatch back",
    );
    assert!(
        w.log_since_start().contains("left in the spool"),
        "{}",
        w.log_tail(30)
    );
    assert_eq!(spooled(&w), 0, "sent mails leave the spool");
    println!(
        "spool: SIGKILL with the mail server down left {left} mail file(s); after the restart \
         expected [PGP Down, Error], received {:?}; spool times: {:?}",
        subjects_to(&mailbox, &w.receiver()),
        spool_times(&w)
    );

    cluster.start_pgpool(1);
    w.wait_port(true, START);
    wait_mail(&mailbox, &w.receiver(), PGP_UP, Duration::from_secs(20));
    assert_mails_settle(&w, &mailbox, &[PGP_DOWN, PGP_ERROR, PGP_UP], "pgpool back");
    w.stop();
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn pgpwatch_sigterm_during_a_send_keeps_the_mail_for_the_next_start() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let mut w = pgpwatch_open(&cluster, "pgp1", Some(&mailbox), &Tuning::default());

    stop_pgpool_with_mail_server_frozen(&cluster, &mailbox, &w);
    let took = w.stop();
    assert!(
        took < pgpoolwatch::watch::SHUTDOWN_FLUSH + SLACK,
        "exit took {took:?}"
    );
    assert!(
        w.log().contains("kept in the spool"),
        "the unsent mails are kept; log tail:\n{}",
        w.log_tail(20)
    );
    let left = spooled(&w);
    mailbox.thaw();

    w.start_again();
    wait_mail(&mailbox, &w.receiver(), PGP_ERROR, Duration::from_secs(40));
    assert_mails_settle(
        &w,
        &mailbox,
        &[PGP_DOWN, PGP_ERROR],
        "pgpool down, SIGTERM during the send, pgpwatch started again",
    );
    println!(
        "spool: SIGTERM during a send (frozen server) exited in {:.1}s leaving {left} mail file(s); \
         after the restart expected [PGP Down, Error], received {:?}",
        took.as_secs_f64(),
        subjects_to(&mailbox, &w.receiver())
    );
    cluster.start_pgpool(1);
    w.wait_port(true, START);
    wait_mail(&mailbox, &w.receiver(), PGP_UP, Duration::from_secs(20));
    w.stop();
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn repmgrwatch_restarted_after_a_crash_mails_the_close_it_missed_and_only_that() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    let mut pgp1 = pgpwatch_open(&cluster, "pgp1", None, &tuning);
    let mut pgp2 = pgpwatch_open(&cluster, "pgp2", None, &tuning);
    let mut db1 = Watcher::repmgrwatch(&cluster, "db1", Some(&mailbox), &tuning);
    db1.wait_checks(2, START);
    cluster.stop_pgpool(1);
    cluster.stop_pgpool(2);
    db1.wait_port(true, START);
    wait_mail(
        &mailbox,
        &db1.receiver(),
        REPMGR_UP_BAD,
        Duration::from_secs(20),
    );

    // Crash and restart while nothing changed: open again, no second UP.
    db1.kill9();
    db1.start_again();
    db1.wait_port(true, START);
    assert_mails_settle(
        &db1,
        &mailbox,
        &[REPMGR_UP_BAD],
        "restart, still the lone master",
    );
    assert!(
        db1.log_since_start().contains(&format!(
            "port {} opens again (open when repmgrwatch last ran)",
            db1.port()
        )),
        "the first check after the restart says the port opens again, not that it stays open; log:\n{}",
        db1.log_tail(20)
    );

    // Crash; a pgpool comes back while repmgrwatch is dead.
    db1.kill9();
    cluster.start_pgpool(1);
    pgp1.wait_port(true, START);
    db1.start_again();
    wait_mail(
        &mailbox,
        &db1.receiver(),
        REPMGR_DOWN_GOOD,
        Duration::from_secs(20),
    );
    assert_mails_settle(
        &db1,
        &mailbox,
        &[REPMGR_UP_BAD, REPMGR_DOWN_GOOD],
        "restart after a pgpool came back",
    );
    assert!(!db1.is_open());
    println!(
        "spool: repmgrwatch killed with its port open, pgpool 1 back, restarted: expected \
         [UP (This is bad), Down (This is good)], received {:?}",
        subjects_to(&mailbox, &db1.receiver())
    );
    stop_all([&mut db1, &mut pgp1, &mut pgp2]);
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn pgpwatch_and_repmgrwatch_share_a_state_dir_without_sharing_files() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let shared = std::env::temp_dir().join(format!("pgpw-shared-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&shared);
    let tuning = Tuning::default().with("general", "state_dir", shared.display());
    let mut pgp = Watcher::pgpwatch(&cluster, "pgp1", Some(&mailbox), &tuning);
    let mut db = Watcher::repmgrwatch(&cluster, "db1", Some(&mailbox), &tuning);
    pgp.wait_checks(2, START);
    db.wait_checks(2, START);
    for w in [&pgp, &db] {
        assert!(
            !w.log().contains("mail spool"),
            "{}: no spool error; log:\n{}",
            w.host,
            w.log_tail(20)
        );
        let state = shared.join(w.program.name()).join("gate.state");
        assert!(state.exists(), "{} keeps {}", w.host, state.display());
    }
    // A second pgpwatch on the same state_dir is refused the spool, loudly,
    // and still runs with mail in memory.
    let mut second = Watcher::start(
        Program::Pgpwatch,
        &cluster.config_path("pgp2"),
        "pgp2",
        Some(&mailbox),
        &tuning,
    );
    second.wait_log("used by another process", START);
    second.wait_checks(2, START);
    stop_all([&mut pgp, &mut db, &mut second]);
    let _ = std::fs::remove_dir_all(&shared);
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn an_unwritable_state_dir_is_one_error_line_and_mail_still_goes() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let file = std::env::temp_dir().join(format!("pgpw-state-is-a-file-{}", std::process::id()));
    std::fs::write(&file, "not a directory").expect("write");
    let tuning = Tuning::default().with("general", "state_dir", file.display());
    let mut w = pgpwatch_open(&cluster, "pgp1", Some(&mailbox), &tuning);
    cluster.stop_pgpool(1);
    wait_mail(&mailbox, &w.receiver(), PGP_DOWN, Duration::from_secs(30));
    cluster.start_pgpool(1);
    wait_mail(&mailbox, &w.receiver(), PGP_UP, Duration::from_secs(30));
    let errors = w
        .log()
        .lines()
        .filter(|l| l.contains("mail spool") && l.contains("[ERROR]"))
        .count();
    assert_eq!(errors, 1, "one error line; log:\n{}", w.log_tail(30));
    assert!(Path::new(&file).is_file());
    w.stop();
    let _ = std::fs::remove_file(&file);
}
