//! The report as one line of a Monitoring Plugins (Nagios, Icinga) check
//! (`--nagios`): `POOLSTATUS STATE - summary | perfdata`, since a monitoring
//! server shows the first line of a plugin's output and reads its exit code.
//! The state is the worst of the report's health and the lag thresholds.
//! Perfdata follows the Monitoring Plugins guidelines:
//! `'label'=value[UOM];[warn];[crit];[min];[max]`, lag in bytes (`B`),
//! counts without a unit, `U` for a value that could not be read.

use std::fmt::Write;

use super::{lag, master_of};
use crate::cluster::text::Role;
use crate::poolstatus::{Health, NodeReport, Report};

/// A plugin's state and its exit code (0, 1, 2, 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PluginState {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl PluginState {
    /// 0, 1, 2, 3.
    pub fn exit_code(self) -> u8 {
        match self {
            PluginState::Ok => 0,
            PluginState::Warning => 1,
            PluginState::Critical => 2,
            PluginState::Unknown => 3,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Ok => "OK",
            PluginState::Warning => "WARNING",
            PluginState::Critical => "CRITICAL",
            PluginState::Unknown => "UNKNOWN",
        }
    }

    /// The worse of two states for a report: CRITICAL over WARNING over OK
    /// (UNKNOWN, for a check that could not run, is never made here).
    fn worst(self, other: PluginState) -> PluginState {
        self.max(other)
    }
}

impl From<Health> for PluginState {
    fn from(h: Health) -> PluginState {
        match h {
            Health::Ok => PluginState::Ok,
            Health::Degraded => PluginState::Warning,
            Health::Critical => PluginState::Critical,
        }
    }
}

/// `--warning-lag` / `--critical-lag`: a standby whose replay lags the
/// primary by more bytes than a limit makes the check WARNING / CRITICAL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LagThresholds {
    pub warning: Option<u64>,
    pub critical: Option<u64>,
}

/// The state and the one line (no newline) of the check.
pub fn nagios(r: &Report, limits: LagThresholds) -> (PluginState, String) {
    let (health, mut reasons) = r.assess();
    let mut state = PluginState::from(health);
    let mut perf: Vec<String> = Vec::new();

    let backends = r.pool_nodes.as_ref().ok();
    // Up as pgpool checked it: a `waiting` backend is not counted (the
    // direct probe decides the state; see Report::assess).
    let (up, total) = match backends {
        Some(b) => (Some(b.iter().filter(|b| b.is_up()).count()), Some(b.len())),
        None => (None, None),
    };
    perf.push(perfdata("backends_up", count(up), "", None, None, total));
    let waiting: Vec<&crate::cluster::text::Backend> = backends
        .map(|b| b.iter().filter(|b| b.is_waiting()).collect())
        .unwrap_or_default();
    let waiting_answer = waiting
        .iter()
        .filter(|b| {
            r.nodes
                .iter()
                .any(|n| n.host == b.hostname && n.port == b.port && n.state.is_ok())
        })
        .count();
    if !waiting.is_empty() {
        perf.push(perfdata(
            "backends_waiting",
            waiting.len().to_string(),
            "",
            None,
            None,
            total,
        ));
    }

    let standbys: Vec<&NodeReport> = r.nodes.iter().filter(|n| is_standby(n)).collect();
    let streaming = standbys
        .iter()
        .filter(|n| {
            matches!(&n.state, Ok(s) if s.receiver.as_ref().is_some_and(|x| x.status == "streaming"))
        })
        .count();
    perf.push(perfdata(
        "standbys_streaming",
        streaming.to_string(),
        "",
        None,
        None,
        Some(standbys.len()),
    ));

    let master = master_of(r);
    let mut max_lag: Option<u64> = None;
    for n in &standbys {
        let bytes = master.and_then(|m| lag(m, n));
        if let Some(b) = bytes {
            max_lag = Some(max_lag.map_or(b, |m| m.max(b)));
            if let Some(c) = limits.critical.filter(|c| b > *c) {
                state = state.worst(PluginState::Critical);
                reasons.push(format!(
                    "standby {} lags {b} B, over critical {c} B",
                    n.label()
                ));
            } else if let Some(w) = limits.warning.filter(|w| b > *w) {
                state = state.worst(PluginState::Warning);
                reasons.push(format!(
                    "standby {} lags {b} B, over warning {w} B",
                    n.label()
                ));
            }
        }
        perf.push(perfdata(
            &format!("lag_{}", n.label()),
            bytes.map_or_else(|| "U".to_string(), |b| b.to_string()),
            if bytes.is_some() { "B" } else { "" },
            limits.warning,
            limits.critical,
            None,
        ));
    }

    let events_24h = match &r.repmgr {
        Ok(m) => m.events.as_ref().ok().map(|(_, day)| *day),
        Err(_) => None,
    };
    perf.push(perfdata(
        "events_24h",
        events_24h.map_or_else(|| "U".to_string(), |d| d.to_string()),
        "",
        None,
        None,
        None,
    ));

    let mut summary = match (up, total) {
        (Some(u), Some(t)) => format!("{u}/{t} backends up"),
        _ => "pgpool unreachable".to_string(),
    };
    if !waiting.is_empty() {
        let _ = write!(
            summary,
            ", {} not yet checked by pgpool ({waiting_answer} answer directly)",
            waiting.len()
        );
    }
    let _ = write!(
        summary,
        ", {streaming}/{} standbys streaming",
        standbys.len()
    );
    if let Some(m) = max_lag {
        let _ = write!(summary, ", max lag {m} B");
    }
    if let Some(d) = events_24h {
        let _ = write!(summary, ", {d} events in 24h");
    }
    if !reasons.is_empty() {
        let _ = write!(summary, ": {}", reasons.join("; "));
    }
    let line = format!(
        "POOLSTATUS {} - {} | {}",
        state.as_str(),
        one_line(&summary),
        perf.join(" ")
    );
    (state, line)
}

