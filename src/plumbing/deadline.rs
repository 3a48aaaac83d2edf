//! Bounding a blocking call that has no timeout of its own. Name resolution
//! (`getaddrinfo`) is the one that matters: with a DNS server that does not
//! answer it blocks for the resolver's own timeout times its attempts (10 s
//! and more), whatever connect timeout the caller set. [`resolve`] bounds
//! it by the caller's timeout, so the SMTP server, the pgpools' gates and
//! the ssh hosts are looked up within the same time as their connection.
//!
//! The call runs on a worker thread; on time-out the worker is left to
//! finish by itself (its result is dropped) — a blocked `getaddrinfo`
//! cannot be cancelled.
//!
//! Workers are reused: a thread that finishes its call waits for the next
//! one (at most [`MAX_IDLE`] wait), so a watcher's check does not pay for
//! creating and tearing down a thread per session, which was most of its
//! CPU. A new thread is started only when no idle one is there: at the
//! first calls, for calls made at the same time, and in place of a worker
//! still busy with a call its caller gave up on.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

/// Why [`run_within`] returned without a result.
#[derive(Debug)]
pub enum WithinError {
    /// The call did not finish within the timeout.
    TimedOut(Duration),
    /// No worker thread could be started.
    Spawn(io::Error),
    /// The worker panicked.
    Panicked,
}

impl fmt::Display for WithinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WithinError::TimedOut(d) => {
                write!(
                    f,
                    "no answer within {}",
                    crate::plumbing::net::human_duration(*d)
                )
            }
            WithinError::Spawn(e) => write!(f, "cannot start a thread: {e}"),
            WithinError::Panicked => write!(f, "the worker thread panicked"),
        }
    }
}

impl std::error::Error for WithinError {}

/// A call handed to a worker. It returns the hand-over of its result,
/// which the worker runs once it is back among the idle ones: a caller
/// that got its answer finds the worker ready for its next call.
type Job = Box<dyn FnOnce() -> Delivery + Send + 'static>;
type Delivery = Box<dyn FnOnce() + Send + 'static>;

/// How many workers may wait idle for the next call. A watcher makes its
/// calls one after the other; poolstatus makes one per host at once.
pub const MAX_IDLE: usize = 4;

/// Reusable worker threads: the idle ones, each by the sender of its own
/// queue. [`run_within`] uses the process's one set.
struct Workers {
    idle: Mutex<Vec<mpsc::Sender<Job>>>,
    max_idle: usize,
}

static WORKERS: Workers = Workers::new(MAX_IDLE);

