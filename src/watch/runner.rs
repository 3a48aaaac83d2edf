//! The watchers' fixed-rate loop. The original slept `check_period` after
//! each check, so the rate drifted by the check's own duration and a hung
//! check stopped everything. Here cycle k starts at `start + k * period`
//! (`next += period`); a cycle that overruns its slot is logged and the loop
//! resumes at the next slot still in the future, so the schedule never
//! drifts and never bursts to catch up.
//!
//! Sleeping is interruptible: [`Stop`] wakes a waiting loop at once when
//! stop is requested from a thread or when [`Stop::nudge`] asks for an
//! early look (the fast path's wake-ups, [`super::wake`]), and polls the flags a signal handler
//! sets (which cannot notify a Condvar) every [`SLICE`], so SIGTERM ends the
//! loop within that time. The clock is a parameter ([`Clock`]) so tests run
//! hours of schedule without sleeping.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Longest uninterrupted sleep while external (signal) flags are watched,
/// and the interval at which [`Cycle::idle`] is called.
pub const SLICE: Duration = Duration::from_millis(100);

/// A stop request shared by the loop and whoever ends it.
#[derive(Clone, Debug)]
pub struct Stop {
    inner: Arc<StopInner>,
}

#[derive(Debug)]
struct StopInner {
    requested: Mutex<Requests>,
    cv: Condvar,
    /// Flags set by signal handlers; any of them set means stop.
    external: Vec<&'static AtomicBool>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    /// A stop request nobody has made yet.
    pub fn new() -> Stop {
        Stop::watching(&[])
    }

    /// Also counts as requested once any of `flags` is set (signal flags).
    pub fn watching(flags: &[&'static AtomicBool]) -> Stop {
        Stop {
            inner: Arc::new(StopInner {
                requested: Mutex::new(Requests::default()),
                cv: Condvar::new(),
                external: flags.to_vec(),
            }),
        }
    }

    /// Requests the stop and wakes every waiter.
    pub fn request(&self) {
        let mut g = match self.inner.requested.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.stop = true;
        self.inner.cv.notify_all();
    }

    /// Ends the current (or next) [`Stop::wait_timeout`] early, once,
    /// without asking for a stop: the loop then calls [`Cycle::idle`] at
    /// once instead of at the end of its slice.
    pub fn nudge(&self) {
        let mut g = match self.inner.requested.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.nudged = true;
        self.inner.cv.notify_all();
    }

    /// Whether stop was requested (here or through a watched flag).
    pub fn is_requested(&self) -> bool {
        let own = match self.inner.requested.lock() {
            Ok(g) => g.stop,
            Err(p) => p.into_inner().stop,
        };
        own || self.inner.external.iter().any(|f| f.load(Ordering::SeqCst))
    }

    /// Sleeps up to `timeout` (at most [`SLICE`] when flags are watched),
    /// or until stopped or nudged; returns whether stop is requested.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let timeout = if self.inner.external.is_empty() {
            timeout
        } else {
            timeout.min(SLICE)
        };
        if self.is_requested() {
            return true;
        }
        let g = match self.inner.requested.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // The guard must be gone before `is_requested` locks again.
        let own = match self
            .inner
            .cv
            .wait_timeout_while(g, timeout, |r| !r.stop && !r.nudged)
        {
            Ok((mut g, _)) => {
                g.nudged = false;
                g.stop
            }
            Err(p) => {
                let mut g = p.into_inner().0;
                g.nudged = false;
                g.stop
            }
        };
        own || self.is_requested()
    }
}

/// What the waiters are asked, under one lock.
#[derive(Debug, Default, Clone, Copy)]
struct Requests {
    /// Stop for good.
    stop: bool,
    /// End the current wait early, once ([`Stop::nudge`]).
    nudged: bool,
}

/// Time as the loop sees it.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits up to `timeout` or until stop; returns whether stop is requested.
    fn wait(&self, stop: &Stop, timeout: Duration) -> bool;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wait(&self, stop: &Stop, timeout: Duration) -> bool {
        stop.wait_timeout(timeout)
    }
}

/// What a cycle tells the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going at the same period.
    Continue,
    /// Keep going at a new period (after a reload), counted from now.
    Reschedule(Duration),
    /// (From [`Cycle::idle`]) run a check now, off the schedule: the fast
    /// path saw the world change. The schedule's next slot stays where it
    /// was.
    CheckNow,
    /// Leave the loop.
    Stop,
}

