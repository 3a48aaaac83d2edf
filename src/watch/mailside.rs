//! Where a decision's mails go, so that nothing slow runs on the check loop:
//! the mail queue (its own thread sends, retries and gives up; see
//! [`crate::mailqueue`]) and, for pgpwatch, a report worker in front of it.
//! Mails that carry the poolstatus report (Error, Status OK) need it
//! gathered — up to about 3 × connect_timeout + 1 s against a hung node —
//! so every mail of a watcher with a report target passes through the
//! worker, in order: it gathers the report right after the gate moved (the
//! report shows the cluster as it was at the transition), appends it, and
//! queues the mail. The loop only hands mails over, never waits.
//!
//! A SIGHUP reload rebuilds this side: `sendmail` switched on or off, a new
//! `sendmail_settings_path`, a new report target.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use super::decision::{html_lines, Mail, MailKind};
use crate::config::Settings;
use crate::mailqueue::{MailQueue, MailSender, QueueConfig};
use crate::poolstatus::Target;

/// Decisions whose mails may wait for the report worker; beyond this the
/// mails go without a report (and that is logged).
const REPORT_BACKLOG: usize = 8;

/// The message a watcher sends for `m`: its subject and body, in the
/// success layout for the Status OK mail, as the original sent it.
pub fn mail_message(m: &Mail) -> crate::mail::Message {
    let layout = if m.kind == MailKind::PgpStatusOk {
        crate::mail::Layout::Success
    } else {
        crate::mail::Layout::Normal
    };
    crate::mail::Message::new(m.subject.clone(), m.body.clone(), layout)
}

