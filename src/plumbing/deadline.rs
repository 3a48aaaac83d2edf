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

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
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

/// Runs `work` on a thread named `name` and waits at most `timeout` for it.
pub fn run_within<T, F>(name: &str, timeout: Duration, work: F) -> Result<T, WithinError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            // The receiver may be gone after a time-out; nothing to do then.
            let _ = tx.send(work());
        })
        .map_err(WithinError::Spawn)?;
    match rx.recv_timeout(timeout) {
        Ok(v) => Ok(v),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(WithinError::TimedOut(timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(WithinError::Panicked),
    }
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
