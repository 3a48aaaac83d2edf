//! The guarded socket: a byte budget, and a reader of the server's
//! messages up to authentication that stops at a cleartext password
//! request.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, TlsStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{over_budget_detail, Seen, CLEARTEXT_REFUSED};

/// Where the reader of the server's messages is, up to authentication.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Reading a message's type and 4-byte length.
    #[default]
    Header,
    /// Inside a message: `left` bytes to skip.
    Skip { left: u32 },
    /// Reading the first 4 bytes (the request code) of an `R` message,
    /// `left` bytes of it to come.
    AuthCode { left: u32 },
    /// Authenticated (AuthenticationOk): nothing more to watch.
    Done,
}

/// What the server's bytes so far said.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    Nothing,
    /// An `AuthenticationCleartextPassword` request (`R`, code 3).
    Cleartext,
}

/// Reads the server's messages (type byte, 4-byte length, body) until
/// AuthenticationOk, looking at the code of each authentication request.
#[derive(Debug, Default)]
pub(super) struct Scanner {
    state: Scan,
    /// The header or code read so far.
    buf: [u8; 5],
    have: usize,
}

impl Scanner {
    /// Feeds the server's next bytes; stops at a cleartext request.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Found {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                Scan::Done => return Found::Nothing,
                Scan::Header => {
                    self.buf[self.have] = bytes[i];
                    self.have += 1;
                    i += 1;
                    if self.have == 5 {
                        self.have = 0;
                        let b = self.buf;
                        let body = u32::from_be_bytes([b[1], b[2], b[3], b[4]]).saturating_sub(4);
                        self.state = match (b[0], body) {
                            (_, 0) => Scan::Header,
                            (b'R', _) => Scan::AuthCode { left: body },
                            _ => Scan::Skip { left: body },
                        };
                    }
                }
                Scan::Skip { left } => {
                    let n = (bytes.len() - i).min(left as usize);
                    i += n;
                    let left = left - n as u32;
                    self.state = if left == 0 {
                        Scan::Header
                    } else {
                        Scan::Skip { left }
                    };
                }
                Scan::AuthCode { left } => {
                    self.buf[self.have] = bytes[i];
                    self.have += 1;
                    i += 1;
                    let left = left - 1;
                    if self.have < 4 && left > 0 {
                        self.state = Scan::AuthCode { left };
                        continue;
                    }
                    let full = self.have == 4;
                    self.have = 0;
                    let b = self.buf;
                    match full.then(|| u32::from_be_bytes([b[0], b[1], b[2], b[3]])) {
                        Some(3) => return Found::Cleartext,
                        Some(0) => {
                            self.state = Scan::Done;
                            return Found::Nothing;
                        }
                        _ => {}
                    }
                    self.state = if left == 0 {
                        Scan::Header
                    } else {
                        Scan::Skip { left }
                    };
                }
            }
        }
        Found::Nothing
    }
}

/// A session's socket: its reader fails past the byte budget, and (when
/// it scans) when the server asks for a cleartext password, before
/// rust-postgres can answer; its writer refuses to send anything after
/// either.
pub struct GuardStream<S> {
    pub(super) inner: S,
    pub(super) seen: Arc<Seen>,
    /// Bytes the server may send in all, and may still send.
    pub(super) limit: u64,
    pub(super) left: u64,
    /// `None`: TLS underneath, or cleartext allowed.
    pub(super) scanner: Option<Scanner>,
}

impl<S> fmt::Debug for GuardStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardStream")
            .field("left", &self.left)
            .field("scans", &self.scanner.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> GuardStream<S> {
    fn stopped(&self) -> Option<io::Error> {
        if self.seen.cleartext.load(Ordering::SeqCst) {
            return Some(io::Error::new(
                io::ErrorKind::PermissionDenied,
                CLEARTEXT_REFUSED,
            ));
        }
        if self.seen.over.load(Ordering::SeqCst) {
            return Some(io::Error::new(
                io::ErrorKind::InvalidData,
                over_budget_detail(self.limit),
            ));
        }
        None
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.stopped() {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                let n = new.len() as u64;
                if n > this.left {
                    this.seen.over.store(true, Ordering::SeqCst);
                } else {
                    this.left -= n;
                    if let Some(sc) = &mut this.scanner {
                        if sc.feed(new) == Found::Cleartext {
                            this.seen.cleartext.store(true, Ordering::SeqCst);
                        }
                    }
                }
                match this.stopped() {
                    Some(e) => {
                        buf.set_filled(before);
                        Poll::Ready(Err(e))
                    }
                    None => Poll::Ready(Ok(())),
                }
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.stopped() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for GuardStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
