//! Gate conflicts, made loud. A GSLB (and repmgrwatch's probe of a pgpool's
//! gate) only sees whether something answers on `bind_address:open_port`;
//! another process listening there says "up" whatever the watcher decides.
//! Before, pgpwatch logged "pgpool is healthy; the port stays open" and then
//! "open gate …: Address already in use" at every check, forever, and while
//! its gate was closed any local process could take the port unnoticed.
//!
//! - At start, [`check_free`] tries the gate's and the API ports' addresses
//!   (a bind without listen, so the probe itself never answers): one held
//!   by another process is one line naming address, port and, when it can
//!   be read, the holder ([`super::holder`]); the watcher then exits 1.
//! - While running, [`answers`] asks, while the gate is meant to be closed,
//!   whether something answers on it; [`Episode`] turns each check's
//!   finding (that, or the gate failing to open because the port is taken)
//!   into the start and end of a conflict, so it is logged and mailed once
//!   and `/metrics` shows `pgpoolwatch_gate_conflict 1` while it lasts.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use super::ListenError;

/// A port held by another process at start.
#[derive(Debug)]
pub struct Held {
    /// `gate`, `api` or `agent`.
    pub kind: &'static str,
    pub addr: SocketAddr,
    /// "held by pid 1234 (nc)", or how to find out.
    pub holder: String,
    /// The config key that moves it.
    pub key: &'static str,
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} port {} is {}: stop that process, or change {}",
            self.kind, self.addr, self.holder, self.key
        )
    }
}

impl std::error::Error for Held {}

/// At start: whether `addr` is free to listen on. `Err` only when another
/// socket listens there (any other bind error is left to the gate itself,
/// which logs and retries it at every check).
pub fn check_free(kind: &'static str, key: &'static str, addr: SocketAddr) -> Result<(), Held> {
    match crate::plumbing::os::bind_probe(addr) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(Held {
            kind,
            addr,
            holder: super::holder::describe(addr),
            key,
        }),
        _ => Ok(()),
    }
}

/// Whether `e` is the gate failing to open because the port is taken.
pub fn is_taken(e: &ListenError) -> bool {
    matches!(e, ListenError::Bind { source, .. } if source.kind() == io::ErrorKind::AddrInUse)
}

/// Where to connect to reach a listener bound to `bind`: the loopback
/// address for a wildcard bind.
pub fn reach(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

/// While our gate is closed: whether anything accepts a TCP connection on
/// `bind` within `timeout`.
pub fn answers(bind: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&reach(bind), timeout).is_ok()
}

/// How one check changed the conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A conflict began at this check: log it as an error, mail it.
    Began,
    /// It ended at this check.
    Ended,
    /// As before.
    Same,
}

/// A conflict episode, from the checks' findings. Pure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Episode {
    active: bool,
}

impl Episode {
    /// Takes this check's finding.
    pub fn observe(&mut self, conflict: bool) -> Change {
        let was = std::mem::replace(&mut self.active, conflict);
        match (was, conflict) {
            (false, true) => Change::Began,
            (true, false) => Change::Ended,
            _ => Change::Same,
        }
    }

    /// Whether a conflict is on.
    pub fn active(&self) -> bool {
        self.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn an_episode_begins_and_ends_once() {
        let mut e = Episode::default();
        let seen: Vec<Change> = [false, true, true, false, false, true]
            .into_iter()
            .map(|c| e.observe(c))
            .collect();
        use Change::*;
        assert_eq!(seen, vec![Same, Began, Same, Ended, Same, Began]);
        assert!(e.active());
    }

    #[test]
    fn a_held_port_is_named_with_its_holder_and_a_free_one_passes() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let e = check_free("gate", "[pgp] open_port", addr).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("gate port {addr} is held by ")),
            "{text}"
        );
        assert!(
            text.ends_with("stop that process, or change [pgp] open_port"),
            "{text}"
        );
        assert!(answers(addr, Duration::from_secs(1)));
        let any = SocketAddr::from(([0, 0, 0, 0], addr.port()));
        assert_eq!(reach(any), addr, "a wildcard bind is reached on loopback");
        drop(l);
        check_free("gate", "[pgp] open_port", addr).expect("free");
        assert!(!answers(addr, Duration::from_secs(1)));
    }
}
