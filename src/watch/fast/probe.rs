//! One fast-path thread: watches one server (see the module docs of
//! [`super`]) and wakes the driver when it goes away or comes back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Target;
use crate::cluster::held::{Heard, Held, HeldKind};
use crate::cluster::tcp::{knock, Knock};
use crate::watch::runner::Stop;
use crate::watch::wake::Wake;

/// Time between TCP probes while no session is held.
pub const TCP_POLL: Duration = Duration::from_millis(500);
/// Time between `pg_is_in_recovery()` polls on a held standby session.
pub const PROMOTION_POLL: Duration = Duration::from_millis(500);
/// Longest wait on a held session before the stop flag is looked at.
const LISTEN_SLICE: Duration = Duration::from_secs(1);
/// A TCP probe's own bound (a gate or a server on the LAN answers in
/// microseconds; connect_timeout, when shorter, wins).
const TCP_TIMEOUT: Duration = Duration::from_millis(1000);
/// After a held session broke, how long the port is watched for the
/// server going away before the driver is woken anyway (a server that
/// shuts down closes its sessions a moment before its port: a check in
/// between would meet "the database system is shutting down").
const AFTER_BREAK: Duration = Duration::from_secs(1);
/// The TCP probes' interval in that time.
const AFTER_BREAK_POLL: Duration = Duration::from_millis(20);
/// How long a name's addresses are reused before it is looked up again.
const RESOLVE_EVERY: Duration = Duration::from_secs(60);
/// After a server comes back while the last check could not use it, the
/// driver is woken again after these delays (a server that accepts TCP a
/// moment before it accepts sessions).
const RETRY_AFTER: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// A probe thread's settings and handles.
pub(super) struct Probe {
    pub target: Target,
    /// Whether the session may be held (the last check was answered).
    pub arm: Arc<AtomicBool>,
    /// Counts the checks' updates of `arm` (a re-arm after a break waits
    /// for a check made after it).
    pub generation: Arc<AtomicU64>,
    /// Whether a held standby session polls for a promotion.
    pub poll: Arc<AtomicBool>,
    pub stop: Stop,
    pub wake: Wake,
    /// `connect_timeout`.
    pub timeout: Duration,
    /// `check_period`: the longest backoff after a refused session.
    pub period: Duration,
}

impl Probe {
    fn notify(&self, what: &str) {
        log::debug!("fast path: {} {what}; checking now", self.target.name);
        self.wake.notify(&format!("{} {what}", self.target.name));
    }

    /// The backoff after `n` refused sessions in a row: 1 s, 2 s, 4 s, ...
    /// up to `check_period` (at least 1 s).
    fn backoff(&self, n: u32) -> Duration {
        let cap = self.period.max(Duration::from_secs(1));
        Duration::from_secs(1)
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(cap)
    }

