//! PostgreSQL and pgpool sessions with a deadline. The connection and its
//! queries run on a worker thread and the caller waits on a channel with
//! `recv_timeout`. A worker that outlives its deadline is left to finish on
//! its own (its socket also has TCP keepalives and `tcp_user_timeout`, so a
//! dead network ends it; a frozen-but-alive peer ends it when it thaws or
//! dies). To keep such leftovers bounded, at most
//! [`MAX_PENDING_PER_SERVER`] workers may be outstanding per `host:port`;
//! beyond that a call fails at once with [`ProbeError::Busy`] instead of
//! starting another one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use postgres::config::{SslMode as WireMode, SslNegotiation};
use postgres::{Client, NoTls, SimpleQueryMessage};

pub use super::endpoint::Endpoint;
use super::error::{pg_detail, ProbeError};
use super::guard::{
    over_budget_detail, refuses_cleartext, Guard, PlainGuard, PreferGuard, TlsGuard,
    CLEARTEXT_REFUSED, CLEARTEXT_WAYS_OUT, MAX_SESSION_BYTES,
};
use super::tls::{handshake_error, tls_detail, LazyTls, VerifySlot};
use crate::config::tls::{SslMode, TlsSettings};
use crate::plumbing::deadline::{run_within, WithinError};
use crate::plumbing::net::host_port;
use crate::plumbing::net::is_unix_socket;
use crate::secret::Secret;

/// One result row of a simple (text protocol) query: column name -> text
/// value. A SQL NULL is an absent key.
pub type TextRow = HashMap<String, String>;

/// How many timed-out workers may still be waiting on one `host:port`
/// before further calls fail at once with [`ProbeError::Busy`].
pub const MAX_PENDING_PER_SERVER: usize = 4;

static PENDING: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// Counts one outstanding worker for a server; released on drop (when the
/// worker thread ends, however late).
struct PendingSlot(String);

impl PendingSlot {
    fn take(host: &str, port: u16) -> Option<PendingSlot> {
        let key = host_port(host, port);
        let mut guard = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        let n = map.entry(key.clone()).or_insert(0);
        if *n >= MAX_PENDING_PER_SERVER {
            return None;
        }
        *n += 1;
        Some(PendingSlot(key))
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut guard = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = guard.as_mut() {
            if let Some(n) = map.get_mut(&self.0) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&self.0);
                }
            }
        }
    }
}

/// Runs `work` on a worker thread and waits at most `timeout` for it. On
/// time-out the worker is left to end by itself (see the module docs) and a
/// `Timeout` error for `step` is returned.
fn within<T, F>(
    host: &str,
    port: u16,
    step: &str,
    timeout: Duration,
    work: F,
) -> Result<T, ProbeError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ProbeError> + Send + 'static,
{
    let slot = PendingSlot::take(host, port).ok_or_else(|| ProbeError::Busy {
        host: host.to_string(),
        port,
    })?;
    let name = format!("probe {}", host_port(host, port));
    let result = run_within(&name, timeout, move || {
        let _slot = slot;
        work()
    });
    match result {
        Ok(r) => r,
        Err(WithinError::TimedOut(_)) => Err(ProbeError::Timeout {
            host: host.to_string(),
            port,
            step: step.to_string(),
            after: timeout,
        }),
        Err(e) => Err(ProbeError::failed(host, port, step, e.to_string())),
    }
}

fn pg_config(ep: &Endpoint, timeout: Duration) -> postgres::Config {
    let mut cfg = postgres::Config::new();
    cfg.host(&ep.host)
        .port(ep.port)
        .user(&ep.user)
        .dbname(&ep.database)
        .application_name("pgpoolwatch")
        .connect_timeout(timeout)
        .tcp_user_timeout(timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3);
    if let Some(pw) = &ep.password {
        cfg.password(pw.expose());
    }
    cfg
}

