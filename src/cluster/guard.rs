//! The socket under every PostgreSQL session, watched ([`GuardStream`]),
//! for two things rust-postgres has no switch for.
//!
//! **No cleartext password on an unencrypted connection to another host.**
//! libpq answers a server's `AuthenticationCleartextPassword` whatever the
//! connection, and its default `sslmode=prefer` falls back to plain text
//! when TLS is refused: anyone in the path can then ask for the password
//! and read it. On such a connection the stream fails the read that
//! carries that request, before rust-postgres can answer: it has sent
//! nothing but its startup packet (user and database names), and the
//! connect fails with [`CLEARTEXT_REFUSED`]. MD5 and SCRAM (whose
//! exchanges never carry the password) go on as in libpq. This applies
//! when a password is at hand, the connection may be plain (`sslmode`
//! disable, allow or prefer), the host is not loopback
//! ([`is_loopback_host`]) and `[general] allow_cleartext_password` is off
//! (the default): [`refuses_cleartext`].
//!
//! **A byte budget per session** ([`MAX_SESSION_BYTES`]): a cluster's
//! answers to our queries are kilobytes; a server that sends more (rows
//! without end, a gigabyte value) fails the session instead of filling
//! the memory, since rust-postgres collects a query's whole answer before
//! returning it.
//!
//! The stream goes in through rust-postgres's TLS hook: for a plain
//! session, `sslnegotiation=direct` hands the raw socket to
//! [`PlainGuard`], which returns it wrapped instead of encrypting it; for
//! `sslmode=prefer`, to [`PreferGuard`], which sends the TLS request
//! itself and goes on with TLS or, watched, in plain text on the same
//! socket, as libpq does; for TLS, [`TlsGuard`] puts the wrapped socket
//! under OpenSSL (the budget counts the encrypted bytes; nothing is
//! scanned there). A Unix socket is this machine: it gets none of them.

use crate::plumbing::net::is_loopback_host;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::Endpoint;
use crate::config::tls::SslMode;

/// The error detail when the guard refused (the caller adds the host and
/// port, and the sslmode in force).
pub const CLEARTEXT_REFUSED: &str =
    "the server asked for the password in cleartext on an unencrypted connection; nothing was sent";

/// What to do about it, for the error.
pub const CLEARTEXT_WAYS_OUT: &str = "use TLS (sslmode = require or verify-full, with ssl = on in the server), or allow it with [general] allow_cleartext_password = yes";

/// The most a server may send in one session (16 MiB).
pub const MAX_SESSION_BYTES: u64 = 16 << 20;

/// The error detail when a server went past `limit` bytes.
pub fn over_budget_detail(limit: u64) -> String {
    let size = if limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{} KiB", limit >> 10)
    };
    format!(
        "the server sent more than {size} in one session, where a cluster's answers take kilobytes; the session was closed (is this a PostgreSQL or pgpool server?)"
    )
}

/// Whether connections to `ep` must refuse a cleartext password request
/// (see the module docs).
pub fn refuses_cleartext(ep: &Endpoint) -> bool {
    ep.password.is_some()
        && !ep.tls.allow_cleartext_password
        && matches!(
            ep.tls.mode,
            SslMode::Disable | SslMode::Allow | SslMode::Prefer
        )
        && !is_loopback_host(&ep.host)
}

/// What a session's stream saw; shared by the stream and the caller.
#[derive(Default)]
struct Seen {
    cleartext: AtomicBool,
    over: AtomicBool,
}

/// One session's guard: whether to refuse a cleartext password request,
/// and what the stream saw.
#[derive(Clone)]
pub struct Guard {
    refuse_cleartext: bool,
    limit: u64,
    seen: Arc<Seen>,
}

impl Guard {
    /// A guard with [`MAX_SESSION_BYTES`].
    pub fn new(refuse_cleartext: bool) -> Guard {
        Guard::with_limit(refuse_cleartext, MAX_SESSION_BYTES)
    }

    /// A guard allowing `limit` bytes from the server.
    pub fn with_limit(refuse_cleartext: bool, limit: u64) -> Guard {
        Guard {
            refuse_cleartext,
            limit,
            seen: Arc::default(),
        }
    }

    /// Whether a server asked for a cleartext password and was refused.
    pub fn refused_cleartext(&self) -> bool {
        self.seen.cleartext.load(Ordering::SeqCst)
    }

    /// Whether the server went past the byte budget.
    pub fn over_budget(&self) -> bool {
        self.seen.over.load(Ordering::SeqCst)
    }

    fn wrap<S>(&self, inner: S, scan: bool) -> GuardStream<S> {
        GuardStream {
            inner,
            seen: self.seen.clone(),
            limit: self.limit,
            left: self.limit,
            scanner: scan.then(Scanner::default),
        }
    }
}

/// A plain session's "TLS" connector: it wraps the raw socket (use with
/// `ssl_mode(Require)` and `ssl_negotiation(Direct)`).
#[derive(Clone)]
pub struct PlainGuard(pub Guard);

impl<S> MakeTlsConnect<S> for PlainGuard
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = GuardStream<S>;
    type TlsConnect = PlainGuard;
    type Error = io::Error;

    fn make_tls_connect(&mut self, _domain: &str) -> io::Result<PlainGuard> {
        Ok(self.clone())
    }
}

impl<S> TlsConnect<S> for PlainGuard
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = GuardStream<S>;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<GuardStream<S>>>;

    fn connect(self, stream: S) -> Self::Future {
        let scan = self.0.refuse_cleartext;
        std::future::ready(Ok(self.0.wrap(stream, scan)))
    }
}

/// A TLS connector `M` over the guarded socket (the budget only).
pub struct TlsGuard<M> {
    pub inner: M,
    pub guard: Guard,
}

/// [`TlsGuard`]'s connector for one host.
pub struct TlsGuardConnect<T> {
    inner: T,
    guard: Guard,
}

impl<S, M> MakeTlsConnect<S> for TlsGuard<M>
where
    M: MakeTlsConnect<GuardStream<S>>,
{
    type Stream = M::Stream;
    type TlsConnect = TlsGuardConnect<M::TlsConnect>;
    type Error = M::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, M::Error> {
        Ok(TlsGuardConnect {
            inner: self.inner.make_tls_connect(domain)?,
            guard: self.guard.clone(),
        })
    }
}

impl<S, T> TlsConnect<S> for TlsGuardConnect<T>
where
    T: TlsConnect<GuardStream<S>>,
{
    type Stream = T::Stream;
    type Error = T::Error;
    type Future = T::Future;

    fn connect(self, stream: S) -> T::Future {
        self.inner.connect(self.guard.wrap(stream, false))
    }
}

mod prefer;
mod stream;

pub use prefer::{Either, PreferGuard, PreferGuardConnect};
#[cfg(test)]
use stream::Found;
pub use stream::GuardStream;
use stream::Scanner;

#[cfg(test)]
mod tests;
