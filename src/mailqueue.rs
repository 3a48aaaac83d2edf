//! Mail leaves the watchers through this queue, sent from its own thread, so
//! a slow or dead mail server never delays a check or the port. The original
//! sent synchronously from the check loop (and waited forever on a dead
//! server).
//!
//! - Bounded: when [`QueueConfig::capacity`] mails wait, the oldest
//!   [`Class::Reminder`] (pgpwatch's Error and Status OK) is dropped, or the
//!   new one when it is a reminder; a [`Class::StatusChange`] mail is never
//!   dropped for a reminder. Only past [`HARD_CAP_FACTOR`] × capacity, all
//!   of them status changes (a mail server gone for hours while the cluster
//!   flaps), the oldest status change goes. Every drop is logged.
//! - Retries with exponential backoff: a failed send is logged with its
//!   reason and retried after `first_backoff`, doubling up to `max_backoff`,
//!   for at most `attempts` tries (defaults: 10 tries over about 5 minutes),
//!   then given up with an error log. A permanent failure
//!   ([`SendFailure::is_permanent`]: args.txt missing, an option it cannot
//!   parse, login refused) is logged once and not retried. Order is kept: while the head mail
//!   waits for its retry the others wait behind it (the server is down for
//!   them too).
//! - [`MailQueue::shutdown`] makes one prompt last try of what is left and
//!   waits until a deadline, then stops and joins the thread.
//! - Durable with a [`spool::Spool`]: a mail pushed with its spool id has its
//!   file removed once the server accepted it (or the queue dropped it), and
//!   is never given up: after its last try, or a permanent failure (logged
//!   once), it is tried again every `max_backoff` while the process lives
//!   and sent at the next start otherwise.
//!
//! The send function is a closure, so tests need no SMTP server; it must
//! bound its own time (connect and I/O timeouts), since a send in progress
//! cannot be interrupted.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

mod sending;
pub mod spool;

use sending::sender;

use spool::{Spool, SpoolId};

/// Why a try failed, as the queue needs to know it.
pub trait SendFailure: fmt::Display {
    /// True when trying again cannot help (a configuration error, a refused
    /// login, a permanent SMTP reply): the mail is given up at once.
    fn is_permanent(&self) -> bool;
}

/// Plain text reasons (tests, simple senders) are worth a retry.
impl SendFailure for String {
    fn is_permanent(&self) -> bool {
        false
    }
}

impl SendFailure for &str {
    fn is_permanent(&self) -> bool {
        false
    }
}

/// What a mail is to the operators, for the choice of what a full queue drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A port moved or the cluster changed state: never dropped for a reminder.
    StatusChange,
    /// A repeat or periodic mail (Error reminders, Status OK): dropped first.
    Reminder,
}

/// The queue holds at most this many times its capacity of status-change mails.
pub const HARD_CAP_FACTOR: usize = 4;

/// How the queue retries and how much it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Mails waiting at most; beyond this the oldest is dropped.
    pub capacity: usize,
    /// Tries per mail, the first included.
    pub attempts: u32,
    /// Wait after the first failure.
    pub first_backoff: Duration,
    /// Longest wait between tries.
    pub max_backoff: Duration,
}

impl Default for QueueConfig {
    /// 64 mails; 10 tries waiting 2, 4, 8, 16, 32, 64, 64, 64, 64 s
    /// between them: the last try about 5 minutes after the first.
    fn default() -> Self {
        QueueConfig {
            capacity: 64,
            attempts: 10,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(64),
        }
    }
}

impl QueueConfig {
    /// The wait after failed try number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(31);
        self.first_backoff
            .saturating_mul(1u32 << shift)
            .min(self.max_backoff)
    }

    /// Time from the first try to the last one if every try fails.
    #[cfg(test)]
    fn retry_window(&self) -> Duration {
        (1..self.attempts.max(1)).map(|a| self.backoff(a)).sum()
    }
}

/// Counters of a queue.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Mails sent.
    pub sent: u64,
    /// Failed tries (each logged).
    pub failed_tries: u64,
    /// Mails given up after their last try.
    pub given_up: u64,
    /// Mails given up at the first try because the failure was permanent.
    pub permanent: u64,
    /// Mails dropped because the queue was full.
    pub dropped: u64,
    /// Mails still waiting (or being sent).
    pub pending: usize,
}

