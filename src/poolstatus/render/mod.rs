//! Turns a [`Report`] into the original's text layout ([`text()`]), a JSON
//! document ([`json()`]) or a monitoring plugin's line ([`nagios()`]). Pure: same report, same bytes. This file holds
//! what both share: dates, column order, tables, and which node is the
//! master and how far a standby lags. Errors become text here, once.

use std::fmt::Write;
use std::time::SystemTime;

use super::{NodeReport, Report};
use crate::cluster::text::{lsn_lag, Role, Sender};
use crate::cluster::TextRow;

mod json;
mod nagios;
mod text;

pub use json::json;
pub use nagios::{nagios, LagThresholds, PluginState};
pub use text::text;

/// `2026-11-26 00:30:00 UTC` (the text report; JSON says
/// [`crate::plumbing::localtime::iso8601_utc`]).
pub fn utc_datetime(t: SystemTime) -> String {
    crate::plumbing::localtime::utc_text(t)
}

/// Column names of `rows` in `known` order, unknown ones appended sorted.
pub(super) fn ordered_columns(rows: &[&TextRow], known: &[&str]) -> Vec<String> {
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
pub(super) fn table(out: &mut String, headers: &[String], rows: &[Vec<String>]) {
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
pub(super) fn param(out: &mut String, width: usize, label: &str, cells: &[String]) {
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

/// The master of the report: the one node that answers as a primary and
/// is neither a witness nor failed (inactive in repmgr's metadata), else
/// pgpool's primary (unless failed).
pub(super) fn master_of(r: &Report) -> Option<&NodeReport> {
    let live: Vec<&NodeReport> = r
        .nodes
        .iter()
        .filter(|n| n.is_live_primary() && !n.is_failed())
        .collect();
    if let [one] = live.as_slice() {
        return Some(one);
    }
    let backends = r.pool_nodes.as_ref().ok()?;
    let b = backends.iter().find(|b| b.role == Role::Primary)?;
    r.nodes
        .iter()
        .find(|n| n.host == b.hostname && n.port == b.port && !n.is_failed())
}

/// The nodes that should replicate from the master: every node but the
/// master, the witnesses and the failed ones.
pub(super) fn standbys_of<'a>(r: &'a Report, master: Option<&NodeReport>) -> Vec<&'a NodeReport> {
    r.nodes
        .iter()
        .filter(|n| !n.is_witness() && !n.is_failed())
        .filter(|n| master.is_none_or(|m| !std::ptr::eq(*n, m)))
        .collect()
}

/// The failed nodes (see [`NodeReport::is_failed`]).
pub(super) fn failed_of<'a>(r: &'a Report, master: Option<&NodeReport>) -> Vec<&'a NodeReport> {
    r.nodes
        .iter()
        .filter(|n| n.is_failed())
        .filter(|n| master.is_none_or(|m| !std::ptr::eq(*n, m)))
        .collect()
}

pub(super) fn sender_for<'a>(master: &'a NodeReport, standby: &NodeReport) -> Option<&'a Sender> {
    let s = master.state.as_ref().ok()?;
    s.senders.iter().find(|x| {
        standby.name.as_deref() == Some(x.application_name.as_str())
            || x.client_addr == standby.host
    })
}

pub(super) fn lag(master: &NodeReport, standby: &NodeReport) -> Option<u64> {
    let m = master.state.as_ref().ok()?.current_lsn.as_deref()?;
    let s = standby.state.as_ref().ok()?;
    lsn_lag(m, s.replay_lsn.as_deref().or(s.receive_lsn.as_deref())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

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
