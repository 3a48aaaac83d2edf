//! A handle on a real sandbox cluster (`bin/sandbox`: three PostgreSQL 15 +
//! repmgr nodes, two pgpool-II, an sshd per database host) for integration
//! tests. Tests build clusters with the same script a developer uses, on
//! their own `SANDBOX_NET` so the developer's default sandbox (net 0) is left
//! alone; `Drop` runs `down`, so nothing stays running after a test.
//!
//! Tests that only look, or that undo what they break (stop then start, freeze
//! then thaw), take turns on one shared cluster (`Cluster::shared()`, net 1,
//! taken down when the test process exits);
//! tests that change the cluster for good (promotion, split brain) build their
//! own with `Cluster::up(net)` on another net.

use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// The net of the shared cluster (`Cluster::shared`).
pub const SHARED_NET: u8 = 1;

/// One sandbox cluster on `127.<net>.0.0/16`; `down` on drop.
pub struct Cluster {
    net: u8,
    dir: PathBuf,
    /// `up_distro`'s lines of the `up` output (empty for the others).
    up_report: String,
}

// Not every helper is used by every test module.
#[allow(dead_code)]
impl Cluster {
    /// Builds a fresh cluster on `net` (a leftover one in the same directory is
    /// taken down first). Panics with the script's output when `up` fails.
    pub fn up(net: u8) -> Cluster {
        Cluster::build(net, &[])
    }

    /// Like [`Cluster::up`], plus a repmgr witness (`SANDBOX_WITNESS=on`): a
    /// fourth PostgreSQL of its own at [`Cluster::witness_addr`], registered
    /// as repmgr node 4 `witness`, with an sshd and a `witness` config.ini.
    pub fn up_with_witness(net: u8) -> Cluster {
        Cluster::build(net, &[("SANDBOX_WITNESS", "on")])
    }

    /// Like [`Cluster::up`], with the servers of another Debian release
    /// (`SANDBOX_DISTRO`: `bullseye`, `bookworm` or `trixie`): bin/sandbox
    /// runs PostgreSQL, repmgr, pgpool-II and sshd chrooted in that release's
    /// root (built by bin/roots on first use, then cached). Prints the
    /// versions `up` reports, the root's build time when it built one, and
    /// how long `up` took.
    pub fn up_distro(net: u8, distro: &str) -> Cluster {
        let (mut cluster, out) = Cluster::build_with_output(net, &[("SANDBOX_DISTRO", distro)]);
        cluster.up_report = out
            .lines()
            .filter(|line| {
                line.starts_with("roots: ")
                    || line.starts_with(&format!("sandbox: {distro} "))
                    || line.starts_with("sandbox: up took")
            })
            .map(|line| format!("{line}\n"))
            .collect();
        cluster
    }

    /// [`Cluster::up_distro`] plus a repmgr witness (`SANDBOX_WITNESS=on`).
    pub fn up_distro_with_witness(net: u8, distro: &str) -> Cluster {
        Cluster::build(
            net,
            &[("SANDBOX_DISTRO", distro), ("SANDBOX_WITNESS", "on")],
        )
    }

    /// What [`Cluster::up_distro`]'s `up` said of the release: the root's
    /// build (`roots: ...`, when it built one), the versions, `up took`.
    pub fn up_report(&self) -> &str {
        &self.up_report
    }

    fn build(net: u8, env: &[(&str, &str)]) -> Cluster {
        Cluster::build_with_output(net, env).0
    }

    fn build_with_output(net: u8, env: &[(&str, &str)]) -> (Cluster, String) {
        let cluster = Cluster {
            net,
            dir: PathBuf::from(format!("/tmp/pgpoolwatch-it-net{net}")),
            up_report: String::new(),
        };
        cluster.verb(&["down"]);
        match cluster.run_env(&["up"], env) {
            Ok(out) => (cluster, out),
            Err(e) => {
                drop(cluster); // `down`: a half-built cluster must not stay running
                panic!("{e}");
            }
        }
    }

