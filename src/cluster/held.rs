//! A session held open between checks only to notice the moment it breaks
//! (the watchers' fast path, `crate::watch::fast`): a server that stops or
//! crashes closes its sessions at once, long before the next check.
//!
//! It connects like every other session ([`super::session`]: the endpoint's
//! TLS, the guarded socket, keepalives), within `connect_timeout`. Then it
//! stays idle, except what keeps it alive and what it was asked to watch:
//! - pgpool ends an idle client after `client_idle_limit` with an ERROR
//!   line in its log, so a held pgpool session reads that limit once
//!   (`SHOW pool_status`) and sends `SHOW pool_version` (answered by pgpool
//!   itself, no backend involved) at half of it;
//! - PostgreSQL 14+ ends an idle session after `idle_session_timeout` with
//!   a FATAL line, so a held node session reads it once
//!   (`current_setting('idle_session_timeout', true)`, NULL before 14) and
//!   sends `SELECT 1` at half of it;
//! - a standby's session can be polled with `SELECT pg_is_in_recovery()`,
//!   the only way to hear of a promotion (LISTEN/NOTIFY cannot).

use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

use super::error::{pg_detail, ProbeError};
use super::session::{connect_now, simple_rows, Endpoint};
use crate::plumbing::deadline::{run_within, WithinError};

/// What is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldKind {
    /// A pgpool (pgpwatch's own).
    Pgpool,
    /// A PostgreSQL node (repmgrwatch's).
    Postgres,
}

/// An open, idle session.
pub struct Held {
    client: Client,
    host: String,
    port: u16,
    kind: HeldKind,
    /// Half the server's idle limit; `None`: it has none.
    keepalive: Option<Duration>,
    last_sent: Instant,
    /// A node's `pg_is_in_recovery()` when last asked (pgpool: `None`).
    pub in_recovery: Option<bool>,
}

/// What [`Held::listen`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Nothing: the session is still up.
    Quiet,
    /// The session ended: why.
    Broken(String),
}

impl Held {
    /// Connects to `ep` within `timeout` and reads what keeps the session
    /// alive (and a node's recovery state).
    pub fn open(ep: &Endpoint, timeout: Duration, kind: HeldKind) -> Result<Held, ProbeError> {
        let ep = ep.clone();
        let secret = ep.password.clone();
        let (host, port) = (ep.host.clone(), ep.port);
        let name = format!("held {}", crate::plumbing::net::host_port(&host, port));
        let result = run_within(&name, timeout, move || {
            let mut client = connect_now(&ep, timeout)?;
            let (keepalive, in_recovery) = first_look(&mut client, kind)
                .map_err(|e| ProbeError::from_pg(&ep.host, ep.port, "query (first look)", &e))?;
            Ok(Held {
                client,
                host: ep.host.clone(),
                port: ep.port,
                kind,
                keepalive,
                last_sent: Instant::now(),
                in_recovery,
            })
        });
        match result {
            Ok(r) => r.map_err(|e: ProbeError| e.redacted(secret.as_ref())),
            Err(WithinError::TimedOut(after)) => Err(ProbeError::Timeout {
                host,
                port,
                step: "connect".into(),
                after,
            }),
            Err(e) => Err(ProbeError::failed(&host, port, "connect", e.to_string())),
        }
    }

    /// Waits up to `slice` for the session to end (sending the keep-alive
    /// when it is due); `Quiet` when it is still up.
    pub fn listen(&mut self, slice: Duration) -> Heard {
        if let Some(k) = self.keepalive {
            if self.last_sent.elapsed() >= k {
                let sql = match self.kind {
                    HeldKind::Pgpool => "SHOW pool_version",
                    HeldKind::Postgres => "SELECT 1",
                };
                if let Err(e) = self.client.simple_query(sql) {
                    return Heard::Broken(pg_detail(&e));
                }
                self.last_sent = Instant::now();
            }
        }
        let wait = match self.keepalive {
            Some(k) => slice.min(k.saturating_sub(self.last_sent.elapsed())),
            None => slice,
        }
        .max(Duration::from_millis(1));
        let started = Instant::now();
        let heard = self.client.notifications().timeout_iter(wait).next();
        match heard {
            Err(e) => Heard::Broken(pg_detail(&e)),
            Ok(Some(_)) => Heard::Quiet,
            // `None` before the time-out: the stream ended.
            Ok(None) if started.elapsed() + Duration::from_millis(1) < wait => {
                Heard::Broken("the server closed the session".into())
            }
            Ok(None) if self.client.is_closed() => {
                Heard::Broken("the server closed the session".into())
            }
            Ok(None) => Heard::Quiet,
        }
    }

    /// Asks a node `pg_is_in_recovery()` again; `Err`: the session broke.
    pub fn poll_recovery(&mut self) -> Result<bool, ProbeError> {
        let step = "query (SELECT pg_is_in_recovery())";
        let rows = simple_rows(&mut self.client, "SELECT pg_is_in_recovery() AS r")
            .map_err(|e| ProbeError::from_pg(&self.host, self.port, step, &e))?;
        self.last_sent = Instant::now();
        let r = rows
            .first()
            .and_then(|r| r.get("r"))
            .map(|v| v == "t")
            .ok_or_else(|| ProbeError::failed(&self.host, self.port, step, "no rows"))?;
        self.in_recovery = Some(r);
        Ok(r)
    }
}

/// The keep-alive interval (half the idle limit) and a node's recovery.
fn first_look(
    client: &mut Client,
    kind: HeldKind,
) -> Result<(Option<Duration>, Option<bool>), postgres::Error> {
    match kind {
        HeldKind::Pgpool => {
            let rows = simple_rows(client, "SHOW pool_status")?;
            let limit = rows
                .iter()
                .find(|r| r.get("item").map(String::as_str) == Some("client_idle_limit"))
                .and_then(|r| r.get("value"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            Ok((half(Duration::from_secs(limit)), None))
        }
        HeldKind::Postgres => {
            let rows = simple_rows(
                client,
                "SELECT pg_is_in_recovery() AS r, current_setting('idle_session_timeout', true) AS t",
            )?;
            let row = rows.first();
            let recovery = row.and_then(|r| r.get("r")).map(|v| v == "t");
            let limit = row
                .and_then(|r| r.get("t"))
                .and_then(|t| pg_duration(t))
                .unwrap_or(Duration::ZERO);
            Ok((half(limit), recovery))
        }
    }
}

/// Half of an idle limit, `None` when there is none (0).
fn half(limit: Duration) -> Option<Duration> {
    (!limit.is_zero()).then(|| (limit / 2).max(Duration::from_millis(50)))
}

/// A PostgreSQL time setting as `SHOW` prints it (`0`, `500ms`, `30s`,
/// `10min`, `1h`, `1d`; a bare number is milliseconds).
pub fn pg_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(n.saturating_mul(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_limits_as_postgres_prints_them() {
        assert_eq!(pg_duration("0"), Some(Duration::ZERO));
        assert_eq!(pg_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(pg_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(pg_duration("10min"), Some(Duration::from_secs(600)));
        assert_eq!(pg_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(pg_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(pg_duration("2500"), Some(Duration::from_millis(2500)));
        assert_eq!(pg_duration("soon"), None);
        assert_eq!(pg_duration("5 fortnights"), None);
        assert_eq!(half(Duration::ZERO), None);
        assert_eq!(half(Duration::from_secs(10)), Some(Duration::from_secs(5)));
        assert_eq!(
            half(Duration::from_millis(100)),
            Some(Duration::from_millis(50))
        );
    }
}
