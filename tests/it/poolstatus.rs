//! poolstatus against a real sandbox cluster (bin/sandbox, SANDBOX_NET=2):
//! the healthy report, a stopped standby, a stopped and a frozen pgpool, and
//! a promoted standby. The built `poolstatus` binary runs with the
//! sandbox's generated config.ini, as an operator would run it.
//!
//! The tests share one sandbox and take turns (a mutex); each starts from a
//! fresh `down` + `up`, so a failed test leaves nothing behind for the next.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const NET: &str = "2";
static TURN: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sandbox_dir() -> PathBuf {
    std::env::temp_dir().join("pgpoolwatch-it-poolstatus")
}

/// The sandbox of these tests; `down` on drop.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn verb(&self, args: &[&str]) -> Output {
        let out = Command::new(repo().join("bin/sandbox"))
            .args(args)
            .env("SANDBOX_NET", NET)
            .env("SANDBOX_DIR", &self.dir)
            .output()
            .expect("run bin/sandbox");
        assert!(
            out.status.success(),
            "bin/sandbox {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A fresh healthy cluster.
    fn fresh() -> Sandbox {
        let s = Sandbox { dir: sandbox_dir() };
        s.verb(&["down"]);
        s.verb(&["up"]);
        s
    }

    fn config(&self) -> PathBuf {
        self.dir.join("hosts/pgp1/config.ini")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("bin/sandbox"))
            .arg("down")
            .env("SANDBOX_NET", NET)
            .env("SANDBOX_DIR", &self.dir)
            .output();
    }
}

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) took: Duration,
}

pub(crate) fn poolstatus(config: &Path, extra: &[&str]) -> Run {
    let start = Instant::now();
    // POOLSTATUS_BIN runs these tests against another build (e.g. the
    // static release binary); default: the one cargo just built.
    let bin = std::env::var_os("POOLSTATUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_poolstatus")));
    let out = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(extra)
        .output()
        .expect("run poolstatus");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
    }
}

