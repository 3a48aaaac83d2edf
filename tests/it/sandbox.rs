//! The sandbox cluster itself (bin/sandbox): every later test trusts it, so
//! these check that it is what it claims — every process answers, pgpool sees
//! three backends, and each fault verb really has its effect (a stopped pgpool
//! refuses, a frozen one accepts TCP but never answers, a promoted standby
//! becomes the primary, split brain gives two primaries).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::cluster::{eventually, tcp_accepts, Cluster};

/// `show pool_nodes` through pgpool at `addr`, read with the postgres crate,
/// as (node_id, status, role) rows.
fn pool_nodes(addr: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut client = postgres::Config::new()
        .host(addr)
        .port(5432)
        .user("pgpool")
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(2))
        .connect(postgres::NoTls)
        .map_err(|e| format!("connect {addr}:5432: {e}"))?;
    let msgs = client
        .simple_query("show pool_nodes")
        .map_err(|e| format!("show pool_nodes at {addr}: {e}"))?;
    let mut rows = Vec::new();
    for m in msgs {
        if let postgres::SimpleQueryMessage::Row(r) = m {
            let col = |name: &str| r.get(name).unwrap_or("").to_string();
            rows.push((col("node_id"), col("status"), col("role")));
        }
    }
    Ok(rows)
}

fn row(id: &str, status: &str, role: &str) -> (String, String, String) {
    (id.to_string(), status.to_string(), role.to_string())
}

