//! What one poolstatus run found ([`Report`]) and the verdict on it
//! ([`Report::assess`]: the health rules, one reason sentence each). No I/O:
//! fixture tests build reports by hand and judge them.

use std::time::SystemTime;

use super::{render, ReportError};
use crate::cluster::repmgr::Metadata;
use crate::cluster::text::{Backend, DiskUse, RepmgrNode, RepmgrSchema, Role};
use crate::plumbing::net::host_port;

/// Nagios-style verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// Everything answered and is up.
    Ok,
    /// pgpool answers with a primary up, but a backend is down or a section
    /// failed.
    Degraded,
    /// pgpool unreachable, no primary up, or more than one node runs as
    /// primary (split brain).
    Critical,
}

impl Health {
    /// 0, 1, 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Health::Ok => 0,
            Health::Degraded => 1,
            Health::Critical => 2,
        }
    }

    /// `OK`, `DEGRADED`, `CRITICAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Degraded => "DEGRADED",
            Health::Critical => "CRITICAL",
        }
    }
}

/// repmgr's metadata as read from one node.
#[derive(Debug, Clone, PartialEq)]
pub struct RepmgrMeta {
    /// `host:port` it was read from.
    pub source: String,
    /// Which layout it was read from: repmgr 4+ (`repmgr.nodes`) or 3.x
    /// (`repmgr_<cluster>.repl_nodes`); the report speaks that repmgr's words.
    pub schema: RepmgrSchema,
    pub nodes: Vec<RepmgrNode>,
    /// Event counts (all, last 24 h), or why they could not be read.
    pub events: Result<(u64, u64), ReportError>,
    /// When its newest event was written (Unix seconds): with two nodes
    /// running as primary, the newer copy of the metadata is the one shown.
    pub last_event: Option<f64>,
}

impl RepmgrMeta {
    /// `repmgr.nodes` or `repmgr_<cluster>.repl_nodes`.
    pub fn table(&self) -> String {
        self.schema.nodes_table()
    }
}

use crate::cluster::repmgr::NodeState;

impl From<Metadata> for RepmgrMeta {
    fn from(m: Metadata) -> RepmgrMeta {
        RepmgrMeta {
            source: m.source,
            schema: m.schema,
            nodes: m.nodes,
            events: m.events.map_err(ReportError::from),
            last_event: m.last_event,
        }
    }
}

/// One database host: from show pool_nodes and/or repmgr's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    pub host: String,
    pub port: u16,
    /// repmgr node name, when the metadata names this host:port.
    pub name: Option<String>,
    /// repmgr's type of this host:port (`primary`, `standby`, `witness`),
    /// when the metadata names it.
    pub role: Option<Role>,
    /// The metadata marks this host:port inactive (`active = f`): repmgr
    /// set it so when another node was promoted (the old primary after a
    /// failover), or the node failed.
    pub inactive: bool,
    pub state: Result<NodeState, ReportError>,
    pub disk: Result<DiskUse, ReportError>,
}

impl NodeReport {
    /// `name` when known, else `host`.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.host)
    }

    /// Whether repmgr's metadata calls this host a witness.
    pub fn is_witness(&self) -> bool {
        self.role == Some(Role::Witness)
    }

    /// Answers as a primary and is no witness (a witness is a primary of
    /// its own, outside the replication).
    pub(super) fn is_live_primary(&self) -> bool {
        !self.is_witness() && matches!(&self.state, Ok(s) if !s.in_recovery)
    }

    /// Failed as repmgr means it: the metadata marks it inactive and it
    /// does not answer as a standby — unreachable, or still running as a
    /// primary after another node was promoted (split brain). repmgr 3's
    /// `cluster show` prints such a node `FAILED` (when unreachable),
    /// repmgr 5's `- failed` / `! running`. It is never a standby of the
    /// report (no slave rows); an inactive node that streams as a standby
    /// (rejoined, not yet registered again) is one.
    pub fn is_failed(&self) -> bool {
        self.inactive && !self.is_witness() && !matches!(&self.state, Ok(s) if s.in_recovery)
    }
}

/// Everything one poolstatus run found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub generated_at: SystemTime,
    /// `host:port` of pgpool.
    pub pgpool: String,
    pub pool_nodes: Result<Vec<Backend>, ReportError>,
    pub nodes: Vec<NodeReport>,
    pub repmgr: Result<RepmgrMeta, ReportError>,
    pub disk_path: String,
}

