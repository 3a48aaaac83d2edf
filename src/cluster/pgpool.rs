//! pgpool: its backends ([`Pgpool`], the one read strategy) and pgpwatch's
//! health judged from them. pgpool is healthy when a backend with role
//! primary (pgpool 3.x: master) is up or waiting (see
//! [`crate::watch::pgp`] for why a waiting primary counts). The rows are
//! read with [`super::text::pool_nodes`], so pgpwatch and poolstatus agree
//! on every pgpool layout. [`split_brain`] reads pgpool 4.2+'s `pg_role` against its
//! `role`.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::ProbeError;
use super::session::{with_session, with_session_then, Endpoint, FollowUp, TextRow};
use super::text::{pool_nodes, Backend, ParseError, Role};
use crate::config::PgpSettings;
use crate::plumbing::net::host_port;

/// Why pgpool is not healthy.
#[derive(Debug, Clone, PartialEq)]
pub enum PgpoolError {
    /// No answer (connect, TLS, authentication, time-out, query).
    Probe(ProbeError),
    /// The answer could not be read as `show pool_nodes` rows.
    Unreadable { at: String, detail: ParseError },
    /// pgpool knows no backend at all.
    NoBackends { at: String },
    /// No backend is up as primary.
    NoPrimaryUp { at: String, backends: usize },
}

impl fmt::Display for PgpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgpoolError::Probe(e) => write!(f, "{e}"),
            PgpoolError::Unreadable { at, detail } => {
                write!(f, "{at}: SHOW pool_nodes unreadable: {detail}")
            }
            PgpoolError::NoBackends { at } => {
                write!(f, "{at}: SHOW pool_nodes returned no backends")
            }
            PgpoolError::NoPrimaryUp { at, backends } => write!(
                f,
                "{at}: no backend up as primary among {backends} backend(s)"
            ),
        }
    }
}

impl std::error::Error for PgpoolError {}

/// What a healthy pgpool reported: the primary and how many backends are up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpoolHealth {
    /// `host:port` of the primary pgpool routes to.
    pub primary: String,
    /// That primary is `waiting` (pgpool has not checked it yet since it
    /// started), not `up`.
    pub primary_waiting: bool,
    /// Backends up (checked by pgpool).
    pub backends_up: usize,
    /// Backends waiting (not checked by pgpool yet).
    pub backends_waiting: usize,
    pub backends: usize,
}

impl fmt::Display for PgpoolHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.primary_waiting {
            "waiting (not checked by pgpool yet)"
        } else {
            "up"
        };
        write!(
            f,
            "primary {} {state}, {} of {} backend(s) up",
            self.primary, self.backends_up, self.backends
        )?;
        if self.backends_waiting > 0 {
            write!(f, ", {} waiting", self.backends_waiting)?;
        }
        Ok(())
    }
}

/// A split brain seen through pgpool (4.2+): a backend that pgpool does
/// not route writes to runs as a primary by its own word (`pg_role`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpoolSplitBrain {
    /// `host:port` of the pgpool that showed it.
    pub at: String,
    /// `host:port` of pgpool's primary (`role`).
    pub primary: String,
    /// `host:port` of each other backend whose `pg_role` is primary.
    pub others: Vec<String>,
}

impl fmt::Display for PgpoolSplitBrain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "split brain seen through pgpool {}: its primary is {} (role) but {} also run{} as primary (pg_role)",
            self.at,
            self.primary,
            self.others.join(", "),
            if self.others.len() == 1 { "s" } else { "" }
        )
    }
}

/// Why pgpwatch does not count pgpool healthy: its error, or a split brain
/// seen through it. `Display` is the inner one's.
#[derive(Debug, Clone, PartialEq)]
pub enum PgpoolFault {
    /// pgpool did not answer, or has no primary up.
    Unhealthy(PgpoolError),
    /// A backend besides pgpool's primary runs as primary.
    SplitBrain(PgpoolSplitBrain),
}

impl fmt::Display for PgpoolFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgpoolFault::Unhealthy(e) => write!(f, "{e}"),
            PgpoolFault::SplitBrain(sb) => write!(f, "{sb}"),
        }
    }
}

/// How long the details of `SHOW pool_nodes` are not asked again after
/// they timed out (see [`Pgpool::detail`]).
const DETAIL_BACKOFF: Duration = Duration::from_secs(60);

