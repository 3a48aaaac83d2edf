//! A real GSLB for the integration tests: a private PowerDNS Authoritative
//! 4.7 (`pdns_server` with the bind backend) serving one zone whose LUA
//! records do what a production GSLB in front of pgpoolwatch does —
//! `pgp.<zone>` answers `ifportup(5559, pgpools)` and `db.<zone>` answers
//! `ifportup(5560, databases)` — so tests can assert that DNS answers follow
//! the watchers' port gates, not just that the gates open and close.
//!
//! How the answers behave (PowerDNS 4.7.3, measured here and read in its
//! `lua-record.cc`):
//! - Both records use `{selector='all'}`: every address whose port is up is
//!   returned (order not significant).
//! - When no address of a record is up, PowerDNS applies `backupSelector`,
//!   whose default `random` returns ONE address picked at random from all the
//!   configured ones on every query — a dead one. So "all down" is visible as
//!   a single answer that changes between queries, never as an empty answer.
//! - Before an address has been checked once it counts as down, so the first
//!   answers after start get the random fallback. Checks only start when a
//!   record is first queried; [`Gslb::start`] queries both records and waits
//!   until pdns has logged the first verdict for every address, so when it
//!   returns the answers already reflect the real ports.
//! - pdns checks every address once per `lua-health-checks-interval` (1 s
//!   here) with a TCP connect; an answer follows a port opening or closing
//!   within one interval plus the connect (measured 0.06-1.04 s, mean 0.6 s,
//!   over 40 changes at random phases). Records have TTL 1 and
//!   every pdns cache is off, so nothing older is served.
//! - `lua-health-checks-expire-delay` is deliberately left long (1 h): it
//!   drops the checks of addresses not queried for that long, after which
//!   they count as unchecked (down) again. A small value would make answers
//!   flap to the fallback after a quiet spell, not follow ports faster.
//!
//! [`Gslb::start_49`] runs PowerDNS 4.9 instead (Debian 13's 4.9.18,
//! chrooted in the trixie root of bin/roots) with ONE name for the README's
//! topology: `pgp.<zone>` answers the up pgpools, else the up database gates,
//! else every pgpool (support/pdns.rs `combined_pgp_record` says how). All
//! its checks use `{selector='all', backupSelector='all'}` (`db.<zone>` too,
//! so each address:port has one check), so every answer is deterministic:
//! "all down" is the full list, never a random pick. Its zone also has
//! `sets.<zone>` = `ifportup(5559, {pgpools, dbs})`, for gates all on 5559.
//!
//! [`Gslb::wait_for_answer`] only accepts an answer that stays identical for
//! longer than one check interval, so the random fallback cannot pass for
//! a real answer by luck.
//!
//! The server runs as the invoking user in a private temporary directory (its
//! own config, zone, control socket and log), listens only on a 127.0.53.x
//! address with a free port, makes no query of its own (security polling is
//! off; it is no primary, so it sends no NOTIFY) and is killed on drop.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::dns::{query, rcode_name, TYPE_A, TYPE_SOA};
use super::pdns::{pdns_command, trixie_root, write_files, Flavour};

/// Port the pgpool watchers (pgpwatch) open; `pgp.<zone>` checks it.
pub const PGP_PORT: u16 = 5559;
/// Port the database watchers (repmgrwatch) open; `db.<zone>` checks it.
pub const DB_PORT: u16 = 5560;
/// pdns `lua-health-checks-interval`, seconds.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long an answer must stay the same before `wait_for_answer` accepts it:
/// longer than a check interval, so the per-query random fallback of an
/// all-down record cannot match by chance.
pub const STABLE_FOR: Duration = Duration::from_millis(CHECK_INTERVAL.as_millis() as u64 * 3 / 2);

const POLL: Duration = Duration::from_millis(25);
const START_TIMEOUT: Duration = Duration::from_secs(20);

static INSTANCES: AtomicU32 = AtomicU32::new(0);

/// A running private PowerDNS instance; killed (by its pid) on drop.
pub struct Gslb {
    zone: String,
    server: SocketAddr,
    dir: PathBuf,
    child: Child,
    flavour: Flavour,
}

