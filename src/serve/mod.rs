//! What a watcher serves, from one listener type and one board: the port
//! gate a GSLB or load balancer checks ([`gate`]), the API port
//! ([`routes`], [`metrics`]) and HAProxy's agent-check port ([`agent`]).
//! The driver publishes a [`board::Snapshot`] on one [`board::Board`] after
//! every decision, and every port renders its answer from it, so no request
//! ever runs a probe. One HTTP parser and writer ([`http`]) serves the gate
//! and the API; the agent's line reader is built on it.
//!
//! The gate: while the watcher says "up" a listener on
//! `bind_address:open_port` accepts every connection and closes it
//! promptly; while it says "down" there is no listener at all, so a check
//! gets "connection refused". The original bound the port but never
//! accepted, so after a handful of checks the backlog filled and every
//! check timed out; this gate drains the backlog continuously.
//!
//! The [`Listener`] (here) is what all three ports run on:
//! - One thread per open period ([`poller`]) polls (poll(2)) the listener,
//!   a wake-up socket and every pending connection, and accepts while the
//!   listener is readable, so accepts never wait for a client and CPU
//!   follows events, not the number of connections held.
//! - A pending connection ([`conn`]) that closes (connect-then-close check)
//!   is closed at once; one that stays silent for the service's first-byte
//!   timeout ([`FIRST_BYTE_TIMEOUT`] for HTTP; connect-and-wait check) is
//!   closed then (the agent answers it instead); one whose head its
//!   [`Service`] finds whole gets the service's answer (the gate's: `HTTP/1.0
//!   200 OK` with a one-line JSON of the watcher's state; HEAD and OPTIONS:
//!   status line and headers only), and one whose request head is not
//!   complete within [`HTTP_REQUEST_TIMEOUT`] is closed.
//! - Descriptors are bounded, so a flood of idle or half-sent connections
//!   cannot exhaust them and starve the watcher's own probes (which would
//!   close the port and flap it): the [`Sizing`] comes from the soft
//!   `RLIMIT_NOFILE` (raised to the hard limit at start by
//!   [`raise_fd_limit`]), at most [`Sizing::per_peer`] pending connections
//!   per IP address (beyond that a connection is closed right after accept,
//!   still a pass for a TCP check), at most [`Sizing::table`] in all (then
//!   the oldest makes room), and accept failing with EMFILE closes the
//!   oldest and rests the listener briefly instead of spinning.
//! - Wake-up path: `close()` sets a stop flag and writes a byte to a socket
//!   pair in the poll set, so it returns however busy or full the listener
//!   is; the thread closes what it holds, drops the listener and ends, and
//!   `close()` joins it. After `close()` returns the port refuses connections.
//! - Reopening at once: std's `TcpListener::bind` sets `SO_REUSEADDR` on Unix
//!   before binding, so sockets left in TIME_WAIT by earlier checks do not
//!   block a new bind (`closed_gate_refuses_and_reopens_immediately_with_time_wait`
//!   proves it: the gate closes HTTP connections first, so TIME_WAIT is ours).

pub mod agent;
pub mod board;
pub mod conflict;
mod conn;
pub mod gate;
pub mod hold;
pub mod holder;
pub mod http;
pub mod metrics;
mod poller;
pub mod ports;
pub mod routes;
pub mod views;

pub use board::{Board, Snapshot};
pub use gate::Gate;
pub use ports::ApiPorts;

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::plumbing::os;

/// How long a connection may stay silent before it is treated as a plain
/// TCP check and closed.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long an HTTP client may take, from accept, to send its request head.
pub const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The most pending connections the gate watches at once, however high the
/// descriptor limit.
pub const MAX_PENDING: usize = 1024;
/// The most pending connections from one IP address.
pub const MAX_PER_PEER: usize = 64;
/// Descriptors always left to the rest of the process (pgpool and TCP
/// probes, poolstatus and its ssh sessions, mail, logs) whatever the limit.
pub const FD_RESERVE: u64 = 64;
/// Length of the kernel's queue of connections not yet accepted (capped by
/// `net.core.somaxconn`); queued connections hold no descriptor of ours.
const LISTEN_BACKLOG: u16 = 4096;
/// The soft descriptor limit assumed when it cannot be read.
const ASSUMED_LIMIT: u64 = 1024;

/// How many connections the gate holds, derived from the descriptor limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// Pending connections at most (each is one descriptor).
    pub table: usize,
    /// Pending connections from one IP address at most.
    pub per_peer: usize,
}

impl Sizing {
    /// For a soft `RLIMIT_NOFILE` of `soft`: a table of a quarter of the
    /// limit up to [`MAX_PENDING`] (so at least three quarters, and never
    /// fewer than [`FD_RESERVE`], stay for the probes, mail and ssh), and a
    /// per-address cap of a quarter of the table up to [`MAX_PER_PEER`] (so
    /// one client never holds the whole table).
    pub fn for_limit(soft: u64) -> Sizing {
        // The gate's own: listener, the wake-up pair, one accept in flight.
        let own = 4;
        let room = soft.saturating_sub(FD_RESERVE + own);
        let table = (soft / 4).min(room).min(MAX_PENDING as u64).max(1);
        let table = usize::try_from(table).unwrap_or(MAX_PENDING);
        Sizing {
            table,
            per_peer: (table / 4).clamp(1, MAX_PER_PEER),
        }
    }

