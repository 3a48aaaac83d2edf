//! The watchers on a real cluster: the built `pgpwatch` and `repmgrwatch`
//! binaries run against the sandbox (PostgreSQL 15 + repmgr 5.3 + pgpool-II
//! 4.3) and mail a real STARTTLS+AUTH capture server, while the tests fail
//! parts of the cluster and poll the GSLB ports. This is issue 4 item 6: the
//! ports must move within one check period plus one connect timeout, and the
//! original's mails must go out once per transition, even when the mail
//! server is away at the time.
//!
//! Tests that undo what they break share `Cluster::shared()` (net 1);
//! promotion and split brain build their own clusters (nets 5 and 6). libtest
//! starts tests in name order; the two own-cluster tests' names (`db_port_…`,
//! `every_db_port_…`) sort among the first, so with `--test-threads=2` their
//! builds overlap the shared cluster's turn-taking instead of following it.
//! Reaction times are printed (`cargo test --test it watchers:: -- --nocapture`).

use std::time::{Duration, Instant};

use crate::support::cluster::Cluster;
use crate::support::mailbox::{Mailbox, MailboxOptions};
use crate::support::scenes::{
    mail_body, pgpwatch_open, repmgrwatches, stop_all, stop_pgpool_with_mail_server_down,
    wait_first_try_failed, PGP_DOWN, PGP_ERROR, PGP_UP, REPMGR_DOWN_GOOD, REPMGR_MULTI,
    REPMGR_UP_BAD, REPMGR_UP_FORCE, START,
};
use crate::support::watchers::{mails_to, subjects_to, wait_mail, Tuning, Watcher, SLACK};

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read /proc/sys/kernel/hostname")
        .trim()
        .to_string()
}

/// How a port followed a cluster action.
struct Reaction {
    /// How long the `bin/sandbox` verb ran.
    verb: Duration,
    /// From the verb's start until the port moved.
    since_start: Duration,
    /// From the verb's end until the port moved (0 if it moved before).
    after_verb: Duration,
}

/// Runs `action` while polling `w`'s port (from another thread) until it is
/// `open`; how long the action took and when the port moved.
fn react(w: &Watcher, open: bool, within: Duration, action: impl FnOnce()) -> Reaction {
    let start = Instant::now();
    std::thread::scope(|s| {
        let poll = s.spawn(|| w.wait_port(open, within));
        action();
        let verb = start.elapsed();
        let since_start = match poll.join() {
            Ok(d) => d,
            Err(e) => std::panic::resume_unwind(e),
        };
        Reaction {
            verb,
            since_start,
            after_verb: since_start.saturating_sub(verb),
        }
    })
}

fn report(what: &str, r: &Reaction, bound: Duration) {
    println!(
        "reaction {what}: port moved {:.3}s after the verb started, {:.3}s after it returned \
         (verb took {:.3}s; bound {:.1}s + {:.0}s slack)",
        r.since_start.as_secs_f64(),
        r.after_verb.as_secs_f64(),
        r.verb.as_secs_f64(),
        bound.as_secs_f64(),
        SLACK.as_secs_f64()
    );
}

fn assert_within(what: &str, r: &Reaction, bound: Duration) {
    report(what, r, bound);
    assert!(
        r.after_verb < bound + SLACK,
        "{what}: port moved {:?} after the verb returned, bound {bound:?} + {SLACK:?}",
        r.after_verb
    );
}

