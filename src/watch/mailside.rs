//! Where a decision's mails go, so that nothing slow runs on the check loop
//! and nothing is lost when the process dies: the spool (each mail written
//! and fsync'd under `[general] state_dir`/<program> before it counts as
//! queued, with the watcher's gate state; see [`crate::mailqueue::spool`]),
//! the mail queue (its own thread sends, retries, and removes a mail's file
//! once the server accepted it; see [`crate::mailqueue`]) and, for pgpwatch,
//! a report worker in front of it. Mails that carry the poolstatus report
//! (Error, Status OK) need it gathered — up to about 3 × connect_timeout +
//! 1 s against a hung node — so every mail of a watcher with a report
//! target passes through the worker, in order: it gathers the report right
//! after the gate moved (the report shows the cluster as it was at the
//! transition), appends it (rewriting the spooled file), and queues the
//! mail. The loop only writes the spool and hands mails over, never waits
//! for a server.
//!
//! At start the spool's mails are queued first, in order (one whose report
//! was still being gathered goes with a note instead), and the gate state
//! the last process left is offered to the watcher ([`MailSide::recovered_state`]).
//! A spool that cannot be opened or written leaves the mail in memory, as
//! before the spool, with one error line.
//!
//! A SIGHUP reload rebuilds this side: `sendmail` switched on or off, a new
//! `sendmail_settings_path`, a new report target (a new `state_dir` takes
//! effect at the next start).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::decision::{html_lines, Mail, MailKind};
use crate::config::Settings;
use crate::mail::{Layout, Message};
use crate::mailqueue::spool::{Entry, Spool, SpoolId};
use crate::mailqueue::{MailQueue, QueueConfig};
use crate::poolstatus::Target;

/// Decisions whose mails may wait for the report worker; beyond this the
/// mails go without a report (and that is logged).
const REPORT_BACKLOG: usize = 8;

/// Spool writes slower than this are logged (they delay the next check).
const SLOW_SPOOL: Duration = Duration::from_secs(1);

/// The message a watcher sends for `m`: its subject and body, in the
/// success layout for the Status OK mail, as the original sent it.
pub fn mail_message(m: &Mail) -> Message {
    let layout = if m.kind == MailKind::PgpStatusOk {
        Layout::Success
    } else {
        Layout::Normal
    };
    Message::new(m.subject.clone(), m.body.clone(), layout)
}

/// The spool file's content for `m`, made by the decision that left the
/// gate state `state`.
fn entry(m: &Mail, state: Option<&str>) -> Entry {
    Entry {
        class: m.kind.class(),
        subject: m.subject.clone(),
        success_layout: m.kind == MailKind::PgpStatusOk,
        report_pending: m.with_report,
        state: state.map(str::to_string),
        body: m.body.clone(),
    }
}

/// The message of a mail found in the spool at start.
fn recovered_message(e: &Entry, name: &str) -> Message {
    let layout = if e.success_layout {
        Layout::Success
    } else {
        Layout::Normal
    };
    let body = if e.report_pending {
        append_report(
            &e.body,
            &format!("(poolstatus report not gathered: {name} stopped before it was ready)"),
        )
    } else {
        e.body.clone()
    };
    Message::new(e.subject.clone(), body, layout)
}

/// The mail thread sending to the args file that `args_file` names at the
/// time of each send (a reload may change it); each send reads the file
/// again, so an edited args.txt takes effect at the next mail.
fn start_queue(
    args_file: Arc<Mutex<PathBuf>>,
    spool: Option<Arc<Spool>>,
) -> Option<MailQueue<Message>> {
    let started = MailQueue::start_spooled(QueueConfig::default(), spool, move |m: &Message| {
        let path = match args_file.lock() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        };
        crate::mail::send_watcher_mail(&path, m)
    });
    match started {
        Ok(q) => Some(q),
        Err(e) => {
            log::error!("cannot start the mail thread: {e}; no mail will be sent");
            None
        }
    }
}

/// `body` with `report` appended as HTML.
pub fn append_report(body: &str, report: &str) -> String {
    let sep = if body.ends_with("<br>") || body.is_empty() {
        ""
    } else {
        "<br><br>"
    };
    format!("{body}{sep}{}", html_lines(report))
}

