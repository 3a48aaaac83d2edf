//! `sslmode=prefer` over the guarded socket: the TLS request sent by us,
//! then TLS or, watched, plain text on the same socket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Guard, GuardStream, Scanner};

/// `sslmode=prefer`'s connector: it asks for TLS on the guarded socket
/// itself (use with `ssl_mode(Require)` and `ssl_negotiation(Direct)`);
/// a server that answers `S` gets the TLS handshake of `M`, one that
/// answers `N` a plain session on the same socket, watched as
/// [`PlainGuard`]'s.
pub struct PreferGuard<M> {
    pub inner: M,
    pub guard: Guard,
}

/// [`PreferGuard`]'s connector for one host.
pub struct PreferGuardConnect<T> {
    inner: T,
    guard: Guard,
}

/// libpq's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A boxed error, as rust-postgres takes a connector's.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, M> MakeTlsConnect<S> for PreferGuard<M>
where
    M: MakeTlsConnect<GuardStream<S>>,
    M::TlsConnect: Send + 'static,
    <M::TlsConnect as TlsConnect<GuardStream<S>>>::Future: Send,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Either<M::Stream, GuardStream<S>>;
    type TlsConnect = PreferGuardConnect<M::TlsConnect>;
    type Error = M::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, M::Error> {
        Ok(PreferGuardConnect {
            inner: self.inner.make_tls_connect(domain)?,
            guard: self.guard.clone(),
        })
    }
}

impl<S, T> TlsConnect<S> for PreferGuardConnect<T>
where
    T: TlsConnect<GuardStream<S>> + Send + 'static,
    T::Future: Send,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Either<T::Stream, GuardStream<S>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Stream, BoxError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let PreferGuardConnect { inner, guard } = self;
        Box::pin(async move {
            let mut s = guard.wrap(stream, false);
            let mut sent = 0;
            while sent < SSL_REQUEST.len() {
                let n = std::future::poll_fn(|cx| {
                    Pin::new(&mut s).poll_write(cx, &SSL_REQUEST[sent..])
                })
                .await?;
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero).into());
                }
                sent += n;
            }
            std::future::poll_fn(|cx| Pin::new(&mut s).poll_flush(cx)).await?;
            let mut answer = [0u8; 1];
            let mut rb = ReadBuf::new(&mut answer);
            while rb.filled().is_empty() {
                let before = rb.filled().len();
                std::future::poll_fn(|cx| Pin::new(&mut s).poll_read(cx, &mut rb)).await?;
                if rb.filled().len() == before {
                    return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
                }
            }
            match answer[0] {
                b'S' => inner.connect(s).await.map(Either::Tls).map_err(Into::into),
                b'N' => {
                    if guard.refuse_cleartext {
                        s.scanner = Some(Scanner::default());
                    }
                    Ok(Either::Plain(s))
                }
                other => Err(format!(
                    "the server answered the TLS request with byte {other:#04x}, neither S nor N"
                )
                .into()),
            }
        })
    }
}

/// What [`PreferGuard`] ends with: TLS, or the plain guarded socket.
pub enum Either<T, P> {
    Tls(T),
    Plain(P),
}

impl<T: AsyncRead + Unpin, P: AsyncRead + Unpin> AsyncRead for Either<T, P> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Either::Tls(t) => Pin::new(t).poll_read(cx, buf),
            Either::Plain(p) => Pin::new(p).poll_read(cx, buf),
        }
    }
}

impl<T: AsyncWrite + Unpin, P: AsyncWrite + Unpin> AsyncWrite for Either<T, P> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Either::Tls(t) => Pin::new(t).poll_write(cx, data),
            Either::Plain(p) => Pin::new(p).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Either::Tls(t) => Pin::new(t).poll_flush(cx),
            Either::Plain(p) => Pin::new(p).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Either::Tls(t) => Pin::new(t).poll_shutdown(cx),
            Either::Plain(p) => Pin::new(p).poll_shutdown(cx),
        }
    }
}

impl<T, P> TlsStream for Either<T, P>
where
    T: TlsStream + Unpin,
    P: TlsStream + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        match self {
            Either::Tls(t) => t.channel_binding(),
            Either::Plain(p) => p.channel_binding(),
        }
    }
}
