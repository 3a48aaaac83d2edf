//! The API's paths, pure: a request line and a [`Snapshot`] (and `now`, for
//! `/liveness`) make a [`Reply`]. Patroni's semantics where the name is the
//! same (docs/api.md); what Patroni cannot see, we add: several masters make
//! `/primary` 503.

use crate::cluster::pgpool::PgpoolFault;
use crate::cluster::repmgr::MastersError;
use std::fmt;
use std::time::{Duration, Instant};

use super::board::{NodeView, Snapshot};
use super::hold::{Held, Holds};
use super::http::{self, Reply};
use crate::plumbing::json::Json;

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

/// A lag limit, or a lag: in bytes of WAL, or in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lag {
    Bytes(u64),
    Time(Duration),
}

impl fmt::Display for Lag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lag::Bytes(n) => write!(f, "{n} bytes"),
            Lag::Time(t) => write!(f, "{:.1} s", t.as_secs_f64()),
        }
    }
}

/// Parses a lag limit: a time (`10s`, `500ms`; the unit's case is
/// ignored, spaces allowed) or bytes as [`parse_lag`] reads them (a plain
/// number is bytes). `None` for anything else (the limit is then ignored).
pub fn parse_lag_limit(text: &str) -> Option<Lag> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let time = match unit.trim().to_ascii_lowercase().as_str() {
        "s" => num.parse().ok().map(Duration::from_secs),
        "ms" => num.parse().ok().map(Duration::from_millis),
        _ => return parse_lag(t).map(Lag::Bytes),
    };
    time.map(Lag::Time)
}

/// Checks in a row at most for `rise` and `fall`.
pub const MAX_RISE_FALL: u32 = 100;

/// The query of `/replica` and `/read-only` (and agent `replica`), parsed:
/// two queries that mean the same are equal (the key of their
/// [`super::hold`] state).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReplicaQuery {
    /// `?lag=N`: bytes, or a time.
    pub lag: Option<Lag>,
    /// `?replication_state=...`.
    pub replication_state: Option<String>,
    /// `?rise=N`: checks in a row that must say yes before a no turns yes.
    pub rise: Option<u32>,
    /// `?fall=N`: checks in a row that must say no before a yes turns no.
    pub fall: Option<u32>,
}