struct Item<M> {
    label: String,
    class: Class,
    mail: M,
    tries: u32,
    next_try: Instant,
    spooled: Option<SpoolId>,
    /// Spooled and past its last try: retried every `max_backoff`, quietly.
    parked: bool,
}

struct State<M> {
    items: VecDeque<Item<M>>,
    /// The head item was taken out of `items` and is being sent.
    in_flight: bool,
    stopping: bool,
    stats: QueueStats,
}

struct Shared<M> {
    state: Mutex<State<M>>,
    cv: Condvar,
    spool: Option<Arc<Spool>>,
}

impl<M> Shared<M> {
    /// Removes a mail's file when it has one.
    fn unspool(&self, id: Option<SpoolId>) {
        if let (Some(spool), Some(id)) = (&self.spool, id) {
            spool.remove(id);
        }
    }
}

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// A running mail queue. Dropping it stops the thread after a short flush.
pub struct MailQueue<M: Send + 'static> {
    shared: Arc<Shared<M>>,
    config: QueueConfig,
    thread: Option<JoinHandle<()>>,
}

impl<M: Send + 'static> MailQueue<M> {
    /// Starts the sending thread; `send` returns why a try failed.
    pub fn start<F, E>(config: QueueConfig, send: F) -> io::Result<MailQueue<M>>
    where
        F: FnMut(&M) -> Result<(), E> + Send + 'static,
        E: SendFailure,
    {
        MailQueue::start_spooled(config, None, send)
    }

    /// [`MailQueue::start`] with the spool whose files the pushed mails'
    /// ids name ([`MailSender::push_spooled`]).
    pub fn start_spooled<F, E>(
        config: QueueConfig,
        spool: Option<Arc<Spool>>,
        send: F,
    ) -> io::Result<MailQueue<M>>
    where
        F: FnMut(&M) -> Result<(), E> + Send + 'static,
        E: SendFailure,
    {
        let config = QueueConfig {
            capacity: config.capacity.max(1),
            attempts: config.attempts.max(1),
            ..config
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                items: VecDeque::new(),
                in_flight: false,
                stopping: false,
                stats: QueueStats::default(),
            }),
            cv: Condvar::new(),
            spool,
        });
        let thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("mailqueue".into())
                .spawn(move || sender(&shared, config, send))?
        };
        Ok(MailQueue {
            shared,
            config,
            thread: Some(thread),
        })
    }

    /// Queues `mail`; `label` (e.g. the subject) names it in logs. Never
    /// blocks. When the queue is full, what goes is chosen by `class` (see
    /// the module docs).
    pub fn push(&self, label: impl Into<String>, class: Class, mail: M) {
        self.sender().push(label, class, mail)
    }

    /// A handle that queues mail from another thread (the report worker).
    pub fn sender(&self) -> MailSender<M> {
        MailSender {
            shared: Arc::clone(&self.shared),
            config: self.config,
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> QueueStats {
        let st = self.shared.lock();
        QueueStats {
            pending: st.items.len() + usize::from(st.in_flight),
            ..st.stats
        }
    }

    /// Makes every waiting mail due now and waits until the queue is empty
    /// or `deadline` passes; returns whether it emptied.
    pub fn flush(&self, deadline: Instant) -> bool {
        let mut st = self.shared.lock();
        let now = Instant::now();
        for it in st.items.iter_mut() {
            it.next_try = it.next_try.min(now);
        }
        self.shared.cv.notify_all();
        loop {
            if st.items.is_empty() && !st.in_flight {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = match self.shared.cv.wait_timeout(st, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Flushes until `deadline`, then stops and joins the sending thread;
    /// returns how many mails were left unsent (each logged).
    pub fn shutdown(mut self, deadline: Instant) -> usize {
        self.stop(deadline, false)
    }

    /// [`MailQueue::shutdown`], and the mails left are removed from the
    /// spool too (mail switched off by a reload).
    pub fn shutdown_discarding(mut self, deadline: Instant) -> usize {
        self.stop(deadline, true)
    }

    fn stop(&mut self, deadline: Instant, discard: bool) -> usize {
        let Some(thread) = self.thread.take() else {
            return 0;
        };
        self.flush(deadline);
        let mut st = self.shared.lock();
        st.stopping = true;
        self.shared.cv.notify_all();
        // A send in flight cannot be interrupted: wait for it until the
        // deadline (a little past it when it is already gone), then leave it.
        let until = deadline.max(Instant::now() + Duration::from_millis(100));
        while st.in_flight {
            let now = Instant::now();
            if now >= until {
                break;
            }
            st = match self.shared.cv.wait_timeout(st, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        for it in st.items.iter() {
            match (&self.shared.spool, it.spooled) {
                (Some(spool), Some(_)) if !discard => log::warn!(
                    "mail \"{}\" not sent yet: kept in the spool {}, sent at the next start",
                    it.label,
                    spool.dir().display()
                ),
                _ => {
                    log::error!("mail \"{}\" not sent: shutting down", it.label);
                    self.shared.unspool(it.spooled);
                }
            }
        }
        let in_flight = st.in_flight;
        let left = st.items.len() + usize::from(in_flight);
        drop(st);
        if in_flight {
            // Its SMTP timeouts end it; the process is about to exit.
            log::error!(
                "mail queue: a send still waits for the mail server at shutdown; abandoned"
            );
            drop(thread);
        } else if thread.join().is_err() {
            log::error!("mail queue: sending thread panicked");
        }
        left
    }
}

/// Queues mail into a running [`MailQueue`] from any thread.
pub struct MailSender<M: Send + 'static> {
    shared: Arc<Shared<M>>,
    config: QueueConfig,
}

impl<M: Send + 'static> Clone for MailSender<M> {
    fn clone(&self) -> Self {
        MailSender {
            shared: Arc::clone(&self.shared),
            config: self.config,
        }
    }
}

impl<M: Send + 'static> MailSender<M> {
    /// Queues `mail`; `label` (e.g. the subject) names it in logs. Never
    /// blocks. When the queue is full, what goes is chosen by `class` (see
    /// the module docs).
    pub fn push(&self, label: impl Into<String>, class: Class, mail: M) {
        self.push_spooled(label, class, mail, None)
    }

    /// [`MailSender::push`] of a mail whose spool file is `spooled`.
    pub fn push_spooled(
        &self,
        label: impl Into<String>,
        class: Class,
        mail: M,
        spooled: Option<SpoolId>,
    ) {
        let label = label.into();
        let mut st = self.shared.lock();
        let cap = self.config.capacity;
        // A mail in flight is not in `items`: only waiting mails are dropped.
        if st.items.len() >= cap {
            let oldest_reminder = st.items.iter().position(|it| it.class == Class::Reminder);
            match (oldest_reminder, class) {
                (Some(i), _) => {
                    if let Some(old) = st.items.remove(i) {
                        st.stats.dropped += 1;
                        self.shared.unspool(old.spooled);
                        log::warn!(
                            "mail queue full ({cap} mails): dropped the oldest reminder, \"{}\"",
                            old.label
                        );
                    }
                }
                (None, Class::Reminder) => {
                    st.stats.dropped += 1;
                    log::warn!(
                        "mail queue full ({cap} status-change mails): reminder \"{label}\" dropped"
                    );
                    self.shared.unspool(spooled);
                    return;
                }
                (None, Class::StatusChange) => {
                    while st.items.len() >= cap.saturating_mul(HARD_CAP_FACTOR) {
                        match st.items.pop_front() {
                            Some(old) => {
                                st.stats.dropped += 1;
                                self.shared.unspool(old.spooled);
                                log::error!(
                                    "mail queue holds {} status-change mails (the mail server has been away long): dropped the oldest, \"{}\"",
                                    st.items.len() + 1,
                                    old.label
                                );
                            }
                            None => break,
                        }
                    }
                }
            }
        }
        st.items.push_back(Item {
            label,
            class,
            mail,
            tries: 0,
            next_try: Instant::now(),
            spooled,
            parked: false,
        });
        self.shared.cv.notify_all();
    }
}

impl<M: Send + 'static> Drop for MailQueue<M> {
    fn drop(&mut self) {
        self.stop(Instant::now() + Duration::from_secs(2), false);
    }
}

#[cfg(test)]
mod tests;