    /// Runs until stopped.
    pub fn run(self) {
        let mut tcp = Tcp::default();
        let mut reachable: Option<bool> = None;
        let mut held: Option<Held> = None;
        let mut refusals = 0u32;
        let mut next_try = Instant::now();
        // After a break: no new session before a check made after it said
        // the server answers.
        let mut broke_at_generation: Option<u64> = None;
        // Extra wake-ups after the server came back (see RETRY_AFTER).
        let mut retries: Vec<Instant> = Vec::new();
        // A pgpool with no backend left accepts connections and logs a
        // FATAL line (`pgpool is not accepting any new connections`) for
        // each, a bare probe's too: while the last check could not use it,
        // its probe knocks no more once the port is seen open; it wakes
        // the driver at RETRY_AFTER and waits for a check to use it.
        let knocks_while_unused = !matches!(self.target.session, Some((_, HeldKind::Pgpool)));
        let mut waiting = false;
        loop {
            if self.stop.is_requested() {
                return;
            }
            if let Some(h) = held.as_mut() {
                if !self.arm.load(Ordering::SeqCst) {
                    held = None;
                    continue;
                }
                let poll = self.poll.load(Ordering::SeqCst);
                let heard = if poll && h.in_recovery == Some(true) {
                    match h.listen(PROMOTION_POLL) {
                        Heard::Quiet => match h.poll_recovery() {
                            Ok(false) => {
                                self.notify("was promoted (pg_is_in_recovery() is false)");
                                Heard::Quiet
                            }
                            Ok(true) => Heard::Quiet,
                            Err(e) => Heard::Broken(e.to_string()),
                        },
                        broken => broken,
                    }
                } else {
                    h.listen(LISTEN_SLICE)
                };
                if let Heard::Broken(why) = heard {
                    held = None;
                    broke_at_generation = Some(self.generation.load(Ordering::SeqCst));
                    let up = self.after_break(&mut tcp);
                    let gone = if up {
                        ""
                    } else {
                        ", and refuses connections now"
                    };
                    self.notify(&format!("ended the session held to it ({why}){gone}"));
                    reachable = Some(up);
                    next_try = Instant::now();
                }
                continue;
            }
            let now = Instant::now();
            let arm = self.arm.load(Ordering::SeqCst);
            // A server whose session may be held was answering the check
            // just made: its first probe is the session itself (no TCP probe
            // and, to a node with TLS on, no TLS handshake for nothing).
            let first_look = reachable.is_none() && arm && self.target.session.is_some();
            let up = if (waiting && !arm) || first_look {
                true
            } else {
                tcp.accepts(&self.target, self.timeout.min(TCP_TIMEOUT))
            };
            waiting = false;
            match reachable {
                Some(false) if up && self.target.wake_on_accept => {
                    self.notify("accepts connections again");
                    retries = RETRY_AFTER.iter().map(|d| now + *d).collect();
                }
                Some(true) if !up => {
                    self.notify("no longer accepts connections");
                    retries.clear();
                }
                _ => {}
            }
            reachable = Some(up);
            if arm {
                retries.clear();
            } else if retries.first().is_some_and(|t| now >= *t) {
                retries.remove(0);
                self.notify("accepts connections, but the last check could not use it");
            }
            let checked_since_break =
                broke_at_generation.is_none_or(|g| self.generation.load(Ordering::SeqCst) > g);
            if let (true, true, Some((ep, kind))) = (up, arm, &self.target.session) {
                if now >= next_try && checked_since_break {
                    broke_at_generation = None;
                    match Held::open(ep, self.timeout, *kind) {
                        Ok(h) => {
                            refusals = 0;
                            held = Some(h);
                            continue;
                        }
                        Err(e) => {
                            refusals += 1;
                            next_try = Instant::now() + self.backoff(refusals);
                            log::debug!(
                                "fast path: cannot hold a session to {}: {e}; trying again in {:?}",
                                self.target.name,
                                self.backoff(refusals)
                            );
                        }
                    }
                }
            }
            if up && !arm && !knocks_while_unused {
                waiting = true;
                let until = retries.first().copied();
                while !self.arm.load(Ordering::SeqCst) && until.is_none_or(|t| Instant::now() < t) {
                    if self.stop.wait_timeout(TCP_POLL) {
                        return;
                    }
                }
                continue;
            }
            if self.stop.wait_timeout(TCP_POLL) {
                return;
            }
        }
    }
}

impl Probe {
    /// Right after the held session broke: watches the port for up to
    /// [`AFTER_BREAK`]; returns whether it still accepts.
    fn after_break(&self, tcp: &mut Tcp) -> bool {
        let broke = Instant::now();
        loop {
            if !tcp.accepts(&self.target, self.timeout.min(TCP_TIMEOUT)) {
                return false;
            }
            if broke.elapsed() >= AFTER_BREAK || self.stop.wait_timeout(AFTER_BREAK_POLL) {
                return true;
            }
        }
    }
}

/// TCP probes with the target's addresses looked up once a minute, each
/// closed the way the target's server logs nothing for
/// ([`crate::cluster::tcp::Knock`]).
#[derive(Default)]
struct Tcp {
    addrs: Vec<SocketAddr>,
    looked_up: Option<Instant>,
}

impl Tcp {
    /// Whether `target` accepts a TCP connection within `timeout` (closed
    /// at once, so that neither pgpool nor PostgreSQL logs it).
    fn accepts(&mut self, target: &Target, timeout: Duration) -> bool {
        let stale = self
            .looked_up
            .is_none_or(|t| t.elapsed() >= RESOLVE_EVERY || self.addrs.is_empty());
        if stale {
            self.looked_up = Some(Instant::now());
            self.addrs = crate::plumbing::deadline::resolve(&target.host, target.port, timeout)
                .unwrap_or_default();
        }
        let how = quiet_knock(target);
        self.addrs.iter().any(|a| knock(a, timeout, how).is_ok())
    }
}

