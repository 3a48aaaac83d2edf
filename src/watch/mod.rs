//! The two watchers, pgpwatch (beside each pgpool) and repmgrwatch (beside
//! each PostgreSQL node), split the way STYLE.md asks: a probe produces an
//! observation, a pure `decide` turns state + observation into a new state,
//! the port position, the mails to send and a one-sentence reason, and the
//! runner acts on that (gate, mail queue, log) at a fixed rate.

pub mod pgp;
pub mod repmgr;
pub mod runner;

use std::time::{Duration, Instant};

use crate::gate::Gate;
use crate::json::Json;
use crate::mailqueue::MailQueue;
use crate::sdnotify::Notifier;
use runner::{Cycle, Flow, RunStats, Stop, SystemClock};

/// Which of the original's mails this is; the subject is fixed per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// pgpwatch: the port opened after the pgpool came back.
    PgpUp,
    /// pgpwatch: the port closed because the pgpool failed.
    PgpDown,
    /// pgpwatch: a failed check (once per failure episode, then reminders).
    PgpError,
    /// pgpwatch: the periodic "all fine" mail (`mail_on_success`).
    PgpStatusOk,
    /// repmgrwatch: the list of masters could not be read.
    RepmgrCouldntGetMasters,
    /// repmgrwatch: more than one node claims to be master (split brain).
    RepmgrMultipleMasters,
    /// repmgrwatch: this master opened its port because no pgpool answers.
    RepmgrUpBad,
    /// repmgrwatch: this master opened its port because of force_open.
    RepmgrUpForceopen,
    /// repmgrwatch: this master closed its port because a pgpool is back.
    RepmgrDownGood,
    /// repmgrwatch: this node is no longer the master and closed its port.
    RepmgrSlaveSteppingDown,
}

impl MailKind {
    /// The subject line, exactly as the original sent it.
    pub fn subject(self) -> &'static str {
        match self {
            MailKind::PgpUp => "PGPWATCH - Status Change - PGP Up",
            MailKind::PgpDown => "PGPWATCH - Status Change - PGP Down",
            MailKind::PgpError => "PGPWATCH - Error",
            MailKind::PgpStatusOk => "PGPWATCH - Status OK",
            MailKind::RepmgrCouldntGetMasters => "PGPWATCH - Repmgr - Couldn't Get Masters",
            MailKind::RepmgrMultipleMasters => "PGPWATCH - Repmgr - Multiple Masters",
            MailKind::RepmgrUpBad => "PGPWATCH - Repmgr - UP (This is bad)",
            MailKind::RepmgrUpForceopen => "PGPWATCH - Repmgr - Up (Forceopen)",
            MailKind::RepmgrDownGood => "PGPWATCH - Repmgr - Down (This is good)",
            MailKind::RepmgrSlaveSteppingDown => {
                "PGPWATCH - Repmgr - Slave Stepping Down (This is good)"
            }
        }
    }

    /// What a full mail queue may drop first: pgpwatch's Error reminders
    /// and Status OK mails; every other kind reports a change.
    pub fn class(self) -> crate::mailqueue::Class {
        match self {
            MailKind::PgpError | MailKind::PgpStatusOk => crate::mailqueue::Class::Reminder,
            _ => crate::mailqueue::Class::StatusChange,
        }
    }

    /// A short stable name for logs and the gate's JSON.
    pub fn name(self) -> &'static str {
        match self {
            MailKind::PgpUp => "pgp_up",
            MailKind::PgpDown => "pgp_down",
            MailKind::PgpError => "pgp_error",
            MailKind::PgpStatusOk => "pgp_status_ok",
            MailKind::RepmgrCouldntGetMasters => "repmgr_couldnt_get_masters",
            MailKind::RepmgrMultipleMasters => "repmgr_multiple_masters",
            MailKind::RepmgrUpBad => "repmgr_up_bad",
            MailKind::RepmgrUpForceopen => "repmgr_up_forceopen",
            MailKind::RepmgrDownGood => "repmgr_down_good",
            MailKind::RepmgrSlaveSteppingDown => "repmgr_slave_stepping_down",
        }
    }
}

/// One mail a decision asks for; the body is HTML as the original's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub kind: MailKind,
    pub subject: String,
    pub body: String,
    /// The poolstatus report is appended right after the gate moved (so it
    /// shows the cluster at the failure, and never delays the port).
    pub with_report: bool,
}

impl Mail {
    /// A mail of `kind` with its fixed subject.
    pub fn new(kind: MailKind, body: String) -> Mail {
        Mail {
            kind,
            subject: kind.subject().to_string(),
            body,
            with_report: false,
        }
    }