impl Workers {
    const fn new(max_idle: usize) -> Workers {
        Workers {
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::Sender<Job>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `job` to an idle worker, or to a new thread named `name` when
    /// none is idle.
    fn submit(&'static self, name: &str, job: Job) -> io::Result<()> {
        let mut job = job;
        loop {
            let Some(worker) = self.idle().pop() else {
                break;
            };
            match worker.send(job) {
                Ok(()) => return Ok(()),
                // That worker is gone (it only leaves the list to take a
                // call, but a lost call would leave its caller waiting).
                Err(mpsc::SendError(back)) => job = back,
            }
        }
        thread::Builder::new()
            .name(name.to_string())
            .spawn(move || self.work_on(job))
            .map(|_| ())
    }

    /// A worker's life: the call it was started for, then, while fewer
    /// than `max_idle` others wait, the next ones. A call that panics ends
    /// only that call (its caller sees [`WithinError::Panicked`]).
    fn work_on(&self, first: Job) {
        let (tx, rx) = mpsc::channel::<Job>();
        let mut job = first;
        loop {
            // The caller hears of a panic through its dropped sender.
            let delivery = catch_unwind(AssertUnwindSafe(job)).ok();
            let stay = {
                let mut waiting = self.idle();
                let stay = waiting.len() < self.max_idle;
                if stay {
                    waiting.push(tx.clone());
                }
                stay
            };
            if let Some(deliver) = delivery {
                deliver();
            }
            if !stay {
                return;
            }
            match rx.recv() {
                Ok(next) => job = next,
                Err(_) => return,
            }
        }
    }

    /// [`run_within`] on these workers.
    fn run_within<T, F>(
        &'static self,
        name: &str,
        timeout: Duration,
        work: F,
    ) -> Result<T, WithinError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.submit(
            name,
            Box::new(move || {
                let result = work();
                Box::new(move || {
                    // The receiver may be gone after a time-out: nothing to do.
                    let _ = tx.send(result);
                })
            }),
        )
        .map_err(WithinError::Spawn)?;
        match rx.recv_timeout(timeout) {
            Ok(v) => Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(WithinError::TimedOut(timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(WithinError::Panicked),
        }
    }
}

/// Hands `work` to a worker thread (reused, or started and named `name`)
/// without waiting for it: `work` reports through channels of its own,
/// which its caller waits on with deadlines (a call that answers in
/// stages, `cluster::session::with_session_then`).
pub fn run_detached<F>(name: &str, work: F) -> Result<(), WithinError>
where
    F: FnOnce() + Send + 'static,
{
    WORKERS
        .submit(
            name,
            Box::new(move || {
                work();
                Box::new(|| ()) as Delivery
            }),
        )
        .map_err(WithinError::Spawn)
}

/// Runs `work` on a worker thread (reused, or started and named `name`)
/// and waits at most `timeout` for it.
pub fn run_within<T, F>(name: &str, timeout: Duration, work: F) -> Result<T, WithinError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    WORKERS.run_within(name, timeout, work)
}

/// Why a name could not be resolved.
#[derive(Debug)]
pub enum ResolveError {
    /// The resolver answered with an error (unknown name, ...).
    Failed { host: String, source: io::Error },
    /// The resolver answered with no address.
    NoAddress { host: String },
    /// No answer within the timeout, or no worker thread.
    Within { host: String, source: WithinError },
}

impl ResolveError {
    /// Whether the time ran out (rather than the name being unknown).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ResolveError::Within {
                source: WithinError::TimedOut(_),
                ..
            }
        )
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Failed { host, source } => write!(f, "resolve {host}: {source}"),
            ResolveError::NoAddress { host } => write!(f, "resolve {host}: no address"),
            ResolveError::Within {
                host,
                source: source @ WithinError::TimedOut(_),
            } => write!(
                f,
                "resolve {host}: {source} (is the DNS server in /etc/resolv.conf reachable? an IP address or an /etc/hosts entry avoids DNS)"
            ),
            ResolveError::Within { host, source } => write!(f, "resolve {host}: {source}"),
        }
    }
}

impl std::error::Error for ResolveError {}

/// The addresses of `host:port`, looked up within `timeout`. An IP address
/// needs no look-up and returns at once.
pub fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, ResolveError> {
    resolve_with(host, port, timeout, |h, p| {
        (h.as_str(), p).to_socket_addrs().map(Iterator::collect)
    })
}