/// Why pgpool's backends could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// No answer (connect, TLS, authentication, time-out, query).
    Probe(ProbeError),
    /// The answer of `SHOW pool_nodes` at `at` (`host:port`) could not be
    /// read as backends.
    Unreadable { at: String, error: ParseError },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Probe(e) => write!(f, "{e}"),
            ReadError::Unreadable { at, error } => {
                write!(f, "{at}: SHOW pool_nodes unreadable: {error}")
            }
        }
    }
}

impl std::error::Error for ReadError {}

impl From<ReadError> for PgpoolError {
    fn from(e: ReadError) -> PgpoolError {
        match e {
            ReadError::Probe(e) => PgpoolError::Probe(e),
            ReadError::Unreadable { at, error } => PgpoolError::Unreadable { at, detail: error },
        }
    }
}

/// One pgpool, read within `timeout`: the one read strategy of pgpool's
/// backends, which pgpwatch's health check ([`Pgpool::backends`]) and
/// poolstatus's report (the same steps, with the database hosts probed while
/// `SHOW pool_nodes` runs) both follow.
///
/// pgpool's own view comes first, from `SHOW pool_health_check_stats`
/// (pgpool 4.2 and later): node, address, status and role, without talking
/// to the backends. `SHOW pool_nodes` adds pg_status, pg_role and the
/// replication delay, but asks every backend for them, and a backend behind
/// a network partition makes it wait for pgpool's own connect_timeout (10 s
/// by default) on every call, even once pgpool has detached that backend and
/// serves clients again: judged by `pool_nodes` alone, one partitioned
/// standby closed the gates of both pgpools — an outage. So `pool_nodes` only
/// adds detail: its failure never decides health, and after it timed out it
/// is not asked again for [`DETAIL_BACKOFF`]. A pgpool without the stats
/// command (3.6 to 4.1: its version says so, see [`stats`]), or whose stats
/// list no backend, is judged by `pool_nodes`, as before. pgpool 4.2+'s `pg_role` in the details is how a
/// split brain shows (see [`split_brain`]).
pub struct Pgpool<'a> {
    ep: &'a Endpoint,
    timeout: Duration,
    at: String,
}