impl Report {
    /// The verdict and one sentence per reason (empty when all is well).
    pub fn assess(&self) -> (Health, Vec<String>) {
        let backends = match &self.pool_nodes {
            Err(e) => return (Health::Critical, vec![format!("pgpool unreachable: {e}")]),
            Ok(b) => b,
        };
        let mut reasons = Vec::new();
        // A backend pgpool has not checked yet (`waiting`) counts as up
        // only when it answered our own probe.
        let answers = |b: &Backend| {
            self.nodes
                .iter()
                .any(|n| n.host == b.hostname && n.port == b.port && n.state.is_ok())
        };
        let counts_up = |b: &Backend| b.is_up() || (b.is_waiting() && answers(b));
        let primary_up = backends
            .iter()
            .any(|b| b.role == Role::Primary && counts_up(b));
        if !primary_up {
            reasons.push(format!(
                "no primary up in show pool_nodes of pgpool {}",
                self.pgpool
            ));
        }
        for b in backends.iter().filter(|b| !counts_up(b)) {
            let what = if b.is_waiting() {
                "waiting in pgpool (not checked by pgpool yet) and does not answer".to_string()
            } else {
                format!("{} in pgpool", b.status)
            };
            reasons.push(format!(
                "backend {} {} ({}) is {what}",
                b.node_id,
                host_port(&b.hostname, b.port),
                b.role.as_str(),
            ));
        }
        for n in &self.nodes {
            if let Err(e) = &n.state {
                reasons.push(format!("node {}: {e}", n.label()));
            }
            if let Ok(s) = &n.state {
                if s.in_recovery && n.is_witness() {
                    reasons.push(format!(
                        "witness {} is in recovery (a repmgr witness runs as a primary of its own)",
                        n.label()
                    ));
                } else if s.in_recovery {
                    match &s.receiver {
                        Some(r) if r.status == "streaming" => {}
                        Some(r) => reasons.push(format!(
                            "standby {} is not streaming (wal receiver {})",
                            n.label(),
                            r.status
                        )),
                        None => reasons
                            .push(format!("standby {} has no wal receiver running", n.label())),
                    }
                }
            }
            if let Err(e) = &n.disk {
                reasons.push(format!("disk of {}: {e}", n.label()));
            }
        }
        let live: Vec<&NodeReport> = self.nodes.iter().filter(|n| n.is_live_primary()).collect();
        if live.len() > 1 {
            let names: Vec<String> = live
                .iter()
                .map(|n| {
                    if n.is_failed() {
                        format!("{} (inactive in repmgr's metadata)", n.label())
                    } else {
                        n.label().to_string()
                    }
                })
                .collect();
            reasons.push(format!(
                "{} nodes run as primary (split brain): {}",
                live.len(),
                names.join(", ")
            ));
        }
        if let [only] = live.as_slice() {
            let pool_primary = backends
                .iter()
                .find(|b| b.role == Role::Primary && counts_up(b));
            if let Some(b) = pool_primary {
                if (b.hostname.as_str(), b.port) != (only.host.as_str(), only.port) {
                    reasons.push(format!(
                        "pgpool's primary {} is not the live primary {}",
                        host_port(&b.hostname, b.port),
                        host_port(&only.host, only.port)
                    ));
                }
            }
        }
        match &self.repmgr {
            Err(e) => reasons.push(format!("repmgr metadata: {e}")),
            Ok(m) => {
                if let Err(e) = &m.events {
                    reasons.push(format!("repmgr events: {e}"));
                }
            }
        }
        let health = if !primary_up || live.len() > 1 {
            Health::Critical
        } else if reasons.is_empty() {
            Health::Ok
        } else {
            Health::Degraded
        };
        (health, reasons)
    }

    /// The verdict alone.
    pub fn status(&self) -> Health {
        self.assess().0
    }

    /// The report in the original's layout (see docs/compatibility.md), with a last
    /// `Status:` line.
    pub fn render_text(&self) -> String {
        render::text(self)
    }

    /// The same facts as one JSON document.
    pub fn render_json(&self) -> String {
        render::json(self).render()
    }

    /// The one line of a Monitoring Plugins check (no newline) and its
    /// state: the worst of [`Report::assess`] and the lag thresholds.
    pub fn render_nagios(&self, limits: render::LagThresholds) -> (render::PluginState, String) {
        render::nagios(self, limits)
    }
}
