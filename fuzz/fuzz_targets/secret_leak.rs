//! No password reaches any output. The input (NUL-separated pieces, the
//! first byte choosing the form) builds a password that holds a marker, a
//! conninfo that holds that password where libpq reads a password (or a
//! word libpq would refuse), a server error that quotes it, and command-line
//! arguments that carry it where no option takes it. Everything else is
//! random text with the marker taken out. Then every output that is a pure
//! function runs: poolstatus's text, JSON and Nagios line, the report in
//! pgpwatch's mail body, the decisions' reasons and mails, repmgrwatch's
//! node endpoint and its error, the API's `/status` and `/metrics` and the
//! agent, every `Debug`, the conninfo's error, and the three programs'
//! usage errors. Invariant: no output holds the marker's core.
#![no_main]

use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime};

use libfuzzer_sys::fuzz_target;
use pgpoolwatch::serve::board::{LastCheck, NodeView, RepmgrView, Snapshot};
use pgpoolwatch::config::{Program, Settings};
use pgpoolwatch::cluster::text;
use pgpoolwatch::poolstatus::{LagThresholds, NodeReport, RepmgrMeta, Report, ReportError};
use pgpoolwatch::cluster::pgpool::PgpoolError;
use pgpoolwatch::cluster::repmgr::{node_endpoint, MastersError, NodeAnswer, NodeError};
use pgpoolwatch::cluster::{ProbeError, TextRow};
use pgpoolwatch::secret::Secret;
use pgpoolwatch::watch::pgp::{PgpObservation, PgpRules, PgpState};
use pgpoolwatch::watch::repmgr::{RepmgrObservation, RepmgrRules, RepmgrState};

const MARK: &str = "ZqX9Mk7pwLEAKq9Jv";
/// What no output may hold (the marker's middle: a leak of part of it).
const CORE: &str = "k7pwLEAK";

