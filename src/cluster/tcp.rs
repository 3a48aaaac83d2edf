//! Plain TCP connects within a deadline (name look-up included): how
//! repmgrwatch asks whether a pgpool's gate is open. And [`knock`]: whether
//! a PostgreSQL server accepts connections, asked so that its log stays
//! quiet (the fast path's probe).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
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

/// The protocol's TLS request (SSLRequest): length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// How [`knock`] leaves a connection it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knock {
    /// Closed without a byte sent. pgpool (3.6 to 4.6) and PostgreSQL 12+
    /// log nothing for it; PostgreSQL before 12 logs `LOG: incomplete
    /// startup packet` each time.
    Bare,
    /// Closed after a TLS request and the server's one-byte answer: a
    /// PostgreSQL server that answers `N` (no TLS) logs nothing for it, of
    /// any version (9.6 included). One that answers `S` logs `could not
    /// accept SSL connection` for a connection closed then, or without a
    /// byte before 12: it is given a TLS handshake (no certificate check:
    /// nothing is sent over it) and a TLS close, after which no version
    /// logs anything. A PostgreSQL CancelRequest is no quieter: a key
    /// matching no session is logged (`PID 0 in cancel request did not
    /// match any process`) by 9.6, 13 and 17, and pgpool logs `forwarding
    /// cancel request to backend` for it.
    TlsRequest,
}

/// Whether `addr` accepts a TCP connection within `timeout`, closed the
/// way `how` says (see [`Knock`]): `Err` when it does not; `Ok(Some(b))`
/// with the server's answer `b` to a TLS request; `Ok(None)` when no
/// answer was asked for, or none came within `timeout` (it accepted all
/// the same: a frozen server still completes TCP handshakes).
pub fn knock(addr: &SocketAddr, timeout: Duration, how: Knock) -> std::io::Result<Option<u8>> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(addr, timeout)?;
    if how == Knock::Bare {
        return Ok(None);
    }
    let left = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    let answer = (|| {
        stream.set_write_timeout(Some(left))?;
        stream.set_read_timeout(Some(left))?;
        stream.write_all(&SSL_REQUEST)?;
        let mut b = [0u8; 1];
        stream.read_exact(&mut b)?;
        Ok::<u8, std::io::Error>(b[0])
    })()
    .ok();
    if answer == Some(b'S') {
        tls_hello_goodbye(&stream);
    }
    // A FIN, not a reset: the server reads a clean end of stream.
    let _ = stream.shutdown(Shutdown::Both);
    Ok(answer)
}

/// A TLS handshake on `stream` and its TLS close (close_notify), within
/// the stream's timeouts; failures are ignored (the server accepted the
/// connection: that is all the probe asks). The context checks no
/// certificate and is built once per process, at the first server that
/// answers `S`.
fn tls_hello_goodbye(stream: &TcpStream) {
    use openssl::ssl::{Ssl, SslContext, SslMethod, SslVerifyMode};
    use std::sync::OnceLock;
    static CONTEXT: OnceLock<Option<SslContext>> = OnceLock::new();
    let ctx = CONTEXT.get_or_init(|| {
        let mut b = SslContext::builder(SslMethod::tls_client()).ok()?;
        b.set_verify(SslVerifyMode::NONE);
        Some(b.build())
    });
    let (Some(ctx), Ok(s)) = (ctx, stream.try_clone()) else {
        return;
    };
    let Ok(ssl) = Ssl::new(ctx) else {
        return;
    };
    if let Ok(mut tls) = ssl.connect(s) {
        let _ = tls.shutdown();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-connection server: what it read until the end of the stream
    /// (`Err`: the stream ended in a reset), answering `answer` to the
    /// first 8 bytes.
    fn server(
        answer: u8,
    ) -> (
        SocketAddr,
        std::thread::JoinHandle<std::io::Result<Vec<u8>>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept()?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut got = Vec::new();
            let mut b = [0u8; 64];
            loop {
                let n = s.read(&mut b)?;
                if n == 0 {
                    return Ok(got);
                }
                got.extend_from_slice(&b[..n]);
                if got.len() == 8 {
                    s.write_all(&[answer])?;
                    if answer == b'S' {
                        // no TLS here: the client's handshake fails at once
                        return Ok(got);
                    }
                }
            }
        });
        (addr, t)
    }

    #[test]
    fn a_knock_ends_in_a_clean_close_after_nothing_or_a_tls_request() {
        let t = Duration::from_secs(2);
        let (addr, srv) = server(b'N');
        assert_eq!(knock(&addr, t, Knock::TlsRequest).ok(), Some(Some(b'N')));
        let got = srv.join().expect("server").expect("a clean end of stream");
        assert_eq!(got, SSL_REQUEST, "the TLS request alone");
        assert_eq!(
            u32::from_be_bytes([got[4], got[5], got[6], got[7]]),
            80_877_103
        );

        let (addr, srv) = server(b'S');
        assert_eq!(knock(&addr, t, Knock::TlsRequest).ok(), Some(Some(b'S')));
        assert!(srv.join().expect("server").is_ok());

        let (addr, srv) = server(b'N');
        assert_eq!(knock(&addr, t, Knock::Bare).ok(), Some(None));
        let got = srv.join().expect("server").expect("a clean end of stream");
        assert!(got.is_empty(), "not a byte: {got:?}");

        let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("addr");
        drop(closed);
        assert!(knock(&addr, t, Knock::TlsRequest).is_err(), "refused");
    }
}
