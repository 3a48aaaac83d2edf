//! No password reaches any output: conninfo strings of every form holding
//! a marker password (key=value and URI, quoted, escaped, percent-encoded,
//! malformed) go through every output the programs have that is a pure
//! function — poolstatus's text, JSON and Nagios line, the watchers' mail
//! bodies with the report appended, the API's `/status`, `/metrics` and
//! agent replies, the decisions' reasons (logged), errors and `Debug` —
//! and so do command lines and args.txt lines that hold an SMTP password
//! where no option takes it. `fuzz/fuzz_targets/secret_leak.rs` does the
//! same with random input.

use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime};

use crate::cluster::repmgr::{node_endpoint, MastersError, NodeAnswer, NodeError};
use crate::cluster::text::{self, Backend};
use crate::cluster::{pgpool::PgpoolError, ProbeError, TextRow};
use crate::config::{Program, Settings};
use crate::poolstatus::{LagThresholds, NodeReport, RepmgrMeta, Report, ReportError};
use crate::secret::Secret;
use crate::serve::board::{LastCheck, NodeView, RepmgrView, Snapshot};
use crate::watch::pgp::{PgpObservation, PgpRules, PgpState};
use crate::watch::repmgr::{RepmgrObservation, RepmgrRules, RepmgrState};

/// The password of every case.
const MARK: &str = "Mk7pwLEAKq9";
/// What no output may hold: a piece of the marker that survives
/// percent-encoding of its first letter.
const CORE: &str = "k7pwLEAK";

/// Conninfo strings that hold [`MARK`] as a password, or where a password
/// may stand (a word libpq would refuse).
pub(super) fn conninfos() -> Vec<String> {
    let m = MARK;
    vec![
        format!("host=db2 port=5433 user=repmgr password={m} dbname=repmgr"),
        format!("host=db2 user=repmgr password='{m} a\\'b' connect_timeout=2"),
        format!("host=db2 password={m}\\ x dbname=repmgr"),
        format!("host=db2 password = '{m}"),
        format!("host=db2 {m}"),
        format!("host=db2 pasword={m}"),
        format!("host=db2 sslpassword={m}"),
        format!("host=db2 port=x password={m}"),
        format!("password={m} host=db2 sslmode=bogus"),
        format!("postgresql://repmgr:{m}@db2:5433/repmgr"),
        format!("postgresql://repmgr:%4D{}@db2/repmgr", &m[1..]),
        format!("postgresql://repmgr:{m}%FF@db2/repmgr"),
        format!("postgresql://repmgr:{m}@x@db2/repmgr"),
        format!("postgresql://repmgr:{m}?x@db2/repmgr"),
        format!("postgresql://repmgr:pa/{m}@db2/repmgr"),
        format!("postgresql://db2/repmgr?password={m}"),
        format!("postgresql://db2/repmgr?password={m}%zz"),
        format!("postgresql://db2/repmgr?sslmode=require&{m}"),
        format!("postgresql://db2/repmgr?{m}%zz=1"),
        format!("postgresql://db2:5433/repmgr?password={m}&port=x"),
        format!("postgres://repmgr:{m}@db2:notaport/repmgr"),
        format!("postgres://repmgr:{m}@[::1/repmgr"),
    ]
}

