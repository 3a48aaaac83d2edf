//! Network faults, not only process faults (issue 10 item 5): `bin/sandbox
//! partition HOST` drops every packet to and from a host's address
//! (iptables on lo), so connects to it hang until the client's own timeout,
//! where a stopped server refuses at once and a frozen one accepts and then
//! stays silent. Each test first proves the partition is real (a connect
//! times out instead of being refused), then measures how the watchers and
//! poolstatus react, and prints the figures
//! (`cargo test --test it partition:: -- --test-threads=1 --nocapture`).
//!
//! The clusters are built per test on nets 17 (pgpool and mail server cut
//! off) and 18 (a standby cut off); a mutex per net keeps two tests from
//! sharing one at once, and `down` removes the partitions with the rest.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::support::cluster::{eventually, Cluster};
use crate::support::mailbox::{Mailbox, MailboxOptions};
use crate::support::watchers::{subjects_to, wait_mail, Tuning, Watcher, SLACK};

const PGP_UP: &str = "PGPWATCH - Status Change - PGP Up";
const PGP_DOWN: &str = "PGPWATCH - Status Change - PGP Down";

/// Long enough for a watcher's first check and a cluster verb on a busy machine.
const START: Duration = Duration::from_secs(20);

/// pgpool and mail server partitions.
const NET_PGPOOL: u8 = 17;
/// Standby partitions.
const NET_STANDBY: u8 = 18;

static TURN_PGPOOL: Mutex<()> = Mutex::new(());
static TURN_STANDBY: Mutex<()> = Mutex::new(());