impl Gslb {
    /// Writes the config and zone into a fresh temporary directory, starts
    /// `pdns_server` on a 127.0.53.x address and a free port, waits until it
    /// answers the zone's SOA and has checked every address once.
    /// Panics (it is a test helper) with pdns's log when it cannot start.
    pub fn start(zone: &str, pgpools: &[&str], dbs: &[&str]) -> Gslb {
        Gslb::start_with(Flavour::Host, zone, pgpools, dbs)
    }

    /// Like [`Gslb::start`] with PowerDNS 4.9 from the Debian 13 root (built
    /// by `bin/roots ensure trixie` when missing or stale) and the combined
    /// `pgp.<zone>` record: the up pgpools, else the up database gates,
    /// else every pgpool. `none_up` must be an address where nothing listens
    /// on 5559 or 5560 (a connect is refused at once): the record tells
    /// "nothing up" by finding it in pdns's all-down fallback.
    pub fn start_49(zone: &str, pgpools: &[&str], dbs: &[&str], none_up: &str) -> Gslb {
        let none_up = never_listening(none_up);
        let root = trixie_root();
        Gslb::start_with(Flavour::Trixie { root, none_up }, zone, pgpools, dbs)
    }

    /// The host's 4.7 serving the same combined `pgp.<zone>` as
    /// [`Gslb::start_49`] (its `ifportup` takes one set, all this needs).
    pub fn start_combined_47(zone: &str, pgpools: &[&str], dbs: &[&str], none_up: &str) -> Gslb {
        let none_up = never_listening(none_up);
        Gslb::start_with(Flavour::HostCombined { none_up }, zone, pgpools, dbs)
    }

