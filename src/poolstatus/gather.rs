//! Gathering a [`Report`]: the only I/O of poolstatus. `show pool_nodes`
//! through pgpool first (it names the database hosts); then, concurrently,
//! one session per database host (role, WAL positions, replication rows,
//! repmgr metadata and event counts) and one SSH session per host
//! (`df -P disk_path`); then the same for any node that only repmgr's
//! metadata names. Each worker bounds itself by `connect_timeout`;
//! [`run_within`] is the backstop, so the whole run takes at most about
//! three timeouts.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use super::{ssh, NodeReport, RepmgrMeta, Report, ReportError, Target};
use crate::cluster::pgpool::Pgpool;
use crate::cluster::repmgr;
use crate::cluster::repmgr::NodeState;
use crate::cluster::text::{Backend, Role};
use crate::cluster::Endpoint;
use crate::plumbing::deadline::{run_within, WithinError};
use crate::plumbing::net::host_port;

/// Waits for `work` on its own thread until `deadline`; no answer by then
/// (or no thread) is a [`ReportError`] of `step` on `host:port`.
fn within<T: Send + 'static>(
    step: &'static str,
    host: &str,
    port: u16,
    deadline: Instant,
    timeout: Duration,
    work: impl FnOnce() -> Result<T, ReportError> + Send + 'static,
) -> Result<T, ReportError> {
    let left = deadline.saturating_duration_since(Instant::now());
    match run_within(&format!("poolstatus {step}"), left, work) {
        Ok(r) => r,
        Err(WithinError::TimedOut(_)) => Err(ReportError::Unanswered {
            step,
            host: host.to_string(),
            port,
            after: timeout,
        }),
        Err(WithinError::Spawn(_) | WithinError::Panicked) => Err(ReportError::WorkerFailed {
            step,
            host: host.to_string(),
            port,
        }),
    }
}

/// Gathers the report. Every section is bounded; the whole run takes at most
/// about three `connect_timeout`s (pool_nodes, nodes, nodes known only to
/// repmgr).
pub fn run(target: &Target, now: SystemTime) -> Report {
    let t = target.connect_timeout;
    let pgpool = host_port(&target.pgpool_host, target.pgpool_port);
    let ep = target.endpoint(
        &target.pgpool_host,
        target.pgpool_port,
        &target.pgpool_user,
        &target.pgpool_database,
    );
    let pgpool_read = Pgpool::new(&ep, t);
    let read_pool_nodes = || pgpool_read.pool_nodes().map_err(ReportError::from);
    // pgpool's own view first (pool_health_check_stats, pgpool 4.1+: no
    // backend is asked), so the database hosts are known at once even when
    // pool_nodes waits pgpool's connect_timeout for a backend behind a
    // partition; pool_nodes then runs while the hosts are probed, and when
    // it does not answer the table shows pgpool's own view (see
    // [`Pgpool`]). A hung pgpool: its answer to pool_nodes would not come
    // either.
    let (pool_nodes, probed) = match pgpool_read.own_view() {
        Err(e) => (Err(ReportError::from(e)), None),
        Ok(None) => {
            // pgpool before 4.1 has no stats command: pool_nodes as before.
            let pool_nodes = read_pool_nodes();
            let probed = pool_nodes.as_ref().ok().map(|backends| {
                let hosts = dedup(backends.iter().map(|b| (b.hostname.clone(), b.port)));
                let found = probe_nodes(target, &hosts);
                (hosts, found)
            });
            (pool_nodes, probed)
        }
        Ok(Some(view)) => {
            let hosts = dedup(view.iter().map(|b| (b.hostname.clone(), b.port)));
            let (pool_nodes, found) = std::thread::scope(|scope| {
                let fallback = view.clone();
                let pn = scope.spawn(|| pgpool_read.detail(view));
                let found = probe_nodes(target, &hosts);
                let pool_nodes = Ok(pn.join().unwrap_or(fallback));
                (pool_nodes, found)
            });
            (pool_nodes, Some((hosts, found)))
        }
    };
    let mut report = Report {
        generated_at: now,
        pgpool,
        pool_nodes,
        nodes: Vec::new(),
        repmgr: Err(ReportError::NoHostKnown),
        disk_path: target.disk_path.clone(),
    };
    // No pgpool answered: the database hosts the configuration names
    // (repmgrwatch's repmgr_host), and the nodes repmgr knows from there.
    let probed = match (&report.pool_nodes, probed) {
        (Err(_), None) if !target.fallback_hosts.is_empty() => {
            let hosts = dedup(target.fallback_hosts.iter().cloned());
            let found = probe_nodes(target, &hosts);
            Some((hosts, found))
        }
        (_, probed) => probed,
    };
    let no_backends = Vec::new();
    let backends = report.pool_nodes.as_ref().unwrap_or(&no_backends);
    let Some((hosts, (mut nodes, mut metas))) = probed else {
        return report;
    };

    let mut meta = pick_meta(&nodes, &metas, backends);
    // Nodes that only repmgr knows.
    if let Ok(m) = &meta {
        let extra: Vec<(String, u16)> = dedup(
            m.nodes
                .iter()
                .filter_map(|n| n.conninfo.host_port().ok())
                .filter(|hp| !hosts.contains(hp)),
        );
        if !extra.is_empty() {
            let (more, more_metas) = probe_nodes(target, &extra);
            nodes.extend(more);
            metas.extend(more_metas);
        }
    } else {
        meta = pick_meta(&nodes, &metas, backends);
    }
    if let Ok(m) = &meta {
        for n in nodes.iter_mut() {
            let entry = m
                .nodes
                .iter()
                .find(|r| r.conninfo.host_port().ok().as_ref() == Some(&(n.host.clone(), n.port)));
            n.name = entry.map(|r| r.name.clone());
            n.role = entry.map(|r| r.role.clone());
            n.inactive = entry.is_some_and(|r| !r.active);
        }
    }
    report.nodes = nodes;
    report.repmgr = meta;
    report
}

