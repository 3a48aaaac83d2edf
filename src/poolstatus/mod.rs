//! poolstatus: the one-command report on a pgpool-II + repmgr cluster that
//! operators run by hand and pgpwatch puts in its mails. Gathering (I/O,
//! concurrent, every step bounded by `connect_timeout`) is kept apart from
//! the [`Report`] value, which is rendered as text or JSON and judged
//! ([`Report::status`]) without any I/O, so both are testable from recorded
//! outputs.
//!
//! Order of work: `show pool_nodes` through pgpool first (it names the
//! database hosts); then, concurrently, one session per database host (role,
//! WAL positions, replication rows, repmgr metadata and event counts) and one
//! SSH session per host (`df -P disk_path`); then the same for any node that
//! only repmgr's metadata names. Worst case about three timeouts.

#[cfg(test)]
mod fixture_tests;
pub mod parse;
mod render;
pub mod ssh;

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::probe::{self, host_port, Endpoint, ProbeError, Session};
use parse::{Backend, DiskUse, Receiver, RepmgrNode, Role, Sender};

/// Finds the password for (host, port, database, user), e.g. from .pgpass;
/// `None` connects without one.
pub type PasswordLookup = Arc<dyn Fn(&str, u16, &str, &str) -> Option<String> + Send + Sync>;

/// What poolstatus looks at and how (the original's hard-coded values are
/// the defaults, see [`Target::default`]).
#[derive(Clone)]
pub struct Target {
    pub pgpool_host: String,
    pub pgpool_port: u16,
    pub pgpool_user: String,
    pub pgpool_database: String,
    pub repmgr_user: String,
    pub repmgr_database: String,
    pub ssh_user: String,
    pub ssh_port: u16,
    pub ssh_key: Option<PathBuf>,
    pub ssh_known_hosts: PathBuf,
    /// Home directory whose `.ssh/id_ed25519` / `id_rsa` are tried when
    /// `ssh_key` is unset (and ssh-agent fails).
    pub ssh_home: Option<PathBuf>,
    /// Bound of every network step (connect plus queries of one session).
    pub connect_timeout: Duration,
    /// Path whose file system `df` reports.
    pub disk_path: String,
    pub password: PasswordLookup,
    /// TLS of every database connection (pgpool and the nodes).
    pub tls: probe::TlsSettings,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("pgpool", &host_port(&self.pgpool_host, self.pgpool_port))
            .field("pgpool_user", &self.pgpool_user)
            .field("pgpool_database", &self.pgpool_database)
            .field("repmgr_user", &self.repmgr_user)
            .field("repmgr_database", &self.repmgr_database)
            .field("ssh_user", &self.ssh_user)
            .field("ssh_port", &self.ssh_port)
            .field("ssh_key", &self.ssh_key)
            .field("ssh_known_hosts", &self.ssh_known_hosts)
            .field("connect_timeout", &self.connect_timeout)
            .field("disk_path", &self.disk_path)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Default for Target {
    /// The original's assumptions: pgpool on localhost:5432 as user `pgpool`
    /// database `postgres`; repmgr as `repmgr`/`repmgr`; ssh as the current
    /// user on port 22 with `~/.ssh/known_hosts`; `df /`; 5 s timeout; no
    /// password.
    fn default() -> Target {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "postgres".into());
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/pgsql"));
        Target {
            pgpool_host: "localhost".into(),
            pgpool_port: 5432,
            pgpool_user: "pgpool".into(),
            pgpool_database: "postgres".into(),
            repmgr_user: "repmgr".into(),
            repmgr_database: "repmgr".into(),
            ssh_user: user,
            ssh_port: 22,
            ssh_key: None,
            ssh_known_hosts: home.join(".ssh").join("known_hosts"),
            tls: probe::TlsSettings {
                home: Some(home.clone()),
                ..probe::TlsSettings::default()
            },
            ssh_home: Some(home),
            connect_timeout: Duration::from_secs(5),
            disk_path: "/".into(),
            password: Arc::new(|_, _, _, _| None),
        }
    }
}

impl Target {
    fn endpoint(&self, host: &str, port: u16, user: &str, db: &str) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            port,
            user: user.to_string(),
            database: db.to_string(),
            password: (self.password)(host, port, db, user),
            tls: self.tls.clone(),
        }
    }
}

