//! What the last check saw, per watcher: the views the driver builds from
//! its observation and puts in the [`super::Snapshot`]. The roles are
//! computed here, once, so the gate, the paths, the agent and the metrics
//! agree.

use crate::cluster::pgpool::PgpoolFault;
use crate::cluster::repmgr::{MastersError, NodeAnswer, WalReceiver};
use crate::cluster::text::Backend;
use crate::plumbing::json::{number_or_text, Json};

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

    /// How far behind the master my replay is in time: `now() -
    /// pg_last_xact_replay_timestamp()` as my PostgreSQL reported it, or
    /// zero when I replayed all I received (an idle master commits
    /// nothing, so the age grows although nothing is missing). `None` on a
    /// master, or when neither is known.
    pub fn lag_time(&self) -> Option<std::time::Duration> {
        if self.in_recovery() != Some(true) {
            return None;
        }
        let s = self.me.as_ref()?.answer.as_ref().ok()?;
        match (s.receive_lsn, s.lsn) {
            (Some(received), Some(replayed)) if replayed >= received => {
                Some(std::time::Duration::ZERO)
            }
            _ => s.replay_age,
        }
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

    pub(super) fn add_json(&self, j: Json) -> Json {
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
            .with(
                "lag_seconds",
                self.lag_time()
                    .map_or(Json::Null, |t| Json::from(t.as_secs_f64())),
            )
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

    pub(super) fn add_json(&self, j: Json) -> Json {
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
