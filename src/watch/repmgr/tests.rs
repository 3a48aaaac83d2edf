//! Unit tests of the parent module.

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
        dry_run: false,
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
    /// db1 master, pgpools (a, b), and db3 — inactive in repmgr's
    /// metadata — answers as primary
    MeStale(bool, bool),
    /// db2 master, and db1 (me) — inactive — answers as primary
    OtherMeStale,
}

fn obs(o: O) -> RepmgrObservation {
    let (masters, pgpools_up) = match o {
        O::Err => (
            Err(MastersError::Read(crate::cluster::ProbeError::Timeout {
                host: "127.0.0.1".into(),
                port: 5432,
                step: "connect".into(),
                after: Duration::from_secs(5),
            })),
            (false, false),
        ),
        O::None => (Ok(vec![]), (false, false)),
        O::Split => (Ok(vec!["db1".into(), "db2".into()]), (false, false)),
        O::Other => (Ok(vec!["db2".into()]), (true, true)),
        O::Me(a, b) | O::MeStale(a, b) => (Ok(vec!["db1".into()]), (a, b)),
        O::OtherMeStale => (Ok(vec!["db2".into()]), (false, false)),
    };
    let stale_primaries = match o {
        O::MeStale(..) => vec!["db3".to_string()],
        O::OtherMeStale => vec!["db1".to_string()],
        _ => vec![],
    };
    RepmgrObservation {
        masters,
        pgpools_up,
        pgpools_unknown: (None, None),
        startup_grace_left: Duration::ZERO,
        stale_primaries,
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
            name: "rise 2 / fall 2: rise delays opening; another master closes at once",
            rules: RepmgrRules {
                rise: 2,
                fall: 2,
                ..r.clone()
            },
            steps: vec![
                (O::Me(false, false), false, &[]),
                (O::Me(false, false), true, &[BAD]),
                (O::Other, false, &[SLAVE]),
                (O::Me(false, false), false, &[]),
                (O::Me(false, false), true, &[BAD]),
            ],
        },
        Row {
            name: "fall 3 holds the master open only while a pgpool flaps back",
            rules: RepmgrRules {
                fall: 3,
                ..r.clone()
            },
            steps: vec![
                (O::Me(false, false), true, &[BAD]),
                (O::Me(true, false), true, &[]),
                (O::Me(false, false), true, &[]),
                (O::Me(false, true), true, &[]),
                (O::Me(true, true), true, &[]),
                (O::Me(true, false), false, &[GOOD]),
            ],
        },
        Row {
            name: "fall 3: split brain closes at the next check",
            rules: RepmgrRules {
                fall: 3,
                ..r.clone()
            },
            steps: vec![
                (O::Me(false, false), true, &[BAD]),
                (O::Split, false, &[MUL]),
            ],
        },
        Row {
            name: "fall 3: no master (or masters unreadable) closes at the next check",
            rules: RepmgrRules {
                fall: 3,
                ..r.clone()
            },
            steps: vec![
                (O::Me(false, false), true, &[BAD]),
                (O::None, false, &[NOM]),
                (O::Me(false, false), true, &[BAD]),
                (O::Err, false, &[NOM]),
            ],
        },
        Row {
            name: "fall 3: a standby closes at the next check",
            rules: RepmgrRules {
                fall: 3,
                ..r.clone()
            },
            steps: vec![
                (O::Me(false, false), true, &[BAD]),
                (O::Me(true, false), true, &[]),
                (O::Other, false, &[SLAVE]),
            ],
        },
        Row {
            name: "rise 1 (the original): the first check after a start opens at once",
            rules: r.clone(),
            steps: vec![(O::Me(false, false), true, &[BAD])],
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
        Row {
            name: "stale primary seen by the master: alarm (Multiple Masters once), port as without it \
                   (the metadata names the master; the stale node's own watcher keeps its port closed)",
            rules: r.clone(),
            steps: vec![
                (O::MeStale(false, false), true, &[MUL, BAD]),
                (O::MeStale(false, false), true, &[]),
                (O::MeStale(true, false), false, &[GOOD]),
                (O::MeStale(true, false), false, &[]),
                (O::Me(true, false), false, &[]),
                (O::MeStale(true, false), false, &[MUL]),
            ],
        },
        Row {
            name: "the stale node's own watcher: another node is the master, closed, no alarm mail",
            rules: r.clone(),
            steps: vec![
                (O::Me(false, false), true, &[BAD]),
                (O::OtherMeStale, false, &[SLAVE]),
                (O::OtherMeStale, false, &[]),
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
            let alarm_starts = matches!(o, O::MeStale(..)) && !state.stale_alarm;
            assert_eq!(
                d.warn,
                alarm_starts,
                "{} step {}: WARN when the alarm starts ({})",
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
fn bodies_are_the_originals_followed_by_the_reason() {
    let r = rules();
    let (s, d) = decide(&RepmgrState::default(), &obs(O::Me(false, false)), &r);
    assert_eq!(
        d.mails[0].body,
        "This is the db1.example.<br> I am the current master, and all pgpool instances are down, so the GSLB is probably routing traffic through me. It is best that you fix the pgpools as soon as possible.<br>Also double check the the GSLB is really routing traffic through me.<br><br>Reason: this node is the master and no pgpool answers; opening port 5560."
    );
    let (_, d) = decide(&s, &obs(O::Other), &r);
    assert_eq!(
        d.mails[0].body,
        "This is the db1.example.<br>I am a slave, yet somehow I was serving on port, don't know how this happened (probably a master/slave switch occurred). I am closing port so that the GSLB won't route traffic through my incase both pgpools are down. Nothing to worry about, just a notice.<br><br>Reason: db2 is the master, not this node (db1); closing port 5560."
    );
    let (_, d) = decide(&s, &obs(O::Me(true, false)), &r);
    assert_eq!(
        d.mails[0].body,
        "This is the db1.example.<br>I am the current master, and I used to serve as the DB instance. Yet one of the pgpools are back online. That's why I am closing port so that the GSLB won't route traffic through me. It is still best that you check on the system manually<br><br>Reason: this node is the master and a pgpool answers; closing port 5560."
    );
    let (_, d) = decide(&RepmgrState::default(), &obs(O::Err), &r);
    assert_eq!(
        d.mails[0].body,
        "This is the db1.example.<br>I failed getting the masters of the cluster. If you are not testing something, this isn't good. Please check the cluster.<br><br>Reason: couldn't get the masters: read repmgr nodes: connect 127.0.0.1:5432: timed out after 5s."
    );
    let (_, d) = decide(&RepmgrState::default(), &obs(O::Split), &r);
    assert_eq!(
        d.mails[0].body,
        "This is the db1.example.<br>There are multiple masters in the cluster.<br>This situation should be fixed!<br><br>Reason: 2 nodes answer as master (db1, db2)."
    );
    let forced = RepmgrRules {
        force_open: true,
        ..rules()
    };
    let (_, d) = decide(&RepmgrState::default(), &obs(O::Me(true, true)), &forced);
    assert_eq!(
        d.mails[0].body,
        "This is the db1.example.<br>Even though one of the pgpool is up, the forceopen state is activated. So we are opening the port 5560 on the master database.<br><br>Reason: this node is the master, a pgpool answers, and force_open is set; opening port 5560."
    );
}

#[test]
fn stale_primary_reason_names_both_nodes_and_the_mail_says_so() {
    let (s, d) = decide(
        &RepmgrState::default(),
        &obs(O::MeStale(true, true)),
        &rules(),
    );
    assert_eq!(
        d.reason,
        "this node is the master and a pgpool answers; but db3, marked inactive in repmgr's \
         metadata, answers as primary beside this master db1 (split brain: stop it, or rejoin it \
         as a standby); port 5560 stays closed."
    );
    assert!(d.warn && s.stale_alarm && !s.healthy_path());
    assert_eq!(
        d.mails[0].body,
        "This is the db1.example.<br>There are multiple masters in the cluster.<br>This situation should be fixed!<br><br>Reason: this node is the master and a pgpool answers; but db3, marked inactive in repmgr's metadata, answers as primary beside this master db1 (split brain: stop it, or rejoin it as a standby)."
    );
    let (s, _) = decide(&s, &obs(O::Me(true, true)), &rules());
    assert!(!s.stale_alarm && s.healthy_path(), "alarm over");
}

#[test]
fn dry_run_reasons_say_what_a_running_repmgrwatch_would_do() {
    let dry = RepmgrRules {
        dry_run: true,
        ..rules()
    };
    let cases = [
        (
            O::Me(false, false),
            "this node is the master and no pgpool answers; a running repmgrwatch would open port 5560 (--run-once opens none).",
            true,
        ),
        (
            O::Me(true, false),
            "this node is the master and a pgpool answers; a running repmgrwatch would keep port 5560 closed.",
            true,
        ),
        (
            O::Other,
            "db2 is the master, not this node (db1); a running repmgrwatch would keep port 5560 closed.",
            true,
        ),
        (
            O::Split,
            "2 nodes answer as master (db1, db2); a running repmgrwatch would keep port 5560 closed.",
            false,
        ),
        (
            O::Err,
            "couldn't get the masters: read repmgr nodes: connect 127.0.0.1:5432: timed out after 5s; a running repmgrwatch would keep port 5560 closed.",
            false,
        ),
    ];
    for (o, want, healthy) in cases {
        let (next, d) = decide(&RepmgrState::default(), &obs(o), &dry);
        assert_eq!(d.reason, want);
        assert_eq!(next.healthy_path(), healthy, "{want}");
        assert!(!d.reason.contains("opening") && !d.reason.contains("closing"));
    }
}

fn in_grace(o: O, left_ms: u64) -> RepmgrObservation {
    RepmgrObservation {
        startup_grace_left: Duration::from_millis(left_ms),
        ..obs(o)
    }
}

#[test]
fn startup_grace_keeps_the_port_closed_until_the_pgpools_had_their_first_check() {
    let r = rules();
    let start = RepmgrState::default();
    // A simultaneous start: no pgpool gate yet, grace running.
    let (s1, d) = decide(&start, &in_grace(O::Me(false, false), 7_500), &r);
    assert!(!d.port_open, "grace: stays closed ({})", d.reason);
    assert!(d.mails.is_empty(), "grace: no UP mail ({})", d.reason);
    assert!(
        d.reason.contains("start-up grace (7.5s left)") && d.reason.ends_with('.'),
        "{}",
        d.reason
    );
    // The pgpools' gates open during the grace: nothing to do, no mail.
    let (s2, d) = decide(&s1, &in_grace(O::Me(true, true), 4_000), &r);
    assert!(!d.port_open && d.mails.is_empty(), "{}", d.reason);
    // Grace over, both pgpools really down: opens as before.
    let (_, d) = decide(&s2, &obs(O::Me(false, false)), &r);
    assert!(d.port_open, "after grace: opens ({})", d.reason);
    assert_eq!(d.mails[0].kind, MailKind::RepmgrUpBad);
    // force_open is not delayed by the grace.
    let forced = RepmgrRules {
        force_open: true,
        ..rules()
    };
    let (_, d) = decide(&start, &in_grace(O::Me(true, false), 5_000), &forced);
    assert!(d.port_open, "force_open opens in grace ({})", d.reason);
    // Error situations still mail during the grace.
    let (_, d) = decide(&start, &in_grace(O::Split, 5_000), &r);
    assert_eq!(d.mails[0].kind, MailKind::RepmgrMultipleMasters);
}

/// One row per restart rule: the last process's record, then steps.
fn resume_table() -> Vec<(&'static str, &'static str, RepmgrRules, Vec<Step>)> {
    let r = rules();
    vec![
        (
            "restart, was open, a pgpool is back: Down (This is good)",
            "gate=open last=master_alone",
            r.clone(),
            vec![(O::Me(true, false), false, &[GOOD])],
        ),
        (
            "restart, was open, now a standby: Slave Stepping Down",
            "gate=open last=master_alone",
            r.clone(),
            vec![(O::Other, false, &[SLAVE])],
        ),
        (
            "restart, was open, still the lone master: open again, no UP again",
            "gate=open last=master_alone",
            r.clone(),
            vec![
                (O::Me(false, false), true, &[]),
                (O::Me(false, false), true, &[]),
            ],
        ),
        (
            "restart, was open with force_open, still forced: no Up (Forceopen) again",
            "gate=open last=master_forced",
            RepmgrRules {
                force_open: true,
                ..r.clone()
            },
            vec![(O::Me(true, true), true, &[])],
        ),
        (
            "restart, was closed, master and no pgpool: the start-up grace holds it, as at any start",
            "gate=closed last=master_behind_pgpool",
            r.clone(),
            vec![(O::Me(false, false), false, &[])],
        ),
        (
            "restart, Couldn't Get Masters already mailed: not again",
            "gate=closed last=no_masters",
            r.clone(),
            vec![(O::Err, false, &[]), (O::Me(true, true), false, &[])],
        ),
        (
            "restart, was open, masters unreadable now: Couldn't Get Masters, closed",
            "gate=open last=master_alone",
            r.clone(),
            vec![(O::Err, false, &[NOM])],
        ),
        (
            "restart, was open, fall 2: stays open one cycle, then Down (This is good)",
            "gate=open last=master_alone",
            RepmgrRules {
                fall: 2,
                ..r.clone()
            },
            vec![
                (O::Me(true, false), true, &[]),
                (O::Me(true, false), false, &[GOOD]),
            ],
        ),
    ]
}

#[test]
fn resume_table_rules() {
    for (name, record, rules, steps) in resume_table() {
        let mut state = resume(record).unwrap_or_else(|| panic!("{name}: resume {record:?}"));
        for (i, (o, open, subjects)) in steps.iter().enumerate() {
            // Within the start-up grace, as right after a restart.
            let mut ob = obs(*o);
            ob.startup_grace_left = Duration::from_secs(5);
            let (next, d) = decide(&state, &ob, &rules);
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
            assert!(
                !(i == 0 && *open && d.reason.contains("stays open")),
                "{name}: a reopened port does not 'stay' open: {}",
                d.reason
            );
            state = next;
        }
    }
}

#[test]
fn record_round_trips_and_bad_records_are_a_fresh_start() {
    let s = RepmgrState {
        port_open: true,
        pending: 1,
        last: Some(Situation::MasterForced),
        resumed: false,
        stale_alarm: false,
    };
    assert_eq!(record(&s), "gate=open last=master_forced");
    let back = resume(&record(&s)).expect("resume");
    assert_eq!(back.last, Some(Situation::MasterForced));
    assert!(back.port_open && back.resumed && back.pending == 0);
    assert_eq!(record(&RepmgrState::default()), "gate=closed last=none");
    assert_eq!(resume("gate=closed last=none").and_then(|s| s.last), None);
    assert_eq!(resume("last=standby"), None);
}

/// Issue 18 item 5: a pgpool whose name cannot be resolved is neither up
/// nor down; the master keeps its port as it is and says so once.
#[test]
fn an_unresolvable_pgpool_keeps_the_masters_port_as_it_is() {
    const UNKNOWN: &str = "PGPWATCH - Repmgr - Pgpool Unknown";
    let dns = |o: O, which: u8| RepmgrObservation {
        pgpools_unknown: match which {
            1 => (Some("resolve pgp1.example: no such host".into()), None),
            _ => (None, Some("resolve pgp2.example: no such host".into())),
        },
        ..obs(o)
    };
    let r = rules();
    let subjects =
        |d: &Decision| -> Vec<String> { d.mails.iter().map(|m| m.subject.clone()).collect() };
    // Closed, no pgpool answers, pgp2's name unknown: stays closed (before:
    // "no pgpool answers" opened it), one mail.
    let (s, d) = decide(&RepmgrState::default(), &dns(O::Me(false, false), 2), &r);
    assert!(!d.port_open, "{}", d.reason);
    assert_eq!(subjects(&d), vec![UNKNOWN]);
    assert!(
        d.reason
            .contains("unknown (resolve pgp2.example: no such host)"),
        "{}",
        d.reason
    );
    let (s, d) = decide(&s, &dns(O::Me(false, false), 2), &r);
    assert!(!d.port_open && d.mails.is_empty(), "once: {}", d.reason);
    // Names resolve again, no pgpool answers: now it is known, opens.
    let (_, d) = decide(&s, &obs(O::Me(false, false)), &r);
    assert!(d.port_open, "{}", d.reason);
    // Open, and a pgpool's name stops resolving: stays open, no Down mail.
    let open = RepmgrState {
        port_open: true,
        last: Some(Situation::MasterAlone),
        ..RepmgrState::default()
    };
    let (_, d) = decide(&open, &dns(O::Me(false, false), 1), &r);
    assert!(d.port_open, "{}", d.reason);
    assert_eq!(subjects(&d), vec![UNKNOWN]);
    // A pgpool that answers is known to be up, whatever the other's name.
    let (_, d) = decide(&open, &dns(O::Me(true, false), 2), &r);
    assert!(!d.port_open, "{}", d.reason);
    // One pgpool configured twice: only its own name counts.
    let single = RepmgrRules {
        single_pgpool: true,
        ..rules()
    };
    let (_, d) = decide(
        &RepmgrState::default(),
        &dns(O::Me(false, false), 2),
        &single,
    );
    assert!(d.port_open, "{}", d.reason);
    // force_open opens whatever is unknown.
    let forced = RepmgrRules {
        force_open: true,
        ..rules()
    };
    let (_, d) = decide(
        &RepmgrState::default(),
        &dns(O::Me(false, false), 2),
        &forced,
    );
    assert!(d.port_open, "{}", d.reason);
}
