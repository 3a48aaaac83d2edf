//! Turns a [`Report`] into the original's text layout or a JSON document.
//! Pure: same report, same bytes.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::parse::{self, Role, POOL_NODES_COLUMNS, STAT_REPLICATION_COLUMNS};
use super::{NodeReport, Report};
use crate::json::Json;
use crate::probe::{host_port, TextRow};

/// `2026-11-26 00:30:00 UTC`.
pub fn utc_datetime(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Column names of `rows` in `known` order, unknown ones appended sorted.
fn ordered_columns(rows: &[&TextRow], known: &[&str]) -> Vec<String> {
    let mut cols: Vec<String> = known
        .iter()
        .filter(|k| rows.iter().any(|r| r.contains_key(**k)))
        .map(|k| k.to_string())
        .collect();
    let mut extra: Vec<String> = rows
        .iter()
        .flat_map(|r| r.keys())
        .filter(|k| !known.contains(&k.as_str()))
        .cloned()
        .collect();
    extra.sort();
    extra.dedup();
    cols.extend(extra);
    cols
}

/// A psql-like aligned table.
fn table(out: &mut String, headers: &[String], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!(" {:<width$} ", c, width = w[i]))
            .collect();
        parts.join("|").trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(headers));
    let sep: Vec<String> = w.iter().map(|n| "-".repeat(n + 2)).collect();
    let _ = writeln!(out, "{}", sep.join("+"));
    for r in rows {
        let _ = writeln!(out, "{}", line(r));
    }
}

/// `- label | value` blocks of the original, label padded to `width`.
fn param(out: &mut String, width: usize, label: &str, cells: &[String]) {
    let mut s = format!("- {label:<width$} |");
    for (i, c) in cells.iter().enumerate() {
        if i == 0 && cells.len() > 1 {
            let _ = write!(s, " {c:<26} |");
        } else if i + 1 < cells.len() {
            let _ = write!(s, " {c} |");
        } else {
            let _ = write!(s, " {c}");
        }
    }
    let _ = writeln!(out, "{}", s.trim_end());
}

fn master_of(r: &Report) -> Option<&NodeReport> {
    let live: Vec<&NodeReport> = r.nodes.iter().filter(|n| n.is_live_primary()).collect();
    if let [one] = live.as_slice() {
        return Some(one);
    }
    let backends = r.pool_nodes.as_ref().ok()?;
    let b = backends.iter().find(|b| b.role == Role::Primary)?;
    r.nodes
        .iter()
        .find(|n| n.host == b.hostname && n.port == b.port)
}

fn sender_for<'a>(master: &'a NodeReport, standby: &NodeReport) -> Option<&'a parse::Sender> {
    let s = master.state.as_ref().ok()?;
    s.senders.iter().find(|x| {
        standby.name.as_deref() == Some(x.application_name.as_str())
            || x.client_addr == standby.host
    })
}

fn lag(master: &NodeReport, standby: &NodeReport) -> Option<u64> {
    let m = master.state.as_ref().ok()?.current_lsn.as_deref()?;
    let s = standby.state.as_ref().ok()?;
    parse::lsn_lag(m, s.replay_lsn.as_deref().or(s.receive_lsn.as_deref())?)
}

/// The text report.
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
                    let hp = parse::conninfo_host_port(&n.conninfo).ok();
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
                        n.conninfo.clone(),
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
    let err_cell = |e: &str| format!("error: {e}");
    match master {
        None => param(
            &mut out,
            W,
            "xlog_location (master)",
            &[err_cell("no primary found")],
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

fn row_json(row: &TextRow, known: &[&str]) -> Json {
    let cols = ordered_columns(&[row], known);
    let mut j = Json::object();
    for c in cols {
        j = j.with(&c, row.get(&c).cloned());
    }
    j
}

fn result_err<T>(r: &Result<T, String>) -> Json {
    match r {
        Ok(_) => Json::Null,
        Err(e) => Json::from(e.as_str()),
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
                        .with("node_id", b.node_id.as_str())
                        .with("hostname", b.hostname.as_str())
                        .with("port", b.port)
                        .with("status", b.status.as_str())
                        .with("role", b.role.as_str())
                        .with("up", b.is_up())
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
                Err(e) => (None, None, Some(e.clone())),
            };
            Json::object()
                .with("error", Json::Null)
                .with("source", m.source.as_str())
                .with("table", m.table.as_str())
                .with(
                    "nodes",
                    Json::Array(
                        m.nodes
                            .iter()
                            .map(|n| {
                                Json::object()
                                    .with("node_id", n.node_id.as_str())
                                    .with("name", n.name.as_str())
                                    .with("role", n.role.as_str())
                                    .with("upstream_node_id", n.upstream_node_id.clone())
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
        Err(e) => Json::object().with("error", e.as_str()),
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
                    Err(e) => Json::object().with("error", e.as_str()),
                };
                j.with("disk", disk)
            })
            .collect(),
    );
    Json::object()
        .with("generated_at", utc_datetime(r.generated_at))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_datetime(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc_datetime(UNIX_EPOCH + Duration::from_secs(1_501_349_634)),
            "2017-07-29 17:33:54 UTC"
        );
        assert_eq!(
            utc_datetime(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00 UTC"
        );
    }
}
