//! A node's conninfo in repmgr's metadata in either libpq form: repmgrwatch's
//! masters probe (`probe::repmgr::probe_masters`) asks each node at the
//! host and port its conninfo names. Before the one conninfo reader, a URI
//! conninfo (`postgresql://repmgr@host:port/db`) was read as no pairs at
//! all, so the node was asked at "its name":5432 and silently never
//! counted. Own cluster on net 12 (net 8 is the witness test's, and
//! bin/test runs tests in parallel); the test rewrites repmgr.nodes and
//! restores it.

use std::process::Command;

use pgpoolwatch::config::{Program, Settings};

use crate::support::cluster::Cluster;

const NET: u8 = 12;

/// Sets the conninfo of repmgr node `node` on the primary (db1), as
/// `repmgr node register --force` would write it.
fn set_conninfo(c: &Cluster, node: &str, conninfo: &str) {
    let sql = format!(
        "UPDATE repmgr.nodes SET conninfo = '{}' WHERE node_name = '{node}'",
        conninfo.replace('\'', "''")
    );
    let out = Command::new("timeout")
        .args(["10", "psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", &c.db_addr(1), "-p", "5432", "-U", "repmgr"])
        .args(["-d", "repmgr", "-c", &sql])
        .env("PGCONNECT_TIMEOUT", "2")
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// repmgrwatch's masters probe with db1's generated config.ini.
fn masters(c: &Cluster) -> Result<Vec<String>, String> {
    let s = Settings::load(&c.config_path("db1"), Program::Repmgrwatch)
        .expect("db1's config.ini loads");
    pgpoolwatch::cluster::repmgr::probe_masters(&s).map_err(|e| e.to_string())
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn uri_conninfo_in_repmgr_nodes_is_probed_at_its_host_and_port() {
    let c = Cluster::up(NET);
    let db1 = c.db_addr(1);
    let db1_name_resolves = std::net::ToSocketAddrs::to_socket_addrs(&("db1", 5432)).is_ok();
    assert!(
        !db1_name_resolves,
        "the name db1 resolves here, so a probe at the node name could pass by chance"
    );
    let key_value = format!("host={db1} port=5432 user=repmgr dbname=repmgr connect_timeout=2");
    assert_eq!(
        masters(&c),
        Ok(vec!["db1".to_string()]),
        "as built: {key_value}"
    );

    // (conninfo of db1, masters expected): the URI's host and port are read.
    let cases = [
        (
            format!("postgresql://repmgr@{db1}:5432/repmgr?connect_timeout=2"),
            vec!["db1".to_string()],
        ),
        (
            format!("postgres://repmgr@{db1}/repmgr?sslmode=prefer&application_name=a%20b"),
            vec!["db1".to_string()],
        ),
        // Nothing listens on 5439: db1 is asked there, so it is no master.
        (
            format!("postgresql://repmgr@{db1}:5439/repmgr?connect_timeout=2"),
            vec![],
        ),
    ];
    for (conninfo, want) in &cases {
        set_conninfo(&c, "db1", conninfo);
        assert_eq!(masters(&c).as_ref(), Ok(want), "conninfo {conninfo}");
    }
    set_conninfo(&c, "db1", &key_value);
    assert_eq!(
        masters(&c),
        Ok(vec!["db1".to_string()]),
        "restored: {key_value}"
    );
}
