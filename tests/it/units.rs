//! The systemd units in `systemd/`: they order after the database and
//! pgpool units but never pull them in (a PostgreSQL an operator stopped on
//! purpose must stay stopped), raise the descriptor limit, and
//! `systemd-analyze verify` accepts them. They run the watchers as an
//! unprivileged user with no capabilities, `systemd-analyze security`
//! scores each at most 2.0, and the watchers do their work as that user
//! (gates, mail, reload) and say in one line how to let it read a
//! config.ini it may not.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::cluster::Cluster;
use crate::support::container::Container;
use crate::support::mailbox::{Mailbox, MailboxOptions};
use crate::support::watchers::{account_ids, wait_mail, Tuning, Watcher};

/// The account the units run as (`User=`), the default `poolstatus_user`.
const SERVICE_USER: &str = "postgres";

/// The most `systemd-analyze security` may score a unit (issue 17).
const MAX_EXPOSURE: f64 = 2.0;

const UNITS: &[(&str, &str)] = &[
    ("pgpwatch.service", env!("CARGO_BIN_EXE_pgpwatch")),
    ("repmgrwatch.service", env!("CARGO_BIN_EXE_repmgrwatch")),
];

fn unit_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name)
}

fn unit_text(name: &str) -> String {
    std::fs::read_to_string(unit_path(name))
        .unwrap_or_else(|e| panic!("read {}: {e}", unit_path(name).display()))
}

/// Every value of `key=` in `section` (space-separated items flattened).
fn values(text: &str, section: &str, key: &str) -> Vec<String> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            current = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        if current != section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == key {
                out.extend(v.split_whitespace().map(str::to_string));
            }
        }
    }
    out
}

fn is_database_or_pgpool(unit: &str) -> bool {
    let u = unit.to_ascii_lowercase();
    u.starts_with("postgresql") || u.starts_with("pgpool") || u.starts_with("repmgr")
}

#[test]
fn units_order_after_the_database_but_never_start_it() {
    for (name, _) in UNITS {
        let text = unit_text(name);
        for key in [
            "Wants",
            "Requires",
            "Requisite",
            "BindsTo",
            "PartOf",
            "Upholds",
        ] {
            let pulled: Vec<String> = values(&text, "Unit", key)
                .into_iter()
                .filter(|u| is_database_or_pgpool(u))
                .collect();
            assert!(
                pulled.is_empty(),
                "{name}: {key}= pulls in {pulled:?}; starting the watcher would start a database or pgpool an operator stopped"
            );
        }
        let after = values(&text, "Unit", "After");
        assert!(
            after.iter().any(|u| is_database_or_pgpool(u)),
            "{name}: After= should still order after the database/pgpool unit: {after:?}"
        );
    }
}

#[test]
fn units_raise_the_descriptor_limit() {
    for (name, _) in UNITS {
        let v = values(&unit_text(name), "Service", "LimitNOFILE");
        let limit: u64 = v
            .last()
            .and_then(|s| s.split(':').next_back())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{name}: LimitNOFILE= missing or not a number: {v:?}"));
        assert!(
            limit >= 4096,
            "{name}: LimitNOFILE={limit} is below the gate's full table (4096)"
        );
    }
}

