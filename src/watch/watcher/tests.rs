use super::*;

#[test]
fn start_lines_name_version_config_what_is_watched_and_the_gate() {
    let mut s = Settings::defaults(Program::Pgpwatch);
    s.source = "/etc/pgpoolwatch/config.ini".into();
    let line = start_line(&PgpoolWatcher::new(s, vec![]));
    let want = format!(
        "pgpwatch {} starting: config /etc/pgpoolwatch/config.ini; watching pgpool ",
        crate::VERSION
    );
    assert!(line.starts_with(&want), "{line}");
    for part in [
        " every ",
        "rise 1, fall 1",
        "; gate 0.0.0.0:5559 starts closed (the first check decides); API off",
    ] {
        assert!(line.contains(part), "{part:?} in {line}");
    }
    let mut s = Settings::defaults(Program::Repmgrwatch);
    s.source = "/root/pgpoolwatch/config.ini".into();
    let line = start_line(&RepmgrWatcher::new(s));
    assert!(
        line.starts_with(&format!(
            "repmgrwatch {} starting: config /root/pgpoolwatch/config.ini; watching repmgr's metadata at ",
            crate::VERSION
        )),
        "{line}"
    );
    for part in [
        " as node ",
        " and the pgpool gates ",
        "force_open no",
        "; gate 0.0.0.0:5559 starts closed",
    ] {
        assert!(line.contains(part), "{part:?} in {line}");
    }
}
