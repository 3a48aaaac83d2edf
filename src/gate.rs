//! The port gate a GSLB or load balancer checks: while the watcher says "up"
//! a listener on `bind_address:open_port` accepts every connection and
//! closes it promptly; while it says "down" there is no listener at all, so a
//! check gets "connection refused". The original bound the port but never
//! accepted, so after a handful of checks the backlog filled and every check
//! timed out; this gate drains the backlog continuously.
//!
//! Design:
//! - Two threads per open period. The accept thread blocks in `accept()` and
//!   hands each connection over a bounded queue to one connection thread;
//!   when the queue is full the connection is closed at once (for a TCP check
//!   that is a pass), so accepts never wait for a client.
//! - The connection thread keeps up to [`MAX_PENDING`] connections in
//!   non-blocking mode and polls them every few milliseconds: a client that
//!   closes (connect-then-close check) is closed at once; one that stays
//!   silent for [`FIRST_BYTE_TIMEOUT`] (connect-and-wait check) is closed
//!   then; one whose first line looks like an HTTP request (HAProxy `option
//!   httpchk`, curl) gets `HTTP/1.0 200 OK` with a one-line JSON of the
//!   watcher's state (HEAD and OPTIONS: status line and headers only). No
//!   client ever blocks another and no thread is spawned per connection;
//!   when the table is full the oldest pending connection is closed.
//! - Wake-up path for the blocking `accept()`: `close()` sets a stop flag and
//!   connects once to the listener's own address (an unspecified bind address
//!   is reached through loopback); the accept thread sees the flag, drops the
//!   listening socket and its queue sender, the connection thread sees the
//!   queue disconnect, closes what it holds and ends, and `close()` joins
//!   both. After `close()` returns the port refuses connections.
//! - Reopening at once: std's `TcpListener::bind` sets `SO_REUSEADDR` on Unix
//!   before binding, so sockets left in TIME_WAIT by earlier checks do not
//!   block a new bind (`closed_gate_refuses_and_reopens_immediately_with_time_wait`
//!   proves it: the gate closes HTTP connections first, so TIME_WAIT is ours).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::json::Json;

/// How long a connection may stay silent before it is treated as a plain
/// TCP check and closed.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long an HTTP client may take, from accept, to send its request head.
pub const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// After answering, how long we wait for the client to close before we do.
const LINGER: Duration = Duration::from_millis(200);
/// Connections the connection thread watches at once; beyond this the
/// oldest is closed.
pub const MAX_PENDING: usize = 1024;
/// Accepted connections queued for the connection thread; beyond this they
/// are closed at once.
const QUEUE: usize = 1024;
/// Largest HTTP request head we read.
const MAX_REQUEST: usize = 8192;
/// Poll interval of the connection thread while it holds connections.
const POLL: Duration = Duration::from_millis(2);

/// Errors of the gate.
#[derive(Debug)]
pub enum GateError {
    /// The listening socket could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// A gate thread could not be started.
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
}

/// The gate on one address. Dropping it closes it.
pub struct Gate {
    bind: SocketAddr,
    board: StatusBoard,
    counters: Arc<Counters>,
    running: Option<Running>,
}

struct Running {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
    connections: JoinHandle<()>,
}

