//! The API's pure parts: the lag parser, every path on every role, HEAD and
//! OPTIONS, the agent grammar, the metrics text.

use std::time::{Duration, Instant};

use crate::cluster::pgpool::{PgpoolError, PgpoolFault, PgpoolSplitBrain};
use crate::cluster::repmgr::{MastersError, NodeAnswer, NodeError, NodeStatus, WalReceiver};
use crate::cluster::text::{pool_nodes, Backend};
use crate::cluster::ProbeError;
use crate::serve::agent::agent_reply;
use crate::serve::board::{LastCheck, NodeView, PgpoolView, RepmgrView, Snapshot};
use crate::serve::routes::{answer, http_answer, parse_lag, parse_lag_limit, Lag, ReplicaQuery};

const MB: u64 = 1 << 20;

/// An active node `name` on `host`:5432 that answered `status`.
pub(in crate::serve) fn node(
    name: &str,
    host: &str,
    status: Result<NodeStatus, NodeError>,
) -> NodeAnswer {
    NodeAnswer {
        name: name.into(),
        active: true,
        host: Some(host.into()),
        port: Some(5432),
        answer: status,
    }
}

fn master(lsn: u64) -> Result<NodeStatus, NodeError> {
    Ok(NodeStatus {
        in_recovery: false,
        lsn: Some(lsn),
        receiver: None,
        receive_lsn: None,
        replay_age: None,
    })
}

fn standby(lsn: u64, status: &str, from: &str) -> Result<NodeStatus, NodeError> {
    Ok(NodeStatus {
        in_recovery: true,
        lsn: Some(lsn),
        receiver: Some(WalReceiver {
            status: status.into(),
            sender_host: Some(from.into()),
            sender_port: Some(5432),
        }),
        receive_lsn: None,
        replay_age: None,
    })
}

fn snap(program: &'static str, node: NodeView, gate_open: bool, now: Instant) -> Snapshot {
    let mut s = Snapshot::starting(program, now, Duration::from_secs(25));
    s.node = node;
    s.gate_open = gate_open;
    s.reason = "the reason sentence.".into();
    s.last = Some(LastCheck {
        n: 3,
        finished: now,
        finished_unix: 1.8e9,
        seconds: 0.02,
    });
    s
}

/// repmgrwatch as node `me` over `nodes` (db1 127.0.0.1 is the master
/// unless said otherwise).
fn repmgr(me: &str, nodes: Result<Vec<NodeAnswer>, MastersError>, now: Instant) -> Snapshot {
    let v = RepmgrView::new(me, &nodes, vec![("pgp1".into(), true)]);
    snap("repmgrwatch", NodeView::Repmgr(v), false, now)
}

fn cluster(db2: Result<NodeStatus, NodeError>) -> Result<Vec<NodeAnswer>, MastersError> {
    Ok(vec![
        node("db1", "127.0.0.1", master(100 * MB)),
        node("db2", "127.0.0.2", db2),
        node(
            "db3",
            "127.0.0.3",
            standby(100 * MB, "streaming", "127.0.0.1"),
        ),
    ])
}

#[test]
fn lag_parser_takes_bytes_and_1024_based_units() {
    let cases: &[(&str, Option<u64>)] = &[
        ("0", Some(0)),
        ("1048576", Some(MB)),
        ("1kB", Some(1024)),
        ("1KB", Some(1024)),
        ("1MB", Some(MB)),
        ("16 MB", Some(16 * MB)),
        ("2GB", Some(2 << 30)),
        ("1TB", Some(1 << 40)),
        ("10B", Some(10)),
        ("", None),
        ("MB", None),
        ("1.5MB", None),
        ("-1", None),
        ("1XB", None),
        ("99999999999999999999", None),
        ("18446744073709551615GB", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_lag(text), *want, "parse_lag({text:?})");
    }
    let q = ReplicaQuery::parse("lag=1MB&replication_state=streaming&x=y");
    assert_eq!(q.lag, Some(Lag::Bytes(MB)));
    assert_eq!(q.replication_state.as_deref(), Some("streaming"));
    assert_eq!(
        ReplicaQuery::parse("lag=bogus").lag,
        None,
        "ignored as Patroni does"
    );
    assert_eq!(
        ReplicaQuery::parse("lag=1%20MB").lag,
        Some(Lag::Bytes(MB)),
        "percent-decoded"
    );
}

