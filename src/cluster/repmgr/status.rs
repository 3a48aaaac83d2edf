//! What a database node of repmgr's cluster says about itself, each read in
//! one bounded session: [`node_status`] for repmgrwatch (in recovery or
//! not, its WAL position, its WAL receiver: one query sized for the check
//! loop) and [`node_state`] for poolstatus (version, the WAL positions, the
//! replication rows, and repmgr's metadata in the same session).

use std::fmt;
use std::time::Duration;

use super::metadata::{read_metadata, MetaError, Metadata};
use crate::cluster::endpoint::{Endpoint, EndpointError};
use crate::cluster::error::ProbeError;
use crate::cluster::session::{with_session, Session, TextRow};
use crate::cluster::text::{self, Receiver, Sender};

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

/// What one node answered repmgrwatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    /// The current WAL LSN on a master, the replay LSN on a standby, as a
    /// byte position (`None`: unreadable, or NULL).
    pub lsn: Option<u64>,
    /// `pg_stat_wal_receiver`'s row, if there is one.
    pub receiver: Option<WalReceiver>,
    /// A standby's last received LSN (`None` on a master, or NULL: no
    /// WAL received by streaming since it started).
    pub receive_lsn: Option<u64>,
    /// A standby's `now() - pg_last_xact_replay_timestamp()`: how long ago
    /// the last replayed transaction committed on the master, by the
    /// standby's clock (negative skew reads as zero; `None` on a master,
    /// or no transaction replayed since the standby started).
    pub replay_age: Option<Duration>,
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

/// The SQL that reads a node's status for `server_version_num` `version`.
/// On a standby it also reads the receive LSN and how long ago the last
/// replayed transaction committed on the master (`now() -
/// pg_last_xact_replay_timestamp()`, seconds), for the time lag.
fn status_sql(version: u32) -> String {
    let n = text::wal_names(version);
    let sender = if version >= 110_000 {
        ", (SELECT sender_host FROM pg_stat_wal_receiver LIMIT 1) AS wr_host, \
         (SELECT sender_port::text FROM pg_stat_wal_receiver LIMIT 1) AS wr_port"
    } else {
        ""
    };
    format!(
        "SELECT pg_is_in_recovery()::text AS r, \
         (CASE WHEN pg_is_in_recovery() THEN {replay} ELSE {current} END)::text AS lsn, \
         (CASE WHEN pg_is_in_recovery() THEN {receive} END)::text AS receive_lsn, \
         (CASE WHEN pg_is_in_recovery() THEN \
         extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END)::text AS replay_age, \
         (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS wr_status{sender}",
        replay = n.replay_fn,
        current = n.current_fn,
        receive = n.receive_fn,
    )
}

/// Reads a [`NodeStatus`] from the row of [`status_sql`].
fn status_of(row: &TextRow) -> Result<NodeStatus, NodeError> {
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
        receive_lsn: row.get("receive_lsn").and_then(|l| text::parse_lsn(l)),
        replay_age: row
            .get("replay_age")
            .and_then(|a| a.trim().parse::<f64>().ok())
            .and_then(|secs| Duration::try_from_secs_f64(secs.max(0.0)).ok()),
    })
}

/// repmgrwatch's question to one node, within `timeout`: is it in
/// recovery, where is its WAL, which WAL receiver runs.
pub fn node_status(ep: &Endpoint, timeout: Duration) -> Result<NodeStatus, NodeError> {
    with_session(ep, timeout, |s| {
        let v = s.row("SHOW server_version_num")?;
        let version = v
            .get("server_version_num")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        s.row(&status_sql(version))
    })
    .map_err(NodeError::Probe)
    .and_then(|row| status_of(&row))
}

/// What one database node told poolstatus.
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

/// poolstatus's read of one node, in one session within `timeout`: role,
/// WAL positions, replication, and repmgr's metadata in `ep`'s database
/// (whose failure does not fail the node).
pub fn node_state(
    ep: &Endpoint,
    timeout: Duration,
) -> Result<(NodeState, Result<Metadata, MetaError>), ProbeError> {
    let database = ep.database.clone();
    with_session(ep, timeout, move |s| {
        let state = read_state(s)?;
        let meta = read_metadata(s, &database);
        Ok((state, meta))
    })
}

/// The [`NodeState`] part of [`node_state`].
fn read_state(s: &mut Session) -> Result<NodeState, ProbeError> {
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
    let names = text::wal_names(version);
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
        state.receiver = text::receiver(&s.rows("SELECT * FROM pg_stat_wal_receiver")?);
    } else {
        let r = s.row(&format!("SELECT {} AS current_lsn", names.current_fn))?;
        state.current_lsn = r.get("current_lsn").cloned();
        state.senders = text::senders(
            &s.rows("SELECT * FROM pg_stat_replication ORDER BY application_name")?,
            version,
        );
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cluster::text::row_of as row;

    #[test]
    fn status_row_reads_recovery_lsn_and_receiver() {
        let got = status_of(&row(&[
            ("r", "true"),
            ("lsn", "0/3000060"),
            ("wr_status", "streaming"),
            ("wr_host", "db1"),
            ("wr_port", "5432"),
            ("receive_lsn", "0/3000100"),
            ("replay_age", "12.5"),
        ]));
        assert_eq!(
            got,
            Ok(NodeStatus {
                in_recovery: true,
                lsn: text::parse_lsn("0/3000060"),
                receiver: Some(WalReceiver {
                    status: "streaming".into(),
                    sender_host: Some("db1".into()),
                    sender_port: Some(5432),
                }),
                receive_lsn: text::parse_lsn("0/3000100"),
                replay_age: Some(Duration::from_millis(12_500)),
            })
        );
        // Clock skew (the master ahead of the standby) reads as no age.
        let skewed = status_of(&row(&[("r", "true"), ("replay_age", "-0.25")]));
        assert_eq!(skewed.map(|s| s.replay_age), Ok(Some(Duration::ZERO)));
        let master = status_of(&row(&[("r", "false")]));
        assert_eq!(
            master,
            Ok(NodeStatus {
                in_recovery: false,
                lsn: None,
                receiver: None,
                receive_lsn: None,
                replay_age: None,
            })
        );
        assert_eq!(
            status_of(&row(&[("r", "t")])),
            Err(NodeError::Recovery(Some("t".into())))
        );
        assert_eq!(status_of(&row(&[])), Err(NodeError::Recovery(None)));
    }

    #[test]
    fn status_sql_follows_the_server_version() {
        assert!(status_sql(150_000).contains("sender_host"));
        assert!(status_sql(100_000).contains("pg_current_wal_lsn()"));
        assert!(!status_sql(100_000).contains("sender_host"));
        assert!(status_sql(90_600).contains("pg_current_xlog_location()"));
        assert!(status_sql(90_600).contains("pg_last_xlog_receive_location()"));
        assert!(status_sql(170_000).contains("pg_last_wal_receive_lsn()"));
        assert!(status_sql(90_600).contains("pg_last_xact_replay_timestamp()"));
    }
}
