//! repmgrwatch's decisions, pure: from the list of masters and whether the
//! pgpools answer, whether this database node opens its GSLB port (so
//! clients reach the master directly when every pgpool is gone) and which of
//! the original's mails go out. No clock, no sockets here.
//!
//! Rule (COMPAT.md "repmgrwatch"): **open iff exactly one master, it is me,
//! and (neither pgpool's check_port answers, or force_open)**. The port
//! starts closed; `rise`/`fall` consecutive cycles are needed to open/close
//! (1/1 = the original). Mails go out on transitions only (the original
//! repeated the two error mails on every cycle):
//! - entering "couldn't get masters" (also: no node answers as master) or
//!   "multiple masters": that mail, once per episode, whatever the port;
//! - the port opening: "UP (This is bad)" when no pgpool answers, "Up
//!   (Forceopen)" when one does and force_open is set;
//! - the port closing: "Down (This is good)" when this master sees a pgpool
//!   back, "Slave Stepping Down (This is good)" when another node is master.
//!
//! Each body starts `This is the {hostname}.<br>`, as the original's.

use super::{Decision, Mail, MailKind};

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
    /// Consecutive cycles wanting "closed" before the port closes (at least 1).
    pub fall: u32,
    /// `[general] sendmail`: no mail at all when off.
    pub sendmail: bool,
    /// This machine's name for the mail bodies.
    pub hostname: String,
    /// `[repmgr] open_port`, named in the bodies.
    pub open_port: u16,
}

