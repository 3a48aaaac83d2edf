//! The one board every port answers from: the driver publishes a
//! [`Snapshot`] on the [`Board`] (the last decision and what the gate did,
//! published before the gate moves; then the observation's view, the
//! counters and the gate's position once it moved), and every request of
//! the gate, the API and the agent-check port reads it — no request ever
//! runs a probe.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::hold::Holds;
pub use super::views::{NodeView, PgpoolView, RepmgrView};
use super::ListenStats;
use crate::plumbing::json::{Json, SCHEMA};
use crate::plumbing::localtime::iso8601_utc;

/// The snapshot every port answers from: written by the driver after each
/// decision, read by the listeners' poller threads; with it the
/// `rise`/`fall` state of the queries that ask for it, stepped with every
/// new check.
#[derive(Clone, Debug)]
pub struct Board(Arc<Mutex<(Snapshot, Holds)>>);

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Board {
    /// A board showing `initial`.
    pub fn new(initial: Snapshot) -> Board {
        Board(Arc::new(Mutex::new((initial, Holds::default()))))
    }

    /// Replaces the snapshot.
    pub fn publish(&self, snap: Snapshot) {
        self.update(|s| *s = snap);
    }

    /// Changes part of the snapshot (under the lock: keep it short); a new
    /// check steps the held queries.
    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        let mut g = locked(&self.0);
        let (snap, holds) = &mut *g;
        let before = snap.last.as_ref().map(|l| l.n);
        f(snap);
        if snap.last.as_ref().map(|l| l.n) != before {
            holds.observe(snap);
        }
    }

    /// Runs `f` on the current snapshot (under the lock: keep it short).
    pub fn read<T>(&self, f: impl FnOnce(&Snapshot) -> T) -> T {
        f(&locked(&self.0).0)
    }

    /// Runs `f` on the current snapshot and the held queries.
    pub fn read_held<T>(&self, f: impl FnOnce(&Snapshot, &mut Holds) -> T) -> T {
        let mut g = locked(&self.0);
        let (snap, holds) = &mut *g;
        f(snap, holds)
    }

    /// A copy of the current snapshot.
    pub fn current(&self) -> Snapshot {
        self.read(Snapshot::clone)
    }
}

/// What the gate's HTTP answer shows of the last decision, published
/// before the gate moves (so the board is right before a client can see
/// the gate open).
#[derive(Debug, Clone, PartialEq)]
pub struct GateState {
    /// The decision: whether the port should be open.
    pub port_open: bool,
    /// Whether the gate listens (the decision's position, or where the
    /// gate stayed when it could not move).
    pub listening: bool,
    /// The check's number.
    pub check: u64,
    /// How long the check took.
    pub check_seconds: f64,
    /// The gate listener's counters.
    pub counters: ListenStats,
}

/// Upper bounds (seconds) of the check duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Check durations, cumulative (Prometheus histogram).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations at or below each of [`DURATION_BUCKETS`].
    pub le: [u64; DURATION_BUCKETS.len()],
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// Counts one observation of `secs`.
    pub fn observe(&mut self, secs: f64) {
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.le[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

/// Counters since the process started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Checks whose probe got an answer it could judge.
    pub checks_ok: u64,
    /// Checks whose probe failed (pgpool unhealthy, masters unreadable).
    pub checks_failed: u64,
    /// Times the gate opened or closed.
    pub transitions: u64,
    /// Mails handed to the mail queue.
    pub mails_queued: u64,
    /// Mails the SMTP server accepted.
    pub mails_sent: u64,
    /// Mails given up (retries spent, permanent failure, queue full).
    pub mails_failed: u64,
    /// Another process holds or answers on the gate's port now.
    pub gate_conflict: bool,
    pub duration: Histogram,
}

/// The last finished check.
#[derive(Debug, Clone, PartialEq)]
pub struct LastCheck {
    /// Its number (1 = the first).
    pub n: u64,
    pub finished: Instant,
    /// When it finished, seconds since the Unix epoch.
    pub finished_unix: f64,
    /// How long it took.
    pub seconds: f64,
}

/// The watcher's state as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `pgpwatch` or `repmgrwatch`.
    pub program: &'static str,
    /// When the process (its API) started; liveness before the first check.
    pub started: Instant,
    pub last: Option<LastCheck>,
    /// Whether the GSLB gate listens.
    pub gate_open: bool,
    /// The last decision's one-sentence reason.
    pub reason: String,
    /// 2 × check_period + connect_timeout: a check must finish this often.
    pub liveness_bound: Duration,
    pub node: NodeView,
    pub stats: Stats,
    /// What the gate's HTTP answer shows (`None` before any decision).
    pub gate: Option<GateState>,
}

