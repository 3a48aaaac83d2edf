//! Unit tests of the parent module: the rule table.

use super::*;
use crate::cluster::ProbeError;

pub(super) fn rules() -> PgpRules {
    PgpRules {
        rise: 1,
        fall: 1,
        success_period: 3,
        mail_on_success: true,
        sendmail: true,
        hostname: "pgp1".into(),
        open_port: 5559,
        dry_run: false,
    }
}

pub(super) fn ok() -> PgpObservation {
    PgpObservation::Healthy
}

pub(super) fn bad() -> PgpObservation {
    PgpObservation::Unhealthy(PgpoolError::Probe(ProbeError::failed(
        "127.0.0.1",
        9999,
        "connect",
        "refused",
    )))
}

pub(super) const UP: &str = "PGPWATCH - Status Change - PGP Up";
pub(super) const DOWN: &str = "PGPWATCH - Status Change - PGP Down";
pub(super) const ERR: &str = "PGPWATCH - Error";
pub(super) const OK: &str = "PGPWATCH - Status OK";

/// What a check saw, in the table.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    Healthy,
    Failed,
    /// pgpool's primary is `waiting`.
    Waiting,
    /// pgpool's role and pg_role disagree about the primary.
    SplitBrain,
}
const H: Seen = Seen::Healthy;
const F: Seen = Seen::Failed;
const W: Seen = Seen::Waiting;
const S: Seen = Seen::SplitBrain;

fn seen(s: Seen) -> PgpObservation {
    match s {
        Seen::Healthy => ok(),
        Seen::Failed => bad(),
        Seen::Waiting => PgpObservation::PrimaryWaiting {
            primary: "127.2.20.1:5432".into(),
        },
        Seen::SplitBrain => PgpObservation::SplitBrain(split()),
    }
}

fn split() -> PgpoolSplitBrain {
    PgpoolSplitBrain {
        at: "127.0.0.1:5432".into(),
        primary: "127.2.20.2:5432".into(),
        others: vec!["127.2.20.1:5432".into()],
    }
}

/// A step: what the check saw, expected port after it, expected mail subjects.
type Step = (Seen, bool, &'static [&'static str]);

struct Row {
    name: &'static str,
    rules: PgpRules,
    steps: Vec<Step>,
}

