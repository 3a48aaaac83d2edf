//! pgpwatch's decisions, pure: given what the last checks saw and this
//! check's observation, where the GSLB port must be and which of the
//! original's mails go out. No clock, no sockets, no config files here, so
//! every rule of docs/compatibility.md is one row of the table test below.
//!
//! Rules (docs/compatibility.md, "pgpwatch", with the fixes the issue asks for):
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
//! - A primary that pgpool shows `waiting` (status 1: not checked since
//!   pgpool started, pgpool 3.6 to 4.x) counts as serving, as the original
//!   counted it: pgpool routes sessions to a waiting backend, the first
//!   session (our own check's is one) makes pgpool connect to it, and pgpool
//!   fails it over if that fails; closing the port for it would flap the
//!   gate and mail "PGP Down" after every pgpool restart while pgpool
//!   serves. (poolstatus, which judges the cluster rather than this pgpool,
//!   does not count it as up: its direct probe of the node decides.)
//! - Split brain seen through pgpool (4.2+: a backend whose `pg_role` is
//!   primary while pgpool's `role` primary is another) closes the port like
//!   a failed check: two pgpools each routing writes to a different primary
//!   is the divergence to prevent, and with every pgpool gate closed the
//!   real master's repmgrwatch serves writes alone. It is an alarm: the
//!   reason names both nodes and is logged at WARN when it starts, one
//!   Error mail goes out when it starts (no reminders), and `/metrics`
//!   shows `pgpoolwatch_split_brain 1` while it lasts.
//! - With `dry_run` (`--run-once`) the reasons say what a running pgpwatch
//!   would do with the port, since nothing is opened or closed.
//! - After a restart ([`resume`] of the last process's [`record`]) the first
//!   check moves the port as any first check does, and mails the change from
//!   where the last process left it: PGP Down when it was open and pgpool
//!   now fails, PGP Up when it was closed and pgpool is now healthy; an
//!   Error episode already mailed is not mailed again.

use super::decision::{html_lines, Decision, Mail, MailKind};
use crate::cluster::pgpool::{PgpoolError, PgpoolSplitBrain};
use crate::mail::html_escape;

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
    /// `--run-once`: no port moves, so the reasons say what a running
    /// pgpwatch would do.
    pub dry_run: bool,
}

/// What one check of the pgpool saw. The poolstatus report that the Error
/// and Status OK mails carry is not part of it: gathering it is an action
/// (the act side does it on its own worker, after the gate moved).
#[derive(Debug, Clone, PartialEq)]
pub enum PgpObservation {
    /// The pgpool answered with a primary backend up.
    Healthy,
    /// The pgpool answered with its primary `waiting` (not checked by
    /// pgpool since it started): serving, as when healthy.
    PrimaryWaiting {
        /// `host:port` of that primary.
        primary: String,
    },
    /// The pgpool answered with a primary, but another backend runs as
    /// primary by its own `pg_role` (pgpool 4.2+).
    SplitBrain(PgpoolSplitBrain),
    /// It did not, and why.
    Unhealthy(PgpoolError),
}

impl PgpObservation {
    /// Whether this pgpool serves: healthy, or its primary waiting.
    pub fn is_serving(&self) -> bool {
        matches!(
            self,
            PgpObservation::Healthy | PgpObservation::PrimaryWaiting { .. }
        )
    }
}

/// How the port moves, in a reason sentence.
#[derive(Debug, Clone, Copy)]
enum PortMove {
    StaysOpen,
    Opens,
    Closes,
    StaysClosed,
}

/// The end of a reason: what happens to the port, or with `dry_run` what a
/// running pgpwatch would do.
fn port_phrase(rules: &PgpRules, m: PortMove) -> &'static str {
    match (rules.dry_run, m) {
        (false, PortMove::StaysOpen) => "the port stays open",
        (false, PortMove::Opens) => "opening the port",
        (false, PortMove::Closes) => "closing the port",
        (false, PortMove::StaysClosed) => "the port stays closed",
        (true, PortMove::StaysOpen) => "a running pgpwatch would keep the port open",
        (true, PortMove::Opens) => "a running pgpwatch would open the port (--run-once opens none)",
        (true, PortMove::Closes) => "a running pgpwatch would close the port",
        (true, PortMove::StaysClosed) => "a running pgpwatch would keep the port closed",
    }
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
    /// The last check saw a split brain (its alarm is on).
    pub split_brain: bool,
    /// Resumed from the last process's [`record`]: `port_open` is where
    /// that process left the port (this process starts with it closed).
    pub resumed: bool,
}

/// What a restart resumes from: where the port is and whether a failure
/// episode (its Error mail sent) is under way. One line, for the spool.
pub fn record(state: &PgpState) -> String {
    format!(
        "gate={} failing={}",
        if state.port_open { "open" } else { "closed" },
        if state.failed_streak > 0 { "yes" } else { "no" }
    )
}

/// The state a restarted pgpwatch starts from, given the last [`record`];
/// `None` when the line cannot be read (a fresh start then).
pub fn resume(record: &str) -> Option<PgpState> {
    let gate = super::decision::record_gate(record)?;
    let failing = match super::decision::record_field(record, "failing")? {
        "yes" => true,
        "no" => false,
        _ => return None,
    };
    Some(PgpState {
        port_open: gate,
        failed_streak: u64::from(failing),
        resumed: true,
        ..PgpState::default()
    })
}