/// `s` with the marker's core taken out (removing it may join a new one).
fn clean(s: &str) -> String {
    let mut s = s.replace('\0', "");
    while s.contains(CORE) {
        s = s.replace(CORE, "");
    }
    s
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn backslashed(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if c.is_whitespace() || c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Percent-encodes the bytes of `v` that `keep` does not keep.
fn pct(v: &str, keep: impl Fn(u8) -> bool) -> String {
    v.bytes()
        .map(|b| {
            if keep(b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn row(pairs: &[(&str, &str)]) -> TextRow {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check(what: &str, case: &str, out: &str) {
    assert!(
        !out.contains(CORE),
        "{what} shows the password of {case:?}:\n{out}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut pieces = text.split('\0').map(clean);
    let mut next = || pieces.next().unwrap_or_default();
    let (before, after, around, junk, server) = (next(), next(), next(), next(), next());
    let mid = around
        .char_indices()
        .nth(around.chars().count() / 2)
        .map_or(around.len(), |(i, _)| i);
    let (a, b) = around.split_at(mid);
    // The password: random text around the marker.
    let pw = format!("{a}{MARK}{b}");
    let word_pw: String = pw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=' && *c != '\'' && *c != '\\')
        .collect();
    let enc = |v: &str| {
        pct(v, |c| {
            c.is_ascii_alphanumeric() || form & 0x80 != 0 && c != b'@'
        })
    };
    let conninfo = match form % 8 {
        0 => format!("host={} password={} {after}", quote(&before), quote(&pw)),
        1 => format!(
            "host={} password={} {after}",
            quote(&before),
            backslashed(&pw)
        ),
        2 => format!("password = {} {before}{after}", quote(&pw)),
        3 => format!("host={} {word_pw} {after}", quote(&before)),
        4 => format!("host={} {word_pw}={after}", quote(&before)),
        5 => format!(
            "postgresql://{}:{}@{}{after}",
            pct(&junk, |c| c.is_ascii_alphanumeric()),
            enc(&pw),
            pct(&before, |c| c.is_ascii_alphanumeric() || c == b'.')
        ),
        6 => format!(
            "postgresql://{}/db?{}&password={}&{after}",
            pct(&before, |c| c.is_ascii_alphanumeric() || c == b'.'),
            junk.replace('&', ""),
            enc(&pw)
        ),
        _ => format!("postgres://u:{pw}@db2/x?{after}"),
    };
    let secret = Secret::new(pw.clone());
    let case = conninfo.as_str();

    // The conninfo itself: its masked text and its error.
    let masked = text::MaskedConninfo::new(&conninfo);
    check("the masked conninfo", case, masked.as_str());
    check("its Debug", case, &format!("{masked:?}"));
    if let Err(e) = masked.read() {
        check("its error", case, &e.to_string());
    }

    // A server that quotes the password, as the probes keep its message.
    let quoted = ProbeError::failed("db2", 5432, "connect", format!("{server}{pw}{junk}"))
        .redacted(Some(&secret));
    check("a server's error", case, &quoted.to_string());

    // poolstatus's report with repmgr metadata holding the conninfo.
    let Ok(nodes) = text::repmgr_nodes(&[
        row(&[
            ("node_id", "1"),
            ("node_name", "db1"),
            ("type", "primary"),
            ("conninfo", "host=db1"),
        ]),
        row(&[
            ("node_id", "2"),
            ("node_name", "db2"),
            ("type", "standby"),
            ("upstream_node_id", "1"),
            ("conninfo", &conninfo),
        ]),
    ]) else {
        return;
    };
    let node = nodes[1].clone();
    let err = ReportError::from(quoted.clone());
    let report = Report {
        generated_at: SystemTime::UNIX_EPOCH,
        pgpool: "pgp1:5432".into(),
        pool_nodes: Err(err.clone()),
        nodes: vec![NodeReport {
            host: "db2".into(),
            port: 5432,
            name: Some("db2".into()),
            role: None,
            inactive: false,
            state: Err(err.clone()),
            disk: Err(err),
        }],
        repmgr: Ok(RepmgrMeta {
            source: "db1:5432".into(),
            schema: text::RepmgrSchema::V4,
            nodes,
            events: Ok((1, 1)),
            last_event: None,
        }),
        disk_path: "/".into(),
    };
    let text = report.render_text();
    check("the text report", case, &text);
    check("the JSON report", case, &report.render_json());
    check(
        "the Nagios line",
        case,
        &report.render_nagios(LagThresholds::default()).1,
    );
    check("the report's Debug", case, &format!("{report:?}"));

    // pgpwatch: its reason and mails, the report appended.
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
    let obs = PgpObservation::Unhealthy(PgpoolError::Probe(quoted.clone()));
    let state = PgpState {
        checks: 1,
        port_open: true,
        ..PgpState::default()
    };
    let (_, d) = pgpoolwatch::watch::pgp::decide(&state, &obs, &rules);
    check("pgpwatch's reason", case, &d.reason);
    for m in &d.mails {
        let mut m = m.clone();
        if m.with_report {
            m.body = pgpoolwatch::watch::mailside::append_report(&m.body, &text);
        }
        let msg = pgpoolwatch::watch::mail_message(&m);
        check(
            "a pgpwatch mail",
            case,
            &pgpoolwatch::mail::compose_body(&msg, "now"),
        );
    }

    // repmgrwatch: the node's endpoint or its error, the API, the mails.
    let settings = Settings::defaults(Program::Repmgrwatch);
    let answer = match node_endpoint(&node, &settings.repmgr, "nobody") {
        Ok(ep) => {
            check("an endpoint's Debug", case, &format!("{ep:?}"));
            Err(NodeError::Probe(quoted.clone()))
        }
        Err(e) => Err(NodeError::Endpoint(e)),
    };
    let answers = vec![NodeAnswer {
        name: "db2".into(),
        host: None,
        port: None,
        active: true,
        answer,
    }];
    let mut snap = Snapshot::starting("repmgrwatch", Instant::now(), Duration::from_secs(30));
    snap.last = Some(LastCheck {
        n: 1,
        finished: Instant::now(),
        finished_unix: 1.0,
        seconds: 0.1,
    });
    snap.node = NodeView::Repmgr(RepmgrView::new("db2", &Ok(answers), Vec::new()));
    let robs = RepmgrObservation {
        masters: Err(MastersError::Read(quoted)),
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
    let open = RepmgrState {
        port_open: true,
        ..RepmgrState::default()
    };
    let (_, d) = pgpoolwatch::watch::repmgr::decide(&open, &robs, &rrules);
    snap.reason = d.reason.clone();
    for m in &d.mails {
        let msg = pgpoolwatch::watch::mail_message(m);
        check(
            "a repmgrwatch mail",
            case,
            &pgpoolwatch::mail::compose_body(&msg, "now"),
        );
    }
    let now = Instant::now();
    for path in ["/status", "/", "/health", "/replica"] {
        let http = pgpoolwatch::serve::routes::answer(&snap, path, now).to_http(true);
        check(path, case, &String::from_utf8_lossy(&http));
    }
    check("/metrics", case, &pgpoolwatch::serve::metrics::render(&snap));
    check(
        "the agent",
        case,
        &pgpoolwatch::serve::agent::agent_reply(&snap, "\n"),
    );

    // Arguments that carry the password where no option takes it, and
    // `--password` then a value that starts with '@' (which names a file).
    // A lone argument `@...` names a file as the operator wrote it.
    let mut strays = vec![
        vec![format!("--password {pw}")],
        // An option no program knows (a known option's bad value is shown:
        // it is no password's place, and the operator must see it).
        vec![format!("--x-{junk}={pw}")],
        vec![format!("--passwd={pw}")],
        vec!["--password".to_string(), format!("@{pw}")],
    ];
    if !word_pw.starts_with('@') {
        strays.push(vec![word_pw.clone()]);
    }
    for stray in strays {
        let shown = stray.join(" ");
        let mut args = vec![
            "--user=u".to_string(),
            "--server=s".to_string(),
            "--sender=a@b.c".to_string(),
            "--receivers=a@b.c".to_string(),
        ];
        args.extend(stray.iter().cloned());
        let os: Vec<OsString> = args.iter().map(OsString::from).collect();
        match pgpoolwatch::flags::argv::expand(os) {
            Err(e) => check("an @file error", &shown, &e.to_string()),
            Ok(args) => {
                if let Err(e) = pgpoolwatch::mail::options::options_from_args(&args) {
                    check("sendmail's usage error", &shown, &e.to_string());
                }
            }
        }
        let os: Vec<OsString> = stray.iter().map(OsString::from).collect();
        for e in [
            pgpoolwatch::cli::parse_pgpwatch(os.clone()).err(),
            pgpoolwatch::cli::parse_repmgrwatch(os.clone()).err(),
            pgpoolwatch::cli::parse_poolstatus(os).err(),
        ]
        .into_iter()
        .flatten()
        {
            check("a watcher's usage error", &shown, &e.to_string());
        }
    }
});
