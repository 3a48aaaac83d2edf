//! [`Pgpool::backends`] against a fake pgpool on 127.0.0.1 that speaks
//! just enough of the protocol (no TLS, no password) and counts its
//! sessions: one session answers both the stats and `pool_nodes`, a
//! refused stats command costs no second session, and a `pool_nodes` that
//! hangs still gives the stats' view, bounded by its own deadline.

use super::*;
use crate::cluster::session::guard_tests::msg;
use crate::config::tls::TlsSettings;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// How the fake answers.
#[derive(Clone, Copy)]
enum Answer {
    /// Both commands answer (`pool_nodes` with an extra column).
    Both,
    /// A pgpool 3.6: it has no stats command (and would pass it on to
    /// PostgreSQL, which logs an ERROR for it).
    NoStats,
    /// A pgpool that says it is 4.3 but refuses the stats all the same.
    RefusesStats,
    /// `SHOW pool_nodes` never answers (a backend behind a partition).
    NodesHang,
    /// The stats never answer (a pgpool frozen after its version).
    StatsHang,
}

struct FakePgpool {
    port: u16,
    sessions: Arc<AtomicUsize>,
    queries: Arc<Mutex<Vec<String>>>,
}

impl FakePgpool {
    fn start(answer: Answer) -> FakePgpool {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let sessions = Arc::new(AtomicUsize::new(0));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let (count, heard) = (sessions.clone(), queries.clone());
        // The listener lives with its thread, for the test process's life.
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let heard = heard.clone();
                thread::spawn(move || serve(s, answer, &heard));
            }
        });
        FakePgpool {
            port,
            sessions,
            queries,
        }
    }

    /// The queries it was sent, in order.
    fn queries(&self) -> Vec<String> {
        self.queries.lock().map(|q| q.clone()).unwrap_or_default()
    }

    fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new(
            "127.0.0.1",
            self.port,
            "u",
            "d",
            None,
            TlsSettings::default(),
        )
    }
}

fn read_n(s: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn len_of(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// RowDescription + DataRows + CommandComplete + ReadyForQuery.
fn rows(columns: &[&str], data: &[&[&str]]) -> Vec<u8> {
    let mut desc = (columns.len() as u16).to_be_bytes().to_vec();
    for c in columns {
        desc.extend_from_slice(c.as_bytes());
        desc.push(0);
        // table oid, column no, type oid (text), size, modifier, format
        desc.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 255, 255, 255, 255, 255, 255]);
        desc.extend_from_slice(&[0, 0]);
    }
    let mut out = msg(b'T', &desc);
    for row in data {
        let mut body = (row.len() as u16).to_be_bytes().to_vec();
        for v in *row {
            body.extend_from_slice(&(v.len() as u32).to_be_bytes());
            body.extend_from_slice(v.as_bytes());
        }
        out.extend(msg(b'D', &body));
    }
    out.extend(msg(b'C', b"SELECT\0"));
    out.extend(msg(b'Z', b"I"));
    out
}

fn serve(mut s: TcpStream, answer: Answer, heard: &Mutex<Vec<String>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    loop {
        let Some(len) = read_n(&mut s, 4) else { return };
        let Some(body) = read_n(&mut s, len_of(&len).saturating_sub(4)) else {
            return;
        };
        if body.get(..4) == Some(&80877103u32.to_be_bytes()[..]) {
            let _ = s.write_all(b"N");
            continue;
        }
        break;
    }
    let mut hello = msg(b'R', &0u32.to_be_bytes());
    hello.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
    hello.extend(msg(b'Z', b"I"));
    let _ = s.write_all(&hello);
    let columns = ["node_id", "hostname", "port", "status", "role"];
    let primary: &[&str] = &["0", "127.0.0.7", "5432", "up", "primary"];
    let standby: &[&str] = &["1", "127.0.0.8", "5432", "up", "standby"];
    loop {
        let Some(head) = read_n(&mut s, 5) else {
            return;
        };
        let Some(body) = read_n(&mut s, len_of(&head[1..]).saturating_sub(4)) else {
            return;
        };
        if head[0] != b'Q' {
            return; // Terminate, or anything else: the session ends.
        }
        let sql = String::from_utf8_lossy(&body)
            .trim_end_matches('\0')
            .to_string();
        if let Ok(mut q) = heard.lock() {
            q.push(sql.clone());
        }
        let sql = sql.to_lowercase();
        if matches!(answer, Answer::StatsHang) && sql.contains("pool_health_check_stats") {
            let _ = read_n(&mut s, 1);
            return;
        }
        let reply = if sql.contains("pool_version") {
            let version = match answer {
                Answer::NoStats => "3.6.28 (subaruboshi)",
                _ => "4.3.5 (tamahomeboshi)",
            };
            rows(&["pool_version"], &[&[version]])
        } else if sql.contains("pool_health_check_stats") {
            match answer {
                Answer::NoStats | Answer::RefusesStats => {
                    let mut e = msg(b'E', b"SERROR\0C42601\0Munknown command\0\0");
                    e.extend(msg(b'Z', b"I"));
                    e
                }
                _ => rows(&columns, &[primary, standby]),
            }
        } else if sql.contains("pool_nodes") {
            if let Answer::NodesHang = answer {
                // Hold the session without a word until the client leaves.
                let _ = read_n(&mut s, 1);
                return;
            }
            let mut with_detail = columns.to_vec();
            with_detail.push("pg_role");
            let p: Vec<&str> = primary.iter().copied().chain(["primary"]).collect();
            let d: Vec<&str> = standby.iter().copied().chain(["standby"]).collect();
            rows(&with_detail, &[&p, &d])
        } else {
            let mut e = msg(b'E', b"SERROR\0C42601\0Mnot faked\0\0");
            e.extend(msg(b'Z', b"I"));
            e
        };
        if s.write_all(&reply).is_err() {
            return;
        }
    }
}

