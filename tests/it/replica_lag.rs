//! `/replica?lag=` in time (issue 20 item 4) on a real standby: its replay
//! paused (`pg_wal_replay_pause()`, 9.6 `pg_xlog_replay_pause()`) while the
//! primary writes, repmgrwatch's API reports the time lag growing and
//! `?lag=…s` flips to 503 while a byte limit does not; resumed, it flips
//! back. Builds its own cluster on net 30.

use std::process::Command;
use std::time::Duration;

use crate::support::cluster::{eventually, Cluster};
use crate::support::http::get;
use crate::support::watchers::{Tuning, Watcher};

const NET: u8 = 30;
const API_PORT: u16 = 8008;

fn status(addr: &str, path: &str) -> u16 {
    get(addr, path).map_or(0, |(c, _)| c)
}

/// One statement as the sandbox's superuser `repmgr` (pausing replay needs
/// one; `pgpool` only has pg_monitor on 10+).
fn superuser_sql(host: &str, sql: &str) -> String {
    let out = Command::new("timeout")
        .args(["10", "psql", "-X", "-qAt", "-h", host, "-p", "5432"])
        .args(["-U", "repmgr", "-d", "repmgr", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "2")
        .output()
        .expect("psql (apt-get install postgresql-client)");
    assert!(
        out.status.success(),
        "psql {host} {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `lag_seconds` of `/status`.
fn lag_seconds(addr: &str) -> Option<f64> {
    let (_, body) = get(addr, "/status").ok()?;
    let rest = body.split("\"lag_seconds\":").nth(1)?;
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn a_paused_standby_lags_in_seconds_and_a_time_limit_flips_its_replica_answer() {
    let cluster = Cluster::up(NET);
    let (db1, db2) = (cluster.db_addr(1), cluster.db_addr(2));
    let mut tuning = Tuning::default();
    tuning
        .extra
        .push(("repmgr".into(), "api_port".into(), API_PORT.to_string()));
    let _w = Watcher::repmgrwatch(&cluster, "db2", None, &tuning);
    let api = format!("{db2}:{API_PORT}");
    let version: u32 = superuser_sql(&db2, "SHOW server_version_num")
        .parse()
        .expect("server_version_num");
    let (pause, resume) = if version >= 100_000 {
        ("pg_wal_replay_pause()", "pg_wal_replay_resume()")
    } else {
        ("pg_xlog_replay_pause()", "pg_xlog_replay_resume()")
    };
    superuser_sql(
        &db1,
        "CREATE TABLE IF NOT EXISTS lag_probe (at timestamptz)",
    );
    superuser_sql(&db1, "INSERT INTO lag_probe VALUES (now())");
    // Caught up (replay = receive): zero time lag, and the time limit holds.
    let caught_up = eventually(Duration::from_secs(20), || {
        lag_seconds(&api) == Some(0.0) && status(&api, "/replica?lag=3s") == 200
    });
    assert!(caught_up, "db2 never caught up: {:?}", get(&api, "/status"));

    superuser_sql(&db2, &format!("SELECT {pause}"));
    // The primary goes on writing; db2 receives but does not replay.
    let lagging = eventually(Duration::from_secs(30), || {
        superuser_sql(&db1, "INSERT INTO lag_probe VALUES (now())");
        status(&api, "/replica?lag=3s") == 503
    });
    let (code, body) = get(&api, "/replica?lag=3s").expect("/replica");
    assert!(lagging, "?lag=3s never flipped to 503: {code} {body}");
    assert!(
        body.contains("lagging") && body.contains("s behind the master (limit 3.0 s)"),
        "{body}"
    );
    let lag = lag_seconds(&api).expect("lag_seconds while paused");
    assert!(lag > 3.0, "lag_seconds {lag} over the 3 s limit");
    assert_eq!(
        status(&api, "/replica?lag=1GB"),
        200,
        "a byte limit is not crossed by a few inserts"
    );
    assert_eq!(
        status(&api, "/replica?lag=1h"),
        200,
        "an unparsable limit is ignored"
    );
    assert_eq!(
        status(&api, "/replica?lag=600s"),
        200,
        "within a long limit"
    );

    superuser_sql(&db2, &format!("SELECT {resume}"));
    let back = eventually(Duration::from_secs(30), || {
        status(&api, "/replica?lag=3s") == 200
    });
    assert!(
        back,
        "?lag=3s never back to 200: {:?}",
        get(&api, "/replica?lag=3s")
    );
}