#[test]
#[ignore = "needs systemd-analyze (package systemd): bin/test runs it, or cargo test -- --include-ignored"]
fn systemd_analyze_verify_accepts_the_units() {
    let dir = std::env::temp_dir().join(format!("pgpoolwatch-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut paths = Vec::new();
    for (name, bin) in UNITS {
        // The installed path does not exist here: point ExecStart at the
        // binary cargo built, keep everything else byte for byte.
        let text = unit_text(name).replace(
            &format!("/usr/local/bin/{}", name.trim_end_matches(".service")),
            bin,
        );
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write unit copy");
        paths.push(p);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze (package systemd, installed by bin/install-deps)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Complaints about other units (Debian's own pgpool2.service) are not ours.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| UNITS.iter().any(|(n, _)| l.contains(n)))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

/// The one value of `key=` in `[Service]`; panics when it is missing or repeated.
fn service_value(name: &str, text: &str, key: &str) -> String {
    let mut current = String::new();
    let mut found = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            current = line.to_string();
        } else if current == "[Service]" {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    found.push(v.trim().to_string());
                }
            }
        }
    }
    assert_eq!(found.len(), 1, "{name}: exactly one {key}= line: {found:?}");
    found.remove(0)
}

#[test]
fn units_run_as_postgres_with_no_capabilities() {
    for (name, _) in UNITS {
        let text = unit_text(name);
        let program = name.trim_end_matches(".service");
        assert_eq!(
            service_value(name, &text, "User"),
            SERVICE_USER,
            "{name}: User="
        );
        for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
            assert_eq!(
                service_value(name, &text, key),
                "",
                "{name}: {key}= must be empty (no capability at all)"
            );
        }
        assert_eq!(
            service_value(name, &text, "NoNewPrivileges"),
            "yes",
            "{name}"
        );
        assert_eq!(service_value(name, &text, "UMask"), "0077", "{name}");
        assert_eq!(
            service_value(name, &text, "StateDirectory"),
            "pgpoolwatch",
            "{name}"
        );
        assert_eq!(
            service_value(name, &text, "ExecStart"),
            format!("/usr/local/bin/{program} --config /etc/pgpoolwatch/config.ini"),
            "{name}: the config a postgres process can read"
        );
        // RemoveIPC=yes with User=postgres would remove PostgreSQL's shared
        // memory and semaphores whenever the watcher stops.
        assert!(
            values(&text, "Service", "RemoveIPC")
                .iter()
                .all(|v| v == "no"),
            "{name}: RemoveIPC= must stay off with User=postgres"
        );
        // An allow list of groups (SystemCallFilter=@system-service) allows
        // almost nothing on systemd 219 (CentOS 7), which knows no groups.
        let filters: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("SystemCallFilter="))
            .collect();
        assert!(!filters.is_empty(), "{name}: no SystemCallFilter=");
        for filter in filters {
            assert!(
                filter.starts_with('~'),
                "{name}: SystemCallFilter must be a deny list (~...), not {filter}"
            );
        }
        for key in ["Type", "WatchdogSec", "NotifyAccess"] {
            assert!(
                !values(&text, "Service", key).is_empty(),
                "{name}: {key}= (sd_notify) must stay"
            );
        }
    }
}