    /// For the current soft limit of this process.
    pub fn current() -> Sizing {
        Sizing::for_limit(os::nofile_limit().map_or(ASSUMED_LIMIT, |l| l.soft))
    }
}

/// Raises the soft descriptor limit to the hard one, for the watchers to
/// call once at start (after logging is set up): logs the new limit at debug,
/// and warns, saying what to change, when it stays too low for a full gate.
pub fn raise_fd_limit() {
    let full = MAX_PENDING as u64 * 4;
    let advice = "raise LimitNOFILE= in the systemd unit (8192 or more) or `ulimit -n` \
                  before starting";
    let now = match os::raise_nofile_limit() {
        Ok((before, after)) => {
            log::debug!(
                "descriptor limit (RLIMIT_NOFILE): soft {} -> {} (hard {}); gate holds at \
                 most {} pending connections, {} per address",
                before.soft,
                after.soft,
                after.hard,
                Sizing::for_limit(after.soft).table,
                Sizing::for_limit(after.soft).per_peer
            );
            after.soft
        }
        Err(e) => {
            log::warn!("cannot raise the descriptor limit (RLIMIT_NOFILE) to the hard limit: {e}; {advice}");
            match os::nofile_limit() {
                Ok(l) => l.soft,
                Err(_) => return,
            }
        }
    };
    if now < full {
        let s = Sizing::for_limit(now);
        log::warn!(
            "descriptor limit (RLIMIT_NOFILE) is {now}, below {full}: the gate holds at most {} \
             pending connections ({} per address) instead of {MAX_PENDING}; {advice}",
            s.table,
            s.per_peer
        );
    }
}

/// Errors of a listener (the gate, the API port, the agent-check port).
#[derive(Debug)]
pub enum ListenError {
    /// The listening socket could not be bound.
    Bind {
        kind: &'static str,
        addr: SocketAddr,
        source: io::Error,
    },
    /// A listener thread (or its wake-up socket) could not be started.
    Spawn {
        kind: &'static str,
        addr: SocketAddr,
        source: io::Error,
    },
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::Bind { kind, addr, source } => {
                let (port_key, bind_key) = match *kind {
                    "api" => ("api_port", "api_bind_address"),
                    "agent" => ("agent_port", "api_bind_address"),
                    _ => ("open_port", "bind_address"),
                };
                let hint = match source.kind() {
                    io::ErrorKind::AddrInUse => {
                        format!(" (another process holds this port: stop it, or change {port_key})")
                    }
                    io::ErrorKind::PermissionDenied => {
                        " (ports below 1024 need root or CAP_NET_BIND_SERVICE)".to_string()
                    }
                    io::ErrorKind::AddrNotAvailable => {
                        format!(" ({bind_key} is not an address of this machine: fix {bind_key})")
                    }
                    _ => String::new(),
                };
                write!(f, "open {kind} on {addr}: {source}{hint}")
            }
            ListenError::Spawn { kind, addr, source } => {
                write!(f, "open {kind} on {addr}: cannot start thread: {source}")
            }
        }
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ListenError::Bind { source, .. } | ListenError::Spawn { source, .. } => Some(source),
        }
    }
}

/// What a listener answers: the gate's HTTP check ([`gate`]), the API's
/// routes ([`ports`]), the agent-check line ([`agent`]). Called on the
/// poller thread; must not block.
pub trait Service: Send + Sync + 'static {
    /// Whether `head`, the bytes read so far, can still become a request
    /// (else the connection is closed).
    fn plausible(&self, head: &[u8]) -> bool;
    /// Whether `head` is a whole request.
    fn complete(&self, head: &[u8]) -> bool;
    /// The answer to a whole request (`None`: close without one).
    fn respond(&self, head: &[u8]) -> Option<Vec<u8>>;
    /// How long a connection may stay silent before [`Service::on_silence`].
    fn first_byte_timeout(&self) -> Duration;
    /// The answer to a connection that stayed silent (`None`: close it).
    fn on_silence(&self) -> Option<Vec<u8>> {
        None
    }
}

/// Counters of one listener, kept across open/close.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    http: AtomicU64,
    overflow: AtomicU64,
    peer_capped: AtomicU64,
    accept_errors: AtomicU64,
}

/// What a listener did since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Requests answered.
    pub http: u64,
    /// Pending connections closed to make room in a full table.
    pub evicted: u64,
    /// Connections closed right after accept: their address was at its cap.
    pub peer_capped: u64,
    /// Accepts that failed for want of descriptors (EMFILE, ENFILE ...).
    pub accept_errors: u64,
}