/// How `target`'s probes close ([`Knock`]): a PostgreSQL node's after a
/// TLS request (PostgreSQL before 12 logs a connection closed without a
/// byte, and every version one closed after answering `S`: such a node gets
/// a TLS handshake first); a pgpool's or a gate's without a byte (pgpool
/// logs nothing for it, the gate is ours).
fn quiet_knock(target: &Target) -> Knock {
    match &target.session {
        Some((_, HeldKind::Postgres)) => Knock::TlsRequest,
        _ => Knock::Bare,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_sessions_back_off_to_the_check_period() {
        let p = Probe {
            target: Target {
                name: "pgpool 127.0.0.1:1".into(),
                host: "127.0.0.1".into(),
                port: 1,
                session: None,
                wake_on_accept: true,
            },
            arm: Arc::new(AtomicBool::new(true)),
            generation: Arc::new(AtomicU64::new(0)),
            poll: Arc::new(AtomicBool::new(false)),
            stop: Stop::new(),
            wake: Wake::new(),
            timeout: Duration::from_secs(2),
            period: Duration::from_secs(10),
        };
        let secs: Vec<u64> = (1..=6).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
        assert_eq!(p.backoff(1000).as_secs(), 10, "no overflow");
    }

    #[test]
    fn a_port_that_opens_and_closes_wakes_once_each_way() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let wake = Wake::new();
        let stop = Stop::new();
        let p = Probe {
            target: Target {
                name: format!("gate 127.0.0.1:{port}"),
                host: "127.0.0.1".into(),
                port,
                session: None,
                wake_on_accept: true,
            },
            arm: Arc::new(AtomicBool::new(true)),
            generation: Arc::new(AtomicU64::new(0)),
            poll: Arc::new(AtomicBool::new(false)),
            stop: stop.clone(),
            wake: wake.clone(),
            timeout: Duration::from_secs(1),
            period: Duration::from_secs(10),
        };
        let t = std::thread::spawn(move || p.run());
        let within = |what: &str, f: &dyn Fn() -> bool| {
            let end = Instant::now() + Duration::from_secs(10);
            while !f() {
                assert!(Instant::now() < end, "{what} within 10 s");
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        // The first look wakes nobody; then the port opens.
        std::thread::sleep(TCP_POLL * 2);
        assert_eq!(wake.take(), None, "the first look is no change");
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind");
        within("a wake-up on open", &|| wake.is_pending());
        let why = wake.take().unwrap_or_default();
        assert!(why.ends_with("accepts connections again"), "{why}");
        drop(listener);
        within("a wake-up on close", &|| wake.is_pending());
        let why = wake.take().unwrap_or_default();
        assert!(why.ends_with("no longer accepts connections"), "{why}");
        stop.request();
        t.join().expect("probe thread");
        assert_eq!(wake.notified(), 2, "one wake-up each way");
    }

    /// Connections a listener on 127.0.0.1 accepted (and closed), counted.
    fn counting_listener() -> (u16, Arc<AtomicU64>, Stop) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let count = Arc::new(AtomicU64::new(0));
        let stop = Stop::new();
        let (c, s) = (count.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.wait_timeout(Duration::from_millis(5)) {
                while listener.accept().is_ok() {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        (port, count, stop)
    }

    #[test]
    fn an_unused_pgpool_that_accepts_is_knocked_once_a_node_on_every_poll() {
        let probe_of = |port: u16, kind: HeldKind, stop: &Stop| Probe {
            target: Target {
                name: format!("x 127.0.0.1:{port}"),
                host: "127.0.0.1".into(),
                port,
                session: Some((
                    crate::cluster::Endpoint::new(
                        "127.0.0.1",
                        port,
                        "u",
                        "d",
                        None,
                        Default::default(),
                    ),
                    kind,
                )),
                wake_on_accept: kind == HeldKind::Pgpool,
            },
            arm: Arc::new(AtomicBool::new(false)),
            generation: Arc::new(AtomicU64::new(0)),
            poll: Arc::new(AtomicBool::new(false)),
            stop: stop.clone(),
            wake: Wake::new(),
            timeout: Duration::from_secs(1),
            period: Duration::from_secs(10),
        };
        let (pool_port, pool_count, pool_srv) = counting_listener();
        let (node_port, node_count, node_srv) = counting_listener();
        let stop = Stop::new();
        let threads = [
            std::thread::spawn({
                let p = probe_of(pool_port, HeldKind::Pgpool, &stop);
                move || p.run()
            }),
            std::thread::spawn({
                let p = probe_of(node_port, HeldKind::Postgres, &stop);
                move || p.run()
            }),
        ];
        let end = Instant::now() + Duration::from_secs(10);
        while node_count.load(Ordering::SeqCst) < 4 {
            assert!(Instant::now() < end, "the node is polled every TCP_POLL");
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.request();
        for t in threads {
            t.join().expect("probe thread");
        }
        pool_srv.request();
        node_srv.request();
        assert_eq!(
            pool_count.load(Ordering::SeqCst),
            1,
            "a pgpool the checks cannot use is knocked once, then left to them"
        );
    }
}
