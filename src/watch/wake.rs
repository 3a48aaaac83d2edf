//! Wake-ups: how the fast path ([`super::fast`]) asks the driver for a
//! check now instead of at the next tick of `check_period`. A wake-up only
//! asks; the check that follows decides, as every check does.
//!
//! Wake-ups coalesce: any number of [`Wake::notify`] before the driver
//! looks make one check (the first reason is kept for the log). [`Pace`]
//! keeps checks at least [`MIN_GAP`] apart, counted from the start of the
//! last check, scheduled or woken, so a flapping server cannot make checks
//! run back to back. A wake-up that arrives during a check is kept for
//! after it: the check may have read the world just before it changed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::runner::Stop;

/// The shortest time between the starts of two checks when the second one
/// is a woken one (scheduled checks keep their own period).
pub const MIN_GAP: Duration = Duration::from_millis(100);

/// A wake-up request shared by the fast path's threads and the driver.
#[derive(Clone, Debug, Default)]
pub struct Wake {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Why a check was asked for, until the driver takes it.
    pending: Option<String>,
    /// Requests made (coalesced or not), for the tests and /metrics.
    notified: u64,
    /// Ends the driver's wait at once (the loop's [`Stop`]).
    nudge: Option<Stop>,
}

impl Wake {
    /// A wake-up nobody asked for yet, not attached to a loop (the driver
    /// then notices it at its next idle slice).
    pub fn new() -> Wake {
        Wake::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets [`Wake::notify`] end the loop's wait at once.
    pub fn attach(&self, stop: &Stop) {
        self.lock().nudge = Some(stop.clone());
    }

    /// Asks for a check now, saying why (`the session held to pgpool
    /// 10.0.0.11:5432 broke: ...`); a request already pending keeps its
    /// reason.
    pub fn notify(&self, why: &str) {
        let nudge = {
            let mut g = self.lock();
            g.notified += 1;
            if g.pending.is_none() {
                g.pending = Some(why.to_string());
            }
            g.nudge.clone()
        };
        if let Some(stop) = nudge {
            stop.nudge();
        }
    }

    /// Whether a check is asked for (it stays asked).
    pub fn is_pending(&self) -> bool {
        self.lock().pending.is_some()
    }

    /// Takes the pending request: its reason, or `None` when none.
    pub fn take(&self) -> Option<String> {
        self.lock().pending.take()
    }

    /// How many requests were made so far (coalesced ones included).
    pub fn notified(&self) -> u64 {
        self.lock().notified
    }
}

/// The rate limit of woken checks (pure: the clock is a parameter).
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    gap: Duration,
    last_start: Option<Instant>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace::new(MIN_GAP)
    }
}

impl Pace {
    /// Woken checks at least `gap` after the start of the last check.
    pub fn new(gap: Duration) -> Pace {
        Pace {
            gap,
            last_start: None,
        }
    }

    /// A check (scheduled or woken) started at `now`.
    pub fn started(&mut self, now: Instant) {
        self.last_start = Some(now);
    }

    /// Whether a woken check may start at `now`.
    pub fn allows(&self, now: Instant) -> bool {
        self.last_start
            .is_none_or(|t| now.saturating_duration_since(t) >= self.gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_ups_coalesce_and_keep_the_first_reason() {
        let w = Wake::new();
        assert_eq!(w.take(), None);
        w.notify("pgpool 10.0.0.11:5432: the held session broke");
        w.clone().notify("pgpool 10.0.0.11:5432: no longer accepts");
        w.notify("a third");
        assert!(w.is_pending());
        assert_eq!(w.notified(), 3);
        assert_eq!(
            w.take().as_deref(),
            Some("pgpool 10.0.0.11:5432: the held session broke")
        );
        assert_eq!(w.take(), None, "three requests, one check");
        w.notify("later");
        assert_eq!(w.take().as_deref(), Some("later"));
    }

    #[test]
    fn woken_checks_are_at_least_the_gap_apart() {
        let t0 = Instant::now();
        let mut p = Pace::default();
        assert!(p.allows(t0), "nothing ran yet");
        p.started(t0);
        assert!(!p.allows(t0));
        assert!(!p.allows(t0 + Duration::from_millis(99)));
        assert!(p.allows(t0 + MIN_GAP));
        // A flapping server asking every millisecond gets one check per gap.
        let mut checks = 0;
        let mut now = t0;
        while now < t0 + Duration::from_secs(1) {
            if p.allows(now) {
                p.started(now);
                checks += 1;
            }
            now += Duration::from_millis(1);
        }
        assert_eq!(checks, 9, "1 s of wake-ups after a check at t0");
    }

    #[test]
    fn a_notify_ends_the_loops_wait_at_once() {
        let stop = Stop::new();
        let w = Wake::new();
        w.attach(&stop);
        let waker = w.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            waker.notify("test");
        });
        let started = Instant::now();
        let stopped = stop.wait_timeout(Duration::from_secs(20));
        assert!(!stopped, "a nudge is not a stop");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "woken after {:?}",
            started.elapsed()
        );
        assert!(w.is_pending());
        t.join().expect("waker thread");
    }
}