fn dedup(items: impl Iterator<Item = (String, u16)>) -> Vec<(String, u16)> {
    let mut seen = BTreeSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

/// Probes hosts concurrently: database session and ssh `df` per host.
fn probe_nodes(
    target: &Target,
    hosts: &[(String, u16)],
) -> (Vec<NodeReport>, Vec<Result<RepmgrMeta, ReportError>>) {
    let t = target.connect_timeout;
    // Each worker bounds itself; this is the backstop.
    let deadline = Instant::now() + t + Duration::from_millis(500);
    std::thread::scope(|scope| {
        let pending: Vec<_> = hosts
            .iter()
            .map(|(host, port)| {
                let ep = target.endpoint(host, *port, &target.repmgr_user, &target.repmgr_database);
                let db = scope.spawn(move || {
                    within("connect", host, *port, deadline, t, move || {
                        probe_node(&ep, t)
                    })
                });
                let st = ssh::SshTarget {
                    host: host.clone(),
                    port: target.ssh_port,
                    user: target.ssh_user.clone(),
                    key: target.ssh_key.clone(),
                    known_hosts: target.ssh_known_hosts.clone(),
                    home: target.ssh_home.clone(),
                    key_owner: target.credentials_user.clone(),
                    timeout: t,
                };
                let path = target.disk_path.clone();
                let disk = scope.spawn(move || {
                    within("ssh", host, target.ssh_port, deadline, t, move || {
                        ssh::disk_use(&st, &path).map_err(ReportError::from)
                    })
                });
                (host, *port, db, disk)
            })
            .collect();
        let mut nodes = Vec::new();
        let mut metas = Vec::new();
        for (host, port, db, disk) in pending {
            let lost = |step| ReportError::WorkerFailed {
                step,
                host: host.clone(),
                port,
            };
            let (state, meta) = match db.join().unwrap_or_else(|_| Err(lost("connect"))) {
                Ok((s, m)) => (Ok(s), m),
                Err(e) => (Err(e.clone()), Err(e)),
            };
            let disk = disk.join().unwrap_or_else(|_| Err(lost("ssh")));
            metas.push(meta);
            nodes.push(NodeReport {
                host: host.clone(),
                port,
                name: None,
                role: None,
                inactive: false,
                state,
                disk,
            });
        }
        (nodes, metas)
    })
}

/// The metadata of the live primary (of several, the newest copy: a
/// restarted old primary still holds the metadata from before its
/// failover), else of pgpool's primary, else of any node that had it; else
/// the first reason.
fn pick_meta(
    nodes: &[NodeReport],
    metas: &[Result<RepmgrMeta, ReportError>],
    backends: &[Backend],
) -> Result<RepmgrMeta, ReportError> {
    let pairs: Vec<(&NodeReport, &Result<RepmgrMeta, ReportError>)> =
        nodes.iter().zip(metas).collect();
    let newest_live = pairs
        .iter()
        .filter(|(n, _)| n.is_live_primary())
        .filter_map(|(_, m)| m.as_ref().ok())
        .max_by(|a, b| {
            let t = |m: &RepmgrMeta| m.last_event.unwrap_or(f64::MIN);
            t(a).total_cmp(&t(b))
        });
    if let Some(m) = newest_live {
        return Ok(m.clone());
    }
    let is_pool_primary = |n: &NodeReport| {
        backends
            .iter()
            .any(|b| b.role == Role::Primary && b.hostname == n.host && b.port == n.port)
    };
    let ranked = pairs
        .iter()
        .filter(|(n, _)| is_pool_primary(n))
        .chain(pairs.iter());
    let mut first_err = None;
    for (_, m) in ranked {
        match m {
            Ok(m) => return Ok(m.clone()),
            Err(e) => {
                first_err.get_or_insert_with(|| e.clone());
            }
        }
    }
    Err(first_err.unwrap_or(ReportError::NoNode))
}

/// One session on a database node ([`repmgr::node_state`]): role, WAL
/// positions, replication, and repmgr's metadata (whose failure does not
/// fail the node).
fn probe_node(
    ep: &Endpoint,
    t: Duration,
) -> Result<(NodeState, Result<RepmgrMeta, ReportError>), ReportError> {
    let (state, meta) = repmgr::node_state(ep, t)?;
    Ok((state, meta.map(RepmgrMeta::from).map_err(ReportError::from)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::text::RepmgrSchema;

    fn node(host: &str, in_recovery: bool) -> NodeReport {
        NodeReport {
            host: host.into(),
            port: 5432,
            name: None,
            role: None,
            inactive: false,
            state: Ok(NodeState {
                server_version_num: 150_000,
                in_recovery,
                current_lsn: None,
                receive_lsn: None,
                replay_lsn: None,
                senders: vec![],
                receiver: None,
            }),
            disk: Err(ReportError::NoNode),
        }
    }

    fn meta(source: &str, last_event: Option<f64>) -> Result<RepmgrMeta, ReportError> {
        Ok(RepmgrMeta {
            source: source.into(),
            schema: RepmgrSchema::V4,
            nodes: vec![],
            events: Ok((1, 1)),
            last_event,
        })
    }

    #[test]
    fn with_two_live_primaries_the_newest_metadata_wins() {
        // db1, the old primary restarted after db2's promotion, holds the
        // metadata from before it; db2's copy has the promotion's event.
        let nodes = [node("db1", false), node("db2", false), node("db3", true)];
        let metas = [
            meta("db1", Some(1_000.0)),
            meta("db2", Some(2_000.0)),
            meta("db3", Some(2_000.0)),
        ];
        assert_eq!(
            pick_meta(&nodes, &metas, &[]).map(|m| m.source),
            Ok("db2".into())
        );
        let metas = [
            meta("db1", Some(3_000.0)),
            meta("db2", None),
            meta("db3", None),
        ];
        assert_eq!(
            pick_meta(&nodes, &metas, &[]).map(|m| m.source),
            Ok("db1".into())
        );
        // One live primary: its metadata, whatever the others hold.
        let nodes = [node("db1", true), node("db2", false), node("db3", true)];
        let metas = [
            meta("db1", Some(9_000.0)),
            meta("db2", Some(1.0)),
            meta("db3", None),
        ];
        assert_eq!(
            pick_meta(&nodes, &metas, &[]).map(|m| m.source),
            Ok("db2".into())
        );
    }
}
