//! repmgrwatch's decisions, pure: from the list of masters and whether the
//! pgpools answer, whether this database node opens its GSLB port (so
//! clients reach the master directly when every pgpool is gone) and which of
//! the original's mails go out. No clock, no sockets here.
//!
//! Rule (docs/compatibility.md, "repmgrwatch"): **open iff exactly one master, it is me,
//! and (neither pgpool's check_port answers, or force_open)**. The port
//! starts closed; `rise` consecutive cycles are needed to open (1 = the
//! original: the first check after a start may open at once). `fall` is
//! hysteresis for THIS node's master role only — a pgpool that answers
//! again, while this node is still the lone master. Once another node is
//! the master, or several or none answer as master, the port closes at that
//! check whatever `fall` says.
//!
//! A pgpool whose name cannot be resolved (DNS down, a typo) is neither up
//! nor down: while no other pgpool answers, the master keeps its port as
//! it is and mails "Pgpool Unknown" once (the original, and our first
//! version, took it for "down" and could open the master's port).
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
//! Bodies are the original's (docs/compatibility.md lists them), followed by one
//! paragraph with this check's reason.
//!
//! A stale primary: a node that repmgr's metadata marks inactive (an old
//! primary after a failover, restarted without being rejoined) yet answers
//! as primary. It is never counted as a master (the metadata says who the
//! master is), so the master's port follows the rule above: the stale
//! node's own repmgrwatch keeps its port closed (it is not the registered
//! master), and closing the master's port too would leave writes no route
//! at all while the pgpools are down. The master's watcher raises the
//! alarm: the reason names both nodes, it is logged at WARN when it
//! starts, the Multiple Masters mail (the original's mail for a second
//! master, which its `cluster show` parsing would have counted) goes out
//! once when it starts, and `/metrics` shows `pgpoolwatch_split_brain 1`.
//!
//! With `dry_run` (`--run-once`) the reasons say what a running
//! repmgrwatch would do with the port, since nothing is opened or closed.
//!
//! After a restart ([`resume`] of the last process's [`record`]) the
//! decisions go on from where that process left the port and the
//! situation: a port it held open that must now close gets its closing mail
//! ("Down (This is good)", "Slave Stepping Down"), one that stays open gets
//! no "UP" again, and an error situation already mailed is not mailed again.

use std::time::Duration;

use super::decision::{Decision, Mail, MailKind};
use crate::cluster::repmgr::MastersError;
use crate::mail::html_escape;

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
    /// `--run-once`: no port moves, so the reasons say what a running
    /// repmgrwatch would do.
    pub dry_run: bool,
}

/// What one cycle saw.
#[derive(Debug, Clone, PartialEq)]
pub struct RepmgrObservation {
    /// Names of the nodes answering `pg_is_in_recovery() = false`, or why
    /// they could not be listed.
    pub masters: Result<Vec<String>, MastersError>,
    /// Whether pgp_server_1's and pgp_server_2's check_port answered.
    pub pgpools_up: (bool, bool),
    /// Why pgp_server_1's / pgp_server_2's name could not be resolved
    /// (`None`: it was): such a pgpool is neither up nor down.
    pub pgpools_unknown: (Option<String>, Option<String>),
    /// What is left of the start-up grace ([`Duration::ZERO`]: over).
    pub startup_grace_left: Duration,
    /// Names of the nodes repmgr's metadata marks inactive that answer
    /// `pg_is_in_recovery() = false` (stale primaries: split brain).
    pub stale_primaries: Vec<String>,
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
    /// I am the master, no pgpool answers, and a pgpool's name cannot be
    /// resolved: whether it is up is unknown, so the port stays as it is.
    PgpoolsUnknown,
}

impl Situation {
    fn wants_open(self) -> bool {
        matches!(self, Situation::MasterAlone | Situation::MasterForced)
    }

