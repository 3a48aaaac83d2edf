//! The two watchers, pgpwatch (beside each pgpool) and repmgrwatch (beside
//! each PostgreSQL node), in the pipeline STYLE.md asks for:
//!
//! 1. **probe** ([`crate::probe`]): I/O bounded by timeouts, producing an
//!    observation value (a failed probe is a typed error, never a panic);
//! 2. **decide** ([`pgp`], [`repmgr`]): pure `decide(state, observation,
//!    rules) -> (state, Decision)` with the one-sentence reason, one rule
//!    table test per watcher;
//! 3. **act** ([`act`], [`mailside`]): the gate, the state JSON, the log,
//!    systemd, and the mails (reports gathered on their own worker).
//!
//! [`watcher`] holds the two watchers as values (settings, rules, probes);
//! [`runner`] the fixed-rate loop that drives them.

pub mod act;
pub mod decision;
pub mod mailside;
pub mod pgp;
pub mod repmgr;
pub mod runner;
pub mod watcher;

use std::time::Instant;

pub use act::{run_watch, Watch, SHUTDOWN_FLUSH};
pub use decision::{html_lines, Decision, Mail, MailKind};
pub use mailside::{mail_message, MailSide};
pub use watcher::{PgpoolWatcher, RepmgrWatcher, Watcher};

/// Why a watcher's mail was not sent (it lives with the mail code).
pub use crate::mail::WatcherMailError;

use crate::config::{Override, Settings};

/// pgpwatch: checks pgpool every check_period and moves the gate; with
/// `run_once`, one check and its mails, no port. Returns the exit code
/// (0; `run_once`: 1 when pgpool is unhealthy). `overrides` are the
/// command-line flags standing in for keys; a SIGHUP reload keeps them.
pub fn run_pgpwatch(settings: Settings, overrides: Vec<Override>, run_once: bool) -> u8 {
    let mut watcher = PgpoolWatcher::new(settings, overrides);
    if !run_once {
        return act::run(watcher);
    }
    let obs = watcher.observe();
    let (_, d) = watcher.decide(&Default::default(), &obs);
    log::info!("pgpwatch: {}", d.reason);
    println!("{}", d.reason);
    let mut mail = MailSide::in_memory("pgpwatch", watcher.settings(), watcher.report_target());
    mail.send(&d.mails, None);
    mail.finish(Instant::now() + SHUTDOWN_FLUSH);
    match obs {
        pgp::PgpObservation::Healthy => 0,
        pgp::PgpObservation::Unhealthy(_) => 1,
    }
}

/// repmgrwatch: every check_period, reads the masters and the pgpools'
/// check_port and moves the gate. Returns the exit code.
pub fn run_repmgrwatch(settings: Settings) -> u8 {
    act::run(RepmgrWatcher::new(settings))
}
