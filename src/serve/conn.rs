//! One pending connection of a listener and what it says: a plain TCP check
//! (closes at once, or stays silent until the service's first-byte timeout,
//! [`super::FIRST_BYTE_TIMEOUT`] for HTTP), a request the listener's
//! [`Service`] answers (the gate's: an HTTP check answered with the
//! watcher's JSON; the API's routes; an agent-check line), or anything
//! else (closed). The poller calls
//! [`Conn::step`] when poll(2) reports the socket or its deadline passed; a
//! step never blocks.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Counters, Service, HTTP_REQUEST_TIMEOUT};

/// After answering, how long we wait for the client to close before we do.
const LINGER: Duration = Duration::from_millis(200);
/// Largest HTTP request head we read.
const MAX_REQUEST: usize = 8192;

/// Where one watched connection stands.
enum Phase {
    /// Waiting for the client's first bytes / the end of its request head.
    Reading,
    /// Answered; waiting for the client to close until `until`.
    Lingering { until: Instant },
}

/// One pending connection (non-blocking).
pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) peer: IpAddr,
    accepted: Instant,
    phase: Phase,
    head: Vec<u8>,
    /// How long the connection may stay silent (the service's).
    first_byte: Duration,
}

/// What to do with a connection after a step.
#[derive(Debug, PartialEq, Eq)]
/// How [`read_into`] stopped.
enum Drained {
    /// The socket would block: all there is was read.
    WouldBlock,
    /// The reader said enough.
    Enough,
    /// End of stream, or an error.
    Closed,
}

/// Reads `stream` until it would block, handing each chunk to `each`,
/// which says whether to go on.
fn read_into(
    stream: &mut TcpStream,
    buf: &mut [u8],
    mut each: impl FnMut(&[u8]) -> bool,
) -> Drained {
    loop {
        match stream.read(buf) {
            Ok(0) => return Drained::Closed,
            Ok(n) => {
                if !each(&buf[..n]) {
                    return Drained::Enough;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drained::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Drained::Closed,
        }
    }
}

pub(super) enum Next {
    Keep,
    Close,
}

impl Conn {
    /// A connection accepted at `now`; Err when it cannot be made
    /// non-blocking (it is then dropped, which closes it).
    pub(super) fn new(
        stream: TcpStream,
        peer: IpAddr,
        now: Instant,
        first_byte: Duration,
    ) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            peer,
            accepted: now,
            phase: Phase::Reading,
            head: Vec::new(),
            first_byte,
        })
    }

    /// When this connection is closed if nothing more happens.
    pub(super) fn deadline(&self) -> Instant {
        match self.phase {
            Phase::Reading if self.head.is_empty() => self.accepted + self.first_byte,
            Phase::Reading => self.accepted + HTTP_REQUEST_TIMEOUT,
            Phase::Lingering { until } => until,
        }
    }

    /// Reads what is there, answers a complete HTTP request head, and says
    /// whether to keep the connection.
    pub(super) fn step(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        service: &dyn Service,
        counters: &Counters,
    ) -> Next {
        match self.phase {
            Phase::Lingering { .. } => self.linger(now, buf),
            Phase::Reading => self.read_request(now, buf, service, counters),
        }
    }

    fn linger(&mut self, now: Instant, buf: &mut [u8]) -> Next {
        let mut drained = 0usize;
        match read_into(&mut self.stream, buf, |chunk| {
            drained += chunk.len();
            drained <= MAX_REQUEST
        }) {
            Drained::WouldBlock => self.keep_until_deadline(now),
            Drained::Closed | Drained::Enough => Next::Close,
        }
    }

    /// Keep the connection until its deadline, then close it.
    fn keep_until_deadline(&self, now: Instant) -> Next {
        if now >= self.deadline() {
            Next::Close
        } else {
            Next::Keep
        }
    }

    fn read_request(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        service: &dyn Service,
        counters: &Counters,
    ) -> Next {
        let mut implausible = false;
        let head = &mut self.head;
        let read = read_into(&mut self.stream, buf, |chunk| {
            head.extend_from_slice(chunk);
            implausible = !service.plausible(head);
            !implausible && head.len() < MAX_REQUEST
        });
        match read {
            // A connect-then-close check, an error, or not HTTP.
            Drained::Closed => return Next::Close,
            Drained::Enough if implausible => return Next::Close,
            Drained::Enough | Drained::WouldBlock => {}
        }
        let response = if self.head.is_empty() {
            // Silent (connect-and-wait check): closed, or answered when the
            // service has an answer for silence (agent-check), at the deadline.
            if now < self.deadline() {
                return Next::Keep;
            }
            match service.on_silence() {
                Some(r) => r,
                None => return Next::Close,
            }
        } else if !service.complete(&self.head) && self.head.len() < MAX_REQUEST {
            // Request incomplete.
            return self.keep_until_deadline(now);
        } else {
            match service.respond(&self.head) {
                Some(r) => r,
                None => return Next::Close,
            }
        };
        // A response this small fits the socket buffer of a fresh
        // connection; a short write means a broken client: close.
        match self.stream.write(&response) {
            Ok(n) if n == response.len() => {}
            _ => return Next::Close,
        }
        counters.http.fetch_add(1, Ordering::Relaxed);
        let _ = self.stream.shutdown(Shutdown::Write);
        self.head = Vec::new();
        self.phase = Phase::Lingering {
            until: now + LINGER,
        };
        Next::Keep
    }
}