    /// Its name in a state [`record`].
    pub fn name(self) -> &'static str {
        match self {
            Situation::NoMasters => "no_masters",
            Situation::MultipleMasters => "multiple_masters",
            Situation::Standby => "standby",
            Situation::MasterAlone => "master_alone",
            Situation::MasterForced => "master_forced",
            Situation::MasterBehindPgpool => "master_behind_pgpool",
            Situation::PgpoolsUnknown => "pgpools_unknown",
        }
    }

    fn from_name(name: &str) -> Option<Situation> {
        [
            Situation::NoMasters,
            Situation::MultipleMasters,
            Situation::Standby,
            Situation::MasterAlone,
            Situation::MasterForced,
            Situation::MasterBehindPgpool,
            Situation::PgpoolsUnknown,
        ]
        .into_iter()
        .find(|s| s.name() == name)
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
    /// The stale-primary alarm is on (this master saw one last cycle).
    pub stale_alarm: bool,
    /// Resumed from the last process's [`record`]: `port_open` is where that
    /// process left the port (this process starts with it closed).
    pub resumed: bool,
}

impl RepmgrState {
    /// Whether the last cycle ended on the healthy path: the masters were
    /// read, exactly one answers, and no alarm is on (`--run-once`'s exit
    /// code 0).
    pub fn healthy_path(&self) -> bool {
        matches!(
            self.last,
            Some(
                Situation::Standby
                    | Situation::MasterAlone
                    | Situation::MasterForced
                    | Situation::MasterBehindPgpool
            )
        ) && !self.stale_alarm
    }
}

/// How the port moves, in a reason sentence.
#[derive(Debug, Clone, Copy)]
enum PortMove {
    StaysOpen,
    /// Open again after a restart (the last process held it open).
    OpensAgain,
    Opens,
    Closes,
    StaysClosed,
}

/// What happens to the port, or with `dry_run` what a running repmgrwatch
/// would do.
fn port_phrase(rules: &RepmgrRules, m: PortMove) -> String {
    let port = rules.open_port;
    match (rules.dry_run, m) {
        (false, PortMove::StaysOpen) => format!("port {port} stays open"),
        (false, PortMove::OpensAgain) => {
            format!("port {port} opens again (open when repmgrwatch last ran)")
        }
        (false, PortMove::Opens) => format!("opening port {port}"),
        (false, PortMove::Closes) => format!("closing port {port}"),
        (false, PortMove::StaysClosed) => format!("port {port} stays closed"),
        (true, PortMove::StaysOpen | PortMove::OpensAgain) => {
            format!("a running repmgrwatch would keep port {port} open")
        }
        (true, PortMove::Opens) => {
            format!("a running repmgrwatch would open port {port} (--run-once opens none)")
        }
        (true, PortMove::Closes) => format!("a running repmgrwatch would close port {port}"),
        (true, PortMove::StaysClosed) => {
            format!("a running repmgrwatch would keep port {port} closed")
        }
    }
}

/// What a restart resumes from: the port and the last situation. One line,
/// for the spool.
pub fn record(state: &RepmgrState) -> String {
    format!(
        "gate={} last={}",
        if state.port_open { "open" } else { "closed" },
        state.last.map_or("none", Situation::name)
    )
}

/// The state a restarted repmgrwatch starts from, given the last
/// [`record`]; `None` when the line cannot be read (a fresh start then).
pub fn resume(record: &str) -> Option<RepmgrState> {
    let port_open = super::decision::record_gate(record)?;
    let last = super::decision::record_field(record, "last").and_then(Situation::from_name);
    Some(RepmgrState {
        port_open,
        pending: 0,
        last,
        resumed: true,
        stale_alarm: false,
    })
}

