//! poolstatus `--nagios` as a monitoring server sees it: Debian's
//! monitoring-plugins `check_by_ssh` runs the built binary over a sandbox
//! database host's sshd (net 22, user postgres, the sandbox's key and
//! known_hosts), and the test reads check_by_ssh's exit code and line:
//! healthy (0, OK), a standby stopped (1, WARNING), a bad argument (3,
//! UNKNOWN). The binary's path is the same inside the sshd: one machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::cluster::Cluster;

const NET: u8 = 22;
const CHECK_BY_SSH: &str = "/usr/lib/nagios/plugins/check_by_ssh";

/// What check_by_ssh reported.
struct Check {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Check {
    fn show(&self) -> String {
        format!(
            "check_by_ssh exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A [poolstatus] config for the sandbox, readable by postgres (the ssh
/// user poolstatus runs as).
fn write_config(c: &Cluster) -> PathBuf {
    let dir = c.dir().join("nagios");
    std::fs::create_dir_all(&dir).expect("create the nagios config directory");
    let path = dir.join("config.ini");
    let text = format!(
        "[general]\npoolstatus_user = postgres\n\n[poolstatus]\npgpool_host = {pgpool}\n\
         ssh_user = postgres\nssh_port = 2222\nssh_key = {key}\nssh_known_hosts = {kh}\n\
         connect_timeout = 2\n",
        pgpool = c.pgpool_addr(1),
        key = c.ssh_key().display(),
        kh = c.ssh_known_hosts().display(),
    );
    std::fs::write(&path, text).expect("write the nagios config");
    path
}

/// check_by_ssh running `poolstatus --config CONFIG --nagios EXTRA` on db1.
fn check_by_ssh(c: &Cluster, config: &Path, extra: &str) -> Check {
    // POOLSTATUS_BIN runs this against another build, as in poolstatus.rs.
    let bin = std::env::var_os("POOLSTATUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_poolstatus")));
    let remote = format!(
        "'{}' --config '{}' --nagios {extra}",
        bin.display(),
        config.display()
    );
    let out = Command::new(CHECK_BY_SSH)
        .args([
            "-H",
            &c.db_addr(1),
            "-p",
            "2222",
            "-l",
            "postgres",
            "-t",
            "30",
        ])
        .arg("-i")
        .arg(c.ssh_key())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            c.ssh_known_hosts().display()
        ))
        .args(["-C", &remote])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "run {CHECK_BY_SSH} (bin/install-deps installs monitoring-plugins-standard): {e}"
            )
        });
    let check = Check {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // Seen with --nocapture: what a monitoring server would show.
    println!("{}", check.show());
    check
}

/// Runs the check until it exits `code` or 30 s pass; returns the last run.
fn check_until(c: &Cluster, config: &Path, code: i32) -> Check {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = check_by_ssh(c, config, "");
        if r.code == code || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn check_by_ssh_sees_ok_warning_and_unknown_lines_and_codes() {
    assert!(
        Path::new(CHECK_BY_SSH).exists(),
        "{CHECK_BY_SSH} missing: run bin/install-deps (monitoring-plugins-standard)"
    );
    let c = Cluster::up(NET);
    let config = write_config(&c);

    let ok = check_until(&c, &config, 0);
    let text = ok.show();
    assert_eq!(ok.code, 0, "{text}");
    assert_eq!(ok.stdout.lines().count(), 1, "{text}");
    let line = ok.stdout.trim_end();
    assert!(
        line.starts_with("POOLSTATUS OK - 3/3 backends up, 2/2 standbys streaming, max lag "),
        "{text}"
    );
    let (_, perf) = line.split_once(" | ").expect("perfdata after ' | '");
    let labels: Vec<&str> = perf
        .split(' ')
        .map(|p| p.split_once('=').map_or(p, |(l, _)| l))
        .collect();
    assert_eq!(
        labels,
        [
            "backends_up",
            "standbys_streaming",
            "lag_db2",
            "lag_db3",
            "events_24h"
        ],
        "{text}"
    );
    assert!(
        perf.starts_with("backends_up=3;;;0;3 standbys_streaming=2;;;0;2 lag_db2="),
        "{text}"
    );
    for p in perf.split(' ').filter(|p| p.starts_with("lag_")) {
        let value = p.split_once('=').map(|(_, v)| v).unwrap_or("");
        let bytes = value.split_once("B;;;0").map(|(n, _)| n).unwrap_or("");
        assert!(bytes.parse::<u64>().is_ok(), "{p}: want NB;;;0\n{text}");
    }

    let bad = check_by_ssh(&c, &config, "--warning-lag=lots");
    let text = bad.show();
    assert_eq!(bad.code, 3, "{text}");
    assert_eq!(
        bad.stdout.trim_end(),
        "POOLSTATUS UNKNOWN - --warning-lag \"lots\": expected bytes or a number with kB, MB, \
         GB or TB (1024-based) (see --help)",
        "{text}"
    );

    // A settings warning (here: no such config, built-in defaults) goes
    // after the line on stdout: any remote stderr would make check_by_ssh
    // answer "Remote command execution failed" instead of our line.
    let missing = c.dir().join("nagios/missing.ini");
    let warned = check_by_ssh(&c, &missing, "");
    let text = warned.show();
    let lines: Vec<&str> = warned.stdout.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("POOLSTATUS ")),
        "{text}"
    );
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("warning: ")
            && l.contains(&missing.display().to_string())
            && l.contains("using built-in defaults")),
        "{text}"
    );

    c.stop_db(3);
    let warn = check_until(&c, &config, 1);
    let text = warn.show();
    assert_eq!(warn.code, 1, "{text}");
    assert_eq!(warn.stdout.lines().count(), 1, "{text}");
    let line = warn.stdout.trim_end();
    assert!(
        line.starts_with("POOLSTATUS WARNING - 2/3 backends up, 1/2 standbys streaming, "),
        "{text}"
    );
    let db3 = c.db_addr(3);
    assert!(
        line.contains(&format!("backend 2 {db3}:5432 (standby) is down in pgpool")),
        "{text}"
    );
    assert!(line.contains(" lag_db3=U;;;0 "), "{text}");
}