/// The overall exposure `systemd-analyze security --offline=yes` gives the unit at `path`.
fn exposure(path: &Path) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(path)
        .output()
        .expect("systemd-analyze (package systemd, installed by bin/install-deps)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level for"))
        .unwrap_or_else(|| {
            panic!(
                "{}: no overall exposure in systemd-analyze security's output ({}):\n{stdout}\n{}",
                path.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    line.split(": ")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{}: cannot read the score in {line:?}", path.display()))
}

#[test]
#[ignore = "needs systemd-analyze (package systemd): bin/test runs it, or cargo test -- --include-ignored"]
fn systemd_analyze_security_scores_each_unit_at_most_2() {
    let mut scores = Vec::new();
    for (name, _) in UNITS {
        let score = exposure(&unit_path(name));
        println!("systemd-analyze security {name}: {score:.1}");
        scores.push((name, score));
    }
    for (name, score) in scores {
        assert!(
            score <= MAX_EXPOSURE,
            "{name}: exposure {score:.1} is above {MAX_EXPOSURE:.1} (systemd-analyze security --offline=yes systemd/{name} lists what is missing)"
        );
    }
}

/// Runs `program --config PATH --check-config` as the service user.
fn check_config_as_service_user(program: &str, path: &Path) -> (bool, String) {
    let (uid, gid) = account_ids(SERVICE_USER);
    let out = Command::new(program)
        .arg("--config")
        .arg(path)
        .arg("--check-config")
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs root: bin/test runs it, or cargo test -- --include-ignored"]
fn a_config_the_service_user_cannot_read_is_one_line_naming_user_and_fix() {
    use std::os::unix::fs::PermissionsExt;
    let pgpwatch = env!("CARGO_BIN_EXE_pgpwatch");
    let (uid, gid) = account_ids(SERVICE_USER);
    let dir = std::env::temp_dir().join(format!("pgpoolwatch-denied-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("config.ini");
    std::fs::write(
        &config,
        "[pgp]\ncheck_period=10\nsuccess_period=5\nmail_on_success=no\n",
    )
    .expect("write config.ini");
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    let user = format!("user {SERVICE_USER} (uid {uid})");

    // Root's file, 0600: the file's mode keeps the service user out.
    mode(&dir, 0o755);
    mode(&config, 0o600);
    let (ok, stderr) = check_config_as_service_user(pgpwatch, &config);
    let c = config.display();
    let want = format!(
        "pgpwatch: {c}: cannot read as {user}: Permission denied (os error 13); fix: chgrp {SERVICE_USER} {c} && chmod 0640 {c} (as root)\n"
    );
    assert!(!ok, "an unreadable config must fail");
    assert_eq!(stderr, want, "one line: file, user, fix");

    // The fix it printed works.
    std::os::unix::fs::chown(&config, Some(0), Some(gid)).expect("chgrp");
    mode(&config, 0o640);
    let (ok, stderr) = check_config_as_service_user(pgpwatch, &config);
    assert!(ok, "after the printed fix: {stderr}");

    // A directory on the way that the user may not enter.
    mode(&dir, 0o700);
    let (ok, stderr) = check_config_as_service_user(pgpwatch, &config);
    let d = dir.display();
    let want = format!(
        "pgpwatch: {c}: cannot read as {user}: Permission denied (os error 13); fix: chgrp {SERVICE_USER} {d} && chmod 0750 {d} (as root)\n"
    );
    assert!(!ok);
    assert_eq!(stderr, want, "the directory is named, not the file");
    std::os::unix::fs::chown(&dir, Some(0), Some(gid)).expect("chgrp");
    mode(&dir, 0o750);
    let (ok, stderr) = check_config_as_service_user(pgpwatch, &config);
    assert!(ok, "after the printed fix for the directory: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The uid a running process has (`Uid:` of /proc/PID/status, effective).
fn uid_of(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .expect("Uid: line")
}

/// Long enough for a watcher's first check and a cluster verb on a busy machine.
const START: Duration = Duration::from_secs(20);

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn watchers_as_postgres_move_their_gates_mail_and_reload() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    let (uid, _) = account_ids(SERVICE_USER);
    let tuning = Tuning {
        user: Some(SERVICE_USER.into()),
        ..Tuning::default()
    };
    // Mail off at start: a SIGHUP after args.txt and sendmail = yes are
    // written must switch it on.
    let mut w = Watcher::pgpwatch(&cluster, "pgp1", None, &tuning);
    let pid = w.pid().expect("running");
    assert_eq!(uid_of(pid), uid, "pgpwatch runs as {SERVICE_USER}");
    w.wait_port(true, START);
    w.enable_mail(&mailbox);
    w.sighup();
    w.wait_log("configuration reloaded", Duration::from_secs(5));
    assert_eq!(w.pid(), Some(pid), "a reload keeps the process");

    cluster.stop_pgpool(1);
    w.wait_port(false, START);
    wait_mail(
        &mailbox,
        &w.receiver(),
        "PGPWATCH - Status Change - PGP Down",
        START,
    );
    cluster.start_pgpool(1);
    w.wait_port(true, START);
    wait_mail(
        &mailbox,
        &w.receiver(),
        "PGPWATCH - Status Change - PGP Up",
        START,
    );
    w.stop();

    // repmgrwatch on the master, with no pgpwatch gate answering now: it
    // opens its gate as postgres too, and says so by mail.
    let mut r = Watcher::repmgrwatch(&cluster, "db1", Some(&mailbox), &tuning);
    assert_eq!(
        uid_of(r.pid().expect("running")),
        uid,
        "repmgrwatch runs as {SERVICE_USER}"
    );
    r.wait_port(true, START);
    wait_mail(
        &mailbox,
        &r.receiver(),
        "PGPWATCH - Repmgr - UP (This is bad)",
        START,
    );
    r.stop();
}

/// The system calls the groups of the units' `SystemCallFilter=~...` deny
/// list stand for, as this host's `systemd-analyze syscall-filter` lists them
/// (nested groups expanded).
fn denied_syscalls(unit: &str) -> std::collections::BTreeSet<String> {
    let mut todo: Vec<String> = unit_text(unit)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SystemCallFilter=~"))
        .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert!(!todo.is_empty(), "{unit}: no SystemCallFilter=~ line");
    let mut seen = std::collections::BTreeSet::new();
    let mut calls = std::collections::BTreeSet::new();
    while let Some(item) = todo.pop() {
        if !item.starts_with('@') {
            calls.insert(item);
            continue;
        }
        if !seen.insert(item.clone()) {
            continue;
        }
        let out = Command::new("systemd-analyze")
            .args(["syscall-filter", "--no-pager", &item])
            .output()
            .expect("systemd-analyze syscall-filter");
        let text = String::from_utf8_lossy(&out.stdout);
        let names: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("    ") && !l.trim_start().starts_with('#'))
            .map(|l| l.trim().to_string())
            .collect();
        assert!(!names.is_empty(), "systemd-analyze knows no {item}: {text}");
        todo.extend(names);
    }
    calls
}

/// The system calls in an `strace -f` log (`PID name(...`), by name.
fn traced_syscalls(log: &str) -> std::collections::BTreeSet<String> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split_once(' ')?.1.trim_start();
            let name = rest.split_once('(')?.0;
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then(|| name.to_string())
        })
        .collect()
}

/// pgpwatch under strace, as postgres, through start-up, a failed and a
/// healthy check, a mail with its report (ssh, TLS), a reload and a stop:
/// no system call it makes is on the units' deny list (it would fail with
/// EPERM under systemd). pgpwatch stands for both watchers: repmgrwatch
/// runs the same gate, loop, probes and mail side.
#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn the_watchers_make_no_system_call_the_units_deny() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    // The watcher's private config (mail on, to the mailbox), then the same
    // binary and config again, as postgres, under strace.
    let tuning = Tuning::default();
    let mut w = Watcher::pgpwatch(&cluster, "pgp2", Some(&mailbox), &tuning);
    w.wait_port(true, START);
    w.stop();
    let config = w.config_path();
    let trace = config.with_file_name("strace.log");
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .args([
            "-u",
            SERVICE_USER,
            "--",
            env!("CARGO_BIN_EXE_pgpwatch"),
            "--config",
        ])
        .arg(&config)
        .env("PGPOOLWATCH_LOG", "debug")
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("strace (Debian package strace, installed by bin/install-deps)");
    let log = || std::fs::read_to_string(&trace).unwrap_or_default();
    // The watcher's pid: the process that ran execve of the binary.
    let deadline = std::time::Instant::now() + START;
    let pid = loop {
        if let Some(pid) = log()
            .lines()
            .find(|l| l.contains("execve(") && l.contains("pgpwatch"))
            .and_then(|l| l.split_whitespace().next()?.parse::<i32>().ok())
        {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "strace started no pgpwatch:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let kill = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    };
    let (addr, port) = (w.addr().to_string(), w.port());
    let port_is = |open: bool| {
        crate::support::watchers::wait_port(&addr, port, open, START);
    };
    // Start-up, the gate, a failed and a healthy check, a mail, a reload, a stop.
    port_is(true);
    cluster.stop_pgpool(2);
    port_is(false);
    wait_mail(
        &mailbox,
        &w.receiver(),
        "PGPWATCH - Status Change - PGP Down",
        START,
    );
    cluster.start_pgpool(2);
    port_is(true);
    kill("-HUP");
    let deadline = std::time::Instant::now() + START;
    while !log().contains("--- SIGHUP") {
        assert!(std::time::Instant::now() < deadline, "no SIGHUP seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500)); // the reload, then a check
    kill("-TERM");
    let status = strace.wait().expect("wait for strace");
    assert!(status.success(), "pgpwatch under strace exited {status}");

    let made = traced_syscalls(&log());
    println!("pgpwatch's system calls: {made:?}");
    assert!(
        made.contains("prlimit64") && made.contains("connect") && made.contains("accept4"),
        "the trace holds the watcher's calls: {made:?}"
    );
    for (unit, _) in UNITS {
        let denied = denied_syscalls(unit);
        let hit: Vec<&String> = made.intersection(&denied).collect();
        println!(
            "{unit}: pgpwatch made {} distinct system calls, none of the {} denied",
            made.len(),
            denied.len()
        );
        assert!(
            hit.is_empty(),
            "{unit}: the watcher makes system calls its SystemCallFilter denies (EPERM): {hit:?}"
        );
    }
}

/// `chown root:GID PATH && chmod MODE PATH`.
fn own(path: &Path, gid: u32, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(path, Some(0), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Installs `w`'s config.ini and args.txt (and the mailbox's CA) in the
/// container's /etc/pgpoolwatch, root:<gid> 0640, as README's switch-over
/// does; args.txt moves to /etc/pgpoolwatch/args.txt.
fn install_config(dir: &Path, w: &Watcher, mailbox: &Mailbox, gid: u32) {
    let etc = dir.join("etc/pgpoolwatch");
    std::fs::create_dir_all(&etc).expect("mkdir etc/pgpoolwatch");
    let config = std::fs::read_to_string(w.config_path()).expect("read config.ini");
    let config = crate::support::watchers::set_key(
        &config,
        "general",
        "sendmail_settings_path",
        "/etc/pgpoolwatch/args.txt",
    );
    let args = std::fs::read_to_string(w.config_path().with_file_name("args.txt"))
        .expect("read args.txt")
        .replace(
            &mailbox.ca_cert().display().to_string(),
            "/etc/pgpoolwatch/ca.pem",
        );
    std::fs::write(etc.join("config.ini"), config).expect("write config.ini");
    std::fs::write(etc.join("args.txt"), args).expect("write args.txt");
    std::fs::copy(mailbox.ca_cert(), etc.join("ca.pem")).expect("copy ca.pem");
    own(&etc, gid, 0o750);
    for f in ["config.ini", "args.txt", "ca.pem"] {
        own(&etc.join(f), gid, 0o640);
    }
}

/// Starts `unit` in `c` and checks it runs as the service user with no
/// capability; its MainPID.
fn start_unit(c: &Container, unit: &str) -> String {
    let (uid, _) = account_ids(SERVICE_USER);
    let out = c.run(&["systemctl", "start", unit]);
    assert_eq!(
        c.show(unit, "ActiveState"),
        "active",
        "systemctl start {unit}: {out}\n{}",
        c.journal(unit)
    );
    assert_eq!(c.show(unit, "User"), SERVICE_USER);
    let main_pid = c.show(unit, "MainPID");
    let status = c.run(&["cat", &format!("/proc/{main_pid}/status")]);
    let field = |name: &str, n: usize| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(n))
            .map(str::to_string)
    };
    assert_eq!(
        field("Uid:", 2),
        Some(uid.to_string()),
        "{unit}'s effective uid: {status}"
    );
    for caps in ["CapEff:", "CapPrm:", "CapBnd:", "CapAmb:"] {
        assert_eq!(
            field(caps, 1).as_deref(),
            Some("0000000000000000"),
            "{unit}: {caps} must be empty"
        );
    }
    main_pid
}

/// The units of systemd/ as shipped, installed by hand as README says
/// (binaries in /usr/local/bin, units in /etc/systemd/system, config.ini and
/// args.txt root:postgres 0640 in /etc/pgpoolwatch), run by a real systemd
/// 252 in a container: each starts as postgres with no capability and the
/// whole sandbox and reports ready; pgpwatch's gate follows pgpool, its
/// mails go out, `systemctl reload` reloads, `systemctl stop` stops it
/// cleanly; repmgrwatch opens the master's gate and mails.
#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn the_shipped_units_under_systemd_move_the_gates_mail_and_reload() {
    let cluster = Cluster::shared();
    let mailbox = Mailbox::start(MailboxOptions::default());
    // The watchers' configs and args.txt for pgp1 and db1, mailing the mailbox.
    let mut w = Watcher::pgpwatch(&cluster, "pgp1", Some(&mailbox), &Tuning::default());
    w.wait_port(true, START);
    w.stop();
    let mut r = Watcher::repmgrwatch(&cluster, "db1", Some(&mailbox), &Tuning::default());
    r.wait_checks(1, START);
    r.stop();
    let (uid, gid) = account_ids(SERVICE_USER);

    let dir = Container::prepare("systemd");
    // postgres with the host's ids, so the files below are its group's here too.
    for (file, line) in [
        (
            "etc/passwd",
            format!("{SERVICE_USER}:x:{uid}:{gid}::/var/lib/postgresql:/bin/sh\n"),
        ),
        ("etc/group", format!("{SERVICE_USER}:x:{gid}:\n")),
    ] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).expect("read passwd/group");
        let id = line.split(':').nth(2).unwrap_or_default().to_string();
        assert!(
            !text
                .lines()
                .any(|l| l.split(':').nth(2) == Some(id.as_str())),
            "{file} of the root already has id {id}: pick another for this test"
        );
        std::fs::write(&path, text + &line).expect("write passwd/group");
    }
    for (unit, binary) in UNITS {
        let name = unit.trim_end_matches(".service");
        std::fs::copy(binary, dir.join("usr/local/bin").join(name)).expect("copy the binary");
        std::fs::copy(unit_path(unit), dir.join("etc/systemd/system").join(unit))
            .expect("copy the unit");
    }
    install_config(&dir, &w, &mailbox, gid);

    let c = Container::boot(dir);
    let main_pid = start_unit(&c, "pgpwatch.service");
    println!(
        "pgpwatch under systemd: {}",
        c.show("pgpwatch", "StatusText")
    );
    let (addr, port) = (w.addr().to_string(), w.port());
    let wait = |open: bool| {
        crate::support::watchers::wait_port(&addr, port, open, START);
    };
    wait(true);
    cluster.stop_pgpool(1);
    wait(false);
    wait_mail(
        &mailbox,
        &w.receiver(),
        "PGPWATCH - Status Change - PGP Down",
        START,
    );
    cluster.start_pgpool(1);
    wait(true);
    wait_mail(
        &mailbox,
        &w.receiver(),
        "PGPWATCH - Status Change - PGP Up",
        START,
    );

    let out = c.run(&["systemctl", "reload", "pgpwatch"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !c.journal("pgpwatch").contains("configuration reloaded") {
        assert!(
            std::time::Instant::now() < deadline,
            "systemctl reload: {out}\n{}",
            c.journal("pgpwatch")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        c.show("pgpwatch", "MainPID"),
        main_pid,
        "a reload keeps the process"
    );
    assert_eq!(
        c.show("pgpwatch", "NRestarts"),
        "0",
        "{}",
        c.journal("pgpwatch")
    );
    let out = c.run(&["systemctl", "stop", "pgpwatch"]);
    assert_eq!(
        (
            c.show("pgpwatch", "ActiveState"),
            c.show("pgpwatch", "Result")
        ),
        ("inactive".to_string(), "success".to_string()),
        "systemctl stop: {out}\n{}",
        c.journal("pgpwatch")
    );
    wait(false);

    // repmgrwatch on db1, the master, with no pgpwatch gate answering.
    install_config(&c.dir, &r, &mailbox, gid);
    start_unit(&c, "repmgrwatch.service");
    crate::support::watchers::wait_port(r.addr(), r.port(), true, START);
    println!(
        "repmgrwatch under systemd: {}",
        c.show("repmgrwatch", "StatusText")
    );
    wait_mail(
        &mailbox,
        &r.receiver(),
        "PGPWATCH - Repmgr - UP (This is bad)",
        START,
    );
    let out = c.run(&["systemctl", "stop", "repmgrwatch"]);
    assert_eq!(
        c.show("repmgrwatch", "Result"),
        "success",
        "systemctl stop repmgrwatch: {out}\n{}",
        c.journal("repmgrwatch")
    );
    crate::support::watchers::wait_port(r.addr(), r.port(), false, START);
}