#[test]
fn lag_limits_take_a_time_beside_bytes() {
    let secs = |n| Some(Lag::Time(Duration::from_secs(n)));
    let cases: &[(&str, Option<Lag>)] = &[
        ("10s", secs(10)),
        ("10 S", secs(10)),
        ("0s", secs(0)),
        ("500ms", Some(Lag::Time(Duration::from_millis(500)))),
        ("1500MS", Some(Lag::Time(Duration::from_millis(1500)))),
        ("10", Some(Lag::Bytes(10))),
        ("1MB", Some(Lag::Bytes(MB))),
        ("1mb", Some(Lag::Bytes(MB))),
        ("1.5s", None),
        ("s", None),
        ("ms", None),
        ("-1s", None),
        ("10m", None),
        ("10sec", None),
        ("99999999999999999999s", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_lag_limit(text), *want, "parse_lag_limit({text:?})");
    }
    let q = ReplicaQuery::parse("lag=10s&rise=3&fall=2");
    assert_eq!((q.lag, q.rise, q.fall), (secs(10), Some(3), Some(2)));
    assert!(q.held());
    let q = ReplicaQuery::parse("lag=500ms&rise=0&fall=x");
    assert_eq!((q.rise, q.fall), (None, None), "out of range: ignored");
    assert!(!q.held());
    assert_eq!(
        ReplicaQuery::parse("lag=10%20s").lag,
        secs(10),
        "percent-decoded"
    );
}