/// What one cycle saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepmgrObservation {
    /// Names of the nodes answering `pg_is_in_recovery() = false`, or why
    /// they could not be listed.
    pub masters: Result<Vec<String>, String>,
    /// Whether pgp_server_1's and pgp_server_2's check_port answered.
    pub pgpools_up: (bool, bool),
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
    let want = situation.wants_open();
    let needed = if want {
        rules.rise.max(1)
    } else {
        rules.fall.max(1)
    };
    let mut next = state.clone();
    next.last = Some(situation);
    let mut mails = Vec::new();
    let hello = format!("This is the {}.<br>", rules.hostname);
    let port = rules.open_port;

    // Error situations mail on entry, whatever the port does.
    if state.last != Some(situation) {
        match situation {
            Situation::NoMasters => mails.push(Mail::new(
                MailKind::RepmgrCouldntGetMasters,
                format!("{hello}Couldn't get the masters: {}.", strip_prefix(&why)),
            )),
            Situation::MultipleMasters => mails.push(Mail::new(
                MailKind::RepmgrMultipleMasters,
                format!("{hello}Multiple masters: {}.", why),
            )),
            _ => {}
        }
    }

    let reason = if want == state.port_open {
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
            let tail = format!(
                "Port {port} is now {} for GSLB.",
                if want { "open" } else { "closed" }
            );
            match situation {
                Situation::MasterAlone => mails.push(Mail::new(
                    MailKind::RepmgrUpBad,
                    format!("{hello}This node is the master and no pgpool answers.<br>{tail}"),
                )),
                Situation::MasterForced => mails.push(Mail::new(
                    MailKind::RepmgrUpForceopen,
                    format!("{hello}This node is the master and force_open is set.<br>{tail}"),
                )),
                Situation::MasterBehindPgpool => mails.push(Mail::new(
                    MailKind::RepmgrDownGood,
                    format!("{hello}This node is the master and a pgpool answers again.<br>{tail}"),
                )),
                Situation::Standby => mails.push(Mail::new(
                    MailKind::RepmgrSlaveSteppingDown,
                    format!("{hello}Stepping down: {why}.<br>{tail}"),
                )),
                // Their mail went out on entry.
                Situation::NoMasters | Situation::MultipleMasters => {}
            }
            let verb = if want { "opening" } else { "closing" };
            format!("{why}; {verb} port {port}.")
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

fn strip_prefix(why: &str) -> &str {
    why.strip_prefix("couldn't get the masters: ")
        .unwrap_or(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RepmgrRules {
        RepmgrRules {
            node_name: "db1".into(),
            force_open: false,
            single_pgpool: false,
            rise: 1,
            fall: 1,
            sendmail: true,
            hostname: "db1.example".into(),
            open_port: 5560,
        }
    }

    /// Shorthand observations.
    #[derive(Clone, Copy)]
    enum O {
        /// masters could not be read
        Err,
        /// no master at all
        None,
        /// db1 and db2 both master
        Split,
        /// db2 is master
        Other,
        /// db1 master, pgpools (a, b)
        Me(bool, bool),
    }

    fn obs(o: O) -> RepmgrObservation {
        let (masters, pgpools_up) = match o {
            O::Err => (
                Err("connect 127.0.0.1:5432: timed out after 5s".to_string()),
                (false, false),
            ),
            O::None => (Ok(vec![]), (false, false)),
            O::Split => (Ok(vec!["db1".into(), "db2".into()]), (false, false)),
            O::Other => (Ok(vec!["db2".into()]), (true, true)),
            O::Me(a, b) => (Ok(vec!["db1".into()]), (a, b)),
        };
        RepmgrObservation {
            masters,
            pgpools_up,
        }
    }

    const NOM: &str = "PGPWATCH - Repmgr - Couldn't Get Masters";
    const MUL: &str = "PGPWATCH - Repmgr - Multiple Masters";
    const BAD: &str = "PGPWATCH - Repmgr - UP (This is bad)";
    const FORCE: &str = "PGPWATCH - Repmgr - Up (Forceopen)";
    const GOOD: &str = "PGPWATCH - Repmgr - Down (This is good)";
    const SLAVE: &str = "PGPWATCH - Repmgr - Slave Stepping Down (This is good)";

    type Step = (O, bool, &'static [&'static str]);

    struct Row {
        name: &'static str,
        rules: RepmgrRules,
        steps: Vec<Step>,
    }

    fn table() -> Vec<Row> {
        let r = rules();
        vec![
            Row {
                name: "port starts closed; master behind a pgpool stays closed, no mail",
                rules: r.clone(),
                steps: vec![
                    (O::Me(true, false), false, &[]),
                    (O::Me(false, true), false, &[]),
                ],
            },
            Row {
                name: "couldn't get masters: closed, mail once per episode",
                rules: r.clone(),
                steps: vec![
                    (O::Err, false, &[NOM]),
                    (O::Err, false, &[]),
                    (O::Me(true, true), false, &[]),
                    (O::Err, false, &[NOM]),
                ],
            },
            Row {
                name: "no node answers as master counts as couldn't get masters",
                rules: r.clone(),
                steps: vec![(O::None, false, &[NOM]), (O::Err, false, &[])],
            },
            Row {
                name: "multiple masters: close, mail once per episode",
                rules: r.clone(),
                steps: vec![
                    (O::Me(false, false), true, &[BAD]),
                    (O::Split, false, &[MUL]),
                    (O::Split, false, &[]),
                ],
            },
            Row {
                name: "master, both pgpools down: opening, UP (This is bad)",
                rules: r.clone(),
                steps: vec![
                    (O::Me(false, false), true, &[BAD]),
                    (O::Me(false, false), true, &[]),
                ],
            },
            Row {
                name: "master, a pgpool up, no force_open, closing: Down (This is good)",
                rules: r.clone(),
                steps: vec![
                    (O::Me(false, false), true, &[BAD]),
                    (O::Me(false, true), false, &[GOOD]),
                ],
            },
            Row {
                name: "master, a pgpool up, force_open, opening: Up (Forceopen)",
                rules: RepmgrRules {
                    force_open: true,
                    ..r.clone()
                },
                steps: vec![
                    (O::Me(true, false), true, &[FORCE]),
                    (O::Me(true, true), true, &[]),
                ],
            },
            Row {
                name: "force_open, pgpools all down: UP (This is bad) rule first",
                rules: RepmgrRules {
                    force_open: true,
                    ..r.clone()
                },
                steps: vec![(O::Me(false, false), true, &[BAD])],
            },
            Row {
                name: "standby, closing: Slave Stepping Down",
                rules: r.clone(),
                steps: vec![
                    (O::Me(false, false), true, &[BAD]),
                    (O::Other, false, &[SLAVE]),
                    (O::Other, false, &[]),
                ],
            },
            Row {
                name: "standby while closed: no mail",
                rules: r.clone(),
                steps: vec![(O::Other, false, &[]), (O::Other, false, &[])],
            },
            Row {
                name: "couldn't get masters while open: closes with one mail",
                rules: r.clone(),
                steps: vec![(O::Me(false, false), true, &[BAD]), (O::Err, false, &[NOM])],
            },
            Row {
                name: "one pgpool (server_1 == server_2): second answer ignored",
                rules: RepmgrRules {
                    single_pgpool: true,
                    ..r.clone()
                },
                steps: vec![
                    (O::Me(false, true), true, &[BAD]),
                    (O::Me(true, true), false, &[GOOD]),
                ],
            },
            Row {
                name: "rise 2 / fall 2 on the open decision",
                rules: RepmgrRules {
                    rise: 2,
                    fall: 2,
                    ..r.clone()
                },
                steps: vec![
                    (O::Me(false, false), false, &[]),
                    (O::Me(false, false), true, &[BAD]),
                    (O::Other, true, &[]),
                    (O::Me(false, false), true, &[]),
                    (O::Other, true, &[]),
                    (O::Other, false, &[SLAVE]),
                ],
            },
            Row {
                name: "sendmail off: port moves, no mail",
                rules: RepmgrRules {
                    sendmail: false,
                    ..r.clone()
                },
                steps: vec![
                    (O::Err, false, &[]),
                    (O::Me(false, false), true, &[]),
                    (O::Split, false, &[]),
                ],
            },
        ]
    }

    #[test]
    fn rules_table() {
        for row in table() {
            let mut state = RepmgrState::default();
            for (i, (o, open, subjects)) in row.steps.iter().enumerate() {
                let (next, d) = decide(&state, &obs(*o), &row.rules);
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
                    &got[..],
                    *subjects,
                    "{} step {}: mails ({})",
                    row.name,
                    i + 1,
                    d.reason
                );
                assert!(
                    d.reason.ends_with('.') && !d.reason.contains('\n'),
                    "{} step {}: one-sentence reason: {:?}",
                    row.name,
                    i + 1,
                    d.reason
                );
                for m in &d.mails {
                    assert!(
                        m.body.starts_with("This is the db1.example.<br>"),
                        "{} step {}: body start: {:?}",
                        row.name,
                        i + 1,
                        m.body
                    );
                }
                state = next;
            }
        }
    }

    #[test]
    fn bodies_say_why_and_where_the_port_is() {
        let r = rules();
        let (s, d) = decide(&RepmgrState::default(), &obs(O::Me(false, false)), &r);
        assert_eq!(
            d.mails[0].body,
            "This is the db1.example.<br>This node is the master and no pgpool answers.<br>Port 5560 is now open for GSLB."
        );
        let (_, d) = decide(&s, &obs(O::Other), &r);
        assert_eq!(
            d.mails[0].body,
            "This is the db1.example.<br>Stepping down: db2 is the master, not this node (db1).<br>Port 5560 is now closed for GSLB."
        );
        let (_, d) = decide(&RepmgrState::default(), &obs(O::Err), &r);
        assert_eq!(
            d.mails[0].body,
            "This is the db1.example.<br>Couldn't get the masters: connect 127.0.0.1:5432: timed out after 5s."
        );
    }
}
