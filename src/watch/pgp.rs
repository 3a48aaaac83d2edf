//! pgpwatch's decisions, pure: given what the last checks saw and this
//! check's observation, where the GSLB port must be and which of the
//! original's mails go out. No clock, no sockets, no config files here, so
//! every rule of COMPAT.md is one row of the table test below.
//!
//! Rules (COMPAT.md "pgpwatch", with the fixes the issue asks for):
//! - The first check opens the port when healthy (the original did this at
//!   start, without a status-change mail); after that the port opens after
//!   `rise` consecutive healthy checks and closes after `fall` consecutive
//!   failed ones (1/1 = the original: the port follows health).
//! - "PGP Up" / "PGP Down" go out when the port actually changes.
//! - "Error" goes out once when a failure episode starts and then as a
//!   reminder every `success_period` failed checks while it lasts (the
//!   original sent it on every failed check: a mail storm).
//! - "Status OK", when `mail_on_success`, on a healthy first check and every
//!   `success_period`-th check after it (checks counted as the original did,
//!   whatever their outcome: checks 1, 1+p, 1+2p, ...).
//! - No mail at all unless `[general] sendmail` is on (the original sent the
//!   status-change mails regardless).

use super::decision::{html_lines, Decision, Mail, MailKind};
use crate::mail::html_escape;
use crate::probe::pgpool::PgpoolError;

/// The settings the decisions depend on, as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpRules {
    /// Consecutive healthy checks before a closed port opens (at least 1).
    pub rise: u32,
    /// Consecutive failed checks before an open port closes (at least 1).
    pub fall: u32,
    /// Status OK mail and Error reminders every this many checks (0 acts as 1).
    pub success_period: u64,
    /// `[pgp] mail_on_success`.
    pub mail_on_success: bool,
    /// `[general] sendmail`: no mail at all when off.
    pub sendmail: bool,
    /// This machine's name for the mail bodies.
    pub hostname: String,
    /// `[pgp] open_port`, named in the PGP Down mail.
    pub open_port: u16,
}

/// What one check of the pgpool saw. The poolstatus report that the Error
/// and Status OK mails carry is not part of it: gathering it is an action
/// (the act side does it on its own worker, after the gate moved).
#[derive(Debug, Clone, PartialEq)]
pub enum PgpObservation {
    /// The pgpool answered with a primary backend up.
    Healthy,
    /// It did not, and why.
    Unhealthy(PgpoolError),
}

/// What the decisions remember between checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgpState {
    /// Checks done so far.
    pub checks: u64,
    /// Where the port is.
    pub port_open: bool,
    /// Consecutive healthy checks up to now.
    pub healthy_streak: u32,
    /// Consecutive failed checks up to now (the current failure episode).
    pub failed_streak: u64,
}

