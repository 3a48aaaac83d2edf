//! `GET /metrics`: the snapshot in Prometheus' text format 0.0.4, every
//! family named `pgpoolwatch_` with HELP and TYPE; counters end in
//! `_total`, durations are seconds. Rendered from the snapshot, so a scrape
//! never probes anything.

use std::fmt::Write;

use super::board::{NodeView, Snapshot, DURATION_BUCKETS};

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP pgpoolwatch_{name} {help}");
        let _ = writeln!(self.0, "# TYPE pgpoolwatch_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.0, "pgpoolwatch_{name}");
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A label value as the format wants it: `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn b(x: bool) -> f64 {
    if x {
        1.0
    } else {
        0.0
    }
}

/// The exposition text of `snap`.
pub fn render(snap: &Snapshot) -> String {
    let mut o = Out(String::new());
    let s = &snap.stats;
    o.one(
        "gate_open",
        "gauge",
        "Whether the GSLB gate (open_port) listens (1) or not (0).",
        b(snap.gate_open),
    );
    o.one(
        "gate_conflict",
        "gauge",
        "Whether another process holds or answers on the gate's port (1) or not (0).",
        b(s.gate_conflict),
    );
    o.family(
        "checks_total",
        "counter",
        "Checks finished, by result (ok: the probe got a judgeable answer; failed: it did not).",
    );
    o.sample("checks_total", &[("result", "ok")], s.checks_ok as f64);
    o.sample(
        "checks_total",
        &[("result", "failed")],
        s.checks_failed as f64,
    );
    o.family(
        "check_duration_seconds",
        "histogram",
        "How long each check took.",
    );
    for (i, le) in DURATION_BUCKETS.iter().enumerate() {
        o.sample(
            "check_duration_seconds_bucket",
            &[("le", &number(*le))],
            s.duration.le[i] as f64,
        );
    }
    o.sample(
        "check_duration_seconds_bucket",
        &[("le", "+Inf")],
        s.duration.count as f64,
    );
    o.sample("check_duration_seconds_sum", &[], s.duration.sum);
    o.sample("check_duration_seconds_count", &[], s.duration.count as f64);
    if let Some(l) = &snap.last {
        o.one(
            "last_check_timestamp_seconds",
            "gauge",
            "When the last check finished (Unix time).",
            l.finished_unix,
        );
    }
    o.one(
        "transitions_total",
        "counter",
        "Times the gate opened or closed.",
        s.transitions as f64,
    );
    o.one(
        "mails_queued_total",
        "counter",
        "Mails handed to the mail queue.",
        s.mails_queued as f64,
    );
    o.one(
        "mails_sent_total",
        "counter",
        "Mails the SMTP server accepted.",
        s.mails_sent as f64,
    );
    o.one(
        "mails_failed_total",
        "counter",
        "Mails given up (retries spent, permanent failure, or dropped from a full queue).",
        s.mails_failed as f64,
    );
    match &snap.node {
        NodeView::Starting => {}
        NodeView::Repmgr(r) => {
            o.one(
                "is_primary",
                "gauge",
                "Whether this node is the single master seen (1) or not (0).",
                b(r.is_primary()),
            );
            o.one(
                "masters_seen",
                "gauge",
                "Nodes answering as master at the last check.",
                r.masters.len() as f64,
            );
            o.one(
                "split_brain",
                "gauge",
                "Whether a split brain is seen (1): several active nodes, or a node repmgr's metadata marks inactive, answer as master.",
                b(r.split_brain()),
            );
            o.one(
                "healthy",
                "gauge",
                "Whether the local PostgreSQL answered (1) or not (0).",
                b(r.healthy()),
            );
            o.one(
                "streaming_from_master",
                "gauge",
                "Whether this standby's WAL receiver streams from the master (1) or not (0).",
                b(r.streaming_from_master()),
            );
            if let Some(lag) = r.lag_bytes() {
                o.one(
                    "replication_lag_bytes",
                    "gauge",
                    "The master's current LSN minus this standby's replay LSN.",
                    lag as f64,
                );
            }
            if let Some(lag) = r.lag_time() {
                o.one(
                    "replication_lag_seconds",
                    "gauge",
                    "now() - pg_last_xact_replay_timestamp() on this standby, 0 when it replayed all it received.",
                    lag.as_secs_f64(),
                );
            }
            if let (Some(true), Some(lsn)) = (
                r.in_recovery(),
                r.me.as_ref()
                    .and_then(|m| m.answer.as_ref().ok())
                    .and_then(|s| s.lsn),
            ) {
                o.one(
                    "replay_lsn_bytes",
                    "gauge",
                    "This standby's replay LSN as a byte position.",
                    lsn as f64,
                );
            }
            if let Some(lsn) = r.master_lsn {
                o.one(
                    "master_lsn_bytes",
                    "gauge",
                    "The lone master's current LSN as a byte position.",
                    lsn as f64,
                );
            }
        }
        NodeView::Pgpool(p) => {
            o.one(
                "pgpool_healthy",
                "gauge",
                "Whether pgpool answered with a primary up (1) or not (0).",
                b(p.error.is_none()),
            );
            o.one(
                "split_brain",
                "gauge",
                "Whether a split brain is seen through pgpool (1): its role and pg_role disagree about the primary (pgpool 4.2+).",
                b(p.split_brain()),
            );
            let labels: Vec<[(&'static str, String); 4]> = p
                .backends
                .iter()
                .map(|be| {
                    [
                        ("node_id", be.node_id.clone()),
                        ("hostname", be.hostname.clone()),
                        ("port", be.port.to_string()),
                        (
                            "role",
                            be.row
                                .get("role")
                                .map_or(String::new(), |r| r.trim().to_string()),
                        ),
                    ]
                })
                .collect();
            fn refs<'a>(l: &'a [(&'static str, String); 4]) -> Vec<(&'static str, &'a str)> {
                l.iter().map(|(k, v)| (*k, v.as_str())).collect()
            }
            if p.backends.is_empty() {
                return o.0;
            }
            o.family(
                "pgpool_backend_status",
                "gauge",
                "pgpool's status of a backend: 1 up or waiting, 0 otherwise.",
            );
            for (be, l) in p.backends.iter().zip(&labels) {
                o.sample("pgpool_backend_status", &refs(l), b(be.is_routed()));
            }
            o.family(
                "pgpool_backend_pg_status",
                "gauge",
                "pgpool's pg_status of a backend (PostgreSQL itself): 1 up, 0 otherwise.",
            );
            for (be, l) in p.backends.iter().zip(&labels) {
                let up = be.row.get("pg_status").is_some_and(|v| v.trim() == "up");
                o.sample("pgpool_backend_pg_status", &refs(l), b(up));
            }
            o.family("pgpool_backend_pg_role", "gauge", "pgpool's pg_role of a backend (what PostgreSQL says it is), as the pg_role label; always 1.");
            for (be, l) in p.backends.iter().zip(&labels) {
                let mut with = refs(l);
                let pg_role = be.row.get("pg_role").map_or("", |v| v.trim());
                with.push(("pg_role", pg_role));
                o.sample("pgpool_backend_pg_role", &with, 1.0);
            }
            let delays: Vec<(f64, &[(&'static str, String); 4])> = p
                .backends
                .iter()
                .zip(&labels)
                .filter_map(|(be, l)| {
                    let v = be.row.get("replication_delay")?.split_whitespace().next()?;
                    Some((v.parse::<f64>().ok()?, l))
                })
                .collect();
            if !delays.is_empty() {
                o.family("pgpool_backend_replication_delay", "gauge", "pgpool's replication_delay of a backend as pgpool prints it (bytes, or seconds with delay_threshold_by_time).");
                for (d, l) in delays {
                    o.sample("pgpool_backend_replication_delay", &refs(l), d);
                }
            }
        }
    }
    o.0
}
