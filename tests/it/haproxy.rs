//! A real HAProxy 2.6 (Debian's `haproxy`) in front of a sandbox, checking
//! the repmgrwatches' API port as it would check Patroni: a write listener
//! with `option httpchk GET /primary`, a read listener with `GET
//! /replica?lag=1MB`, and an agent-check listener. psql through each lands
//! where it should; after a promotion the write listener reaches the new
//! primary within HAProxy's inter × rise/fall + check_period +
//! connect_timeout; in split brain no write server is up; with agent-check
//! the standbys show MAINT and the master UP.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::cluster::{eventually, Cluster};
use crate::support::watchers::{Tuning, Watcher, SLACK};

/// The API port of every repmgrwatch (each on its node's address).
pub const API_PORT: u16 = 8008;
/// The agent-check port of every repmgrwatch.
pub const AGENT_PORT: u16 = 8009;
/// HAProxy's check interval (ms) and rise/fall.
const INTER_MS: u64 = 500;
const RISE_FALL: u64 = 2;

/// The configuration the README shows, for the sandbox on `net`.
pub fn haproxy_config(net: u8, socket: &str) -> String {
    let servers = |opts: &str| {
        (1..=3)
            .map(|n| format!("    server db{n} 127.{net}.20.{n}:5432 {opts}\n"))
            .collect::<String>()
    };
    format!(
        "global\n    stats socket {socket} mode 600 level admin\n    maxconn 256\n\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\n\
         listen write\n    bind 127.{net}.30.1:5000\n    option httpchk GET /primary\n    http-check expect status 200\n\
         \x20   default-server inter {INTER_MS}ms rise {RISE_FALL} fall {RISE_FALL} on-marked-down shutdown-sessions\n{}\n\
         listen read\n    bind 127.{net}.30.1:5001\n    balance roundrobin\n    option httpchk GET /replica?lag=1MB\n    http-check expect status 200\n\
         \x20   default-server inter {INTER_MS}ms rise {RISE_FALL} fall {RISE_FALL} on-marked-down shutdown-sessions\n{}\n\
         listen write_agent\n    bind 127.{net}.30.1:5002\n\
         \x20   default-server agent-check agent-port {AGENT_PORT} agent-inter {INTER_MS}ms agent-send \"primary\\n\"\n{}",
        servers(&format!("check port {API_PORT}")),
        servers(&format!("check port {API_PORT}")),
        servers("check inter 1s"),
    )
}

/// A running HAProxy; killed (by pid) on drop.
pub struct Haproxy {
    child: Child,
    socket: PathBuf,
    dir: PathBuf,
}