fn table() -> Vec<Row> {
    let r = rules();
    vec![
        Row {
            name: "first check healthy: open, no status-change mail, Status OK",
            rules: r.clone(),
            steps: vec![(H, true, &[OK])],
        },
        Row {
            name: "first check failed: stays closed, one Error mail",
            rules: r.clone(),
            steps: vec![(F, false, &[ERR])],
        },
        Row {
            name: "open -> closed: PGP Down and Error",
            rules: r.clone(),
            steps: vec![(H, true, &[OK]), (F, false, &[DOWN, ERR])],
        },
        Row {
            name: "closed -> open: PGP Up",
            rules: r.clone(),
            steps: vec![(F, false, &[ERR]), (H, true, &[UP])],
        },
        Row {
            name: "Error once per episode, reminder every success_period failed checks",
            rules: PgpRules {
                mail_on_success: false,
                ..r.clone()
            },
            steps: vec![
                (H, true, &[]),
                (F, false, &[DOWN, ERR]),
                (F, false, &[]),
                (F, false, &[]),
                (F, false, &[ERR]),
                (F, false, &[]),
                (H, true, &[UP]),
                (F, false, &[DOWN, ERR]),
            ],
        },
        Row {
            name: "Status OK on the first and every success_period-th check",
            rules: r.clone(),
            steps: vec![
                (H, true, &[OK]),
                (H, true, &[]),
                (H, true, &[]),
                (H, true, &[OK]),
                (H, true, &[]),
                (H, true, &[]),
                (H, true, &[OK]),
            ],
        },
        Row {
            name: "Status OK counts checks, not successes (failed slot skipped)",
            rules: r.clone(),
            steps: vec![
                (H, true, &[OK]),
                (H, true, &[]),
                (H, true, &[]),
                (F, false, &[DOWN, ERR]),
                (H, true, &[UP]),
                (H, true, &[]),
                (H, true, &[OK]),
            ],
        },
        Row {
            name: "mail_on_success off: no Status OK",
            rules: PgpRules {
                mail_on_success: false,
                ..r.clone()
            },
            steps: vec![(H, true, &[]), (H, true, &[]), (H, true, &[])],
        },
        Row {
            name: "sendmail off: port moves, no mail at all",
            rules: PgpRules {
                sendmail: false,
                ..r.clone()
            },
            steps: vec![(H, true, &[]), (F, false, &[]), (H, true, &[])],
        },
        Row {
            name: "rise 2: opens after two healthy checks (not the first check rule)",
            rules: PgpRules {
                rise: 2,
                mail_on_success: false,
                ..r.clone()
            },
            steps: vec![(F, false, &[ERR]), (H, false, &[]), (H, true, &[UP])],
        },
        Row {
            name: "rise 2: first healthy check still opens",
            rules: PgpRules {
                rise: 2,
                mail_on_success: false,
                ..r.clone()
            },
            steps: vec![(H, true, &[])],
        },
        Row {
            name: "fall 3: closes after three failed checks, Error at the first",
            rules: PgpRules {
                fall: 3,
                mail_on_success: false,
                success_period: 10,
                ..r.clone()
            },
            steps: vec![
                (H, true, &[]),
                (F, true, &[ERR]),
                (H, true, &[]),
                (F, true, &[ERR]),
                (F, true, &[]),
                (F, false, &[DOWN]),
            ],
        },
        Row {
            name: "primary waiting (pgpool 3.6, not checked since pgpool started) serves: \
                   the port opens and stays open as when healthy (pgpool routes sessions to it)",
            rules: PgpRules {
                mail_on_success: false,
                ..r.clone()
            },
            steps: vec![
                (W, true, &[]),
                (H, true, &[]),
                (W, true, &[]),
                (F, false, &[DOWN, ERR]),
                (W, true, &[UP]),
            ],
        },
        Row {
            name: "split brain through pgpool (role vs pg_role) closes the port; Error mails \
                   once when it starts, no reminders",
            rules: PgpRules {
                mail_on_success: false,
                success_period: 2,
                ..r.clone()
            },
            steps: vec![
                (H, true, &[]),
                (S, false, &[DOWN, ERR]),
                (S, false, &[]),
                (S, false, &[]),
                (S, false, &[]),
                (H, true, &[UP]),
                (S, false, &[DOWN, ERR]),
            ],
        },
        Row {
            name: "a failed check inside a split brain (pgpool closing a session) keeps the \
                   alarm: no second Error mail, no second WARN",
            rules: PgpRules {
                mail_on_success: false,
                success_period: 100,
                ..r.clone()
            },
            steps: vec![
                (H, true, &[]),
                (S, false, &[DOWN, ERR]),
                (F, false, &[]),
                (S, false, &[]),
                (F, false, &[]),
                (H, true, &[UP]),
                (S, false, &[DOWN, ERR]),
            ],
        },
        Row {
            name: "a failure that turns into a split brain mails the alarm once",
            rules: PgpRules {
                mail_on_success: false,
                success_period: 100,
                ..r.clone()
            },
            steps: vec![
                (F, false, &[ERR]),
                (F, false, &[]),
                (S, false, &[ERR]),
                (S, false, &[]),
            ],
        },
        Row {
            name: "success_period 0 acts as 1",
            rules: PgpRules {
                success_period: 0,
                ..r.clone()
            },
            steps: vec![
                (H, true, &[OK]),
                (H, true, &[OK]),
                (F, false, &[DOWN, ERR]),
                (F, false, &[ERR]),
            ],
        },
    ]
}

#[test]
fn rules_table() {
    for row in table() {
        let mut state = PgpState::default();
        for (i, (what, open, subjects)) in row.steps.iter().enumerate() {
            let obs = seen(*what);
            let (next, d) = decide(&state, &obs, &row.rules);
            assert_eq!(
                d.warn,
                *what == S && !state.split_brain,
                "{} step {}: WARN when a split brain starts ({})",
                row.name,
                i + 1,
                d.reason
            );
            let got: Vec<&str> = d.mails.iter().map(|m| m.subject.as_str()).collect();
            assert_eq!(
                d.port_open,
                *open,
                "{} step {}: port ({})",
                row.name,
                i + 1,
                d.reason
            );
            assert_eq!(
                next.port_open,
                d.port_open,
                "{} step {}: state port",
                row.name,
                i + 1
            );
            assert_eq!(
                &got[..],
                *subjects,
                "{} step {}: mails ({})",
                row.name,
                i + 1,
                d.reason
            );
            assert!(
                d.reason.ends_with('.') && !d.reason.contains('\n'),
                "{} step {}: reason must be one sentence: {:?}",
                row.name,
                i + 1,
                d.reason
            );
            state = next;
        }
    }
}