/// A watcher's mail side.
pub struct MailSide {
    /// `None` when `[general] sendmail` is off.
    queue: Option<MailQueue<Message>>,
    /// `None` when mail is off, the spool could not be opened, or for a
    /// `--run-once`.
    spool: Option<Arc<Spool>>,
    /// Whether this side keeps a spool at all.
    durable: bool,
    /// The directory the spool was opened in.
    spool_dir: PathBuf,
    /// The gate state the last process left (taken once).
    recovered_state: Option<String>,
    /// The last gate state written.
    saved_state: Option<String>,
    args_file: Arc<Mutex<PathBuf>>,
    reports: Option<ReportWorker>,
    name: &'static str,
}

impl MailSide {
    /// The mail side for `settings`, with its spool under `[general]
    /// state_dir`; `report` is where reports are gathered.
    pub fn new(name: &'static str, settings: &Settings, report: Option<Target>) -> MailSide {
        MailSide::build(name, settings, report, true)
    }

    /// A mail side without a spool (`--run-once`: a one-shot run must not
    /// take the running watcher's spool).
    pub fn in_memory(name: &'static str, settings: &Settings, report: Option<Target>) -> MailSide {
        MailSide::build(name, settings, report, false)
    }

    fn build(
        name: &'static str,
        settings: &Settings,
        report: Option<Target>,
        durable: bool,
    ) -> MailSide {
        let mut side = MailSide {
            queue: None,
            spool: None,
            durable,
            spool_dir: PathBuf::new(),
            recovered_state: None,
            saved_state: None,
            args_file: Arc::new(Mutex::new(settings.general.sendmail_settings_path.clone())),
            reports: None,
            name,
        };
        side.configure(settings, report);
        side
    }

    /// A mail side that queues into `queue` (tests).
    pub fn with_queue(
        name: &'static str,
        queue: MailQueue<Message>,
        report: Option<Target>,
    ) -> MailSide {
        let reports = report.and_then(|t| ReportWorker::start(t, queue.sender(), None).ok());
        MailSide {
            queue: Some(queue),
            spool: None,
            durable: false,
            spool_dir: PathBuf::new(),
            recovered_state: None,
            saved_state: None,
            args_file: Arc::new(Mutex::new(PathBuf::new())),
            reports,
            name,
        }
    }

    /// Opens the spool in `state_dir`/<program> and queues what it holds.
    fn open_spool(&mut self, state_dir: &Path) -> Vec<(SpoolId, Entry)> {
        let dir = state_dir.join(self.name);
        self.spool_dir = dir.clone();
        match Spool::open(&dir) {
            Ok((spool, recovered)) => {
                if !recovered.mails.is_empty() {
                    log::info!(
                        "{}: {} mail(s) left in the spool {} by the last run; sending them first",
                        self.name,
                        recovered.mails.len(),
                        dir.display()
                    );
                }
                self.recovered_state = recovered.state.clone();
                self.saved_state = recovered.state;
                self.spool = Some(Arc::new(spool));
                recovered.mails
            }
            Err(e) => {
                log::error!(
                    "{}: {e}; mail is queued in memory only (lost if the process dies) and the gate state is not kept (fix [general] state_dir)",
                    self.name
                );
                Vec::new()
            }
        }
    }

    fn configure(&mut self, settings: &Settings, report: Option<Target>) {
        if let Ok(mut p) = self.args_file.lock() {
            *p = settings.general.sendmail_settings_path.clone();
        }
        match (settings.general.sendmail, self.queue.is_some()) {
            (true, false) => {
                let recovered = if self.durable {
                    self.open_spool(&settings.general.state_dir)
                } else {
                    Vec::new()
                };
                self.queue = start_queue(Arc::clone(&self.args_file), self.spool.clone());
                if let Some(q) = &self.queue {
                    for (id, e) in recovered {
                        let msg = recovered_message(&e, self.name);
                        q.sender().push_spooled(e.subject, e.class, msg, Some(id));
                    }
                }
            }
            (false, true) => {
                log::info!(
                    "{}: sendmail is off now; mail still queued is dropped",
                    self.name
                );
                if let Some(r) = self.reports.take() {
                    r.finish(Instant::now());
                }
                if let Some(q) = self.queue.take() {
                    q.shutdown_discarding(Instant::now());
                }
                self.spool = None;
            }
            (true, true) => {
                let dir = settings.general.state_dir.join(self.name);
                if self.spool.is_some() && dir != self.spool_dir {
                    log::info!(
                        "{}: [general] state_dir changes take effect at the next start (the spool stays in {})",
                        self.name,
                        self.spool_dir.display()
                    );
                }
            }
            (false, false) => {}
        }
        if let (Some(q), Some(target)) = (&self.queue, report) {
            match &self.reports {
                Some(w) => {
                    if let Ok(mut t) = w.target.lock() {
                        *t = target;
                    }
                }
                None => match ReportWorker::start(target, q.sender(), self.spool.clone()) {
                    Ok(w) => self.reports = Some(w),
                    Err(e) => log::error!(
                        "{}: cannot start the report thread: {e}; mails go without the report",
                        self.name
                    ),
                },
            }
        }
    }

