//! Plain TCP connects within a deadline (name look-up included): how
//! repmgrwatch asks whether a pgpool's gate is open.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::error::ProbeError;

/// Opens (and closes) a TCP connection to `host:port`, trying each address
/// the name resolves to until one answers, all within `timeout`. Returns the
/// address that answered.
pub fn tcp_connect(host: &str, port: u16, timeout: Duration) -> Result<SocketAddr, ProbeError> {
    let deadline = Instant::now() + timeout;
    // The look-up shares the connect's timeout (a silent DNS server would
    // otherwise hold the check for the resolver's own 10 s or more).
    let addrs = crate::plumbing::deadline::resolve(host, port, timeout).map_err(|e| match e {
        e if e.is_timeout() => ProbeError::Timeout {
            host: host.to_string(),
            port,
            step: "resolve".into(),
            after: timeout,
        },
        e => ProbeError::failed(host, port, "resolve", e.to_string()),
    })?;
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(_) => return Ok(addr),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = Some(ProbeError::Timeout {
                    host: host.to_string(),
                    port,
                    step: "connect".into(),
                    after: timeout,
                })
            }
            Err(e) => last = Some(ProbeError::failed(host, port, "connect", e.to_string())),
        }
    }
    Err(last.unwrap_or(ProbeError::Timeout {
        host: host.to_string(),
        port,
        step: "connect".into(),
        after: timeout,
    }))
}

/// Whether something accepts TCP connections on `host:port` within
/// `timeout`: `Ok(true)`/`Ok(false)`, or `Err` with why when the name could
/// not be resolved (then nobody knows).
pub fn tcp_port_state(host: &str, port: u16, timeout: Duration) -> Result<bool, ProbeError> {
    match tcp_connect(host, port, timeout) {
        Ok(_) => Ok(true),
        Err(e) if e.is_unresolved() => Err(e),
        Err(_) => Ok(false),
    }
}

/// True when something accepts TCP connections on `host:port` within
/// `timeout` (the session tests' listener check; repmgrwatch asks
/// [`tcp_port_state`], which tells an unresolvable name apart).
#[cfg(test)]
pub(crate) fn tcp_port_answers(host: &str, port: u16, timeout: Duration) -> bool {
    tcp_connect(host, port, timeout).is_ok()
}
