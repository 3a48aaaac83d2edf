//! Every output the programs make that is a pure function, rendered from one
//! input, so that a test can say "no password reaches any of them" once:
//! poolstatus's text, JSON and Nagios line and its judgement, the watchers'
//! reasons and mail bodies (the report appended as the act side does), the
//! API's paths, `/metrics` and the agent, every `Debug`, the conninfo's and
//! the repmgr node's errors, and the programs' usage errors.
//!
//! Only for tests: `secret`'s leak test calls it with fixed cases and
//! `fuzz/fuzz_targets/secret_leak.rs` with random ones. It sits at the top
//! of the layer map because it calls every layer.

use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime};

use crate::cluster::repmgr::{node_endpoint, MastersError, NodeAnswer, NodeError};
use crate::cluster::text::{self, Backend};
use crate::cluster::{pgpool::PgpoolError, ProbeError, TextRow};
use crate::config::{Program, Settings};
use crate::conninfo::MaskedConninfo;
use crate::poolstatus::{LagThresholds, NodeReport, RepmgrMeta, Report, ReportError};
use crate::serve::board::{LastCheck, NodeView, RepmgrView, Snapshot};
use crate::watch::pgp::{PgpObservation, PgpRules, PgpState};
use crate::watch::repmgr::{RepmgrObservation, RepmgrRules, RepmgrState};

/// One rendered output: what it is (for the failure message) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Which output this is, e.g. `the JSON report` or `/metrics`.
    pub what: String,
    /// The text as the program would print, log, mail or serve it.
    pub text: String,
}

fn out(list: &mut Vec<Output>, what: impl Into<String>, text: impl Into<String>) {
    list.push(Output {
        what: what.into(),
        text: text.into(),
    });
}

/// The arguments of a sendmail call that is complete but for a stray.
pub const SENDMAIL_BASE: [&str; 5] = [
    "--user=u",
    "--server=127.0.0.1",
    "--sender=s@x.org",
    "--subject=S",
    "--receivers=a@x.org",
];

/// Every output of a cluster whose repmgr metadata holds `conninfo` for
/// node db2, and whose reads of db2 (and of pgpool, and of the masters)
/// failed with `server_error` (a server's message, redacted as the
/// sessions keep it).
pub fn render_conninfo(conninfo: &str, server_error: &ProbeError) -> Vec<Output> {
    let mut list = Vec::new();
    let masked = MaskedConninfo::new(conninfo);
    out(&mut list, "the masked conninfo", masked.as_str());
    out(
        &mut list,
        "the masked conninfo's Debug",
        format!("{masked:?}"),
    );
    if let Err(e) = masked.read() {
        out(&mut list, "the conninfo's error", e.to_string());
    }
    out(&mut list, "a server's error", server_error.to_string());

    let nodes = match text::repmgr_nodes(&repmgr_rows(conninfo)) {
        Ok(nodes) => nodes,
        Err(e) => {
            out(&mut list, "the repmgr nodes' error", e.to_string());
            return list;
        }
    };
    let node_error = ReportError::from(server_error.clone());
    let backend = |id: &str, host: &str, role: &str| {
        row(&[
            ("node_id", id),
            ("hostname", host),
            ("port", "5432"),
            ("status", "up"),
            ("role", role),
        ])
    };
    let backends: Result<Vec<Backend>, ReportError> = text::pool_nodes(&[
        backend("0", "db1", "primary"),
        backend("1", "db2", "standby"),
    ])
    .map_err(|_| node_error.clone());
    let mut report = Report {
        generated_at: SystemTime::UNIX_EPOCH,
        pgpool: "pgp1:5432".into(),
        pool_nodes: Err(node_error.clone()),
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
            nodes: nodes.clone(),
            events: Ok((3, 1)),
            last_event: None,
        }),
        disk_path: "/".into(),
    };
    // The report with pool_nodes failed, then read; the mails carry the latter.
    let mut text = String::new();
    for (case, pool_nodes) in [(" (pool_nodes failed)", None), ("", Some(backends))] {
        if let Some(backends) = pool_nodes {
            report.pool_nodes = backends;
        }
        text = report.render_text();
        out(&mut list, format!("the text report{case}"), text.clone());
        out(
            &mut list,
            format!("the JSON report{case}"),
            report.render_json(),
        );
        let (_, line) = report.render_nagios(LagThresholds::default());
        out(&mut list, format!("the Nagios line{case}"), line);
        out(
            &mut list,
            format!("the report's Debug{case}"),
            format!("{report:?}"),
        );
        let (health, reasons) = report.assess();
        out(
            &mut list,
            format!("the report's reasons{case}"),
            format!("{health:?} {reasons:?}"),
        );
    }

    pgpwatch(&mut list, &text, server_error);
    let Some(node) = nodes.get(1) else {
        return list;
    };
    repmgrwatch(&mut list, node, server_error);
    list
}