impl Target {
    /// The target described by `[poolstatus]` settings, with the
    /// credentials of OS account `os_user` (see
    /// [`crate::config::credentials_user`]): passwords from its `.pgpass`
    /// (`$PGPASSFILE` first), ssh keys and known_hosts from its `~/.ssh`
    /// unless `ssh_key` / `ssh_known_hosts` say otherwise.
    pub fn from_settings(s: &crate::config::PoolstatusSettings, os_user: &str) -> Target {
        let home = crate::config::home_of(os_user).unwrap_or_else(|| PathBuf::from("/"));
        let tls = s.tls.for_user(os_user);
        let os_user = os_user.to_string();
        let password: PasswordLookup = Arc::new(move |host, port, db, user| {
            crate::pgpass::password_for(&os_user, host, port, db, user)
        });
        Target {
            pgpool_host: s.pgpool_host.clone(),
            pgpool_port: s.pgpool_port,
            pgpool_user: s.pgpool_user.clone(),
            pgpool_database: s.pgpool_database.clone(),
            repmgr_user: s.repmgr_user.clone(),
            repmgr_database: s.repmgr_database.clone(),
            ssh_user: s.ssh_user.clone(),
            ssh_port: s.ssh_port,
            ssh_key: s.ssh_key.clone(),
            ssh_known_hosts: s
                .ssh_known_hosts
                .clone()
                .unwrap_or_else(|| home.join(".ssh").join("known_hosts")),
            ssh_home: Some(home),
            connect_timeout: s.connect_timeout,
            disk_path: s.disk_path.clone(),
            password,
            tls,
        }
    }
}

/// Nagios-style verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// Everything answered and is up.
    Ok,
    /// pgpool answers with a primary up, but a backend is down or a section
    /// failed.
    Degraded,
    /// pgpool unreachable, or no primary up.
    Critical,
}

impl Health {
    /// 0, 1, 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Health::Ok => 0,
            Health::Degraded => 1,
            Health::Critical => 2,
        }
    }

    /// `OK`, `DEGRADED`, `CRITICAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Degraded => "DEGRADED",
            Health::Critical => "CRITICAL",
        }
    }
}

/// repmgr's metadata as read from one node.
#[derive(Debug, Clone, PartialEq)]
pub struct RepmgrMeta {
    /// `host:port` it was read from.
    pub source: String,
    /// `repmgr.nodes` or `repmgr_<cluster>.repl_nodes`.
    pub table: String,
    pub nodes: Vec<RepmgrNode>,
    /// Event counts (all, last 24 h), or why they could not be read.
    pub events: Result<(u64, u64), String>,
}

/// What one database node told us.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    pub server_version_num: u32,
    pub in_recovery: bool,
    /// Primary: current WAL write position.
    pub current_lsn: Option<String>,
    /// Standby: last received and replayed positions.
    pub receive_lsn: Option<String>,
    pub replay_lsn: Option<String>,
    /// Primary: its pg_stat_replication rows.
    pub senders: Vec<Sender>,
    /// Standby: its WAL receiver, `None` when none runs.
    pub receiver: Option<Receiver>,
}

/// One database host: from show pool_nodes and/or repmgr's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    pub host: String,
    pub port: u16,
    /// repmgr node name, when the metadata names this host:port.
    pub name: Option<String>,
    /// repmgr's type of this host:port (`primary`, `standby`, `witness`),
    /// when the metadata names it.
    pub role: Option<Role>,
    pub state: Result<NodeState, String>,
    pub disk: Result<DiskUse, String>,
}

impl NodeReport {
    /// `name` when known, else `host`.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.host)
    }

    /// Whether repmgr's metadata calls this host a witness.
    pub fn is_witness(&self) -> bool {
        self.role == Some(Role::Witness)
    }

    /// Answers as a primary and is no witness (a witness is a primary of
    /// its own, outside the replication).
    fn is_live_primary(&self) -> bool {
        !self.is_witness() && matches!(&self.state, Ok(s) if !s.in_recovery)
    }
}

/// Everything one poolstatus run found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub generated_at: SystemTime,
    /// `host:port` of pgpool.
    pub pgpool: String,
    pub pool_nodes: Result<Vec<Backend>, String>,
    pub nodes: Vec<NodeReport>,
    pub repmgr: Result<RepmgrMeta, String>,
    pub disk_path: String,
}

