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
//! [`Gslb::wait_for_answer`] only accepts an answer that stays identical for
//! longer than one check interval, so the random fallback cannot pass for
//! a real answer by luck.
//!
//! The server runs as the invoking user in a private temporary directory (its
//! own config, zone, control socket and log), listens only on a 127.0.53.x
//! address with a free port, makes no query of its own (security polling is
//! off; it is no primary, so it sends no NOTIFY) and is killed on drop.

use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

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
const QUERY_TIMEOUT: Duration = Duration::from_millis(800);
const TYPE_A: u16 = 1;
const TYPE_SOA: u16 = 6;

static INSTANCES: AtomicU32 = AtomicU32::new(0);

/// A running private PowerDNS instance; killed (by its pid) on drop.
pub struct Gslb {
    zone: String,
    server: SocketAddr,
    dir: PathBuf,
    child: Child,
}

impl Gslb {
    /// Writes the config and zone into a fresh temporary directory, starts
    /// `pdns_server` on a 127.0.53.x address and a free port, waits until it
    /// answers the zone's SOA and has checked every address once.
    /// Panics (it is a test helper) with pdns's log when it cannot start.
    pub fn start(zone: &str, pgpools: &[&str], dbs: &[&str]) -> Gslb {
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
        let ip = Ipv4Addr::new(127, 0, 53, (instance % 250 + 1) as u8);
        let mut last_log = String::new();
        // A free port may be taken between our probe and pdns's bind: retry.
        for _attempt in 0..5 {
            let port = free_port(ip);
            let server = SocketAddr::from((ip, port));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("gslb: create {}: {e}", dir.display()));
            write_files(&dir, &zone, server, &pgpools, &dbs);
            let log = fs::File::create(dir.join("pdns.log"))
                .unwrap_or_else(|e| panic!("gslb: create {}/pdns.log: {e}", dir.display()));
            let log2 = log
                .try_clone()
                .unwrap_or_else(|e| panic!("gslb: clone log handle: {e}"));
            let child = Command::new(pdns_server())
                .arg(format!("--config-dir={}", dir.display()))
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "gslb: spawn {}: {e} (install pdns-server and pdns-backend-bind: bin/install-deps)",
                        pdns_server()
                    )
                });
            let mut gslb = Gslb {
                zone: zone.clone(),
                server,
                dir: dir.clone(),
                child,
            };
            match gslb.wait_ready(&pgpools, &dbs) {
                Ok(()) => return gslb,
                Err(e) => {
                    last_log = gslb.log();
                    let bind_race = last_log.contains("Address already in use");
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
        let checked: Vec<String> = pgpools
            .iter()
            .map(|a| format!("TCP/IP {a}:{PGP_PORT} "))
            .chain(dbs.iter().map(|a| format!("TCP/IP {a}:{DB_PORT} ")))
            .collect();
        loop {
            // Each query (re)registers the addresses; the first verdict for
            // each is always logged ("declaring TCP/IP a:p UP!" or "DOWN:").
            let _ = self.try_resolve(&self.pgp_name());
            let _ = self.try_resolve(&self.db_name());
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

impl Drop for Gslb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("gslb: keeping {} for inspection", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
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

fn pdns_server() -> &'static str {
    if Path::new("/usr/sbin/pdns_server").exists() {
        "/usr/sbin/pdns_server"
    } else {
        "pdns_server"
    }
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

fn lua_list(addrs: &[Ipv4Addr]) -> String {
    let quoted: Vec<String> = addrs.iter().map(|a| format!("'{a}'")).collect();
    format!("{{{}}}", quoted.join(","))
}

fn write_files(dir: &Path, zone: &str, server: SocketAddr, pgpools: &[Ipv4Addr], dbs: &[Ipv4Addr]) {
    let d = dir.display();
    let conf = format!(
        "# private PowerDNS for the pgpoolwatch tests (tests/it/support/gslb.rs)
launch=bind
bind-config={d}/named.conf
enable-lua-records=yes
local-address={ip}
local-port={port}
socket-dir={d}
daemon=no
guardian=no
write-pid=no
disable-syslog=yes
loglevel=6
# checks every second; expiry stays long (see the module doc)
lua-health-checks-interval=1
lua-health-checks-expire-delay=3600
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
# no query to the outside world, no listener besides DNS
security-poll-suffix=
primary=no
secondary=no
webserver=no
api=no
",
        ip = server.ip(),
        port = server.port()
    );
    let named = format!("zone \"{zone}\" {{ type master; file \"{d}/zone\"; }};\n");
    let records = format!(
        "$TTL 1
@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 1
@ IN NS ns1.{zone}.
ns1 IN A {ip}
pgp IN LUA A \"ifportup({PGP_PORT}, {pgp}, {{selector='all'}})\"
db IN LUA A \"ifportup({DB_PORT}, {db}, {{selector='all'}})\"
",
        ip = server.ip(),
        pgp = lua_list(pgpools),
        db = lua_list(dbs)
    );
    for (name, text) in [
        ("pdns.conf", conf),
        ("named.conf", named),
        ("zone", records),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("gslb: write {}: {e}", path.display()));
    }
}

/// A parsed DNS response: its rcode and answer records (type, rdata).
struct Answer {
    rcode: u8,
    records: Vec<(u16, Vec<u8>)>,
}

fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".to_string(),
        1 => "FORMERR".to_string(),
        2 => "SERVFAIL".to_string(),
        3 => "NXDOMAIN".to_string(),
        4 => "NOTIMP".to_string(),
        5 => "REFUSED".to_string(),
        n => format!("rcode {n}"),
    }
}

static QUERY_IDS: AtomicU32 = AtomicU32::new(1);

/// One DNS question over UDP (RFC 1035), no recursion wanted.
fn query(server: SocketAddr, name: &str, qtype: u16) -> Result<Answer, String> {
    let ctx = |e: std::io::Error| format!("{name} @{server}: {e}");
    let id = (QUERY_IDS.fetch_add(1, Ordering::SeqCst) ^ std::process::id()) as u16;
    let mut packet = Vec::with_capacity(64);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]); // flags 0, 1 question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{name}: bad DNS name"));
        }
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes()); // class IN
    let socket = UdpSocket::bind(("127.0.0.1", 0)).map_err(ctx)?;
    socket.set_read_timeout(Some(QUERY_TIMEOUT)).map_err(ctx)?;
    socket.send_to(&packet, server).map_err(ctx)?;
    let until = Instant::now() + QUERY_TIMEOUT;
    let mut buf = [0u8; 4096];
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "{name} @{server}: no answer within {QUERY_TIMEOUT:?}"
                ))
            }
            Err(e) => return Err(ctx(e)),
        };
        let reply = &buf[..len];
        if from == server && reply.len() >= 2 && reply[..2] == id.to_be_bytes() {
            return parse_reply(reply).map_err(|e| format!("{name} @{server}: {e}"));
        }
        if Instant::now() >= until {
            return Err(format!(
                "{name} @{server}: no matching answer within {QUERY_TIMEOUT:?}"
            ));
        }
    }
}