    /// The same mail, with the poolstatus report to be appended when sent.
    pub fn with_report(mut self) -> Mail {
        self.with_report = true;
        self
    }
}

/// What a decision asks the runner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Where the port must be after this check.
    pub port_open: bool,
    /// Mails to queue (empty when `[general] sendmail` is off).
    pub mails: Vec<Mail>,
    /// One sentence saying why, for the log and the gate's JSON.
    pub reason: String,
}

impl Decision {
    /// The decision as JSON for the gate's HTTP answer.
    pub fn to_json(&self, watcher: &str) -> Json {
        Json::object()
            .with("watcher", watcher)
            .with("port_open", self.port_open)
            .with("reason", self.reason.as_str())
    }
}

/// A report as the original put it in mails: every line break becomes `<br>`.
pub fn html_lines(report: &str) -> String {
    report.replace("\r\n", "\n").replace('\n', "<br>")
}

/// How long shutdown waits for queued mail before giving up on it.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(10);

/// A watcher's decision step: state and observation in, new state and decision out.
pub type DecideFn<S, O> = Box<dyn FnMut(&S, &O) -> (S, Decision)>;

/// What a configuration reload changed that the loop itself must apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reloaded {
    /// The new check period.
    pub period: Duration,
    /// Where the port must listen (bind_address:open_port).
    pub bind: SocketAddr,
}

/// One watcher's loop, built from plain parts so the binaries only wire
/// probes and settings in: `observe` probes (bounded by its own timeouts)
/// and returns an observation value, `decide` is the pure decision,
/// `reload` is called after SIGHUP and returns the new period
/// when the new configuration was taken (it logs and keeps the old one
/// otherwise).
pub struct Watch<S, O> {
    /// `pgpwatch` / `repmgrwatch`, in logs and the gate's JSON.
    pub name: &'static str,
    pub gate: Gate,
    /// `None` when `[general] sendmail` is off.
    pub mail: Option<MailQueue<Mail>>,
    pub notifier: Notifier,
    pub state: S,
    pub observe: Box<dyn FnMut() -> O>,
    pub decide: DecideFn<S, O>,
    pub reload: Box<dyn FnMut() -> Option<Reloaded>>,
    /// Where the report for `with_report` mails is gathered (pgpwatch).
    pub report: Option<ReportSource>,
    /// Whether SIGHUP is honoured (off in tests that share the process).
    pub watch_sighup: bool,
}

impl<S, O> Watch<S, O> {
    /// Acts on one decision: port, state JSON, log, systemd status.
    fn move_gate(&mut self, n: u64, d: &Decision) {
        let was_open = self.gate.is_open();
        if let Err(e) = self.gate.set(d.port_open) {
            log::error!("{}: {e}", self.name);
        }
        let listening = self.gate.is_open();
        self.gate.board().publish(
            d.to_json(self.name)
                .with("listening", listening)
                .with("check", n),
        );
        if was_open != listening || !d.mails.is_empty() {
            log::info!("{}: {}", self.name, d.reason);
        } else {
            log::debug!("{}: {}", self.name, d.reason);
        }
        if n == 1 {
            self.notifier.ready(&d.reason);
        } else {
            self.notifier.status(&d.reason);
        }
        self.notifier.watchdog_tick(Instant::now());
    }

    /// Queues the decision's mails.
    fn send_mails(&mut self, d: &Decision) {
        for m in &d.mails {
            match &self.mail {
                Some(q) => {
                    let mut m = m.clone();
                    if let (true, Some(source)) = (m.with_report, &self.report) {
                        m.body = append_report(&m.body, source);
                        m.with_report = false;
                    }
                    q.push(m.subject.clone(), m.kind.class(), m)
                }
                None => log::info!(
                    "{}: mail \"{}\" not sent: sendmail is off",
                    self.name,
                    m.subject
                ),
            }
        }
    }

    /// Closes the port, tells systemd, and flushes mail until `deadline`.
    pub fn finish(mut self, deadline: Instant) {
        self.notifier.stopping();
        self.gate.close();
        if let Some(q) = self.mail.take() {
            let left = q.shutdown(deadline);
            if left > 0 {
                log::error!("{}: {left} mail(s) not sent at shutdown", self.name);
            }
        }
        log::info!("{}: stopped", self.name);
    }
}

impl<S, O> Cycle for Watch<S, O> {
    fn run_cycle(&mut self, n: u64) -> Flow {
        let mut flow = Flow::Continue;
        if self.watch_sighup && crate::signals::take_reload() {
            log::info!("{}: SIGHUP: reloading the configuration", self.name);
            if let Some(r) = (self.reload)() {
                if r.bind != self.gate.bind_addr() {
                    log::info!(
                        "{}: the port moves from {} to {}",
                        self.name,
                        self.gate.bind_addr(),
                        r.bind
                    );
                    // The next decision opens the new gate if the port is open.
                    self.gate.close();
                    self.gate = Gate::new(r.bind);
                }
                flow = Flow::Reschedule(r.period);
            }
        }
        let obs = (self.observe)();
        let (next, d) = (self.decide)(&self.state, &obs);
        self.state = next;
        self.move_gate(n, &d);
        self.send_mails(&d);
        flow
    }