    /// The shared cluster (net 1): tests take turns on it, each holding the
    /// returned guard. The first taker builds it, every later one gets it
    /// healed (thawed, stopped parts started), and it is taken down when the
    /// test process exits.
    pub fn shared() -> SharedCluster {
        let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(c) => c.heal(),
            None => {
                *guard = Some(Cluster::up(SHARED_NET));
                DOWN_AT_EXIT.call_once(register_down_at_exit);
            }
        }
        SharedCluster { guard }
    }

    /// The second octet of every address of this cluster.
    pub fn net(&self) -> u8 {
        self.net
    }

    /// The base directory (data, configs, logs, sockets, ssh keys).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Address of pgpool `n` (1..=2); it listens on port 5432 (pcp 9898).
    pub fn pgpool_addr(&self, n: u8) -> String {
        format!("127.{}.10.{n}", self.net)
    }

    /// Address of database host `n` (1..=3): PostgreSQL 5432, sshd 2222.
    pub fn db_addr(&self, n: u8) -> String {
        format!("127.{}.20.{n}", self.net)
    }

    /// Address of the repmgr witness of [`Cluster::up_with_witness`]:
    /// PostgreSQL 5432, sshd 2222.
    pub fn witness_addr(&self) -> String {
        format!("127.{}.40.1", self.net)
    }

    /// The generated config.ini of a watcher host: `pgp1`, `pgp2`, `db1`..`db3`
    /// (and `witness` with [`Cluster::up_with_witness`]).
    pub fn config_path(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(host).join("config.ini")
    }

    /// The ssh client key (user postgres, port 2222 on every database host).
    pub fn ssh_key(&self) -> PathBuf {
        self.dir.join("ssh/id_ed25519")
    }

    /// known_hosts holding `[127.x.20.N]:2222` for every database host.
    pub fn ssh_known_hosts(&self) -> PathBuf {
        self.dir.join("ssh/known_hosts")
    }

    /// Runs `bin/sandbox ARGS` for this cluster; Err holds stdout and stderr.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        self.run_env(args, &[])
    }

    /// [`Cluster::run`] with further environment variables.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bin/sandbox");
        let out = Command::new(&script)
            .args(args)
            .env("SANDBOX_NET", self.net.to_string())
            .env("SANDBOX_DIR", &self.dir)
            .envs(env.iter().copied())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "bin/sandbox {} (SANDBOX_NET={}) failed with {}:\n{text}",
                args.join(" "),
                self.net,
                out.status
            ))
        }
    }

    /// Like `run`, panicking with the script's output on failure.
    pub fn verb(&self, args: &[&str]) -> String {
        match self.run(args) {
            Ok(out) => out,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn status(&self) -> String {
        self.verb(&["status"])
    }
    pub fn stop_pgpool(&self, n: u8) {
        self.verb(&["stop-pgpool", &n.to_string()]);
    }
    pub fn start_pgpool(&self, n: u8) {
        self.verb(&["start-pgpool", &n.to_string()]);
    }
    /// SIGSTOP to pgpool `n` and all its children: connections hang.
    pub fn freeze_pgpool(&self, n: u8) {
        self.verb(&["freeze-pgpool", &n.to_string()]);
    }
    pub fn thaw_pgpool(&self, n: u8) {
        self.verb(&["thaw-pgpool", &n.to_string()]);
    }
    /// Freezes the sshd of database host `n` (connects hang before the banner).
    pub fn freeze_ssh(&self, n: u8) {
        self.verb(&["freeze-ssh", &n.to_string()]);
    }
    pub fn thaw_ssh(&self, n: u8) {
        self.verb(&["thaw-ssh", &n.to_string()]);
    }
    /// Stops database `n`; returns once running pgpools show it down.
    pub fn stop_db(&self, n: u8) {
        self.verb(&["stop-db", &n.to_string()]);
    }
    /// Starts database `n` in whatever role its data directory has, and
    /// attaches it again in every running pgpool.
    pub fn start_db(&self, n: u8) {
        self.verb(&["start-db", &n.to_string()]);
    }
    pub fn freeze_db(&self, n: u8) {
        self.verb(&["freeze-db", &n.to_string()]);
    }
    pub fn thaw_db(&self, n: u8) {
        self.verb(&["thaw-db", &n.to_string()]);
    }
    /// `repmgr standby promote` on db `n` (the primary must be stopped); the
    /// other running standbys follow it and the pgpools learn of it.
    pub fn promote(&self, n: u8) {
        self.verb(&["promote", &n.to_string()]);
    }
    /// The stopped old primary `n` re-cloned as a standby of the running
    /// primary, registered and attached in every running pgpool.
    pub fn rejoin(&self, n: u8) {
        self.verb(&["rejoin", &n.to_string()]);
    }
    /// db2 promoted with `pg_ctl promote` while db1 stays primary.
    pub fn split_brain(&self) {
        self.verb(&["split-brain"]);
    }
    /// Thaws and starts whatever is frozen or stopped, and heals every
    /// partition.
    pub fn heal(&self) {
        self.verb(&["heal"]);
    }

    /// The address the sandbox's args.txt names as the mail server
    /// (`127.<net>.30.1`), which `partition("mail")` black-holes.
    pub fn mail_addr(&self) -> String {
        format!("127.{}.30.1", self.net)
    }

    /// Black-holes a host's address (`pgp1`, `pgp2`, `db1`..`db3`, `witness`,
    /// `mail`): packets to and from it are dropped, so connects to it hang
    /// instead of being refused.
    pub fn partition(&self, host: &str) {
        self.verb(&["partition", host]);
    }

    /// Removes the partition of `host` only (a database is attached again in
    /// the running pgpools).
    pub fn heal_partition(&self, host: &str) {
        self.verb(&["heal", host]);
    }

    /// [`Cluster::partition`] for any address `127.<net>.X.Y` of this cluster.
    pub fn partition_addr(&self, addr: &str) {
        self.verb(&["partition-addr", addr]);
    }

    /// Removes the partition of one address.
    pub fn heal_addr(&self, addr: &str) {
        self.verb(&["heal-addr", addr]);
    }

    /// The partitioned addresses.
    pub fn partitions(&self) -> Vec<String> {
        self.verb(&["partitions"])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// One SQL statement through `psql` (user pgpool, database postgres,
    /// 2 s connect timeout) at `host:5432`; rows as `|`-separated lines.
    pub fn psql(&self, host: &str, sql: &str) -> Result<String, String> {
        let out = Command::new("timeout")
            .args(["10", "psql", "-X", "-qAt", "-h", host, "-p", "5432"])
            .args(["-U", "pgpool", "-d", "postgres", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "2")
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "psql {host}:5432 {sql:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.run(&["down"]) {
            eprintln!("{e}");
        }
    }
}

static SHARED: Mutex<Option<Cluster>> = Mutex::new(None);
static DOWN_AT_EXIT: Once = Once::new();

/// libtest has no suite teardown and statics are never dropped, so the shared
/// cluster's `down` runs from a C `atexit` handler (libtest ends through
/// `exit`, which runs it). Building it once per test instead would cost an
/// `up` (several seconds) per test.
#[allow(unsafe_code)]
fn register_down_at_exit() {
    extern "C" fn down_shared() {
        let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        drop(guard.take()); // Cluster::drop runs `bin/sandbox down`
    }
    // SAFETY: atexit only stores the pointer of a plain `extern "C" fn` that
    // takes no arguments; the handler touches nothing but the mutex.
    let rc = unsafe { libc::atexit(down_shared) };
    assert_eq!(rc, 0, "atexit: cannot register the shared cluster's down");
}

/// A turn on the shared cluster; derefs to `Cluster`.
pub struct SharedCluster {
    guard: MutexGuard<'static, Option<Cluster>>,
}

impl Deref for SharedCluster {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        match self.guard.as_ref() {
            Some(c) => c,
            None => unreachable!("the shared cluster exists while a turn is held"),
        }
    }
}

/// Polls `check` every 50 ms until it returns true or `within` passes.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a TCP connect to `addr:port` succeeds within 1 s.
pub fn tcp_accepts(addr: &str, port: u16) -> bool {
    match format!("{addr}:{port}").parse::<SocketAddr>() {
        Ok(sa) => TcpStream::connect_timeout(&sa, Duration::from_secs(1)).is_ok(),
        Err(_) => false,
    }
}
