//! The report worker in front of the mail queue (see the parent module):
//! it gathers the poolstatus report for the mails that want one, appends
//! it (rewriting the spooled file) and queues every mail, in order.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use super::{append_report, entry, mail_message, REPORT_BACKLOG};
use crate::mail::Message;
use crate::mailqueue::spool::{Spool, SpoolId};
use crate::mailqueue::MailSender;
use crate::poolstatus::Target;
use crate::watch::decision::Mail;

/// A mail on its way to the queue: its spool file and the gate state of
/// its decision (to rewrite the file when the report is appended).
pub(super) struct Pending {
    pub(super) mail: Mail,
    pub(super) id: Option<SpoolId>,
    pub(super) state: Option<String>,
}

/// The report worker: gathers poolstatus reports for the mails that want
/// one and queues every mail it is handed, in order.
pub(super) struct ReportWorker {
    jobs: Option<SyncSender<Vec<Pending>>>,
    pub(super) target: Arc<Mutex<Target>>,
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
}

impl ReportWorker {
    pub(super) fn start(
        target: Target,
        queue: MailSender<Message>,
        spool: Option<Arc<Spool>>,
    ) -> std::io::Result<ReportWorker> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Pending>>(REPORT_BACKLOG);
        let (done_tx, done) = mpsc::channel();
        let target = Arc::new(Mutex::new(target));
        let t = Arc::clone(&target);
        let thread = thread::Builder::new()
            .name("mail-report".into())
            .spawn(move || {
                for mails in rx {
                    let report = mails.iter().any(|p| p.mail.with_report).then(|| {
                        let target = match t.lock() {
                            Ok(g) => g.clone(),
                            Err(p) => p.into_inner().clone(),
                        };
                        crate::poolstatus::run(&target, SystemTime::now()).render_text()
                    });
                    for p in mails {
                        queue_mail(&queue, spool.as_deref(), p, report.as_deref());
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
    pub(super) fn hand_over(
        &self,
        mails: Vec<Pending>,
        queue: &MailSender<Message>,
        spool: Option<&Spool>,
    ) {
        let Some(jobs) = &self.jobs else { return };
        match jobs.try_send(mails) {
            Ok(()) => {}
            Err(TrySendError::Full(mails)) | Err(TrySendError::Disconnected(mails)) => {
                log::warn!(
                    "mail report: {REPORT_BACKLOG} reports still being gathered; these mails go without one"
                );
                for p in mails {
                    queue_mail(
                        queue,
                        spool,
                        p,
                        Some(
                            "(poolstatus report skipped: earlier reports are still being gathered)",
                        ),
                    );
                }
            }
        }
    }

    /// Lets the worker finish what it holds until `deadline`.
    pub(super) fn finish(mut self, deadline: Instant) {
        self.jobs = None;
        let left = deadline.saturating_duration_since(Instant::now());
        match self.done.recv_timeout(left.max(Duration::from_millis(100))) {
            Ok(()) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
            Err(_) => log::error!(
                "mail report: a report is still being gathered at shutdown; its mail is not sent now (it stays in the spool, if any)"
            ),
        }
    }
}

/// Appends the report to a mail that wants one (rewriting its spool file)
/// and queues it.
pub(super) fn queue_mail(
    queue: &MailSender<Message>,
    spool: Option<&Spool>,
    mut p: Pending,
    report: Option<&str>,
) {
    if p.mail.with_report {
        if let Some(r) = report {
            p.mail.body = append_report(&p.mail.body, r);
        }
        p.mail.with_report = false;
        if let (Some(spool), Some(id)) = (spool, p.id) {
            spool.replace(id, &entry(&p.mail, p.state.as_deref()));
        }
    }
    queue.push_spooled(
        p.mail.subject.clone(),
        p.mail.kind.class(),
        mail_message(&p.mail),
        p.id,
    );
}
