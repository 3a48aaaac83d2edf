//! The gate's one thread: poll(2) on the listener, a wake-up socket and
//! every pending connection, so its CPU follows what clients do (one wake-up
//! per event or deadline) and not how many connections it holds.
//!
//! Descriptors are bounded by the [`Sizing`]: at most `table` pending
//! connections, at most `per_peer` of them from one IP address. A
//! connection beyond the per-peer cap is closed right after accept (for a
//! TCP check that is still a pass); when the table is full the oldest
//! pending connection makes room (a fresh HTTP check then gets its answer,
//! and the oldest is the one that had its chance longest). When accept
//! fails anyway for want of descriptors (EMFILE/ENFILE: the rest of the
//! process holds more than it should), the oldest pending connections are
//! closed and the listener rests for [`ACCEPT_BACKOFF`], so the loop never
//! spins and the port keeps draining.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::conn::{Conn, Next};
use super::{Counters, Service, Sizing};
use crate::plumbing::os::{self, PollFd};

/// How long the listener rests after accept failed for want of descriptors.
pub(super) const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Connections accepted per wake-up at most, so pending ones are served too.
const ACCEPT_BATCH: usize = 256;
/// How often a throttled warning is repeated at most.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Whether a newly accepted connection from one address may be held.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Hold it.
    Hold,
    /// Hold it after closing the oldest pending connection (table full).
    EvictOldest,
    /// Close it at once: its address holds `per_peer` already.
    PeerCap,
}

/// Pending connections per peer address: the admission rule, without sockets.
#[derive(Debug, Default)]
pub(super) struct PeerCounts {
    per_peer: HashMap<IpAddr, usize>,
    total: usize,
}

impl PeerCounts {
    /// What to do with one more connection from `peer`.
    pub(super) fn admit(&self, peer: IpAddr, sizing: &Sizing) -> Admit {
        if self.per_peer.get(&peer).copied().unwrap_or(0) >= sizing.per_peer {
            Admit::PeerCap
        } else if self.total >= sizing.table {
            Admit::EvictOldest
        } else {
            Admit::Hold
        }
    }

    pub(super) fn add(&mut self, peer: IpAddr) {
        *self.per_peer.entry(peer).or_insert(0) += 1;
        self.total += 1;
    }

    pub(super) fn remove(&mut self, peer: IpAddr) {
        if let Some(n) = self.per_peer.get_mut(&peer) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&peer);
            }
            self.total -= 1;
        }
    }

    #[cfg(test)]
    pub(super) fn total(&self) -> usize {
        self.total
    }
}

/// A warning repeated at most every [`WARN_EVERY`], counting what it skipped.
#[derive(Default)]
struct Throttled {
    last: Option<Instant>,
    skipped: u64,
}

impl Throttled {
    /// Whether to log now; `Some(n)` with how many were skipped since.
    fn due(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            self.skipped += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.skipped))
    }
}

/// Everything the loop owns.
pub(super) struct Poller {
    pub(super) listener: TcpListener,
    pub(super) wake: UnixStream,
    pub(super) service: std::sync::Arc<dyn Service>,
    pub(super) counters: std::sync::Arc<Counters>,
    pub(super) sizing: Sizing,
    pub(super) label: String,
}

struct State {
    conns: VecDeque<Conn>,
    peers: PeerCounts,
    listen_rest_until: Option<Instant>,
    warn_cap: Throttled,
    warn_full: Throttled,
    warn_accept: Throttled,
}

impl Poller {
    /// Runs until `stop` is set and the wake-up socket says so; every
    /// pending connection is closed on the way out and the listener dropped.
    /// The listener must be non-blocking (`open` makes it so).
    pub(super) fn run(self, stop: &AtomicBool) {
        let mut st = State {
            conns: VecDeque::new(),
            peers: PeerCounts::default(),
            listen_rest_until: None,
            warn_cap: Throttled::default(),
            warn_full: Throttled::default(),
            warn_accept: Throttled::default(),
        };
        let mut fds: Vec<PollFd> = Vec::new();
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let listening = st.listen_rest_until.is_none_or(|t| now >= t);
            if listening {
                st.listen_rest_until = None;
            }
            fds.clear();
            fds.push(PollFd::readable(self.wake.as_raw_fd()));
            fds.push(if listening {
                PollFd::readable(self.listener.as_raw_fd())
            } else {
                PollFd::ignored()
            });
            let mut next: Option<Instant> = st.listen_rest_until;
            for c in &st.conns {
                fds.push(PollFd::readable(c.stream.as_raw_fd()));
                let d = c.deadline();
                next = Some(next.map_or(d, |n| n.min(d)));
            }
            let timeout = next.map(|d| d.saturating_duration_since(now));
            if let Err(e) = os::poll(&mut fds, timeout) {
                log::error!("{}: poll failed: {e}", self.label);
                std::thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
            if fds[0].ready() {
                self.drain_wake();
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            let now = Instant::now();
            self.serve(&mut st, &fds[2..], now, &mut buf);
            if listening && fds[1].ready() {
                self.accept_batch(&mut st, now);
            }
        }
        // Dropping the state closes every pending connection; dropping
        // `self.listener` closes the port.
    }

    fn drain_wake(&self) {
        let mut b = [0u8; 64];
        let mut r = &self.wake;
        // Non-blocking: read until empty.
        while let Ok(n) = io::Read::read(&mut r, &mut b) {
            if n == 0 {
                break;
            }
        }
    }

    /// Steps every connection that poll reported or whose deadline passed;
    /// `ready[i]` belongs to `st.conns[i]`.
    fn serve(&self, st: &mut State, ready: &[PollFd], now: Instant, buf: &mut [u8]) {
        let mut i = 0usize;
        let State { conns, peers, .. } = st;
        conns.retain_mut(|c| {
            let polled = ready.get(i).is_some_and(PollFd::ready);
            i += 1;
            if !polled && now < c.deadline() {
                return true;
            }
            match c.step(now, buf, &*self.service, &self.counters) {
                Next::Keep => true,
                Next::Close => {
                    peers.remove(c.peer);
                    false
                }
            }
        });
    }

    fn accept_batch(&self, st: &mut State, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    self.admit(st, stream, peer.ip(), now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_out_of_descriptors(&e) => {
                    self.out_of_descriptors(st, &e, now);
                    return;
                }
                // ECONNABORTED and friends: that one client is gone.
                Err(e) => log::debug!("{}: accept failed: {e}", self.label),
            }
        }
    }

