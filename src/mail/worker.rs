//! SMTP sessions on bounded worker threads, so a hostile or broken mail
//! server costs at most [`MAX_WORKERS`] threads and sockets, whatever it does.
//!
//! lettre's blocking client sets a read and write timeout on its socket,
//! which ends a session against a server that stops talking, but not one
//! that trickles: a tarpit sending a byte every 0.4 s satisfies every read
//! and keeps the session alive forever. Before this module each send waited
//! on its own thread with an overall deadline and then left that thread
//! behind, blocked on its socket; every retry left one more (threads 1 → 4
//! and descriptors 15 → 18 in 45 s with `--timeout=1`).
//!
//! Now each session runs on a worker registered here, and:
//! - at most [`MAX_WORKERS`] run at once; past that a send fails at once
//!   (the mail queue retries it later) instead of adding a thread;
//! - at the deadline the caller ends its worker: lettre owns the socket and
//!   offers no handle to it, so the worker's thread id tells which
//!   descriptor the thread is blocked on (`/proc/self/task/<tid>/syscall`:
//!   a blocked `read`/`recvfrom`/... names it as its first argument); once
//!   `getpeername` confirms it is a connection to the mail server the
//!   session resolved, `shutdown(2)` ends it. The blocked read returns end
//!   of stream, lettre fails, the thread exits and closes the socket. A
//!   worker that cannot be ended this way (not blocked on a socket at that
//!   instant, /proc unavailable) is tried again at the next send, and still
//!   counts against the limit until it exits.

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::plumbing::os;

/// SMTP sessions that may run at once in this process.
pub const MAX_WORKERS: usize = 2;

/// How long a caller waits for its ended worker to exit, and a new send for
/// a slot to free up when all are taken.
const GRACE: Duration = Duration::from_secs(2);

/// One running session, as the caller and later sends see it.
struct Slot {
    /// Kernel thread id of the worker; 0 until it has started.
    tid: AtomicI32,
    /// The addresses the session connects to (what an ended socket must be
    /// connected to).
    peers: Mutex<Vec<SocketAddr>>,
    /// When the caller stops waiting.
    deadline: Instant,
    /// Set by the worker when its work returned (or panicked).
    done: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

static LIVE: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());

/// What a session tells its worker slot: the addresses it connects to.
pub struct SessionSlot(Arc<Slot>);

impl SessionSlot {
    /// Records the addresses the session is about to connect to; only a
    /// socket connected to one of them is ever shut down.
    pub fn connecting_to(&self, addrs: &[SocketAddr]) {
        *lock(&self.0.peers) = addrs.to_vec();
    }
}

/// Why [`run`] returned without the session's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerError {
    /// [`MAX_WORKERS`] sessions still run (they wait for a server that does
    /// not finish); nothing was started.
    Busy,
    /// The deadline passed; `ended` says whether the worker's socket was shut
    /// down and the worker exited.
    TimedOut { after: Duration, ended: bool },
    /// No thread could be started.
    Spawn(String),
    /// The session panicked.
    Panicked,
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::Busy => write!(
                f,
                "{MAX_WORKERS} SMTP sessions still wait for the server; not starting another"
            ),
            WorkerError::TimedOut { after, ended } => write!(
                f,
                "no result within {}{}",
                crate::plumbing::net::human_duration(*after),
                if *ended {
                    ""
                } else {
                    " (session not ended yet)"
                }
            ),
            WorkerError::Spawn(e) => write!(f, "cannot start the SMTP thread: {e}"),
            WorkerError::Panicked => write!(f, "the SMTP thread ended without a result"),
        }
    }
}

/// Sessions running now (tests and the tarpit figures).
pub fn live() -> usize {
    let mut slots = lock(&LIVE);
    slots.retain(|s| !s.done.load(Ordering::SeqCst));
    slots.len()
}