fn row(pairs: &[(&str, &str)]) -> TextRow {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn assert_clean(what: &str, case: &str, out: &str) {
    assert!(
        !out.contains(CORE),
        "{what} shows the password of {case:?}:\n{out}"
    );
}

/// A report whose repmgr metadata holds `conninfo` for db2, and whose db2
/// failed with `node_error`.
fn report_with(conninfo: &str, node_error: ReportError) -> Report {
    let rows = vec![
        row(&[
            ("node_id", "1"),
            ("node_name", "db1"),
            ("type", "primary"),
            ("conninfo", "host=db1 user=repmgr dbname=repmgr"),
            ("active", "t"),
        ]),
        row(&[
            ("node_id", "2"),
            ("node_name", "db2"),
            ("type", "standby"),
            ("upstream_node_id", "1"),
            ("conninfo", conninfo),
            ("active", "t"),
        ]),
    ];
    let nodes = text::repmgr_nodes(&rows).expect("rows");
    let backend = |id: &str, host: &str, role: &str| {
        row(&[
            ("node_id", id),
            ("hostname", host),
            ("port", "5432"),
            ("status", "up"),
            ("role", role),
        ])
    };
    let backends: Vec<Backend> = text::pool_nodes(&[
        backend("0", "db1", "primary"),
        backend("1", "db2", "standby"),
    ])
    .expect("pool_nodes");
    Report {
        generated_at: SystemTime::UNIX_EPOCH,
        pgpool: "pgp1:5432".into(),
        pool_nodes: Ok(backends),
        nodes: vec![NodeReport {
            host: "db2".into(),
            port: 5432,
            name: Some("db2".into()),
            role: None,
            inactive: false,
            state: Err(node_error.clone()),
            disk: Err(node_error),
        }],
        repmgr: Ok(RepmgrMeta {
            source: "db1:5432".into(),
            schema: text::RepmgrSchema::V4,
            nodes,
            events: Ok((3, 1)),
            last_event: None,
        }),
        disk_path: "/".into(),
    }
}

/// A server's error that quotes the password, as the probes keep it.
fn server_error() -> ProbeError {
    ProbeError::failed(
        "db2",
        5432,
        "connect",
        format!("FATAL: password \"{MARK}\" does not match for user \"repmgr\""),
    )
    .redacted(Some(&Secret::new(MARK)))
}

#[test]
fn no_conninfo_password_reaches_a_report_a_mail_or_the_api() {
    let settings = Settings::defaults(Program::Repmgrwatch);
    for case in conninfos() {
        let report = report_with(&case, ReportError::from(server_error()));
        let text = report.render_text();
        assert!(text.contains("db2"), "{text}");
        assert_clean("the text report", &case, &text);
        assert_clean("the JSON report", &case, &report.render_json());
        let (_, line) = report.render_nagios(LagThresholds::default());
        assert_clean("the Nagios line", &case, &line);
        assert_clean("the report's Debug", &case, &format!("{report:?}"));
        let (health, reasons) = report.assess();
        assert_clean(
            "the report's reasons",
            &case,
            &format!("{health:?} {reasons:?}"),
        );

        // pgpwatch's mails, with the report appended as the act side does.
        let rules = PgpRules {
            rise: 1,
            fall: 1,
            success_period: 1,
            mail_on_success: true,
            sendmail: true,
            hostname: "pgp1".into(),
            open_port: 5559,
            dry_run: false,
        };
        let failed = PgpObservation::Unhealthy(PgpoolError::Probe(server_error()));
        let open = PgpState {
            checks: 3,
            port_open: true,
            ..PgpState::default()
        };
        for (state, obs) in [
            (PgpState::default(), PgpObservation::Healthy),
            (open, failed),
        ] {
            let (_, d) = crate::watch::pgp::decide(&state, &obs, &rules);
            assert_clean("pgpwatch's reason", &case, &d.reason);
            assert!(!d.mails.is_empty());
            for m in &d.mails {
                let mut m = m.clone();
                if m.with_report {
                    m.body = crate::watch::mailside::append_report(&m.body, &text);
                }
                let msg = crate::watch::mail_message(&m);
                let body = crate::mail::compose_body(&msg, "2026-12-01 00:00:00.000000");
                assert_clean("a pgpwatch mail", &case, &body);
            }
        }

        // repmgrwatch: the node's endpoint, its answer, the API and mails.
        let node = match &report.repmgr {
            Ok(m) => m.nodes[1].clone(),
            Err(e) => panic!("{e}"),
        };
        assert_clean("a repmgr node's Debug", &case, &format!("{node:?}"));
        let answer = match node_endpoint(&node, &settings.repmgr, "nobody") {
            Ok(ep) => {
                assert_clean("an endpoint's Debug", &case, &format!("{ep:?}"));
                Err(NodeError::Probe(server_error()))
            }
            Err(e) => {
                let text = e.to_string();
                assert!(text.starts_with("node db2's conninfo"), "{text}");
                Err(NodeError::Endpoint(e))
            }
        };
        let answers = vec![NodeAnswer {
            name: "db2".into(),
            host: None,
            port: None,
            active: true,
            answer,
        }];
        let view = RepmgrView::new("db2", &Ok(answers), vec![("pgp1".into(), true)]);
        let mut snap = Snapshot::starting("repmgrwatch", Instant::now(), Duration::from_secs(30));
        snap.last = Some(LastCheck {
            n: 1,
            finished: Instant::now(),
            finished_unix: 1.0,
            seconds: 0.1,
        });
        snap.node = NodeView::Repmgr(view);
        let masters = Err(MastersError::Read(server_error()));
        let obs = RepmgrObservation {
            masters,
            pgpools_up: (false, false),
            pgpools_unknown: (None, None),
            startup_grace_left: Duration::ZERO,
            stale_primaries: Vec::new(),
        };
        let rrules = RepmgrRules {
            node_name: "db2".into(),
            force_open: false,
            single_pgpool: false,
            rise: 1,
            fall: 1,
            sendmail: true,
            hostname: "db2".into(),
            open_port: 5559,
            dry_run: false,
        };
        let was_open = RepmgrState {
            port_open: true,
            ..RepmgrState::default()
        };
        let (_, d) = crate::watch::repmgr::decide(&was_open, &obs, &rrules);
        snap.reason = d.reason.clone();
        for m in &d.mails {
            let body = crate::mail::compose_body(&crate::watch::mail_message(m), "now");
            assert_clean("a repmgrwatch mail", &case, &body);
        }
        let now = Instant::now();
        for path in ["/status", "/", "/health", "/replica", "/primary"] {
            let http = crate::serve::routes::answer(&snap, path, now).to_http(true);
            assert_clean(path, &case, &String::from_utf8_lossy(&http));
        }
        assert_clean("/metrics", &case, &crate::serve::metrics::render(&snap));
        assert_clean(
            "the agent",
            &case,
            &crate::serve::agent::agent_reply(&snap, "\n"),
        );
        assert_clean("the snapshot's Debug", &case, &format!("{snap:?}"));
    }
}

fn os(args: &[String]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

#[test]
fn no_smtp_password_reaches_an_argument_error() {
    let m = MARK;
    let base = [
        "--user=u",
        "--server=127.0.0.1",
        "--sender=s@x.org",
        "--subject=S",
        "--receivers=a@x.org",
    ];
    let strays = [
        format!("--password {m}"),
        format!("--passwd={m}"),
        format!("--pass word={m}"),
        format!("-p={m}"),
        m.to_string(),
        format!("--password={m} --port=25"),
        format!("--port {m}"),
    ];
    for stray in &strays {
        let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        args.push(stray.clone());
        match crate::mail::options::options_from_args(&args) {
            Ok(o) => assert_clean("sendmail's options", stray, &format!("{o:?}")),
            Err(e) => assert_clean("sendmail's usage error", stray, &e.to_string()),
        }
        let one = vec![stray.clone()];
        for e in [
            crate::cli::parse_pgpwatch(os(&one)).err(),
            crate::cli::parse_repmgrwatch(os(&one)).err(),
            crate::cli::parse_poolstatus(os(&one)).err(),
        ]
        .into_iter()
        .flatten()
        {
            assert_clean("a watcher's usage error", stray, &e.to_string());
        }
    }
    // An argument that is not UTF-8 is named, not shown.
    {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec([b"--password=", m.as_bytes(), b"\xff"].concat());
        let e = crate::flags::argv::expand([bad.clone()]).expect_err("not UTF-8");
        assert_eq!(
            e.to_string(),
            "argument --password (its value is not shown): not valid UTF-8"
        );
        let e = crate::cli::parse_pgpwatch(vec![bad]).expect_err("not UTF-8");
        assert_clean("a watcher's UTF-8 error", m, &e.to_string());
    }
    // `--password` then a value that starts with '@' (argparse reads it as
    // a file name): the error does not show it.
    {
        let args = [
            OsString::from("--password"),
            OsString::from(format!("@{m}")),
        ];
        let e = crate::flags::argv::expand(args).expect_err("no such file");
        assert!(
            e.to_string().starts_with(
                "the argument after --password starts with '@', so it names an argument file, which cannot be read: "
            ),
            "{e}"
        );
        assert_clean("an @file error", m, &e.to_string());
    }
    // The same lines in args.txt, as the watchers read it for every mail.
    let dir = std::env::temp_dir().join(format!("pgpw-leaks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for (i, stray) in strays.iter().enumerate() {
        let file = dir.join(format!("args{i}.txt"));
        let mut text = base.join("\n");
        text.push('\n');
        text.push_str(stray);
        text.push('\n');
        std::fs::write(&file, text).expect("write");
        if let Err(e) = crate::mail::read_args_file(&file) {
            assert_clean("args.txt's error", stray, &e.to_string());
            assert_clean("args.txt's error (Debug)", stray, &format!("{e:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_error_never_quotes_the_password_sent() {
    let e = server_error();
    assert!(e.to_string().contains("does not match"), "{e}");
    assert_clean("a probe error", MARK, &e.to_string());
    let smtp = crate::mail::MailError::Auth {
        server: "smtp".into(),
        port: 587,
        answer: format!(
            "535 5.7.8 {} {} {MARK}",
            crate::secret::base64(format!("\0u\0{MARK}").as_bytes()),
            crate::secret::base64(MARK.as_bytes())
        ),
    }
    .redacted("u", &Secret::new(MARK));
    let text = smtp.to_string();
    assert!(
        text.starts_with("smtp smtp:587: authentication failed: 535"),
        "{text}"
    );
    assert!(
        !text.contains(MARK)
            && !text.contains(&crate::secret::base64(MARK.as_bytes()))
            && !text.contains(&crate::secret::base64(format!("\0u\0{MARK}").as_bytes())),
        "{text}"
    );
}