#[test]
fn every_repmgr_path_on_every_role() {
    let now = Instant::now();
    let lagging = standby(100 * MB - 2 * MB, "streaming", "127.0.0.1");
    // (name, snapshot) rows; the columns are the paths below.
    let rows: Vec<(&str, Snapshot)> = vec![
        (
            "primary",
            repmgr(
                "db1",
                cluster(standby(100 * MB, "streaming", "127.0.0.1")),
                now,
            ),
        ),
        (
            "standby in sync",
            repmgr(
                "db2",
                cluster(standby(100 * MB, "streaming", "127.0.0.1")),
                now,
            ),
        ),
        ("standby 2 MB behind", repmgr("db2", cluster(lagging), now)),
        (
            "standby not streaming",
            repmgr(
                "db2",
                cluster(standby(100 * MB, "startup", "127.0.0.1")),
                now,
            ),
        ),
        (
            "standby streaming from another node",
            repmgr(
                "db2",
                cluster(standby(100 * MB, "streaming", "127.0.0.3")),
                now,
            ),
        ),
        (
            "standby without WAL receiver",
            repmgr(
                "db2",
                cluster(Ok(NodeStatus {
                    in_recovery: true,
                    lsn: Some(100 * MB),
                    receiver: None,
                    receive_lsn: None,
                    replay_age: None,
                })),
                now,
            ),
        ),
        (
            "split brain, me a master",
            repmgr("db1", cluster(master(50 * MB)), now),
        ),
        (
            "local PostgreSQL down",
            repmgr(
                "db2",
                cluster(Err(NodeError::Probe(ProbeError::failed(
                    "127.0.0.2",
                    5432,
                    "connect",
                    "refused",
                )))),
                now,
            ),
        ),
        (
            "no master",
            repmgr(
                "db2",
                Ok(vec![node(
                    "db2",
                    "127.0.0.2",
                    standby(1, "startup", "127.0.0.1"),
                )]),
                now,
            ),
        ),
        (
            "masters unreadable",
            repmgr(
                "db2",
                Err(MastersError::Read(ProbeError::failed(
                    "127.0.0.1",
                    5432,
                    "connect",
                    "refused",
                ))),
                now,
            ),
        ),
        (
            "starting",
            Snapshot::starting("repmgrwatch", now, Duration::from_secs(25)),
        ),
    ];
    let paths = [
        "/primary",
        "/master",
        "/read-write",
        "/leader",
        "/replica",
        "/replica?lag=1MB",
        "/replica?replication_state=streaming",
        "/read-only",
        "/read-only?lag=1MB",
        "/health",
    ];
    #[rustfmt::skip]
    let want: &[(&str, [u16; 10])] = &[
        ("primary",                             [200, 200, 200, 200, 503, 503, 503, 200, 200, 200]),
        ("standby in sync",                     [503, 503, 503, 503, 200, 200, 200, 200, 200, 200]),
        ("standby 2 MB behind",                 [503, 503, 503, 503, 200, 503, 200, 200, 503, 200]),
        ("standby not streaming",               [503, 503, 503, 503, 503, 503, 503, 503, 503, 200]),
        ("standby streaming from another node", [503, 503, 503, 503, 503, 503, 503, 503, 503, 200]),
        ("standby without WAL receiver",        [503, 503, 503, 503, 503, 503, 503, 503, 503, 200]),
        ("split brain, me a master",            [503, 503, 503, 503, 503, 503, 503, 503, 503, 200]),
        ("local PostgreSQL down",               [503, 503, 503, 503, 503, 503, 503, 503, 503, 503]),
        ("no master",                           [503, 503, 503, 503, 503, 503, 503, 503, 503, 200]),
        ("masters unreadable",                  [503, 503, 503, 503, 503, 503, 503, 503, 503, 503]),
        ("starting",                            [503, 503, 503, 503, 503, 503, 503, 503, 503, 503]),
    ];
    for ((name, s), (wname, codes)) in rows.iter().zip(want) {
        assert_eq!(name, wname, "rows and expectations line up");
        for (path, code) in paths.iter().zip(codes) {
            let r = answer(s, path, now);
            assert_eq!(r.status, *code, "{name}: GET {path}: {}", r.body);
            assert!(
                r.body.contains("\"state\":") && r.body.contains("\"reason\":"),
                "{name} {path}: {}",
                r.body
            );
        }
        // Always 200: the full JSON; never a path we do not know.
        for path in ["/", "/status", "/metrics", "/liveness"] {
            assert_eq!(answer(s, path, now).status, 200, "{name}: {path}");
        }
        assert_eq!(answer(s, "/nope", now).status, 404, "{name}: unknown path");
        assert_eq!(answer(s, "/gate", now).status, 503, "{name}: gate closed");
    }
    let split = &rows[6].1;
    assert!(
        answer(split, "/primary", now)
            .body
            .contains("split brain: db1, db2"),
        "split brain named"
    );
    let lag = answer(&rows[2].1, "/replica?lag=1MB", now).body;
    assert!(lag.contains("lagging 2097152 bytes"), "{lag}");
    let status = answer(&rows[1].1, "/status", now).body;
    for field in [
        r#""role":"standby""#,
        r#""lsn":"0/6400000""#,
        r#""master_lsn":"0/6400000""#,
        r#""lag_bytes":0"#,
        r#""masters":["db1"]"#,
        r#""pgpool_gates":[{"host":"pgp1","up":true}]"#,
        r#""streaming_from_master":true"#,
        r#""check":3"#,
    ] {
        assert!(status.contains(field), "{field} in {status}");
    }
}

#[test]
fn liveness_and_gate_follow_the_loop_and_the_gate() {
    let t0 = Instant::now();
    let mut s = repmgr("db1", cluster(master(1)), t0);
    s.gate_open = true;
    assert_eq!(answer(&s, "/gate", t0).status, 200);
    assert_eq!(
        answer(&s, "/liveness", t0 + Duration::from_secs(25)).status,
        200,
        "at the bound"
    );
    let late = answer(&s, "/liveness", t0 + Duration::from_secs(26));
    assert_eq!(late.status, 503, "a hung loop is caught");
    assert!(
        late.body.contains("no check finished for 26.0 s"),
        "{}",
        late.body
    );
}

