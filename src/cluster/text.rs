//! Pure readers for what the cluster answers: `show pool_nodes` rows, repmgr
//! metadata rows (3.x and 4.x+ schemas), replication rows, LSNs and `df -P`
//! output (conninfo strings: [`crate::conninfo`]). No I/O here, so recorded
//! outputs in `tests/fixtures/poolstatus` feed these functions directly.
//! One file per topic; this one holds what they share ([`Role`],
//! [`ParseError`]) and names everything at `cluster::text::*`.

use crate::conninfo::ConninfoError;
use std::fmt;

mod df;
mod pool_nodes;
mod replication;
mod repmgr;

pub use df::{df, DiskUse};
pub use pool_nodes::{pool_nodes, Backend, POOL_NODES_COLUMNS};
pub use replication::{
    lsn_lag, parse_lsn, receiver, senders, stat_replication_columns, wal_names, Receiver, Sender,
    WalNames, STAT_REPLICATION_COLUMNS,
};
pub use repmgr::{
    event_counts, last_event_epoch, master_candidates, repmgr_nodes, repmgr_schema, Candidacy,
    RepmgrNode, RepmgrSchema, DETECT_SCHEMA_SQL,
};

/// The role pgpool or repmgr gives a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `primary` (pgpool 3.6+ and repmgr 4+) or `master` (repmgr 3.x).
    Primary,
    /// `standby` or `slave`.
    Standby,
    /// A repmgr witness (`witness`, repmgr 3.x to 5.x): a PostgreSQL of its
    /// own outside the replication, so never in recovery and never a master.
    Witness,
    /// Anything else (`bdr`, empty), kept as written.
    Other(String),
}

impl Role {
    /// Reads a role word, any case.
    pub fn parse(s: &str) -> Role {
        match s.trim().to_ascii_lowercase().as_str() {
            "primary" | "master" => Role::Primary,
            "standby" | "slave" => Role::Standby,
            "witness" => Role::Witness,
            other => Role::Other(other.to_string()),
        }
    }

    /// `primary`, `standby`, `witness` or the word as written.
    pub fn as_str(&self) -> &str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
            Role::Witness => "witness",
            Role::Other(s) => s,
        }
    }
}

/// Why an answer of the cluster could not be read. `Display` names the row
/// or column (the caller adds the host and the query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Row `row` (from 1) has none of the columns (alternatives joined by
    /// ` or `).
    NoColumn { row: usize, column: String },
    /// Row `row` (from 1) has a `port` that is not a port number.
    BadPort { row: usize, value: String },
    /// The column holds no unsigned number (event counts).
    NoNumber { column: String },
    /// `df` printed nothing.
    DfEmpty,
    /// `df`'s first line is not its `Filesystem ...` header.
    DfHeader { line: String },
    /// `df` printed its header but no file system line.
    DfNoFilesystem,
    /// The file system line holds no `size used available use%` figures.
    DfNoUse { line: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NoColumn { row, column } => write!(f, "row {row}: no column {column}"),
            ParseError::BadPort { row, value } => {
                write!(f, "row {row}: port {value:?} is not a port number")
            }
            ParseError::NoNumber { column } => write!(f, "no number in column {column}"),
            ParseError::DfEmpty => write!(f, "df printed nothing"),
            ParseError::DfHeader { line } => write!(f, "df: unexpected header {line:?}"),
            ParseError::DfNoFilesystem => write!(f, "df printed no file system line"),
            ParseError::DfNoUse { line } => write!(f, "df: cannot read use% from {line:?}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Host and port of a libpq conninfo of either form, with libpq's
/// defaults (`localhost`, 5432): a shim over [`crate::conninfo::parse`].
pub fn conninfo_host_port(conninfo: &str) -> Result<(String, u16), ConninfoError> {
    Ok(crate::conninfo::parse(conninfo)?.host_port())
}

/// The `key=value` pairs of a conninfo in that form: a shim over
/// [`crate::conninfo::pairs`].
pub fn conninfo_pairs(s: &str) -> Result<Vec<(String, String)>, ConninfoError> {
    crate::conninfo::pairs(s)
}

#[cfg(test)]
mod tests;

/// A row as the sessions return it, from (column, value) pairs: for the
/// fixtures, the fuzz targets and tests.
pub fn row_of(pairs: &[(&str, &str)]) -> crate::cluster::TextRow {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
