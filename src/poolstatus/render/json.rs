//! The same facts as the text report, as one JSON document (`--json`).

use super::{lag, master_of, ordered_columns};
use crate::cluster::text::{POOL_NODES_COLUMNS, STAT_REPLICATION_COLUMNS};
use crate::cluster::TextRow;
use crate::plumbing::json::{number_or_text, Json, SCHEMA};
use crate::plumbing::localtime::iso8601_utc;
use crate::plumbing::net::host_port;
use crate::poolstatus::{Report, ReportError};

/// Columns of pgpool's and PostgreSQL's rows whose values are numbers
/// (written as JSON numbers; every other column as its text).
const NUMERIC_COLUMNS: &[&str] = &[
    "node_id",
    "port",
    "lb_weight",
    "select_cnt",
    "replication_delay",
    "pid",
    "usesysid",
    "client_port",
    "backend_xmin",
    "sync_priority",
];

fn row_json(row: &TextRow, known: &[&str]) -> Json {
    let cols = ordered_columns(&[row], known);
    let mut j = Json::object();
    for c in cols {
        let v = match row.get(&c) {
            None => Json::Null,
            Some(v) if NUMERIC_COLUMNS.contains(&c.as_str()) => number_or_text(v),
            Some(v) => Json::from(v.as_str()),
        };
        j = j.with(&c, v);
    }
    j
}

fn result_err<T>(r: &Result<T, ReportError>) -> Json {
    match r {
        Ok(_) => Json::Null,
        Err(e) => Json::from(e.to_string()),
    }
}

/// The JSON document.
pub fn json(r: &Report) -> Json {
    let (health, reasons) = r.assess();
    let backends = match &r.pool_nodes {
        Ok(b) => Json::Array(
            b.iter()
                .map(|b| {
                    Json::object()
                        .with("node_id", number_or_text(&b.node_id))
                        .with("hostname", b.hostname.as_str())
                        .with("port", b.port)
                        .with("status", b.status.as_str())
                        .with("role", b.role.as_str())
                        .with("up", b.is_up())
                        .with("waiting", b.is_waiting())
                        .with("columns", row_json(&b.row, POOL_NODES_COLUMNS))
                })
                .collect(),
        ),
        Err(_) => Json::Null,
    };
    let repmgr = match &r.repmgr {
        Ok(m) => {
            let (all, day, err) = match &m.events {
                Ok((a, d)) => (Some(*a), Some(*d), None),
                Err(e) => (None, None, Some(e.to_string())),
            };
            Json::object()
                .with("error", Json::Null)
                .with("source", m.source.as_str())
                .with("table", m.table())
                .with(
                    "nodes",
                    Json::Array(
                        m.nodes
                            .iter()
                            .map(|n| {
                                Json::object()
                                    .with("node_id", number_or_text(&n.node_id))
                                    .with("name", n.name.as_str())
                                    .with("role", n.role.as_str())
                                    .with(
                                        "upstream_node_id",
                                        n.upstream_node_id
                                            .as_deref()
                                            .map_or(Json::Null, number_or_text),
                                    )
                                    .with("conninfo", n.conninfo.as_str())
                                    .with("active", n.active)
                            })
                            .collect(),
                    ),
                )
                .with("events_all", all)
                .with("events_24h", day)
                .with("events_error", err)
        }
        Err(e) => Json::object().with("error", e.to_string()),
    };
    let master = master_of(r);
    let nodes = Json::Array(
        r.nodes
            .iter()
            .map(|n| {
                let mut j = Json::object()
                    .with("host", n.host.as_str())
                    .with("port", n.port)
                    .with("name", n.name.clone())
                    .with("reachable", n.state.is_ok())
                    .with("inactive", n.inactive)
                    .with("failed", n.is_failed())
                    .with("error", result_err(&n.state));
                if let Ok(s) = &n.state {
                    j = j
                        .with("server_version_num", s.server_version_num)
                        .with(
                            "role",
                            match (n.is_witness(), s.in_recovery) {
                                (true, _) => "witness",
                                (false, true) => "standby",
                                (false, false) => "primary",
                            },
                        )
                        .with("current_lsn", s.current_lsn.clone())
                        .with("receive_lsn", s.receive_lsn.clone())
                        .with("replay_lsn", s.replay_lsn.clone())
                        .with(
                            "lag_bytes",
                            master
                                .filter(|m| !std::ptr::eq(*m, n))
                                .and_then(|m| lag(m, n)),
                        )
                        .with(
                            "senders",
                            Json::Array(
                                s.senders
                                    .iter()
                                    .map(|x| row_json(&x.row, STAT_REPLICATION_COLUMNS))
                                    .collect(),
                            ),
                        )
                        .with(
                            "receiver",
                            match &s.receiver {
                                None => Json::Null,
                                Some(rc) => Json::object()
                                    .with("status", rc.status.as_str())
                                    .with("received_lsn", rc.received.clone())
                                    .with("upstream", rc.upstream.clone()),
                            },
                        );
                }
                let disk = match &n.disk {
                    Ok(d) => Json::object()
                        .with("error", Json::Null)
                        .with("use_percent", d.use_percent as u32)
                        .with("filesystem", d.filesystem.as_str())
                        .with("mounted_on", d.mounted_on.as_str())
                        .with("size_kb", d.size_kb)
                        .with("used_kb", d.used_kb)
                        .with("available_kb", d.available_kb),
                    Err(e) => Json::object().with("error", e.to_string()),
                };
                j.with("disk", disk)
            })
            .collect(),
    );
    Json::object()
        .with("schema", SCHEMA)
        .with("generated_at", iso8601_utc(r.generated_at))
        .with("status", health.as_str())
        .with("exit_code", health.exit_code() as u32)
        .with("reasons", reasons)
        .with(
            "pgpool",
            Json::object()
                .with("address", r.pgpool.as_str())
                .with("error", result_err(&r.pool_nodes))
                .with("nodes", backends),
        )
        .with("repmgr", repmgr)
        .with("primary", master.map(|m| host_port(&m.host, m.port)))
        .with("disk_path", r.disk_path.as_str())
        .with("nodes", nodes)
}