    /// Applies reloaded settings (see the module docs).
    pub fn reload(&mut self, settings: &Settings, report: Option<Target>) {
        self.configure(settings, report);
    }

    /// Whether mail is on (`[general] sendmail`).
    pub fn is_on(&self) -> bool {
        self.queue.is_some()
    }

    /// The gate state the last process left in the spool, once.
    pub fn recovered_state(&mut self) -> Option<String> {
        self.recovered_state.take()
    }

    /// Where the spool is (`None`: no spool).
    pub fn spool_dir(&self) -> Option<&Path> {
        self.spool.as_ref().map(|s| s.dir())
    }

    /// The mail queue's counters (`None` when mail is off).
    pub(crate) fn stats(&self) -> Option<crate::mailqueue::QueueStats> {
        self.queue.as_ref().map(MailQueue::stats)
    }

    /// Spools a decision's mails and, when it changed, the gate state
    /// `state` it left, then hands the mails over; never waits for a
    /// server.
    pub fn send(&mut self, mails: &[Mail], state: Option<&str>) {
        let Some(q) = &self.queue else {
            for m in mails {
                log::info!(
                    "{}: mail \"{}\" not sent: sendmail is off",
                    self.name,
                    m.subject
                );
            }
            return;
        };
        let new_state = state.filter(|s| self.saved_state.as_deref() != Some(*s));
        if mails.is_empty() && new_state.is_none() {
            return;
        }
        let ids = match &self.spool {
            Some(spool) => {
                let started = Instant::now();
                let entries: Vec<Entry> = mails.iter().map(|m| entry(m, state)).collect();
                let ids = spool.add_batch(&entries, new_state);
                let took = started.elapsed();
                log::debug!(
                    "{}: spooled {} mail(s){} in {:.1} ms",
                    self.name,
                    mails.len(),
                    if new_state.is_some() {
                        " and the gate state"
                    } else {
                        ""
                    },
                    took.as_secs_f64() * 1000.0
                );
                if took >= SLOW_SPOOL {
                    log::warn!(
                        "{}: writing {} mail(s) to the spool {} took {:.1}s (a slow disk delays the checks)",
                        self.name,
                        mails.len(),
                        spool.dir().display(),
                        took.as_secs_f64()
                    );
                }
                if new_state.is_some() {
                    self.saved_state = new_state.map(str::to_string);
                }
                ids
            }
            None => vec![None; mails.len()],
        };
        let pending: Vec<Pending> = mails
            .iter()
            .zip(ids)
            .map(|(m, id)| Pending {
                mail: m.clone(),
                id,
                state: state.map(str::to_string),
            })
            .collect();
        if pending.is_empty() {
            return;
        }
        let sender = q.sender();
        match &self.reports {
            Some(w) => w.hand_over(pending, &sender, self.spool.as_deref()),
            None => {
                for p in pending {
                    queue_mail(&sender, self.spool.as_deref(), p, None);
                }
            }
        }
    }

    /// Finishes the reports and sends what is queued until `deadline`; a
    /// send still waiting for the server then is abandoned (its mail stays
    /// in the spool for the next start). Returns how many mails were not
    /// sent.
    pub fn finish(mut self, deadline: Instant) -> usize {
        if let Some(w) = self.reports.take() {
            w.finish(deadline);
        }
        match self.queue.take() {
            Some(q) => q.shutdown(deadline),
            None => 0,
        }
    }
}

mod report;
use report::{queue_mail, Pending, ReportWorker};

#[cfg(test)]
mod tests;
