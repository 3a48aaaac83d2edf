//! Unit tests of the parent module.

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

mod spooled {
    use super::*;
    use crate::mailqueue::spool::{Entry, Spool};
    use std::path::PathBuf;

    struct Permanent;
    impl fmt::Display for Permanent {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "535 login refused")
        }
    }
    impl SendFailure for Permanent {
        fn is_permanent(&self) -> bool {
            true
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("spool-tests")
            .join(format!("queue-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn entry(subject: &str) -> Entry {
        Entry {
            class: Class::StatusChange,
            subject: subject.into(),
            success_layout: false,
            report_pending: false,
            state: None,
            body: "b".into(),
        }
    }

    fn files(d: &std::path::Path) -> usize {
        std::fs::read_dir(d)
            .map(|r| {
                r.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".mail"))
                })
                .count()
            })
            .unwrap_or(0)
    }

    #[test]
    fn a_spooled_mail_is_never_given_up_and_its_file_goes_only_when_sent() {
        let d = dir("kept");
        let (spool, _) = Spool::open(&d).expect("open");
        let spool = Arc::new(spool);
        let accept = Arc::new(AtomicBool::new(false));
        let tries = Arc::new(AtomicU32::new(0));
        let (a2, t2) = (Arc::clone(&accept), Arc::clone(&tries));
        let q = MailQueue::start_spooled(fast(), Some(Arc::clone(&spool)), move |_m: &u32| {
            t2.fetch_add(1, Ordering::SeqCst);
            if a2.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(Permanent)
            }
        })
        .unwrap();
        let id = spool.add(&entry("PGP Down"));
        assert!(id.is_some());
        q.sender()
            .push_spooled("PGP Down", Class::StatusChange, 1, id);
        // A permanent failure and more tries than `attempts` (5): still kept.
        wait_until("7 tries", || tries.load(Ordering::SeqCst) >= 7);
        assert_eq!(files(&d), 1, "kept on disk");
        assert_eq!(q.stats().pending, 1, "still queued");
        assert_eq!(q.stats().permanent, 1, "counted once");
        accept.store(true, Ordering::SeqCst);
        wait_until("sent", || q.stats().sent == 1);
        wait_until("file removed", || files(&d) == 0);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn shutdown_keeps_the_files_and_discarding_removes_them() {
        let d = dir("shutdown");
        let (spool, _) = Spool::open(&d).expect("open");
        let spool = Arc::new(spool);
        let never = |_m: &u32| Err::<(), String>("connection refused".into());
        let q = MailQueue::start_spooled(fast(), Some(Arc::clone(&spool)), never).unwrap();
        q.sender()
            .push_spooled("A", Class::StatusChange, 1, spool.add(&entry("A")));
        assert_eq!(q.shutdown(Instant::now()), 1);
        assert_eq!(files(&d), 1, "the next start sends it");
        let q = MailQueue::start_spooled(fast(), Some(Arc::clone(&spool)), never).unwrap();
        q.sender()
            .push_spooled("B", Class::StatusChange, 2, spool.add(&entry("B")));
        assert_eq!(q.shutdown_discarding(Instant::now()), 1);
        assert_eq!(files(&d), 1, "B removed, A (not in this queue) kept");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_dropped_reminder_takes_its_file_with_it() {
        let d = dir("drop");
        let (spool, _) = Spool::open(&d).expect("open");
        let spool = Arc::new(spool);
        let hold = Arc::new(AtomicBool::new(false));
        let h2 = Arc::clone(&hold);
        let q = MailQueue::start_spooled(fast(), Some(Arc::clone(&spool)), move |_m: &u32| {
            while !h2.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            Ok::<(), String>(())
        })
        .unwrap();
        for i in 0..20 {
            let e = Entry {
                class: Class::Reminder,
                ..entry("Status OK")
            };
            q.sender()
                .push_spooled("Status OK", Class::Reminder, i, spool.add(&e));
        }
        // 8 waiting + 1 in flight; the 11 dropped have no file left.
        assert_eq!(q.stats().dropped, 11);
        assert_eq!(files(&d), 9);
        hold.store(true, Ordering::SeqCst);
        assert!(q.flush(Instant::now() + Duration::from_secs(10)));
        wait_until("all sent and removed", || files(&d) == 0);
        let _ = std::fs::remove_dir_all(&d);
    }
}