fn parse_reply(msg: &[u8]) -> Result<Answer, String> {
    let u16_at = |pos: usize| -> Result<u16, String> {
        msg.get(pos..pos + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("reply truncated at byte {pos}"))
    };
    let flags = u16_at(2)?;
    if flags & 0x8000 == 0 {
        return Err("reply is not a response".to_string());
    }
    if flags & 0x0200 != 0 {
        return Err("reply truncated (TC set)".to_string());
    }
    let questions = u16_at(4)?;
    let answers = u16_at(6)?;
    let mut pos = 12;
    for _ in 0..questions {
        pos = skip_name(msg, pos)? + 4;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        pos = skip_name(msg, pos)?;
        let rtype = u16_at(pos)?;
        let rdlen = usize::from(u16_at(pos + 8)?);
        let start = pos + 10;
        let rdata = msg
            .get(start..start + rdlen)
            .ok_or_else(|| format!("record data truncated at byte {start}"))?;
        records.push((rtype, rdata.to_vec()));
        pos = start + rdlen;
    }
    Ok(Answer {
        rcode: (flags & 0x000f) as u8,
        records,
    })
}

/// Position just after the (possibly compressed) name starting at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, String> {
    loop {
        let len = *msg
            .get(pos)
            .ok_or_else(|| format!("name truncated at byte {pos}"))?;
        match len {
            0 => return Ok(pos + 1),
            l if l & 0xc0 == 0xc0 => return Ok(pos + 2),
            l if l & 0xc0 == 0 => pos += 1 + usize::from(l),
            l => return Err(format!("bad label byte {l:#x} at {pos}")),
        }
    }
}