#[test]
fn head_and_options_get_status_line_and_headers_only() {
    let now = Instant::now();
    let s = repmgr(
        "db2",
        cluster(standby(100 * MB, "streaming", "127.0.0.1")),
        now,
    );
    for (req, status) in [
        ("OPTIONS / HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK\r\n"),
        (
            "HEAD /primary HTTP/1.0\r\n\r\n",
            "HTTP/1.0 503 Service Unavailable\r\n",
        ),
        (
            "OPTIONS /replica HTTP/1.1\r\nHost: x\r\n\r\n",
            "HTTP/1.0 200 OK\r\n",
        ),
        ("HEAD /nope HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found\r\n"),
    ] {
        let out =
            String::from_utf8(http_answer(&s, req.as_bytes(), now).expect("HTTP")).expect("utf-8");
        assert!(out.starts_with(status), "{req:?}: {out}");
        assert!(out.ends_with("\r\n\r\n"), "{req:?}: no body: {out}");
        assert!(out.contains("Content-Length: "), "{req:?}: {out}");
    }
    let get = String::from_utf8(
        http_answer(&s, b"GET /replica?lag=1MB HTTP/1.0\r\n\r\n", now).expect("HTTP"),
    )
    .expect("utf-8");
    let (head, body) = get.split_once("\r\n\r\n").expect("head and body");
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{get}"
    );
    assert!(body.starts_with('{') && body.ends_with("}\n"), "{body}");
    let post =
        String::from_utf8(http_answer(&s, b"POST /primary HTTP/1.0\r\n\r\n", now).expect("HTTP"))
            .expect("utf-8");
    assert!(post.starts_with("HTTP/1.0 405 "), "{post}");
    assert_eq!(
        http_answer(&s, b"GET /primary\r\n\r\n", now),
        None,
        "HTTP/0.9 is not answered"
    );
}

#[test]
fn agent_grammar() {
    let now = Instant::now();
    let primary = repmgr(
        "db1",
        cluster(standby(100 * MB, "streaming", "127.0.0.1")),
        now,
    );
    let in_sync = repmgr(
        "db2",
        cluster(standby(100 * MB, "streaming", "127.0.0.1")),
        now,
    );
    let behind = repmgr(
        "db2",
        cluster(standby(98 * MB, "streaming", "127.0.0.1")),
        now,
    );
    let broken = repmgr(
        "db2",
        cluster(standby(100 * MB, "startup", "127.0.0.1")),
        now,
    );
    let split = repmgr("db1", cluster(master(1)), now);
    let cases: Vec<(&str, &Snapshot, &str, &str)> = vec![
        ("master, default", &primary, "", "up ready\n"),
        ("master, primary", &primary, "primary", "up ready\n"),
        ("standby, primary", &in_sync, "primary", "maint #a standby; the master is db1\n"),
        ("split brain, primary", &split, "primary", "maint #split brain: db1, db2 answer as master\n"),
        ("standby, replica", &in_sync, "replica", "up ready\n"),
        ("standby, replica lag", &in_sync, "replica lag=1MB", "up ready\n"),
        ("behind, replica lag", &behind, "replica lag=1MB", "drain #lagging 2097152\n"),
        ("behind, replica", &behind, "replica", "up ready\n"),
        ("not streaming, replica", &broken, "replica lag=1MB", "down #the WAL receiver is startup\n"),
        ("master, replica", &primary, "replica", "down #not in recovery (this node is a master)\n"),
        ("gate closed", &primary, "gate", "down #the gate is closed: the reason sentence\n"),
        ("health", &in_sync, "health", "up ready\n"),
        ("unknown", &in_sync, "bogus", "down #unknown agent request \"bogus\": send primary, replica [lag=N], gate or health\n"),
    ];
    for (name, s, req, want) in cases {
        assert_eq!(agent_reply(s, req), want, "{name}: {req:?}");
    }
    let mut open = primary.clone();
    open.gate_open = true;
    assert_eq!(agent_reply(&open, "gate"), "up ready\n");
    // Every reply is one line of HAProxy's grammar.
    let mut nasty = in_sync.clone();
    if let NodeView::Repmgr(r) = &mut nasty.node {
        r.masters = vec!["db1\r\nup".into()];
    }
    let reply = agent_reply(&nasty, "primary");
    assert_eq!(reply.matches('\n').count(), 1, "{reply:?}");
    assert!(!reply.contains('\r'), "{reply:?}");
}