/// One connection as `ep.tls.mode` says (see the module docs), its socket
/// guarded ([`super::guard`]): a byte budget, and no cleartext password
/// where [`refuses_cleartext`] says so.
pub(super) fn connect_now(ep: &Endpoint, timeout: Duration) -> Result<Client, ProbeError> {
    connect_guarded(ep, timeout, refuses_cleartext(ep), MAX_SESSION_BYTES)
}

/// A session that failed: the error, its text, and whether it was the
/// cleartext guard that refused.
struct Failure {
    error: Option<postgres::Error>,
    detail: String,
    refused: bool,
}

impl Failure {
    /// Session error `e` as `guard` saw it: a refused cleartext request or
    /// a server past the byte budget `limit` says so, `detail` the rest.
    fn seen(
        ep: &Endpoint,
        guard: &Guard,
        limit: u64,
        e: postgres::Error,
        detail: impl FnOnce(&postgres::Error) -> String,
    ) -> Failure {
        let refused = guard.refused_cleartext();
        let detail = if refused {
            format!(
                "{CLEARTEXT_REFUSED} (sslmode={}); {CLEARTEXT_WAYS_OUT}",
                ep.tls.mode.as_str()
            )
        } else if guard.over_budget() {
            over_budget_detail(limit)
        } else {
            detail(&e)
        };
        Failure {
            error: Some(e),
            detail,
            refused,
        }
    }
}

/// The TLS connector for `tls` ([`LazyTls`]: no OpenSSL until a server
/// accepts TLS), or the settings error that stops the connection before it
/// starts.
fn tls_connector(tls: &TlsSettings) -> Result<(LazyTls, VerifySlot), Failure> {
    tls.connector().map_err(|d| Failure {
        error: None,
        detail: format!("TLS: {d}"),
        refused: false,
    })
}

/// [`connect_now`] with the guard's settings given: `refuse_cleartext`
/// (tests set it for a server on loopback) and the byte budget `limit`.
fn connect_guarded(
    ep: &Endpoint,
    timeout: Duration,
    refuse_cleartext: bool,
    limit: u64,
) -> Result<Client, ProbeError> {
    let fail = |detail: String| ProbeError::failed(&ep.host, ep.port, "connect", detail);
    // A Unix socket is this machine: no TLS, nothing to watch.
    let unix = is_unix_socket(&ep.host);
    let plain = || {
        let guard = Guard::with_limit(refuse_cleartext, limit);
        let result = if unix {
            pg_config(ep, timeout).connect(NoTls)
        } else {
            let mut cfg = pg_config(ep, timeout);
            // Direct negotiation hands the raw socket to the guard, which
            // wraps it instead of starting TLS.
            cfg.ssl_mode(WireMode::Require)
                .ssl_negotiation(SslNegotiation::Direct);
            cfg.connect(PlainGuard(guard.clone()))
        };
        result.map_err(|e| {
            let mut f = Failure::seen(ep, &guard, limit, e, pg_detail);
            // A server that wants TLS refuses a plain session in pg_hba.
            let db = f.error.as_ref().is_some_and(|e| e.as_db_error().is_some());
            if db && ep.tls.mode == SslMode::Disable {
                f.detail.push_str(" (sslmode=disable)");
            }
            f
        })
    };
    let tls = |wire: WireMode| -> Result<Client, Failure> {
        let (connector, slot) = tls_connector(&ep.tls)?;
        let guard = Guard::with_limit(false, limit);
        let mut cfg = pg_config(ep, timeout);
        cfg.ssl_mode(wire);
        let result = if unix {
            cfg.connect(connector)
        } else {
            cfg.connect(TlsGuard {
                inner: connector,
                guard: guard.clone(),
            })
        };
        result.map_err(|e| Failure::seen(ep, &guard, limit, e, |e| tls_detail(e, &slot, &ep.tls)))
    };
    let prefer = || -> Result<Client, Failure> {
        let (connector, slot) = tls_connector(&ep.tls)?;
        let guard = Guard::with_limit(refuse_cleartext, limit);
        let mut cfg = pg_config(ep, timeout);
        cfg.ssl_mode(WireMode::Require)
            .ssl_negotiation(SslNegotiation::Direct);
        cfg.connect(PreferGuard {
            inner: connector,
            guard: guard.clone(),
        })
        .map_err(|e| Failure::seen(ep, &guard, limit, e, |e| tls_detail(e, &slot, &ep.tls)))
    };
    let db_error = |f: &Failure| f.error.as_ref().is_some_and(|e| e.as_db_error().is_some());
    let tls_failed = |f: &Failure| {
        f.error
            .as_ref()
            .is_some_and(|e| handshake_error(e).is_some())
    };
    match ep.tls.mode {
        SslMode::Disable => plain().map_err(|f| fail(f.detail)),
        // The server refused the plain session (e.g. pg_hba hostssl only),
        // or asked for a cleartext password, which TLS may carry.
        SslMode::Allow => match plain() {
            Ok(c) => Ok(c),
            Err(p) if p.refused => tls(WireMode::Require)
                .map_err(|t| fail(format!("{}; then TLS: {}", p.detail, t.detail))),
            Err(p) if db_error(&p) => tls(WireMode::Require).map_err(|t| fail(t.detail)),
            Err(p) => Err(fail(p.detail)),
        },
        // TLS when the server offers it, else plain on the same socket,
        // watched; a failed handshake is retried in plain text on a new
        // connection, as libpq does.
        SslMode::Prefer if !unix => match prefer() {
            Ok(c) => Ok(c),
            Err(t) if tls_failed(&t) => plain().map_err(|p| fail(p.detail)),
            Err(t) => Err(fail(t.detail)),
        },
        SslMode::Prefer => match tls(WireMode::Prefer) {
            Ok(c) => Ok(c),
            Err(t) if tls_failed(&t) => plain().map_err(|p| fail(p.detail)),
            Err(t) => Err(fail(t.detail)),
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            tls(WireMode::Require).map_err(|t| fail(t.detail))
        }
    }
}

