//! The restart rows of pgpwatch's rules ([`super::resume`] of the last
//! process's [`super::record`]), beside the main table in the parent's tests.

use super::tests::{bad, ok, rules, DOWN, ERR, OK, UP};
use super::*;

/// A step: healthy?, expected port after it, expected mail subjects.
type Step = (bool, bool, &'static [&'static str]);

/// One row per restart rule: the last process's record, then steps.
fn resume_table() -> Vec<(&'static str, &'static str, PgpRules, Vec<Step>)> {
    let r = PgpRules {
        mail_on_success: false,
        ..rules()
    };
    vec![
        ("restart, was open, healthy: open again, no mail", "gate=open failing=no", r.clone(),
            vec![(true, true, &[]), (true, true, &[])]),
        ("restart, was open, pgpool now down: PGP Down (the transition missed) and Error", "gate=open failing=no", r.clone(),
            vec![(false, false, &[DOWN, ERR]), (false, false, &[])]),
        ("restart, was closed, pgpool now healthy: PGP Up", "gate=closed failing=yes", r.clone(),
            vec![(true, true, &[UP]), (false, false, &[DOWN, ERR])]),
        ("restart, was closed in a failure episode, still failing: no mail again", "gate=closed failing=yes", r.clone(),
            vec![(false, false, &[]), (false, false, &[]), (false, false, &[ERR])]),
        ("restart, was open with a close pending (fall 2), still failing: closed at once, PGP Down", "gate=open failing=yes",
            PgpRules { fall: 2, ..r.clone() },
            vec![(false, false, &[DOWN])]),
        ("restart, was open, healthy, rise 3: open again at the first check", "gate=open failing=no",
            PgpRules { rise: 3, ..r.clone() },
            vec![(true, true, &[])]),
        ("restart, Status OK still on the first check", "gate=open failing=no", rules(),
            vec![(true, true, &[OK])]),
    ]
}

#[test]
fn resume_table_rules() {
    for (name, record, rules, steps) in resume_table() {
        let mut state = resume(record).unwrap_or_else(|| panic!("{name}: resume {record:?}"));
        for (i, (healthy, open, subjects)) in steps.iter().enumerate() {
            let obs = if *healthy { ok() } else { bad() };
            let (next, d) = decide(&state, &obs, &rules);
            let got: Vec<&str> = d.mails.iter().map(|m| m.subject.as_str()).collect();
            assert_eq!(
                d.port_open,
                *open,
                "{name} step {}: port ({})",
                i + 1,
                d.reason
            );
            assert_eq!(
                &got[..],
                *subjects,
                "{name} step {}: mails ({})",
                i + 1,
                d.reason
            );
            assert!(d.reason.ends_with('.'), "{name}: {}", d.reason);
            state = next;
        }
    }
}

#[test]
fn record_round_trips_and_bad_records_are_a_fresh_start() {
    let s = PgpState {
        checks: 7,
        port_open: true,
        healthy_streak: 3,
        failed_streak: 0,
        split_brain: false,
        resumed: false,
    };
    assert_eq!(record(&s), "gate=open failing=no");
    let back = resume(&record(&s)).expect("resume");
    assert!(back.port_open && back.resumed && back.checks == 0);
    assert_eq!(resume(""), None);
    assert_eq!(resume("gate=maybe failing=no"), None);
}
