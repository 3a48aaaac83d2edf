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
    pub fn retry_window(&self) -> Duration {
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
        self.stop(deadline)
    }

    fn stop(&mut self, deadline: Instant) -> usize {
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
            log::error!("mail \"{}\" not sent: shutting down", it.label);
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
                    return;
                }
                (None, Class::StatusChange) => {
                    while st.items.len() >= cap.saturating_mul(HARD_CAP_FACTOR) {
                        match st.items.pop_front() {
                            Some(old) => {
                                st.stats.dropped += 1;
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
        });
        self.shared.cv.notify_all();
    }
}

impl<M: Send + 'static> Drop for MailQueue<M> {
    fn drop(&mut self) {
        self.stop(Instant::now() + Duration::from_secs(2));
    }
}

fn sender<M, F, E>(shared: &Shared<M>, config: QueueConfig, mut send: F)
where
    F: FnMut(&M) -> Result<(), E>,
    E: SendFailure,
{
    let mut st = shared.lock();
    loop {
        if st.stopping {
            return;
        }
        let now = Instant::now();
        let due = st.items.front().map(|it| it.next_try);
        match due {
            None => {
                st = match shared.cv.wait(st) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                continue;
            }
            Some(t) if t > now => {
                st = match shared.cv.wait_timeout(st, t - now) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
                continue;
            }
            Some(_) => {}
        }
        // Send the head outside the lock.
        st.in_flight = true;
        let Some(head) = st.items.pop_front() else {
            st.in_flight = false;
            continue;
        };
        drop(st);
        let result = send(&head.mail);
        st = shared.lock();
        st.in_flight = false;
        let mut head = head;
        head.tries += 1;
        match result {
            Ok(()) => {
                st.stats.sent += 1;
                if head.tries > 1 {
                    log::info!("mail \"{}\" sent at try {}", head.label, head.tries);
                } else {
                    log::info!("mail \"{}\" sent", head.label);
                }
            }
            Err(e) => {
                st.stats.failed_tries += 1;
                if e.is_permanent() {
                    st.stats.permanent += 1;
                    log::error!(
                        "mail \"{}\" not sent: {e}; not retried (fix this first; later mails will fail the same way)",
                        head.label
                    );
                } else if head.tries >= config.attempts {
                    st.stats.given_up += 1;
                    log::error!(
                        "mail \"{}\": try {} of {} failed: {e}; giving up",
                        head.label,
                        head.tries,
                        config.attempts
                    );
                } else {
                    let wait = config.backoff(head.tries);
                    log::warn!(
                        "mail \"{}\": try {} of {} failed: {e}; retrying in {:.1}s",
                        head.label,
                        head.tries,
                        config.attempts,
                        wait.as_secs_f64()
                    );
                    head.next_try = Instant::now() + wait;
                    st.items.push_front(head);
                }
            }
        }
        shared.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::mpsc;

    fn fast() -> QueueConfig {
        QueueConfig {
            capacity: 8,
            attempts: 5,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        }
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn default_window_is_ten_tries_over_about_five_minutes() {
        let c = QueueConfig::default();
        assert_eq!(c.attempts, 10);
        assert_eq!(c.backoff(1), Duration::from_secs(2));
        assert_eq!(c.backoff(6), Duration::from_secs(64));
        assert_eq!(c.backoff(40), Duration::from_secs(64));
        assert_eq!(c.retry_window(), Duration::from_secs(318));
    }

    #[test]
    fn sends_in_order() {
        let (tx, rx) = mpsc::channel();
        let q = MailQueue::start(fast(), move |m: &u32| {
            tx.send(*m).map_err(|e| e.to_string())
        })
        .unwrap();
        for i in 0..5 {
            q.push(format!("m{i}"), Class::StatusChange, i);
        }
        assert!(q.flush(Instant::now() + Duration::from_secs(10)));
        let got: Vec<u32> = rx.try_iter().collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        assert_eq!(q.stats().sent, 5);
    }

    #[test]
    fn push_never_blocks_while_the_server_hangs() {
        // The send function blocks until released: a hung server.
        let release = Arc::new(AtomicBool::new(false));
        let r2 = Arc::clone(&release);
        let q = MailQueue::start(fast(), move |_m: &u32| {
            while !r2.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            Ok::<(), String>(())
        })
        .unwrap();
        q.push("m", Class::Reminder, 0);
        wait_until("first mail in flight", || q.shared.lock().in_flight);
        let t = Instant::now();
        for i in 1..100 {
            q.push("m", Class::Reminder, i);
        }
        assert!(t.elapsed() < Duration::from_secs(1), "push blocked");
        let st = q.stats();
        assert_eq!(st.pending, 9, "bounded: 8 waiting + 1 in flight");
        assert_eq!(st.dropped, 91, "oldest dropped");
        release.store(true, Ordering::SeqCst);
        assert!(q.flush(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn full_queue_drops_the_oldest_waiting_mail() {
        let (tx, rx) = mpsc::channel::<u32>();
        let gate = Arc::new(AtomicBool::new(false));
        let g2 = Arc::clone(&gate);
        let q = MailQueue::start(fast(), move |m: &u32| {
            while !g2.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            tx.send(*m).map_err(|e| e.to_string())
        })
        .unwrap();
        q.push("first", Class::Reminder, 0);
        // Wait until 0 is in flight, then overfill.
        wait_until("first mail in flight", || q.shared.lock().in_flight);
        for i in 1..=10 {
            q.push("m", Class::Reminder, i);
        }
        gate.store(true, Ordering::SeqCst);
        assert!(q.flush(Instant::now() + Duration::from_secs(10)));
        let got: Vec<u32> = rx.try_iter().collect();
        // 0 was in flight; 1 and 2 dropped; 3..=10 sent.
        assert_eq!(got, vec![0, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(q.stats().dropped, 2);
    }

    #[test]
    fn retries_with_backoff_until_the_server_returns() {
        let tries = Arc::new(AtomicU32::new(0));
        let t2 = Arc::clone(&tries);
        let q = MailQueue::start(fast(), move |_m: &&str| {
            let n = t2.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 3 {
                Err(format!("connect 127.0.0.1:2525: refused (try {n})"))
            } else {
                Ok(())
            }
        })
        .unwrap();
        q.push("PGPWATCH - Error", Class::Reminder, "body");
        wait_until("sent after retries", || q.stats().sent == 1);
        let st = q.stats();
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert_eq!(st.failed_tries, 2);
        assert_eq!(st.given_up, 0);
    }

    #[test]
    fn gives_up_after_the_last_try_and_goes_on() {
        let tries = Arc::new(AtomicU32::new(0));
        let t2 = Arc::clone(&tries);
        let q = MailQueue::start(fast(), move |m: &u32| {
            t2.fetch_add(1, Ordering::SeqCst);
            if *m == 0 {
                Err("550 rejected")
            } else {
                Ok(())
            }
        })
        .unwrap();
        q.push("doomed", Class::StatusChange, 0);
        q.push("fine", Class::StatusChange, 1);
        wait_until("second mail sent", || q.stats().sent == 1);
        let st = q.stats();
        assert_eq!(st.given_up, 1);
        assert_eq!(st.failed_tries, 5);
        assert_eq!(tries.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn shutdown_tries_once_more_at_once_and_joins() {
        let cfg = QueueConfig {
            first_backoff: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(3600),
            ..fast()
        };
        let up = Arc::new(AtomicBool::new(false));
        let u2 = Arc::clone(&up);
        let q = MailQueue::start(cfg, move |_m: &u32| {
            if u2.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("connection refused")
            }
        })
        .unwrap();
        q.push("m", Class::StatusChange, 1);
        wait_until("first try failed", || q.stats().failed_tries == 1);
        // The retry is an hour away; shutdown must try now.
        up.store(true, Ordering::SeqCst);
        let t = Instant::now();
        assert_eq!(q.shutdown(Instant::now() + Duration::from_secs(10)), 0);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn shutdown_with_a_dead_server_returns_by_the_deadline() {
        let cfg = QueueConfig {
            first_backoff: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(3600),
            ..fast()
        };
        let q = MailQueue::start(cfg, |_m: &u32| Err("connection refused")).unwrap();
        for i in 0..3 {
            q.push("m", Class::StatusChange, i);
        }
        let t = Instant::now();
        let left = q.shutdown(Instant::now() + Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(left, 3, "nothing could be sent");
    }

    /// A failure the queue must not retry.
    #[derive(Debug)]
    struct Permanent(&'static str);
    impl fmt::Display for Permanent {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl SendFailure for Permanent {
        fn is_permanent(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_permanent_failure_is_given_up_at_the_first_try() {
        let tries = Arc::new(AtomicU32::new(0));
        let t2 = Arc::clone(&tries);
        let q = MailQueue::start(fast(), move |m: &u32| {
            t2.fetch_add(1, Ordering::SeqCst);
            if *m == 0 {
                Err(Permanent(
                    "/root/pgpoolwatch/args.txt: cannot read: No such file",
                ))
            } else {
                Ok(())
            }
        })
        .unwrap();
        q.push("doomed", Class::StatusChange, 0);
        q.push("fine", Class::StatusChange, 1);
        wait_until("second mail sent", || q.stats().sent == 1);
        let st = q.stats();
        assert_eq!(tries.load(Ordering::SeqCst), 2, "one try each, no retry");
        assert_eq!((st.permanent, st.failed_tries, st.given_up), (1, 1, 0));
    }

    #[test]
    fn a_full_queue_drops_reminders_never_status_changes() {
        let (tx, rx) = mpsc::channel::<u32>();
        let gate = Arc::new(AtomicBool::new(false));
        let g2 = Arc::clone(&gate);
        let q = MailQueue::start(fast(), move |m: &u32| {
            while !g2.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            tx.send(*m).map_err(|e| e.to_string())
        })
        .unwrap();
        q.push("in flight", Class::StatusChange, 0);
        wait_until("first mail in flight", || q.shared.lock().in_flight);
        // Capacity 8: 4 reminders and 4 status changes, interleaved.
        for i in 1..=8 {
            let class = if i % 2 == 1 {
                Class::Reminder
            } else {
                Class::StatusChange
            };
            q.push("m", class, i);
        }
        // Four more status changes push the four reminders out, oldest first.
        for i in 9..=12 {
            q.push("change", Class::StatusChange, i);
        }
        // Full of status changes: a new reminder is the one dropped.
        q.push("reminder", Class::Reminder, 13);
        // A status change still gets in, past capacity.
        q.push("change", Class::StatusChange, 14);
        gate.store(true, Ordering::SeqCst);
        assert!(q.flush(Instant::now() + Duration::from_secs(10)));
        let got: Vec<u32> = rx.try_iter().collect();
        assert_eq!(got, vec![0, 2, 4, 6, 8, 9, 10, 11, 12, 14]);
        assert_eq!(q.stats().dropped, 5);
    }

    #[test]
    fn status_changes_are_capped_only_far_past_capacity() {
        let release = Arc::new(AtomicBool::new(false));
        let r2 = Arc::clone(&release);
        let q = MailQueue::start(fast(), move |_m: &u32| {
            while !r2.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            Ok::<(), String>(())
        })
        .unwrap();
        q.push("m", Class::StatusChange, 0);
        wait_until("first mail in flight", || q.shared.lock().in_flight);
        for i in 1..=100 {
            q.push("m", Class::StatusChange, i);
        }
        let st = q.stats();
        assert_eq!(st.pending, 8 * HARD_CAP_FACTOR + 1, "hard cap + in flight");
        assert_eq!(st.dropped, 100 - 8 * HARD_CAP_FACTOR as u64);
        release.store(true, Ordering::SeqCst);
        assert!(q.flush(Instant::now() + Duration::from_secs(10)));
    }

    #[test]
    fn shutdown_abandons_a_send_that_hangs_past_the_deadline() {
        // A frozen SMTP server: the send never returns by itself.
        let release = Arc::new(AtomicBool::new(false));
        let r2 = Arc::clone(&release);
        let q = MailQueue::start(fast(), move |_m: &u32| {
            while !r2.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(5));
            }
            Ok::<(), String>(())
        })
        .unwrap();
        q.push("stuck", Class::StatusChange, 1);
        q.push("behind it", Class::StatusChange, 2);
        wait_until("first mail in flight", || q.shared.lock().in_flight);
        let t = Instant::now();
        let left = q.shutdown(Instant::now() + Duration::from_millis(300));
        let took = t.elapsed();
        assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
        assert_eq!(left, 2, "the one in flight and the one behind it");
        release.store(true, Ordering::SeqCst);
    }
}
