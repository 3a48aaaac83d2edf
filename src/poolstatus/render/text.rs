//! The text report in the original's layout (see docs/compatibility.md): show
//! pool_nodes, repmgr cluster show, pg_stat_replication, the summary
//! block, and a last `Status:` line.

use std::fmt::{self, Write};

use super::{
    failed_of, lag, master_of, ordered_columns, param, sender_for, standbys_of, table, utc_datetime,
};
use crate::cluster::text::{
    self, RepmgrNode, RepmgrSchema, Role, POOL_NODES_COLUMNS, STAT_REPLICATION_COLUMNS,
};
use crate::cluster::TextRow;
use crate::plumbing::net::host_port;
use crate::poolstatus::{NodeReport, RepmgrMeta, Report};

pub fn text(r: &Report) -> String {
    let mut out = String::new();
    // 1. show pool_nodes
    let _ = writeln!(out, "Output of: show pool_nodes");
    match &r.pool_nodes {
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
        }
        Ok(backends) => {
            let rows: Vec<&TextRow> = backends.iter().map(|b| &b.row).collect();
            let cols = ordered_columns(&rows, POOL_NODES_COLUMNS);
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    cols.iter()
                        .map(|c| row.get(c).cloned().unwrap_or_default())
                        .collect()
                })
                .collect();
            table(&mut out, &cols, &cells);
            let n = backends.len();
            let _ = writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" });
            for b in backends.iter().filter(|b| b.is_waiting()) {
                let answers = r
                    .nodes
                    .iter()
                    .any(|x| x.host == b.hostname && x.port == b.port && x.state.is_ok());
                let _ = writeln!(
                    out,
                    "(node {} {}: waiting, not checked by pgpool yet; it {} our direct probe)",
                    b.node_id,
                    host_port(&b.hostname, b.port),
                    if answers {
                        "answers"
                    } else {
                        "does not answer"
                    }
                );
            }
        }
    }
    let _ = writeln!(out, "\n");

    // 2. repmgr cluster show
    let _ = writeln!(out, "Output of: repmgr cluster show");
    match &r.repmgr {
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
        }
        Ok(m) => {
            let (rows, notes) = match m.schema {
                RepmgrSchema::V3 { .. } => repmgr3_rows(r, m),
                RepmgrSchema::V4 => repmgr5_rows(r, m),
            };
            match m.schema {
                RepmgrSchema::V3 { .. } => repmgr3_table(&mut out, &rows),
                RepmgrSchema::V4 => {
                    let headers: Vec<String> = [
                        "ID",
                        "Name",
                        "Role",
                        "Status",
                        "Upstream",
                        "Connection string",
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                    table(&mut out, &headers, &rows);
                }
            }
            for note in notes {
                let _ = writeln!(out, "{note}");
            }
            match &m.events {
                Ok((all, day)) => {
                    let _ = writeln!(
                        out,
                        "({} nodes in {} on {}; {all} events, {day} in the last 24 h)",
                        m.nodes.len(),
                        m.table(),
                        m.source
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "({} nodes in {} on {}; events: {e})",
                        m.nodes.len(),
                        m.table(),
                        m.source
                    );
                }
            }
        }
    }
    let _ = writeln!(out);

    // 3. pg_stat_replication
    let master = master_of(r);
    let _ = write!(out, "Output of: pg_stat_replication");
    match master {
        None => {
            let _ = writeln!(out, "\nerror: no primary found to read it from");
        }
        Some(m) => {
            let hp = host_port(&m.host, m.port);
            if m.label() == m.host {
                let _ = writeln!(out, " (on {hp})");
            } else {
                let _ = writeln!(out, " (on {} {hp})", m.label());
            }
            match &m.state {
                Err(e) => {
                    let _ = writeln!(out, "error: {e}");
                }
                Ok(s) if s.senders.is_empty() => {
                    let _ = writeln!(out, "(no rows: no standby is streaming from it)");
                }
                Ok(s) => {
                    for (i, snd) in s.senders.iter().enumerate() {
                        if i > 0 {
                            let _ = writeln!(out);
                        }
                        // Every column of this version, a NULL as an empty
                        // value, as the original printed them.
                        let mut cols: Vec<String> =
                            text::stat_replication_columns(s.server_version_num)
                                .iter()
                                .map(|c| c.to_string())
                                .collect();
                        for c in ordered_columns(&[&snd.row], STAT_REPLICATION_COLUMNS) {
                            if !cols.contains(&c) {
                                cols.push(c);
                            }
                        }
                        let w = cols.iter().map(|c| c.len()).max().unwrap_or(9).max(9);
                        param(&mut out, w, "Parameter", &["Value".into()]);
                        let _ = writeln!(out, "{}", "-".repeat(50));
                        for c in &cols {
                            param(
                                &mut out,
                                w,
                                c,
                                &[snd.row.get(c).cloned().unwrap_or_default()],
                            );
                        }
                    }
                }
            }
        }
    }
    let _ = writeln!(out);

    // 4. summary
    const W: usize = 22;
    param(&mut out, W, "Parameter", &["Value".into()]);
    let _ = writeln!(out, "{}", "-".repeat(67));
    param(
        &mut out,
        W,
        "Current Datetime",
        &[utc_datetime(r.generated_at)],
    );
    let standbys = standbys_of(r, master);
    let failed = failed_of(r, master);
    let witnesses: Vec<&NodeReport> = r.nodes.iter().filter(|n| n.is_witness()).collect();
    let err_cell = |e: &dyn fmt::Display| format!("error: {e}");
    match master {
        None => param(
            &mut out,
            W,
            "xlog_location (master)",
            &[err_cell(&"no primary found")],
        ),
        Some(m) => match &m.state {
            Ok(s) => param(
                &mut out,
                W,
                "xlog_location (master)",
                &[
                    s.current_lsn.clone().unwrap_or_else(|| "-".into()),
                    m.label().into(),
                ],
            ),
            Err(e) => param(&mut out, W, "xlog_location (master)", &[err_cell(e)]),
        },
    }
    for sb in &standbys {
        match &sb.state {
            Ok(s) => {
                let mut cells = vec![
                    s.receive_lsn.clone().unwrap_or_else(|| "-".into()),
                    sb.label().into(),
                ];
                if let Some(l) = master.and_then(|m| lag(m, sb)) {
                    cells.push(format!("lag {l} bytes"));
                }
                if !s.in_recovery {
                    cells.push("NOT IN RECOVERY".into());
                }
                param(&mut out, W, "xlog_location (slave)", &cells);
            }
            Err(e) => param(
                &mut out,
                W,
                "xlog_location (slave)",
                &[err_cell(&format!("{}: {e}", sb.label()))],
            ),
        }
    }
    for f in &failed {
        // repmgr's metadata marks it inactive: no slave, whatever it runs as.
        let cells = match &f.state {
            Ok(s) => vec![
                s.current_lsn
                    .clone()
                    .or_else(|| s.receive_lsn.clone())
                    .unwrap_or_else(|| "-".into()),
                f.label().into(),
                if s.in_recovery {
                    "FAILED".into()
                } else {
                    "FAILED, RUNNING AS PRIMARY".into()
                },
            ],
            Err(e) => vec!["-".into(), f.label().into(), "FAILED".into(), err_cell(e)],
        };
        param(&mut out, W, "xlog_location (failed)", &cells);
    }
    if let Some(m) = master {
        for sb in &standbys {
            let cells = match (&m.state, sender_for(m, sb)) {
                (Err(_), _) => vec![err_cell(&format!("primary {} unreachable", m.label()))],
                (Ok(_), None) => vec![
                    "-".into(),
                    "DOWN".into(),
                    format!("no walsender for {}", sb.label()),
                ],
                (Ok(_), Some(x)) => vec![
                    x.sent.clone().unwrap_or_else(|| "-".into()),
                    if x.state == "streaming" { "UP" } else { "DOWN" }.into(),
                    format!("to {} ({}, {})", sb.label(), x.state, x.sync_state),
                ],
            };
            param(&mut out, W, "WAL Process (master)", &cells);
        }
    }
    for sb in &standbys {
        let cells = match &sb.state {
            Err(e) => vec![err_cell(&format!("{}: {e}", sb.label()))],
            Ok(s) => match &s.receiver {
                None => vec![
                    "-".into(),
                    "DOWN".into(),
                    format!("{}: no wal receiver", sb.label()),
                ],
                Some(rc) => vec![
                    rc.received.clone().unwrap_or_else(|| "-".into()),
                    if rc.status == "streaming" {
                        "UP"
                    } else {
                        "DOWN"
                    }
                    .into(),
                    format!(
                        "{} ({}{})",
                        sb.label(),
                        rc.status,
                        rc.upstream
                            .as_ref()
                            .map(|u| format!(" from {u}"))
                            .unwrap_or_default()
                    ),
                ],
            },
        };
        param(&mut out, W, "WAL Process (slave)", &cells);
    }
    match r.repmgr.as_ref().map(|m| &m.events) {
        Ok(Ok((all, day))) => {
            param(&mut out, W, "Number of Events (all)", &[all.to_string()]);
            param(&mut out, W, "Number of Events (24h)", &[day.to_string()]);
        }
        Ok(Err(e)) | Err(e) => {
            param(&mut out, W, "Number of Events (all)", &[err_cell(e)]);
            param(&mut out, W, "Number of Events (24h)", &[err_cell(e)]);
        }
    }
    let disk_row = |out: &mut String, label: &str, n: &NodeReport| {
        let cells = match &n.disk {
            Ok(d) => vec![n.host.clone(), "Disk".into(), format!("{}%", d.use_percent)],
            Err(e) => vec![n.host.clone(), "Disk".into(), err_cell(e)],
        };
        param(out, W, label, &cells);
    };
    if let Some(m) = master {
        disk_row(&mut out, "MASTER", m);
    }
    for sb in &standbys {
        disk_row(&mut out, "SLAVE", sb);
    }
    for f in &failed {
        disk_row(&mut out, "FAILED", f);
    }
    for w in &witnesses {
        disk_row(&mut out, "WITNESS", w);
    }
    let (health, reasons) = r.assess();
    let _ = writeln!(out);
    if reasons.is_empty() {
        let _ = writeln!(out, "Status: {}", health.as_str());
    } else {
        let _ = writeln!(out, "Status: {}: {}", health.as_str(), reasons.join("; "));
    }
    out
}