/// Opens a connection that is ready within `timeout` or fails with a
/// `connect host:port: ...` error. Later queries on the returned client are
/// not bounded; use [`query_within`] or [`with_session`] for them.
pub fn connect(
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    password: Option<&str>,
    timeout: Duration,
) -> Result<Client, ProbeError> {
    let ep = Endpoint::new(
        host,
        port,
        user,
        database,
        password.map(Secret::from),
        TlsSettings::default(),
    );
    let secret = ep.password.clone();
    within(host, port, "connect", timeout, move || {
        connect_now(&ep, timeout)
    })
    .map_err(|e| e.redacted(secret.as_ref()))
}

/// Connects to `ep` and runs `work` on the session, all within one
/// `timeout`. `work` receives a [`Session`] whose errors already name the
/// host, port and step.
pub fn with_session<T, F>(ep: &Endpoint, timeout: Duration, work: F) -> Result<T, ProbeError>
where
    T: Send + 'static,
    F: FnOnce(&mut Session) -> Result<T, ProbeError> + Send + 'static,
{
    session_within(ep, timeout, move |mut s| work(&mut s))
}

/// Connects to `ep` and hands the session to `work`, within `timeout`.
fn session_within<T, F>(ep: &Endpoint, timeout: Duration, work: F) -> Result<T, ProbeError>
where
    T: Send + 'static,
    F: FnOnce(Session) -> Result<T, ProbeError> + Send + 'static,
{
    let ep = ep.clone();
    let secret = ep.password.clone();
    let (host, port) = (ep.host.clone(), ep.port);
    // The step named on time-out is the last one the worker started.
    let step = std::sync::Arc::new(Mutex::new(String::from("connect")));
    let step_w = step.clone();
    let result = within(&host, port, "connect", timeout, move || {
        let client = connect_now(&ep, timeout)?;
        work(Session {
            client,
            host: ep.host.clone(),
            port: ep.port,
            step: step_w,
        })
    });
    named_and_redacted(result, &step, secret.as_ref())
}

