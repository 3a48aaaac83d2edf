//! repmgrwatch's decisions, pure: from the list of masters and whether the
//! pgpools answer, whether this database node opens its GSLB port (so
//! clients reach the master directly when every pgpool is gone) and which of
//! the original's mails go out. No clock, no sockets here.
//!
//! Rule (COMPAT.md "repmgrwatch"): **open iff exactly one master, it is me,
//! and (neither pgpool's check_port answers, or force_open)**. The port
//! starts closed; `rise` consecutive cycles are needed to open (1 = the
//! original: the first check after a start may open at once). `fall` is
//! hysteresis for THIS node's master role only — a pgpool that answers
//! again, while this node is still the lone master. Once another node is
//! the master, or several or none answer as master, the port closes at that
//! check whatever `fall` says.
//!
//! Start-up grace: for `startup_grace` after the process starts the port
//! does not open merely because no pgpool answers: a pgpwatch started at the
//! same moment (a reboot, a deploy to every host) has not finished its first
//! check yet, and opening would route writes around the pgpools for a check
//! and mail a false "UP (This is bad)". force_open is not delayed.
//!
//! Mails go out on transitions only (the original repeated the two error
//! mails on every cycle):
//! - entering "couldn't get masters" (also: no node answers as master) or
//!   "multiple masters": that mail, once per episode, whatever the port;
//! - the port opening: "UP (This is bad)" when no pgpool answers, "Up
//!   (Forceopen)" when one does and force_open is set;
//! - the port closing: "Down (This is good)" when this master sees a pgpool
//!   back, "Slave Stepping Down (This is good)" when another node is master.
//!
//! Bodies are the original's (COMPAT.md lists them), followed by one
//! paragraph with this check's reason.

use std::time::Duration;

use super::decision::{Decision, Mail, MailKind};
use crate::mail::html_escape;
use crate::probe::repmgr::MastersError;

/// The settings the decisions depend on, as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepmgrRules {
    /// This node's name in repmgr (`[repmgr] node_name`): "me".
    pub node_name: String,
    /// `[repmgr] force_open`.
    pub force_open: bool,
    /// `pgp_server_1 == pgp_server_2`: only the first pgpool answer counts.
    pub single_pgpool: bool,
    /// Consecutive cycles wanting "open" before the port opens (at least 1).
    pub rise: u32,
    /// Consecutive cycles of "a pgpool answers again" before the master
    /// closes (at least 1); every other reason to close acts at once.
    pub fall: u32,
    /// `[general] sendmail`: no mail at all when off.
    pub sendmail: bool,
    /// This machine's name for the mail bodies.
    pub hostname: String,
    /// `[repmgr] open_port`, named in the bodies.
    pub open_port: u16,
}

/// What one cycle saw.
#[derive(Debug, Clone, PartialEq)]
pub struct RepmgrObservation {
    /// Names of the nodes answering `pg_is_in_recovery() = false`, or why
    /// they could not be listed.
    pub masters: Result<Vec<String>, MastersError>,
    /// Whether pgp_server_1's and pgp_server_2's check_port answered.
    pub pgpools_up: (bool, bool),
    /// What is left of the start-up grace ([`Duration::ZERO`]: over).
    pub startup_grace_left: Duration,
}

/// The cluster situation as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Situation {
    /// Masters could not be read, or no node answers as master.
    NoMasters,
    /// More than one node answers as master (split brain).
    MultipleMasters,
    /// Another node is the master.
    Standby,
    /// I am the master and no pgpool answers: open.
    MasterAlone,
    /// I am the master, a pgpool answers, force_open: open.
    MasterForced,
    /// I am the master and a pgpool answers: closed.
    MasterBehindPgpool,
}

impl Situation {
    fn wants_open(self) -> bool {
        matches!(self, Situation::MasterAlone | Situation::MasterForced)
    }
}

/// What the decisions remember between cycles. The default is the start:
/// port closed, nothing seen yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepmgrState {
    /// Where the port is.
    pub port_open: bool,
    /// Consecutive cycles whose situation disagreed with the port.
    pub pending: u32,
    /// The previous cycle's situation.
    pub last: Option<Situation>,
}

/// The original's mail bodies (COMPAT.md), `{host}` and `{port}` filled in.
fn original_body(kind: MailKind, host: &str, port: u16) -> String {
    let text = match kind {
        MailKind::RepmgrMultipleMasters => {
            "There are multiple masters in the cluster.<br>This situation should be fixed!".to_string()
        }
        MailKind::RepmgrUpBad => " I am the current master, and all pgpool instances are down, so the GSLB is probably routing traffic through me. It is best that you fix the pgpools as soon as possible.<br>Also double check the the GSLB is really routing traffic through me.".to_string(),
        MailKind::RepmgrUpForceopen => format!("Even though one of the pgpool is up, the forceopen state is activated. So we are opening the port {port} on the master database."),
        MailKind::RepmgrDownGood => "I am the current master, and I used to serve as the DB instance. Yet one of the pgpools are back online. That's why I am closing port so that the GSLB won't route traffic through me. It is still best that you check on the system manually".to_string(),
        MailKind::RepmgrSlaveSteppingDown => "I am a slave, yet somehow I was serving on port, don't know how this happened (probably a master/slave switch occurred). I am closing port so that the GSLB won't route traffic through my incase both pgpools are down. Nothing to worry about, just a notice.".to_string(),
        MailKind::RepmgrCouldntGetMasters => "I failed getting the masters of the cluster. If you are not testing something, this isn't good. Please check the cluster.".to_string(),
        // pgpwatch's kinds are not built here.
        MailKind::PgpUp | MailKind::PgpDown | MailKind::PgpError | MailKind::PgpStatusOk => {
            String::new()
        }
    };
    format!("This is the {}.<br>{text}", html_escape(host))
}

