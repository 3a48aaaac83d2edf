//! The text report in the original's layout (see COMPAT.md): show
//! pool_nodes, repmgr cluster show, pg_stat_replication, the summary
//! block, and a last `Status:` line.

use std::fmt::{self, Write};

use super::{lag, master_of, ordered_columns, param, sender_for, table, utc_datetime};
use crate::poolstatus::parse::{Role, POOL_NODES_COLUMNS, STAT_REPLICATION_COLUMNS};
use crate::poolstatus::{NodeReport, Report};
use crate::probe::{host_port, TextRow};

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
            let mut notes = Vec::new();
            let rows: Vec<Vec<String>> = m
                .nodes
                .iter()
                .map(|n| {
                    let hp = n.conninfo.host_port().ok();
                    let node = hp
                        .as_ref()
                        .and_then(|(h, p)| r.nodes.iter().find(|x| &x.host == h && x.port == *p));
                    let status = match node.map(|x| &x.state) {
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
                            (Role::Primary, false) => "* running".into(),
                            (Role::Standby, true) => "  running".into(),
                            // repmgr's own `cluster show` marks a witness so
                            (Role::Witness, false) => "* running".into(),
                            (_, false) => "! running as primary".into(),
                            (_, true) => "! running as standby".into(),
                        },
                    };
                    let upstream = n
                        .upstream_node_id
                        .as_ref()
                        .map(|u| {
                            m.nodes
                                .iter()
                                .find(|x| &x.node_id == u)
                                .map_or(u.clone(), |x| x.name.clone())
                        })
                        .unwrap_or_default();
                    vec![
                        n.node_id.clone(),
                        n.name.clone(),
                        n.role.as_str().to_string(),
                        status,
                        upstream,
                        n.conninfo.to_string(),
                    ]
                })
                .collect();
            table(&mut out, &headers, &rows);
            for note in notes {
                let _ = writeln!(out, "{note}");
            }
            match &m.events {
                Ok((all, day)) => {
                    let _ = writeln!(
                        out,
                        "({} nodes in {} on {}; {all} events, {day} in the last 24 h)",
                        m.nodes.len(),
                        m.table,
                        m.source
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "({} nodes in {} on {}; events: {e})",
                        m.nodes.len(),
                        m.table,
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
                        let cols = ordered_columns(&[&snd.row], STAT_REPLICATION_COLUMNS);
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
    let standbys: Vec<&NodeReport> = r
        .nodes
        .iter()
        .filter(|n| !n.is_witness() && master.map_or(true, |m| !std::ptr::eq(*n, m)))
        .collect();
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
