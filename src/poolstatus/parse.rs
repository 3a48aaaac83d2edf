//! Pure readers for what the cluster answers: `show pool_nodes` rows, repmgr
//! metadata rows (3.x and 4.x+ schemas), replication rows, LSNs, conninfo
//! strings and `df -P` output. No I/O here, so recorded outputs in
//! `tests/fixtures/poolstatus` feed these functions directly.

pub use crate::conninfo::ConninfoError;
use crate::probe::TextRow;

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
    /// True when pgpool can use this backend: `up` or `waiting`, or the
    /// digits older pgpools printed (`1` up without connections, `2` up
    /// with pooled connections; `3` is down).
    pub fn is_up(&self) -> bool {
        matches!(self.status.as_str(), "up" | "waiting" | "1" | "2")
    }
}

/// Reads `show pool_nodes` rows by column name (layouts of pgpool 3.6 to
/// 4.5). Errors name the missing or bad column and the row.
pub fn pool_nodes(rows: &[TextRow]) -> Result<Vec<Backend>, String> {
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let col = |name: &str| {
            row.get(name)
                .map(|s| s.trim().to_string())
                .ok_or_else(|| format!("row {}: no column {name}", i + 1))
        };
        let port_text = col("port")?;
        let port = port_text
            .parse::<u16>()
            .map_err(|_| format!("row {}: port {port_text:?} is not a port number", i + 1))?;
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

/// A node as repmgr's metadata describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RepmgrNode {
    pub node_id: String,
    pub name: String,
    /// The `type` column: 4.x/5.x `primary standby witness bdr`, 3.x
    /// `master standby witness`.
    pub role: Role,
    pub upstream_node_id: Option<String>,
    pub conninfo: String,
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

    /// The query counting events, all and of the last 24 hours.
    pub fn events_sql(&self) -> String {
        let table = match self {
            RepmgrSchema::V4 => "repmgr.events".to_string(),
            RepmgrSchema::V3 { cluster_schema } => {
                format!("{}.repl_events", quote_ident(cluster_schema))
            }
        };
        format!(
            "SELECT count(*) AS events_all, \
             count(*) FILTER (WHERE event_timestamp > now() - interval '24 hours') AS events_24h \
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
pub fn repmgr_nodes(rows: &[TextRow]) -> Result<Vec<RepmgrNode>, String> {
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let get = |names: &[&str]| names.iter().find_map(|n| row.get(*n)).cloned();
        let need = |names: &[&str]| {
            get(names).ok_or_else(|| format!("row {}: no column {}", i + 1, names.join(" or ")))
        };
        out.push(RepmgrNode {
            node_id: need(&["node_id", "id"])?,
            name: need(&["node_name", "name"])?,
            role: Role::parse(&need(&["type"])?),
            upstream_node_id: get(&["upstream_node_id"]).filter(|s| !s.is_empty()),
            conninfo: need(&["conninfo"])?,
            active: get(&["active"]).map_or(true, |a| a == "t" || a == "true"),
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
pub fn event_counts(row: &TextRow) -> Result<(u64, u64), String> {
    let num = |k: &str| {
        row.get(k)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("no number in column {k}"))
    };
    Ok((num("events_all")?, num("events_24h")?))
}

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

/// A WAL position `X/Y` as a byte offset.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.trim().split_once('/')?;
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    if hi > u32::MAX as u64 || lo > u32::MAX as u64 {
        return None;
    }
    Some(hi << 32 | lo)
}

/// Bytes from `behind` to `ahead` (0 when `behind` is ahead).
pub fn lsn_lag(ahead: &str, behind: &str) -> Option<u64> {
    Some(parse_lsn(ahead)?.saturating_sub(parse_lsn(behind)?))
}

/// WAL names of one PostgreSQL major version: 9.6 says `xlog`/`location`,
/// 10+ says `wal`/`lsn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalNames {
    pub current_fn: &'static str,
    pub receive_fn: &'static str,
    pub replay_fn: &'static str,
    /// pg_stat_replication columns: sent, write, flush, replay.
    pub sent: &'static str,
    pub write: &'static str,
    pub flush: &'static str,
    pub replay: &'static str,
}

/// The names for `server_version_num`.
pub fn wal_names(server_version_num: u32) -> WalNames {
    if server_version_num < 100_000 {
        WalNames {
            current_fn: "pg_current_xlog_location()",
            receive_fn: "pg_last_xlog_receive_location()",
            replay_fn: "pg_last_xlog_replay_location()",
            sent: "sent_location",
            write: "write_location",
            flush: "flush_location",
            replay: "replay_location",
        }
    } else {
        WalNames {
            current_fn: "pg_current_wal_lsn()",
            receive_fn: "pg_last_wal_receive_lsn()",
            replay_fn: "pg_last_wal_replay_lsn()",
            sent: "sent_lsn",
            write: "write_lsn",
            flush: "flush_lsn",
            replay: "replay_lsn",
        }
    }
}

/// Column order of pg_stat_replication over versions 9.6 to 17, for display.
pub const STAT_REPLICATION_COLUMNS: &[&str] = &[
    "pid",
    "usesysid",
    "usename",
    "application_name",
    "client_addr",
    "client_hostname",
    "client_port",
    "backend_start",
    "backend_xmin",
    "state",
    "sent_location",
    "write_location",
    "flush_location",
    "replay_location",
    "sent_lsn",
    "write_lsn",
    "flush_lsn",
    "replay_lsn",
    "write_lag",
    "flush_lag",
    "replay_lag",
    "sync_priority",
    "sync_state",
    "reply_time",
];

/// One walsender on a primary (a row of pg_stat_replication).
#[derive(Debug, Clone, PartialEq)]
pub struct Sender {
    pub application_name: String,
    pub client_addr: String,
    pub state: String,
    pub sent: Option<String>,
    pub write: Option<String>,
    pub flush: Option<String>,
    pub replay: Option<String>,
    pub sync_state: String,
    /// The whole row, for display.
    pub row: TextRow,
}

/// Reads pg_stat_replication rows with the names of `server_version_num`.
pub fn senders(rows: &[TextRow], server_version_num: u32) -> Vec<Sender> {
    let n = wal_names(server_version_num);
    let text = |r: &TextRow, k: &str| r.get(k).cloned().unwrap_or_default();
    rows.iter()
        .map(|r| Sender {
            application_name: text(r, "application_name"),
            client_addr: text(r, "client_addr"),
            state: text(r, "state"),
            sent: r.get(n.sent).cloned(),
            write: r.get(n.write).cloned(),
            flush: r.get(n.flush).cloned(),
            replay: r.get(n.replay).cloned(),
            sync_state: text(r, "sync_state"),
            row: r.clone(),
        })
        .collect()
}

/// A standby's WAL receiver (pg_stat_wal_receiver).
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// `streaming`, `starting`, `waiting`, `stopping`...
    pub status: String,
    /// Last WAL position received and flushed (9.6-12 `received_lsn`,
    /// 13+ `flushed_lsn`).
    pub received: Option<String>,
    /// Upstream as the receiver sees it (11+ `sender_host`/`sender_port`,
    /// else from `conninfo`).
    pub upstream: Option<String>,
}

/// Reads the (zero or one) row of pg_stat_wal_receiver.
pub fn receiver(rows: &[TextRow]) -> Option<Receiver> {
    let r = rows.first()?;
    let upstream = match (r.get("sender_host"), r.get("sender_port")) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        _ => r
            .get("conninfo")
            .and_then(|c| conninfo_host_port(c).ok())
            .map(|(h, p)| format!("{h}:{p}")),
    };
    Some(Receiver {
        status: r.get("status").cloned().unwrap_or_default(),
        received: r
            .get("flushed_lsn")
            .or_else(|| r.get("received_lsn"))
            .cloned(),
        upstream,
    })
}

/// Disk use of one file system from `df -P`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskUse {
    pub filesystem: String,
    pub size_kb: u64,
    pub used_kb: u64,
    pub available_kb: u64,
    pub use_percent: u8,
    pub mounted_on: String,
}