/// The report's node at the host:port of a metadata row's conninfo.
fn node_of<'a>(r: &'a Report, n: &RepmgrNode) -> Option<&'a NodeReport> {
    let (h, p) = n.conninfo.host_port().ok()?;
    r.nodes.iter().find(|x| x.host == h && x.port == p)
}

/// The name of a row's upstream node (its id when the metadata has no such
/// node), empty without one.
fn upstream_name(m: &RepmgrMeta, n: &RepmgrNode) -> String {
    n.upstream_node_id
        .as_ref()
        .map(|u| {
            m.nodes
                .iter()
                .find(|x| &x.node_id == u)
                .map_or(u.clone(), |x| x.name.clone())
        })
        .unwrap_or_default()
}

/// repmgr 4/5's `cluster show`: ID, Name, Role, Status (repmgr 5's words:
/// `* running`, `! running` for an inactive node running as registered,
/// `! running as primary/standby`, `? unreachable`), Upstream, Connection
/// string; and one note per node that did not answer.
fn repmgr5_rows(r: &Report, m: &RepmgrMeta) -> (Vec<Vec<String>>, Vec<String>) {
    let mut notes = Vec::new();
    let rows = m
        .nodes
        .iter()
        .map(|n| {
            let status = match node_of(r, n).map(|x| &x.state) {
                None => "? not probed".to_string(),
                Some(Err(e)) => {
                    notes.push(format!("  {}: {e}", n.name));
                    if n.active {
                        "? unreachable".into()
                    } else {
                        "- inactive, unreachable".into()
                    }
                }
                Some(Ok(s)) => match (&n.role, s.in_recovery) {
                    (Role::Primary, false) | (Role::Standby, true) if !n.active => {
                        "! running".into()
                    }
                    (Role::Primary, false) => "* running".into(),
                    (Role::Standby, true) => "  running".into(),
                    // repmgr's own `cluster show` marks a witness so
                    (Role::Witness, false) => "* running".into(),
                    (_, false) => "! running as primary".into(),
                    (_, true) => "! running as standby".into(),
                },
            };
            vec![
                n.node_id.clone(),
                n.name.clone(),
                n.role.as_str().to_string(),
                status,
                upstream_name(m, n),
                n.conninfo.to_string(),
            ]
        })
        .collect();
    (rows, notes)
}