/// The original's mail bodies (docs/compatibility.md), `{host}` and `{port}` filled in.
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
        MailKind::RepmgrPgpoolUnknown => format!("I am the current master, no pgpool answers, and the name of a pgpool cannot be resolved, so I cannot tell whether it is up. I keep port {port} as it is until I can tell. Please check DNS (or /etc/hosts) for the pgpool hosts."),
        // pgpwatch's kinds are not built here.
        MailKind::PgpUp
        | MailKind::PgpDown
        | MailKind::PgpError
        | MailKind::PgpStatusOk
        | MailKind::GateConflict => {
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
    let unknown = if rules.single_pgpool {
        obs.pgpools_unknown.0.as_ref()
    } else {
        obs.pgpools_unknown
            .0
            .as_ref()
            .or(obs.pgpools_unknown.1.as_ref())
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
        Ok(_) if !any_pgpool && !rules.force_open && unknown.is_some() => (
            Situation::PgpoolsUnknown,
            format!(
                "this node is the master, no pgpool answers, and whether one is up is unknown ({})",
                unknown.map_or("", String::as_str)
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
    let master_here = matches!(
        situation,
        Situation::MasterAlone | Situation::MasterForced | Situation::MasterBehindPgpool
    );
    let stale = &obs.stale_primaries;
    let stale_note = if stale.is_empty() {
        String::new()
    } else {
        let (list, verb) = match stale.as_slice() {
            [one] => (one.clone(), "answers"),
            many => (many.join(", "), "answer"),
        };
        let beside = if master_here {
            format!(" beside this master {}", rules.node_name)
        } else {
            String::new()
        };
        format!(
            "; but {list}, marked inactive in repmgr's metadata, {verb} as primary{beside} \
             (split brain: stop it, or rejoin it as a standby)"
        )
    };
    // The start-up grace holds a closed port closed while no pgpool has
    // answered yet: their pgpwatches may still be on their first check.
    let in_grace = situation == Situation::MasterAlone
        && !state.port_open
        && !obs.startup_grace_left.is_zero();
    // Unknown keeps the port where it is.
    let want = if situation == Situation::PgpoolsUnknown {
        state.port_open
    } else {
        situation.wants_open() && !in_grace
    };
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
    next.stale_alarm = master_here && !stale.is_empty();
    let alarm_starts = next.stale_alarm && !state.stale_alarm;
    next.resumed = false;
    // The port a restarted process reopens is not "staying" open.
    let open_pos = if state.resumed {
        PortMove::OpensAgain
    } else {
        PortMove::StaysOpen
    };
    let mut mails = Vec::new();

    // Error situations mail on entry, whatever the port does.
    if state.last != Some(situation) {
        match situation {
            Situation::NoMasters => mails.push(mail(
                MailKind::RepmgrCouldntGetMasters,
                rules,
                &format!("{why}{stale_note}."),
            )),
            Situation::MultipleMasters => mails.push(mail(
                MailKind::RepmgrMultipleMasters,
                rules,
                &format!("{why}{stale_note}."),
            )),
            Situation::PgpoolsUnknown => mails.push(mail(
                MailKind::RepmgrPgpoolUnknown,
                rules,
                &format!("{why}."),
            )),
            _ => {}
        }
    }
    if alarm_starts {
        mails.push(mail(
            MailKind::RepmgrMultipleMasters,
            rules,
            &format!("{why}{stale_note}."),
        ));
    }

    let reason = if in_grace {
        next.pending = 0;
        format!(
            "{why} yet{stale_note}; start-up grace ({:.1}s left) for the pgpools' gates: {}.",
            obs.startup_grace_left.as_secs_f64(),
            port_phrase(rules, PortMove::StaysClosed)
        )
    } else if want == state.port_open {
        next.pending = 0;
        let pos = if want {
            open_pos
        } else {
            PortMove::StaysClosed
        };
        format!("{why}{stale_note}; {}.", port_phrase(rules, pos))
    } else {
        next.pending = state.pending.saturating_add(1);
        if next.pending < needed {
            let (pos, what) = if state.port_open {
                (open_pos, "fall")
            } else {
                (PortMove::StaysClosed, "rise")
            };
            format!(
                "{why}{stale_note}; {} ({} of {needed} cycles, {what} {needed}).",
                port_phrase(rules, pos),
                next.pending
            )
        } else {
            next.pending = 0;
            next.port_open = want;
            let verb = if want {
                PortMove::Opens
            } else {
                PortMove::Closes
            };
            let reason = format!("{why}{stale_note}; {}.", port_phrase(rules, verb));
            let kind = match situation {
                Situation::MasterAlone => Some(MailKind::RepmgrUpBad),
                Situation::MasterForced => Some(MailKind::RepmgrUpForceopen),
                Situation::MasterBehindPgpool => Some(MailKind::RepmgrDownGood),
                Situation::Standby => Some(MailKind::RepmgrSlaveSteppingDown),
                // Their mail went out on entry; unknown never moves the port.
                Situation::NoMasters | Situation::MultipleMasters | Situation::PgpoolsUnknown => {
                    None
                }
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
        warn: alarm_starts,
    };
    (next, decision)
}

#[cfg(test)]
mod tests;
