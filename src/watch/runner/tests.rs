//! Unit tests of the parent module.

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

/// Wakes the loop (Flow::CheckNow) at the idle calls listed.
struct Woken<'a> {
    clock: &'a FakeClock,
    starts: Vec<Instant>,
    idles: u64,
    wake_at_idle: Vec<u64>,
    stop_after: u64,
}

impl Cycle for Woken<'_> {
    fn run_cycle(&mut self, n: u64) -> Flow {
        self.starts.push(self.clock.now());
        self.clock.advance(Duration::from_millis(30));
        if n >= self.stop_after {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
    fn idle(&mut self) -> Flow {
        self.idles += 1;
        if self.wake_at_idle.contains(&self.idles) {
            Flow::CheckNow
        } else {
            Flow::Continue
        }
    }
}

#[test]
fn a_woken_check_runs_at_once_and_leaves_the_schedule_where_it_was() {
    let clock = FakeClock::new();
    let t0 = clock.now();
    // Period 1 s, slices of 0.1 s: the 3rd idle call is ~0.33 s in.
    let mut w = Woken {
        clock: &clock,
        starts: Vec::new(),
        idles: 0,
        wake_at_idle: vec![3],
        stop_after: 3,
    };
    let stats = run(&clock, Duration::from_secs(1), &Stop::new(), &mut w);
    assert_eq!(stats.cycles, 3);
    assert_eq!(stats.woken, 1);
    let at: Vec<u128> = w.starts.iter().map(|s| (*s - t0).as_millis()).collect();
    // 0: first check (30 ms); idles at 130, 230, 330 ms: woken check at
    // 330; the scheduled one still at 1000.
    assert_eq!(at, [0, 330, 1000], "check starts (ms)");
    assert_eq!(stats.skipped, 0);
}
