//! The fast path (`[general] fast_path`, on by default): between the
//! checks of `check_period`, one thread per watched server notices the
//! moment that server goes away or comes back and wakes the driver
//! ([`super::wake`]) for a full check at once. It never decides: the check
//! it triggers does, with the same rules, rise and fall as every other
//! check (a woken check counts as one).
//!
//! What each watcher watches ([`targets`]):
//! - pgpwatch: one idle session held to its pgpool while pgpool answers
//!   ([`crate::cluster::held`]); it breaks when pgpool stops, crashes, or
//!   restarts its children (a failover). While pgpool refuses
//!   connections, a TCP connect every [`probe::TCP_POLL`] notices it
//!   accepting again; one that accepts while the checks cannot use it (no
//!   backend: pgpool logs a FATAL line for every connection) is left to
//!   the checks after the retry wake-ups.
//! - repmgrwatch: a TCP connect to each pgpool's gate every
//!   [`probe::TCP_POLL`], waking when one opens or closes; and one session
//!   held per active database node, breaking when the node stops or
//!   crashes, and on a standby `SELECT pg_is_in_recovery()` every
//!   [`probe::PROMOTION_POLL`] to hear of a promotion.
//!
//! Each TCP probe is closed the way the server logs nothing for
//! ([`crate::cluster::tcp::Knock`]): without a byte to a pgpool or gate, and
//! after a TLS request and its answer (and a TLS handshake when the node
//! offers TLS) to a database node: PostgreSQL before 12 logs a connection
//! closed without a byte, every version one closed after answering `S`.
//!
//! Costs per watched server: at most one held session, re-armed with a
//! backoff after it breaks (never a spin; re-arm failures are logged at
//! debug level only). Sessions the server refuses are retried at most once
//! per `check_period` so they add no more error lines than the checks.
//! What it cannot see: a frozen server (SIGSTOP) keeps its sessions and
//! still completes TCP handshakes, so it is seen by the next check, bounded
//! by `connect_timeout` as before.

mod probe;
pub mod targets;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::runner::Stop;
use super::wake::{Pace, Wake};
use crate::cluster::held::HeldKind;
use crate::cluster::Endpoint;

/// One server the fast path watches.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// How wake-up lines name it (`pgpool 10.0.0.11:5432`).
    pub name: String,
    /// Where its TCP probe connects.
    pub host: String,
    pub port: u16,
    /// Hold a session there (and of what kind); `None`: TCP probes only.
    pub session: Option<(Endpoint, HeldKind)>,
    /// Wake when its port accepts connections again. Off for a database
    /// node: PostgreSQL opens its port before it takes sessions, and a
    /// check then would meet "the database system is starting up" (its
    /// return is seen by the next check).
    pub wake_on_accept: bool,
}

/// A target and what its probe does now (changed at every check without
/// restarting the probe).
#[derive(Debug, Clone, PartialEq)]
pub struct Aim {
    pub target: Target,
    /// The session may be held: only while the last check was answered by
    /// the server, so a server that refuses sessions is not asked more
    /// often than by the checks.
    pub hold: bool,
    /// On a held standby session, poll `pg_is_in_recovery()` to hear of a
    /// promotion (repmgrwatch: only while it matters for the gate, no
    /// pgpool up or force_open, so a healthy cluster costs no queries).
    pub poll_promotion: bool,
}

/// A running probe thread.
struct Running {
    target: Target,
    arm: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    poll: Arc<AtomicBool>,
    stop: Stop,
    join: JoinHandle<()>,
}

/// The fast path of one watcher: its probe threads and the wake-up they
/// share with the driver.
pub struct FastPath {
    wake: Wake,
    pace: Pace,
    /// `connect_timeout`: bounds each session's connect.
    timeout: Duration,
    /// `check_period`: the longest re-arm backoff.
    period: Duration,
    running: Vec<Running>,
    /// Threads asked to stop, not yet ended (reaped at each update).
    leaving: Vec<JoinHandle<()>>,
}