impl<'a> Pgpool<'a> {
    /// The pgpool at `ep`, each session bounded by `timeout`.
    pub fn new(ep: &'a Endpoint, timeout: Duration) -> Pgpool<'a> {
        Pgpool {
            ep,
            timeout,
            at: host_port(&ep.host, ep.port),
        }
    }

    /// `host:port` of this pgpool.
    pub fn at(&self) -> &str {
        &self.at
    }

    /// pgpool's backends: its own view with `SHOW pool_nodes`' details when
    /// they come (see [`Pgpool`]). One session asks both: `pool_nodes` is
    /// the stats' follow-up on the same session, with a deadline of its
    /// own ([`with_session_then`]), so a `pool_nodes` that hangs never costs
    /// the stats' answer (what two sessions gave) and a check costs one
    /// session, not two.
    pub fn backends(&self) -> Result<Vec<Backend>, ReadError> {
        let plan = stats::plan(&self.at);
        if plan == stats::Plan::Skip {
            return self.pool_nodes();
        }
        let want_detail = detail_due(&self.at);
        let at = self.at.clone();
        let (stats, follow) = with_session_then(self.ep, self.timeout, move |s| {
            let stats = stats::ask(s, &at, plan);
            // pool_nodes adds the view's details, or is the only view; a
            // session that broke on the question is not asked again.
            let ask = match &stats {
                Ok(Some(_)) => want_detail,
                _ => s.is_open(),
            };
            Ok((stats, ask.then_some("SHOW pool_nodes")))
        })
        .map_err(ReadError::Probe)?;
        let view = stats.unwrap_or(None);
        let read = |rows: FollowUp| self.read_pool_nodes(&rows.map_err(ReadError::Probe)?);
        match (view, follow) {
            (Some(view), Some(rows)) => Ok(self.detail_from(view, || read(rows))),
            (Some(view), None) => Ok(view),
            (None, Some(rows)) => read(rows),
            (None, None) => self.pool_nodes(),
        }
    }

    /// pgpool's own view (`SHOW pool_health_check_stats`, pgpool 4.2+), or
    /// `None` when it has none to give (pgpool before 4.2, a refusal, no
    /// backend listed, an unreadable answer): then `SHOW pool_nodes` is the
    /// only view. A time-out is an error: a hung pgpool would not answer
    /// `pool_nodes` either, and is not waited for twice. A pgpool without
    /// the stats is not asked them again for [`stats::RECHECK`] ([`stats`]:
    /// its version is asked first, so that its PostgreSQL logs no ERROR).
    pub fn own_view(&self) -> Result<Option<Vec<Backend>>, ReadError> {
        let plan = stats::plan(&self.at);
        if plan == stats::Plan::Skip {
            return Ok(None);
        }
        let at = self.at.clone();
        match with_session(self.ep, self.timeout, move |s| Ok(stats::ask(s, &at, plan))) {
            Ok(view) => Ok(view.unwrap_or(None)),
            Err(e) if e.is_timeout() => Err(ReadError::Probe(e)),
            Err(_) => Ok(None),
        }
    }

    /// `SHOW pool_nodes`, read as backends.
    pub fn pool_nodes(&self) -> Result<Vec<Backend>, ReadError> {
        let rows = with_session(self.ep, self.timeout, |s| s.rows("SHOW pool_nodes"))
            .map_err(ReadError::Probe)?;
        self.read_pool_nodes(&rows)
    }

    fn read_pool_nodes(&self, rows: &[TextRow]) -> Result<Vec<Backend>, ReadError> {
        pool_nodes(rows).map_err(|error| ReadError::Unreadable {
            at: self.at.clone(),
            error,
        })
    }

    /// `view` with `SHOW pool_nodes`' details when they answer with as many
    /// backends, else `view` as it is. After a time-out the details are not
    /// asked for [`DETAIL_BACKOFF`].
    pub fn detail(&self, view: Vec<Backend>) -> Vec<Backend> {
        if !detail_due(&self.at) {
            return view;
        }
        self.detail_from(view, || self.pool_nodes())
    }

    /// [`Self::detail`] with the details read by `read`.
    fn detail_from(
        &self,
        view: Vec<Backend>,
        read: impl FnOnce() -> Result<Vec<Backend>, ReadError>,
    ) -> Vec<Backend> {
        let at = &self.at;
        match read() {
            Ok(detailed) if detailed.len() == view.len() => detailed,
            Ok(_) => view,
            Err(ReadError::Probe(e)) if e.is_timeout() => {
                back_off_detail(at);
                log::warn!(
                    "pgpool {at}: SHOW pool_nodes did not answer ({e}), probably a backend behind a partition; \
                     health comes from SHOW pool_health_check_stats, details are not asked for {}s",
                    DETAIL_BACKOFF.as_secs()
                );
                view
            }
            Err(e) => {
                log::warn!("{e}; pgpool {at}'s SHOW pool_health_check_stats is shown instead");
                view
            }
        }
    }
}

/// pgpwatch's pgpool: the local pgpool of `[pgpwatch]`, with the
/// credentials of OS account `os_user` (its `.pgpass` read now).
pub fn pgpool_endpoint(pgp: &PgpSettings, os_user: &str) -> Endpoint {
    Endpoint::for_os_user(
        os_user,
        &pgp.pgpool_host,
        pgp.pgpool_port,
        &pgp.pgpool_user,
        &pgp.pgpool_database,
        &pgp.tls,
    )
}

/// pgpool's backends as pgpwatch reads them, through `ep`
/// ([`pgpool_endpoint`]), each session bounded by `timeout`.
pub fn read_backends(ep: &Endpoint, timeout: Duration) -> Result<Vec<Backend>, PgpoolError> {
    Ok(Pgpool::new(ep, timeout).backends()?)
}

/// `host:port` of pgpools whose `pool_nodes` timed out, and when.
static DETAIL_TIMED_OUT: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

fn detail_due(at: &str) -> bool {
    let mut list = DETAIL_TIMED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|(_, when)| when.elapsed() < DETAIL_BACKOFF);
    !list.iter().any(|(a, _)| a == at)
}

fn back_off_detail(at: &str) {
    let mut list = DETAIL_TIMED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|(a, _)| a != at);
    list.push((at.to_string(), Instant::now()));
}

