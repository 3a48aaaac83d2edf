//! Whether a pgpool knows `SHOW pool_health_check_stats` (pgpool-II 4.2
//! and later). One that does not passes the command on to PostgreSQL,
//! which logs `ERROR: unrecognized configuration parameter
//! "pool_health_check_stats"` (seen with pgpool 3.6 and 4.1). So a pgpool
//! is asked its version first (`SHOW pool_version`, which pgpool answers
//! itself and nobody logs), and one found without the stats is asked its
//! version again, never the stats, every [`RECHECK`]: an upgraded pgpool
//! is noticed within that, and an old one logs nothing for us.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{pool_nodes, Backend, ProbeError};
use crate::cluster::session::Session;

/// How long a pgpool found without the stats is not asked about them.
pub(super) const RECHECK: Duration = Duration::from_secs(600);

/// What is known of a pgpool.
#[derive(Debug, Clone, Copy)]
enum Known {
    /// It answered the stats.
    Has,
    /// It has none (its version said so, or it refused), found then.
    Lacks(Instant),
}

/// `host:port` of the pgpools asked so far, and what they answered.
static KNOWN: Mutex<Vec<(String, Known)>> = Mutex::new(Vec::new());

/// How to go about the stats with a pgpool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// It has them: ask.
    Ask,
    /// Not known (first contact, or [`RECHECK`] is over): ask its version
    /// first.
    VersionFirst,
    /// It has none, found less than [`RECHECK`] ago: do not ask.
    Skip,
}

fn known() -> std::sync::MutexGuard<'static, Vec<(String, Known)>> {
    KNOWN.lock().unwrap_or_else(|p| p.into_inner())
}

/// The plan for the pgpool at `at`.
pub(super) fn plan(at: &str) -> Plan {
    plan_at(at, Instant::now())
}

/// [`plan`] at `now` (tests pass a later one).
fn plan_at(at: &str, now: Instant) -> Plan {
    match known().iter().find(|(a, _)| a == at).map(|(_, k)| *k) {
        Some(Known::Has) => Plan::Ask,
        Some(Known::Lacks(when)) if now.saturating_duration_since(when) < RECHECK => Plan::Skip,
        _ => Plan::VersionFirst,
    }
}

fn found(at: &str, k: Known) {
    let mut list = known();
    list.retain(|(a, _)| a != at);
    list.push((at.to_string(), k));
}

/// Whether a pgpool of `version` (`SHOW pool_version`'s text, such as
/// `4.3.5 (tamahomeboshi)`) has the stats; `None` when it does not read
/// as a version.
pub(super) fn version_has_stats(version: &str) -> Option<bool> {
    let mut parts = version.trim().split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some((major, minor) >= (4, 2))
}

/// pgpool's own view from the stats, asked on `s` as `plan` says (not
/// [`Plan::Skip`]): `Ok(None)` when it has none to give (its version says
/// it has no stats, no backend listed, an unreadable answer), `Err` when
/// the question failed (a refusal, a broken session). What it found is
/// remembered for the next [`plan`].
pub(super) fn ask(
    s: &mut Session,
    at: &str,
    plan: Plan,
) -> Result<Option<Vec<Backend>>, ProbeError> {
    if plan == Plan::VersionFirst {
        let has = s
            .row("SHOW pool_version")
            .ok()
            .and_then(|row| row.get("pool_version").and_then(|v| version_has_stats(v)));
        if has == Some(false) {
            found(at, Known::Lacks(Instant::now()));
            return Ok(None);
        }
    }
    match s.rows("SHOW pool_health_check_stats") {
        Ok(rows) => {
            found(at, Known::Has);
            Ok(pool_nodes(&rows).ok().filter(|v| !v.is_empty()))
        }
        Err(e) => {
            if e.is_query_refused() {
                found(at, Known::Lacks(Instant::now()));
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_come_with_pgpool_4_2() {
        assert_eq!(version_has_stats("3.6.28 (subaruboshi)"), Some(false));
        assert_eq!(version_has_stats("4.1.4 (karasukiboshi)"), Some(false));
        assert_eq!(version_has_stats("4.2.0 (chichiriboshi)"), Some(true));
        assert_eq!(version_has_stats("4.3.5 (tamahomeboshi)"), Some(true));
        assert_eq!(version_has_stats("4.6.1"), Some(true));
        assert_eq!(version_has_stats("10.0"), Some(true));
        assert_eq!(version_has_stats("unknown"), None);
        assert_eq!(version_has_stats(""), None);
    }

    #[test]
    fn a_pgpool_without_the_stats_is_skipped_until_the_recheck() {
        let at = "127.0.0.250:1";
        assert_eq!(plan(at), Plan::VersionFirst);
        found(at, Known::Lacks(Instant::now()));
        assert_eq!(plan(at), Plan::Skip);
        let later = Instant::now() + RECHECK + Duration::from_secs(1);
        assert_eq!(plan_at(at, later), Plan::VersionFirst);
        found(at, Known::Has);
        assert_eq!(plan(at), Plan::Ask);
    }
}