/// Opens TCP to `addr:5432`, sends a PostgreSQL startup message and waits up
/// to `wait` for any reply byte: Ok(true) replied, Ok(false) silent.
fn startup_replies(addr: &str, wait: Duration) -> Result<bool, String> {
    let sa: SocketAddr = format!("{addr}:5432")
        .parse()
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut s = TcpStream::connect_timeout(&sa, Duration::from_secs(2))
        .map_err(|e| format!("tcp connect {sa}: {e}"))?;
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
    for part in ["user", "pgpool", "database", "postgres"] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    s.write_all(&msg)
        .map_err(|e| format!("send startup to {sa}: {e}"))?;
    s.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1];
    match s.read(&mut buf) {
        Ok(n) => Ok(n > 0),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
        Err(e) => Err(format!("read from {sa}: {e}")),
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn up_every_process_answers() {
    let c = Cluster::shared();
    for n in 1..=2 {
        let a = c.pgpool_addr(n);
        assert!(tcp_accepts(&a, 5432), "pgpool {a}:5432 accepts");
        assert!(tcp_accepts(&a, 9898), "pcp {a}:9898 accepts");
    }
    for n in 1..=3 {
        let a = c.db_addr(n);
        let want = if n == 1 { "f" } else { "t" };
        assert_eq!(
            c.psql(&a, "select pg_is_in_recovery()").as_deref(),
            Ok(want),
            "db{n} at {a}: pg_is_in_recovery()"
        );
        let out = Command::new("ssh")
            .arg("-i")
            .arg(c.ssh_key())
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                c.ssh_known_hosts().display()
            ))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .args(["-o", "ConnectTimeout=2", "-p", "2222"])
            .arg(format!("postgres@{a}"))
            .args(["df", "/"])
            .output()
            .expect("run ssh");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Use%"),
            "ssh postgres@{a}:2222 df /: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // every watcher host has its config.ini, naming its own addresses
    for (host, needle) in [
        ("pgp1", format!("pgpool_host = {}", c.pgpool_addr(1))),
        ("pgp2", format!("bind_address = {}", c.pgpool_addr(2))),
        ("db1", "node_name = db1".to_string()),
        ("db3", format!("repmgr_host = {}", c.db_addr(3))),
    ] {
        let p = c.config_path(host);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            text.contains(&needle),
            "{} has {needle:?}:\n{text}",
            p.display()
        );
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn pool_nodes_shows_three_backends_primary_first() {
    let c = Cluster::shared();
    for n in 1..=2 {
        let a = c.pgpool_addr(n);
        let want = vec![
            row("0", "up", "primary"),
            row("1", "up", "standby"),
            row("2", "up", "standby"),
        ];
        let mut last = Err(String::new());
        let ok = eventually(Duration::from_secs(10), || {
            last = pool_nodes(&a);
            last.as_ref() == Ok(&want)
        });
        assert!(
            ok,
            "pgpool {a} show pool_nodes: want {want:?}, got {last:?}"
        );
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn up_again_is_idempotent_and_stopped_standby_comes_back() {
    let c = Cluster::shared();
    let out = c.verb(&["up"]);
    assert!(
        out.contains("already built"),
        "a second up only reports: {out}"
    );
    assert!(
        !out.contains("up took"),
        "a second up builds nothing: {out}"
    );
    let a = c.pgpool_addr(1);
    c.stop_db(3);
    let down = pool_nodes(&a);
    assert!(
        matches!(&down, Ok(r) if r.contains(&row("2", "down", "standby"))),
        "after stop-db 3, pgpool {a} shows node 2 down: {down:?}"
    );
    c.start_db(3);
    assert_eq!(
        c.psql(&c.db_addr(3), "select pg_is_in_recovery()")
            .as_deref(),
        Ok("t"),
        "db3 is a standby again"
    );
    let up = pool_nodes(&a);
    assert!(
        matches!(&up, Ok(r) if r.contains(&row("2", "up", "standby"))),
        "after start-db 3, pgpool {a} shows node 2 up: {up:?}"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn stopped_pgpool_refuses_and_started_pgpool_answers() {
    let c = Cluster::shared();
    let a = c.pgpool_addr(1);
    assert!(
        tcp_accepts(&a, 5432),
        "pgpool {a}:5432 accepts before the stop"
    );
    c.stop_pgpool(1);
    assert!(
        !tcp_accepts(&a, 5432),
        "pgpool {a}:5432 refuses after stop-pgpool"
    );
    assert!(
        tcp_accepts(&c.pgpool_addr(2), 5432),
        "the other pgpool is untouched"
    );
    c.start_pgpool(1);
    assert!(
        tcp_accepts(&a, 5432),
        "pgpool {a}:5432 accepts after start-pgpool"
    );
    assert_eq!(
        pool_nodes(&a).map(|r| r.len()),
        Ok(3),
        "pgpool {a} answers show pool_nodes"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn frozen_pgpool_accepts_tcp_but_never_answers_until_thawed() {
    let c = Cluster::shared();
    let a = c.pgpool_addr(2);
    assert_eq!(
        startup_replies(&a, Duration::from_secs(2)),
        Ok(true),
        "pgpool {a} replies before the freeze"
    );
    c.freeze_pgpool(2);
    let t0 = Instant::now();
    assert_eq!(
        startup_replies(&a, Duration::from_secs(2)),
        Ok(false),
        "frozen pgpool {a}: TCP connect succeeds, startup message gets no reply"
    );
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "the silence lasted the whole 2 s"
    );
    // the postgres crate bounds only the TCP connect, not the startup: a client
    // on a thread is still waiting after 3 s, and finishes once pgpool thaws
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = a.clone();
    let client = std::thread::spawn(move || {
        let _ = tx.send(pool_nodes(&addr));
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(3)).is_err(),
        "a client query to frozen pgpool {a} has no answer after 3 s"
    );
    c.thaw_pgpool(2);
    let late = rx.recv_timeout(Duration::from_secs(15));
    client.join().expect("client thread");
    assert!(
        matches!(&late, Ok(Ok(r)) if r.len() == 3),
        "the waiting client is answered after the thaw: {late:?}"
    );
    let mut last = Err(String::new());
    let ok = eventually(Duration::from_secs(10), || {
        last = pool_nodes(&a);
        matches!(&last, Ok(r) if r.len() == 3)
    });
    assert!(
        ok,
        "thawed pgpool {a} answers show pool_nodes again: {last:?}"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn frozen_db_accepts_tcp_but_never_answers_until_thawed() {
    let c = Cluster::shared();
    let a = c.db_addr(3);
    c.freeze_db(3);
    assert_eq!(
        startup_replies(&a, Duration::from_secs(2)),
        Ok(false),
        "frozen db3 {a}: startup message gets no reply"
    );
    c.thaw_db(3);
    assert!(
        eventually(Duration::from_secs(10), || c
            .psql(&a, "select 1")
            .as_deref()
            == Ok("1")),
        "thawed db3 {a} answers again"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn stopped_primary_and_promoted_standby_becomes_primary() {
    let c = Cluster::up(3);
    c.stop_db(1);
    assert!(
        !tcp_accepts(&c.db_addr(1), 5432),
        "db1 refuses after stop-db 1"
    );
    c.promote(2);
    assert_eq!(
        c.psql(&c.db_addr(2), "select pg_is_in_recovery()")
            .as_deref(),
        Ok("f"),
        "db2 is primary"
    );
    assert_eq!(
        c.psql(&c.db_addr(3), "select pg_is_in_recovery()")
            .as_deref(),
        Ok("t"),
        "db3 still standby"
    );
    let upstream = c.psql(
        &c.db_addr(3),
        "select sender_host from pg_stat_wal_receiver",
    );
    assert_eq!(
        upstream.as_deref(),
        Ok(c.db_addr(2).as_str()),
        "db3 follows db2"
    );
    for n in 1..=2 {
        let a = c.pgpool_addr(n);
        let mut last = Err(String::new());
        let ok = eventually(Duration::from_secs(15), || {
            last = pool_nodes(&a);
            matches!(&last, Ok(r) if r.contains(&row("1", "up", "primary")) && r.contains(&row("0", "down", "standby")))
        });
        assert!(ok, "pgpool {a}: node 1 up primary, node 0 down: {last:?}");
    }

    // the old primary comes back as a standby of the new one
    c.rejoin(1);
    assert_eq!(
        c.psql(&c.db_addr(1), "select pg_is_in_recovery()")
            .as_deref(),
        Ok("t"),
        "rejoined db1 is a standby"
    );
    let mut upstream = Err(String::new());
    let streams = eventually(Duration::from_secs(15), || {
        upstream = c.psql(
            &c.db_addr(1),
            "select sender_host from pg_stat_wal_receiver where status = 'streaming'",
        );
        upstream.as_deref() == Ok(c.db_addr(2).as_str())
    });
    assert!(streams, "rejoined db1 streams from db2: {upstream:?}");
    for n in 1..=2 {
        let a = c.pgpool_addr(n);
        let mut last = Err(String::new());
        let ok = eventually(Duration::from_secs(15), || {
            last = pool_nodes(&a);
            matches!(&last, Ok(r) if r.contains(&row("1", "up", "primary")) && r.contains(&row("0", "up", "standby")))
        });
        assert!(
            ok,
            "pgpool {a}: node 0 up standby again after rejoin: {last:?}"
        );
    }
    assert!(
        c.run(&["rejoin", "2"]).is_err(),
        "rejoin of the running primary is refused"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn split_brain_gives_two_primaries() {
    let c = Cluster::up(4);
    c.split_brain();
    for n in 1..=2 {
        assert_eq!(
            c.psql(&c.db_addr(n), "select pg_is_in_recovery()")
                .as_deref(),
            Ok("f"),
            "db{n} answers as a primary"
        );
    }
    assert_eq!(
        c.psql(&c.db_addr(3), "select pg_is_in_recovery()")
            .as_deref(),
        Ok("t"),
        "db3 stays standby"
    );
}