impl Gate {
    /// A closed gate for `bind` (port 0 picks a free port on open, for tests).
    pub fn new(bind: SocketAddr) -> Gate {
        Gate {
            bind,
            board: StatusBoard::new(Json::object().with("gate", "open")),
            counters: Arc::new(Counters::default()),
            running: None,
        }
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

    /// Opens the gate; a no-op when already open.
    pub fn open(&mut self) -> Result<(), GateError> {
        if self.running.is_some() {
            return Ok(());
        }
        let bind = self.bind;
        let listener =
            TcpListener::bind(bind).map_err(|source| GateError::Bind { addr: bind, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| GateError::Bind { addr: bind, source })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::sync_channel::<TcpStream>(QUEUE);
        let connections = {
            let board = self.board.clone();
            let counters = Arc::clone(&self.counters);
            thread::Builder::new()
                .name(format!("gate-conn-{}", local.port()))
                .spawn(move || connection_loop(&rx, &board, &counters))
                .map_err(|source| GateError::Spawn { addr: bind, source })?
        };
        let acceptor = {
            let stop = Arc::clone(&stop);
            let counters = Arc::clone(&self.counters);
            thread::Builder::new()
                .name(format!("gate-{}", local.port()))
                .spawn(move || accept_loop(listener, tx, &stop, &counters))
        };
        let acceptor = match acceptor {
            Ok(h) => h,
            Err(source) => {
                // The sender went down with the closure, so the connection
                // thread sees the queue disconnect and ends.
                if connections.join().is_err() {
                    log::error!("gate {local}: connection thread panicked");
                }
                return Err(GateError::Spawn { addr: bind, source });
            }
        };
        log::info!("gate {local}: open");
        self.running = Some(Running {
            local,
            stop,
            acceptor,
            connections,
        });
        Ok(())
    }

    /// Closes the gate: the listening socket is gone and every gate thread
    /// joined when this returns. A no-op when already closed.
    pub fn close(&mut self) {
        let Some(run) = self.running.take() else {
            return;
        };
        run.stop.store(true, Ordering::SeqCst);
        let wake = wake_addr(run.local);
        // The accept thread may be blocked in accept(): one connection wakes
        // it, it sees the flag and returns, dropping the listener.
        if let Err(e) = TcpStream::connect_timeout(&wake, Duration::from_secs(1)) {
            log::warn!("gate {}: wake-up connect to {wake} failed: {e}", run.local);
        }
        if run.acceptor.join().is_err() {
            log::error!("gate {}: accept thread panicked", run.local);
        }
        if run.connections.join().is_err() {
            log::error!("gate {}: connection thread panicked", run.local);
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

/// Where to connect to reach a listener bound to `local`.
fn wake_addr(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

fn accept_loop(
    listener: TcpListener,
    tx: SyncSender<TcpStream>,
    stop: &AtomicBool,
    counters: &Counters,
) {
    let mut last_error_log: Option<Instant> = None;
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok((stream, _peer)) => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                match tx.try_send(stream) {
                    Ok(()) => {}
                    // Closing at once is a successful TCP check; HTTP clients
                    // only lose their body under such a flood.
                    Err(TrySendError::Full(stream)) => {
                        counters.overflow.fetch_add(1, Ordering::Relaxed);
                        drop(stream);
                    }
                    Err(TrySendError::Disconnected(_)) => break,
                }
            }
            Err(e) => {
                // EMFILE and friends: log at most once a second, back off a
                // little so a descriptor shortage does not spin the CPU.
                let now = Instant::now();
                if last_error_log.map_or(true, |t| now.duration_since(t) >= Duration::from_secs(1))
                {
                    log::warn!("gate: accept failed: {e}");
                    last_error_log = Some(now);
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    // Dropping `listener` here closes the port; dropping `tx` ends the workers.
}

/// Where one watched connection stands.
enum Phase {
    /// Waiting for the client's first bytes / the end of its request head.
    Reading,
    /// Answered; waiting for the client to close.
    Lingering,
}

struct Conn {
    stream: TcpStream,
    accepted: Instant,
    phase: Phase,
    phase_deadline: Instant,
    head: Vec<u8>,
}

/// What to do with a connection after a poll.
enum Next {
    Keep,
    Close,
}

fn connection_loop(rx: &Receiver<TcpStream>, board: &StatusBoard, counters: &Counters) {
    let mut conns: std::collections::VecDeque<Conn> = std::collections::VecDeque::new();
    let mut buf = [0u8; 2048];
    loop {
        // Take new connections: block while idle, otherwise just drain.
        let mut disconnected = false;
        if conns.is_empty() {
            match rx.recv() {
                Ok(s) => add(&mut conns, s, counters),
                Err(_) => return,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(s) => add(&mut conns, s, counters),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            }
        }
        if disconnected {
            return; // the gate is closing: drop every connection
        }
        let now = Instant::now();
        conns.retain_mut(|c| match poll_conn(c, now, &mut buf, board, counters) {
            Next::Keep => true,
            Next::Close => false,
        });
        if !conns.is_empty() {
            thread::sleep(POLL);
        }
    }
}

fn add(conns: &mut std::collections::VecDeque<Conn>, stream: TcpStream, counters: &Counters) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    if conns.len() >= MAX_PENDING {
        conns.pop_front();
        counters.overflow.fetch_add(1, Ordering::Relaxed);
    }
    let now = Instant::now();
    conns.push_back(Conn {
        stream,
        accepted: now,
        phase: Phase::Reading,
        phase_deadline: now + FIRST_BYTE_TIMEOUT,
        head: Vec::new(),
    });
}

fn poll_conn(
    c: &mut Conn,
    now: Instant,
    buf: &mut [u8],
    board: &StatusBoard,
    counters: &Counters,
) -> Next {
    match c.phase {
        Phase::Lingering => {
            let mut drained = 0usize;
            loop {
                match c.stream.read(buf) {
                    Ok(0) => return Next::Close,
                    Ok(n) => {
                        drained += n;
                        if drained > MAX_REQUEST {
                            return Next::Close;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return if now >= c.phase_deadline {
                            Next::Close
                        } else {
                            Next::Keep
                        };
                    }
                    Err(_) => return Next::Close,
                }
            }
        }
        Phase::Reading => {
            loop {
                match c.stream.read(buf) {
                    Ok(0) => return Next::Close, // connect-then-close check
                    Ok(n) => {
                        c.head.extend_from_slice(&buf[..n]);
                        if !looks_like_method(&c.head) {
                            return Next::Close;
                        }
                        if c.head.len() >= MAX_REQUEST {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return Next::Close,
                }
            }
            if c.head.is_empty() {
                return if now >= c.phase_deadline {
                    Next::Close // connect-and-wait check
                } else {
                    Next::Keep
                };
            }
            if !ends_head(&c.head) && c.head.len() < MAX_REQUEST {
                return if now >= c.accepted + HTTP_REQUEST_TIMEOUT {
                    Next::Close
                } else {
                    Next::Keep
                };
            }
            let kind = classify(&c.head);
            if kind == Request::NotHttp {
                return Next::Close;
            }
            let response = http_response(kind, board);
            // A response this small fits the socket buffer of a fresh
            // connection; a short write means a broken client: close.
            match c.stream.write(response.as_bytes()) {
                Ok(n) if n == response.len() => {}
                _ => return Next::Close,
            }
            counters.http.fetch_add(1, Ordering::Relaxed);
            let _ = c.stream.shutdown(Shutdown::Write);
            c.phase = Phase::Lingering;
            c.phase_deadline = now + LINGER;
            Next::Keep
        }
    }
}

fn http_response(kind: Request, board: &StatusBoard) -> String {
    let body = format!("{}\n", board.current().render());
    let mut response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if kind == Request::WithBody {
        response.push_str(&body);
    }
    response
}

/// What the first line of a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// Not HTTP (or nothing at all): close.
    NotHttp,
    /// Answer with headers and the JSON body.
    WithBody,
    /// HEAD / OPTIONS: status line and headers only.
    HeadersOnly,
}

fn classify(head: &[u8]) -> Request {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.split_whitespace();
    let (Some(method), Some(_target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Request::NotHttp;
    };
    if !version.starts_with("HTTP/") {
        return Request::NotHttp;
    }
    match method {
        "HEAD" | "OPTIONS" => Request::HeadersOnly,
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "TRACE" => Request::WithBody,
        _ => Request::NotHttp,
    }
}

/// Whether the bytes so far can be the start of an HTTP method token.
fn looks_like_method(head: &[u8]) -> bool {
    let token_len = head.iter().take_while(|b| b.is_ascii_uppercase()).count();
    token_len > 0 && (token_len == head.len() || head[token_len] == b' ')
}

fn ends_head(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

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