    fn admit(&self, st: &mut State, stream: std::net::TcpStream, peer: IpAddr, now: Instant) {
        match st.peers.admit(peer, &self.sizing) {
            Admit::PeerCap => {
                self.counters.peer_capped.fetch_add(1, Ordering::Relaxed);
                if let Some(skipped) = st.warn_cap.due(now) {
                    log::warn!(
                        "{}: {peer} holds {} pending connections (the per-address cap); \
                         closing its new ones at once ({skipped} more since the last warning)",
                        self.label,
                        self.sizing.per_peer
                    );
                }
                drop(stream); // a TCP check still passes
                return;
            }
            Admit::EvictOldest => {
                self.evict_oldest(st, 1);
                self.counters.overflow.fetch_add(1, Ordering::Relaxed);
                if let Some(skipped) = st.warn_full.due(now) {
                    log::warn!(
                        "{}: {} pending connections (the table is full); closing the oldest \
                         ({skipped} more since the last warning)",
                        self.label,
                        self.sizing.table
                    );
                }
            }
            Admit::Hold => {}
        }
        match Conn::new(stream, peer, now, self.service.first_byte_timeout()) {
            Ok(c) => {
                st.peers.add(peer);
                st.conns.push_back(c);
            }
            Err(e) => log::debug!("{}: connection from {peer} dropped: {e}", self.label),
        }
    }

    fn evict_oldest(&self, st: &mut State, n: usize) {
        for _ in 0..n {
            match st.conns.pop_front() {
                Some(c) => st.peers.remove(c.peer),
                None => return,
            }
        }
    }

    fn out_of_descriptors(&self, st: &mut State, e: &io::Error, now: Instant) {
        self.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
        let n = (self.sizing.table / 8).max(16);
        let held = st.conns.len();
        self.evict_oldest(st, n);
        st.listen_rest_until = Some(now + ACCEPT_BACKOFF);
        if let Some(skipped) = st.warn_accept.due(now) {
            log::warn!(
                "{}: accept failed: {e}; closed the {} oldest pending connections and resting \
                 {ACCEPT_BACKOFF:?} ({skipped} more since the last warning); raise LimitNOFILE= \
                 (ulimit -n) if this repeats",
                self.label,
                held.min(n)
            );
        }
    }
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn per_peer_cap_closes_only_that_peers_extra_connections() {
        let sizing = Sizing {
            table: 10,
            per_peer: 3,
        };
        let mut p = PeerCounts::default();
        let flood = ip("127.0.0.3");
        let check = ip("127.0.0.4");
        for n in 0..3 {
            assert_eq!(p.admit(flood, &sizing), Admit::Hold, "flood conn {n}");
            p.add(flood);
        }
        assert_eq!(
            p.admit(flood, &sizing),
            Admit::PeerCap,
            "4th from one address"
        );
        assert_eq!(
            p.admit(check, &sizing),
            Admit::Hold,
            "another address is not capped"
        );
        p.remove(flood);
        assert_eq!(p.admit(flood, &sizing), Admit::Hold, "a slot freed");
        p.add(flood);
        // Fill the table from many addresses: then the oldest makes room.
        for n in 0..7u8 {
            let a = IpAddr::from([127, 0, 1, n]);
            assert_eq!(p.admit(a, &sizing), Admit::Hold, "distinct address {n}");
            p.add(a);
        }
        assert_eq!(p.total(), 10);
        assert_eq!(p.admit(check, &sizing), Admit::EvictOldest, "table full");
        assert_eq!(
            p.admit(flood, &sizing),
            Admit::PeerCap,
            "the cap wins over eviction"
        );
        // Removing an address never seen does not underflow.
        p.remove(ip("10.9.9.9"));
        assert_eq!(p.total(), 10);
    }
}