/// Decides one check. Pure: same inputs, same outputs.
pub fn decide(state: &PgpState, obs: &PgpObservation, rules: &PgpRules) -> (PgpState, Decision) {
    let rise = rules.rise.max(1);
    let fall = u64::from(rules.fall.max(1));
    let period = rules.success_period.max(1);
    let mut next = state.clone();
    next.checks = state.checks.saturating_add(1);
    let first = state.checks == 0;
    let mut mails = Vec::new();
    let reason;
    match obs {
        PgpObservation::Healthy => {
            next.healthy_streak = state.healthy_streak.saturating_add(1);
            next.failed_streak = 0;
            if state.port_open {
                reason = "pgpool is healthy; the port stays open.".to_string();
            } else if first {
                next.port_open = true;
                reason = "pgpool is healthy at the first check; opening the port.".to_string();
            } else if next.healthy_streak >= rise {
                next.port_open = true;
                reason = format!(
                    "pgpool is healthy for {} consecutive check(s) (rise {rise}); opening the port.",
                    next.healthy_streak
                );
                mails.push(Mail::new(
                    MailKind::PgpUp,
                    format!(
                        "This is the {}.<br>The PGPServer was down, now switching to <b>up</b> state. <br>Opening port for GSLB.",
                        html_escape(&rules.hostname)
                    ),
                ));
            } else {
                reason = format!(
                    "pgpool is healthy for {} of {rise} check(s) needed; the port stays closed.",
                    next.healthy_streak
                );
            }
            if rules.mail_on_success && state.checks % period == 0 {
                mails.push(
                    Mail::new(
                        MailKind::PgpStatusOk,
                        format!(
                            "This is the {}. The pgpwatch script returned fine.<br><br>",
                            html_escape(&rules.hostname)
                        ),
                    )
                    .with_report(),
                );
            }
        }
        PgpObservation::Unhealthy(error) => {
            let why = error.to_string();
            next.healthy_streak = 0;
            next.failed_streak = state.failed_streak.saturating_add(1);
            if state.port_open && next.failed_streak >= fall {
                next.port_open = false;
                reason = format!(
                    "pgpool failed {} consecutive check(s) (fall {fall}): {why}; closing the port.",
                    next.failed_streak
                );
                mails.push(Mail::new(
                    MailKind::PgpDown,
                    format!(
                        "This is the {}.<br>The PGPServer was up, now it <b>failed</b>. <br>Closing port {} for GSLB.",
                        html_escape(&rules.hostname),
                        rules.open_port
                    ),
                ));
            } else if state.port_open {
                reason = format!(
                    "pgpool failed {} of {fall} check(s) needed to close: {why}; the port stays open.",
                    next.failed_streak
                );
            } else {
                reason = format!("pgpool failed: {why}; the port stays closed.");
            }
            // Once per episode, then a reminder every `period` failed checks.
            if (next.failed_streak - 1) % period == 0 {
                mails.push(
                    Mail::new(
                        MailKind::PgpError,
                        format!(
                            "This is the {}.<br>The pgpwatch script <b>failed!</b><br><br>{}",
                            html_escape(&rules.hostname),
                            html_lines(&why)
                        ),
                    )
                    .with_report(),
                );
            }
        }
    }
    if !rules.sendmail {
        mails.clear();
    }
    let decision = Decision {
        port_open: next.port_open,
        mails,
        reason,
    };
    (next, decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeError;

    fn rules() -> PgpRules {
        PgpRules {
            rise: 1,
            fall: 1,
            success_period: 3,
            mail_on_success: true,
            sendmail: true,
            hostname: "pgp1".into(),
            open_port: 5559,
        }
    }

    fn ok() -> PgpObservation {
        PgpObservation::Healthy
    }

    fn bad() -> PgpObservation {
        PgpObservation::Unhealthy(PgpoolError::Probe(ProbeError::failed(
            "127.0.0.1",
            9999,
            "connect",
            "refused",
        )))
    }

    const UP: &str = "PGPWATCH - Status Change - PGP Up";
    const DOWN: &str = "PGPWATCH - Status Change - PGP Down";
    const ERR: &str = "PGPWATCH - Error";
    const OK: &str = "PGPWATCH - Status OK";

    /// A step: healthy?, expected port after it, expected mail subjects.
    type Step = (bool, bool, &'static [&'static str]);

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
                steps: vec![(true, true, &[OK])],
            },
            Row {
                name: "first check failed: stays closed, one Error mail",
                rules: r.clone(),
                steps: vec![(false, false, &[ERR])],
            },
            Row {
                name: "open -> closed: PGP Down and Error",
                rules: r.clone(),
                steps: vec![(true, true, &[OK]), (false, false, &[DOWN, ERR])],
            },
            Row {
                name: "closed -> open: PGP Up",
                rules: r.clone(),
                steps: vec![(false, false, &[ERR]), (true, true, &[UP])],
            },
            Row {
                name: "Error once per episode, reminder every success_period failed checks",
                rules: PgpRules {
                    mail_on_success: false,
                    ..r.clone()
                },
                steps: vec![
                    (true, true, &[]),
                    (false, false, &[DOWN, ERR]),
                    (false, false, &[]),
                    (false, false, &[]),
                    (false, false, &[ERR]),
                    (false, false, &[]),
                    (true, true, &[UP]),
                    (false, false, &[DOWN, ERR]),
                ],
            },
            Row {
                name: "Status OK on the first and every success_period-th check",
                rules: r.clone(),
                steps: vec![
                    (true, true, &[OK]),
                    (true, true, &[]),
                    (true, true, &[]),
                    (true, true, &[OK]),
                    (true, true, &[]),
                    (true, true, &[]),
                    (true, true, &[OK]),
                ],
            },
            Row {
                name: "Status OK counts checks, not successes (failed slot skipped)",
                rules: r.clone(),
                steps: vec![
                    (true, true, &[OK]),
                    (true, true, &[]),
                    (true, true, &[]),
                    (false, false, &[DOWN, ERR]),
                    (true, true, &[UP]),
                    (true, true, &[]),
                    (true, true, &[OK]),
                ],
            },
            Row {
                name: "mail_on_success off: no Status OK",
                rules: PgpRules {
                    mail_on_success: false,
                    ..r.clone()
                },
                steps: vec![(true, true, &[]), (true, true, &[]), (true, true, &[])],
            },
            Row {
                name: "sendmail off: port moves, no mail at all",
                rules: PgpRules {
                    sendmail: false,
                    ..r.clone()
                },
                steps: vec![(true, true, &[]), (false, false, &[]), (true, true, &[])],
            },
            Row {
                name: "rise 2: opens after two healthy checks (not the first check rule)",
                rules: PgpRules {
                    rise: 2,
                    mail_on_success: false,
                    ..r.clone()
                },
                steps: vec![
                    (false, false, &[ERR]),
                    (true, false, &[]),
                    (true, true, &[UP]),
                ],
            },
            Row {
                name: "rise 2: first healthy check still opens",
                rules: PgpRules {
                    rise: 2,
                    mail_on_success: false,
                    ..r.clone()
                },
                steps: vec![(true, true, &[])],
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
                    (true, true, &[]),
                    (false, true, &[ERR]),
                    (true, true, &[]),
                    (false, true, &[ERR]),
                    (false, true, &[]),
                    (false, false, &[DOWN]),
                ],
            },
            Row {
                name: "success_period 0 acts as 1",
                rules: PgpRules {
                    success_period: 0,
                    ..r.clone()
                },
                steps: vec![
                    (true, true, &[OK]),
                    (true, true, &[OK]),
                    (false, false, &[DOWN, ERR]),
                    (false, false, &[ERR]),
                ],
            },
        ]
    }

    #[test]
    fn rules_table() {
        for row in table() {
            let mut state = PgpState::default();
            for (i, (healthy, open, subjects)) in row.steps.iter().enumerate() {
                let obs = if *healthy { ok() } else { bad() };
                let (next, d) = decide(&state, &obs, &row.rules);
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
}