/// repmgr 3.x's `cluster show` rows (Role, Name, Upstream, Connection
/// String): the role as repmgr 3.2 prints it from a connection to the node
/// — `  FAILED` when it does not answer, `  witness`, `  standby` when in
/// recovery, else `* master` — and one note per node that did not answer
/// or that the metadata marks inactive yet runs.
fn repmgr3_rows(r: &Report, m: &RepmgrMeta) -> (Vec<Vec<String>>, Vec<String>) {
    let mut notes = Vec::new();
    let rows = m
        .nodes
        .iter()
        .map(|n| {
            let role = match node_of(r, n).map(|x| &x.state) {
                None => "  unknown".to_string(),
                Some(Err(e)) => {
                    notes.push(format!("  {}: {e}", n.name));
                    "  FAILED".into()
                }
                Some(Ok(_)) if n.role == Role::Witness => "  witness".into(),
                Some(Ok(s)) => {
                    if !n.active {
                        notes.push(format!(
                            "  {}: inactive in {}, yet running as {}",
                            n.name,
                            m.table(),
                            if s.in_recovery { "standby" } else { "master" }
                        ));
                    }
                    if s.in_recovery {
                        "  standby".into()
                    } else {
                        "* master".into()
                    }
                }
            };
            vec![
                role,
                n.name.clone(),
                upstream_name(m, n),
                n.conninfo.to_string(),
            ]
        })
        .collect();
    (rows, notes)
}

/// repmgr 3.2's own layout of `cluster show` (its printf widths): role in
/// 10 columns, then name, upstream and connection string.
fn repmgr3_table(out: &mut String, rows: &[Vec<String>]) {
    let cell = |r: &Vec<String>, i: usize| r.get(i).cloned().unwrap_or_default();
    let width = |i: usize, header: &str| {
        rows.iter()
            .map(|r| cell(r, i).chars().count())
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let (name_w, up_w) = (width(1, "Name"), width(2, "Upstream"));
    let conn_w = rows
        .iter()
        .map(|r| cell(r, 3).chars().count())
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "Role      | {:<name_w$} | {:<up_w$} | Connection String",
        "Name", "Upstream"
    );
    let _ = writeln!(
        out,
        "----------+-{}-|-{}-|-{}",
        "-".repeat(name_w),
        "-".repeat(up_w),
        "-".repeat(conn_w)
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<10}| {:<name_w$} | {:<up_w$} | {}",
            cell(r, 0),
            cell(r, 1),
            cell(r, 2),
            cell(r, 3)
        );
    }
}