    fn idle(&mut self) {
        self.notifier.watchdog_tick(Instant::now());
    }
}

/// Runs `watch` every `period` until `stop` (SIGTERM/SIGINT when it
/// watches [`crate::signals::STOP`]), then closes the port and flushes mail
/// for at most [`SHUTDOWN_FLUSH`].
pub fn run_watch<S, O>(mut watch: Watch<S, O>, period: Duration, stop: &Stop) -> RunStats {
    let stats = runner::run(&SystemClock, period, stop, &mut watch);
    watch.finish(Instant::now() + SHUTDOWN_FLUSH);
    stats
}

// ---------------------------------------------------------------------
// Wiring: settings and probes into a Watch. The binaries call these.

use crate::config::{PgpSettings, Program, Settings};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// The mail thread for `settings`, or `None` when `[general] sendmail` is
/// off. Each mail is `@sendmail_settings_path --subject=... --body=...`,
/// read again at every send so an edited args.txt takes effect.
pub fn mail_queue(settings: &Settings) -> Option<MailQueue<Mail>> {
    if !settings.general.sendmail {
        return None;
    }
    let args_file = settings.general.sendmail_settings_path.clone();
    let started = MailQueue::start(crate::mailqueue::QueueConfig::default(), move |m: &Mail| {
        let opts =
            crate::mail::options_from_file(&args_file, &mail_overrides(m)).map_err(|source| {
                WatcherMailError::Options {
                    file: args_file.clone(),
                    source,
                }
            })?;
        crate::mail::send(&opts).map_err(WatcherMailError::Send)
    });
    match started {
        Ok(q) => Some(q),
        Err(e) => {
            log::error!("cannot start the mail thread: {e}; no mail will be sent");
            None
        }
    }
}

/// Why a watcher's mail was not sent.
#[derive(Debug)]
pub enum WatcherMailError {
    /// args.txt (`[general] sendmail_settings_path`) is unreadable or holds
    /// an option sendmail cannot use: permanent until someone edits it.
    Options {
        file: std::path::PathBuf,
        source: crate::mail::MailError,
    },
    /// The SMTP delivery failed.
    Send(crate::mail::MailError),
}

impl std::fmt::Display for WatcherMailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // An @file error names the file already.
            WatcherMailError::Options {
                source: source @ crate::mail::MailError::Args(_),
                ..
            } => write!(f, "{source} (fix [general] sendmail_settings_path)"),
            WatcherMailError::Options { file, source } => write!(
                f,
                "{}: {source} (fix the file, [general] sendmail_settings_path)",
                file.display()
            ),
            WatcherMailError::Send(e) => write!(f, "{e}"),
        }
    }
}

impl crate::mailqueue::SendFailure for WatcherMailError {
    fn is_permanent(&self) -> bool {
        match self {
            WatcherMailError::Options { .. } => true,
            WatcherMailError::Send(e) => e.is_permanent(),
        }
    }
}

/// What a watcher puts after `@args.txt` for `m` (later arguments win):
/// subject and body, and, as the original did, `--failed-node=none
/// --new-master=none`, so `--failed-node`/`--new-master` lines that args.txt
/// carries for pgpool's failover script never add a "Failed Node" paragraph
/// to a watcher mail.
pub fn mail_overrides(m: &Mail) -> Vec<String> {
    let mut overrides = vec![
        format!("--subject={}", m.subject),
        format!("--body={}", m.body),
        "--failed-node=none".to_string(),
        "--new-master=none".to_string(),
    ];
    // The original sent its Status OK mail in sendmail's success layout.
    if m.kind == MailKind::PgpStatusOk {
        overrides.push("--mail-on-success".to_string());
    }
    overrides
}

use crate::pgpass::password_for;