impl ReplicaQuery {
    /// From a query string (`lag=1MB&replication_state=streaming`);
    /// unknown keys and unparsable values are ignored, as Patroni does.
    pub fn parse(query: &str) -> ReplicaQuery {
        let mut q = ReplicaQuery::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            q.set(k, &percent_decode(v));
        }
        q
    }

    /// Takes `key=value` (`lag`, `max-lag`, `replication_state`, `rise`,
    /// `fall`); anything else is ignored.
    pub fn set(&mut self, key: &str, value: &str) {
        let count = |v: &str| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_RISE_FALL).contains(n))
        };
        match key {
            "lag" | "max-lag" => self.lag = parse_lag_limit(value).or(self.lag),
            "replication_state" => self.replication_state = Some(value.to_string()),
            "rise" => self.rise = count(value).or(self.rise),
            "fall" => self.fall = count(value).or(self.fall),
            _ => {}
        }
    }

    /// Whether the answer waits for checks in a row (`rise` or `fall`).
    pub fn held(&self) -> bool {
        self.rise.is_some() || self.fall.is_some()
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
    /// A streaming standby, but this far behind (over the limit).
    Lagging(Lag),
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
    match q.lag {
        Some(Lag::Bytes(limit)) => match r.lag_bytes() {
            Some(lag) if lag > limit => return ReplicaVerdict::Lagging(Lag::Bytes(lag)),
            Some(_) => {}
            None => return ReplicaVerdict::Not("the lag is unknown (an LSN was not read)".into()),
        },
        Some(Lag::Time(limit)) => {
            match r.lag_time() {
                Some(lag) if lag > limit => return ReplicaVerdict::Lagging(Lag::Time(lag)),
                Some(_) => {}
                None => return ReplicaVerdict::Not(
                    "the time lag is unknown (no transaction replayed since the standby started)"
                        .into(),
                ),
            }
        }
        None => {}
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
    MastersUnknown(Option<MastersError>),
    /// The local PostgreSQL does not answer.
    LocalDown,
    /// Several nodes answer as master.
    SplitBrain(Vec<String>),
    /// No node answers as master.
    NoMaster,
    /// This node is a standby of these masters.
    Standby(Vec<String>),
    /// pgpwatch's pgpool is unhealthy: the view's reason.
    Pgpool(PgpoolFault),
    /// The gate is closed: the watcher's reason sentence.
    GateClosed(String),
    /// No check finished for `since`; `bound` is the liveness bound.
    Stalled { since: Duration, bound: Duration },
    /// A standby `lag` behind the master, over `limit`.
    Lagging { lag: Lag, limit: Lag },
    /// A standby within the limit, not yet for `rise` checks in a row.
    Rising { agreed: u32, rise: u32 },
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
            NotReady::MastersUnknown(Some(e)) => write!(f, "the masters could not be read: {e}"),
            NotReady::MastersUnknown(None) => write!(f, "the masters could not be read: ?"),
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
            NotReady::Lagging { lag, limit } => {
                write!(f, "lagging {lag} behind the master (limit {limit})")
            }
            NotReady::Rising { agreed, rise } => write!(
                f,
                "catching up: a usable standby for {agreed} of the {rise} checks in a row rise asks"
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
        "unknown" => NotReady::MastersUnknown(r.masters_error.clone()),
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
            Some(e) => Err(NotReady::Pgpool(e.clone())),
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

/// The answer to `GET target` at `now`, with no `rise`/`fall` memory
/// (each query answered from this snapshot alone).
pub fn answer(snap: &Snapshot, target: &str, now: Instant) -> Reply {
    answer_held(snap, target, now, &mut Holds::default())
}

/// The answer to `GET target` at `now`; `holds` keeps the state of the
/// queries that ask for `rise` or `fall`.
pub fn answer_held(snap: &Snapshot, target: &str, now: Instant, holds: &mut Holds) -> Reply {
    let (path, query) = split_target(target);
    let repmgr = snap.program == "repmgrwatch";
    let full = || snap.to_json(now);
    let check_held = |path: &str, v: Result<(), NotReady>, note: Option<String>| {
        let (status, why) = match v {
            Ok(()) => (200, note.unwrap_or_else(|| "yes".to_string())),
            Err(e) => (503, e.to_string()),
        };
        let body = full().with("path", path).with(
            "answer",
            format!("{path}: {} ({why})", if status == 200 { 200 } else { 503 }),
        );
        Reply::json(status, body)
    };
    let check = |path: &str, v: Result<(), NotReady>| check_held(path, v, None);
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
        "/replica" if repmgr => {
            let (v, note) = replica_held(snap, &ReplicaQuery::parse(query), holds);
            check_held(path, v, note)
        }
        "/read-only" if repmgr => match primary_verdict(snap) {
            Ok(()) => check(path, Ok(())),
            Err(_) => {
                let (v, note) = replica_held(snap, &ReplicaQuery::parse(query), holds);
                check_held(path, v, note)
            }
        },
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

/// [`replica_verdict`] as a path's yes or no.
pub(super) fn replica_result(snap: &Snapshot, q: &ReplicaQuery) -> Result<(), NotReady> {
    match replica_verdict(snap, q) {
        ReplicaVerdict::Ok => Ok(()),
        ReplicaVerdict::Lagging(lag) => Err(NotReady::Lagging {
            lag,
            limit: q.lag.unwrap_or(Lag::Bytes(0)),
        }),
        ReplicaVerdict::Not(why) => Err(NotReady::NotReplica(why)),
    }
}

/// [`replica_result`] through `rise`/`fall` when the query asks for them:
/// the yes or no, and the text of a yes that holds against this check.
fn replica_held(
    snap: &Snapshot,
    q: &ReplicaQuery,
    holds: &mut Holds,
) -> (Result<(), NotReady>, Option<String>) {
    let own = replica_result(snap, q);
    if !q.held() {
        return (own, None);
    }
    match holds.answer(snap, q, &own) {
        Held::Agrees => (own, None),
        Held::StillDown(why) => (Err(why), None),
        Held::StillUp { why, streak, fall } => (
            Ok(()),
            Some(format!(
                "yes, until {fall} checks in a row say no ({streak} so far: {why})"
            )),
        ),
    }
}

/// The whole HTTP answer to a request head: GET (and HEAD/OPTIONS, headers
/// only) on the paths; other methods 405; a request that is not HTTP
/// `None` (the connection is closed).
pub fn http_answer(snap: &Snapshot, head: &[u8], now: Instant) -> Option<Vec<u8>> {
    http_answer_held(snap, head, now, &mut Holds::default())
}

/// [`http_answer`] with the `rise`/`fall` state of `holds`.
pub fn http_answer_held(
    snap: &Snapshot,
    head: &[u8],
    now: Instant,
    holds: &mut Holds,
) -> Option<Vec<u8>> {
    let http::RequestLine { method, target } = http::parse(head)?;
    let target = target.as_str();
    match method.as_str() {
        "GET" => Some(answer_held(snap, target, now, holds).to_http(true)),
        "HEAD" | "OPTIONS" => Some(answer_held(snap, target, now, holds).to_http(false)),
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

#[cfg(test)]
pub(super) mod tests;
