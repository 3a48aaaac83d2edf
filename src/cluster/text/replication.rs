//! Streaming replication: WAL positions (LSNs) and their lag, the WAL
//! function and column names of each PostgreSQL major version, and the
//! rows of pg_stat_replication and pg_stat_wal_receiver.

use crate::cluster::TextRow;

/// A WAL position `X/Y` as a byte offset.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.trim().split_once('/')?;
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    if hi > u32::MAX as u64 || lo > u32::MAX as u64 {
        return None;
    }
    Some(hi << 32 | lo)
}

/// Bytes from `behind` to `ahead` (0 when `behind` is ahead).
pub fn lsn_lag(ahead: &str, behind: &str) -> Option<u64> {
    Some(parse_lsn(ahead)?.saturating_sub(parse_lsn(behind)?))
}

/// WAL names of one PostgreSQL major version: 9.6 says `xlog`/`location`,
/// 10+ says `wal`/`lsn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalNames {
    pub current_fn: &'static str,
    pub receive_fn: &'static str,
    pub replay_fn: &'static str,
    /// pg_stat_replication columns: sent, write, flush, replay.
    pub sent: &'static str,
    pub write: &'static str,
    pub flush: &'static str,
    pub replay: &'static str,
}

/// The names for `server_version_num`.
pub fn wal_names(server_version_num: u32) -> WalNames {
    if server_version_num < 100_000 {
        WalNames {
            current_fn: "pg_current_xlog_location()",
            receive_fn: "pg_last_xlog_receive_location()",
            replay_fn: "pg_last_xlog_replay_location()",
            sent: "sent_location",
            write: "write_location",
            flush: "flush_location",
            replay: "replay_location",
        }
    } else {
        WalNames {
            current_fn: "pg_current_wal_lsn()",
            receive_fn: "pg_last_wal_receive_lsn()",
            replay_fn: "pg_last_wal_replay_lsn()",
            sent: "sent_lsn",
            write: "write_lsn",
            flush: "flush_lsn",
            replay: "replay_lsn",
        }
    }
}

/// Column order of pg_stat_replication over versions 9.6 to 17, for display.
pub const STAT_REPLICATION_COLUMNS: &[&str] = &[
    "pid",
    "usesysid",
    "usename",
    "application_name",
    "client_addr",
    "client_hostname",
    "client_port",
    "backend_start",
    "backend_xmin",
    "state",
    "sent_location",
    "write_location",
    "flush_location",
    "replay_location",
    "sent_lsn",
    "write_lsn",
    "flush_lsn",
    "replay_lsn",
    "write_lag",
    "flush_lag",
    "replay_lag",
    "sync_priority",
    "sync_state",
    "reply_time",
];

/// The columns of pg_stat_replication in `server_version_num`'s version,
/// in its order (9.6: `*_location`; 10 and 11: `*_lsn` and the lag
/// intervals; 12+: `reply_time`): [`STAT_REPLICATION_COLUMNS`] without
/// those of other versions.
pub fn stat_replication_columns(server_version_num: u32) -> Vec<&'static str> {
    let v10 = server_version_num >= 100_000;
    STAT_REPLICATION_COLUMNS
        .iter()
        .copied()
        .filter(|c| {
            if c.ends_with("_location") {
                !v10
            } else if c.ends_with("_lsn") || c.ends_with("_lag") {
                v10
            } else if *c == "reply_time" {
                server_version_num >= 120_000
            } else {
                true
            }
        })
        .collect()
}

/// One walsender on a primary (a row of pg_stat_replication).
#[derive(Debug, Clone, PartialEq)]
pub struct Sender {
    pub application_name: String,
    pub client_addr: String,
    pub state: String,
    pub sent: Option<String>,
    pub write: Option<String>,
    pub flush: Option<String>,
    pub replay: Option<String>,
    pub sync_state: String,
    /// The whole row, for display.
    pub row: TextRow,
}

/// Reads pg_stat_replication rows with the names of `server_version_num`.
pub fn senders(rows: &[TextRow], server_version_num: u32) -> Vec<Sender> {
    let n = wal_names(server_version_num);
    let text = |r: &TextRow, k: &str| r.get(k).cloned().unwrap_or_default();
    rows.iter()
        .map(|r| Sender {
            application_name: text(r, "application_name"),
            client_addr: text(r, "client_addr"),
            state: text(r, "state"),
            sent: r.get(n.sent).cloned(),
            write: r.get(n.write).cloned(),
            flush: r.get(n.flush).cloned(),
            replay: r.get(n.replay).cloned(),
            sync_state: text(r, "sync_state"),
            row: r.clone(),
        })
        .collect()
}

/// A standby's WAL receiver (pg_stat_wal_receiver).
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// `streaming`, `starting`, `waiting`, `stopping`...
    pub status: String,
    /// Last WAL position received and flushed (9.6-12 `received_lsn`,
    /// 13+ `flushed_lsn`).
    pub received: Option<String>,
    /// Upstream as the receiver sees it (11+ `sender_host`/`sender_port`,
    /// else from `conninfo`).
    pub upstream: Option<String>,
}

/// Reads the (zero or one) row of pg_stat_wal_receiver.
pub fn receiver(rows: &[TextRow]) -> Option<Receiver> {
    let r = rows.first()?;
    let upstream = match (r.get("sender_host"), r.get("sender_port")) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        _ => r
            .get("conninfo")
            .and_then(|c| crate::conninfo::parse(c).ok())
            .map(|c| c.host_port())
            .map(|(h, p)| format!("{h}:{p}")),
    };
    Some(Receiver {
        status: r.get("status").cloned().unwrap_or_default(),
        received: r
            .get("flushed_lsn")
            .or_else(|| r.get("received_lsn"))
            .cloned(),
        upstream,
    })
}
