//! The API's paths, pure: a request line and a [`Snapshot`] (and `now`, for
//! `/liveness`) make a [`Reply`]. Patroni's semantics where the name is the
//! same (docs/api.md); what Patroni cannot see, we add: several masters make
//! `/primary` 503.

use std::fmt;
use std::time::{Duration, Instant};

use super::snapshot::{NodeView, Snapshot};
use crate::plumbing::json::Json;

/// An answer: status code, content type, body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    fn json(status: u16, body: Json) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: format!("{}\n", body.render()),
        }
    }

    /// The HTTP/1.0 response; `with_body` false for HEAD and OPTIONS.
    pub fn to_http(&self, with_body: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if with_body {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    }
}

/// Parses a lag limit as Patroni does: bytes, or a number with `kB`, `MB`,
/// `GB` or `TB` (1024-based; the unit's case is ignored, spaces allowed).
/// `None` for anything else (Patroni then ignores the limit).
pub fn parse_lag(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// The query of `/replica` and `/read-only`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaQuery {
    /// `?lag=N`: bytes.
    pub lag: Option<u64>,
    /// `?replication_state=...`.
    pub replication_state: Option<String>,
}

impl ReplicaQuery {
    /// From a query string (`lag=1MB&replication_state=streaming`);
    /// unknown keys and unparsable lags are ignored, as Patroni does.
    pub fn parse(query: &str) -> ReplicaQuery {
        let mut q = ReplicaQuery::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "lag" | "max-lag" => q.lag = parse_lag(&percent_decode(v)).or(q.lag),
                "replication_state" => q.replication_state = Some(percent_decode(v)),
                _ => {}
            }
        }
        q
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `/replica` (with a query) says of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaVerdict {
    /// A streaming standby within the lag limit.
    Ok,
    /// A streaming standby, but this many bytes behind (over the limit).
    Lagging(u64),
    /// Not a usable standby, and why.
    Not(String),
}

/// `/replica` (and agent `replica lag=N`) on `snap`.
pub fn replica_verdict(snap: &Snapshot, q: &ReplicaQuery) -> ReplicaVerdict {
    let NodeView::Repmgr(r) = &snap.node else {
        return ReplicaVerdict::Not(format!("{}: not a database node", snap.program));
    };
    if !r.healthy() {
        return ReplicaVerdict::Not("the local PostgreSQL does not answer".into());
    }
    if r.in_recovery() != Some(true) {
        return ReplicaVerdict::Not("not in recovery (this node is a master)".into());
    }
    if !r.streaming_from_master() {
        let why = match (r.masters.len(), r.receiver()) {
            (0, _) => "no master is seen".to_string(),
            (n, _) if n > 1 => format!("{n} masters are seen (split brain)"),
            (_, None) => "no WAL receiver".to_string(),
            (_, Some(w)) if w.status != "streaming" => {
                format!("the WAL receiver is {}", w.status)
            }
            (_, Some(w)) => format!(
                "the WAL receiver streams from {}:{}, not from the master {}",
                w.sender_host.as_deref().unwrap_or("?"),
                w.sender_port.map_or("?".into(), |p| p.to_string()),
                r.masters.join(", ")
            ),
        };
        return ReplicaVerdict::Not(why);
    }
    if let Some(state) = &q.replication_state {
        if state != "streaming" {
            return ReplicaVerdict::Not(format!("replication state is streaming, not {state}"));
        }
    }
    if let Some(limit) = q.lag {
        match r.lag_bytes() {
            Some(lag) if lag > limit => return ReplicaVerdict::Lagging(lag),
            Some(_) => {}
            None => return ReplicaVerdict::Not("the lag is unknown (an LSN was not read)".into()),
        }
    }
    ReplicaVerdict::Ok
}

/// Why a check path (or the agent) says no: the text after `503 (`.
#[derive(Debug, Clone, PartialEq)]
pub enum NotReady {
    /// No check has finished yet.
    Starting,
    /// The program (pgpwatch) watches no database node.
    NotDatabaseNode { program: &'static str },
    /// repmgr's metadata could not be read: why, or `None`.
    MastersUnknown(Option<String>),
    /// The local PostgreSQL does not answer.
    LocalDown,
    /// Several nodes answer as master.
    SplitBrain(Vec<String>),
    /// No node answers as master.
    NoMaster,
    /// This node is a standby of these masters.
    Standby(Vec<String>),
    /// pgpwatch's pgpool is unhealthy: the view's reason.
    Pgpool(String),
    /// The gate is closed: the watcher's reason sentence.
    GateClosed(String),
    /// No check finished for `since`; `bound` is the liveness bound.
    Stalled { since: Duration, bound: Duration },
    /// A standby `lag` bytes behind the master, over `limit`.
    Lagging { lag: u64, limit: u64 },
    /// Not a usable standby: [`ReplicaVerdict::Not`]'s reason.
    NotReplica(String),
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::Starting => write!(f, "no check has run yet"),
            NotReady::NotDatabaseNode { program } => {
                write!(f, "{program}: not a database node")
            }
            NotReady::MastersUnknown(e) => write!(
                f,
                "the masters could not be read: {}",
                e.as_deref().unwrap_or("?")
            ),
            NotReady::LocalDown => write!(f, "the local PostgreSQL does not answer"),
            NotReady::SplitBrain(m) => write!(f, "split brain: {} answer as master", m.join(", ")),
            NotReady::NoMaster => write!(f, "no node answers as master"),
            NotReady::Standby(m) => write!(f, "a standby; the master is {}", m.join(", ")),
            NotReady::GateClosed(reason) => write!(f, "the gate is closed: {reason}"),
            NotReady::Pgpool(e) => write!(f, "{e}"),
            NotReady::Stalled { since, bound } => write!(
                f,
                "no check finished for {:.1} s (bound {:.1} s = 2 x check_period + connect_timeout)",
                since.as_secs_f64(),
                bound.as_secs_f64()
            ),
            NotReady::Lagging { lag, limit } => write!(
                f,
                "lagging {lag} bytes behind the master (limit {limit} bytes)"
            ),
            NotReady::NotReplica(why) => write!(f, "{why}"),
        }
    }
}