fn turn(m: &'static Mutex<()>) -> MutexGuard<'static, ()> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Asserts that a connect to `addr:port` hangs (times out after 1 s) rather
/// than being refused or accepted: the partition is in place.
fn assert_connect_hangs(addr: &str, port: u16) {
    let sa: SocketAddr = format!("{addr}:{port}").parse().expect("a socket address");
    let start = Instant::now();
    match TcpStream::connect_timeout(&sa, Duration::from_secs(1)) {
        Err(e) if e.kind() == ErrorKind::TimedOut => {}
        other => panic!(
            "{sa}: a partitioned address must make connects hang, got {other:?} after {:?}",
            start.elapsed()
        ),
    }
}

/// pgpwatch of pgp1 with its gate on an address of its own (`127.NET.50.1`):
/// the gate on pgp1's address would be behind pgp1's partition too, and a
/// closed gate could not be told from an unreachable one.
fn gate_apart(cluster: &Cluster) -> Tuning {
    Tuning {
        extra: vec![(
            "pgp".into(),
            "bind_address".into(),
            format!("127.{}.50.1", cluster.net()),
        )],
        ..Tuning::default()
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn partitioned_pgpool_closes_gate_within_period_plus_timeout_and_heal_reopens_it() {
    let _t = turn(&TURN_PGPOOL);
    let cluster = Cluster::up(NET_PGPOOL);
    let tuning = gate_apart(&cluster);
    let bound = tuning.reaction_bound();
    let mut w = Watcher::pgpwatch(&cluster, "pgp1", None, &tuning);
    w.wait_port(true, START);

    let verb = Instant::now();
    cluster.partition("pgp1");
    let verb = verb.elapsed();
    let closed = w.wait_port(false, bound + SLACK + START);
    assert_connect_hangs(&cluster.pgpool_addr(1), 5432);
    println!(
        "reaction pgp1 partitioned -> gate closed {:.3}s after the verb returned \
         (verb {:.3}s; bound check_period {} s + connect_timeout {} s + {:.0} s slack)",
        closed.as_secs_f64(),
        verb.as_secs_f64(),
        tuning.check_period,
        tuning.connect_timeout,
        SLACK.as_secs_f64()
    );
    assert!(
        closed < bound + SLACK,
        "gate closed {closed:?} after the partition, bound {bound:?} + {SLACK:?}; log tail:\n{}",
        w.log_tail(30)
    );
    assert_eq!(cluster.partitions(), vec![cluster.pgpool_addr(1)]);
    // While the partition lasts the gate stays closed (each probe hangs).
    w.wait_checks(2, START);
    assert!(!w.is_open(), "gate reopened while pgp1 is partitioned");

    let verb = Instant::now();
    cluster.heal_partition("pgp1");
    let verb = verb.elapsed();
    let opened = w.wait_port(true, bound + SLACK + START);
    println!(
        "reaction pgp1 healed -> gate open {:.3}s after `heal pgp1` returned (verb {:.3}s)",
        opened.as_secs_f64(),
        verb.as_secs_f64()
    );
    assert!(
        opened < bound + SLACK,
        "gate reopened {opened:?} after the heal, bound {bound:?} + {SLACK:?}; log tail:\n{}",
        w.log_tail(30)
    );
    assert!(cluster.partitions().is_empty(), "heal pgp1 left rules");
    w.stop();
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn partitioned_mail_server_delays_no_port_move_and_its_mail_arrives_after_heal() {
    let _t = turn(&TURN_PGPOOL);
    let cluster = Cluster::up(NET_PGPOOL);
    let mailbox = Mailbox::start(MailboxOptions {
        host: cluster.mail_addr(),
        ..MailboxOptions::default()
    });
    let tuning = Tuning::default();
    let bound = tuning.reaction_bound();
    let mut w = Watcher::pgpwatch(&cluster, "pgp1", Some(&mailbox), &tuning);
    w.wait_port(true, START);

    cluster.partition("mail");
    assert_connect_hangs(&cluster.mail_addr(), mailbox.port);

    cluster.stop_pgpool(1);
    let closed = w.wait_port(false, START);
    // The first mail is on its way: its connect hangs behind the partition.
    let mail = (cluster.mail_addr(), mailbox.port);
    assert!(
        eventually(START, || connecting_to(&mail.0, mail.1)),
        "no connect to the mail server {}:{} is pending (ss state syn-sent); log tail:\n{}",
        mail.0,
        mail.1,
        w.log_tail(30)
    );
    cluster.start_pgpool(1);
    let opened = w.wait_port(true, START);
    // Still hanging (or failed by its timeout): the gate did not wait for it.
    assert!(
        connecting_to(&mail.0, mail.1)
            || w.log().contains(&format!("mail \"{PGP_DOWN}\": try 1 of")),
        "the mail to the partitioned server neither hangs nor failed; log tail:\n{}",
        w.log_tail(30)
    );
    println!(
        "reaction with the mail server partitioned: gate closed {:.3}s after stop-pgpool \
         returned, open {:.3}s after start-pgpool returned (bound {:.1}s + {:.0}s slack)",
        closed.as_secs_f64(),
        opened.as_secs_f64(),
        bound.as_secs_f64(),
        SLACK.as_secs_f64()
    );
    assert!(
        closed < bound + SLACK && opened < bound + SLACK,
        "a hanging mail server delayed the gate: closed after {closed:?}, opened after \
         {opened:?}, bound {bound:?} + {SLACK:?}; log tail:\n{}",
        w.log_tail(40)
    );
    // Nothing can have crossed the partition.
    let early = subjects_to(&mailbox, &w.receiver());
    assert!(early.is_empty(), "mail crossed the partition: {early:?}");

    let healed = Instant::now();
    cluster.heal_partition("mail");
    wait_mail(&mailbox, &w.receiver(), PGP_DOWN, Duration::from_secs(120));
    let down = healed.elapsed();
    wait_mail(&mailbox, &w.receiver(), PGP_UP, Duration::from_secs(120));
    let up = healed.elapsed();
    println!(
        "mail server healed -> PGP Down delivered {:.3}s and PGP Up {:.3}s after \
         `heal mail` started (SYN retransmission or retry backoff)",
        down.as_secs_f64(),
        up.as_secs_f64()
    );
    let got = subjects_to(&mailbox, &w.receiver());
    let count = |s: &str| got.iter().filter(|g| *g == s).count();
    assert_eq!(count(PGP_DOWN), 1, "one PGP Down: {got:?}");
    assert_eq!(count(PGP_UP), 1, "one PGP Up: {got:?}");
    let down_at = got.iter().position(|g| g == PGP_DOWN);
    let up_at = got.iter().position(|g| g == PGP_UP);
    assert!(down_at < up_at, "PGP Down before PGP Up: {got:?}");
    w.stop();
}

/// Whether some socket of this machine is connecting to `addr:port` and has
/// no answer yet (TCP state SYN-SENT, as `ss` shows it).
fn connecting_to(addr: &str, port: u16) -> bool {
    let out = Command::new("ss")
        .args([
            "-Htn",
            "state",
            "syn-sent",
            "dst",
            &format!("{addr}:{port}"),
        ])
        .output()
        .expect("run ss (iproute2)");
    assert!(
        out.status.success(),
        "ss failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

/// One poolstatus run: exit code, output, how long it took.
struct Run {
    code: i32,
    stdout: String,
    took: Duration,
}

fn poolstatus(config: &Path) -> Run {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_poolstatus"))
        .arg("--config")
        .arg(config)
        .output()
        .expect("run poolstatus");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        took: start.elapsed(),
    }
}

fn pgp1_config(cluster: &Cluster) -> PathBuf {
    cluster.config_path("pgp1")
}

/// The `[poolstatus] connect_timeout` the sandbox writes (2 s).
const POOLSTATUS_TIMEOUT: Duration = Duration::from_secs(2);

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
// pgpool 4.3's SHOW pool_nodes waits for a partitioned backend; poolstatus
// learns the hosts from SHOW pool_health_check_stats and probes them while
// pool_nodes is still out (see poolstatus::gather).
fn partitioned_standby_makes_poolstatus_exit_1_within_timeout_naming_it() {
    let _t = turn(&TURN_STANDBY);
    let cluster = Cluster::up(NET_STANDBY);
    let config = pgp1_config(&cluster);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut r = poolstatus(&config);
    while r.code != 0 && Instant::now() < deadline {
        r = poolstatus(&config);
    }
    assert_eq!(r.code, 0, "a healthy cluster first:\n{}", r.stdout);

    cluster.partition("db3");
    let cut = Instant::now();
    assert_connect_hangs(&cluster.db_addr(3), 5432);
    let db3 = format!("{}:5432", cluster.db_addr(3));
    let bound = POOLSTATUS_TIMEOUT + Duration::from_secs(1);
    // pgpool itself fails sessions until its health check detaches db3
    // (health_check_timeout 2 s): poolstatus may say CRITICAL until then. Runs
    // until one exits 1; that one must name db3 and be within the bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let r = loop {
        let at = cut.elapsed();
        let r = poolstatus(&config);
        println!(
            "poolstatus {:.3}s after db3 was partitioned: exit {} in {:.3}s (bound {:.1}s)",
            at.as_secs_f64(),
            r.code,
            r.took.as_secs_f64(),
            bound.as_secs_f64()
        );
        seen.push(format!(
            "exit {} in {:.3}s at {:.3}s",
            r.code,
            r.took.as_secs_f64(),
            at.as_secs_f64()
        ));
        if r.code == 1 || Instant::now() > deadline {
            break r;
        }
    };
    let text = format!("runs: {seen:?}\nlast output:\n{}", r.stdout);
    assert_eq!(
        r.code, 1,
        "a partitioned standby is DEGRADED within 30 s\n{text}"
    );
    assert!(r.took < bound, "connect_timeout 2 s + 1 s\n{text}");
    assert!(r.stdout.contains("Status: DEGRADED"), "{text}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("error:") && l.contains(&db3)),
        "db3 named in an error\n{text}"
    );
    println!(
        "partitioned db3 -> poolstatus exit 1 in {:.3}s, {:.3}s after the partition",
        r.took.as_secs_f64(),
        cut.elapsed().as_secs_f64()
    );
}

/// pgpool 4.3's SHOW pool_nodes asks every backend for its pg_status, so a
/// partitioned standby stalls it for pgpool's connect_timeout on every call;
/// pgpwatch judges health from SHOW pool_health_check_stats instead (see
/// `probe::pgpool`), so the gate of a pgpool that serves clients stays open.
#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn partitioned_standby_leaves_pgpool_gate_open() {
    let _t = turn(&TURN_STANDBY);
    let cluster = Cluster::up(NET_STANDBY);
    let tuning = Tuning::default();
    let bound = tuning.reaction_bound();
    let mut w = Watcher::pgpwatch(&cluster, "pgp1", None, &tuning);
    w.wait_port(true, START);
    cluster.partition("db3");
    let cut = Instant::now();
    assert_connect_hangs(&cluster.db_addr(3), 5432);
    // pgpool fails sessions until its health check detaches db3; from then on
    // it serves clients, and the gate must let them in.
    let pgp1 = cluster.pgpool_addr(1);
    assert!(
        eventually(Duration::from_secs(30), || cluster
            .psql(&pgp1, "select 1")
            .as_deref()
            == Ok("1")),
        "pgp1 serves no session within 30 s of db3's partition:\n{}",
        cluster.status()
    );
    let serving = cut.elapsed();
    println!(
        "db3 partitioned -> pgp1 serves sessions again after {:.3}s",
        serving.as_secs_f64()
    );
    let opened = w.wait_port(true, bound + SLACK + START);
    println!(
        "pgp1 serving -> gate open {:.3}s later (bound {:.1}s + {:.0}s slack)",
        opened.as_secs_f64(),
        bound.as_secs_f64(),
        SLACK.as_secs_f64()
    );
    assert!(
        opened < bound + SLACK,
        "gate of a serving pgpool still closed {opened:?} later; log tail:\n{}",
        w.log_tail(30)
    );
    w.assert_port_stays(true, Duration::from_secs(10));
    w.stop();
}
