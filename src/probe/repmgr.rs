//! repmgrwatch's masters probe: the active primary/standby nodes in repmgr's
//! metadata at `repmgr_host` (repmgr 4/5 `repmgr.nodes`, else 3.x
//! `repmgr_*.repl_nodes`), each asked `pg_is_in_recovery()` in parallel
//! within `connect_timeout`; the masters are the nodes answering false. A
//! witness (or a node of an unknown type) is never a candidate: it is
//! writable by design and would count as a second master.

use std::fmt;
use std::sync::Mutex;

use super::error::{host_port, ProbeError};
use super::pg::{with_session, Endpoint};
use crate::config::Settings;
use crate::pgpass::password_for;
use crate::poolstatus::parse;

/// Why the masters could not be listed.
#[derive(Debug, Clone, PartialEq)]
pub enum MastersError {
    /// repmgr's metadata database did not answer.
    Read(ProbeError),
    /// It answered, but holds no repmgr metadata.
    NoMetadata { at: String },
    /// The metadata rows could not be read.
    Unreadable { at: String, detail: String },
    /// No active primary or standby node is registered.
    NoCandidates { at: String },
}

impl fmt::Display for MastersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MastersError::Read(e) => write!(f, "read repmgr nodes: {e}"),
            MastersError::NoMetadata { at } => write!(
                f,
                "read repmgr nodes at {at}: no repmgr metadata (neither repmgr.nodes nor repmgr_*.repl_nodes)"
            ),
            MastersError::Unreadable { at, detail } => {
                write!(f, "read repmgr nodes at {at}: {detail}")
            }
            MastersError::NoCandidates { at } => write!(
                f,
                "read repmgr nodes: no active primary or standby node at {at}"
            ),
        }
    }
}

impl std::error::Error for MastersError {}

/// The names of the nodes answering `pg_is_in_recovery() = false`.
pub fn probe_masters(settings: &Settings) -> Result<Vec<String>, MastersError> {
    let r = &settings.repmgr;
    let os_user = crate::config::credentials_user(&settings.general.poolstatus_user);
    let at = host_port(&r.repmgr_host, r.repmgr_port);
    let ep = Endpoint {
        host: r.repmgr_host.clone(),
        port: r.repmgr_port,
        user: r.repmgr_user.clone(),
        database: r.repmgr_database.clone(),
        password: password_for(
            &os_user,
            &r.repmgr_host,
            r.repmgr_port,
            &r.repmgr_database,
            &r.repmgr_user,
        ),
        tls: r.tls.for_user(&os_user),
    };
    let nodes = with_session(&ep, r.connect_timeout, |s| {
        let detect = s.row(parse::DETECT_SCHEMA_SQL)?;
        let Some(schema) = parse::repmgr_schema(&detect) else {
            return Ok(None);
        };
        Ok(Some(parse::repmgr_nodes(&s.rows(&schema.nodes_sql())?)))
    })
    .map_err(MastersError::Read)?
    .ok_or_else(|| MastersError::NoMetadata { at: at.clone() })?
    .map_err(|detail| MastersError::Unreadable {
        at: at.clone(),
        detail: detail.to_string(),
    })?;
    let (nodes, unknown) = parse::master_candidates(nodes);
    warn_unknown_once(unknown, &at);
    if nodes.is_empty() {
        return Err(MastersError::NoCandidates { at });
    }
    let answers: Vec<(String, Result<bool, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                let name = node.name.clone();
                // Either libpq form; a conninfo that cannot be read is this
                // node's error, never a guess at its address.
                let ep = crate::conninfo::parse(&node.conninfo)
                    .map_err(|e| e.to_string())
                    .map(|info| {
                        let host = info.host.clone().unwrap_or_else(|| name.clone());
                        let port = info.port.unwrap_or(5432);
                        let user = info.user.clone().unwrap_or_else(|| r.repmgr_user.clone());
                        let database = info
                            .dbname
                            .clone()
                            .unwrap_or_else(|| r.repmgr_database.clone());
                        let password = info
                            .password
                            .clone()
                            .or_else(|| password_for(&os_user, &host, port, &database, &user));
                        // The node's conninfo wins over [repmgr]'s TLS keys, as in libpq.
                        let tls = info.tls_over(&r.tls).for_user(&os_user);
                        Endpoint {
                            host,
                            port,
                            user,
                            database,
                            password,
                            tls,
                        }
                    });
                let timeout = r.connect_timeout;
                scope.spawn(move || {
                    let res = ep.and_then(|ep| {
                        with_session(&ep, timeout, |s| {
                            s.row("SELECT pg_is_in_recovery()::text AS r")
                        })
                        .map(|row| row.get("r").map(String::as_str) == Some("false"))
                        .map_err(|e| e.to_string())
                    });
                    (name, res)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut masters = Vec::new();
    for (name, res) in answers {
        match res {
            Ok(true) => masters.push(name),
            Ok(false) => {}
            Err(e) => log::debug!("repmgrwatch: node {name} does not answer: {e}"),
        }
    }
    Ok(masters)
}

/// Logs each (node, type) that is neither primary nor standby once.
fn warn_unknown_once(unknown: Vec<(String, String)>, at: &str) {
    static WARNED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    for (name, kind) in unknown {
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        if !warned.contains(&(name.clone(), kind.clone())) {
            log::warn!(
                "repmgrwatch: node {name} in repmgr's metadata at {at} has type {kind:?}, \
                 neither primary nor standby; it is never counted as a master (logged once)"
            );
            warned.push((name, kind));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conninfo_keys_and_quoted_values() {
        let got = crate::poolstatus::parse::conninfo_pairs(
            "host=db1 port = 5433 user='re pm\\'gr' dbname=repmgr connect_timeout=2",
        )
        .expect("valid conninfo");
        assert_eq!(
            got,
            vec![
                ("host".to_string(), "db1".to_string()),
                ("port".to_string(), "5433".to_string()),
                ("user".to_string(), "re pm'gr".to_string()),
                ("dbname".to_string(), "repmgr".to_string()),
                ("connect_timeout".to_string(), "2".to_string()),
            ]
        );
        assert_eq!(crate::poolstatus::parse::conninfo_pairs(""), Ok(vec![]));
        assert!(crate::poolstatus::parse::conninfo_pairs("garbage").is_err());
    }
}