impl Report {
    /// The verdict and one sentence per reason (empty when all is well).
    pub fn assess(&self) -> (Health, Vec<String>) {
        let backends = match &self.pool_nodes {
            Err(e) => return (Health::Critical, vec![format!("pgpool unreachable: {e}")]),
            Ok(b) => b,
        };
        let mut reasons = Vec::new();
        let primary_up = backends
            .iter()
            .any(|b| b.role == Role::Primary && b.is_up());
        if !primary_up {
            reasons.push(format!(
                "no primary up in show pool_nodes of pgpool {}",
                self.pgpool
            ));
        }
        for b in backends.iter().filter(|b| !b.is_up()) {
            reasons.push(format!(
                "backend {} {} ({}) is {} in pgpool",
                b.node_id,
                host_port(&b.hostname, b.port),
                b.role.as_str(),
                b.status
            ));
        }
        for n in &self.nodes {
            if let Err(e) = &n.state {
                reasons.push(format!("node {}: {e}", n.label()));
            }
            if let Ok(s) = &n.state {
                if s.in_recovery && n.is_witness() {
                    reasons.push(format!(
                        "witness {} is in recovery (a repmgr witness runs as a primary of its own)",
                        n.label()
                    ));
                } else if s.in_recovery {
                    match &s.receiver {
                        Some(r) if r.status == "streaming" => {}
                        Some(r) => reasons.push(format!(
                            "standby {} is not streaming (wal receiver {})",
                            n.label(),
                            r.status
                        )),
                        None => reasons
                            .push(format!("standby {} has no wal receiver running", n.label())),
                    }
                }
            }
            if let Err(e) = &n.disk {
                reasons.push(format!("disk of {}: {e}", n.label()));
            }
        }
        let live: Vec<&NodeReport> = self.nodes.iter().filter(|n| n.is_live_primary()).collect();
        if live.len() > 1 {
            let names: Vec<&str> = live.iter().map(|n| n.label()).collect();
            reasons.push(format!(
                "{} nodes run as primary: {}",
                live.len(),
                names.join(", ")
            ));
        }
        if let [only] = live.as_slice() {
            let pool_primary = backends
                .iter()
                .find(|b| b.role == Role::Primary && b.is_up());
            if let Some(b) = pool_primary {
                if (b.hostname.as_str(), b.port) != (only.host.as_str(), only.port) {
                    reasons.push(format!(
                        "pgpool's primary {} is not the live primary {}",
                        host_port(&b.hostname, b.port),
                        host_port(&only.host, only.port)
                    ));
                }
            }
        }
        match &self.repmgr {
            Err(e) => reasons.push(format!("repmgr metadata: {e}")),
            Ok(m) => {
                if let Err(e) = &m.events {
                    reasons.push(format!("repmgr events: {e}"));
                }
            }
        }
        let health = if !primary_up {
            Health::Critical
        } else if reasons.is_empty() {
            Health::Ok
        } else {
            Health::Degraded
        };
        (health, reasons)
    }

    /// The verdict alone.
    pub fn status(&self) -> Health {
        self.assess().0
    }

    /// The report in the original's layout (see COMPAT.md), with a last
    /// `Status:` line.
    pub fn render_text(&self) -> String {
        render::text(self)
    }

    /// The same facts as one JSON document.
    pub fn render_json(&self) -> String {
        render::json(self).render()
    }
}

/// Runs `f` on a thread; the answer arrives on the returned channel.
fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    // If no thread can be started, the receiver reports a disconnect.
    let _ = thread::Builder::new()
        .name("poolstatus".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    rx
}

/// Waits until `deadline` for an answer; late or lost answers become errors.
fn collect<T>(
    rx: &mpsc::Receiver<Result<T, String>>,
    deadline: Instant,
    what: &str,
    timeout: Duration,
) -> Result<T, String> {
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "{what}: timed out after {}",
            probe::human_duration(timeout)
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!("{what}: worker thread failed")),
    }
}