#[test]
fn bodies_match_the_original_exactly() {
    let r = rules();
    let (s, d) = decide(&PgpState::default(), &ok(), &r);
    assert_eq!(
        d.mails[0].body, "This is the pgp1. The pgpwatch script returned fine.<br><br>",
        "Status OK body (the report is appended after the gate moved)"
    );
    assert!(d.mails[0].with_report, "Status OK carries the report");
    let (s, d) = decide(&s, &bad(), &r);
    assert_eq!(
        d.mails[0].body,
        "This is the pgp1.<br>The PGPServer was up, now it <b>failed</b>. <br>Closing port 5559 for GSLB.",
        "PGP Down body"
    );
    assert_eq!(
        d.mails[1].body,
        "This is the pgp1.<br>The pgpwatch script <b>failed!</b><br><br>connect 127.0.0.1:9999: refused",
        "Error body (the report is appended after the gate moved)"
    );
    assert!(d.mails[1].with_report, "Error carries the report");
    assert!(!d.mails[0].with_report, "PGP Down has no report");
    let (_, d) = decide(&s, &ok(), &r);
    assert_eq!(
        d.mails[0].body,
        "This is the pgp1.<br>The PGPServer was down, now switching to <b>up</b> state. <br>Opening port for GSLB.",
        "PGP Up body"
    );
}

#[test]
fn split_brain_reason_names_both_nodes() {
    let (_, d) = decide(
        &PgpState {
            checks: 1,
            port_open: true,
            healthy_streak: 1,
            ..PgpState::default()
        },
        &seen(S),
        &rules(),
    );
    assert_eq!(
        d.reason,
        "pgpool failed 1 consecutive check(s) (fall 1): split brain seen through pgpool \
         127.0.0.1:5432: its primary is 127.2.20.2:5432 (role) but 127.2.20.1:5432 also runs \
         as primary (pg_role); closing the port."
    );
    assert!(d.mails[1]
        .body
        .contains("127.2.20.1:5432 also runs as primary"));
}

#[test]
fn waiting_primary_reason_says_so() {
    let (_, d) = decide(&PgpState::default(), &seen(W), &rules());
    assert_eq!(
        d.reason,
        "pgpool's primary 127.2.20.1:5432 is waiting (not checked by pgpool since it \
         started; pgpool routes sessions to it), so pgpool counts as healthy at the first \
         check; opening the port."
    );
}

#[test]
fn dry_run_says_what_a_running_pgpwatch_would_do() {
    let dry = PgpRules {
        dry_run: true,
        ..rules()
    };
    let (_, d) = decide(&PgpState::default(), &ok(), &dry);
    assert_eq!(
        d.reason,
        "pgpool is healthy at the first check; a running pgpwatch would open the port \
         (--run-once opens none)."
    );
    let (_, d) = decide(&PgpState::default(), &bad(), &dry);
    assert_eq!(
        d.reason,
        "pgpool failed: connect 127.0.0.1:9999: refused; a running pgpwatch would keep the \
         port closed."
    );
    for obs in [ok(), bad(), seen(W), seen(S)] {
        let (_, d) = decide(&PgpState::default(), &obs, &dry);
        assert!(
            !d.reason.contains("opening") && !d.reason.contains("closing"),
            "{}",
            d.reason
        );
    }
}

#[test]
fn error_mail_without_report_carries_the_reason() {
    let obs = PgpObservation::Unhealthy(PgpoolError::Probe(ProbeError::Timeout {
        host: "127.0.0.1".into(),
        port: 9999,
        step: "connect".into(),
        after: std::time::Duration::from_secs(5),
    }));
    let (_, d) = decide(&PgpState::default(), &obs, &rules());
    assert!(
        d.mails[0]
            .body
            .ends_with("<br><br>connect 127.0.0.1:9999: timed out after 5s"),
        "{:?}",
        d.mails[0].body
    );
    assert!(d.reason.contains("timed out after 5s"), "{}", d.reason);
}
