//! The watchers' fixed-rate loop. The original slept `check_period` after
//! each check, so the rate drifted by the check's own duration and a hung
//! check stopped everything. Here cycle k starts at `start + k * period`
//! (`next += period`); a cycle that overruns its slot is logged and the loop
//! resumes at the next slot still in the future, so the schedule never
//! drifts and never bursts to catch up.
//!
//! Sleeping is interruptible: [`Stop`] wakes a waiting loop at once when
//! stop is requested from a thread, and polls the flags a signal handler
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
    requested: Mutex<bool>,
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
                requested: Mutex::new(false),
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
        *g = true;
        self.inner.cv.notify_all();
    }

    /// Whether stop was requested (here or through a watched flag).
    pub fn is_requested(&self) -> bool {
        let own = match self.inner.requested.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        own || self.inner.external.iter().any(|f| f.load(Ordering::SeqCst))
    }

    /// Sleeps up to `timeout` (at most [`SLICE`] when flags are watched);
    /// returns whether stop is requested.
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
            .wait_timeout_while(g, timeout, |stopped| !*stopped)
        {
            Ok((g, _)) => *g,
            Err(p) => *p.into_inner().0,
        };
        own || self.is_requested()
    }
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
}

/// Runs `work` at a fixed rate until it returns [`Flow::Stop`] or `stop`
/// is requested. The first cycle runs at once.
pub fn run(clock: &dyn Clock, period: Duration, stop: &Stop, work: &mut dyn Cycle) -> RunStats {
    let mut schedule = Schedule::new(clock.now(), period);
    let mut stats = RunStats::default();
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
            Flow::Continue => {
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
                Flow::Stop => return stats,
                Flow::Reschedule(p) => schedule.reschedule_between(clock.now(), p),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::thread;

    /// A clock that moves only when waited on or told to.
    struct FakeClock {
        now: Cell<Instant>,
        waits: Cell<u64>,
    }

    impl FakeClock {
        fn new() -> FakeClock {
            FakeClock {
                now: Cell::new(Instant::now()),
                waits: Cell::new(0),
            }
        }
        fn advance(&self, d: Duration) {
            self.now.set(self.now.get() + d);
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.now.get()
        }
        fn wait(&self, stop: &Stop, timeout: Duration) -> bool {
            self.waits.set(self.waits.get() + 1);
            self.advance(timeout);
            stop.is_requested()
        }
    }

    /// Records cycle start times; each cycle "works" for the given time.
    struct Recorder<'a> {
        clock: &'a FakeClock,
        starts: RefCell<Vec<Instant>>,
        work: Vec<Duration>,
        stop_after: u64,
        idles: u64,
        reschedule_at: Option<(u64, Duration)>,
    }

    impl Cycle for Recorder<'_> {
        fn run_cycle(&mut self, n: u64) -> Flow {
            self.starts.borrow_mut().push(self.clock.now());
            let w = self
                .work
                .get((n - 1) as usize)
                .copied()
                .unwrap_or(Duration::ZERO);
            self.clock.advance(w);
            if n >= self.stop_after {
                return Flow::Stop;
            }
            match self.reschedule_at {
                Some((at, p)) if at == n => Flow::Reschedule(p),
                _ => Flow::Continue,
            }
        }
        fn idle(&mut self) -> Flow {
            self.idles += 1;
            Flow::Continue
        }
    }

    fn recorder(clock: &FakeClock, work: Vec<Duration>, stop_after: u64) -> Recorder<'_> {
        Recorder {
            clock,
            starts: RefCell::new(Vec::new()),
            work,
            stop_after,
            idles: 0,
            reschedule_at: None,
        }
    }

    #[test]
    fn cycles_start_on_fixed_deadlines_without_drift() {
        let clock = FakeClock::new();
        let t0 = clock.now();
        let period = Duration::from_secs(10);
        // Every cycle takes 3.7 s: a sleep-after-work loop would drift 37 s
        // over ten cycles; ours starts each exactly on its slot.
        let mut rec = recorder(&clock, vec![Duration::from_millis(3700); 1000], 1000);
        let stats = run(&clock, period, &Stop::new(), &mut rec);
        assert_eq!(stats.cycles, 1000);
        assert_eq!(stats.skipped, 0);
        for (k, s) in rec.starts.borrow().iter().enumerate() {
            assert_eq!(*s, t0 + period * k as u32, "cycle {} start", k + 1);
        }
        assert!(rec.idles > 0, "idle hook called while waiting");
    }

    #[test]
    fn overrun_is_skipped_to_next_future_slot() {
        let clock = FakeClock::new();
        let t0 = clock.now();
        let p = Duration::from_secs(10);
        // Cycle 2 takes 25 s: slots at 20 s and 30 s are gone, next at 40 s.
        let work = vec![
            Duration::ZERO,
            Duration::from_secs(25),
            Duration::ZERO,
            Duration::ZERO,
        ];
        let mut rec = recorder(&clock, work, 4);
        let stats = run(&clock, p, &Stop::new(), &mut rec);
        let starts: Vec<Duration> = rec.starts.borrow().iter().map(|s| *s - t0).collect();
        assert_eq!(
            starts,
            vec![
                Duration::ZERO,
                Duration::from_secs(10),
                Duration::from_secs(40),
                Duration::from_secs(50)
            ]
        );
        assert_eq!(stats.skipped, 2);
    }

    #[test]
    fn overrun_ending_exactly_on_a_slot_skips_that_slot() {
        let mut s = Schedule::new(Instant::now(), Duration::from_secs(10));
        let t0 = s.next();
        assert_eq!(s.advance(t0 + Duration::from_secs(10)), 1);
        assert_eq!(s.next(), t0 + Duration::from_secs(20));
        assert_eq!(s.advance(t0 + Duration::from_secs(21)), 0);
        assert_eq!(s.next(), t0 + Duration::from_secs(30));
    }

    #[test]
    fn reschedule_counts_from_now() {
        let clock = FakeClock::new();
        let t0 = clock.now();
        let mut rec = recorder(&clock, vec![Duration::from_secs(1); 5], 4);
        rec.reschedule_at = Some((2, Duration::from_secs(3)));
        run(&clock, Duration::from_secs(10), &Stop::new(), &mut rec);
        let starts: Vec<u64> = rec
            .starts
            .borrow()
            .iter()
            .map(|s| (*s - t0).as_secs())
            .collect();
        // 0, 10, then cycle 2 ended at 11: 14, 17.
        assert_eq!(starts, vec![0, 10, 14, 17]);
    }

    #[test]
    fn stop_during_wait_ends_the_loop_without_another_cycle() {
        struct StopInCycle<'a> {
            stop: &'a Stop,
            n: u64,
        }
        impl Cycle for StopInCycle<'_> {
            fn run_cycle(&mut self, n: u64) -> Flow {
                self.n = n;
                if n == 3 {
                    self.stop.request();
                }
                Flow::Continue
            }
        }
        let clock = FakeClock::new();
        let stop = Stop::new();
        let mut w = StopInCycle { stop: &stop, n: 0 };
        let stats = run(&clock, Duration::from_secs(10), &stop, &mut w);
        assert_eq!(stats.cycles, 3);
        assert_eq!(w.n, 3);
    }

    /// Tells the test thread when its first cycle ran.
    struct Announce(std::sync::mpsc::Sender<u64>);
    impl Cycle for Announce {
        fn run_cycle(&mut self, n: u64) -> Flow {
            let _ = self.0.send(n);
            Flow::Continue
        }
    }

    #[test]
    fn real_clock_stop_from_another_thread_is_prompt() {
        let stop = Stop::new();
        let s2 = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = thread::spawn(move || {
            run(
                &SystemClock,
                Duration::from_secs(3600),
                &s2,
                &mut Announce(tx),
            )
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
        let asked = Instant::now();
        stop.request();
        let stats = t.join().expect("loop thread");
        assert_eq!(stats.cycles, 1);
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "stop took {:?}",
            asked.elapsed()
        );
    }

    #[test]
    fn watched_signal_flag_stops_a_waiting_loop_within_a_slice() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        let stop = Stop::watching(&[&FLAG]);
        let (tx, rx) = std::sync::mpsc::channel();
        let t = thread::spawn(move || {
            run(
                &SystemClock,
                Duration::from_secs(3600),
                &stop,
                &mut Announce(tx),
            )
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
        let set_at = Instant::now();
        FLAG.store(true, Ordering::SeqCst);
        let stats = t.join().expect("loop thread");
        assert_eq!(stats.cycles, 1);
        assert!(
            set_at.elapsed() < SLICE * 20,
            "flag noticed after {:?}",
            set_at.elapsed()
        );
    }

    #[test]
    fn a_period_too_large_for_the_clock_does_not_panic() {
        let now = Instant::now();
        let mut s = Schedule::new(now, Duration::MAX);
        assert_eq!(s.advance(now), 0);
        assert!(s.next() > now);
        s.reschedule(now, Duration::from_secs(u64::MAX / 2));
        assert!(s.next() > now);
    }

    #[test]
    fn reschedule_between_never_delays_the_next_check() {
        let now = Instant::now();
        let mut s = Schedule::new(now, Duration::from_secs(10));
        s.advance(now); // next at +10 s
        let t = now + Duration::from_secs(9);
        s.reschedule_between(t, Duration::from_secs(10));
        assert_eq!(
            s.next(),
            now + Duration::from_secs(10),
            "not pushed past its slot"
        );
        s.reschedule_between(t, Duration::from_millis(500));
        assert_eq!(
            s.next(),
            t + Duration::from_millis(500),
            "a shorter period acts at once"
        );
        assert_eq!(s.period(), Duration::from_millis(500));
    }
}
