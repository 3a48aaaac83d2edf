//! repmgrwatch's masters probe: the active primary/standby nodes in repmgr's
//! metadata at `repmgr_host` (repmgr 4/5 `repmgr.nodes`, else 3.x
//! `repmgr_*.repl_nodes`), each asked `pg_is_in_recovery()` in parallel
//! within `connect_timeout`; the masters are the active nodes answering
//! false. A witness (or a node of an unknown type) is never a candidate: it
//! is writable by design and would count as a second master. The inactive
//! primary/standby nodes (an old primary after a failover) are asked too,
//! in the same parallel round, never to count them as masters but to see
//! a stale one that answers as primary ([`stale_primaries_of`]).
//!
//! The same session reads what the API port shows ([`probe_nodes`]): the
//! node's WAL position (the current LSN on a master, the replay LSN on a
//! standby) and its WAL receiver (status, and the sender on PostgreSQL 11+).

use std::fmt;
use std::sync::Mutex;

pub use super::endpoint::node_endpoint;
use super::endpoint::EndpointError;
use super::error::{host_port, ProbeError};
use super::session::{with_session, Endpoint};
use crate::cluster::text;
use crate::config::Settings;

/// Why the masters could not be listed.
#[derive(Debug, Clone, PartialEq)]
pub enum MastersError {
    /// repmgr's metadata database did not answer.
    Read(ProbeError),
    /// It answered, but holds no repmgr metadata.
    NoMetadata { at: String },
    /// The metadata rows could not be read.
    Unreadable { at: String, detail: String },
    /// No active primary or standby node is registered.
    NoCandidates { at: String },
}

impl fmt::Display for MastersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MastersError::Read(e) => write!(f, "read repmgr nodes: {e}"),
            MastersError::NoMetadata { at } => write!(
                f,
                "read repmgr nodes at {at}: no repmgr metadata (neither repmgr.nodes nor repmgr_*.repl_nodes)"
            ),
            MastersError::Unreadable { at, detail } => {
                write!(f, "read repmgr nodes at {at}: {detail}")
            }
            MastersError::NoCandidates { at } => write!(
                f,
                "read repmgr nodes: no active primary or standby node at {at}"
            ),
        }
    }
}

impl std::error::Error for MastersError {}

/// Why one node said nothing usable.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeError {
    /// The node cannot be asked (its conninfo cannot be read).
    Endpoint(EndpointError),
    /// The probe failed (connect, timeout, SQL).
    Probe(ProbeError),
    /// `pg_is_in_recovery()` gave neither true nor false (`None`: no value).
    Recovery(Option<String>),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Endpoint(e) => write!(f, "{e}"),
            NodeError::Probe(e) => write!(f, "{e}"),
            NodeError::Recovery(r) => write!(f, "pg_is_in_recovery() returned {r:?}"),
        }
    }
}

impl std::error::Error for NodeError {}

/// What one node answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    /// The current WAL LSN on a master, the replay LSN on a standby, as a
    /// byte position (`None`: unreadable, or NULL).
    pub lsn: Option<u64>,
    /// `pg_stat_wal_receiver`'s row, if there is one.
    pub receiver: Option<WalReceiver>,
}

/// A standby's WAL receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalReceiver {
    /// `status`: `streaming`, `starting`, `catchup`, `stopping`, ...
    pub status: String,
    /// `sender_host` (PostgreSQL 11+; `None` before, or without the
    /// privilege to see it).
    pub sender_host: Option<String>,
    /// `sender_port` (PostgreSQL 11+).
    pub sender_port: Option<u16>,
}

/// One active primary/standby node of repmgr's metadata, as probed.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeAnswer {
    /// Its `node_name`.
    pub name: String,
    /// Whether the metadata marks it active (`false`: failed over or
    /// failed; never a master).
    pub active: bool,
    /// Where it was asked (from its conninfo); `None` when the conninfo
    /// could not be read.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// What it said, or why it said nothing.
    pub answer: Result<NodeStatus, NodeError>,
}

impl NodeAnswer {
    /// Whether it answered as a master (`pg_is_in_recovery() = false`).
    pub fn is_master(&self) -> bool {
        matches!(&self.answer, Ok(s) if !s.in_recovery)
    }
}

/// The names of the active nodes answering `pg_is_in_recovery() = false`.
pub fn masters_of(nodes: &[NodeAnswer]) -> Vec<String> {
    for n in nodes.iter().filter(|n| n.active) {
        if let Err(e) = &n.answer {
            log::debug!("repmgrwatch: node {} does not answer: {e}", n.name);
        }
    }
    nodes
        .iter()
        .filter(|n| n.active && n.is_master())
        .map(|n| n.name.clone())
        .collect()
}

/// The names of the nodes the metadata marks inactive that answer
/// `pg_is_in_recovery() = false`: stale primaries (split brain).
pub fn stale_primaries_of(nodes: &[NodeAnswer]) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| !n.active && n.is_master())
        .map(|n| n.name.clone())
        .collect()
}

/// The names of the active nodes answering `pg_is_in_recovery() = false`.
pub fn probe_masters(settings: &Settings) -> Result<Vec<String>, MastersError> {
    probe_nodes(settings).map(|nodes| masters_of(&nodes))
}