impl Snapshot {
    /// Before any check.
    pub fn starting(program: &'static str, started: Instant, liveness_bound: Duration) -> Snapshot {
        Snapshot {
            program,
            started,
            last: None,
            gate_open: false,
            reason: "no check has run yet.".into(),
            liveness_bound,
            node: NodeView::Starting,
            stats: Stats::default(),
            gate: None,
        }
    }

    /// How long ago the loop last finished a check (or started) at `now`.
    pub fn since_check(&self, now: Instant) -> Duration {
        let t = self.last.as_ref().map_or(self.started, |l| l.finished);
        now.saturating_duration_since(t)
    }

    /// Whether the check loop is alive at `now`.
    pub fn alive(&self, now: Instant) -> bool {
        self.since_check(now) <= self.liveness_bound
    }

    /// The one-word state: `starting`, repmgr's [`RepmgrView::state`] or
    /// pgpool's `healthy` / `unhealthy`.
    pub fn state(&self) -> &'static str {
        match &self.node {
            NodeView::Starting => "starting",
            NodeView::Repmgr(r) => r.state(),
            NodeView::Pgpool(p) if p.error.is_none() => "healthy",
            NodeView::Pgpool(_) => "unhealthy",
        }
    }

    /// The full JSON of `/` and `/status` at `now`.
    pub fn to_json(&self, now: Instant) -> Json {
        let mut j = Json::object()
            .with("schema", SCHEMA)
            .with("program", self.program)
            .with("state", self.state())
            .with("reason", self.reason.as_str())
            .with("gate_open", self.gate_open);
        j = match &self.node {
            NodeView::Starting => j,
            NodeView::Repmgr(r) => r.add_json(j),
            NodeView::Pgpool(p) => p.add_json(j),
        };
        let last = match &self.last {
            Some(l) => Json::object()
                .with("check", l.n)
                .with("finished_unix", l.finished_unix)
                .with("finished_at", unix_iso8601(l.finished_unix))
                .with("seconds", l.seconds)
                .with("age_seconds", self.since_check(now).as_secs_f64()),
            None => Json::Null,
        };
        j.with("last_check", last)
            .with("alive", self.alive(now))
            .with("liveness_bound_seconds", self.liveness_bound.as_secs_f64())
    }

    /// The one-line JSON the gate's HTTP check gets: the decision, where
    /// the gate is and its counters (before any decision: closed, why).
    pub fn gate_json(&self) -> Json {
        let Some(g) = &self.gate else {
            return Json::object()
                .with("port_open", false)
                .with("reason", self.reason.as_str());
        };
        let c = &g.counters;
        Json::object()
            .with("watcher", self.program)
            .with("port_open", g.port_open)
            .with("reason", self.reason.as_str())
            .with("listening", g.listening)
            .with("check", g.check)
            .with("check_seconds", g.check_seconds)
            .with(
                "gate",
                Json::object()
                    .with("accepted", c.accepted)
                    .with("http", c.http)
                    .with("evicted", c.evicted)
                    .with("peer_capped", c.peer_capped)
                    .with("accept_errors", c.accept_errors),
            )
    }
}

/// Seconds since the Unix epoch as an ISO-8601 UTC time.
fn unix_iso8601(unix: f64) -> String {
    let since = std::time::Duration::try_from_secs_f64(unix.max(0.0)).unwrap_or_default();
    iso8601_utc(std::time::UNIX_EPOCH + since)
}