/// Reads `df -P PATH` output (POSIX format: a header line, then one line
/// per file system; the mount point may hold spaces).
pub fn df(output: &str) -> Result<DiskUse, String> {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("df printed nothing")?;
    if !header.starts_with("Filesystem") {
        return Err(format!("df: unexpected header {:?}", header.trim()));
    }
    let line = lines.next().ok_or("df printed no file system line")?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    // Find "<n> <n> <n> <p>%" after the file system name.
    for i in 1..fields.len().saturating_sub(3) {
        let pct = fields[i + 3];
        let (Some(p), Ok(size), Ok(used), Ok(avail)) = (
            pct.strip_suffix('%').and_then(|p| p.parse::<u8>().ok()),
            fields[i].parse::<u64>(),
            fields[i + 1].parse::<u64>(),
            fields[i + 2].parse::<u64>(),
        ) else {
            continue;
        };
        let mount_start = i + 4;
        return Ok(DiskUse {
            filesystem: fields[..i].join(" "),
            size_kb: size,
            used_kb: used,
            available_kb: avail,
            use_percent: p,
            mounted_on: fields[mount_start..].join(" "),
        });
    }
    Err(format!("df: cannot read use% from {:?}", line.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> TextRow {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lsn_parse_and_lag() {
        assert_eq!(parse_lsn("0/801FBC8"), Some(0x801FBC8));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("x/1"), None);
        assert_eq!(parse_lsn("0801FBC8"), None);
        assert_eq!(lsn_lag("1/10", "0/FFFFFFF0"), Some(0x20));
        assert_eq!(lsn_lag("0/10", "0/20"), Some(0));
    }

    #[test]
    fn conninfo_forms() {
        assert_eq!(
            conninfo_host_port("host=db1 user=repmgr dbname=repmgr").unwrap(),
            ("db1".into(), 5432)
        );
        assert_eq!(
            conninfo_host_port("host='127.0.20.2' port = 5433 connect_timeout=2").unwrap(),
            ("127.0.20.2".into(), 5433)
        );
        assert_eq!(
            conninfo_host_port("user=repmgr application_name='a b\\'c'").unwrap(),
            ("localhost".into(), 5432)
        );
        assert_eq!(
            conninfo_host_port("postgresql://repmgr@db2:5434/repmgr?x=1").unwrap(),
            ("db2".into(), 5434)
        );
        assert_eq!(
            conninfo_host_port("postgresql://[::1]:5435/x").unwrap(),
            ("::1".into(), 5435)
        );
        assert!(conninfo_host_port("host=db1 port=x").is_err());
        assert!(conninfo_host_port("host").is_err());
        assert!(conninfo_host_port("host='db1").is_err());
    }

    #[test]
    fn wal_names_by_version() {
        assert_eq!(wal_names(90624).current_fn, "pg_current_xlog_location()");
        assert_eq!(wal_names(90624).sent, "sent_location");
        assert_eq!(wal_names(100000).replay_fn, "pg_last_wal_replay_lsn()");
        assert_eq!(wal_names(150004).flush, "flush_lsn");
    }

    #[test]
    fn pool_nodes_missing_column_is_named() {
        let e = pool_nodes(&[row(&[
            ("node_id", "0"),
            ("hostname", "h"),
            ("port", "5432"),
        ])])
        .unwrap_err();
        assert_eq!(e, "row 1: no column status");
        let e = pool_nodes(&[row(&[
            ("node_id", "0"),
            ("hostname", "h"),
            ("port", "99999"),
            ("status", "up"),
            ("role", "primary"),
        ])])
        .unwrap_err();
        assert!(e.contains("port \"99999\""), "{e}");
    }

    #[test]
    fn schema_detection() {
        assert_eq!(repmgr_schema(&row(&[("v4", "t")])), Some(RepmgrSchema::V4));
        assert_eq!(
            repmgr_schema(&row(&[("v4", "f"), ("v3", "repmgr_test")])),
            Some(RepmgrSchema::V3 {
                cluster_schema: "repmgr_test".into()
            })
        );
        assert_eq!(repmgr_schema(&row(&[("v4", "f")])), None);
        assert!(RepmgrSchema::V3 {
            cluster_schema: "repmgr_a\"b".into()
        }
        .nodes_sql()
        .contains("\"repmgr_a\"\"b\".repl_nodes"));
    }

    #[test]
    fn node_reader_keeps_the_type() {
        let v5 = |t: &str| {
            row(&[
                ("node_id", "4"),
                ("node_name", "w"),
                ("type", t),
                ("conninfo", "host=w"),
                ("active", "t"),
            ])
        };
        let v3 = |t: &str| {
            row(&[
                ("id", "3"),
                ("name", "w"),
                ("type", t),
                ("conninfo", "host=w"),
                ("active", "t"),
            ])
        };
        // (type as written, role read)
        for (t, want) in [
            ("primary", Role::Primary),
            ("master", Role::Primary),
            ("standby", Role::Standby),
            ("witness", Role::Witness),
            ("WITNESS", Role::Witness),
            ("bdr", Role::Other("bdr".into())),
        ] {
            for r in [v5(t), v3(t)] {
                let nodes = repmgr_nodes(&[r]).expect("a complete row");
                assert_eq!(nodes[0].role, want, "type {t:?}");
            }
        }
        let mut no_type = v5("witness");
        no_type.remove("type");
        assert_eq!(
            repmgr_nodes(&[no_type]).unwrap_err(),
            "row 1: no column type"
        );
    }

    #[test]
    fn master_candidates_rows_of_5x_and_3x() {
        let node = |name: &str, t: &str, active: bool| RepmgrNode {
            node_id: name.into(),
            name: name.into(),
            role: Role::parse(t),
            upstream_node_id: None,
            conninfo: format!("host={name}"),
            active,
        };
        // (row name, type, active, candidacy)
        let cases = [
            ("5.x primary", "primary", true, Candidacy::Candidate),
            ("5.x standby", "standby", true, Candidacy::Candidate),
            ("5.x witness", "witness", true, Candidacy::NotReplicated),
            (
                "5.x inactive primary",
                "primary",
                false,
                Candidacy::NotReplicated,
            ),
            (
                "5.x inactive standby",
                "standby",
                false,
                Candidacy::NotReplicated,
            ),
            ("5.x bdr", "bdr", true, Candidacy::UnknownType("bdr".into())),
            ("3.x master", "master", true, Candidacy::Candidate),
            ("3.x standby", "standby", true, Candidacy::Candidate),
            ("3.x witness", "witness", true, Candidacy::NotReplicated),
            (
                "3.x inactive master",
                "master",
                false,
                Candidacy::NotReplicated,
            ),
            (
                "empty type",
                "",
                true,
                Candidacy::UnknownType(String::new()),
            ),
            ("inactive unknown", "bdr", false, Candidacy::NotReplicated),
        ];
        for (name, t, active, want) in &cases {
            assert_eq!(node(name, t, *active).candidacy(), *want, "{name}");
        }
        let nodes: Vec<RepmgrNode> = cases
            .iter()
            .map(|(name, t, active, _)| node(name, t, *active))
            .collect();
        let (candidates, unknown) = master_candidates(nodes);
        let names: Vec<&str> = candidates.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["5.x primary", "5.x standby", "3.x master", "3.x standby"]
        );
        assert_eq!(
            unknown,
            [
                ("5.x bdr".to_string(), "bdr".to_string()),
                ("empty type".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn df_rejects_garbage() {
        assert!(df("").is_err());
        assert!(df("hello\nworld").is_err());
        assert!(df("Filesystem 1024-blocks Used Available Capacity Mounted on\n").is_err());
    }
}