/// pgpwatch's health probe: `SHOW pool_nodes` at pgpool_host:pgpool_port
/// within connect_timeout, healthy when a backend with role primary/master
/// has status up (or waiting). `Ok` carries a one-line summary.
pub fn probe_pgpool(pgp: &PgpSettings, os_user: &str) -> Result<String, String> {
    let ep = crate::probe::Endpoint {
        host: pgp.pgpool_host.clone(),
        port: pgp.pgpool_port,
        user: pgp.pgpool_user.clone(),
        database: pgp.pgpool_database.clone(),
        password: password_for(
            os_user,
            &pgp.pgpool_host,
            pgp.pgpool_port,
            &pgp.pgpool_database,
            &pgp.pgpool_user,
        ),
        tls: pgp.tls.for_user(os_user),
    };
    let rows = crate::probe::with_session(&ep, pgp.connect_timeout, |s| s.rows("SHOW pool_nodes"))
        .map_err(|e| e.to_string())?;
    pool_nodes_health(&rows).map_err(|e| {
        format!(
            "{}: {e}",
            crate::probe::host_port(&pgp.pgpool_host, pgp.pgpool_port)
        )
    })
}

/// Judges `SHOW pool_nodes` rows (columns read by name, any pgpool 3.6-4.5).
pub fn pool_nodes_health(rows: &[crate::probe::TextRow]) -> Result<String, String> {
    let get = |r: &crate::probe::TextRow, k: &str| r.get(k).map(|v| v.trim().to_lowercase());
    let up = |r: &crate::probe::TextRow| {
        matches!(
            get(r, "status").as_deref(),
            Some("up") | Some("waiting") | Some("2") | Some("1")
        )
    };
    let primary = rows
        .iter()
        .find(|r| matches!(get(r, "role").as_deref(), Some("primary") | Some("master")) && up(r));
    match primary {
        Some(r) => Ok(format!(
            "primary {}:{} up, {} of {} backend(s) up",
            r.get("hostname").map_or("?", String::as_str),
            r.get("port").map_or("?", String::as_str),
            rows.iter().filter(|r| up(r)).count(),
            rows.len()
        )),
        None if rows.is_empty() => Err("SHOW pool_nodes returned no backends".into()),
        None => Err(format!(
            "no backend up as primary among {} backend(s)",
            rows.len()
        )),
    }
}

fn pgp_rules(settings: &Settings, hostname: &str) -> pgp::PgpRules {
    pgp::PgpRules {
        rise: settings.pgp.rise,
        fall: settings.pgp.fall,
        success_period: settings.pgp.success_period,
        mail_on_success: settings.pgp.mail_on_success,
        sendmail: settings.general.sendmail,
        hostname: hostname.to_string(),
        open_port: settings.pgp.open_port,
    }
}

/// Where the report in pgpwatch's mails is gathered (poolstatus settings,
/// credentials of poolstatus_user).
fn report_target(settings: &Settings) -> crate::poolstatus::Target {
    crate::poolstatus::Target::from_settings(
        &settings.poolstatus,
        &crate::config::credentials_user(&settings.general.poolstatus_user),
    )
}

/// Where pgpwatch gathers its mail report; a reload replaces the target.
pub type ReportSource = Arc<Mutex<crate::poolstatus::Target>>;

/// `body` with the poolstatus report of `source` appended as HTML.
fn append_report(body: &str, source: &ReportSource) -> String {
    let report = match source.lock() {
        Ok(target) => {
            let target = target.clone();
            crate::poolstatus::run(&target, std::time::SystemTime::now()).render_text()
        }
        Err(_) => "poolstatus report unavailable (internal lock poisoned)".to_string(),
    };
    let sep = if body.ends_with("<br>") || body.is_empty() {
        ""
    } else {
        "<br><br>"
    };
    format!("{body}{sep}{}", html_lines(&report))
}

