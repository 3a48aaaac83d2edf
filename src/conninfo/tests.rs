//! Both libpq forms, each rule one row; where `postgres::Config` reads the
//! same string, it must agree with us (host, port, user, dbname).

use super::*;

fn ok(s: &str) -> Conninfo {
    parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn key_value_with_quotes_and_escapes() {
    let c = ok("host=db1 port = 5433 user='re pm\\'gr' dbname=repmgr connect_timeout=2");
    assert_eq!(c.host.as_deref(), Some("db1"));
    assert_eq!(c.port, Some(5433));
    assert_eq!(c.user.as_deref(), Some("re pm'gr"));
    assert_eq!(c.dbname.as_deref(), Some("repmgr"));
    assert_eq!(c.password, None);
    let c = ok(r"host='127.0.20.2' password='a \\ b' dbname=x\ y");
    assert_eq!(c.host.as_deref(), Some("127.0.20.2"));
    assert_eq!(c.password.as_ref().map(Secret::expose), Some(r"a \ b"));
    assert_eq!(c.dbname.as_deref(), Some("x y"));
    assert_eq!(ok("").host_port(), ("localhost".to_string(), 5432));
    assert_eq!(
        ok("user=repmgr").host_port(),
        ("localhost".to_string(), 5432)
    );
    // A later key wins, as in libpq; hostaddr only where no host is given.
    assert_eq!(ok("port=1 port=2").port, Some(2));
    // Keys that do not say where a node is are skipped unread.
    assert_eq!(ok("host=db1 colour=blue").host.as_deref(), Some("db1"));
    assert_eq!(
        ok("postgresql://db2/x?colour=blue").host.as_deref(),
        Some("db2")
    );
    assert_eq!(ok("hostaddr=10.0.0.9").host.as_deref(), Some("10.0.0.9"));
    assert_eq!(
        ok("hostaddr=10.0.0.9 host=db4").host.as_deref(),
        Some("db4")
    );
}

#[test]
fn tls_keys_libpq_knows_and_postgres_config_refuses() {
    let c = ok("host=db1 sslmode=verify-full sslrootcert=/etc/ca.crt sslcert='/c d.crt' sslkey=");
    assert_eq!(c.sslmode, Some(SslMode::VerifyFull));
    assert_eq!(c.sslrootcert, Some(PathBuf::from("/etc/ca.crt")));
    assert_eq!(c.sslcert, Some(PathBuf::from("/c d.crt")));
    assert_eq!(c.sslkey, Some(PathBuf::new()));
    // postgres::Config alone would refuse the same string.
    assert!(postgres::Config::from_str("host=db1 sslmode=verify-full").is_err());
    assert!(postgres::Config::from_str("host=db1 sslrootcert=/etc/ca.crt").is_err());
    let base = TlsSettings {
        mode: SslMode::Require,
        key: Some(PathBuf::from("/section.key")),
        ..TlsSettings::default()
    };
    let t = c.tls_over(&base);
    assert_eq!(t.mode, SslMode::VerifyFull);
    assert_eq!(t.root_cert, Some(PathBuf::from("/etc/ca.crt")));
    assert_eq!(t.key, None, "an empty sslkey means libpq's default file");
    assert_eq!(
        ok("host=x").tls_over(&base),
        base,
        "nothing set: the section's"
    );
    let u = ok("postgresql://db2/repmgr?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.crt");
    assert_eq!(u.sslmode, Some(SslMode::VerifyCa));
    assert_eq!(u.sslrootcert, Some(PathBuf::from("/etc/ca.crt")));
    assert_eq!(
        ok("postgres://db2?ssl=true").sslmode,
        Some(SslMode::Require)
    );
}

#[test]
fn uri_user_port_dbname_params_percent_encoding_ipv6() {
    let c = ok("postgresql://repmgr@db2:5433/repmgr?sslmode=require");
    assert_eq!(c.host.as_deref(), Some("db2"));
    assert_eq!(c.port, Some(5433));
    assert_eq!(c.user.as_deref(), Some("repmgr"));
    assert_eq!(c.dbname.as_deref(), Some("repmgr"));
    assert_eq!(c.sslmode, Some(SslMode::Require));
    let c = ok("postgres://us%40er:p%3Ass@db%2D3/my%20db?connect_timeout=2&application_name=a%26b");
    assert_eq!(c.user.as_deref(), Some("us@er"));
    assert_eq!(c.password.as_ref().map(Secret::expose), Some("p:ss"));
    assert_eq!(c.host.as_deref(), Some("db-3"));
    assert_eq!(c.port, Some(5432));
    assert_eq!(c.dbname.as_deref(), Some("my db"));
    let c = ok("postgresql://[::1]:5435/x");
    assert_eq!(c.host_port(), ("::1".to_string(), 5435));
    assert_eq!(
        ok("postgresql://[::1]/x").host_port(),
        ("::1".to_string(), 5432)
    );
    // Query parameters win over the authority, as in libpq.
    let c = ok("postgresql://db2:5433/a?port=5434&dbname=b&user=u&host=db9");
    assert_eq!(c.host_port(), ("db9".to_string(), 5434));
    assert_eq!(
        (c.dbname.as_deref(), c.user.as_deref()),
        (Some("b"), Some("u"))
    );
    // No host: libpq's default; a Unix socket directory, percent-encoded.
    assert_eq!(
        ok("postgresql:///repmgr").host_port(),
        ("localhost".to_string(), 5432)
    );
    assert_eq!(
        ok("postgresql://%2Ftmp%2Fpg:5439/x").host_port(),
        ("/tmp/pg".to_string(), 5439)
    );
}

#[test]
fn several_hosts_take_the_first_with_its_port() {
    assert_eq!(
        ok("host=db1,db2 port=5433,5434").host_port(),
        ("db1".to_string(), 5433)
    );
    assert_eq!(
        ok("postgresql://db1:5433,db2:5434/x").host_port(),
        ("db1".to_string(), 5433)
    );
    assert_eq!(
        ok("postgresql://[::1]:6000,db2/x").host_port(),
        ("::1".to_string(), 6000)
    );
}

#[test]
fn garbage_is_an_error_naming_the_problem() {
    // (conninfo, error text)
    let cases = [
        (
            "garbage",
            "conninfo: missing \"=\" after word 1 (not a libpq keyword, not shown)",
        ),
        ("host", "conninfo: missing \"=\" after \"host\""),
        (
            "host='db1",
            "conninfo: unterminated quote in the value of \"host\"",
        ),
        ("host=db1 port=x", "conninfo port \"x\" is not a port number"),
        ("host=db1 port=99999", "conninfo port \"99999\" is not a port number"),
        ("hostaddr=db1", "conninfo hostaddr \"db1\" is not an IP address"),
        (
            "sslmode=strict",
            "conninfo sslmode \"strict\" is not valid; expected one of disable, allow, prefer, require, verify-ca, verify-full",
        ),
        ("postgresql://db2/x?sslmode", "conninfo URI: parameter \"sslmode\" has no \"=\""),
        (
            "postgresql://db2/x?user=a%zz",
            "conninfo URI: bad percent-encoding in the value of parameter user",
        ),
        (
            "postgresql://db2/x?user=a%",
            "conninfo URI: bad percent-encoding in the value of parameter user",
        ),
        ("postgresql://db2/x?ssl=yes", "conninfo sslmode \"yes\" is not valid; expected one of disable, allow, prefer, require, verify-ca, verify-full"),
    ];
    for (s, want) in cases {
        match parse(s) {
            Ok(c) => panic!("{s:?}: read as {c:?}"),
            Err(e) => assert_eq!(e.to_string(), want, "{s:?}"),
        }
    }
    for s in [
        "postgresql://db2:notaport/x",
        "postgresql://[::1/x",
        "postgresql://[::1]x/y",
    ] {
        let e = parse(s).expect_err(s);
        assert!(e.to_string().starts_with("conninfo URI: "), "{s:?}: {e}");
    }
}

#[test]
fn agrees_with_postgres_config_where_it_reads_the_string() {
    for s in [
        "host=db1 port=5433 user=u dbname=d",
        "host='db 1' user='a\\'b'",
        "host=db1,db2 port=1,2 dbname=x",
        "postgresql://u@db2:5433/repmgr?connect_timeout=2",
        "postgresql://%75@[::1]:7/d%62",
        "postgres://db2",
    ] {
        let ours = ok(s);
        let theirs = postgres::Config::from_str(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let host = theirs.get_hosts().first().map(|h| match h {
            postgres::config::Host::Tcp(n) => n.clone(),
            postgres::config::Host::Unix(d) => d.display().to_string(),
        });
        assert_eq!(ours.host, host, "{s:?}");
        assert_eq!(ours.port, theirs.get_ports().first().copied(), "{s:?}");
        assert_eq!(ours.user.as_deref(), theirs.get_user(), "{s:?}");
        assert_eq!(ours.dbname.as_deref(), theirs.get_dbname(), "{s:?}");
    }
}

#[test]
fn debug_never_shows_the_password() {
    let c = ok("host=db1 password=s3cret");
    let d = format!("{c:?}");
    assert!(!d.contains("s3cret") && d.contains("********"), "{d}");
}

#[test]
fn masked_text_shows_no_secret_and_keeps_the_rest() {
    // (conninfo, what a report shows)
    let cases = [
        (
            "host=db1 user=repmgr password=s3cret dbname=repmgr",
            "host=db1 user=repmgr password=******** dbname=repmgr",
        ),
        (
            "host=db1 password = 'se cr\\'et' port=5433",
            "host=db1 password = ******** port=5433",
        ),
        ("password=s3\\ cret host=db1", "password=******** host=db1"),
        // libpq refuses other keywords: a mistyped key may hold a password.
        ("host=db1 passwrd=s3cret", "host=db1 ********"),
        ("host=db1 s3cret=x port=1", "host=db1 ******** port=1"),
        (
            "host=db1 sslpassword=s3cret",
            "host=db1 sslpassword=********",
        ),
        // From the first word that makes no sense, nothing is shown.
        ("host=db1 s3cret port=1", "host=db1 ********"),
        ("host=db1 password='s3cret", "host=db1 ********"),
        (
            "postgresql://repmgr:s3cret@db2:5433/repmgr?sslmode=require",
            "postgresql://repmgr:********@db2:5433/repmgr?sslmode=require",
        ),
        (
            "postgresql://repmgr@db2/repmgr?password=s3cret&application_name=x",
            "postgresql://repmgr@db2/repmgr?password=********&application_name=x",
        ),
        ("postgresql://db2/x?s3cret", "postgresql://db2/x?********"),
        (
            "postgresql://db2/x?colour=s3cret",
            "postgresql://db2/x?********",
        ),
        (
            "postgresql://db2/x?s3cret=1&sslmode=require",
            "postgresql://db2/x?********&sslmode=require",
        ),
        // Unencoded '@', '?' or '/' in a password: masked to the last '@'.
        (
            "postgresql://u:s3@cret@db2/x",
            "postgresql://u:********@db2/x",
        ),
        // '?' starts the query, so what follows the '@' is taken for its.
        (
            "postgresql://u:s3?cret@db2/x",
            "postgresql://u:********@********",
        ),
        (
            "postgresql://u:s3/cret@db2/x",
            "postgresql://u:********@db2/x",
        ),
        (
            "postgresql://db2/x?password=s3cret@y",
            "postgresql://db2/x?password=********",
        ),
        (
            "postgresql://u:s3cr%zzet@db2/x",
            "postgresql://u:********@db2/x",
        ),
        // A ':' and an '@' inside the query: masked from the ':' on.
        (
            "postgresql://db2/x?a=b:c@d&password=s3cret&sslmode=require",
            "postgresql://db2/x?****************@********&password=********&sslmode=require",
        ),
        (
            "postgresql://db2/x?password=s3cret&a:b@c",
            "postgresql://db2/x?password=********&****************@********",
        ),
        (
            "postgresql://u:pa?sslmode=s3cret@db2/x",
            "postgresql://u:********@********",
        ),
    ];
    for (raw, want) in cases {
        let m = MaskedConninfo::new(raw);
        assert_eq!(m.as_str(), want, "{raw:?}");
        for out in [m.to_string(), format!("{m:?}")] {
            assert!(
                !out.contains("s3") && !out.contains("cret"),
                "{raw:?}: {out}"
            );
        }
        if let Err(e) = m.read() {
            let e = e.to_string();
            assert!(!e.contains("s3") && !e.contains("cret"), "{raw:?}: {e}");
        }
    }
}

#[test]
fn errors_about_a_password_name_it_without_its_value() {
    let cases = [
        (
            "postgresql://u:%FFs3cret@db2/x",
            "conninfo URI: bad percent-encoding in the password",
        ),
        (
            "postgresql://db2/x?password=s3cret%zz",
            "conninfo URI: bad percent-encoding in the value of parameter password",
        ),
        (
            "postgresql://db2/x?s3cret%zz=1",
            "conninfo URI: bad percent-encoding in the name of parameter 1",
        ),
        (
            "postgresql://db2/x?sslmode=require&s3cret",
            "conninfo URI: parameter 2 has no \"=\" (not a libpq keyword, not shown)",
        ),
        (
            "postgresql://u:s3@cret@db2/x",
            "conninfo URI: where the user name and password end is ambiguous (more than one \"@\", or an \"@\" after a \"/\" or \"?\"); percent-encode \"@\" as %40, \"/\" as %2F and \"?\" as %3F in them",
        ),
        (
            "postgresql://u:pa/s3cret@db2/x",
            "conninfo URI: where the user name and password end is ambiguous (more than one \"@\", or an \"@\" after a \"/\" or \"?\"); percent-encode \"@\" as %40, \"/\" as %2F and \"?\" as %3F in them",
        ),
        (
            "postgresql://u:pa?s3cret@db2/x",
            "conninfo URI: where the user name and password end is ambiguous (more than one \"@\", or an \"@\" after a \"/\" or \"?\"); percent-encode \"@\" as %40, \"/\" as %2F and \"?\" as %3F in them",
        ),
        (
            "host=db1 password='s3cret",
            "conninfo: unterminated quote in the value of \"password\"",
        ),
        (
            "host=db1 s3cret",
            "conninfo: missing \"=\" after word 2 (not a libpq keyword, not shown)",
        ),
    ];
    for (raw, want) in cases {
        let e = parse(raw).expect_err(raw).to_string();
        assert_eq!(e, want, "{raw:?}");
        assert!(!e.contains("s3cret"), "{raw:?}: {e}");
    }
}
