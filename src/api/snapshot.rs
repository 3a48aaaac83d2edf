//! What the API and agent-check ports answer from: the act side publishes
//! a [`Snapshot`] after every check (the last observation, the decision's
//! reason, the gate, the counters), and every request reads it — no request
//! ever runs a probe. The views compute the roles from the observation
//! once, here, so the paths, the agent and the metrics agree.

use std::time::{Duration, Instant};

use crate::cluster::pgpool::PgpoolFault;
use crate::cluster::repmgr::{MastersError, NodeAnswer, WalReceiver};
use crate::cluster::text::Backend;
use crate::plumbing::json::{number_or_text, Json, SCHEMA};
use crate::plumbing::localtime::iso8601_utc;

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
}

/// Seconds since the Unix epoch as an ISO-8601 UTC time.
fn unix_iso8601(unix: f64) -> String {
    let since = std::time::Duration::try_from_secs_f64(unix.max(0.0)).unwrap_or_default();
    iso8601_utc(std::time::UNIX_EPOCH + since)
}

/// What the last check saw, per watcher.
#[derive(Debug, Clone, PartialEq)]
// One per snapshot, replaced whole after each check: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum NodeView {
    /// No check has finished yet.
    Starting,
    Repmgr(RepmgrView),
    Pgpool(PgpoolView),
}

/// repmgrwatch's view of this node and the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct RepmgrView {
    /// `[repmgr] node_name`: me.
    pub node_name: String,
    /// The masters seen (empty when they could not be read).
    pub masters: Vec<String>,
    /// Why the masters could not be read.
    pub masters_error: Option<MastersError>,
    /// My own answer (`None`: I am not an active node of the metadata).
    pub me: Option<NodeAnswer>,
    /// Nodes the metadata marks inactive that answer as primary (stale
    /// primaries: split brain).
    pub stale_primaries: Vec<String>,
    /// The lone master's current LSN (none, or several masters: `None`).
    pub master_lsn: Option<u64>,
    /// The lone master's `host:port` as its conninfo says.
    pub master_at: Option<(String, u16)>,
    /// The pgpool gates probed: (host, answered).
    pub pgpool_gates: Vec<(String, bool)>,
}

impl RepmgrView {
    /// The view of one check: the nodes probed (or why not) and the gates.
    pub fn new(
        node_name: &str,
        nodes: &Result<Vec<NodeAnswer>, MastersError>,
        pgpool_gates: Vec<(String, bool)>,
    ) -> RepmgrView {
        let (masters, masters_error, me, master, stale_primaries) = match nodes {
            Ok(nodes) => {
                let masters: Vec<&NodeAnswer> =
                    nodes.iter().filter(|n| n.active && n.is_master()).collect();
                let me = nodes
                    .iter()
                    .find(|n| n.active && n.name == node_name)
                    .cloned();
                let lone = (masters.len() == 1).then(|| masters[0].clone());
                let names = masters.iter().map(|n| n.name.clone()).collect();
                let stale = crate::cluster::repmgr::stale_primaries_of(nodes);
                (names, None, me, lone, stale)
            }
            Err(e) => (Vec::new(), Some(e.clone()), None, None, Vec::new()),
        };
        let master_lsn = master
            .as_ref()
            .and_then(|m| m.answer.as_ref().ok())
            .and_then(|s| s.lsn);
        let master_at = master.and_then(|m| Some((m.host?, m.port?)));
        RepmgrView {
            node_name: node_name.to_string(),
            masters,
            masters_error,
            me,
            stale_primaries,
            master_lsn,
            master_at,
            pgpool_gates,
        }
    }

    /// Whether a split brain is seen: several active nodes, or an
    /// inactive one, answer as master.
    pub fn split_brain(&self) -> bool {
        self.masters.len() > 1 || !self.stale_primaries.is_empty()
    }

    /// Whether my PostgreSQL answered.
    pub fn healthy(&self) -> bool {
        matches!(&self.me, Some(n) if n.answer.is_ok())
    }

    /// `pg_is_in_recovery()` of my PostgreSQL.
    pub fn in_recovery(&self) -> Option<bool> {
        match &self.me {
            Some(NodeAnswer { answer: Ok(s), .. }) => Some(s.in_recovery),
            _ => None,
        }
    }

    fn my_lsn(&self) -> Option<u64> {
        self.me.as_ref()?.answer.as_ref().ok()?.lsn
    }

    /// My WAL receiver.
    pub fn receiver(&self) -> Option<&WalReceiver> {
        self.me.as_ref()?.answer.as_ref().ok()?.receiver.as_ref()
    }

    /// Whether I am the single master seen.
    pub fn is_primary(&self) -> bool {
        self.in_recovery() == Some(false) && self.masters == [self.node_name.clone()]
    }

    /// Whether I am a standby whose WAL receiver streams from the lone
    /// master (its sender host and port match the master's conninfo; where
    /// PostgreSQL does not show the sender, before 11, streaming suffices).
    pub fn streaming_from_master(&self) -> bool {
        let (Some(true), Some(r), Some((host, port))) =
            (self.in_recovery(), self.receiver(), &self.master_at)
        else {
            return false;
        };
        r.status == "streaming"
            && r.sender_host.as_ref().is_none_or(|h| h == host)
            && r.sender_port.is_none_or(|p| p == *port)
    }