/// Judges the backends pgpool at `at` listed: healthy with a primary up
/// or waiting (an `up` one is named first).
pub fn backends_health(backends: &[Backend], at: &str) -> Result<PgpoolHealth, PgpoolError> {
    let primaries = || backends.iter().filter(|b| b.role == Role::Primary);
    let primary = primaries()
        .find(|b| b.is_up())
        .or_else(|| primaries().find(|b| b.is_waiting()));
    match primary {
        Some(p) => Ok(PgpoolHealth {
            primary: host_port(&p.hostname, p.port),
            primary_waiting: !p.is_up(),
            backends_up: backends.iter().filter(|b| b.is_up()).count(),
            backends_waiting: backends.iter().filter(|b| b.is_waiting()).count(),
            backends: backends.len(),
        }),
        None if backends.is_empty() => Err(PgpoolError::NoBackends { at: at.to_string() }),
        None => Err(PgpoolError::NoPrimaryUp {
            at: at.to_string(),
            backends: backends.len(),
        }),
    }
}

/// A split brain in the backends pgpool at `at` listed: pgpool routes
/// writes to its `role` primary while another backend's `pg_role` (what
/// PostgreSQL answered pgpool, 4.2+) is primary — typically an old primary
/// restarted after a failover, which pgpool detached. `None` without a
/// `pg_role` column (pgpool before 4.2, or only `SHOW
/// pool_health_check_stats` answered), or without a primary by `role`
/// (that pgpool is unhealthy anyway).
pub fn split_brain(backends: &[Backend], at: &str) -> Option<PgpoolSplitBrain> {
    let primary = backends
        .iter()
        .filter(|b| b.role == Role::Primary && b.is_routed())
        .min_by_key(|b| !b.is_up())?;
    let others: Vec<String> = backends
        .iter()
        .filter(|b| b.role != Role::Primary && b.pg_role() == Some(Role::Primary))
        .map(|b| host_port(&b.hostname, b.port))
        .collect();
    (!others.is_empty()).then(|| PgpoolSplitBrain {
        at: at.to_string(),
        primary: host_port(&primary.hostname, primary.port),
        others,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::TextRow;

    /// Judges `SHOW pool_nodes` rows read at `at` (`host:port`).
    fn pool_nodes_health(rows: &[TextRow], at: &str) -> Result<PgpoolHealth, PgpoolError> {
        let backends = pool_nodes(rows).map_err(|detail| PgpoolError::Unreadable {
            at: at.to_string(),
            detail,
        })?;
        backends_health(&backends, at)
    }

    use crate::cluster::text::row_of as row;

    #[test]
    fn pool_nodes_health_needs_a_primary_that_is_up() {
        let at = "127.0.10.1:5432";
        let primary_up = row(&[
            ("node_id", "0"),
            ("hostname", "db1"),
            ("port", "5432"),
            ("status", "up"),
            ("role", "primary"),
        ]);
        let standby_up = row(&[
            ("node_id", "1"),
            ("hostname", "db2"),
            ("port", "5432"),
            ("status", "up"),
            ("role", "standby"),
        ]);
        let primary_down = row(&[
            ("node_id", "0"),
            ("hostname", "db1"),
            ("port", "5432"),
            ("status", "down"),
            ("role", "primary"),
        ]);
        let old_master = row(&[
            ("node_id", "0"),
            ("hostname", "db1"),
            ("port", "5432"),
            ("status", "2"),
            ("role", "master"),
        ]);
        assert_eq!(
            pool_nodes_health(&[primary_up, standby_up.clone()], at).map(|h| h.to_string()),
            Ok("primary db1:5432 up, 2 of 2 backend(s) up".to_string())
        );
        assert!(
            pool_nodes_health(&[old_master], at).is_ok(),
            "pgpool 3.x: master, status 2"
        );
        assert_eq!(
            pool_nodes_health(&[primary_down, standby_up], at).map_err(|e| e.to_string()),
            Err("127.0.10.1:5432: no backend up as primary among 2 backend(s)".to_string())
        );
        assert_eq!(
            pool_nodes_health(&[], at).map_err(|e| e.to_string()),
            Err("127.0.10.1:5432: SHOW pool_nodes returned no backends".to_string())
        );
        let garbled = row(&[("hostname", "db1"), ("port", "x")]);
        assert!(matches!(
            pool_nodes_health(&[garbled], at),
            Err(PgpoolError::Unreadable { .. })
        ));
    }
}

mod stats;

#[cfg(test)]
mod session_tests;
