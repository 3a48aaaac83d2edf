//! The readers of every topic, one behaviour per test.

use super::*;
use crate::conninfo::MaskedConninfo;

use crate::cluster::text::row_of as row;

#[test]
fn lsn_parse_and_lag() {
    assert_eq!(parse_lsn("0/801FBC8"), Some(0x801FBC8));
    assert_eq!(parse_lsn("1/0"), Some(1 << 32));
    assert_eq!(parse_lsn("x/1"), None);
    assert_eq!(parse_lsn("0801FBC8"), None);
    assert_eq!(lsn_lag("1/10", "0/FFFFFFF0"), Some(0x20));
    assert_eq!(lsn_lag("0/10", "0/20"), Some(0));
}

#[test]
fn conninfo_forms() {
    assert_eq!(
        conninfo_host_port("host=db1 user=repmgr dbname=repmgr").unwrap(),
        ("db1".into(), 5432)
    );
    assert_eq!(
        conninfo_host_port("host='127.0.20.2' port = 5433 connect_timeout=2").unwrap(),
        ("127.0.20.2".into(), 5433)
    );
    assert_eq!(
        conninfo_host_port("user=repmgr application_name='a b\\'c'").unwrap(),
        ("localhost".into(), 5432)
    );
    assert_eq!(
        conninfo_host_port("postgresql://repmgr@db2:5434/repmgr?x=1").unwrap(),
        ("db2".into(), 5434)
    );
    assert_eq!(
        conninfo_host_port("postgresql://[::1]:5435/x").unwrap(),
        ("::1".into(), 5435)
    );
    assert!(conninfo_host_port("host=db1 port=x").is_err());
    assert!(conninfo_host_port("host").is_err());
    assert!(conninfo_host_port("host='db1").is_err());
}

#[test]
fn wal_names_by_version() {
    assert_eq!(wal_names(90624).current_fn, "pg_current_xlog_location()");
    assert_eq!(wal_names(90624).sent, "sent_location");
    assert_eq!(wal_names(100000).replay_fn, "pg_last_wal_replay_lsn()");
    assert_eq!(wal_names(150004).flush, "flush_lsn");
}

#[test]
fn pool_nodes_missing_column_is_named() {
    let e = pool_nodes(&[row(&[
        ("node_id", "0"),
        ("hostname", "h"),
        ("port", "5432"),
    ])])
    .unwrap_err();
    assert_eq!(e.to_string(), "row 1: no column status");
    let e = pool_nodes(&[row(&[
        ("node_id", "0"),
        ("hostname", "h"),
        ("port", "99999"),
        ("status", "up"),
        ("role", "primary"),
    ])])
    .unwrap_err();
    assert!(e.to_string().contains("port \"99999\""), "{e}");
}

#[test]
fn schema_detection() {
    assert_eq!(repmgr_schema(&row(&[("v4", "t")])), Some(RepmgrSchema::V4));
    assert_eq!(
        repmgr_schema(&row(&[("v4", "f"), ("v3", "repmgr_test")])),
        Some(RepmgrSchema::V3 {
            cluster_schema: "repmgr_test".into()
        })
    );
    assert_eq!(repmgr_schema(&row(&[("v4", "f")])), None);
    assert!(RepmgrSchema::V3 {
        cluster_schema: "repmgr_a\"b".into()
    }
    .nodes_sql()
    .contains("\"repmgr_a\"\"b\".repl_nodes"));
}