/// Runs `work` on a worker thread and waits at most `overall` for it; past
/// that the worker's socket is shut down (see the module docs).
pub fn run<T, F>(overall: Duration, work: F) -> Result<T, WorkerError>
where
    T: Send + 'static,
    F: FnOnce(&SessionSlot) -> T + Send + 'static,
{
    let slot = claim(overall)?;
    let (tx, rx) = mpsc::channel();
    let for_worker = Arc::clone(&slot);
    let spawned = thread::Builder::new()
        .name("smtp-send".into())
        .spawn(move || {
            let guard = DoneOnDrop(Arc::clone(&for_worker));
            for_worker.tid.store(os::thread_id(), Ordering::SeqCst);
            let result = work(&SessionSlot(for_worker));
            // The caller may have stopped waiting; nothing to do then.
            let _ = tx.send(result);
            drop(guard);
        });
    if let Err(e) = spawned {
        slot.done.store(true, Ordering::SeqCst);
        return Err(WorkerError::Spawn(e.to_string()));
    }
    match rx.recv_timeout(overall) {
        Ok(v) => Ok(v),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(WorkerError::Panicked),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let until = Instant::now() + GRACE;
            let mut ended = false;
            // The worker may be between two reads at the first try.
            while !ended && Instant::now() < until {
                end(&slot);
                ended = !matches!(
                    rx.recv_timeout(Duration::from_millis(50)),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
            }
            Err(WorkerError::TimedOut {
                after: overall,
                ended,
            })
        }
    }
}

/// Marks a slot done when the worker leaves, also by a panic.
struct DoneOnDrop(Arc<Slot>);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        self.0.done.store(true, Ordering::SeqCst);
    }
}

/// A slot for a new session: overdue workers are ended first, and a full
/// house waits up to [`GRACE`] for one to leave.
fn claim(overall: Duration) -> Result<Arc<Slot>, WorkerError> {
    let until = Instant::now() + GRACE;
    loop {
        {
            let mut slots = lock(&LIVE);
            slots.retain(|s| !s.done.load(Ordering::SeqCst));
            if slots.len() < MAX_WORKERS {
                let slot = Arc::new(Slot {
                    tid: AtomicI32::new(0),
                    peers: Mutex::new(Vec::new()),
                    deadline: Instant::now() + overall,
                    done: AtomicBool::new(false),
                });
                slots.push(Arc::clone(&slot));
                return Ok(slot);
            }
            let now = Instant::now();
            for s in slots.iter().filter(|s| s.deadline <= now) {
                end(s);
            }
        }
        if Instant::now() >= until {
            return Err(WorkerError::Busy);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Shuts down the socket the worker of `slot` is blocked on, if it is one
/// to the session's server. Returns whether it shut one down.
fn end(slot: &Slot) -> bool {
    let tid = slot.tid.load(Ordering::SeqCst);
    if tid <= 0 || slot.done.load(Ordering::SeqCst) {
        return false;
    }
    let Some(fd) = blocked_socket(tid) else {
        return false;
    };
    let peers = lock(&slot.peers).clone();
    match os::socket_peer(fd) {
        Some(peer) if peers.contains(&peer) => match os::shutdown_socket(fd) {
            Ok(()) => {
                log::debug!("smtp {peer}: session past its deadline; its socket is shut down");
                true
            }
            Err(e) => {
                log::debug!("smtp {peer}: shutdown of a stuck session's socket: {e}");
                false
            }
        },
        _ => false,
    }
}

/// The descriptor thread `tid` of this process is blocked reading or
/// writing, from `/proc/self/task/<tid>/syscall`.
fn blocked_socket(tid: i32) -> Option<RawFd> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    blocked_fd_of(&text)
}

/// Parses a `/proc/.../syscall` line: the system call number and its
/// arguments in hex; `None` unless the call is one that reads or writes the
/// descriptor given as its first argument.
fn blocked_fd_of(line: &str) -> Option<RawFd> {
    let mut fields = line.split_whitespace();
    let nr: libc::c_long = fields.next()?.parse().ok()?;
    let io_calls = [
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_recvfrom,
        libc::SYS_sendto,
        libc::SYS_recvmsg,
        libc::SYS_sendmsg,
    ];
    if !io_calls.contains(&nr) {
        return None;
    }
    let arg0 = fields.next()?.strip_prefix("0x")?;
    let fd = i64::from_str_radix(arg0, 16).ok()?;
    RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)
}

#[cfg(test)]
mod tests;