/// pgpwatch: checks pgpool every check_period and moves the gate; with
/// `run_once`, one check and its mails, no port. Returns the exit code
/// (0; `run_once`: 1 when pgpool is unhealthy). `overrides` are the
/// command-line flags standing in for keys; a SIGHUP reload keeps them.
pub fn run_pgpwatch(
    settings: Settings,
    overrides: Vec<crate::config::Override>,
    run_once: bool,
) -> u8 {
    let hostname = crate::config::this_hostname().unwrap_or_else(|| "localhost".into());
    let settings = Rc::new(RefCell::new(settings));
    let rules = Rc::new(RefCell::new(pgp_rules(&settings.borrow(), &hostname)));
    let observe = {
        let settings = Rc::clone(&settings);
        move || {
            let s = settings.borrow();
            match probe_pgpool(
                &s.pgp,
                &crate::config::credentials_user(&s.general.poolstatus_user),
            ) {
                Ok(_summary) => pgp::PgpObservation::Healthy {
                    report: String::new(),
                },
                Err(reason) => pgp::PgpObservation::Unhealthy {
                    reason,
                    report: String::new(),
                },
            }
        }
    };
    let decide = {
        let rules = Rc::clone(&rules);
        move |state: &pgp::PgpState, obs: &pgp::PgpObservation| {
            pgp::decide(state, obs, &rules.borrow())
        }
    };
    let report: ReportSource = Arc::new(Mutex::new(report_target(&settings.borrow())));
    let (bind, period) = {
        let s = settings.borrow();
        (
            SocketAddr::new(s.pgp.bind_address, s.pgp.open_port),
            s.pgp.check_period,
        )
    };
    let mut watch = Watch {
        name: "pgpwatch",
        gate: Gate::new(bind),
        mail: mail_queue(&settings.borrow()),
        notifier: Notifier::from_env(),
        state: pgp::PgpState::default(),
        observe: Box::new(observe),
        decide: Box::new(decide),
        reload: {
            let settings = Rc::clone(&settings);
            let rules = Rc::clone(&rules);
            let hostname = hostname.clone();
            let report = report.clone();
            Box::new(move || {
                reload(&settings, Program::Pgpwatch, &overrides, |new| {
                    *rules.borrow_mut() = pgp_rules(new, &hostname);
                    if let Ok(mut t) = report.lock() {
                        *t = report_target(new);
                    }
                    Reloaded {
                        period: new.pgp.check_period,
                        bind: SocketAddr::new(new.pgp.bind_address, new.pgp.open_port),
                    }
                })
            })
        },
        watch_sighup: true,
        report: Some(report),
    };
    if run_once {
        let obs = (watch.observe)();
        let (_, d) = (watch.decide)(&watch.state, &obs);
        log::info!("pgpwatch: {}", d.reason);
        println!("{}", d.reason);
        watch.send_mails(&d);
        if let Some(q) = watch.mail.take() {
            q.shutdown(Instant::now() + SHUTDOWN_FLUSH);
        }
        return if matches!(obs, pgp::PgpObservation::Healthy { .. }) {
            0
        } else {
            1
        };
    }
    if let Err(e) = crate::signals::install() {
        log::warn!("pgpwatch: {e}; stop it with SIGKILL");
    }
    let stop = Stop::watching(&[&crate::signals::STOP]);
    run_watch(watch, period, &stop);
    0
}