impl Haproxy {
    pub fn start(net: u8) -> Haproxy {
        let dir = PathBuf::from(format!("/tmp/pgpoolwatch-it-haproxy-net{net}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("haproxy dir");
        let socket = dir.join("stats.sock");
        let cfg = dir.join("haproxy.cfg");
        fs::write(&cfg, haproxy_config(net, &socket.display().to_string()))
            .expect("write haproxy.cfg");
        let check = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .output()
            .expect("haproxy -c (apt-get install haproxy)");
        assert!(
            check.status.success(),
            "haproxy -c: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let log = fs::File::create(dir.join("haproxy.log")).expect("haproxy.log");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start haproxy");
        let h = Haproxy { child, socket, dir };
        assert!(
            eventually(Duration::from_secs(10), || UnixStream::connect(&h.socket)
                .is_ok()),
            "haproxy's stats socket never came up: {}",
            h.log()
        );
        h
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default()
    }

    /// `show stat`: (proxy, server, status) of every server.
    pub fn servers(&self) -> Vec<(String, String, String)> {
        let Ok(mut s) = UnixStream::connect(&self.socket) else {
            return Vec::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"show stat\n").is_err() {
            return Vec::new();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let (px, sv, st) = (f.first()?, f.get(1)?, f.get(17)?);
                (*sv != "FRONTEND" && *sv != "BACKEND")
                    .then(|| (px.to_string(), sv.to_string(), st.to_string()))
            })
            .collect()
    }

    /// The status of each server of `proxy`, in order db1..db3.
    pub fn statuses(&self, proxy: &str) -> Vec<String> {
        self.servers()
            .into_iter()
            .filter(|(p, _, _)| p == proxy)
            .map(|(_, _, s)| s)
            .collect()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pg_is_in_recovery()` and the server address through HAProxy's `port`.
fn through(net: u8, port: u16) -> Result<String, String> {
    let out = Command::new("timeout")
        .args([
            "10",
            "psql",
            "-X",
            "-qAt",
            "-h",
            &format!("127.{net}.30.1"),
            "-p",
            &port.to_string(),
        ])
        .args([
            "-U",
            "pgpool",
            "-d",
            "postgres",
            "-c",
            "SELECT pg_is_in_recovery(), inet_server_addr()",
        ])
        .env("PGCONNECT_TIMEOUT", "2")
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The three repmgrwatches with the API and agent ports on.
pub fn api_watchers(cluster: &Cluster) -> (Tuning, Vec<Watcher>) {
    let mut tuning = Tuning::default();
    for (k, v) in [("api_port", API_PORT), ("agent_port", AGENT_PORT)] {
        tuning
            .extra
            .push(("repmgr".into(), k.into(), v.to_string()));
    }
    let w = (1..=3)
        .map(|n| Watcher::repmgrwatch(cluster, &format!("db{n}"), None, &tuning))
        .collect();
    (tuning, w)
}

fn wait_statuses(h: &Haproxy, proxy: &str, want: &[&str], within: Duration) -> Duration {
    let t0 = Instant::now();
    let ok = eventually(within, || h.statuses(proxy) == want);
    assert!(
        ok,
        "{proxy}: statuses {:?}, want {want:?} within {within:?}\n{}",
        h.statuses(proxy),
        h.log()
    );
    t0.elapsed()
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn haproxy_routes_writes_to_the_primary_reads_to_standbys_and_follows_promotion() {
    let net = 15;
    let cluster = Cluster::up(net);
    let (tuning, mut watchers) = api_watchers(&cluster);
    let h = Haproxy::start(net);
    let settle = Duration::from_secs(20);
    let t = wait_statuses(&h, "write", &["UP", "DOWN", "DOWN"], settle);
    wait_statuses(&h, "read", &["DOWN", "UP", "UP"], settle);
    println!(
        "haproxy: write listener on db1 only, read listener on db2+db3, {:.2} s after start",
        t.as_secs_f64()
    );
    let db = |n: u8| cluster.db_addr(n);
    assert_eq!(
        through(net, 5000),
        Ok(format!("f|{}", db(1))),
        "writes land on the primary"
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = through(net, 5001).expect("psql through the read listener");
        assert!(
            r == format!("t|{}", db(2)) || r == format!("t|{}", db(3)),
            "reads land on a standby: {r}"
        );
        seen.push(r);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 2, "round robin over both standbys: {seen:?}");

    cluster.stop_db(1);
    let before = Instant::now();
    cluster.promote(2);
    let t0 = Instant::now();
    let promote_took = t0 - before;
    let bound = Duration::from_millis(INTER_MS * RISE_FALL) + tuning.reaction_bound();
    let want = format!("f|{}", db(2));
    assert!(
        eventually(bound + SLACK * 2, || through(net, 5000).as_ref()
            == Ok(&want)),
        "write listener never reached db2: {:?} {:?}\n{}",
        through(net, 5000),
        h.statuses("write"),
        watchers[1].log_tail(20)
    );
    let took = t0.elapsed();
    println!(
        "promote db2 -> haproxy routes writes to db2: {:.2} s after `bin/sandbox promote 2` returned ({:.2} s after it began; it took {:.2} s); bound inter x rise + check_period + connect_timeout = {:.2} s",
        took.as_secs_f64(),
        before.elapsed().as_secs_f64(),
        promote_took.as_secs_f64(),
        bound.as_secs_f64()
    );
    assert!(took <= bound + SLACK, "{took:?} over {bound:?} + {SLACK:?}");
    for w in &mut watchers {
        w.stop();
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn haproxy_agent_check_shows_standbys_maint_and_split_brain_leaves_no_write_server() {
    let net = 16;
    let cluster = Cluster::up(net);
    let (_tuning, mut watchers) = api_watchers(&cluster);
    let h = Haproxy::start(net);
    let settle = Duration::from_secs(20);
    wait_statuses(&h, "write", &["UP", "DOWN", "DOWN"], settle);
    let t = Instant::now();
    let ok = eventually(settle, || {
        let s = h.statuses("write_agent");
        s.len() == 3 && s[0] == "UP" && s[1].starts_with("MAINT") && s[2].starts_with("MAINT")
    });
    assert!(
        ok,
        "agent-check statuses {:?}\n{}",
        h.statuses("write_agent"),
        h.log()
    );
    println!(
        "agent-check: {:?} after {:.2} s",
        h.statuses("write_agent"),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(
        through(net, 5002),
        Ok(format!("f|{}", cluster.db_addr(1))),
        "agent listener: writes on db1"
    );

    cluster.split_brain();
    let t0 = Instant::now();
    let took = wait_statuses(
        &h,
        "write",
        &["DOWN", "DOWN", "DOWN"],
        Duration::from_secs(15),
    );
    println!(
        "split brain -> no write server up: {:.2} s",
        took.as_secs_f64()
    );
    assert!(
        through(net, 5000).is_err(),
        "no server takes writes in split brain"
    );
    let s = h.statuses("write_agent");
    assert!(
        s.iter().all(|x| x.starts_with("MAINT")),
        "agent: all MAINT in split brain: {s:?} ({:?})",
        t0.elapsed()
    );
    for w in &mut watchers {
        w.stop();
    }
}