/// [`resolve`] with the look-up function given (tests use a slow one).
pub fn resolve_with<F>(
    host: &str,
    port: u16,
    timeout: Duration,
    lookup: F,
) -> Result<Vec<SocketAddr>, ResolveError>
where
    F: FnOnce(String, u16) -> io::Result<Vec<SocketAddr>> + Send + 'static,
{
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let owned = host.to_string();
    let found = run_within(&format!("resolve {host}"), timeout, move || {
        lookup(owned, port)
    })
    .map_err(|source| ResolveError::Within {
        host: host.to_string(),
        source,
    })?
    .map_err(|source| ResolveError::Failed {
        host: host.to_string(),
        source,
    })?;
    if found.is_empty() {
        return Err(ResolveError::NoAddress {
            host: host.to_string(),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A set of workers of the test's own (the process's one is shared
    /// by every test running at the same time).
    fn workers(max_idle: usize) -> &'static Workers {
        Box::leak(Box::new(Workers::new(max_idle)))
    }

    fn thread_of(w: &'static Workers) -> thread::ThreadId {
        w.run_within("t", Duration::from_secs(5), || thread::current().id())
            .expect("a quick call answers")
    }

    #[test]
    fn calls_one_after_the_other_reuse_one_thread() {
        let w = workers(MAX_IDLE);
        let first = thread_of(w);
        for _ in 0..20 {
            assert_eq!(thread_of(w), first, "a new thread for a later call");
        }
        assert_ne!(first, thread::current().id());
        assert_eq!(w.idle().len(), 1);
    }

    #[test]
    fn a_call_given_up_on_is_left_running_and_the_next_gets_a_new_thread() {
        let w = workers(MAX_IDLE);
        let first = thread_of(w);
        let (release, hold) = mpsc::channel::<()>();
        let start = Instant::now();
        let e = w
            .run_within("t", Duration::from_millis(100), move || {
                let _ = hold.recv();
            })
            .unwrap_err();
        assert!(matches!(e, WithinError::TimedOut(_)), "{e}");
        assert!(start.elapsed() < Duration::from_secs(2));
        // The hung worker is busy: the next call may not wait for it.
        let next = thread_of(w);
        assert_ne!(next, first);
        // Once released, the hung worker waits for calls again.
        release.send(()).expect("the hung call still runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.idle().len() < 2 {
            assert!(
                Instant::now() < deadline,
                "the released worker never came back"
            );
            thread::yield_now();
        }
    }

    #[test]
    fn a_panicking_call_is_reported_and_the_worker_lives_on() {
        let w = workers(MAX_IDLE);
        let first = thread_of(w);
        let e = w
            .run_within("t", Duration::from_secs(5), || -> u8 {
                panic!("planted panic (expected in this test)")
            })
            .unwrap_err();
        assert!(matches!(e, WithinError::Panicked), "{e}");
        // The caller hears of the panic as it unwinds, before the worker
        // is back: wait for it, then it takes the next call.
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.idle().is_empty() {
            assert!(Instant::now() < deadline, "the worker died with the call");
            thread::yield_now();
        }
        assert_eq!(thread_of(w), first);
    }

    #[test]
    fn calls_at_the_same_time_each_get_a_thread_and_few_stay_idle() {
        let w = workers(2);
        let n = 6;
        let all = std::sync::Arc::new(std::sync::Barrier::new(n));
        let callers: Vec<_> = (0..n)
            .map(|_| {
                let all = all.clone();
                thread::spawn(move || {
                    // Each call waits for all the others to have started:
                    // one shared thread would never get past the barrier.
                    w.run_within("t", Duration::from_secs(10), move || {
                        all.wait();
                        thread::current().id()
                    })
                })
            })
            .collect();
        let mut ids = Vec::new();
        for c in callers {
            ids.push(c.join().expect("caller").expect("every call answers"));
        }
        ids.sort_by_key(|id| format!("{id:?}"));
        ids.dedup();
        assert_eq!(ids.len(), n);
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.idle().len() < 2 {
            assert!(Instant::now() < deadline, "no worker came back");
            thread::yield_now();
        }
        assert_eq!(w.idle().len(), 2, "more idle workers than allowed");
    }

    #[test]
    fn a_hung_resolver_is_cut_off_at_the_timeout() {
        let start = Instant::now();
        let e = resolve_with("slow.test", 25, Duration::from_millis(200), |_, _| {
            thread::sleep(Duration::from_secs(5));
            Ok(vec![])
        })
        .unwrap_err();
        let took = start.elapsed();
        assert!(e.is_timeout(), "{e}");
        assert!(took < Duration::from_secs(1), "returned after {took:?}");
        assert!(
            e.to_string()
                .starts_with("resolve slow.test: no answer within 200ms (is the DNS server"),
            "{e}"
        );
    }

    #[test]
    fn addresses_need_no_lookup_and_names_do() {
        let never = |_: String, _: u16| -> io::Result<Vec<SocketAddr>> {
            panic!("an IP address must not be looked up")
        };
        let got = resolve_with("127.0.0.9", 5432, Duration::from_millis(1), never)
            .expect("literal address");
        assert_eq!(got, vec!["127.0.0.9:5432".parse().expect("addr")]);
        let got = resolve_with("[::1]", 22, Duration::from_millis(1), never).expect("ipv6");
        assert_eq!(got, vec!["[::1]:22".parse().expect("addr")]);
        let got = resolve("localhost", 25, Duration::from_secs(5)).expect("localhost");
        assert!(got.iter().all(|a| a.ip().is_loopback()), "{got:?}");
        let e =
            resolve_with("none.test", 1, Duration::from_secs(1), |_, _| Ok(vec![])).unwrap_err();
        assert_eq!(e.to_string(), "resolve none.test: no address");
    }
}
