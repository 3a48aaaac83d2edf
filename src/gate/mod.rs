//! The port gate a GSLB or load balancer checks: while the watcher says "up"
//! a listener on `bind_address:open_port` accepts every connection and
//! closes it promptly; while it says "down" there is no listener at all, so a
//! check gets "connection refused". The original bound the port but never
//! accepted, so after a handful of checks the backlog filled and every check
//! timed out; this gate drains the backlog continuously.
//!
//! Design:
//! - One thread per open period ([`poller`]) polls (poll(2)) the listener,
//!   a wake-up socket and every pending connection, and accepts while the
//!   listener is readable, so accepts never wait for a client and CPU
//!   follows events, not the number of connections held.
//! - A pending connection ([`http`]) that closes (connect-then-close check)
//!   is closed at once; one that stays silent for [`FIRST_BYTE_TIMEOUT`]
//!   (connect-and-wait check) is closed then; one whose first line looks
//!   like an HTTP request (HAProxy `option httpchk`, curl) gets `HTTP/1.0
//!   200 OK` with a one-line JSON of the watcher's state (HEAD and OPTIONS:
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

mod http;
mod poller;

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::json::Json;
use crate::os;

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

/// Errors of the gate.
#[derive(Debug)]
pub enum GateError {
    /// The listening socket could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// A gate thread (or its wake-up socket) could not be started.
    Spawn { addr: SocketAddr, source: io::Error },
}

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateError::Bind { addr, source } => {
                let hint = match source.kind() {
                    io::ErrorKind::AddrInUse => {
                        " (another process holds this port: stop it, or change open_port)"
                    }
                    io::ErrorKind::PermissionDenied => {
                        " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                    }
                    io::ErrorKind::AddrNotAvailable => {
                        " (bind_address is not an address of this machine: fix bind_address)"
                    }
                    _ => "",
                };
                write!(f, "open gate on {addr}: {source}{hint}")
            }
            GateError::Spawn { addr, source } => {
                write!(f, "open gate on {addr}: cannot start thread: {source}")
            }
        }
    }
}

impl std::error::Error for GateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GateError::Bind { source, .. } | GateError::Spawn { source, .. } => Some(source),
        }
    }
}

/// The watcher's current state as shown to HTTP checks: the watcher
/// publishes a new snapshot after every decision, the gate's workers read it.
#[derive(Clone, Debug)]
pub struct StatusBoard(Arc<Mutex<Json>>);

impl StatusBoard {
    /// A board showing `initial`.
    pub fn new(initial: Json) -> StatusBoard {
        StatusBoard(Arc::new(Mutex::new(initial)))
    }

    /// Replaces the shown state.
    pub fn publish(&self, state: Json) {
        match self.0.lock() {
            Ok(mut g) => *g = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
    }

    /// The state currently shown.
    pub fn current(&self) -> Json {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Counters of one gate, kept across open/close.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    http: AtomicU64,
    overflow: AtomicU64,
    peer_capped: AtomicU64,
    accept_errors: AtomicU64,
}

/// What a gate did since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateStats {
    /// Connections accepted.
    pub accepted: u64,
    /// HTTP requests answered.
    pub http: u64,
    /// Pending connections closed to make room in a full table.
    pub evicted: u64,
    /// Connections closed right after accept: their address was at its cap.
    pub peer_capped: u64,
    /// Accepts that failed for want of descriptors (EMFILE, ENFILE ...).
    pub accept_errors: u64,
}

/// The gate on one address. Dropping it closes it.
pub struct Gate {
    bind: SocketAddr,
    board: StatusBoard,
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

impl Gate {
    /// A closed gate for `bind` (port 0 picks a free port on open, for
    /// tests), sized from the descriptor limit in force when it opens.
    pub fn new(bind: SocketAddr) -> Gate {
        Gate {
            bind,
            // The truth before any check: the port is not open yet.
            board: StatusBoard::new(
                Json::object()
                    .with("port_open", false)
                    .with("reason", "no check has run yet."),
            ),
            counters: Arc::new(Counters::default()),
            sizing: None,
            running: None,
        }
    }