/// The mail thread sending to the args file that `args_file` names at the
/// time of each send (a reload may change it); each send reads the file
/// again, so an edited args.txt takes effect at the next mail.
fn start_queue(args_file: Arc<Mutex<PathBuf>>) -> Option<MailQueue<Mail>> {
    let started = MailQueue::start(QueueConfig::default(), move |m: &Mail| {
        let path = match args_file.lock() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        };
        crate::mail::send_watcher_mail(&path, &mail_message(m))
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

/// The report worker: gathers poolstatus reports for the mails that want
/// one and queues every mail it is handed, in order.
struct ReportWorker {
    jobs: Option<SyncSender<Vec<Mail>>>,
    target: Arc<Mutex<Target>>,
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
}

impl ReportWorker {
    fn start(target: Target, queue: MailSender<Mail>) -> std::io::Result<ReportWorker> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Mail>>(REPORT_BACKLOG);
        let (done_tx, done) = mpsc::channel();
        let target = Arc::new(Mutex::new(target));
        let t = Arc::clone(&target);
        let thread = thread::Builder::new()
            .name("mail-report".into())
            .spawn(move || {
                for mails in rx {
                    let report = mails.iter().any(|m| m.with_report).then(|| {
                        let target = match t.lock() {
                            Ok(g) => g.clone(),
                            Err(p) => p.into_inner().clone(),
                        };
                        crate::poolstatus::run(&target, SystemTime::now()).render_text()
                    });
                    for m in mails {
                        queue_mail(&queue, m, report.as_deref());
                    }
                }
                let _ = done_tx.send(());
            })?;
        Ok(ReportWorker {
            jobs: Some(tx),
            target,
            thread: Some(thread),
            done,
        })
    }

    /// Hands `mails` over; when the worker is far behind, they are queued
    /// at once without a report.
    fn hand_over(&self, mails: Vec<Mail>, queue: &MailSender<Mail>) {
        let Some(jobs) = &self.jobs else { return };
        match jobs.try_send(mails) {
            Ok(()) => {}
            Err(TrySendError::Full(mails)) | Err(TrySendError::Disconnected(mails)) => {
                log::warn!(
                    "mail report: {REPORT_BACKLOG} reports still being gathered; these mails go without one"
                );
                for m in mails {
                    queue_mail(
                        queue,
                        m,
                        Some(
                            "(poolstatus report skipped: earlier reports are still being gathered)",
                        ),
                    );
                }
            }
        }
    }

    /// Lets the worker finish what it holds until `deadline`.
    fn finish(mut self, deadline: Instant) {
        self.jobs = None;
        let left = deadline.saturating_duration_since(Instant::now());
        match self.done.recv_timeout(left.max(Duration::from_millis(100))) {
            Ok(()) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
            Err(_) => log::error!(
                "mail report: a report is still being gathered at shutdown; its mail is not sent"
            ),
        }
    }
}

fn queue_mail(queue: &MailSender<Mail>, mut m: Mail, report: Option<&str>) {
    if m.with_report {
        if let Some(r) = report {
            m.body = append_report(&m.body, r);
        }
        m.with_report = false;
    }
    queue.push(m.subject.clone(), m.kind.class(), m);
}

/// A watcher's mail side.
pub struct MailSide {
    /// `None` when `[general] sendmail` is off.
    queue: Option<MailQueue<Mail>>,
    args_file: Arc<Mutex<PathBuf>>,
    reports: Option<ReportWorker>,
    name: &'static str,
}

impl MailSide {
    /// The mail side for `settings`; `report` is where reports are gathered.
    pub fn new(name: &'static str, settings: &Settings, report: Option<Target>) -> MailSide {
        let mut side = MailSide {
            queue: None,
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
        queue: MailQueue<Mail>,
        report: Option<Target>,
    ) -> MailSide {
        let reports = report.and_then(|t| ReportWorker::start(t, queue.sender()).ok());
        MailSide {
            queue: Some(queue),
            args_file: Arc::new(Mutex::new(PathBuf::new())),
            reports,
            name,
        }
    }

    fn configure(&mut self, settings: &Settings, report: Option<Target>) {
        if let Ok(mut p) = self.args_file.lock() {
            *p = settings.general.sendmail_settings_path.clone();
        }
        match (settings.general.sendmail, self.queue.is_some()) {
            (true, false) => self.queue = start_queue(Arc::clone(&self.args_file)),
            (false, true) => {
                log::info!(
                    "{}: sendmail is off now; mail still queued is dropped",
                    self.name
                );
                if let Some(r) = self.reports.take() {
                    r.finish(Instant::now());
                }
                if let Some(q) = self.queue.take() {
                    q.shutdown(Instant::now());
                }
            }
            _ => {}
        }
        if let (Some(q), Some(target)) = (&self.queue, report) {
            match &self.reports {
                Some(w) => {
                    if let Ok(mut t) = w.target.lock() {
                        *t = target;
                    }
                }
                None => match ReportWorker::start(target, q.sender()) {
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

    /// The mail queue's counters (`None` when mail is off).
    pub(crate) fn stats(&self) -> Option<crate::mailqueue::QueueStats> {
        self.queue.as_ref().map(MailQueue::stats)
    }

    /// Hands a decision's mails over; never blocks.
    pub fn send(&self, mails: &[Mail]) {
        if mails.is_empty() {
            return;
        }
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
        let sender = q.sender();
        match &self.reports {
            Some(w) => w.hand_over(mails.to_vec(), &sender),
            None => {
                for m in mails {
                    queue_mail(&sender, m.clone(), None);
                }
            }
        }
    }

    /// Finishes the reports and sends what is queued until `deadline`; a
    /// send still waiting for the server then is abandoned. Returns how
    /// many mails were not sent.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailqueue::MailQueue;

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
        let file = crate::mail::read_args_file(&args).expect("options");
        let _ = std::fs::remove_dir_all(&dir);
        // What send_watcher_mail delivers: args.txt's settings, no failover.
        let sent = file.message_for(&mail_message(&m));
        assert_eq!(sent.failover, None, "failed_node and new_master are none");
        let body = crate::mail::compose_body(&sent, "2026-12-01 10:00:00");
        assert!(!body.contains("Failed Node"), "{body}");
        assert!(body.starts_with("body"), "{body}");
    }

    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }

    #[test]
    fn report_is_appended_as_html_after_the_body() {
        let port = closed_port();
        let target = Target {
            pgpool_host: "127.0.0.1".into(),
            pgpool_port: port,
            connect_timeout: Duration::from_secs(1),
            ..Target::default()
        };
        let report = crate::poolstatus::run(&target, SystemTime::now()).render_text();
        let ok = append_report("fine.<br><br>", &report);
        assert!(
            ok.starts_with("fine.<br><br>Output of: show pool_nodes<br>"),
            "{ok}"
        );
        assert!(ok.contains(&format!("127.0.0.1:{port}")), "{ok}");
        assert!(!ok.contains('\n'), "newlines become <br>: {ok}");
        let err = append_report("<b>failed!</b><br><br>connect refused", &report);
        assert!(
            err.starts_with("<b>failed!</b><br><br>connect refused<br><br>Output of:"),
            "{err}"
        );
    }

    #[test]
    fn the_report_worker_keeps_order_and_never_blocks_the_caller() {
        // The pgpool of the report is a listener that never answers: each
        // report takes its connect_timeout.
        let hang = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = hang.local_addr().expect("addr").port();
        let target = Target {
            pgpool_host: "127.0.0.1".into(),
            pgpool_port: port,
            connect_timeout: Duration::from_millis(700),
            ..Target::default()
        };
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let queue = MailQueue::start(QueueConfig::default(), move |m: &Mail| {
            tx.lock()
                .map_err(|_| "poisoned".to_string())?
                .send((m.subject.clone(), m.body.clone()))
                .map_err(|e| e.to_string())
        })
        .expect("mail thread");
        let side = MailSide::with_queue("pgpwatch", queue, Some(target));
        let down = Mail::new(MailKind::PgpDown, "down".into());
        let error = Mail::new(MailKind::PgpError, "failed!<br><br>why".into()).with_report();
        let up = Mail::new(MailKind::PgpUp, "up".into());
        let t = Instant::now();
        side.send(&[down, error]);
        side.send(&[up]);
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "send waited for the report: {:?}",
            t.elapsed()
        );
        let got: Vec<(String, String)> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(20)).expect("mail"))
            .collect();
        let subjects: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            subjects,
            vec![
                "PGPWATCH - Status Change - PGP Down",
                "PGPWATCH - Error",
                "PGPWATCH - Status Change - PGP Up"
            ],
            "order kept"
        );
        assert!(
            got[1]
                .1
                .starts_with("failed!<br><br>why<br><br>Output of: show pool_nodes<br>"),
            "{}",
            got[1].1
        );
        assert_eq!(got[0].1, "down", "no report on PGP Down");
        assert_eq!(side.finish(Instant::now() + Duration::from_secs(5)), 0);
        drop(hang);
    }
}