fn backends() -> Vec<Backend> {
    let row = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    pool_nodes(&[
        row(&[
            ("node_id", "0"),
            ("hostname", "127.0.20.1"),
            ("port", "5432"),
            ("status", "up"),
            ("pg_status", "up"),
            ("role", "primary"),
            ("pg_role", "primary"),
            ("replication_delay", "0"),
        ]),
        row(&[
            ("node_id", "1"),
            ("hostname", "127.0.20.2"),
            ("port", "5432"),
            ("status", "down"),
            ("pg_status", "up"),
            ("role", "standby"),
            ("pg_role", "standby"),
            ("replication_delay", "4096"),
        ]),
    ])
    .expect("rows")
}

#[test]
fn pgpwatch_paths_and_metrics() {
    let now = Instant::now();
    let healthy = snap(
        "pgpwatch",
        NodeView::Pgpool(PgpoolView {
            error: None,
            backends: backends(),
        }),
        true,
        now,
    );
    let sick = snap(
        "pgpwatch",
        NodeView::Pgpool(PgpoolView {
            error: Some(PgpoolFault::Unhealthy(PgpoolError::NoPrimaryUp {
                at: "127.0.10.1:5432".into(),
                backends: 2,
            })),
            backends: backends(),
        }),
        false,
        now,
    );
    for (name, s, health, gate) in [
        ("healthy", &healthy, 200, 200),
        ("unhealthy", &sick, 503, 503),
    ] {
        assert_eq!(answer(s, "/health", now).status, health, "{name}");
        assert_eq!(answer(s, "/gate", now).status, gate, "{name}");
        assert_eq!(answer(s, "/status", now).status, 200, "{name}");
        for path in ["/primary", "/replica", "/read-only"] {
            assert_eq!(
                answer(s, path, now).status,
                404,
                "{name}: {path} is repmgrwatch's"
            );
        }
    }
    let status = answer(&healthy, "/status", now).body;
    // JSON schema 2: numbers as numbers, ISO-8601 times.
    assert!(status.contains(r#"{"id":1,"host":"127.0.20.2","port":5432,"status":"down","pg_status":"up","role":"standby","pg_role":"standby","replication_delay":4096}"#), "{status}");
    assert!(
        status.starts_with(r#"{"schema":2,"program":"pgpwatch","#),
        "{status}"
    );
    assert!(
        status.contains(r#""finished_unix":1800000000,"finished_at":"2027-01-15T08:00:00.000Z","#),
        "{status}"
    );
    assert!(status.contains(r#""split_brain":false"#), "{status}");
    let m = answer(&healthy, "/metrics", now).body;
    for line in [
        "pgpoolwatch_gate_open 1\n",
        "pgpoolwatch_checks_total{result=\"ok\"} 0\n",
        "pgpoolwatch_pgpool_backend_status{node_id=\"1\",hostname=\"127.0.20.2\",port=\"5432\",role=\"standby\"} 0\n",
        "pgpoolwatch_pgpool_backend_pg_status{node_id=\"1\",hostname=\"127.0.20.2\",port=\"5432\",role=\"standby\"} 1\n",
        "pgpoolwatch_pgpool_backend_pg_role{node_id=\"0\",hostname=\"127.0.20.1\",port=\"5432\",role=\"primary\",pg_role=\"primary\"} 1\n",
        "pgpoolwatch_pgpool_backend_replication_delay{node_id=\"1\",hostname=\"127.0.20.2\",port=\"5432\",role=\"standby\"} 4096\n",
        "pgpoolwatch_check_duration_seconds_bucket{le=\"+Inf\"} 0\n",
        "pgpoolwatch_last_check_timestamp_seconds 1800000000\n",
        "pgpoolwatch_split_brain 0\n",
    ] {
        assert!(m.contains(line), "{line} in\n{m}");
    }
    assert_eq!(
        agent_reply(&healthy, "primary"),
        "up ready\n",
        "pgpwatch: primary = health"
    );
    assert!(
        agent_reply(&sick, "").starts_with("down #127.0.10.1:5432: no backend up"),
        "{}",
        agent_reply(&sick, "")
    );
}

#[test]
fn metrics_text_is_well_formed() {
    let now = Instant::now();
    let mut s = repmgr(
        "db2",
        cluster(standby(99 * MB, "streaming", "127.0.0.1")),
        now,
    );
    for secs in [0.003, 0.2, 30.0] {
        s.stats.duration.observe(secs);
    }
    let m = answer(&s, "/metrics", now).body;
    for line in [
        "pgpoolwatch_is_primary 0\n",
        "pgpoolwatch_masters_seen 1\n",
        "pgpoolwatch_replication_lag_bytes 1048576\n",
        "pgpoolwatch_replay_lsn_bytes 103809024\n",
        "pgpoolwatch_check_duration_seconds_bucket{le=\"0.005\"} 1\n",
        "pgpoolwatch_check_duration_seconds_bucket{le=\"0.25\"} 2\n",
        "pgpoolwatch_check_duration_seconds_bucket{le=\"10\"} 2\n",
        "pgpoolwatch_check_duration_seconds_bucket{le=\"+Inf\"} 3\n",
        "pgpoolwatch_check_duration_seconds_count 3\n",
    ] {
        assert!(m.contains(line), "{line} in\n{m}");
    }
    // Every sample's family was announced with HELP and TYPE before it.
    let mut announced = Vec::new();
    for line in m.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            announced.push(rest.split(' ').next().expect("name").to_string());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().expect("name");
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| announced.iter().any(|a| a == b))
                .unwrap_or(name);
            assert!(
                announced.iter().any(|a| a == base),
                "{line}: no TYPE before it"
            );
            assert!(name.starts_with("pgpoolwatch_"), "{line}");
        }
    }
}

#[test]
fn api_keys_read_a_port_or_off() {
    use crate::config::{Program, Settings};
    let base = "[repmgr]\npgp_server_1 = a\npgp_server_2 = b\nbind_address = 127.0.0.5\n";
    let parse = |extra: &str| {
        Settings::parse(
            &format!("{base}{extra}"),
            std::path::Path::new("c.ini"),
            Program::Repmgrwatch,
        )
    };
    let s = parse("").expect("defaults");
    assert_eq!(
        (s.repmgr.api_port, s.repmgr.agent_port),
        (None, None),
        "off by default"
    );
    assert_eq!(
        s.repmgr.api_bind().to_string(),
        "127.0.0.5",
        "follows bind_address"
    );
    // The gate's wildcard is not the API's: loopback unless set.
    let wild = Settings::parse(
        "[repmgr]\npgp_server_1 = a\npgp_server_2 = b\napi_port = 8008\n",
        std::path::Path::new("c.ini"),
        Program::Repmgrwatch,
    )
    .expect("wildcard");
    assert_eq!(wild.repmgr.bind_address.to_string(), "0.0.0.0");
    assert_eq!(wild.repmgr.api_bind().to_string(), "127.0.0.1");
    assert!(wild
        .render()
        .contains("repmgr.api_bind_address = 127.0.0.1\n"));
    let any = parse("api_bind_address = 0.0.0.0\n").expect("explicit wildcard");
    assert_eq!(any.repmgr.api_bind().to_string(), "0.0.0.0", "as set");
    let v6 = parse("bind_address = ::\n").expect("v6");
    assert_eq!(v6.repmgr.api_bind().to_string(), "::1");
    let s =
        parse("api_port = 8008\nagent_port = 8009\napi_bind_address = 127.0.0.9\n").expect("set");
    assert_eq!(
        (s.repmgr.api_port, s.repmgr.agent_port),
        (Some(8008), Some(8009))
    );
    assert_eq!(s.repmgr.api_bind().to_string(), "127.0.0.9");
    assert_eq!(
        parse("api_port = off\n").expect("off").repmgr.api_port,
        None
    );
    let e = parse("api_port = http\n")
        .expect_err("not a port")
        .to_string();
    assert!(
        e.contains("[repmgr] api_port") && e.contains("a port number 1..65535, or off"),
        "{e}"
    );
    assert!(parse("agent_port = 0\n").is_err(), "port 0 is refused");
}

#[test]
fn split_brain_shows_on_metrics_and_status_of_both_watchers() {
    let now = Instant::now();
    // pgpwatch: the down standby runs as primary by its pg_role.
    let mut b = backends();
    b[1].row.insert("pg_role".into(), "primary".into());
    let split = snap(
        "pgpwatch",
        NodeView::Pgpool(PgpoolView {
            error: Some(PgpoolFault::SplitBrain(PgpoolSplitBrain {
                at: "127.0.10.1:5432".into(),
                primary: "127.0.20.1:5432".into(),
                others: vec!["127.0.20.2:5432".into()],
            })),
            backends: b,
        }),
        false,
        now,
    );
    let m = answer(&split, "/metrics", now).body;
    assert!(m.contains("pgpoolwatch_split_brain 1\n"), "{m}");
    assert!(m.contains("# TYPE pgpoolwatch_split_brain gauge\n"), "{m}");
    assert!(answer(&split, "/status", now)
        .body
        .contains(r#""split_brain":true"#));

    // repmgrwatch on the master db1: db3, inactive in the metadata, answers
    // as primary; it is no master (db1 stays the single master).
    let mut nodes = cluster(standby(100 * MB, "streaming", "127.0.0.1")).expect("nodes");
    nodes.push(NodeAnswer {
        active: false,
        ..node("db4", "127.0.0.4", master(90 * MB))
    });
    let s = repmgr("db1", Ok(nodes), now);
    let m = answer(&s, "/metrics", now).body;
    for line in [
        "pgpoolwatch_split_brain 1\n",
        "pgpoolwatch_masters_seen 1\n",
        "pgpoolwatch_is_primary 1\n",
    ] {
        assert!(m.contains(line), "{line} in\n{m}");
    }
    let status = answer(&s, "/status", now).body;
    assert!(
        status.contains(r#""stale_primaries":["db4"],"split_brain":true"#),
        "{status}"
    );
    assert_eq!(answer(&s, "/primary", now).status, 200, "db1 is the master");

    // No stale primary: no split brain.
    let s = repmgr(
        "db1",
        cluster(standby(100 * MB, "streaming", "127.0.0.1")),
        now,
    );
    assert!(answer(&s, "/metrics", now)
        .body
        .contains("pgpoolwatch_split_brain 0\n"));
}

/// Issue 18 item 5: a reload whose new API port cannot be bound keeps
/// serving on the old one; a later try moves it.
#[test]
fn a_move_to_a_taken_port_keeps_the_old_listener_until_it_is_free() {
    use std::net::{SocketAddr, TcpListener, TcpStream};
    let free = || {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let board = crate::serve::Board::new(Snapshot::starting(
        "pgpwatch",
        Instant::now(),
        Duration::from_secs(10),
    ));
    let a = free();
    let mut ports = crate::serve::ApiPorts::open(board, Some(a), None).expect("open");
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = held.local_addr().expect("addr");
    let e = ports.rebind(Some(b), None).unwrap_err();
    assert!(crate::serve::conflict::is_taken(&e), "{e}");
    assert_eq!(ports.api_addr(), Some(a), "still on the old port");
    assert!(TcpStream::connect(a).is_ok(), "the old port answers");
    assert!(!ports.bound_as(Some(b), None));
    drop(held);
    ports.rebind(Some(b), None).expect("free now");
    assert_eq!(ports.api_addr(), Some(b));
    assert!(TcpStream::connect(a).is_err(), "the old port is closed");
    // From the wildcard to one address on the same port: the old listener
    // holds the port itself and steps aside.
    let c = free();
    let any = SocketAddr::from(([0, 0, 0, 0], c.port()));
    ports.rebind(Some(any), None).expect("wildcard");
    ports
        .rebind(Some(c), None)
        .expect("hand-over on the same port");
    assert_eq!(ports.api_addr(), Some(c));
}