fn count(subjects: &[String], subject: &str) -> usize {
    subjects.iter().filter(|s| *s == subject).count()
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn pgpool_stopped_and_started_moves_port_and_mails_once() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    let bound = tuning.reaction_bound();
    let mut w = pgpwatch_open(&cluster, "pgp1", Some(&mailbox), &tuning);

    let down = react(&w, false, START, || cluster.stop_pgpool(1));
    assert_within("pgpool stopped -> pgp1 port closed", &down, bound);
    let up = react(&w, true, START, || cluster.start_pgpool(1));
    assert_within("pgpool started -> pgp1 port open", &up, bound);

    let to = w.receiver();
    wait_mail(&mailbox, &to, PGP_UP, Duration::from_secs(20));
    // Several more cycles: nothing may be repeated.
    w.wait_checks(4, Duration::from_secs(20));
    let subjects = subjects_to(&mailbox, &to);
    assert_eq!(
        subjects,
        vec![PGP_DOWN, PGP_ERROR, PGP_UP],
        "mails of one stop/start episode, in order, once each"
    );
    let host = hostname();
    let mails = mails_to(&mailbox, &to);
    let body = |subject: &str| mail_body(&mailbox, &to, subject).unwrap_or_default();
    let want_down = format!(
        "This is the {host}.<br>The PGPServer was up, now it <b>failed</b>. <br>Closing port 5559 for GSLB."
    );
    assert!(body(PGP_DOWN).starts_with(&want_down), "{}", body(PGP_DOWN));
    let want_up = format!(
        "This is the {host}.<br>The PGPServer was down, now switching to <b>up</b> state. <br>Opening port for GSLB."
    );
    assert!(body(PGP_UP).starts_with(&want_up), "{}", body(PGP_UP));
    let want_error = format!("This is the {host}.<br>The pgpwatch script <b>failed!</b><br><br>");
    assert!(
        body(PGP_ERROR).starts_with(&want_error),
        "{}",
        body(PGP_ERROR)
    );
    assert!(
        body(PGP_ERROR).contains("127.1.10.1:5432"),
        "the Error mail names the pgpool that failed: {}",
        body(PGP_ERROR)
    );
    assert!(
        body(PGP_ERROR).contains("Output of: show pool_nodes<br>")
            && body(PGP_ERROR).contains("Status: CRITICAL"),
        "the Error mail carries the poolstatus report, lines as <br>: {}",
        body(PGP_ERROR)
    );
    for m in &mails {
        assert_eq!(m.auth_user, mailbox.opts.user, "{}", m.subject);
        assert_eq!(m.from, "pgpoolwatch@watchers.test", "{}", m.subject);
    }
    w.stop();
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn pgpool_frozen_closes_port_within_timeout() {
    let cluster = Cluster::shared();
    let tuning = Tuning::default();
    let bound = tuning.reaction_bound();
    // Mail on, as in production: the Error mail's report (poolstatus
    // against the frozen pgpool) must not hold up the next checks.
    let mailbox = Mailbox::start(MailboxOptions::default());
    let mut w = pgpwatch_open(&cluster, "pgp1", Some(&mailbox), &tuning);

    let frozen = react(&w, false, START, || cluster.freeze_pgpool(1));
    assert_within(
        "pgpool frozen (SIGSTOP) -> pgp1 port closed",
        &frozen,
        bound,
    );
    // The failed check says it timed out (the log line may follow the
    // gate's move by a moment).
    w.wait_log("timed out", Duration::from_secs(5));
    let thawed = react(&w, true, START, || cluster.thaw_pgpool(1));
    assert_within("pgpool thawed -> pgp1 port open", &thawed, bound);
    w.stop();
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn both_pgpools_down_opens_only_the_masters_port_until_one_returns() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    let mut pgp1 = pgpwatch_open(&cluster, "pgp1", None, &tuning);
    let mut pgp2 = pgpwatch_open(&cluster, "pgp2", None, &tuning);
    let mut dbs = repmgrwatches(&cluster, Some(&mailbox), &tuning);
    for w in &dbs {
        w.wait_checks(2, START);
        assert!(!w.is_open(), "{}: closed while the pgpools answer", w.host);
    }

    // The master opens after both pgpwatch ports closed and its next check.
    let bound = tuning.reaction_bound() * 2;
    let opened = react(&dbs[0], true, START, || {
        cluster.stop_pgpool(1);
        cluster.stop_pgpool(2);
    });
    assert_within("both pgpools stopped -> db1 port open", &opened, bound);
    assert!(!pgp1.is_open() && !pgp2.is_open(), "pgpwatch ports closed");
    for w in &dbs[1..] {
        w.assert_port_stays(false, tuning.reaction_bound() * 2);
    }

    let closed = react(&dbs[0], false, START, || cluster.start_pgpool(1));
    assert_within("pgpool 1 back -> db1 port closed", &closed, bound);
    wait_mail(
        &mailbox,
        &dbs[0].receiver(),
        REPMGR_DOWN_GOOD,
        Duration::from_secs(20),
    );
    dbs[0].wait_checks(3, Duration::from_secs(20));
    assert_eq!(
        subjects_to(&mailbox, &dbs[0].receiver()),
        vec![REPMGR_UP_BAD, REPMGR_DOWN_GOOD],
        "db1: one mail per transition"
    );
    let hello = format!("This is the {}.<br>", hostname());
    for m in mails_to(&mailbox, &dbs[0].receiver()) {
        assert!(m.html_body().starts_with(&hello), "{}", m.html_body());
    }
    // The original's bodies (docs/compatibility.md), then the reason.
    let bodies: Vec<String> = mails_to(&mailbox, &dbs[0].receiver())
        .iter()
        .map(|m| m.html_body().to_string())
        .collect();
    assert!(
        bodies[0].starts_with(&format!("{hello} I am the current master, and all pgpool instances are down, so the GSLB is probably routing traffic through me.")),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[1].starts_with(&format!("{hello}I am the current master, and I used to serve as the DB instance. Yet one of the pgpools are back online.")),
        "{}",
        bodies[1]
    );
    for b in &bodies {
        assert!(
            !b.contains("Failed Node"),
            "no Failed Node paragraph in a watcher mail: {b}"
        );
    }
    for w in &dbs[1..] {
        assert_eq!(
            subjects_to(&mailbox, &w.receiver()),
            Vec::<String>::new(),
            "{}: a standby sends nothing",
            w.host
        );
    }
    stop_all(dbs.iter_mut().chain([&mut pgp1, &mut pgp2]));
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn force_open_opens_the_master_while_pgpools_answer() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    let mut pgp1 = pgpwatch_open(&cluster, "pgp1", None, &tuning);
    let forced = Tuning {
        force_open: true,
        ..Tuning::default()
    };
    let mut dbs = repmgrwatches(&cluster, Some(&mailbox), &forced);
    let t = dbs[0].wait_port(true, START);
    println!("force_open: db1 open {:.3}s after start", t.as_secs_f64());
    for w in &dbs[1..] {
        w.wait_checks(2, START);
        w.assert_port_stays(false, forced.reaction_bound());
    }
    assert!(pgp1.is_open(), "a pgpool answers all along");
    wait_mail(
        &mailbox,
        &dbs[0].receiver(),
        REPMGR_UP_FORCE,
        Duration::from_secs(20),
    );
    dbs[0].wait_checks(3, Duration::from_secs(20));
    assert_eq!(
        subjects_to(&mailbox, &dbs[0].receiver()),
        vec![REPMGR_UP_FORCE]
    );
    for w in &dbs[1..] {
        assert_eq!(
            subjects_to(&mailbox, &w.receiver()),
            Vec::<String>::new(),
            "{}",
            w.host
        );
    }
    stop_all(dbs.iter_mut().chain([&mut pgp1]));
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn db_port_moves_to_the_promoted_standby_when_the_primary_is_lost() {
    let cluster = Cluster::up(5);
    let mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    // No pgpwatch runs: no check_port answers, the master's port is open.
    let mut dbs = repmgrwatches(&cluster, Some(&mailbox), &tuning);
    dbs[0].wait_port(true, START);
    for w in &dbs[1..] {
        w.wait_checks(2, START);
        assert!(!w.is_open(), "{}: a standby stays closed", w.host);
    }

    let bound = tuning.reaction_bound();
    let lost = react(&dbs[0], false, START, || cluster.stop_db(1));
    assert_within("primary db1 stopped -> db1 port closed", &lost, bound);
    let moved = react(&dbs[1], true, Duration::from_secs(60), || {
        cluster.promote(2)
    });
    assert_within("db2 promoted -> db2 port open", &moved, bound);
    assert!(!dbs[0].is_open(), "db1 is down and closed");
    dbs[2].assert_port_stays(false, bound);
    wait_mail(
        &mailbox,
        &dbs[1].receiver(),
        REPMGR_UP_BAD,
        Duration::from_secs(20),
    );
    let db2 = subjects_to(&mailbox, &dbs[1].receiver());
    assert_eq!(count(&db2, REPMGR_UP_BAD), 1, "db2: {db2:?}");
    let db1 = subjects_to(&mailbox, &dbs[0].receiver());
    assert_eq!(count(&db1, REPMGR_UP_BAD), 1, "db1: {db1:?}");
    stop_all(&mut dbs);
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn every_db_port_closes_on_split_brain_with_one_multiple_masters_mail_each() {
    let cluster = Cluster::up(6);
    let mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    let mut dbs = repmgrwatches(&cluster, Some(&mailbox), &tuning);
    dbs[0].wait_port(true, START);

    let split = react(&dbs[0], false, START, || cluster.split_brain());
    assert_within(
        "split brain -> db1 port closed",
        &split,
        tuning.reaction_bound(),
    );
    for w in &dbs {
        wait_mail(
            &mailbox,
            &w.receiver(),
            REPMGR_MULTI,
            Duration::from_secs(20),
        );
    }
    // Several cycles later: still closed, still one mail each.
    for w in &dbs {
        w.wait_checks(4, Duration::from_secs(20));
        assert!(!w.is_open(), "{}: closed during split brain", w.host);
    }
    for w in &dbs {
        let got = subjects_to(&mailbox, &w.receiver());
        assert_eq!(count(&got, REPMGR_MULTI), 1, "{}: {got:?}", w.host);
        let body = mail_body(&mailbox, &w.receiver(), REPMGR_MULTI).unwrap_or_default();
        assert!(
            body.contains("db1") && body.contains("db2"),
            "{}: the mail names both masters: {body}",
            w.host
        );
    }
    stop_all(&mut dbs);
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn mail_server_down_port_still_moves_and_mail_arrives_when_it_returns() {
    let cluster = Cluster::shared();
    let mut mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    let bound = tuning.reaction_bound();
    let mut w = pgpwatch_open(&cluster, "pgp1", Some(&mailbox), &tuning);

    mailbox.stop();
    let down = react(&w, false, START, || cluster.stop_pgpool(1));
    assert_within(
        "pgpool stopped, mail server down -> pgp1 port closed",
        &down,
        bound,
    );
    // The first try must have failed before the server comes back.
    wait_first_try_failed(&w, PGP_DOWN);
    let back = Instant::now();
    mailbox.restart();
    wait_mail(&mailbox, &w.receiver(), PGP_DOWN, Duration::from_secs(40));
    println!(
        "mail server restarted -> PGP Down delivered {:.3}s later (retry backoff 2 s doubling)",
        back.elapsed().as_secs_f64()
    );
    // Delivered by a retry (logged just after the server accepted it).
    w.wait_log(
        &format!("mail \"{PGP_DOWN}\" sent at try"),
        Duration::from_secs(10),
    );
    let up = react(&w, true, START, || cluster.start_pgpool(1));
    assert_within("pgpool started -> pgp1 port open", &up, bound);
    wait_mail(&mailbox, &w.receiver(), PGP_UP, Duration::from_secs(20));
    let got = subjects_to(&mailbox, &w.receiver());
    assert_eq!(count(&got, PGP_DOWN), 1, "{got:?}");
    assert_eq!(count(&got, PGP_UP), 1, "{got:?}");
    w.stop();
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn sigterm_with_undeliverable_mail_exits_0_after_a_bounded_flush() {
    let cluster = Cluster::shared();
    let mut mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    let mut w = pgpwatch_open(&cluster, "pgp1", Some(&mailbox), &tuning);
    stop_pgpool_with_mail_server_down(&cluster, &mut mailbox, &w);
    // Exit 0, port closed (asserted by stop), and no longer than the flush.
    let took = w.stop();
    println!(
        "SIGTERM with undeliverable mail queued -> exit after {:.3}s (flush limit {:?})",
        took.as_secs_f64(),
        pgpoolwatch::watch::SHUTDOWN_FLUSH
    );
    assert!(
        took < pgpoolwatch::watch::SHUTDOWN_FLUSH + SLACK,
        "exit took {took:?}; log tail:\n{}",
        w.log_tail(20)
    );
    assert!(
        w.log().contains("mail(s) not sent at shutdown"),
        "the lost mails are logged; log tail:\n{}",
        w.log_tail(20)
    );
}

/// A reboot or a deploy starts every watcher at the same moment: the
/// repmgrwatches' first checks come before the pgpwatches opened their
/// gates. The start-up grace keeps the master's port closed (no GSLB write
/// detour, no false "UP (This is bad)" / "Down (This is good)" pair).
#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn simultaneous_start_of_all_watchers_never_opens_the_master() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default();
    // All five at once, mail on for every one.
    let mut ws: Vec<Watcher> = Vec::new();
    for h in ["pgp1", "pgp2"] {
        ws.push(Watcher::pgpwatch(&cluster, h, Some(&mailbox), &tuning));
    }
    ws.extend(repmgrwatches(&cluster, Some(&mailbox), &tuning));
    // Sample db1's gate from right after the start until well past the
    // grace (check_period + connect_timeout = 1.5 s here).
    let (addr, port) = (ws[2].addr().to_string(), ws[2].port());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (samples, opened) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let (mut n, mut open) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                if crate::support::watchers::port_open(&addr, port) {
                    open += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (n, open)
        });
        ws[0].wait_port(true, START);
        ws[1].wait_port(true, START);
        for w in &ws[2..] {
            w.wait_checks(6, START);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sampler.join().expect("sampler")
    });
    println!("simultaneous start: db1 gate sampled {samples} times, open {opened} times");
    assert!(samples > 50, "the sampler ran ({samples} samples)");
    assert_eq!(
        opened,
        0,
        "db1's gate must never open on a simultaneous start\n{}",
        ws[2].log_tail(20)
    );
    // The repmgrwatches first: with the fast path, a repmgrwatch still
    // running sees both pgpwatch gates close within half a second and
    // rightly opens the master and mails (seen once in CI, 23:44 UTC).
    let (pgpwatches, repmgrwatches) = ws.split_at_mut(2);
    stop_all(repmgrwatches.iter_mut().chain(pgpwatches.iter_mut()));
    // Stopping flushed every queued mail: none from a repmgrwatch.
    for w in &ws[2..] {
        assert_eq!(
            subjects_to(&mailbox, &w.receiver()),
            Vec::<String>::new(),
            "{}: no mail on a healthy simultaneous start\n{}",
            w.host,
            w.log_tail(20)
        );
    }
}

/// A mail that cannot be sent for a reason a retry does not mend (here
/// args.txt is missing) is logged once with its reason, not retried ten
/// times over five minutes; the port moves regardless.
#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn missing_args_txt_is_logged_once_and_not_retried() {
    let cluster = Cluster::shared();
    let missing =
        std::env::temp_dir().join(format!("pgpw-no-such-args-{}.txt", std::process::id()));
    let tuning = Tuning::default().with("general", "sendmail", "yes").with(
        "general",
        "sendmail_settings_path",
        missing.display(),
    );
    // No pgpwatch runs: the master opens after its grace and mails UP.
    let mut db1 = Watcher::repmgrwatch(&cluster, "db1", None, &tuning);
    db1.wait_port(true, START);
    db1.wait_log("not retried", START);
    // The first retry would come 2 s after the failure: wait well past it.
    db1.wait_checks(10, START);
    let log = db1.log();
    let failures: Vec<&str> = log.lines().filter(|l| l.contains("not sent")).collect();
    assert_eq!(failures.len(), 1, "one log line for the one mail:\n{log}");
    assert!(
        failures[0].contains(&missing.display().to_string())
            && failures[0].contains("UP (This is bad)"),
        "names the mail and the file: {}",
        failures[0]
    );
    assert!(!log.contains("retrying in"), "no retry:\n{log}");
    db1.stop();
}

/// Issue 18 item 5: a pgpool whose name cannot be resolved is not "down":
/// the master, seeing no other pgpool, keeps its port closed and mails
/// "Pgpool Unknown" once (before, it opened and mailed "UP (This is bad)").
#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn an_unresolvable_pgpool_name_keeps_the_masters_port_closed() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let tuning = Tuning::default().with("repmgr", "pgp_server_2", "pgp2.pgpoolwatch.invalid");
    // No pgpwatch runs: pgp1's gate does not answer.
    let mut db1 = Watcher::repmgrwatch(&cluster, "db1", Some(&mailbox), &tuning);
    wait_mail(
        &mailbox,
        &db1.receiver(),
        "PGPWATCH - Repmgr - Pgpool Unknown",
        START,
    );
    db1.wait_checks(4, START);
    assert!(!db1.is_open(), "log:\n{}", db1.log_tail(10));
    assert_eq!(
        subjects_to(&mailbox, &db1.receiver()),
        vec!["PGPWATCH - Repmgr - Pgpool Unknown"],
        "once, and no UP (This is bad)"
    );
    db1.stop();
}