/// `result` with a time-out naming the last step the worker started, and
/// no error holding `secret`.
fn named_and_redacted<T>(
    result: Result<T, ProbeError>,
    step: &Mutex<String>,
    secret: Option<&Secret>,
) -> Result<T, ProbeError> {
    match result {
        Err(ProbeError::Timeout {
            host, port, after, ..
        }) => {
            let step = step.lock().map(|s| s.clone()).unwrap_or_default();
            Err(ProbeError::Timeout {
                host,
                port,
                step,
                after,
            })
        }
        other => other.map_err(|e| e.redacted(secret)),
    }
}

/// An open connection inside [`with_session`].
pub struct Session {
    client: Client,
    host: String,
    port: u16,
    step: std::sync::Arc<Mutex<String>>,
}

impl Session {
    /// Runs `sql` with the simple query protocol (every value is text);
    /// errors are `query host:port (first words of sql): detail`.
    pub fn rows(&mut self, sql: &str) -> Result<Vec<TextRow>, ProbeError> {
        let step = query_step(sql);
        if let Ok(mut s) = self.step.lock() {
            s.clone_from(&step);
        }
        let rows = simple_rows(&mut self.client, sql)
            .map_err(|e| ProbeError::from_pg(&self.host, self.port, &step, &e))?;
        capped(rows, &self.host, self.port, &step)
    }

    /// The first row of `sql`, or an error when it returned none.
    pub fn row(&mut self, sql: &str) -> Result<TextRow, ProbeError> {
        let step = query_step(sql);
        self.rows(sql)?
            .into_iter()
            .next()
            .ok_or_else(|| ProbeError::failed(&self.host, self.port, &step, "no rows"))
    }

    /// Whether the connection is still open (a refused query leaves it so).
    pub fn is_open(&self) -> bool {
        !self.client.is_closed()
    }

    /// Host this session is connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port this session is connected to.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The most rows one query may return: pool_nodes, repmgr's nodes and
/// pg_stat_replication hold one row per node or standby, a few dozen at
/// most.
pub const MAX_ROWS: usize = 1000;

/// `rows`, or an error past [`MAX_ROWS`].
fn capped(
    rows: Vec<TextRow>,
    host: &str,
    port: u16,
    step: &str,
) -> Result<Vec<TextRow>, ProbeError> {
    if rows.len() > MAX_ROWS {
        return Err(ProbeError::failed(
            host,
            port,
            step,
            format!(
                "returned {} rows, more than the {MAX_ROWS} a cluster's answer can hold (one row per node); not read",
                rows.len()
            ),
        ));
    }
    Ok(rows)
}

/// `query (show pool_nodes)`: the step name for an SQL text, shortened.
fn query_step(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(6).collect();
    let mut s = words.join(" ");
    if s.len() > 40 {
        let mut cut = 40;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    format!("query ({s})")
}

/// Runs `sql` with the simple query protocol and returns its rows by column
/// name (the rows of the last statement that returned any).
pub fn simple_rows(client: &mut Client, sql: &str) -> Result<Vec<TextRow>, postgres::Error> {
    let mut rows = Vec::new();
    for msg in client.simple_query(sql)? {
        if let SimpleQueryMessage::Row(row) = msg {
            let mut map = TextRow::new();
            for (i, col) in row.columns().iter().enumerate() {
                if let Some(v) = row.get(i) {
                    map.insert(col.name().to_string(), v.to_string());
                }
            }
            rows.push(map);
        }
    }
    Ok(rows)
}

mod then;
pub use then::{with_session_then, FollowUp};

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(in crate::cluster) mod guard_tests;

#[cfg(test)]
mod lazy_tls_tests;