/// Whether this node is the single master seen, and if not why.
pub fn primary_verdict(snap: &Snapshot) -> Result<(), NotReady> {
    let NodeView::Repmgr(r) = &snap.node else {
        return Err(match snap.node {
            NodeView::Starting => NotReady::Starting,
            _ => NotReady::NotDatabaseNode {
                program: snap.program,
            },
        });
    };
    if r.is_primary() {
        return Ok(());
    }
    Err(match r.state() {
        "unknown" => NotReady::MastersUnknown(r.masters_error.as_ref().map(ToString::to_string)),
        "down" => NotReady::LocalDown,
        "split_brain" => NotReady::SplitBrain(r.masters.clone()),
        "no_master" => NotReady::NoMaster,
        _ => NotReady::Standby(r.masters.clone()),
    })
}

/// Whether the node (pgpwatch: pgpool with a primary up) is healthy.
pub fn health_verdict(snap: &Snapshot) -> Result<(), NotReady> {
    match &snap.node {
        NodeView::Starting => Err(NotReady::Starting),
        NodeView::Repmgr(r) if r.healthy() => Ok(()),
        NodeView::Repmgr(_) => Err(NotReady::LocalDown),
        NodeView::Pgpool(p) => match &p.error {
            None => Ok(()),
            Some(e) => Err(NotReady::Pgpool(e.to_string())),
        },
    }
}

/// Whether the GSLB gate is open.
pub fn gate_verdict(snap: &Snapshot) -> Result<(), NotReady> {
    if snap.gate_open {
        Ok(())
    } else {
        Err(NotReady::GateClosed(snap.reason.clone()))
    }
}

/// Splits a request target into path and query.
fn split_target(target: &str) -> (&str, &str) {
    let (p, q) = target.split_once('?').unwrap_or((target, ""));
    let p = p.trim_end_matches('/');
    (if p.is_empty() { "/" } else { p }, q)
}

/// The answer to `GET target` at `now`; `None` for an unknown path.
pub fn answer(snap: &Snapshot, target: &str, now: Instant) -> Reply {
    let (path, query) = split_target(target);
    let repmgr = snap.program == "repmgrwatch";
    let full = || snap.to_json(now);
    let check = |path: &str, v: Result<(), NotReady>| {
        let (status, why) = match v {
            Ok(()) => (200, "yes".to_string()),
            Err(e) => (503, e.to_string()),
        };
        let body = full().with("path", path).with(
            "answer",
            format!("{path}: {} ({why})", if status == 200 { 200 } else { 503 }),
        );
        Reply::json(status, body)
    };
    match path {
        "/" | "/status" => Reply::json(200, full()),
        "/metrics" => Reply {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: super::metrics::render(snap),
        },
        "/health" => check(path, health_verdict(snap)),
        "/gate" => check(path, gate_verdict(snap)),
        "/liveness" => check(
            path,
            if snap.alive(now) {
                Ok(())
            } else {
                Err(NotReady::Stalled {
                    since: snap.since_check(now),
                    bound: snap.liveness_bound,
                })
            },
        ),
        "/primary" | "/master" | "/read-write" | "/leader" if repmgr => {
            check(path, primary_verdict(snap))
        }
        "/replica" if repmgr => check(path, replica_result(snap, &ReplicaQuery::parse(query))),
        "/read-only" if repmgr => {
            let v = primary_verdict(snap)
                .or_else(|_| replica_result(snap, &ReplicaQuery::parse(query)));
            check(path, v)
        }
        _ => Reply::json(
            404,
            Json::object()
                .with("state", snap.state())
                .with("reason", snap.reason.as_str())
                .with(
                    "answer",
                    format!("{path}: no such path on {}", snap.program),
                ),
        ),
    }
}

fn replica_result(snap: &Snapshot, q: &ReplicaQuery) -> Result<(), NotReady> {
    match replica_verdict(snap, q) {
        ReplicaVerdict::Ok => Ok(()),
        ReplicaVerdict::Lagging(lag) => Err(NotReady::Lagging {
            lag,
            limit: q.lag.unwrap_or(0),
        }),
        ReplicaVerdict::Not(why) => Err(NotReady::NotReplica(why)),
    }
}

/// The whole HTTP answer to a request head: GET (and HEAD/OPTIONS, headers
/// only) on the paths; other methods 405; a request that is not HTTP
/// `None` (the connection is closed).
pub fn http_answer(snap: &Snapshot, head: &[u8], now: Instant) -> Option<Vec<u8>> {
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..end]);
    let mut parts = line.split_whitespace();
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/") {
        return None;
    }
    match method {
        "GET" => Some(answer(snap, target, now).to_http(true)),
        "HEAD" | "OPTIONS" => Some(answer(snap, target, now).to_http(false)),
        _ => {
            let body = Json::object()
                .with("state", snap.state())
                .with("reason", snap.reason.as_str())
                .with(
                    "answer",
                    format!("{method}: only GET, HEAD and OPTIONS are answered"),
                );
            Some(Reply::json(405, body).to_http(true))
        }
    }
}
