//! repmgr: the only code that reads repmgr's metadata and asks its nodes
//! how they are, for repmgrwatch and poolstatus alike.
//!
//! - [`metadata`]: the schema detection (repmgr 4/5 `repmgr.nodes`, else
//!   3.x `repmgr_*.repl_nodes`), the node rows and the event counts.
//! - [`status`]: a node's own answer, one read per purpose: repmgrwatch's
//!   [`node_status`], poolstatus's [`node_state`] (which reads the metadata
//!   in the same session).
//!
//! This file is repmgrwatch's masters probe: the active primary/standby
//! nodes in repmgr's metadata at `repmgr_host`, each asked its status in
//! parallel within `connect_timeout`; the masters are the active nodes
//! answering `pg_is_in_recovery() = false`. A witness (or a node of an
//! unknown type) is never a candidate: it is writable by design and would
//! count as a second master. The inactive primary/standby nodes (an old
//! primary after a failover) are asked too, in the same parallel round,
//! never to count them as masters but to see a stale one that answers as
//! primary ([`stale_primaries_of`]).
//!
//! The same session reads what the API port shows ([`probe_nodes`]): the
//! node's WAL position (the current LSN on a master, the replay LSN on a
//! standby) and its WAL receiver (status, and the sender on PostgreSQL 11+).

mod metadata;
mod status;

use std::fmt;
use std::sync::Mutex;

pub use super::endpoint::node_endpoint;
use super::error::ProbeError;
use super::session::{with_session, Endpoint};
use crate::cluster::text;
use crate::config::Settings;
use crate::plumbing::net::host_port;
pub use metadata::{read_metadata, read_nodes, MetaError, Metadata};
pub use status::{node_state, node_status, NodeError, NodeState, NodeStatus, WalReceiver};

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

/// Every primary/standby node of repmgr's metadata (the active ones, which
/// can be the master, and the inactive ones, which are watched for a stale
/// primary), each asked its status in parallel within `connect_timeout`.
pub fn probe_nodes(settings: &Settings) -> Result<Vec<NodeAnswer>, MastersError> {
    probe_nodes_at(settings).map(|v| v.into_iter().map(|(n, _)| n).collect())
}

/// [`probe_nodes`], each answer with the endpoint it was asked at (`None`
/// when its conninfo could not be read): the watchers' fast path holds a
/// session there.
pub fn probe_nodes_at(
    settings: &Settings,
) -> Result<Vec<(NodeAnswer, Option<Endpoint>)>, MastersError> {
    let r = &settings.repmgr;
    let os_user = crate::account::credentials_user(&settings.general.poolstatus_user);
    let at = host_port(&r.repmgr_host, r.repmgr_port);
    let ep = Endpoint::for_os_user(
        &os_user,
        &r.repmgr_host,
        r.repmgr_port,
        &r.repmgr_user,
        &r.repmgr_database,
        &r.tls,
    );
    let database = ep.database.clone();
    let (_, nodes) = with_session(&ep, r.connect_timeout, move |s| {
        match read_nodes(s, &database) {
            Err(MetaError::Probe(e)) => Err(e),
            other => Ok(other),
        }
    })
    .map_err(MastersError::Read)?
    .map_err(|e| match e {
        MetaError::Probe(e) => MastersError::Read(e),
        MetaError::NoMetadata { .. } => MastersError::NoMetadata { at: at.clone() },
        MetaError::Unreadable { error, .. } | MetaError::Counts(error) => {
            MastersError::Unreadable {
                at: at.clone(),
                detail: error.to_string(),
            }
        }
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
    let answers: Vec<(NodeAnswer, Option<Endpoint>)> = std::thread::scope(|scope| {
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
                    let at = ep.as_ref().ok().cloned();
                    let answer = ep.and_then(|ep| node_status(&ep, timeout));
                    let node = NodeAnswer {
                        name,
                        active,
                        host,
                        port,
                        answer,
                    };
                    (node, at)
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