/// Gathers the report. Every section is bounded; the whole run takes at most
/// about three `connect_timeout`s (pool_nodes, nodes, nodes known only to
/// repmgr).
pub fn run(target: &Target, now: SystemTime) -> Report {
    let t = target.connect_timeout;
    let pgpool = host_port(&target.pgpool_host, target.pgpool_port);
    let ep = target.endpoint(
        &target.pgpool_host,
        target.pgpool_port,
        &target.pgpool_user,
        &target.pgpool_database,
    );
    let pool_nodes = probe::with_session(&ep, t, |s| s.rows("SHOW pool_nodes"))
        .map_err(|e| e.to_string())
        .and_then(|rows| {
            parse::pool_nodes(&rows).map_err(|e| format!("show pool_nodes on {pgpool}: {e}"))
        });
    let mut report = Report {
        generated_at: now,
        pgpool,
        pool_nodes,
        nodes: Vec::new(),
        repmgr: Err("not read: no database host known (pgpool did not answer)".into()),
        disk_path: target.disk_path.clone(),
    };
    let Ok(backends) = &report.pool_nodes else {
        return report;
    };
    let hosts: Vec<(String, u16)> = dedup(backends.iter().map(|b| (b.hostname.clone(), b.port)));
    let (mut nodes, mut metas) = probe_nodes(target, &hosts);

    let mut meta = pick_meta(&nodes, &metas, backends);
    // Nodes that only repmgr knows.
    if let Ok(m) = &meta {
        let extra: Vec<(String, u16)> = dedup(
            m.nodes
                .iter()
                .filter_map(|n| parse::conninfo_host_port(&n.conninfo).ok())
                .filter(|hp| !hosts.contains(hp)),
        );
        if !extra.is_empty() {
            let (more, more_metas) = probe_nodes(target, &extra);
            nodes.extend(more);
            metas.extend(more_metas);
        }
    } else {
        meta = pick_meta(&nodes, &metas, backends);
    }
    if let Ok(m) = &meta {
        for n in nodes.iter_mut() {
            let entry = m.nodes.iter().find(|r| {
                parse::conninfo_host_port(&r.conninfo).ok().as_ref()
                    == Some(&(n.host.clone(), n.port))
            });
            n.name = entry.map(|r| r.name.clone());
            n.role = entry.map(|r| r.role.clone());
        }
    }
    report.nodes = nodes;
    report.repmgr = meta;
    report
}

fn dedup(items: impl Iterator<Item = (String, u16)>) -> Vec<(String, u16)> {
    let mut seen = BTreeSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

/// Probes hosts concurrently: database session and ssh `df` per host.
fn probe_nodes(
    target: &Target,
    hosts: &[(String, u16)],
) -> (Vec<NodeReport>, Vec<Result<RepmgrMeta, String>>) {
    let t = target.connect_timeout;
    // Each worker bounds itself; this is the backstop.
    let deadline = Instant::now() + t + Duration::from_millis(500);
    let mut pending = Vec::new();
    for (host, port) in hosts {
        let ep = target.endpoint(host, *port, &target.repmgr_user, &target.repmgr_database);
        let db = spawn(move || probe_node(&ep, t));
        let st = ssh::SshTarget {
            host: host.clone(),
            port: target.ssh_port,
            user: target.ssh_user.clone(),
            key: target.ssh_key.clone(),
            known_hosts: target.ssh_known_hosts.clone(),
            home: target.ssh_home.clone(),
            timeout: t,
        };
        let path = target.disk_path.clone();
        let disk = spawn(move || ssh::disk_use(&st, &path));
        pending.push((host.clone(), *port, db, disk));
    }
    let mut nodes = Vec::new();
    let mut metas = Vec::new();
    for (host, port, db, disk) in pending {
        let hp = host_port(&host, port);
        let (state, meta) = match collect(&db, deadline, &format!("connect {hp}"), t) {
            Ok((s, m)) => (Ok(s), m),
            Err(e) => (Err(e.clone()), Err(e)),
        };
        let disk = collect(
            &disk,
            deadline,
            &format!("ssh {}", host_port(&host, target.ssh_port)),
            t,
        );
        metas.push(meta);
        nodes.push(NodeReport {
            host,
            port,
            name: None,
            role: None,
            state,
            disk,
        });
    }
    (nodes, metas)
}

/// The metadata of the live primary, else of pgpool's primary, else of any
/// node that had it; else the first reason.
fn pick_meta(
    nodes: &[NodeReport],
    metas: &[Result<RepmgrMeta, String>],
    backends: &[Backend],
) -> Result<RepmgrMeta, String> {
    let pairs: Vec<(&NodeReport, &Result<RepmgrMeta, String>)> = nodes.iter().zip(metas).collect();
    let is_pool_primary = |n: &NodeReport| {
        backends
            .iter()
            .any(|b| b.role == Role::Primary && b.hostname == n.host && b.port == n.port)
    };
    let ranked = pairs
        .iter()
        .filter(|(n, _)| n.is_live_primary())
        .chain(pairs.iter().filter(|(n, _)| is_pool_primary(n)))
        .chain(pairs.iter());
    let mut first_err = None;
    for (_, m) in ranked {
        match m {
            Ok(m) => return Ok(m.clone()),
            Err(e) => {
                first_err.get_or_insert_with(|| e.clone());
            }
        }
    }
    Err(first_err.unwrap_or_else(|| "no database node to read it from".into()))
}

/// One session on a database node: role, WAL positions, replication, and
/// repmgr's metadata (whose failure does not fail the node).
fn probe_node(
    ep: &Endpoint,
    t: Duration,
) -> Result<(NodeState, Result<RepmgrMeta, String>), String> {
    let database = ep.database.clone();
    probe::with_session(ep, t, move |s| {
        let r = s.row(
            "SELECT current_setting('server_version_num') AS version_num, \
             pg_is_in_recovery() AS in_recovery",
        )?;
        let version: u32 = r
            .get("version_num")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                ProbeError::failed(
                    s.host(),
                    s.port(),
                    "query (server_version_num)",
                    "not a number",
                )
            })?;
        let in_recovery = r.get("in_recovery").map(String::as_str) == Some("t");
        let names = parse::wal_names(version);
        let mut state = NodeState {
            server_version_num: version,
            in_recovery,
            current_lsn: None,
            receive_lsn: None,
            replay_lsn: None,
            senders: Vec::new(),
            receiver: None,
        };
        if in_recovery {
            let r = s.row(&format!(
                "SELECT {} AS receive_lsn, {} AS replay_lsn",
                names.receive_fn, names.replay_fn
            ))?;
            state.receive_lsn = r.get("receive_lsn").cloned();
            state.replay_lsn = r.get("replay_lsn").cloned();
            state.receiver = parse::receiver(&s.rows("SELECT * FROM pg_stat_wal_receiver")?);
        } else {
            let r = s.row(&format!("SELECT {} AS current_lsn", names.current_fn))?;
            state.current_lsn = r.get("current_lsn").cloned();
            state.senders = parse::senders(
                &s.rows("SELECT * FROM pg_stat_replication ORDER BY application_name")?,
                version,
            );
        }
        let meta = read_meta(s, &database);
        Ok((state, meta))
    })
    .map_err(|e| e.to_string())
}

