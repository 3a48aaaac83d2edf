//! The mail side beside the check loop, on the real cluster: a slow mail
//! report never holds the check loop, SIGHUP rebuilds the mail side
//! (sendmail switched on takes effect at the next transition), and SIGTERM
//! returns within its bound even while the mail server is frozen. (Written
//! for the watch/ re-cut of issue 9, as `recut.rs`.)

use std::time::{Duration, Instant};

use crate::support::cluster::Cluster;
use crate::support::mailbox::{Mailbox, MailboxOptions};
use crate::support::scenes::{
    mail_body, pgpwatch_open, stop_pgpool_with_mail_server_frozen, PGP_DOWN, PGP_ERROR, PGP_UP,
    START,
};
use crate::support::watchers::{subjects_to, wait_mail, Tuning, Watcher, SLACK};

/// Thaws db `n`'s sshd when dropped, so a failing test leaves the shared
/// cluster whole for the next one.
struct FrozenSsh<'a>(&'a Cluster, u8);

impl Drop for FrozenSsh<'_> {
    fn drop(&mut self) {
        self.0.thaw_ssh(self.1);
    }
}

/// Runs `action`, then polls `w`'s port until it is `open`; how long that
/// took after the action returned.
fn after(w: &Watcher, open: bool, action: impl FnOnce()) -> Duration {
    action();
    w.wait_port(open, START)
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn a_hanging_report_never_holds_the_loop() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    // The report asks the other pgpool (which answers) for the backends,
    // then each database host's sshd for its disk use, with a 4 s timeout.
    let tuning = Tuning::default()
        .with("poolstatus", "pgpool_host", cluster.pgpool_addr(2))
        .with("poolstatus", "connect_timeout", 4);
    let bound = tuning.reaction_bound() + SLACK;
    let mut w = pgpwatch_open(&cluster, "pgp1", Some(&mailbox), &tuning);
    // db3's sshd frozen: the Error mail's report hangs on its disk section
    // for those 4 s, longer than the time pgpool 1 is away.
    cluster.freeze_ssh(3);
    let _thaw = FrozenSsh(&cluster, 3);
    let closed = after(&w, false, || cluster.stop_pgpool(1));
    println!(
        "pgpool stopped, db3's sshd frozen -> port closed {:.3}s later",
        closed.as_secs_f64()
    );
    assert!(
        closed < bound,
        "closed after {closed:?} (bound {bound:?})\n{}",
        w.log_tail(20)
    );
    let opened = after(&w, true, || cluster.start_pgpool(1));
    println!(
        "pgpool back -> port open {:.3}s later",
        opened.as_secs_f64()
    );
    assert!(
        opened < bound,
        "reopened after {opened:?} (bound {bound:?})\n{}",
        w.log_tail(20)
    );
    wait_mail(&mailbox, &w.receiver(), PGP_UP, START);
    let body = mail_body(&mailbox, &w.receiver(), PGP_ERROR).expect("an Error mail");
    assert!(
        body.contains("Output of: show pool_nodes<br>") && body.contains("127.1.20.3"),
        "the report is in the Error mail: {body}"
    );
    assert!(
        body.contains("timed out"),
        "db3's disk section waited for its sshd until the timeout: {body}"
    );
    assert_eq!(
        subjects_to(&mailbox, &w.receiver()),
        vec![PGP_DOWN, PGP_ERROR, PGP_UP],
        "in order"
    );
    w.stop();
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn sighup_switches_mail_on_for_the_next_transition_within_a_long_period() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    // A long period: the reload must not wait for the next check.
    let tuning = Tuning {
        check_period: 4.0,
        ..Tuning::default()
    };
    let mut w = pgpwatch_open(&cluster, "pgp2", None, &tuning);
    w.wait_log("opening the port", START);
    w.enable_mail(&mailbox);
    let t = Instant::now();
    w.sighup();
    w.wait_log("configuration reloaded", Duration::from_secs(5));
    let noticed = t.elapsed();
    println!(
        "SIGHUP -> reloaded after {:.3}s (check_period 4s)",
        noticed.as_secs_f64()
    );
    assert!(
        noticed < Duration::from_millis(1500),
        "the reload waited for the next check: {noticed:?}"
    );
    let closed = after(&w, false, || cluster.stop_pgpool(2));
    assert!(
        closed < tuning.reaction_bound() + SLACK,
        "closed after {closed:?}"
    );
    wait_mail(&mailbox, &w.receiver(), PGP_DOWN, START);
    cluster.start_pgpool(2);
    w.wait_port(true, START);
    wait_mail(&mailbox, &w.receiver(), PGP_UP, START);
    w.stop();
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn sigterm_with_a_frozen_mail_server_exits_0_within_the_bound() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let mut w = pgpwatch_open(&cluster, "pgp1", Some(&mailbox), &Tuning::default());
    // The PGP Down mail's send now waits for a greeting that never comes
    // (sendmail's --timeout is 30 s by default, 4 x that for the delivery).
    stop_pgpool_with_mail_server_frozen(&cluster, &mailbox, &w);
    let took = w.stop();
    println!(
        "SIGTERM with the mail server frozen -> exit 0 after {:.3}s (bound {:?})",
        took.as_secs_f64(),
        pgpoolwatch::watch::SHUTDOWN_FLUSH
    );
    mailbox.thaw();
    cluster.start_pgpool(1);
    assert!(
        took < pgpoolwatch::watch::SHUTDOWN_FLUSH + SLACK,
        "exit took {took:?}\n{}",
        w.log_tail(20)
    );
    assert!(
        w.log().contains("mail(s) not sent at shutdown"),
        "the lost mails are counted: {}",
        w.log_tail(20)
    );
}