fn repmgr_rows(conninfo: &str) -> Vec<TextRow> {
    vec![
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
    ]
}

use crate::cluster::text::row_of as row;

/// pgpwatch's reasons and mails, starting healthy and failing on an open
/// port, with `report` appended as the act side does.
fn pgpwatch(list: &mut Vec<Output>, report: &str, server_error: &ProbeError) {
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
    let failed = PgpObservation::Unhealthy(PgpoolError::Probe(server_error.clone()));
    let open = PgpState {
        checks: 3,
        port_open: true,
        ..PgpState::default()
    };
    for (case, state, obs) in [
        (
            "starting healthy",
            PgpState::default(),
            PgpObservation::Healthy,
        ),
        ("failing", open, failed),
    ] {
        let (_, d) = crate::watch::pgp::decide(&state, &obs, &rules);
        out(list, format!("pgpwatch's reason {case}"), d.reason);
        for m in &d.mails {
            let mut m = m.clone();
            if m.with_report {
                m.body = crate::watch::mailside::append_report(&m.body, report);
            }
            let msg = crate::watch::mail_message(&m);
            let body = crate::mail::compose_body(&msg, "2026-12-01 00:00:00.000000");
            out(list, format!("a pgpwatch mail {case}"), body);
        }
    }
}

/// repmgrwatch on db2 (`node`): the node's endpoint or its error, the
/// mails when the masters cannot be read, and the API's answers.
fn repmgrwatch(list: &mut Vec<Output>, node: &text::RepmgrNode, server_error: &ProbeError) {
    let settings = Settings::defaults(Program::Repmgrwatch);
    out(list, "a repmgr node's Debug", format!("{node:?}"));
    let answer = match node_endpoint(node, &settings.repmgr, "nobody") {
        Ok(ep) => {
            out(list, "an endpoint's Debug", format!("{ep:?}"));
            Err(NodeError::Probe(server_error.clone()))
        }
        Err(e) => {
            out(list, "an endpoint's error", e.to_string());
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
    let obs = RepmgrObservation {
        masters: Err(MastersError::Read(server_error.clone())),
        pgpools_up: (false, false),
        pgpools_unknown: (None, None),
        startup_grace_left: Duration::ZERO,
        stale_primaries: Vec::new(),
    };
    let rules = RepmgrRules {
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
    let (_, d) = crate::watch::repmgr::decide(&was_open, &obs, &rules);
    out(list, "repmgrwatch's reason", d.reason.clone());
    snap.reason = d.reason;
    for m in &d.mails {
        let body = crate::mail::compose_body(&crate::watch::mail_message(m), "now");
        out(list, "a repmgrwatch mail", body);
    }
    let now = Instant::now();
    for path in ["/status", "/", "/health", "/replica", "/primary"] {
        let http = crate::serve::routes::answer(&snap, path, now).to_http(true);
        out(list, path, String::from_utf8_lossy(&http));
    }
    out(list, "/metrics", crate::serve::metrics::render(&snap));
    out(
        list,
        "the agent",
        crate::serve::agent::agent_reply(&snap, "\n"),
    );
    out(list, "the snapshot's Debug", format!("{snap:?}"));
}

/// Every output of command lines that carry `stray` (arguments where no
/// option takes them, or a bad option): sendmail's (after
/// [`SENDMAIL_BASE`], `@file`s expanded) options or usage error, and each
/// watcher's and poolstatus's usage error for `stray` alone.
pub fn render_args(stray: &[String]) -> Vec<Output> {
    let mut list = Vec::new();
    let mut args: Vec<OsString> = SENDMAIL_BASE.iter().map(OsString::from).collect();
    args.extend(stray.iter().map(OsString::from));
    match crate::flags::argv::expand(args) {
        Err(e) => out(&mut list, "an @file error", e.to_string()),
        Ok(args) => match crate::mail::options::options_from_args(&args) {
            Ok(o) => out(&mut list, "sendmail's options", format!("{o:?}")),
            Err(e) => out(&mut list, "sendmail's usage error", e.to_string()),
        },
    }
    let os = || stray.iter().map(OsString::from).collect::<Vec<_>>();
    for (what, e) in [
        (
            "pgpwatch's usage error",
            crate::cli::parse_pgpwatch(os()).err(),
        ),
        (
            "repmgrwatch's usage error",
            crate::cli::parse_repmgrwatch(os()).err(),
        ),
        (
            "poolstatus's usage error",
            crate::cli::parse_poolstatus(os()).err(),
        ),
    ] {
        if let Some(e) = e {
            out(&mut list, what, e.to_string());
        }
    }
    list
}

/// [`render_conninfo`], then [`render_args`] for each stray command line.
pub fn render_all(
    conninfo: &str,
    server_error: &ProbeError,
    strays: &[Vec<String>],
) -> Vec<Output> {
    let mut list = render_conninfo(conninfo, server_error);
    for stray in strays {
        list.extend(render_args(stray));
    }
    list
}