    fn start_with(flavour: Flavour, zone: &str, pgpools: &[&str], dbs: &[&str]) -> Gslb {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        assert!(
            !zone.is_empty()
                && zone
                    .split('.')
                    .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(is_label_byte)),
            "gslb zone {zone:?}: use dot-separated labels of letters, digits and '-'"
        );
        let pgpools = parse_addresses("pgpools", pgpools);
        let dbs = parse_addresses("dbs", dbs);
        let instance = INSTANCES.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "pgpoolwatch-gslb-{}-{}",
            std::process::id(),
            instance
        ));
        let ip = match flavour {
            Flavour::Host | Flavour::HostCombined { .. } => {
                Ipv4Addr::new(127, 0, 53, (instance % 250 + 1) as u8)
            }
            Flavour::Trixie { .. } => Ipv4Addr::new(127, 0, 53, 251),
        };
        let mut flavour = Some(flavour);
        let mut last_log = String::new();
        // A free port may be taken between our probe and pdns's bind: retry.
        for _attempt in 0..5 {
            let port = free_port(ip);
            let server = SocketAddr::from((ip, port));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("gslb: create {}: {e}", dir.display()));
            let kind = flavour
                .take()
                .expect("flavour is put back after each attempt");
            write_files(&dir, &zone, server, &pgpools, &dbs, &kind);
            let log = fs::File::create(dir.join("pdns.log"))
                .unwrap_or_else(|e| panic!("gslb: create {}/pdns.log: {e}", dir.display()));
            let log2 = log
                .try_clone()
                .unwrap_or_else(|e| panic!("gslb: clone log handle: {e}"));
            let child = pdns_command(&kind, &dir)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "gslb: spawn pdns_server: {e} (install pdns-server and pdns-backend-bind: bin/install-deps)"
                    )
                });
            let mut gslb = Gslb {
                zone: zone.clone(),
                server,
                dir: dir.clone(),
                child,
                flavour: kind,
            };
            match gslb.wait_ready(&pgpools, &dbs) {
                Ok(()) => return gslb,
                Err(e) => {
                    last_log = gslb.log();
                    let bind_race = last_log.contains("Address already in use");
                    gslb.stop();
                    flavour = Some(std::mem::replace(&mut gslb.flavour, Flavour::Host));
                    drop(gslb);
                    if !bind_race {
                        panic!("gslb: {e}\n--- pdns log ---\n{last_log}");
                    }
                }
            }
        }
        panic!("gslb: no free port on {ip} after 5 attempts\n--- pdns log ---\n{last_log}");
    }

    /// Where the server listens (UDP and TCP).
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The zone, without the trailing dot.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// `pgp.<zone>`: the pgpools whose port 5559 is up.
    pub fn pgp_name(&self) -> String {
        format!("pgp.{}", self.zone)
    }

    /// `db.<zone>`: the databases whose port 5560 is up.
    pub fn db_name(&self) -> String {
        format!("db.{}", self.zone)
    }

    /// The `PowerDNS Authoritative Server X.Y.Z` line pdns logged at start.
    pub fn version(&self) -> String {
        self.log()
            .lines()
            .find_map(|l| {
                l.find("PowerDNS Authoritative Server ")
                    .map(|i| l[i..].split(" (").next().unwrap_or(&l[i..]).to_string())
            })
            .unwrap_or_else(|| format!("no version line in {}/pdns.log", self.dir.display()))
    }

    /// The zone file pdns serves (what a DBA would paste, addresses aside).
    pub fn zone_file(&self) -> String {
        fs::read_to_string(self.dir.join("zone")).unwrap_or_default()
    }

    /// `sets.<zone>` (4.9 only): `ifportup(5559, {pgpools, dbs})`, the
    /// first set with an address up, for gates that all use 5559.
    pub fn sets_name(&self) -> String {
        format!("sets.{}", self.zone)
    }

    /// pdns's log so far (stdout and stderr), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("pdns.log")).unwrap_or_default()
    }

    /// One UDP query for `name` A: the addresses of the answer, in the order
    /// given. A SERVFAIL or any other error is an `Err` naming the server.
    pub fn try_resolve(&self, name: &str) -> Result<Vec<Ipv4Addr>, String> {
        let answer = query(self.server, name, TYPE_A)?;
        if answer.rcode != 0 {
            return Err(format!(
                "{name} A @{}: rcode {}",
                self.server,
                rcode_name(answer.rcode)
            ));
        }
        Ok(answer
            .records
            .iter()
            .filter(|(t, rdata)| *t == TYPE_A && rdata.len() == 4)
            .map(|(_, r)| Ipv4Addr::new(r[0], r[1], r[2], r[3]))
            .collect())
    }

    /// Like [`Gslb::try_resolve`], sorted; panics on error.
    pub fn resolve(&self, name: &str) -> Vec<Ipv4Addr> {
        let mut addrs = self
            .try_resolve(name)
            .unwrap_or_else(|e| panic!("gslb: {e}\n--- pdns log ---\n{}", self.log()));
        addrs.sort();
        addrs
    }

    /// Polls `name` until its answer, compared as a set, equals `expected`
    /// and stays so for [`STABLE_FOR`]. Returns how long after the call the
    /// matching answer was first seen (the reaction time), or an error with
    /// the last answer once `deadline` passes.
    pub fn wait_for_answer(
        &self,
        name: &str,
        expected: &[&str],
        deadline: Instant,
    ) -> Result<Duration, String> {
        let mut want: Vec<Ipv4Addr> = parse_addresses("expected", expected);
        want.sort();
        want.dedup();
        let begin = Instant::now();
        let mut matching_since: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let answer = self.try_resolve(name).map(|mut a| {
                a.sort();
                a.dedup();
                a
            });
            if answer.as_ref() == Ok(&want) {
                let since = *matching_since.get_or_insert(now);
                if now.duration_since(since) >= STABLE_FOR {
                    return Ok(since.duration_since(begin));
                }
            } else {
                matching_since = None;
            }
            if now >= deadline {
                return Err(format!(
                    "{name} @{}: expected {want:?} (stable for {STABLE_FOR:?}), last answer {answer:?} after {:?}",
                    self.server,
                    now.duration_since(begin)
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// Waits for the SOA, queries both records (which starts pdns's checks)
    /// and waits until every address has been checked once.
    fn wait_ready(&mut self, pgpools: &[Ipv4Addr], dbs: &[Ipv4Addr]) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("pdns_server exited at start with {status}"));
            }
            match query(self.server, &self.zone, TYPE_SOA) {
                Ok(a) if a.rcode == 0 && a.records.iter().any(|(t, _)| *t == TYPE_SOA) => break,
                Ok(_) | Err(_) if Instant::now() < deadline => thread::sleep(POLL),
                Ok(a) => {
                    return Err(format!(
                        "{} SOA @{}: rcode {} after {START_TIMEOUT:?}",
                        self.zone,
                        self.server,
                        rcode_name(a.rcode)
                    ))
                }
                Err(e) => return Err(format!("no SOA after {START_TIMEOUT:?}: {e}")),
            }
        }
        let mut checked: Vec<String> = pgpools
            .iter()
            .map(|a| format!("TCP/IP {a}:{PGP_PORT} "))
            .chain(dbs.iter().map(|a| format!("TCP/IP {a}:{DB_PORT} ")))
            .collect();
        let has_sets = matches!(self.flavour, Flavour::Trixie { .. });
        if has_sets {
            checked.extend(dbs.iter().map(|a| format!("TCP/IP {a}:{PGP_PORT} ")));
        }
        if let Some(n) = self.flavour.none_up() {
            checked.push(format!("TCP/IP {n}:{PGP_PORT} DOWN"));
            checked.push(format!("TCP/IP {n}:{DB_PORT} DOWN"));
        }
        loop {
            // Each query (re)registers the addresses; the first verdict for
            // each is always logged ("declaring TCP/IP a:p UP!" or "DOWN:").
            let _ = self.try_resolve(&self.pgp_name());
            let _ = self.try_resolve(&self.db_name());
            if has_sets {
                let _ = self.try_resolve(&self.sets_name());
            }
            let log = self.log();
            if checked.iter().all(|c| log.contains(c.as_str())) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("pdns_server exited with {status}"));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "first health checks not logged after {START_TIMEOUT:?}"
                ));
            }
            thread::sleep(POLL);
        }
    }
}

