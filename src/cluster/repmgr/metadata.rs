//! repmgr's metadata, read inside an open session: which layout the
//! database holds (repmgr 4+ `repmgr.nodes`, else 3.x
//! `repmgr_<cluster>.repl_nodes`), its node rows ([`read_nodes`], what both
//! repmgrwatch and poolstatus need) and its event counts
//! ([`read_metadata`], poolstatus's whole read). The queries themselves are
//! [`text::RepmgrSchema`]'s and [`text::DETECT_SCHEMA_SQL`], next to the pure
//! readers of their answers; this is the only code that runs them.

use std::fmt;

use crate::cluster::error::ProbeError;
use crate::cluster::session::Session;
use crate::cluster::text::{self, ParseError, RepmgrNode, RepmgrSchema};
use crate::plumbing::net::host_port;

/// Why repmgr's metadata (or a part of it) could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaError {
    /// A query failed (the session's error: step, host:port, detail).
    Probe(ProbeError),
    /// `database` on `source` (host:port) holds neither repmgr 4.x+ nor
    /// 3.x metadata.
    NoMetadata { database: String, source: String },
    /// The node rows of `table` (`repmgr.nodes`, `repmgr_x.repl_nodes`) read
    /// from `source` (host:port) could not be read.
    Unreadable {
        table: String,
        source: String,
        error: ParseError,
    },
    /// The event counts could not be read (no number in a column).
    Counts(ParseError),
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::Probe(e) => write!(f, "{e}"),
            MetaError::NoMetadata { database, source } => write!(
                f,
                "no repmgr metadata in database {database} on {source} (neither repmgr.nodes nor repmgr_<cluster>.repl_nodes)"
            ),
            MetaError::Unreadable {
                table,
                source,
                error,
            } => write!(f, "{table} on {source}: {error}"),
            MetaError::Counts(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MetaError {}

impl From<ProbeError> for MetaError {
    fn from(e: ProbeError) -> MetaError {
        MetaError::Probe(e)
    }
}

/// repmgr's metadata as read from one node.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// `host:port` it was read from.
    pub source: String,
    /// Which layout it was read from.
    pub schema: RepmgrSchema,
    pub nodes: Vec<RepmgrNode>,
    /// Event counts (all, last 24 h), or why they could not be read
    /// ([`MetaError::Probe`] or [`MetaError::Counts`]).
    pub events: Result<(u64, u64), MetaError>,
    /// When its newest event was written (Unix seconds; `None`: no event,
    /// or unreadable).
    pub last_event: Option<f64>,
}

/// Which layout `database` (the session's database) holds, and its node
/// rows. A failed query is a [`MetaError::Probe`].
pub fn read_nodes(
    s: &mut Session,
    database: &str,
) -> Result<(RepmgrSchema, Vec<RepmgrNode>), MetaError> {
    let source = host_port(s.host(), s.port());
    let detect = s.row(text::DETECT_SCHEMA_SQL)?;
    let schema = text::repmgr_schema(&detect).ok_or_else(|| MetaError::NoMetadata {
        database: database.to_string(),
        source: source.clone(),
    })?;
    let rows = s.rows(&schema.nodes_sql())?;
    let nodes = text::repmgr_nodes(&rows).map_err(|error| MetaError::Unreadable {
        table: schema.nodes_table(),
        source,
        error,
    })?;
    Ok((schema, nodes))
}

/// The whole metadata of `database` (the session's database): its layout,
/// node rows and event counts. Events that cannot be counted do not fail
/// the read (they are [`Metadata::events`]).
pub fn read_metadata(s: &mut Session, database: &str) -> Result<Metadata, MetaError> {
    let source = host_port(s.host(), s.port());
    let (schema, nodes) = read_nodes(s, database)?;
    let row = s.row(&schema.events_sql()).map_err(MetaError::Probe);
    let last_event = row.as_ref().ok().and_then(text::last_event_epoch);
    let events = row.and_then(|r| text::event_counts(&r).map_err(MetaError::Counts));
    Ok(Metadata {
        source,
        schema,
        nodes,
        events,
        last_event,
    })
}