/// A database node that should replicate: in recovery when it answers, or
/// not known to repmgr as the primary when it does not; never a witness,
/// never a failed node (inactive in repmgr's metadata).
fn is_standby(n: &NodeReport) -> bool {
    !n.is_witness()
        && !n.is_failed()
        && match &n.state {
            Ok(s) => s.in_recovery,
            Err(_) => n.role != Some(Role::Primary),
        }
}

fn count(n: Option<usize>) -> String {
    n.map_or_else(|| "U".to_string(), |n| n.to_string())
}

/// The text part may hold anything but `|` (it starts the perfdata) and
/// line breaks (the first line is all a monitoring server shows).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => '/',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

/// `'label'=value[UOM];[warn];[crit];[min];[max]`, empty trailing fields
/// left off. Minimum 0 for everything here: counts and bytes.
fn perfdata(
    label: &str,
    value: String,
    uom: &str,
    warn: Option<u64>,
    crit: Option<u64>,
    max: Option<usize>,
) -> String {
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut s = format!(
        "{}={value}{uom};{};{};0;{}",
        perf_label(label),
        opt(warn),
        opt(crit),
        max.map(|m| m.to_string()).unwrap_or_default()
    );
    while s.ends_with(';') {
        s.pop();
    }
    s
}

/// A label as the guidelines allow it: `=` and `'` cannot appear (they
/// become `_`); single quotes around it when it holds anything beyond
/// letters, digits, `_`, `.` and `-`.
fn perf_label(label: &str) -> String {
    let clean: String = label
        .chars()
        .map(|c| if c == '=' || c == '\'' { '_' } else { c })
        .collect();
    if clean
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        clean
    } else {
        format!("'{clean}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfdata_fields_and_labels_follow_the_guidelines() {
        assert_eq!(
            perfdata("backends_up", "3".into(), "", None, None, Some(3)),
            "backends_up=3;;;0;3"
        );
        assert_eq!(
            perfdata("lag_db2", "10".into(), "B", Some(1024), Some(2048), None),
            "lag_db2=10B;1024;2048;0"
        );
        assert_eq!(
            perfdata("events_24h", "U".into(), "", None, None, None),
            "events_24h=U;;;0"
        );
        assert_eq!(perf_label("lag_127.0.0.1"), "lag_127.0.0.1");
        assert_eq!(perf_label("lag_db 2"), "'lag_db 2'");
        assert_eq!(perf_label("lag_a=b'c"), "lag_a_b_c");
        assert_eq!(perf_label("lag_node:1"), "'lag_node:1'");
        assert_eq!(one_line("a|b\nc"), "a/b c");
    }
}