impl Gslb {
    /// Kills pdns (by its pid: `unshare`, `bin/roots enter` and `chroot`
    /// exec it in place) and removes the mount point the root got.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Flavour::Trixie { root, .. } = &self.flavour {
            if let Ok(inside) = self.dir.strip_prefix("/") {
                let _ = fs::remove_dir(root.join(inside));
            }
        }
    }
}

impl Drop for Gslb {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!("gslb: keeping {} for inspection", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// An empty directory for the watchers' logs of one topology scenario,
/// `$TMPDIR/pgpoolwatch-it-<name>` (emptied first: the last run's logs go).
pub fn watcher_log_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgpoolwatch-it-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("create watcher log dir {}: {e}", dir.display()));
    dir
}

/// `addr` parsed, after checking that nothing accepts on 5559 or 5560 there.
fn never_listening(addr: &str) -> Ipv4Addr {
    let none_up = parse_addresses("none_up", &[addr])[0];
    for port in [PGP_PORT, DB_PORT] {
        let taken = std::net::TcpStream::connect_timeout(
            &SocketAddr::from((none_up, port)),
            Duration::from_millis(300),
        )
        .is_ok();
        assert!(
            !taken,
            "gslb none_up {none_up}:{port} accepts connections: pick an address where nothing listens"
        );
    }
    none_up
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn parse_addresses(what: &str, addrs: &[&str]) -> Vec<Ipv4Addr> {
    addrs
        .iter()
        .map(|a| {
            a.parse()
                .unwrap_or_else(|e| panic!("gslb {what}: {a:?} is not an IPv4 address: {e}"))
        })
        .collect()
}

/// A port free for both UDP and TCP on `ip` right now.
fn free_port(ip: Ipv4Addr) -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("gslb: bind udp {ip}:0: {e}"));
        let port = udp
            .local_addr()
            .unwrap_or_else(|e| panic!("gslb: local addr of udp {ip}:0: {e}"))
            .port();
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("gslb: no port free for both UDP and TCP on {ip}");
}
