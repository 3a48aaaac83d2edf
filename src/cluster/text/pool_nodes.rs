//! `show pool_nodes`: pgpool's view of its backends, read by column name
//! over the layouts of pgpool 3.6 to 4.5.

use super::{ParseError, Role};
use crate::cluster::TextRow;

/// Columns of `show pool_nodes` in the order pgpool prints them, over all
/// versions 3.6 to 4.5; rendering keeps this order and appends unknown ones.
pub const POOL_NODES_COLUMNS: &[&str] = &[
    "node_id",
    "hostname",
    "port",
    "status",
    "pg_status",
    "lb_weight",
    "role",
    "pg_role",
    "select_cnt",
    "load_balance_node",
    "replication_delay",
    "replication_state",
    "replication_sync_state",
    "last_status_change",
];

/// One row of `show pool_nodes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub node_id: String,
    pub hostname: String,
    pub port: u16,
    /// pgpool's view: `up`, `waiting`, `down`, `quarantine`, `unused`.
    pub status: String,
    pub role: Role,
    /// The whole row, for display.
    pub row: TextRow,
}

impl Backend {
    /// True when pgpool has checked this backend and uses it: `up`, or the
    /// digit older pgpools printed for it (`2`, up with pooled
    /// connections).
    pub fn is_up(&self) -> bool {
        matches!(self.status.as_str(), "up" | "2")
    }

    /// True when pgpool has not checked this backend yet since it started:
    /// `waiting` (pgpool 3.6 to 4.x), or the digit `1` older pgpools
    /// printed for it (CON_CONNECT_WAIT). pgpool still sends sessions to
    /// it; whether it answers is for a direct probe to say.
    pub fn is_waiting(&self) -> bool {
        matches!(self.status.as_str(), "waiting" | "1")
    }

    /// True when pgpool routes sessions to this backend: up or waiting.
    pub fn is_routed(&self) -> bool {
        self.is_up() || self.is_waiting()
    }

    /// What PostgreSQL itself says this backend is (`pg_role`, pgpool
    /// 4.2+): `Some(Primary)` or `Some(Standby)`; `None` where pgpool has
    /// no such column or could not ask (`unknown`).
    pub fn pg_role(&self) -> Option<Role> {
        let role = Role::parse(self.row.get("pg_role")?);
        matches!(role, Role::Primary | Role::Standby).then_some(role)
    }
}

/// Reads `show pool_nodes` rows by column name (layouts of pgpool 3.6 to
/// 4.5). Errors name the missing or bad column and the row.
pub fn pool_nodes(rows: &[TextRow]) -> Result<Vec<Backend>, ParseError> {
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let col = |name: &str| {
            row.get(name)
                .map(|s| s.trim().to_string())
                .ok_or_else(|| ParseError::NoColumn {
                    row: i + 1,
                    column: name.to_string(),
                })
        };
        let port_text = col("port")?;
        let port = port_text.parse::<u16>().map_err(|_| ParseError::BadPort {
            row: i + 1,
            value: port_text.clone(),
        })?;
        out.push(Backend {
            node_id: col("node_id")?,
            hostname: col("hostname")?,
            port,
            status: col("status")?.to_ascii_lowercase(),
            role: Role::parse(&col("role")?),
            row: row.clone(),
        });
    }
    Ok(out)
}