/// The work the loop drives.
pub trait Cycle {
    /// One check; `n` counts from 1.
    fn run_cycle(&mut self, n: u64) -> Flow;
    /// Called at least every [`SLICE`] while waiting (watchdog pings, a
    /// reload requested by SIGHUP); may reschedule or stop the loop.
    fn idle(&mut self) -> Flow {
        Flow::Continue
    }
}

/// Where the loop stands between cycles: the next deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    period: Duration,
    next: Instant,
}

impl Schedule {
    /// The first cycle runs at `start`.
    pub fn new(start: Instant, period: Duration) -> Schedule {
        // A zero period would spin: at least one millisecond.
        let period = period.max(Duration::from_millis(1));
        Schedule {
            period,
            next: start,
        }
    }

    /// The deadline of the next cycle.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// After the cycle due at `self.next()` ended at `now`: moves to the
    /// next slot in the future and returns how many slots were skipped
    /// because the cycle overran (0 normally).
    pub fn advance(&mut self, now: Instant) -> u64 {
        self.next = later(self.next, self.period);
        if now < self.next {
            return 0;
        }
        let behind = now.duration_since(self.next).as_nanos();
        let skip = behind / self.period.as_nanos() + 1;
        let skip32 = u32::try_from(skip).unwrap_or(u32::MAX);
        self.next = later(self.next, self.period.saturating_mul(skip32));
        u64::from(skip32)
    }

    /// Switches to `period`, the next cycle one period after `now`.
    pub fn reschedule(&mut self, now: Instant, period: Duration) {
        self.period = period.max(Duration::from_millis(1));
        self.next = later(now, self.period);
    }

    /// Switches to `period` between cycles: the next cycle comes no later
    /// than it was due, and no later than one new period from `now`.
    pub fn reschedule_between(&mut self, now: Instant, period: Duration) {
        let due = self.next;
        self.reschedule(now, period);
        self.next = self.next.min(due.max(now));
    }
}

/// `t + d`, or a day past `t` when that cannot be represented (a period
/// too large for the platform's clock must not panic the loop).
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(t)
}

/// What a loop did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunStats {
    /// Cycles run.
    pub cycles: u64,
    /// Slots skipped because a cycle overran.
    pub skipped: u64,
    /// Of the cycles, those run off the schedule ([`Flow::CheckNow`]).
    pub woken: u64,
}

/// Runs `work` at a fixed rate until it returns [`Flow::Stop`] or `stop`
/// is requested. The first cycle runs at once.
pub fn run(clock: &dyn Clock, period: Duration, stop: &Stop, work: &mut dyn Cycle) -> RunStats {
    let mut schedule = Schedule::new(clock.now(), period);
    let mut stats = RunStats::default();
    let mut woken = false;
    loop {
        if stop.is_requested() {
            return stats;
        }
        let started = clock.now();
        stats.cycles += 1;
        let flow = work.run_cycle(stats.cycles);
        let now = clock.now();
        match flow {
            Flow::Stop => return stats,
            Flow::Reschedule(p) => schedule.reschedule(now, p),
            // A woken check that ended before the slot: the slot stays.
            Flow::Continue | Flow::CheckNow if woken && now < schedule.next() => {}
            Flow::Continue | Flow::CheckNow => {
                let skipped = schedule.advance(now);
                if skipped > 0 {
                    stats.skipped += skipped;
                    log::warn!(
                        "cycle {} took {:.3}s, longer than the {:.3}s period; skipping {} slot(s)",
                        stats.cycles,
                        now.duration_since(started).as_secs_f64(),
                        schedule.period().as_secs_f64(),
                        skipped
                    );
                }
            }
        }
        woken = false;
        // Sleep until the deadline in slices, pinging idle work.
        loop {
            let now = clock.now();
            if now >= schedule.next() {
                break;
            }
            let left = schedule.next().duration_since(now).min(SLICE);
            if clock.wait(stop, left) {
                return stats;
            }
            match work.idle() {
                Flow::Continue => {}
                Flow::CheckNow => {
                    woken = true;
                    stats.woken += 1;
                    break;
                }
                Flow::Stop => return stats,
                Flow::Reschedule(p) => schedule.reschedule_between(clock.now(), p),
            }
        }
    }
}

#[cfg(test)]
mod tests;