impl FastPath {
    /// A fast path with no targets yet.
    pub fn new(timeout: Duration, period: Duration) -> FastPath {
        FastPath {
            wake: Wake::new(),
            pace: Pace::default(),
            timeout,
            period,
            running: Vec::new(),
            leaving: Vec::new(),
        }
    }

    /// The wake-up its threads send (the driver attaches its loop to it).
    pub fn wake(&self) -> &Wake {
        &self.wake
    }

    /// A check started at `now` (scheduled or woken): the rate limit
    /// counts from it, and a wake-up pending from before is answered by it.
    pub fn check_started(&mut self, now: Instant) {
        self.pace.started(now);
        self.wake.take();
    }

    /// Why a check should run now, if one should (pending and allowed by
    /// the rate limit).
    pub fn due(&mut self, now: Instant) -> Option<String> {
        if self.wake.is_pending() && self.pace.allows(now) {
            self.wake.take()
        } else {
            None
        }
    }

    /// The settings changed (SIGHUP): probes restart with the new ones at
    /// the next [`FastPath::update`].
    pub fn retime(&mut self, timeout: Duration, period: Duration) {
        if (timeout, period) != (self.timeout, self.period) {
            self.timeout = timeout;
            self.period = period;
            self.stop_all();
        }
    }

    /// Watches `aims` from now on: probes of targets no longer named stop,
    /// new ones start, the others only learn whether they may hold their
    /// session.
    pub fn update(&mut self, aims: Vec<Aim>) {
        self.leaving.retain(|j| !j.is_finished());
        let (keep, gone): (Vec<Running>, Vec<Running>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|r| aims.iter().any(|a| a.target == r.target));
        self.running = keep;
        for r in gone {
            r.stop.request();
            self.leaving.push(r.join);
        }
        for aim in aims {
            let target = aim.target;
            if let Some(r) = self.running.iter().find(|r| r.target == target) {
                r.arm.store(aim.hold, Ordering::SeqCst);
                r.poll.store(aim.poll_promotion, Ordering::SeqCst);
                r.generation.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            let arm = Arc::new(AtomicBool::new(aim.hold));
            let poll = Arc::new(AtomicBool::new(aim.poll_promotion));
            let generation = Arc::new(AtomicU64::new(0));
            let stop = Stop::new();
            let probe = probe::Probe {
                target: target.clone(),
                arm: arm.clone(),
                generation: generation.clone(),
                poll: poll.clone(),
                stop: stop.clone(),
                wake: self.wake.clone(),
                timeout: self.timeout,
                period: self.period,
            };
            let spawned = std::thread::Builder::new()
                .name(format!("fast {}", target.name))
                .spawn(move || probe.run());
            match spawned {
                Ok(join) => self.running.push(Running {
                    target,
                    arm,
                    generation,
                    poll,
                    stop,
                    join,
                }),
                Err(e) => log::warn!(
                    "fast path: cannot start the thread watching {}: {e}; it is seen by the checks only",
                    target.name
                ),
            }
        }
    }

    fn stop_all(&mut self) {
        for r in self.running.drain(..) {
            r.stop.request();
            self.leaving.push(r.join);
        }
    }

    /// Stops every probe and waits for them until `deadline`; a thread
    /// still inside a connect or a query to a frozen server is left to end
    /// by itself (its socket has keepalives), as the checks' workers are.
    pub fn stop(&mut self, deadline: Instant) {
        self.stop_all();
        while self.leaving.iter().any(|j| !j.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for j in self.leaving.drain(..) {
            if j.is_finished() {
                let _ = j.join();
            }
        }
    }

    /// The targets watched now (tests).
    pub fn targets(&self) -> Vec<&Target> {
        self.running.iter().map(|r| &r.target).collect()
    }
}

impl Drop for FastPath {
    fn drop(&mut self) {
        self.stop(Instant::now() + Duration::from_secs(1));
    }
}