#[test]
fn node_reader_keeps_the_type() {
    let v5 = |t: &str| {
        row(&[
            ("node_id", "4"),
            ("node_name", "w"),
            ("type", t),
            ("conninfo", "host=w"),
            ("active", "t"),
        ])
    };
    let v3 = |t: &str| {
        row(&[
            ("id", "3"),
            ("name", "w"),
            ("type", t),
            ("conninfo", "host=w"),
            ("active", "t"),
        ])
    };
    // (type as written, role read)
    for (t, want) in [
        ("primary", Role::Primary),
        ("master", Role::Primary),
        ("standby", Role::Standby),
        ("witness", Role::Witness),
        ("WITNESS", Role::Witness),
        ("bdr", Role::Other("bdr".into())),
    ] {
        for r in [v5(t), v3(t)] {
            let nodes = repmgr_nodes(&[r]).expect("a complete row");
            assert_eq!(nodes[0].role, want, "type {t:?}");
        }
    }
    let mut no_type = v5("witness");
    no_type.remove("type");
    assert_eq!(
        repmgr_nodes(&[no_type]).unwrap_err().to_string(),
        "row 1: no column type"
    );
}

#[test]
fn master_candidates_rows_of_5x_and_3x() {
    let node = |name: &str, t: &str, active: bool| RepmgrNode {
        node_id: name.into(),
        name: name.into(),
        role: Role::parse(t),
        upstream_node_id: None,
        conninfo: MaskedConninfo::new(&format!("host={name}")),
        active,
    };
    // (row name, type, active, candidacy)
    let cases = [
        ("5.x primary", "primary", true, Candidacy::Candidate),
        ("5.x standby", "standby", true, Candidacy::Candidate),
        ("5.x witness", "witness", true, Candidacy::NotReplicated),
        (
            "5.x inactive primary",
            "primary",
            false,
            Candidacy::NotReplicated,
        ),
        (
            "5.x inactive standby",
            "standby",
            false,
            Candidacy::NotReplicated,
        ),
        ("5.x bdr", "bdr", true, Candidacy::UnknownType("bdr".into())),
        ("3.x master", "master", true, Candidacy::Candidate),
        ("3.x standby", "standby", true, Candidacy::Candidate),
        ("3.x witness", "witness", true, Candidacy::NotReplicated),
        (
            "3.x inactive master",
            "master",
            false,
            Candidacy::NotReplicated,
        ),
        (
            "empty type",
            "",
            true,
            Candidacy::UnknownType(String::new()),
        ),
        ("inactive unknown", "bdr", false, Candidacy::NotReplicated),
    ];
    for (name, t, active, want) in &cases {
        assert_eq!(node(name, t, *active).candidacy(), *want, "{name}");
    }
    let nodes: Vec<RepmgrNode> = cases
        .iter()
        .map(|(name, t, active, _)| node(name, t, *active))
        .collect();
    let (candidates, unknown) = master_candidates(nodes);
    let names: Vec<&str> = candidates.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        ["5.x primary", "5.x standby", "3.x master", "3.x standby"]
    );
    assert_eq!(
        unknown,
        [
            ("5.x bdr".to_string(), "bdr".to_string()),
            ("empty type".to_string(), String::new())
        ]
    );
}

#[test]
fn df_rejects_garbage() {
    assert!(df("").is_err());
    assert!(df("hello\nworld").is_err());
    assert!(df("Filesystem 1024-blocks Used Available Capacity Mounted on\n").is_err());
}

#[test]
fn stat_replication_columns_per_version() {
    let words = |s: String| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    let common = "pid usesysid usename application_name client_addr client_hostname client_port backend_start backend_xmin state";
    let sync = "sync_priority sync_state";
    let v96 = words(format!(
        "{common} sent_location write_location flush_location replay_location {sync}"
    ));
    let v10 = words(format!(
        "{common} sent_lsn write_lsn flush_lsn replay_lsn write_lag flush_lag replay_lag {sync}"
    ));
    let v12 = [&v10[..], &["reply_time".to_string()]].concat();
    for (version, want) in [
        (90_624, &v96),
        (100_023, &v10),
        (110_022, &v10),
        (120_000, &v12),
        (170_002, &v12),
    ] {
        assert_eq!(&stat_replication_columns(version), want, "{version}");
    }
    // The display order holds every version's columns.
    for c in v96.iter().chain(&v12) {
        assert!(STAT_REPLICATION_COLUMNS.contains(&c.as_str()), "{c}");
    }
}
