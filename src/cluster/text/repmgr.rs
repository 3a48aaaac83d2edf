//! repmgr's metadata: which schema a database holds (3.x
//! `repmgr_<cluster>.repl_nodes` or 4.x+ `repmgr.nodes`), its node rows,
//! which of them can be the master, and the event counts.

use super::{ParseError, Role};
use crate::cluster::TextRow;
use crate::conninfo::MaskedConninfo;

/// A node as repmgr's metadata describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RepmgrNode {
    pub node_id: String,
    pub name: String,
    /// The `type` column: 4.x/5.x `primary standby witness bdr`, 3.x
    /// `master standby witness`.
    pub role: Role,
    pub upstream_node_id: Option<String>,
    /// Masked where it is read: a password in it never renders.
    pub conninfo: MaskedConninfo,
    pub active: bool,
}

/// Whether repmgrwatch asks a node of repmgr's metadata if it is the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidacy {
    /// An active `primary` or `standby` (3.x `master`/`standby`): asked.
    Candidate,
    /// Inactive, or a witness (writable by design, never a master): skipped.
    NotReplicated,
    /// A type repmgrwatch does not know (`bdr`, a future one): skipped, and
    /// the caller says so, since the original counted only `master` rows.
    UnknownType(String),
}

impl RepmgrNode {
    /// Whether this node can be the cluster's master. Only the replication's
    /// own nodes can: a witness runs as a primary of its own, so asking it
    /// `pg_is_in_recovery()` would count a second master. A node of an
    /// unknown type is not counted either: the original took only rows whose
    /// role said `master`, and repmgr's schema allows no other master type.
    pub fn candidacy(&self) -> Candidacy {
        match &self.role {
            _ if !self.active => Candidacy::NotReplicated,
            Role::Primary | Role::Standby => Candidacy::Candidate,
            Role::Witness => Candidacy::NotReplicated,
            Role::Other(t) => Candidacy::UnknownType(t.clone()),
        }
    }
}

/// Which repmgr metadata layout a database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepmgrSchema {
    /// repmgr 4.x and later: `repmgr.nodes`, `repmgr.events`.
    V4,
    /// repmgr 3.x: `repmgr_<cluster>.repl_nodes`, `.repl_events`.
    V3 { cluster_schema: String },
}

impl RepmgrSchema {
    /// The query listing the nodes.
    pub fn nodes_sql(&self) -> String {
        match self {
            RepmgrSchema::V4 => {
                "SELECT node_id, upstream_node_id, active, node_name, type, conninfo \
                 FROM repmgr.nodes ORDER BY node_id"
                    .to_string()
            }
            RepmgrSchema::V3 { cluster_schema } => format!(
                "SELECT id, type, upstream_node_id, cluster, name, conninfo, active \
                 FROM {}.repl_nodes ORDER BY id",
                quote_ident(cluster_schema)
            ),
        }
    }

    /// The query counting events, all and of the last 24 hours, and when
    /// the newest was written (see [`last_event_epoch`]).
    pub fn events_sql(&self) -> String {
        let table = match self {
            RepmgrSchema::V4 => "repmgr.events".to_string(),
            RepmgrSchema::V3 { cluster_schema } => {
                format!("{}.repl_events", quote_ident(cluster_schema))
            }
        };
        format!(
            "SELECT count(*) AS events_all, \
             count(*) FILTER (WHERE event_timestamp > now() - interval '24 hours') AS events_24h, \
             extract(epoch FROM max(event_timestamp))::text AS last_event_epoch \
             FROM {table}"
        )
    }

    /// The tables named in the report (`repmgr.nodes`, `repmgr_x.repl_nodes`).
    pub fn nodes_table(&self) -> String {
        match self {
            RepmgrSchema::V4 => "repmgr.nodes".into(),
            RepmgrSchema::V3 { cluster_schema } => format!("{cluster_schema}.repl_nodes"),
        }
    }
}

/// SQL that tells which schema exists: one row, column `v4` (`t`/`f`) and
/// `v3` (the first `repmgr_*` schema holding `repl_nodes`, or NULL).
pub const DETECT_SCHEMA_SQL: &str = "SELECT to_regclass('repmgr.nodes') IS NOT NULL AS v4, \
     (SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid \
      WHERE n.nspname LIKE 'repmgr\\_%' AND c.relname = 'repl_nodes' ORDER BY 1 LIMIT 1) AS v3";

/// Reads the answer of [`DETECT_SCHEMA_SQL`].
pub fn repmgr_schema(row: &TextRow) -> Option<RepmgrSchema> {
    if row.get("v4").map(String::as_str) == Some("t") {
        return Some(RepmgrSchema::V4);
    }
    row.get("v3").map(|s| RepmgrSchema::V3 {
        cluster_schema: s.clone(),
    })
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Reads repmgr node rows of either layout (4.x: `node_id node_name type`;
/// 3.x: `id name type` with `master`).
pub fn repmgr_nodes(rows: &[TextRow]) -> Result<Vec<RepmgrNode>, ParseError> {
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let get = |names: &[&str]| names.iter().find_map(|n| row.get(*n)).cloned();
        let need = |names: &[&str]| {
            get(names).ok_or_else(|| ParseError::NoColumn {
                row: i + 1,
                column: names.join(" or "),
            })
        };
        out.push(RepmgrNode {
            node_id: need(&["node_id", "id"])?,
            name: need(&["node_name", "name"])?,
            role: Role::parse(&need(&["type"])?),
            upstream_node_id: get(&["upstream_node_id"]).filter(|s| !s.is_empty()),
            conninfo: MaskedConninfo::new(&need(&["conninfo"])?),
            active: get(&["active"]).is_none_or(|a| a == "t" || a == "true"),
        });
    }
    Ok(out)
}

/// Splits repmgr's nodes for repmgrwatch: the candidates to ask
/// `pg_is_in_recovery()` ([`Candidacy::Candidate`]), and `(name, type)` of
/// each node skipped for an unknown type (for a warning).
pub fn master_candidates(nodes: Vec<RepmgrNode>) -> (Vec<RepmgrNode>, Vec<(String, String)>) {
    let mut unknown = Vec::new();
    let candidates = nodes
        .into_iter()
        .filter(|n| match n.candidacy() {
            Candidacy::Candidate => true,
            Candidacy::NotReplicated => false,
            Candidacy::UnknownType(t) => {
                unknown.push((n.name.clone(), t));
                false
            }
        })
        .collect();
    (candidates, unknown)
}

/// Event counts from [`RepmgrSchema::events_sql`]: (all, last 24 h).
pub fn event_counts(row: &TextRow) -> Result<(u64, u64), ParseError> {
    let num = |k: &str| {
        row.get(k)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| ParseError::NoNumber {
                column: k.to_string(),
            })
    };
    Ok((num("events_all")?, num("events_24h")?))
}

/// When the newest event of [`RepmgrSchema::events_sql`] was written, in
/// Unix seconds (`None`: no event, or unreadable). Two nodes that both run
/// as primary hold two copies of the metadata; the copy a promotion wrote
/// last is the newer one.
pub fn last_event_epoch(row: &TextRow) -> Option<f64> {
    row.get("last_event_epoch")?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|t| t.is_finite())
}