/// A bounded listener on one address whose connections a [`Service`]
/// answers: the gate's, the API's and the agent's. Dropping it closes it.
pub struct Listener {
    bind: SocketAddr,
    service: Arc<dyn Service>,
    /// What the log lines call it: `gate`, `api`, `agent`.
    kind: &'static str,
    counters: Arc<Counters>,
    sizing: Option<Sizing>,
    running: Option<Running>,
}

struct Running {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    wake: UnixStream,
    thread: JoinHandle<()>,
}

impl Listener {
    /// A closed listener for `bind` (port 0 picks a free port on open, for
    /// tests) whose connections `service` answers, sized from the
    /// descriptor limit in force when it opens; `kind` names it in the log.
    pub fn new(bind: SocketAddr, service: Arc<dyn Service>, kind: &'static str) -> Listener {
        Listener {
            bind,
            service,
            kind,
            counters: Arc::new(Counters::default()),
            sizing: None,
            running: None,
        }
    }

    /// The same with a fixed sizing instead of one from the limit.
    pub fn with_sizing(mut self, sizing: Sizing) -> Listener {
        self.sizing = Some(sizing);
        self
    }

    /// The configured bind address.
    pub fn bind_addr(&self) -> SocketAddr {
        self.bind
    }

    /// The address actually listened on while open.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().map(|r| r.local)
    }

    /// Whether a listener is up.
    pub fn is_open(&self) -> bool {
        self.running.is_some()
    }

    /// Connections accepted since the listener was made.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Counters since the listener was made.
    pub fn stats(&self) -> ListenStats {
        let c = &self.counters;
        ListenStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            http: c.http.load(Ordering::Relaxed),
            evicted: c.overflow.load(Ordering::Relaxed),
            peer_capped: c.peer_capped.load(Ordering::Relaxed),
            accept_errors: c.accept_errors.load(Ordering::Relaxed),
        }
    }

    /// Opens the listener; a no-op when already open.
    pub fn open(&mut self) -> Result<(), ListenError> {
        if self.running.is_some() {
            return Ok(());
        }
        let (bind, kind) = (self.bind, self.kind);
        let spawn_err = |source| ListenError::Spawn {
            kind,
            addr: bind,
            source,
        };
        let bind_err = |source| ListenError::Bind {
            kind,
            addr: bind,
            source,
        };
        let listener = TcpListener::bind(bind).map_err(bind_err)?;
        let local = listener.local_addr().map_err(bind_err)?;
        // A blocking accept would stall every pending connection.
        listener.set_nonblocking(true).map_err(bind_err)?;
        // A burst of connects beyond std's 128 would overflow the accept
        // queue between two wake-ups, and a dropped SYN costs a checker a
        // one-second retransmit: a check timeout.
        if let Err(e) = os::set_listen_backlog(&listener, LISTEN_BACKLOG) {
            log::warn!(
                "{kind} {local}: cannot set listen backlog {LISTEN_BACKLOG}: {e}; keeping 128"
            );
        }
        let (wake, wake_rx) = UnixStream::pair().map_err(spawn_err)?;
        wake.set_nonblocking(true).map_err(spawn_err)?;
        wake_rx.set_nonblocking(true).map_err(spawn_err)?;
        let sizing = self.sizing.unwrap_or_else(Sizing::current);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = poller::Poller {
            listener,
            wake: wake_rx,
            service: Arc::clone(&self.service),
            counters: Arc::clone(&self.counters),
            sizing,
            label: format!("{} {local}", self.kind),
        };
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name(format!("{}-{}", self.kind, local.port()))
                .spawn(move || poller.run(&stop))
                .map_err(spawn_err)?
        };
        log::info!(
            "{} {local}: open (at most {} pending connections, {} per address)",
            self.kind,
            sizing.table,
            sizing.per_peer
        );
        self.running = Some(Running {
            local,
            stop,
            wake,
            thread,
        });
        Ok(())
    }

    /// Closes the listener: the listening socket is gone and its thread
    /// joined when this returns. A no-op when already closed.
    pub fn close(&mut self) {
        let Some(run) = self.running.take() else {
            return;
        };
        run.stop.store(true, Ordering::SeqCst);
        // One byte wakes the poll; a full buffer means a wake-up is pending
        // already, and a failed write still leaves the socket to be closed
        // (below), which the poll reports as well.
        let mut w = &run.wake;
        if let Err(e) = w.write(&[1]) {
            if e.kind() != io::ErrorKind::WouldBlock {
                log::debug!("{} {}: wake-up write: {e}", self.kind, run.local);
            }
        }
        drop(run.wake);
        if run.thread.join().is_err() {
            log::error!("{} {}: its thread panicked", self.kind, run.local);
        }
        log::info!("{} {}: closed", self.kind, run.local);
    }

    /// Opens or closes to match `open`.
    pub fn set(&mut self, open: bool) -> Result<(), ListenError> {
        if open {
            self.open()
        } else {
            self.close();
            Ok(())
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