/// repmgrwatch's masters probe: the active primary/standby nodes in repmgr's
/// metadata at repmgr_host (repmgr 4/5 `repmgr.nodes`, else 3.x
/// `repmgr_*.repl_nodes`; a witness is never asked), each asked
/// `pg_is_in_recovery()` in parallel within connect_timeout; returns the
/// names of those answering false.
pub fn probe_masters(settings: &Settings) -> Result<Vec<String>, String> {
    let r = &settings.repmgr;
    let os_user = crate::config::credentials_user(&settings.general.poolstatus_user);
    let ep = crate::probe::Endpoint {
        host: r.repmgr_host.clone(),
        port: r.repmgr_port,
        user: r.repmgr_user.clone(),
        database: r.repmgr_database.clone(),
        password: password_for(
            &os_user,
            &r.repmgr_host,
            r.repmgr_port,
            &r.repmgr_database,
            &r.repmgr_user,
        ),
        tls: r.tls.for_user(&os_user),
    };
    let nodes = crate::probe::with_session(&ep, r.connect_timeout, |s| {
        use crate::poolstatus::parse;
        let detect = s.row(parse::DETECT_SCHEMA_SQL)?;
        let Some(schema) = parse::repmgr_schema(&detect) else {
            return Ok(Err(
                "no repmgr metadata (neither repmgr.nodes nor repmgr_*.repl_nodes)".to_string(),
            ));
        };
        Ok(parse::repmgr_nodes(&s.rows(&schema.nodes_sql())?).map_err(|e| e.to_string()))
    })
    .map_err(|e| format!("read repmgr nodes: {e}"))?
    .map_err(|e| {
        format!(
            "read repmgr nodes at {}: {e}",
            crate::probe::host_port(&r.repmgr_host, r.repmgr_port)
        )
    })?;
    // Only active primary/standby nodes can be the master: a witness is
    // writable by design and would count as a second master.
    let (nodes, unknown) = crate::poolstatus::parse::master_candidates(nodes);
    static WARNED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    for (name, kind) in unknown {
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        if !warned.contains(&(name.clone(), kind.clone())) {
            log::warn!(
                "repmgrwatch: node {name} in repmgr's metadata at {} has type {kind:?}, \
                 neither primary nor standby; it is never counted as a master (logged once)",
                crate::probe::host_port(&r.repmgr_host, r.repmgr_port)
            );
            warned.push((name, kind));
        }
    }
    if nodes.is_empty() {
        return Err(format!(
            "read repmgr nodes: no active primary or standby node at {}",
            crate::probe::host_port(&r.repmgr_host, r.repmgr_port)
        ));
    }
    let answers: Vec<(String, Result<bool, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                let name = node.name.clone();
                // Either libpq form; a conninfo that cannot be read is this
                // node's error, never a guess at its address.
                let ep = crate::conninfo::parse(&node.conninfo)
                    .map_err(|e| e.to_string())
                    .map(|info| {
                        let host = info.host.clone().unwrap_or_else(|| name.clone());
                        let port = info.port.unwrap_or(5432);
                        let user = info.user.clone().unwrap_or_else(|| r.repmgr_user.clone());
                        let database = info
                            .dbname
                            .clone()
                            .unwrap_or_else(|| r.repmgr_database.clone());
                        let password = info
                            .password
                            .clone()
                            .or_else(|| password_for(&os_user, &host, port, &database, &user));
                        // The node's conninfo wins over [repmgr]'s TLS keys, as in libpq.
                        let tls = info.tls_over(&r.tls).for_user(&os_user);
                        crate::probe::Endpoint {
                            host,
                            port,
                            user,
                            database,
                            password,
                            tls,
                        }
                    });
                let timeout = r.connect_timeout;
                scope.spawn(move || {
                    let res = ep.and_then(|ep| {
                        crate::probe::with_session(&ep, timeout, |s| {
                            s.row("SELECT pg_is_in_recovery()::text AS r")
                        })
                        .map(|row| row.get("r").map(String::as_str) == Some("false"))
                        .map_err(|e| e.to_string())
                    });
                    (name, res)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut masters = Vec::new();
    for (name, res) in answers {
        match res {
            Ok(true) => masters.push(name),
            Ok(false) => {}
            Err(e) => log::debug!("repmgrwatch: node {name} does not answer: {e}"),
        }
    }
    Ok(masters)
}

fn repmgr_rules(settings: &Settings, hostname: &str) -> repmgr::RepmgrRules {
    let r = &settings.repmgr;
    repmgr::RepmgrRules {
        node_name: r.node_name.clone(),
        force_open: r.force_open,
        single_pgpool: r.pgp_server_1 == r.pgp_server_2,
        rise: r.rise,
        fall: r.fall,
        sendmail: settings.general.sendmail,
        hostname: hostname.to_string(),
        open_port: r.open_port,
    }
}

/// repmgrwatch: every check_period, reads the masters and the pgpools'
/// check_port and moves the gate. Returns the exit code.
pub fn run_repmgrwatch(settings: Settings) -> u8 {
    let hostname = crate::config::this_hostname().unwrap_or_else(|| "localhost".into());
    let settings = Rc::new(RefCell::new(settings));
    let rules = Rc::new(RefCell::new(repmgr_rules(&settings.borrow(), &hostname)));
    let started = Instant::now();
    let observe = {
        let settings = Rc::clone(&settings);
        move || {
            let s = settings.borrow();
            let r = &s.repmgr;
            let startup_grace_left = r.grace().saturating_sub(started.elapsed());
            let (t, port) = (r.connect_timeout, r.check_port);
            let (one, two, masters) = std::thread::scope(|scope| {
                let a = scope.spawn(|| crate::probe::tcp_port_answers(&r.pgp_server_1, port, t));
                let b = (r.pgp_server_2 != r.pgp_server_1).then(|| {
                    scope.spawn(|| crate::probe::tcp_port_answers(&r.pgp_server_2, port, t))
                });
                let masters = probe_masters(&s);
                let one = a.join().unwrap_or(false);
                let two = match b {
                    Some(h) => h.join().unwrap_or(false),
                    None => one,
                };
                (one, two, masters)
            });
            repmgr::RepmgrObservation {
                masters,
                pgpools_up: (one, two),
                startup_grace_left,
            }
        }
    };
    let decide = {
        let rules = Rc::clone(&rules);
        move |state: &repmgr::RepmgrState, obs: &repmgr::RepmgrObservation| {
            repmgr::decide(state, obs, &rules.borrow())
        }
    };
    let (bind, period) = {
        let s = settings.borrow();
        (
            SocketAddr::new(s.repmgr.bind_address, s.repmgr.open_port),
            s.repmgr.check_period,
        )
    };
    let watch = Watch {
        name: "repmgrwatch",
        gate: Gate::new(bind),
        mail: mail_queue(&settings.borrow()),
        notifier: Notifier::from_env(),
        state: repmgr::RepmgrState::default(),
        observe: Box::new(observe),
        decide: Box::new(decide),
        reload: {
            let settings = Rc::clone(&settings);
            let rules = Rc::clone(&rules);
            Box::new(move || {
                reload(&settings, Program::Repmgrwatch, &[], |new| {
                    *rules.borrow_mut() = repmgr_rules(new, &hostname);
                    Reloaded {
                        period: new.repmgr.check_period,
                        bind: SocketAddr::new(new.repmgr.bind_address, new.repmgr.open_port),
                    }
                })
            })
        },
        watch_sighup: true,
        report: None,
    };
    if let Err(e) = crate::signals::install() {
        log::warn!("repmgrwatch: {e}; stop it with SIGKILL");
    }
    let stop = Stop::watching(&[&crate::signals::STOP]);
    run_watch(watch, period, &stop);
    0
}

/// Reloads `settings` from its file; on success applies `apply` and returns
/// its new period, otherwise logs why and keeps the old settings.
fn reload(
    settings: &Rc<RefCell<Settings>>,
    program: Program,
    overrides: &[crate::config::Override],
    apply: impl FnOnce(&Settings) -> Reloaded,
) -> Option<Reloaded> {
    let path = settings.borrow().source.clone();
    match Settings::load_with(&path, program, overrides) {
        Ok(new) => {
            let period = apply(&new);
            *settings.borrow_mut() = new;
            log::info!(
                "{}: configuration reloaded from {}",
                program.name(),
                path.display()
            );
            Some(period)
        }
        Err(e) => {
            log::error!(
                "{}: reload failed, keeping the old configuration: {e}",
                program.name()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_lines_turns_every_newline_into_br() {
        assert_eq!(html_lines("a\nb\r\nc"), "a<br>b<br>c");
        assert_eq!(html_lines(""), "");
    }

    #[test]
    fn decision_json_names_watcher_port_and_reason() {
        let d = Decision {
            port_open: true,
            mails: vec![],
            reason: "pgpool is healthy.".into(),
        };
        assert_eq!(
            d.to_json("pgpwatch").render(),
            r#"{"watcher":"pgpwatch","port_open":true,"reason":"pgpool is healthy."}"#
        );
    }

    use crate::mailqueue::QueueConfig;
    use pgp::{PgpObservation, PgpRules, PgpState};
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::net::{SocketAddr, TcpStream};
    use std::rc::Rc;
    use std::sync::mpsc;

    fn pgp_watch(
        script: Vec<bool>,
        stop: Stop,
    ) -> (Watch<PgpState, PgpObservation>, mpsc::Receiver<String>) {
        let rules = PgpRules {
            rise: 1,
            fall: 1,
            success_period: 100,
            mail_on_success: false,
            sendmail: true,
            hostname: "pgp1".into(),
            open_port: 0,
        };
        let (tx, rx) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let queue = MailQueue::start(QueueConfig::default(), move |m: &Mail| {
            tx.lock()
                .map_err(|_| "poisoned".to_string())?
                .send(m.subject.clone())
                .map_err(|e| e.to_string())
        })
        .expect("mail thread");
        let script = Rc::new(RefCell::new(VecDeque::from(script)));
        let observe = move || {
            let next = script.borrow_mut().pop_front();
            if script.borrow().is_empty() {
                stop.request();
            }
            match next {
                Some(true) | None => PgpObservation::Healthy {
                    report: String::new(),
                },
                Some(false) => PgpObservation::Unhealthy {
                    reason: "connect 127.0.0.1:1: refused".into(),
                    report: String::new(),
                },
            }
        };
        let watch = Watch {
            name: "pgpwatch",
            gate: Gate::new(SocketAddr::from(([127, 0, 0, 1], 0))),
            mail: Some(queue),
            notifier: Notifier::new(None, None, None, 0),
            state: PgpState::default(),
            observe: Box::new(observe),
            decide: Box::new(move |s, o| pgp::decide(s, o, &rules)),
            reload: Box::new(|| None),
            watch_sighup: false,
            report: None,
        };
        (watch, rx)
    }

    fn recv_all(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                rx.recv_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("mail {i}: {e}"))
            })
            .collect()
    }

    #[test]
    fn watcher_mails_never_carry_args_txt_failed_node_and_new_master() {
        let dir = std::env::temp_dir().join(format!("pgpoolwatch-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let args = dir.join("args.txt");
        std::fs::write(
            &args,
            "--user=u\n--password=p\n--server=127.0.0.1\n--sender=s@x\n--receivers=a@x\n--failed-node=db1\n--new-master=db2\n",
        )
        .expect("write args.txt");
        let m = Mail::new(MailKind::RepmgrUpBad, "body".into());
        let opts = crate::mail::options_from_file(&args, &mail_overrides(&m)).expect("options");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(opts.failed_node, "none");
        assert_eq!(opts.new_master, "none");
        let body = crate::mail::compose_body(&opts, "2026-12-01 10:00:00");
        assert!(!body.contains("Failed Node"), "{body}");
        assert!(body.starts_with("body"), "{body}");
    }

    #[test]
    fn report_is_appended_as_html_after_the_body() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let target = crate::poolstatus::Target {
            pgpool_host: "127.0.0.1".into(),
            pgpool_port: port,
            connect_timeout: Duration::from_secs(1),
            ..crate::poolstatus::Target::default()
        };
        let source: ReportSource = Arc::new(Mutex::new(target));
        let ok = append_report("fine.<br><br>", &source);
        assert!(
            ok.starts_with("fine.<br><br>Output of: show pool_nodes<br>"),
            "{ok}"
        );
        assert!(ok.contains(&format!("127.0.0.1:{port}")), "{ok}");
        assert!(!ok.contains('\n'), "newlines become <br>: {ok}");
        let err = append_report("<b>failed!</b><br><br>connect refused", &source);
        assert!(
            err.starts_with("<b>failed!</b><br><br>connect refused<br><br>Output of:"),
            "{err}"
        );
    }

    #[test]
    fn each_cycle_moves_the_gate_publishes_state_and_queues_mail() {
        let stop = Stop::new();
        let (mut w, rx) = pgp_watch(vec![true, false, true, true], stop);
        w.run_cycle(1);
        assert!(w.gate.is_open(), "healthy first check opens");
        let addr = w.gate.local_addr().expect("listening");
        TcpStream::connect(addr).expect("gate answers");
        let json = w.gate.board().current().render();
        assert!(
            json.contains(r#""port_open":true"#) && json.contains(r#""check":1"#),
            "{json}"
        );
        w.run_cycle(2);
        assert!(!w.gate.is_open(), "failed check closes");
        w.run_cycle(3);
        assert!(w.gate.is_open(), "recovery opens");
        assert_eq!(
            recv_all(&rx, 3),
            vec![
                "PGPWATCH - Status Change - PGP Down",
                "PGPWATCH - Error",
                "PGPWATCH - Status Change - PGP Up"
            ]
        );
        w.finish(Instant::now() + Duration::from_secs(5));
    }

    #[test]
    fn run_watch_stops_closes_the_port_and_flushes_mail() {
        let stop = Stop::new();
        let (w, rx) = pgp_watch(vec![true, false, false, true], stop.clone());
        let stats = run_watch(w, Duration::from_millis(20), &stop);
        assert_eq!(stats.cycles, 4);
        // Shutdown flushed the queue before returning.
        let got: Vec<String> = rx.try_iter().collect();
        assert_eq!(
            got,
            vec![
                "PGPWATCH - Status Change - PGP Down",
                "PGPWATCH - Error",
                "PGPWATCH - Status Change - PGP Up"
            ]
        );
    }

    fn row(pairs: &[(&str, &str)]) -> crate::probe::TextRow {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pool_nodes_health_needs_a_primary_that_is_up() {
        let primary_up = row(&[
            ("hostname", "db1"),
            ("port", "5432"),
            ("status", "up"),
            ("role", "primary"),
        ]);
        let standby_up = row(&[
            ("hostname", "db2"),
            ("port", "5432"),
            ("status", "up"),
            ("role", "standby"),
        ]);
        let primary_down = row(&[
            ("hostname", "db1"),
            ("port", "5432"),
            ("status", "down"),
            ("role", "primary"),
        ]);
        let old_master = row(&[
            ("hostname", "db1"),
            ("port", "5432"),
            ("status", "2"),
            ("role", "master"),
        ]);
        assert_eq!(
            pool_nodes_health(&[primary_up, standby_up.clone()]),
            Ok("primary db1:5432 up, 2 of 2 backend(s) up".to_string())
        );
        assert!(
            pool_nodes_health(&[old_master]).is_ok(),
            "pgpool 3.x: master, status 2"
        );
        assert_eq!(
            pool_nodes_health(&[primary_down, standby_up]),
            Err("no backend up as primary among 2 backend(s)".to_string())
        );
        assert!(pool_nodes_health(&[]).is_err());
    }

    #[test]
    fn conninfo_keys_and_quoted_values() {
        let got = crate::poolstatus::parse::conninfo_pairs(
            "host=db1 port = 5433 user='re pm\\'gr' dbname=repmgr connect_timeout=2",
        )
        .expect("valid conninfo");
        assert_eq!(
            got,
            vec![
                ("host".to_string(), "db1".to_string()),
                ("port".to_string(), "5433".to_string()),
                ("user".to_string(), "re pm'gr".to_string()),
                ("dbname".to_string(), "repmgr".to_string()),
                ("connect_timeout".to_string(), "2".to_string()),
            ]
        );
        assert_eq!(crate::poolstatus::parse::conninfo_pairs(""), Ok(vec![]));
        assert!(crate::poolstatus::parse::conninfo_pairs("garbage").is_err());
    }
}