/// The SQL that reads a node's status for `server_version_num` `version`.
fn status_sql(version: u32) -> &'static str {
    if version >= 110_000 {
        "SELECT pg_is_in_recovery()::text AS r, \
         (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn, \
         (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS wr_status, \
         (SELECT sender_host FROM pg_stat_wal_receiver LIMIT 1) AS wr_host, \
         (SELECT sender_port::text FROM pg_stat_wal_receiver LIMIT 1) AS wr_port"
    } else if version >= 100_000 {
        "SELECT pg_is_in_recovery()::text AS r, \
         (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn, \
         (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS wr_status"
    } else {
        "SELECT pg_is_in_recovery()::text AS r, \
         (CASE WHEN pg_is_in_recovery() THEN pg_last_xlog_replay_location() ELSE pg_current_xlog_location() END)::text AS lsn, \
         (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS wr_status"
    }
}

/// Reads a [`NodeStatus`] from the row of [`status_sql`].
fn node_status(row: &crate::cluster::TextRow) -> Result<NodeStatus, NodeError> {
    let in_recovery = match row.get("r").map(String::as_str) {
        Some("true") => true,
        Some("false") => false,
        other => return Err(NodeError::Recovery(other.map(str::to_string))),
    };
    let receiver = row.get("wr_status").map(|status| WalReceiver {
        status: status.clone(),
        sender_host: row.get("wr_host").cloned(),
        sender_port: row.get("wr_port").and_then(|p| p.parse().ok()),
    });
    Ok(NodeStatus {
        in_recovery,
        lsn: row.get("lsn").and_then(|l| text::parse_lsn(l)),
        receiver,
    })
}

/// Every primary/standby node of repmgr's metadata (the active ones, which
/// can be the master, and the inactive ones, which are watched for a stale
/// primary), each asked its status in parallel within `connect_timeout`.
pub fn probe_nodes(settings: &Settings) -> Result<Vec<NodeAnswer>, MastersError> {
    let r = &settings.repmgr;
    let os_user = crate::config::credentials_user(&settings.general.poolstatus_user);
    let at = host_port(&r.repmgr_host, r.repmgr_port);
    let ep = Endpoint::for_os_user(
        &os_user,
        &r.repmgr_host,
        r.repmgr_port,
        &r.repmgr_user,
        &r.repmgr_database,
        &r.tls,
    );
    let nodes = with_session(&ep, r.connect_timeout, |s| {
        let detect = s.row(text::DETECT_SCHEMA_SQL)?;
        let Some(schema) = text::repmgr_schema(&detect) else {
            return Ok(None);
        };
        Ok(Some(text::repmgr_nodes(&s.rows(&schema.nodes_sql())?)))
    })
    .map_err(MastersError::Read)?
    .ok_or_else(|| MastersError::NoMetadata { at: at.clone() })?
    .map_err(|detail| MastersError::Unreadable {
        at: at.clone(),
        detail: detail.to_string(),
    })?;
    let inactive: Vec<text::RepmgrNode> = nodes
        .iter()
        .filter(|n| !n.active && matches!(n.role, text::Role::Primary | text::Role::Standby))
        .cloned()
        .collect();
    let (mut nodes, unknown) = text::master_candidates(nodes);
    warn_unknown_once(unknown, &at);
    if nodes.is_empty() {
        return Err(MastersError::NoCandidates { at });
    }
    nodes.extend(inactive);
    let answers: Vec<NodeAnswer> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                let name = node.name.clone();
                let active = node.active;
                let ep = node_endpoint(node, r, &os_user).map_err(NodeError::Endpoint);
                let timeout = r.connect_timeout;
                scope.spawn(move || {
                    let (host, port) = match &ep {
                        Ok(ep) => (Some(ep.host.clone()), Some(ep.port)),
                        Err(_) => (None, None),
                    };
                    let answer = ep.and_then(|ep| {
                        with_session(&ep, timeout, |s| {
                            let v = s.row("SHOW server_version_num")?;
                            let version = v
                                .get("server_version_num")
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(0);
                            s.row(status_sql(version))
                        })
                        .map_err(NodeError::Probe)
                        .and_then(|row| node_status(&row))
                    });
                    NodeAnswer {
                        name,
                        active,
                        host,
                        port,
                        answer,
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    Ok(answers)
}

/// Logs each (node, type) that is neither primary nor standby once.
fn warn_unknown_once(unknown: Vec<(String, String)>, at: &str) {
    static WARNED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    for (name, kind) in unknown {
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        if !warned.contains(&(name.clone(), kind.clone())) {
            log::warn!(
                "repmgrwatch: node {name} in repmgr's metadata at {at} has type {kind:?}, \
                 neither primary nor standby; it is never counted as a master (logged once)"
            );
            warned.push((name, kind));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conninfo_keys_and_quoted_values() {
        let got = crate::cluster::text::conninfo_pairs(
            "host=db1 port = 5433 user='re pm\\'gr' dbname=repmgr connect_timeout=2",
        )
        .expect("valid conninfo");
        assert_eq!(
            got,
            vec![
                ("host".to_string(), "db1".to_string()),
                ("port".to_string(), "5433".to_string()),
                ("user".to_string(), "re pm'gr".to_string()),
                ("dbname".to_string(), "repmgr".to_string()),
                ("connect_timeout".to_string(), "2".to_string()),
            ]
        );
        assert_eq!(crate::cluster::text::conninfo_pairs(""), Ok(vec![]));
        assert!(crate::cluster::text::conninfo_pairs("garbage").is_err());
    }
}