    /// A closed gate with a fixed sizing instead of one from the limit.
    pub fn with_sizing(bind: SocketAddr, sizing: Sizing) -> Gate {
        let mut g = Gate::new(bind);
        g.sizing = Some(sizing);
        g
    }

    /// The board whose snapshot HTTP checks receive; publish to it after
    /// every decision.
    pub fn board(&self) -> StatusBoard {
        self.board.clone()
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

    /// Connections accepted since the gate was made.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Counters since the gate was made.
    pub fn stats(&self) -> GateStats {
        let c = &self.counters;
        GateStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            http: c.http.load(Ordering::Relaxed),
            evicted: c.overflow.load(Ordering::Relaxed),
            peer_capped: c.peer_capped.load(Ordering::Relaxed),
            accept_errors: c.accept_errors.load(Ordering::Relaxed),
        }
    }

    /// Opens the gate; a no-op when already open.
    pub fn open(&mut self) -> Result<(), GateError> {
        if self.running.is_some() {
            return Ok(());
        }
        let bind = self.bind;
        let spawn_err = |source| GateError::Spawn { addr: bind, source };
        let listener =
            TcpListener::bind(bind).map_err(|source| GateError::Bind { addr: bind, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| GateError::Bind { addr: bind, source })?;
        // A blocking accept would stall every pending connection.
        listener
            .set_nonblocking(true)
            .map_err(|source| GateError::Bind { addr: bind, source })?;
        // A burst of connects beyond std's 128 would overflow the accept
        // queue between two wake-ups, and a dropped SYN costs a checker a
        // one-second retransmit: a check timeout.
        if let Err(e) = os::set_listen_backlog(&listener, LISTEN_BACKLOG) {
            log::warn!(
                "gate {local}: cannot set listen backlog {LISTEN_BACKLOG}: {e}; keeping 128"
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
            board: self.board.clone(),
            counters: Arc::clone(&self.counters),
            sizing,
            label: format!("gate {local}"),
        };
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name(format!("gate-{}", local.port()))
                .spawn(move || poller.run(&stop))
                .map_err(spawn_err)?
        };
        log::info!(
            "gate {local}: open (at most {} pending connections, {} per address)",
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

    /// Closes the gate: the listening socket is gone and the gate thread
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
                log::debug!("gate {}: wake-up write: {e}", run.local);
            }
        }
        drop(run.wake);
        if run.thread.join().is_err() {
            log::error!("gate {}: gate thread panicked", run.local);
        }
        log::info!("gate {}: closed", run.local);
    }

    /// Opens or closes to match `open`.
    pub fn set(&mut self, open: bool) -> Result<(), GateError> {
        if open {
            self.open()
        } else {
            self.close();
            Ok(())
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::http::{classify, looks_like_method, Request};
    use super::*;
    use std::io::{ErrorKind, Read};
    use std::net::TcpStream;
    use std::time::Instant;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    fn open_gate() -> (Gate, SocketAddr) {
        let mut g = Gate::new(loopback());
        g.open().expect("open");
        let addr = g.local_addr().expect("addr");
        (g, addr)
    }

    fn http(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read response");
        out
    }

    #[test]
    fn classify_requests() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\n\r\n"), Request::WithBody);
        assert_eq!(
            classify(b"HEAD /health HTTP/1.0\r\n\r\n"),
            Request::HeadersOnly
        );
        assert_eq!(
            classify(b"OPTIONS / HTTP/1.0\r\n\r\n"),
            Request::HeadersOnly
        );
        assert_eq!(classify(b"GET /\r\n"), Request::NotHttp);
        assert_eq!(classify(b"\x16\x03\x01"), Request::NotHttp);
        assert!(looks_like_method(b"GET"));
        assert!(looks_like_method(b"OPTIONS / HTTP"));
        assert!(!looks_like_method(b"\x00\x00\x00\x08"));
        assert!(!looks_like_method(b"get /"));
    }

    #[test]
    fn ten_thousand_back_to_back_checks_all_succeed() {
        let (gate, addr) = open_gate();
        let n = 10_000u64;
        let start = Instant::now();
        for i in 0..n {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("check {i} failed: {e}"));
            drop(s);
        }
        let secs = start.elapsed().as_secs_f64();
        let rate = n as f64 / secs;
        println!("gate: {n} back-to-back connect/close checks in {secs:.2}s = {rate:.0} checks/s");
        assert!(rate > 200.0, "gate too slow: {rate:.0} checks/s");
        // Every one was accepted (poll: the last few may still be in flight).
        let deadline = Instant::now() + Duration::from_secs(10);
        while gate.accepted() < n && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(gate.accepted(), n, "accepted count");
    }

