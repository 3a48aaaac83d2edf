//! The two watchers, pgpwatch (beside each pgpool) and repmgrwatch (beside
//! each PostgreSQL node), in the pipeline docs/design.md describes:
//!
//! 1. **probe** ([`crate::cluster`]): I/O bounded by timeouts, producing an
//!    observation value (a failed probe is a typed error, never a panic);
//! 2. **decide** ([`pgp`], [`repmgr`]): pure `decide(state, observation,
//!    rules) -> (state, Decision)` with the one-sentence reason, one rule
//!    table test per watcher;
//! 3. **act** ([`act`], [`mailside`]): the gate, the state JSON, the log,
//!    systemd, and the mails (reports gathered on their own worker).
//!
//! [`watcher`] holds the two watchers as values (settings, rules, probes);
//! [`runner`] the fixed-rate loop that drives them; [`fast`] wakes that
//! loop through [`wake`] when a watched server goes away or comes back.

pub mod act;
pub mod decision;
pub mod fast;
pub mod mailside;
pub mod pgp;
pub mod repmgr;
pub mod runner;
pub mod wake;
pub mod watcher;

use std::time::Instant;

pub use act::{run_watch, Watch, SHUTDOWN_FLUSH};
pub use decision::{html_lines, Decision, Mail, MailKind};
pub use mailside::{mail_message, MailSide};
pub use watcher::{PgpoolWatcher, RepmgrWatcher, Watcher};

/// Why a watcher's mail was not sent (it lives with the mail code).
use crate::config::{Override, Settings};

/// pgpwatch: checks pgpool every check_period and moves the gate; with
/// `run_once`, one check and its mails, no port. Returns the exit code
/// (0; `run_once`: 1 when pgpool does not serve or shows a split brain).
/// `overrides` are the command-line flags standing in for keys; a SIGHUP
/// reload keeps them.
pub fn run_pgpwatch(settings: Settings, overrides: Vec<Override>, run_once: bool) -> u8 {
    let watcher = PgpoolWatcher::new(settings, overrides);
    if !run_once {
        return act::run(watcher);
    }
    let mut watcher = watcher.for_run_once();
    let obs = watcher.observe();
    let (_, d) = watcher.decide(&Default::default(), &obs);
    let text = run_once_text("pgpwatch", &d, true);
    log::info!("{}", text.trim_end().replace('\n', "; "));
    print!("{text}");
    let mut mail = MailSide::in_memory("pgpwatch", watcher.settings(), watcher.report_target());
    mail.send(&d.mails, None);
    mail.finish(Instant::now() + SHUTDOWN_FLUSH);
    if obs.is_serving() {
        0
    } else {
        1
    }
}

/// repmgrwatch: every check_period, reads the masters and the pgpools'
/// check_port and moves the gate. With `run_once`: one check, no start-up
/// grace, no port and no mail; it prints the decision, what a running
/// repmgrwatch would do and which mails it would send, and returns 0 on the
/// healthy path (one master, no alarm), else 1.
pub fn run_repmgrwatch(settings: Settings, run_once: bool) -> u8 {
    let watcher = RepmgrWatcher::new(settings);
    if !run_once {
        return act::run(watcher);
    }
    let mut watcher = watcher.for_run_once();
    let obs = watcher.observe();
    let (next, d) = watcher.decide(&Default::default(), &obs);
    let text = run_once_text("repmgrwatch", &d, false);
    log::info!("{}", text.trim_end().replace('\n', "; "));
    print!("{text}");
    if next.healthy_path() {
        0
    } else {
        1
    }
}

/// What `--run-once` prints: the decision's reason (which says what a
/// running watcher would do with the port), and the mails — sent
/// (pgpwatch, as the original's run-once did) or only named.
pub fn run_once_text(program: &str, d: &Decision, mails_sent: bool) -> String {
    let mut out = format!("{program} --run-once: {}\n", d.reason);
    let subjects: Vec<&str> = d.mails.iter().map(|m| m.subject.as_str()).collect();
    if subjects.is_empty() {
        out.push_str("mails: none\n");
    } else if mails_sent {
        out.push_str(&format!("mails sent: {}\n", subjects.join("; ")));
    } else {
        out.push_str(&format!(
            "would mail: {} (--run-once sends none)\n",
            subjects.join("; ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_once_text_says_what_would_happen_and_which_mails() {
        let d = Decision {
            port_open: true,
            mails: vec![Mail::new(MailKind::RepmgrUpBad, "b".into())],
            reason: "this node is the master and no pgpool answers; a running repmgrwatch would open port 5560 (--run-once opens none).".into(),
            warn: false,
        };
        assert_eq!(
            run_once_text("repmgrwatch", &d, false),
            "repmgrwatch --run-once: this node is the master and no pgpool answers; \
             a running repmgrwatch would open port 5560 (--run-once opens none).\n\
             would mail: PGPWATCH - Repmgr - UP (This is bad) (--run-once sends none)\n"
        );
        let sent = run_once_text("pgpwatch", &d, true);
        assert!(
            sent.ends_with("\nmails sent: PGPWATCH - Repmgr - UP (This is bad)\n"),
            "{sent}"
        );
        let none = Decision { mails: vec![], ..d };
        assert!(run_once_text("pgpwatch", &none, true).ends_with("\nmails: none\n"));
    }
}