fn read_meta(s: &mut Session, database: &str) -> Result<RepmgrMeta, String> {
    let source = host_port(s.host(), s.port());
    let detect = s.row(parse::DETECT_SCHEMA_SQL).map_err(|e| e.to_string())?;
    let schema = parse::repmgr_schema(&detect).ok_or_else(|| {
        format!(
            "no repmgr metadata in database {database} on {source} (neither repmgr.nodes nor repmgr_<cluster>.repl_nodes)"
        )
    })?;
    let rows = s.rows(&schema.nodes_sql()).map_err(|e| e.to_string())?;
    let nodes = parse::repmgr_nodes(&rows)
        .map_err(|e| format!("{} on {source}: {e}", schema.nodes_table()))?;
    let events = s
        .row(&schema.events_sql())
        .map_err(|e| e.to_string())
        .and_then(|r| parse::event_counts(&r));
    Ok(RepmgrMeta {
        source,
        table: schema.nodes_table(),
        nodes,
        events,
    })
}

/// Runs poolstatus for `[poolstatus]` settings: prints the report (text or
/// JSON) to stdout and returns the Nagios exit code (0, 1, 2). This is the
/// whole of `poolstatus`'s main once its command line and settings are read.
pub fn main_with(settings: &crate::config::Settings, json: bool) -> u8 {
    let os_user = crate::config::credentials_user(&settings.general.poolstatus_user);
    run_and_print(&Target::from_settings(&settings.poolstatus, &os_user), json)
}

/// [`main_with`] for an explicit [`Target`].
pub fn run_and_print(target: &Target, json: bool) -> u8 {
    let report = run(target, SystemTime::now());
    let text = if json {
        format!("{}\n", report.render_json())
    } else {
        report.render_text()
    };
    let mut out = std::io::stdout().lock();
    // A closed stdout (poolstatus | head) must not turn into a panic.
    let _ = std::io::Write::write_all(&mut out, text.as_bytes());
    let _ = std::io::Write::flush(&mut out);
    report.status().exit_code()
}