/// Decides one check. Pure: same inputs, same outputs.
pub fn decide(state: &PgpState, obs: &PgpObservation, rules: &PgpRules) -> (PgpState, Decision) {
    let rise = rules.rise.max(1);
    let fall = u64::from(rules.fall.max(1));
    let period = rules.success_period.max(1);
    let mut next = state.clone();
    next.checks = state.checks.saturating_add(1);
    next.resumed = false;
    let first = state.checks == 0;
    // A process starts with the port closed; after a restart the last
    // process's port decides the first check's status-change mail.
    let left_open = (first && state.resumed).then_some(state.port_open);
    let port_open = state.port_open && !first;
    next.port_open = port_open;
    let mut mails = Vec::new();
    let reason;
    let healthy_what = match obs {
        PgpObservation::PrimaryWaiting { primary } => Some(format!(
            "pgpool's primary {primary} is waiting (not checked by pgpool since it started; \
             pgpool routes sessions to it), so pgpool counts as healthy"
        )),
        PgpObservation::Healthy => Some("pgpool is healthy".to_string()),
        PgpObservation::SplitBrain(_) | PgpObservation::Unhealthy(_) => None,
    };
    // The alarm lasts until pgpool is seen serving without a split brain: a
    // failed check in between (pgpool closing a session while it attaches
    // the old primary) tells nothing either way, so it neither ends the
    // alarm nor lets it start (and mail) again.
    next.split_brain = match obs {
        PgpObservation::SplitBrain(_) => true,
        PgpObservation::Unhealthy(_) => state.split_brain,
        PgpObservation::Healthy | PgpObservation::PrimaryWaiting { .. } => false,
    };
    let alarm_starts = next.split_brain && !state.split_brain;
    match (obs, healthy_what) {
        (_, Some(what)) => {
            next.healthy_streak = state.healthy_streak.saturating_add(1);
            next.failed_streak = 0;
            if port_open {
                reason = format!("{what}; {}.", port_phrase(rules, PortMove::StaysOpen));
            } else if first {
                next.port_open = true;
                let was = match left_open {
                    None => "",
                    Some(true) => " again (open when pgpwatch last ran)",
                    Some(false) => " (closed when pgpwatch last ran)",
                };
                reason = format!(
                    "{what} at the first check; {}{was}.",
                    port_phrase(rules, PortMove::Opens)
                );
                if left_open == Some(false) {
                    mails.push(up_mail(rules));
                }
            } else if next.healthy_streak >= rise {
                next.port_open = true;
                reason = format!(
                    "{what} for {} consecutive check(s) (rise {rise}); {}.",
                    next.healthy_streak,
                    port_phrase(rules, PortMove::Opens)
                );
                mails.push(up_mail(rules));
            } else {
                reason = format!(
                    "{what} for {} of {rise} check(s) needed; {}.",
                    next.healthy_streak,
                    port_phrase(rules, PortMove::StaysClosed)
                );
            }
            if rules.mail_on_success && state.checks.is_multiple_of(period) {
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
        (obs, None) => {
            let why = match obs {
                PgpObservation::SplitBrain(sb) => sb.to_string(),
                PgpObservation::Unhealthy(e) => e.to_string(),
                // Serving observations took the branch above.
                PgpObservation::Healthy | PgpObservation::PrimaryWaiting { .. } => String::new(),
            };
            next.healthy_streak = 0;
            next.failed_streak = state.failed_streak.saturating_add(1);
            if port_open && next.failed_streak >= fall {
                next.port_open = false;
                reason = format!(
                    "pgpool failed {} consecutive check(s) (fall {fall}): {why}; {}.",
                    next.failed_streak,
                    port_phrase(rules, PortMove::Closes)
                );
                mails.push(down_mail(rules));
            } else if left_open == Some(true) {
                reason = format!(
                    "pgpool failed at the first check: {why}; the port stays closed (open when pgpwatch last ran)."
                );
                mails.push(down_mail(rules));
            } else if port_open {
                reason = format!(
                    "pgpool failed {} of {fall} check(s) needed to close: {why}; {}.",
                    next.failed_streak,
                    port_phrase(rules, PortMove::StaysOpen)
                );
            } else {
                reason = format!(
                    "pgpool failed: {why}; {}.",
                    port_phrase(rules, PortMove::StaysClosed)
                );
            }
            // Once per episode, then a reminder every `period` failed
            // checks; a split brain mails once, when it starts.
            let error_mail = if next.split_brain {
                alarm_starts
            } else {
                (next.failed_streak - 1).is_multiple_of(period)
            };
            if error_mail {
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
        warn: alarm_starts,
    };
    (next, decision)
}

fn up_mail(rules: &PgpRules) -> Mail {
    Mail::new(
        MailKind::PgpUp,
        format!(
            "This is the {}.<br>The PGPServer was down, now switching to <b>up</b> state. <br>Opening port for GSLB.",
            html_escape(&rules.hostname)
        ),
    )
}

fn down_mail(rules: &PgpRules) -> Mail {
    Mail::new(
        MailKind::PgpDown,
        format!(
            "This is the {}.<br>The PGPServer was up, now it <b>failed</b>. <br>Closing port {} for GSLB.",
            html_escape(&rules.hostname), rules.open_port
        ),
    )
}

#[cfg(test)]
#[path = "pgp/resume/tests.rs"]
mod resume_tests;

#[cfg(test)]
mod tests;