    #[test]
    fn two_hundred_concurrent_checks_succeed() {
        let (_gate, addr) = open_gate();
        let threads: Vec<_> = (0..200)
            .map(|i| {
                thread::spawn(move || {
                    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                        .unwrap_or_else(|e| panic!("concurrent check {i}: {e}"));
                    // Hold it a moment so they overlap, then wait for the
                    // gate to close it (connect-and-wait style check).
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut b = [0u8; 1];
                    let mut r = &s;
                    match r.read(&mut b) {
                        Ok(0) => {}
                        Ok(_) => panic!("concurrent check {i}: unexpected bytes"),
                        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                        Err(e) => panic!("concurrent check {i}: gate did not close: {e}"),
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("check thread");
        }
    }

    #[test]
    fn http_get_returns_200_and_json_state() {
        let (gate, addr) = open_gate();
        gate.board().publish(
            Json::object()
                .with("watcher", "pgpwatch")
                .with("port_open", true),
        );
        let out = http(
            addr,
            "GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
        );
        assert!(
            out.starts_with("HTTP/1.0 200 OK\r\n"),
            "status line: {out:?}"
        );
        assert!(
            out.contains("Content-Type: application/json\r\n"),
            "{out:?}"
        );
        let body = out.split("\r\n\r\n").nth(1).expect("body");
        assert_eq!(body, "{\"watcher\":\"pgpwatch\",\"port_open\":true}\n");
        assert!(
            out.contains(&format!("Content-Length: {}\r\n", body.len())),
            "{out:?}"
        );
    }

    #[test]
    fn head_and_options_get_no_body() {
        let (_gate, addr) = open_gate();
        for method in ["HEAD", "OPTIONS"] {
            let out = http(addr, &format!("{method} / HTTP/1.0\r\n\r\n"));
            assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{method}: {out:?}");
            assert!(
                out.ends_with("\r\n\r\n"),
                "{method} must have no body: {out:?}"
            );
        }
    }

    #[test]
    fn non_http_bytes_are_closed_without_answer() {
        let (_gate, addr) = open_gate();
        let out = http(addr, "\x00\x01hello\r\n\r\n");
        assert_eq!(out, "");
    }

    #[test]
    fn closed_gate_refuses_and_reopens_immediately_with_time_wait() {
        let (mut gate, addr) = open_gate();
        // HTTP answers are closed by the gate first, leaving TIME_WAIT on our side.
        for _ in 0..20 {
            assert!(http(addr, "GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200"));
        }
        gate.close();
        assert!(!gate.is_open());
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .expect_err("closed gate must refuse");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        // Reopen on the very same port at once.
        let mut again = Gate::new(addr);
        again.open().expect("reopen immediately (SO_REUSEADDR)");
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("reopened gate answers");
        again.close();
        again.open().expect("second reopen");
        assert!(again.is_open());
    }

    #[test]
    fn silent_client_does_not_delay_other_checks() {
        let (_gate, addr) = open_gate();
        // More silent clients than workers, each holding for 10 s.
        let silent: Vec<TcpStream> = (0..8)
            .map(|_| TcpStream::connect(addr).expect("silent connect"))
            .collect();
        let start = Instant::now();
        for i in 0..50 {
            drop(
                TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    .unwrap_or_else(|e| panic!("check {i} behind silent clients: {e}")),
            );
        }
        let out = http(addr, "GET / HTTP/1.0\r\n\r\n");
        assert!(out.starts_with("HTTP/1.0 200 OK"), "{out:?}");
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "checks were delayed: {took:?}"
        );
        // The silent clients were closed by the gate well before 10 s.
        for mut s in silent {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let t = Instant::now();
            let mut b = [0u8; 1];
            let r = s.read(&mut b);
            assert!(
                matches!(r, Ok(0))
                    || matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
                "silent client not closed: {r:?}"
            );
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "silent client held too long"
            );
        }
    }

    #[test]
    fn bind_error_names_address_and_remedy() {
        let (_gate, addr) = open_gate();
        let mut second = Gate::new(addr);
        let err = second.open().expect_err("port is taken");
        let text = err.to_string();
        assert!(text.contains(&addr.to_string()), "{text}");
        assert!(text.contains("change open_port"), "{text}");
        assert!(!second.is_open());
    }

    #[test]
    fn sizing_follows_the_descriptor_limit() {
        // (soft limit, table, per address): a quarter of the limit up to
        // 1024, never eating into the 64-descriptor reserve, a quarter of
        // the table per address up to 64.
        let rows = [
            (0, 1, 1),
            (64, 1, 1),
            (100, 25, 6),
            (256, 64, 16),
            (1024, 256, 64),
            (4096, 1024, 64),
            (20_000, 1024, 64),
            (u64::MAX, 1024, 64),
        ];
        for (soft, table, per_peer) in rows {
            let s = Sizing::for_limit(soft);
            assert_eq!((s.table, s.per_peer), (table, per_peer), "limit {soft}");
            if soft >= 128 {
                assert!(
                    soft - s.table as u64 >= FD_RESERVE.max(soft / 4 * 3),
                    "limit {soft}: reserve kept"
                );
            }
        }
    }

    /// A client socket bound to `src` (port chosen by the kernel) connected to `addr`.
    fn connect_from(src: [u8; 4], addr: SocketAddr) -> TcpStream {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        s.bind(&SocketAddr::from((src, 0)).into())
            .expect("bind source");
        s.connect_timeout(&addr.into(), Duration::from_secs(5))
            .expect("connect");
        s.into()
    }

    #[test]
    fn per_address_cap_closes_that_address_extra_connections_at_once() {
        let sizing = Sizing {
            table: 16,
            per_peer: 4,
        };
        let mut gate = Gate::with_sizing(loopback(), sizing);
        gate.open().expect("open");
        let addr = gate.local_addr().expect("addr");
        // Ten from one address, each with a request line but no end of head
        // yet (that keeps a held one pending past FIRST_BYTE_TIMEOUT).
        let mut flood: Vec<TcpStream> = (0..10)
            .map(|_| {
                let mut s = connect_from([127, 0, 0, 3], addr);
                s.write_all(b"GET / HTTP/1.0\r\n").expect("request line");
                s
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while gate.accepted() < 10 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(gate.accepted(), 10, "all accepted");
        assert_eq!(gate.stats().peer_capped, 6, "beyond the cap of 4");
        // Another address is not capped.
        let mut other = connect_from([127, 0, 0, 4], addr);
        other.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("request");
        other
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut out = String::new();
        other.read_to_string(&mut out).expect("answer to 127.0.0.4");
        let other = out;
        assert!(other.starts_with("HTTP/1.0 200 OK"), "{other:?}");
        assert_eq!(gate.stats().peer_capped, 6, "127.0.0.4 not capped");
        // The four held ones are answered, the six beyond the cap were closed.
        let mut answered = Vec::new();
        for (i, s) in flood.iter_mut().enumerate() {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = s.write_all(b"\r\n");
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            if out.starts_with(b"HTTP/1.0 200 OK") {
                answered.push(i);
            }
        }
        assert_eq!(answered, vec![0, 1, 2, 3], "the first four were held");
        let st = gate.stats();
        assert_eq!((st.evicted, st.accept_errors), (0, 0), "{st:?}");
    }

    #[test]
    fn open_and_close_are_idempotent() {
        let (mut gate, _addr) = open_gate();
        gate.open().expect("second open is a no-op");
        gate.close();
        gate.close();
        gate.set(true).expect("set open");
        assert!(gate.is_open());
        gate.set(false).unwrap();
        assert!(!gate.is_open());
    }
}
