//! `rise`/`fall`, pure: a fake sequence of snapshots of a standby whose
//! time lag moves around its limit, asked through the API and the agent.

use std::time::{Duration, Instant};

use super::{Holds, MAX_HELD};
use crate::cluster::repmgr::{NodeStatus, WalReceiver};
use crate::serve::agent::agent_reply_held;
use crate::serve::board::{Board, LastCheck, NodeView, RepmgrView, Snapshot};
use crate::serve::routes::tests::node;
use crate::serve::routes::{answer_held, ReplicaQuery};

/// Check `n` of db2, a standby streaming from db1 whose replay is `age`
/// old and behind what it received.
fn check(n: u64, age_secs: u64, now: Instant) -> Snapshot {
    let master = NodeStatus {
        in_recovery: false,
        lsn: Some(5000),
        receiver: None,
        receive_lsn: None,
        replay_age: None,
    };
    let standby = NodeStatus {
        in_recovery: true,
        lsn: Some(1000),
        receiver: Some(WalReceiver {
            status: "streaming".into(),
            sender_host: Some("127.0.0.1".into()),
            sender_port: Some(5432),
        }),
        receive_lsn: Some(4000),
        replay_age: Some(Duration::from_secs(age_secs)),
    };
    let nodes = Ok(vec![
        node("db1", "127.0.0.1", Ok(master)),
        node("db2", "127.0.0.2", Ok(standby)),
    ]);
    let mut s = Snapshot::starting("repmgrwatch", now, Duration::from_secs(25));
    s.node = NodeView::Repmgr(RepmgrView::new("db2", &nodes, Vec::new()));
    s.last = Some(LastCheck {
        n,
        finished: now,
        finished_unix: 1.8e9,
        seconds: 0.01,
    });
    s
}

fn status(board: &Board, target: &str, now: Instant) -> u16 {
    board.read_held(|s, h| answer_held(s, target, now, h).status)
}

#[test]
fn rise_and_fall_flip_once_per_direction() {
    let now = Instant::now();
    // Time lag per check, limit 10 s: catching up, hovering around the
    // limit, then falling behind, hovering again.
    let ages = [30, 5, 12, 4, 3, 2, 15, 4, 20, 25, 30];
    let held = "/replica?lag=10s&rise=3&fall=2";
    let plain = "/replica?lag=10s";
    let board = Board::new(check(0, 30, now));
    let (mut held_seen, mut plain_seen) = (Vec::new(), Vec::new());
    for (i, age) in ages.iter().enumerate() {
        board.publish(check(i as u64 + 1, *age, now));
        held_seen.push(status(&board, held, now));
        plain_seen.push(status(&board, plain, now));
    }
    assert_eq!(
        plain_seen,
        [503, 200, 503, 200, 200, 200, 503, 200, 503, 503, 503],
        "without rise/fall every check flips"
    );
    assert_eq!(
        held_seen,
        [503, 503, 503, 503, 503, 200, 200, 200, 200, 503, 503],
        "rise=3: up after 3 in a row (checks 4-6); fall=2: down after 2 in a row (checks 9-10)"
    );
    let flips = held_seen.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(flips, 2, "one flip per direction");
}

#[test]
fn checks_count_even_when_nobody_asks_and_requests_do_not() {
    let now = Instant::now();
    let q = "/replica?lag=10s&rise=2";
    let board = Board::new(check(1, 30, now));
    assert_eq!(status(&board, q, now), 503, "lagging at first ask");
    // Many requests on one check count once.
    board.publish(check(2, 1, now));
    for _ in 0..5 {
        assert_eq!(status(&board, q, now), 503, "one check within the limit");
    }
    // A check nobody asked about still counts (the publish steps it).
    board.publish(check(3, 1, now));
    board.publish(check(4, 1, now));
    assert_eq!(status(&board, q, now), 200, "two checks in a row within");
    let body = board.read_held(|s, h| answer_held(s, q, now, h).body);
    assert!(body.contains(r#""lag_seconds":1"#), "{body}");
    let metrics = board.read(crate::serve::metrics::render);
    assert!(
        metrics.contains("\npgpoolwatch_replication_lag_seconds 1\n"),
        "{metrics}"
    );
}

#[test]
fn a_yes_held_against_a_lagging_check_says_so() {
    let now = Instant::now();
    let board = Board::new(check(1, 1, now));
    let q = "/replica?fall=3&lag=10s";
    assert_eq!(status(&board, q, now), 200);
    board.publish(check(2, 60, now));
    let r = board.read_held(|s, h| answer_held(s, q, now, h));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("yes, until 3 checks in a row say no (1 so far: lagging 60.0 s behind the master (limit 10.0 s))"),
        "{}",
        r.body
    );
    // The agent asks the same question in its words: one held state.
    let agent = board.read_held(|s, h| agent_reply_held(s, "replica lag=10000ms fall=3", h));
    assert_eq!(agent, "up ready\n");
    board.publish(check(3, 60, now));
    board.publish(check(4, 60, now));
    assert_eq!(status(&board, q, now), 503);
    let agent = board.read_held(|s, h| agent_reply_held(s, "replica lag=10s fall=3", h));
    assert_eq!(agent, "drain #lagging 60.0s\n");
    let rising = board.read_held(|s, h| agent_reply_held(s, "replica lag=10s rise=2", h));
    assert_eq!(
        rising, "drain #lagging 60.0s\n",
        "first ask: its own answer"
    );
    board.publish(check(5, 1, now));
    let rising = board.read_held(|s, h| agent_reply_held(s, "replica lag=10s rise=2", h));
    assert_eq!(
        rising,
        "drain #catching up: a usable standby for 1 of the 2 checks in a row rise asks\n"
    );
}

#[test]
fn held_queries_are_keyed_by_meaning_and_bounded() {
    let now = Instant::now();
    let snap = check(1, 1, now);
    let mut holds = Holds::default();
    for q in ["lag=10s&rise=3", "rise=3&lag=10000ms", "rise=3&lag=10s&x=y"] {
        answer_held(&snap, &format!("/replica?{q}"), now, &mut holds);
    }
    assert_eq!(holds.len(), 1, "one query, three spellings");
    answer_held(&snap, "/replica?lag=10s", now, &mut holds);
    assert_eq!(holds.len(), 1, "no rise/fall: nothing held");
    for n in 0..100 {
        answer_held(&snap, &format!("/replica?lag={n}s&fall=2"), now, &mut holds);
    }
    assert_eq!(holds.len(), MAX_HELD, "bounded");
    assert_eq!(
        ReplicaQuery::parse("rise=0&fall=1000").rise,
        None,
        "rise and fall are 1 to 100"
    );
}