    /// Bytes between the lone master's current LSN and my replay LSN.
    pub fn lag_bytes(&self) -> Option<u64> {
        if self.in_recovery() != Some(true) {
            return None;
        }
        Some(self.master_lsn?.saturating_sub(self.my_lsn()?))
    }

    /// One word: `unknown` (masters unreadable), `down` (my PostgreSQL does
    /// not answer), `split_brain`, `primary`, `standby`, `no_master`.
    pub fn state(&self) -> &'static str {
        if self.masters_error.is_some() {
            "unknown"
        } else if !self.healthy() {
            "down"
        } else if self.masters.len() > 1 {
            "split_brain"
        } else if self.is_primary() {
            "primary"
        } else if self.masters.is_empty() {
            "no_master"
        } else {
            "standby"
        }
    }

    fn add_json(&self, j: Json) -> Json {
        let opt = |v: Option<u64>| v.map_or(Json::Null, Json::from);
        let lsn = |v: Option<u64>| {
            v.map_or(Json::Null, |l| {
                Json::from(format!("{:X}/{:X}", l >> 32, l & 0xffff_ffff))
            })
        };
        let receiver = match self.receiver() {
            Some(r) => Json::object()
                .with("status", r.status.as_str())
                .with(
                    "sender_host",
                    r.sender_host.clone().map_or(Json::Null, Json::from),
                )
                .with(
                    "sender_port",
                    r.sender_port
                        .map_or(Json::Null, |p| Json::from(u64::from(p))),
                ),
            None => Json::Null,
        };
        let local_error = match &self.me {
            Some(NodeAnswer { answer: Err(e), .. }) => Json::from(e.to_string()),
            None => Json::from(format!(
                "node {} is not an active primary or standby in repmgr's metadata",
                self.node_name
            )),
            _ => Json::Null,
        };
        j.with("node_name", self.node_name.as_str())
            .with(
                "role",
                match self.in_recovery() {
                    Some(true) => "standby",
                    Some(false) => "master",
                    None => "unknown",
                },
            )
            .with(
                "in_recovery",
                self.in_recovery().map_or(Json::Null, Json::from),
            )
            .with("health", self.healthy())
            .with("local_error", local_error)
            .with(
                "masters",
                Json::Array(
                    self.masters
                        .iter()
                        .map(|m| Json::from(m.as_str()))
                        .collect(),
                ),
            )
            .with(
                "masters_error",
                self.masters_error
                    .as_ref()
                    .map_or(Json::Null, |e| Json::from(e.to_string())),
            )
            .with(
                "stale_primaries",
                Json::Array(
                    self.stale_primaries
                        .iter()
                        .map(|m| Json::from(m.as_str()))
                        .collect(),
                ),
            )
            .with("split_brain", self.split_brain())
            .with("lsn", lsn(self.my_lsn()))
            .with("lsn_bytes", opt(self.my_lsn()))
            .with("master_lsn", lsn(self.master_lsn))
            .with("lag_bytes", opt(self.lag_bytes()))
            .with("wal_receiver", receiver)
            .with("streaming_from_master", self.streaming_from_master())
            .with(
                "pgpool_gates",
                Json::Array(
                    self.pgpool_gates
                        .iter()
                        .map(|(h, up)| Json::object().with("host", h.as_str()).with("up", *up))
                        .collect(),
                ),
            )
    }
}

/// pgpwatch's view of its pgpool.
#[derive(Debug, Clone, PartialEq)]
pub struct PgpoolView {
    /// Why pgpool is unhealthy (`None`: a primary is up).
    pub error: Option<PgpoolFault>,
    /// The backends of `SHOW pool_nodes` (empty when it did not answer).
    pub backends: Vec<Backend>,
}

impl PgpoolView {
    /// Whether pgpool's role and pg_role disagree about the primary
    /// ([`crate::cluster::pgpool::split_brain`]).
    pub fn split_brain(&self) -> bool {
        crate::cluster::pgpool::split_brain(&self.backends, "").is_some()
    }

    fn add_json(&self, j: Json) -> Json {
        let col = |b: &Backend, c: &str| b.row.get(c).map_or(Json::Null, |v| Json::from(v.trim()));
        let backends = self
            .backends
            .iter()
            .map(|b| {
                Json::object()
                    .with("id", number_or_text(&b.node_id))
                    .with("host", b.hostname.as_str())
                    .with("port", u64::from(b.port))
                    .with("status", b.status.as_str())
                    .with("pg_status", col(b, "pg_status"))
                    .with("role", col(b, "role"))
                    .with("pg_role", col(b, "pg_role"))
                    .with(
                        "replication_delay",
                        b.row
                            .get("replication_delay")
                            .map_or(Json::Null, |v| number_or_text(v)),
                    )
            })
            .collect();
        j.with("health", self.error.is_none())
            .with(
                "error",
                self.error
                    .as_ref()
                    .map_or(Json::Null, |e| Json::from(e.to_string())),
            )
            .with("split_brain", self.split_brain())
            .with("backends", Json::Array(backends))
    }
}