/// A mail of `kind`: the original's body, then this check's reason.
fn mail(kind: MailKind, rules: &RepmgrRules, reason: &str) -> Mail {
    Mail::new(
        kind,
        format!(
            "{}<br><br>Reason: {}",
            original_body(kind, &rules.hostname, rules.open_port),
            html_escape(reason)
        ),
    )
}

/// Decides one cycle. Pure: same inputs, same outputs.
pub fn decide(
    state: &RepmgrState,
    obs: &RepmgrObservation,
    rules: &RepmgrRules,
) -> (RepmgrState, Decision) {
    let any_pgpool = if rules.single_pgpool {
        obs.pgpools_up.0
    } else {
        obs.pgpools_up.0 || obs.pgpools_up.1
    };
    let (situation, why) = match &obs.masters {
        Err(e) => (
            Situation::NoMasters,
            format!("couldn't get the masters: {e}"),
        ),
        Ok(m) if m.is_empty() => (
            Situation::NoMasters,
            "no node answers as master".to_string(),
        ),
        Ok(m) if m.len() > 1 => (
            Situation::MultipleMasters,
            format!("{} nodes answer as master ({})", m.len(), m.join(", ")),
        ),
        Ok(m) if m[0] != rules.node_name => (
            Situation::Standby,
            format!(
                "{} is the master, not this node ({})",
                m[0], rules.node_name
            ),
        ),
        Ok(_) if !any_pgpool => (
            Situation::MasterAlone,
            "this node is the master and no pgpool answers".to_string(),
        ),
        Ok(_) if rules.force_open => (
            Situation::MasterForced,
            "this node is the master, a pgpool answers, and force_open is set".to_string(),
        ),
        Ok(_) => (
            Situation::MasterBehindPgpool,
            "this node is the master and a pgpool answers".to_string(),
        ),
    };
    // The start-up grace holds a closed port closed while no pgpool has
    // answered yet: their pgpwatches may still be on their first check.
    let in_grace = situation == Situation::MasterAlone
        && !state.port_open
        && !obs.startup_grace_left.is_zero();
    let want = situation.wants_open() && !in_grace;
    let needed = if want {
        rules.rise.max(1)
    } else if situation == Situation::MasterBehindPgpool {
        rules.fall.max(1)
    } else {
        // Standby, split brain, no master: close at this check.
        1
    };
    let mut next = state.clone();
    next.last = Some(situation);
    let mut mails = Vec::new();
    let port = rules.open_port;

    // Error situations mail on entry, whatever the port does.
    if state.last != Some(situation) {
        match situation {
            Situation::NoMasters => mails.push(mail(
                MailKind::RepmgrCouldntGetMasters,
                rules,
                &format!("{why}."),
            )),
            Situation::MultipleMasters => mails.push(mail(
                MailKind::RepmgrMultipleMasters,
                rules,
                &format!("{why}."),
            )),
            _ => {}
        }
    }

    let reason = if in_grace {
        next.pending = 0;
        format!(
            "{why} yet; start-up grace ({:.1}s left) for the pgpools' gates: port {port} stays closed.",
            obs.startup_grace_left.as_secs_f64()
        )
    } else if want == state.port_open {
        next.pending = 0;
        let pos = if want { "stays open" } else { "stays closed" };
        format!("{why}; port {port} {pos}.")
    } else {
        next.pending = state.pending.saturating_add(1);
        if next.pending < needed {
            let (pos, what) = if state.port_open {
                ("stays open", "fall")
            } else {
                ("stays closed", "rise")
            };
            format!(
                "{why}; port {port} {pos} ({} of {needed} cycles, {what} {needed}).",
                next.pending
            )
        } else {
            next.pending = 0;
            next.port_open = want;
            let verb = if want { "opening" } else { "closing" };
            let reason = format!("{why}; {verb} port {port}.");
            let kind = match situation {
                Situation::MasterAlone => Some(MailKind::RepmgrUpBad),
                Situation::MasterForced => Some(MailKind::RepmgrUpForceopen),
                Situation::MasterBehindPgpool => Some(MailKind::RepmgrDownGood),
                Situation::Standby => Some(MailKind::RepmgrSlaveSteppingDown),
                // Their mail went out on entry.
                Situation::NoMasters | Situation::MultipleMasters => None,
            };
            if let Some(kind) = kind {
                mails.push(mail(kind, rules, &reason));
            }
            reason
        }
    };
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
mod tests;
