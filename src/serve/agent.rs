//! HAProxy's agent-check protocol on `agent_port`: HAProxy connects, may
//! send one line (`agent-send`), and reads one line. The request is
//! `primary` (also when nothing comes within [`AGENT_SILENCE`]),
//! `replica[ lag=N][ rise=N][ fall=N]` (N of `lag` in bytes, or a time:
//! `10s`, `500ms`), `gate` or `health`; the reply is one of `up ready`,
//! `maint #<reason>` (a node that is not the master: HAProxy shows MAINT,
//! not DOWN, so monitoring does not page), `drain #lagging <bytes>` (or
//! `<seconds>s`), `drain #catching up: …` (within the limit, not yet for
//! `rise` checks), `down #<reason>`, ending in `\n`. Pure: a snapshot, the
//! `rise`/`fall` state and a line in, a line out.

use std::time::Duration;

use super::board::Snapshot;
use super::hold::{Held, Holds};
use super::http::line_until;
use super::routes::{gate_verdict, health_verdict, primary_verdict, NotReady};
use super::routes::{parse_lag_limit, replica_result, Lag, ReplicaQuery};

/// How long the agent waits for a request line before answering `primary`.
pub const AGENT_SILENCE: Duration = Duration::from_millis(100);

/// Longest reason sent (HAProxy keeps agent replies short).
const MAX_REASON: usize = 200;

/// The reply line to `request` (without its line end).
pub fn agent_reply(snap: &Snapshot, request: &str) -> String {
    agent_reply_held(snap, request, &mut Holds::default())
}

/// [`agent_reply`] with the `rise`/`fall` state of `holds`.
pub fn agent_reply_held(snap: &Snapshot, request: &str, holds: &mut Holds) -> String {
    let mut words = request.split_whitespace();
    let verb = words.next().unwrap_or("primary").to_ascii_lowercase();
    let up_or = |v: Result<(), NotReady>, word: &str| match v {
        Ok(()) => "up ready\n".to_string(),
        Err(why) => format!("{word} #{}\n", clean(&why.to_string())),
    };
    match verb.as_str() {
        "primary" | "master" | "read-write" | "leader" if snap.program == "repmgrwatch" => {
            up_or(primary_verdict(snap), "maint")
        }
        // pgpwatch has no primary of its own: its "primary" is pgpool's health.
        "primary" | "health" => up_or(health_verdict(snap), "down"),
        "gate" => up_or(gate_verdict(snap), "down"),
        "replica" => {
            let mut q = ReplicaQuery::default();
            for w in words {
                match w.split_once('=') {
                    Some(("lag", v)) => q.lag = parse_lag_limit(v),
                    Some((k @ ("rise" | "fall"), v)) => q.set(k, v),
                    _ => {}
                }
            }
            let own = replica_result(snap, &q);
            let held = if q.held() {
                holds.answer(snap, &q, &own)
            } else {
                Held::Agrees
            };
            match (own, held) {
                (_, Held::StillUp { .. }) | (Ok(()), Held::Agrees) => "up ready\n".into(),
                (_, Held::StillDown(why)) => format!("drain #{}\n", clean(&why.to_string())),
                (Err(NotReady::Lagging { lag, .. }), _) => match lag {
                    Lag::Bytes(n) => format!("drain #lagging {n}\n"),
                    Lag::Time(t) => format!("drain #lagging {:.1}s\n", t.as_secs_f64()),
                },
                (Err(why), _) => format!("down #{}\n", clean(&why.to_string())),
            }
        }
        other => format!(
            "down #unknown agent request {:?}: send primary, replica [lag=N], gate or health\n",
            clean(other)
        ),
    }
}

/// One line, printable, bounded.
fn clean(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON)
        .collect();
    while out.ends_with('.') || out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Whether `head` holds the whole request line.
pub fn line_complete(head: &[u8]) -> bool {
    head.iter().any(|&b| b == b'\n' || b == b'\r')
}

/// Whether `head` can still be a request line (printable text, short).
pub fn line_plausible(head: &[u8]) -> bool {
    head.len() <= 256
        && head
            .iter()
            .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b))
}

/// The request line in `head`.
pub fn request_line(head: &[u8]) -> String {
    line_until(head, |b| b == b'\n' || b == b'\r')
}
