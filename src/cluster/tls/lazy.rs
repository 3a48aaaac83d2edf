//! The TLS connector every PostgreSQL session is given, which builds
//! nothing until a server accepts TLS. rust-postgres asks a connector for
//! its per-host part before it sends the TLS request, so a connector holding
//! an OpenSSL context would make one (or an `SSL` object, at least) for every
//! connection, even with `sslmode=prefer` against a server that answers `N`.
//! [`LazyTls`] holds only the settings: the OpenSSL context is fetched (built
//! once per settings, [`TlsSettings::cached_context`]) when the server has
//! answered `S` and the handshake starts. A process whose servers never speak
//! TLS never initialises OpenSSL for them.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use openssl::ssl::{ConnectConfiguration, SslVerifyMode};
use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres_openssl::{TlsConnector, TlsStream};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{ssl_reason, VerifySlot};
use crate::config::tls::{SslMode, TlsError, TlsSettings};

/// A boxed error, as rust-postgres takes a connector's.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector for `settings` that builds its OpenSSL side at the first
/// handshake (see the module docs).
#[derive(Clone)]
pub(crate) struct LazyTls {
    settings: TlsSettings,
    slot: VerifySlot,
}

/// [`LazyTls`]'s connector for one host.
pub(crate) struct LazyTlsConnect {
    settings: TlsSettings,
    slot: VerifySlot,
    domain: String,
}

impl TlsSettings {
    /// A connector for these settings, and the slot where the certificate
    /// check of this one connection leaves its first complaint. What can be
    /// told without OpenSSL (a checking mode with no root certificate, a
    /// certificate without its key, a key open to others) is an error here,
    /// before connecting; the rest (an unreadable root, a key OpenSSL
    /// refuses) at the handshake, as a [`TlsError`] inside the
    /// `postgres::Error` ([`super::tls_detail`] finds it). Errors are shown
    /// after `TLS: `.
    pub(crate) fn connector(&self) -> Result<(LazyTls, VerifySlot), TlsError> {
        self.check()?;
        let slot: VerifySlot = Arc::new(Mutex::new(None));
        let connector = LazyTls {
            settings: self.clone(),
            slot: slot.clone(),
        };
        Ok((connector, slot))
    }

    /// The settings errors found without OpenSSL (see [`Self::connector`]).
    /// Checked at every connection, as libpq does (a chmod keeps the file's
    /// date, so the cache could not tell).
    pub(crate) fn check(&self) -> Result<(), TlsError> {
        if let Some((_, key)) = self.client_files()? {
            super::check_key_mode(&key)?;
        }
        if self.mode.verifies() && self.root().is_none() {
            return Err(self.no_root());
        }
        Ok(())
    }

    /// One connection's OpenSSL configuration, from the context cached for
    /// these settings: the host name checked under `verify-full`, and each
    /// certificate complaint left in `slot`.
    fn handshake_config(&self, slot: &VerifySlot) -> Result<ConnectConfiguration, TlsError> {
        let (ssl, verifies) = self.cached_context()?;
        let mut cfg = ssl.configure().map_err(|e| TlsError::Ssl {
            what: "OpenSSL setup".to_string(),
            reason: ssl_reason(&e),
        })?;
        cfg.set_verify_hostname(self.mode == SslMode::VerifyFull);
        if verifies {
            let s = slot.clone();
            cfg.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
                if !ok {
                    if let Ok(mut first) = s.lock() {
                        first.get_or_insert_with(|| ctx.error().error_string().to_string());
                    }
                }
                ok
            });
        }
        Ok(cfg)
    }
}

impl<S> MakeTlsConnect<S> for LazyTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = LazyTlsConnect;
    type Error = std::convert::Infallible;

    fn make_tls_connect(&mut self, domain: &str) -> Result<LazyTlsConnect, Self::Error> {
        Ok(LazyTlsConnect {
            settings: self.settings.clone(),
            slot: self.slot.clone(),
            domain: domain.to_string(),
        })
    }
}

impl<S> TlsConnect<S> for LazyTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<TlsStream<S>, BoxError>> + Send>>;

    /// Called once the server has accepted TLS: only now is the context
    /// fetched (and built, the first time for these settings).
    fn connect(self, stream: S) -> Self::Future {
        match self.settings.handshake_config(&self.slot) {
            Ok(ssl) => TlsConnector::new(ssl, &self.domain).connect(stream),
            Err(e) => Box::pin(std::future::ready(Err(Box::new(e) as BoxError))),
        }
    }
}