/// Runs poolstatus until `ok(run)` or the deadline; returns the last run.
pub(crate) fn poolstatus_until(config: &Path, within: Duration, ok: impl Fn(&Run) -> bool) -> Run {
    let deadline = Instant::now() + within;
    loop {
        let r = poolstatus(config, &[]);
        if ok(&r) || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub(crate) fn show(r: &Run) -> String {
    format!(
        "exit {} after {:?}\n--- stdout\n{}--- stderr\n{}",
        r.code, r.took, r.stdout, r.stderr
    )
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

const NET_PREFIX: &str = "127.2.";

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn healthy_cluster_reports_every_node_role_lsn_and_disk() {
    let _t = lock();
    let sb = Sandbox::fresh();
    let r = poolstatus_until(&sb.config(), Duration::from_secs(30), |r| r.code == 0);
    let text = show(&r);
    assert_eq!(r.code, 0, "{text}");
    assert!(r.took < Duration::from_secs(3), "{text}");
    let out = &r.stdout;
    for heading in [
        "Output of: show pool_nodes",
        "Output of: repmgr cluster show",
        "Output of: pg_stat_replication",
        "- Current Datetime",
        "Status: OK",
    ] {
        assert!(out.contains(heading), "missing {heading:?}\n{text}");
    }
    let pos = |s: &str| out.find(s).unwrap_or(usize::MAX);
    assert!(pos("Output of: show pool_nodes") < pos("Output of: repmgr cluster show"));
    assert!(pos("Output of: repmgr cluster show") < pos("Output of: pg_stat_replication"));
    assert!(pos("Output of: pg_stat_replication") < pos("- Current Datetime"));
    assert!(out.contains("(3 rows)"), "{text}");
    for n in 1..=3 {
        assert!(
            out.contains(&format!("{NET_PREFIX}20.{n}")),
            "db{n}\n{text}"
        );
    }
    // repmgr: db1 primary running, two standbys running.
    let repmgr_lines: Vec<&str> = out.lines().filter(|l| l.contains("host=")).collect();
    assert_eq!(repmgr_lines.len(), 3, "{text}");
    assert!(
        repmgr_lines
            .iter()
            .any(|l| l.contains("db1") && l.contains("* running")),
        "{text}"
    );
    assert_eq!(
        repmgr_lines
            .iter()
            .filter(|l| l.contains("standby") && l.contains("  running"))
            .count(),
        2,
        "{text}"
    );
    // One pg_stat_replication block per standby, with 10+ names.
    assert_eq!(out.matches("- sent_lsn").count(), 2, "{text}");
    // Summary: master and both standbys with an LSN, UP processes, disk use.
    let lsn = |l: &str| {
        l.split('|')
            .nth(1)
            .map(|v| {
                let v = v.trim();
                v.contains('/') && v.split('/').all(|h| u64::from_str_radix(h, 16).is_ok())
            })
            .unwrap_or(false)
    };
    let master: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("- xlog_location (master)"))
        .collect();
    assert_eq!(master.len(), 1, "{text}");
    assert!(lsn(master[0]), "{text}");
    let slaves: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("- xlog_location (slave)"))
        .collect();
    assert_eq!(slaves.len(), 2, "{text}");
    assert!(slaves.iter().all(|l| lsn(l)), "{text}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("- WAL Process") && l.contains("| UP"))
            .count(),
        4,
        "{text}"
    );
    let disks: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("- MASTER") || l.starts_with("- SLAVE"))
        .collect();
    assert_eq!(disks.len(), 3, "{text}");
    for d in &disks {
        let pct = d.rsplit('|').next().unwrap_or("").trim();
        let n: u8 = pct
            .trim_end_matches('%')
            .parse()
            .unwrap_or_else(|_| panic!("disk {d:?}\n{text}"));
        assert!(n <= 100 && pct.ends_with('%'), "{text}");
    }
    assert!(
        out.contains(&format!("- MASTER                 | {NET_PREFIX}20.1")),
        "{text}"
    );
    // Events are counted (repmgr registered three nodes: > 0 events).
    let events = out
        .lines()
        .find(|l| l.starts_with("- Number of Events (all)"))
        .and_then(|l| l.rsplit('|').next())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(events >= 3, "{text}");

    // --json: the same facts.
    let j = poolstatus(&sb.config(), &["--json"]);
    assert_eq!(j.code, 0, "{}", show(&j));
    let doc = j.stdout.trim();
    assert!(
        doc.starts_with('{') && doc.ends_with('}') && !doc.contains('\n'),
        "{doc}"
    );
    assert!(doc.contains(r#""status":"OK""#), "{doc}");
    assert!(
        doc.contains(&format!(r#""primary":"{NET_PREFIX}20.1:5432""#)),
        "{doc}"
    );
    assert_eq!(doc.matches(r#""use_percent":"#).count(), 3, "{doc}");
    // Two standbys, each in pgpool's nodes (and their raw columns), repmgr's nodes
    // and the live nodes.
    assert_eq!(doc.matches(r#""role":"standby""#).count(), 8, "{doc}");

    host_keys_are_checked_never_accepted(&sb);
    ssh_keys_and_output_are_bounded(&sb);
}

/// The key is read by us (never through a symbolic link, only the
/// credentials user's) and handed to libssh2 from memory; a peer's output
/// is read up to a cap.
fn ssh_keys_and_output_are_bounded(sb: &Sandbox) {
    use pgpoolwatch::poolstatus::ssh::{run, SshTarget, MAX_OUTPUT};
    let key = sb.dir.join("ssh/id_ed25519");
    let t = SshTarget {
        host: format!("{NET_PREFIX}20.1"),
        port: 2222,
        user: "postgres".into(),
        key: Some(key.clone()),
        known_hosts: sb.dir.join("ssh/known_hosts"),
        home: None,
        key_owner: "postgres".into(),
        timeout: Duration::from_secs(5),
    };
    let out = run(&t, "echo hello").expect("the key from memory logs in");
    assert_eq!(out, "hello\n");
    let e = run(&t, &format!("head -c {} /dev/zero", MAX_OUTPUT + 1))
        .expect_err("too much output")
        .to_string();
    assert!(
        e.starts_with(&format!("ssh read {NET_PREFIX}20.1:2222: \"head -c "))
            && e.ends_with(&format!("printed more than {MAX_OUTPUT} bytes, where it prints two short lines; not read further")),
        "{e}"
    );
    assert!(run(&t, &format!("head -c {MAX_OUTPUT} /dev/zero")).is_ok());
    // A symbolic link in the key's place is never followed.
    let link = sb.dir.join("ssh/id_link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&key, &link).expect("symlink");
    let e = run(
        &SshTarget {
            key: Some(link.clone()),
            ..t.clone()
        },
        "echo hello",
    )
    .expect_err("symlinked key")
    .to_string();
    assert!(
        e.contains(&format!("ssh key {} is a symbolic link", link.display())),
        "{e}"
    );
    // Root running with another credentials user: the key is not theirs.
    let e = run(
        &SshTarget {
            key_owner: "nobody".into(),
            ..t
        },
        "echo hello",
    )
    .expect_err("not the credentials user's key")
    .to_string();
    assert!(
        e.contains("not to nobody (the credentials user) or root"),
        "{e}"
    );
}

/// Unknown and changed host keys fail the disk section with the host and
/// the file named; the rest of the report still prints.
fn host_keys_are_checked_never_accepted(sb: &Sandbox) {
    use pgpoolwatch::poolstatus::{run, Health, Target};
    let known = std::fs::read_to_string(sb.dir.join("ssh/known_hosts")).unwrap();
    let lines: Vec<&str> = known.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 3, "{known}");
    // db1's entry carries db2's key; db2 and db3 are missing.
    let key_of = |l: &str| l.split_once(' ').unwrap().1.to_string();
    let host_of = |l: &str| l.split_once(' ').unwrap().0.to_string();
    let forged = format!("{} {}\n", host_of(lines[0]), key_of(lines[1]));
    let file = sb.dir.join("forged_known_hosts");
    std::fs::write(&file, forged).unwrap();
    let target = Target {
        pgpool_host: format!("{NET_PREFIX}10.1"),
        ssh_user: "postgres".into(),
        // The key belongs to postgres; the test runs as root.
        credentials_user: "postgres".into(),
        ssh_port: 2222,
        ssh_key: Some(sb.dir.join("ssh/id_ed25519")),
        ssh_known_hosts: file.clone(),
        connect_timeout: Duration::from_secs(2),
        ..Target::default()
    };
    let r = run(&target, std::time::SystemTime::now());
    let text = r.render_text();
    assert_eq!(r.status(), Health::Degraded, "{text}");
    let f = file.display().to_string();
    let db1 = r.nodes.iter().find(|n| n.host.ends_with("20.1")).unwrap();
    let e = db1.disk.as_ref().unwrap_err().to_string();
    assert!(e.contains("host key CHANGED") && e.contains(&f), "{e}");
    assert!(e.contains(&format!("{NET_PREFIX}20.1:2222")), "{e}");
    let db2 = r.nodes.iter().find(|n| n.host.ends_with("20.2")).unwrap();
    let e = db2.disk.as_ref().unwrap_err().to_string();
    assert!(e.contains("host not in") && e.contains(&f), "{e}");
    // The database sections are unaffected.
    assert!(r.nodes.iter().all(|n| n.state.is_ok()), "{text}");
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn stopped_standby_is_degraded_and_shown_down() {
    let _t = lock();
    let sb = Sandbox::fresh();
    sb.verb(&["stop-db", "3"]);
    let r = poolstatus_until(&sb.config(), Duration::from_secs(30), |r| r.code == 1);
    let text = show(&r);
    assert_eq!(r.code, 1, "{text}");
    assert!(r.stdout.contains("Status: DEGRADED"), "{text}");
    let db3 = format!("{NET_PREFIX}20.3:5432");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("- xlog_location (slave)")
                && l.contains("error:")
                && l.contains(&db3)),
        "{text}"
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("db3") && l.contains("? unreachable")),
        "{text}"
    );
    // The healthy standby still reports.
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("- WAL Process (slave)") && l.contains("| UP")),
        "{text}"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn stopped_pgpool_is_critical_with_clear_message_within_timeout() {
    let _t = lock();
    let sb = Sandbox::fresh();
    sb.verb(&["stop-pgpool", "1"]);
    let r = poolstatus(&sb.config(), &[]);
    let text = show(&r);
    assert_eq!(r.code, 2, "{text}");
    // connect_timeout = 2 in the sandbox's config.
    assert!(r.took < Duration::from_secs(2), "{text}");
    assert!(
        r.stdout
            .contains(&format!("error: connect {NET_PREFIX}10.1:5432: ")),
        "{text}"
    );
    assert!(
        r.stdout.contains("Status: CRITICAL: pgpool unreachable"),
        "{text}"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn frozen_pgpool_is_critical_without_hanging() {
    let _t = lock();
    let sb = Sandbox::fresh();
    sb.verb(&["freeze-pgpool", "1"]);
    let r = poolstatus(&sb.config(), &[]);
    sb.verb(&["thaw-pgpool", "1"]);
    let text = show(&r);
    assert_eq!(r.code, 2, "{text}");
    assert!(
        r.took < Duration::from_secs(3),
        "connect_timeout 2 s + 1 s\n{text}"
    );
    assert!(
        r.stdout.contains(&format!(
            "error: connect {NET_PREFIX}10.1:5432: timed out after 2s"
        )),
        "{text}"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn promoted_standby_is_reported_as_new_primary() {
    let _t = lock();
    let sb = Sandbox::fresh();
    sb.verb(&["stop-db", "1"]);
    sb.verb(&["promote", "2"]);
    let db2 = format!("{NET_PREFIX}20.2");
    let r = poolstatus_until(&sb.config(), Duration::from_secs(60), |r| {
        r.stdout
            .contains(&format!("- MASTER                 | {db2}"))
    });
    let text = show(&r);
    assert!(
        r.stdout
            .contains(&format!("- MASTER                 | {db2}")),
        "{text}"
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("db2") && l.contains("* running")),
        "{text}"
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("- xlog_location (master)") && l.contains("db2")),
        "{text}"
    );
    // db1 is down: not all well.
    assert_ne!(r.code, 0, "{text}");
}

/// Both pgpools down: on a repmgr host, poolstatus asks the database host
/// its config names (`repmgr_host`) and the nodes repmgr knows from there,
/// instead of printing "no database host known" (issue 18 item 5).
#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn both_pgpools_down_a_repmgr_host_reports_the_nodes_from_repmgr_host() {
    let cluster = crate::support::cluster::Cluster::shared();
    cluster.stop_pgpool(1);
    cluster.stop_pgpool(2);
    let r = poolstatus(&cluster.config_path("db2"), &[]);
    let text = show(&r);
    assert_eq!(r.code, 2, "pgpool unreachable stays critical\n{text}");
    assert!(
        !r.stdout.contains("no database host known"),
        "the nodes come from repmgr_host\n{text}"
    );
    let rows: Vec<&str> = r.stdout.lines().filter(|l| l.contains("host=")).collect();
    assert_eq!(rows.len(), 3, "repmgr's three nodes\n{text}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("- xlog_location (master)") && l.contains("db1")),
        "the master's WAL position\n{text}"
    );
    let disks = r
        .stdout
        .lines()
        .filter(|l| (l.starts_with("- MASTER") || l.starts_with("- SLAVE")) && l.ends_with('%'))
        .count();
    assert_eq!(disks, 3, "disk use of the three hosts\n{text}");
    // pgpwatch's host has no repmgr_host: as before
    let p = poolstatus(&cluster.config_path("pgp1"), &[]);
    assert!(p.stdout.contains("no database host known"), "{}", show(&p));
    cluster.start_pgpool(1);
    cluster.start_pgpool(2);
}