#[test]
fn one_session_answers_the_stats_and_pool_nodes() {
    let fake = FakePgpool::start(Answer::Both);
    let ep = fake.endpoint();
    let got = Pgpool::new(&ep, Duration::from_secs(5))
        .backends()
        .expect("both answer");
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].row.get("pg_role").map(String::as_str),
        Some("primary"),
        "pool_nodes' details were read: {got:?}"
    );
    assert_eq!(fake.sessions(), 1, "one check, one session");
}

#[test]
fn a_pgpool_3_6_is_never_asked_the_stats_it_would_pass_on_to_postgresql() {
    let fake = FakePgpool::start(Answer::NoStats);
    let ep = fake.endpoint();
    let pgpool = Pgpool::new(&ep, Duration::from_secs(5));
    let got = pgpool.backends().expect("pool_nodes answers");
    assert_eq!(got.len(), 2);
    assert_eq!(
        fake.sessions(),
        1,
        "its version and pool_nodes, one session"
    );
    // The next check is pool_nodes alone; poolstatus's read asks nothing.
    pgpool.backends().expect("pool_nodes answers");
    assert_eq!(pgpool.own_view().expect("no error"), None);
    assert_eq!(fake.sessions(), 2);
    assert_eq!(
        fake.queries(),
        ["SHOW pool_version", "SHOW pool_nodes", "SHOW pool_nodes"],
        "never SHOW pool_health_check_stats"
    );
}

#[test]
fn a_pgpool_that_refuses_the_stats_is_asked_pool_nodes_on_the_same_session() {
    let fake = FakePgpool::start(Answer::RefusesStats);
    let ep = fake.endpoint();
    let pgpool = Pgpool::new(&ep, Duration::from_secs(5));
    let got = pgpool.backends().expect("pool_nodes answers");
    assert_eq!(got.len(), 2);
    assert_eq!(fake.sessions(), 1, "the refusal cost no second session");
    // Not asked again: the next check is pool_nodes alone.
    pgpool.backends().expect("pool_nodes answers");
    assert_eq!(fake.sessions(), 2);
    assert_eq!(
        fake.queries(),
        [
            "SHOW pool_version",
            "SHOW pool_health_check_stats",
            "SHOW pool_nodes",
            "SHOW pool_nodes"
        ]
    );
}

#[test]
fn a_pgpool_with_the_stats_is_asked_its_version_once() {
    let fake = FakePgpool::start(Answer::Both);
    let ep = fake.endpoint();
    let pgpool = Pgpool::new(&ep, Duration::from_secs(5));
    pgpool.backends().expect("both answer");
    pgpool.backends().expect("both answer");
    let asked = fake.queries();
    assert_eq!(
        asked
            .iter()
            .filter(|q| q.as_str() == "SHOW pool_version")
            .count(),
        1,
        "{asked:?}"
    );
    assert_eq!(asked.len(), 5, "{asked:?}");
}

#[test]
fn a_hanging_pool_nodes_still_gives_the_stats_view_within_its_own_deadline() {
    let fake = FakePgpool::start(Answer::NodesHang);
    let ep = fake.endpoint();
    let timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let got = Pgpool::new(&ep, timeout)
        .backends()
        .expect("the stats answered");
    let took = started.elapsed();
    assert_eq!(got.len(), 2);
    assert!(
        !got[0].row.contains_key("pg_role"),
        "no detail came: {got:?}"
    );
    assert!(took >= timeout, "pool_nodes was waited for ({took:?})");
    assert!(
        took < Duration::from_secs(4),
        "bounded by its deadline: {took:?}"
    );
    assert_eq!(fake.sessions(), 1);
}

#[test]
fn a_hanging_stats_question_is_an_error_naming_it_within_the_timeout() {
    let fake = FakePgpool::start(Answer::StatsHang);
    let ep = fake.endpoint();
    let timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let e = Pgpool::new(&ep, timeout).backends().unwrap_err();
    let took = started.elapsed();
    assert!(
        e.to_string()
            .contains("query (SHOW pool_health_check_stats)"),
        "{e}"
    );
    assert!(took >= timeout, "returned before its deadline: {took:?}");
    assert!(took < Duration::from_secs(3), "not bounded: {took:?}");
    assert_eq!(fake.sessions(), 1);
}
